-- requires: outbox.lib.lua
-- incident_owe: one batch of an incident's broadcast. The next n members
-- (B:incident:<id>:members by rank, from K_cursor on the incident) are
-- each owed one job of kind K (incident_notice or incident_resolved) with
-- id '<incident>:<K>:<first 16 hex of SHA-1 of the customer>', its
-- idempotency key: owing it again is no change, so a broadcast that
-- stopped (a crash between batches) is resumed from the cursor, and
-- re-running a batch sends nothing twice; B:incident:<id>:<K> (set of
-- those hashes) holds whom it was owed to, so even a job already
-- delivered (its hash gone) is never owed again. Each goes where the
-- customer last wrote: the channel and language of their latest message
-- (B:cust:<c>:msgs), their current case's reply_to, and that message as
-- the job's complaint (the notifier's SMTP path reads its address from
-- there). The text is the message in their language, English otherwise.
-- Per-channel rates space the jobs' due times: the i-th job of a channel
-- is due at K_start_ms + i / rate, so the outbox releases them at that
-- pace (the notifier holds the rate too). A member without a case or a
-- message is counted in K_skipped.
-- KEYS: B:incident:<id> (the rest share its hash tag; see case_lib)
-- ARGV: B, id, kind, now_ms, n, rates (JSON {channel: per_s, '*': ...}),
--       tenant
-- Returns {owed by this batch, cursor after it, 1 if done}; {-1, 0, 0}
-- if there is no such incident.
local B, id, kind, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local ik = KEYS[1]
local f = redis.call('HMGET', ik, 'id', kind .. '_cursor',
  kind .. '_start_ms', kind .. '_done', 'message_ja', 'message_en',
  'resolved_ja', 'resolved_en')
if not f[1] then return {-1, 0, 0} end
local cursor = tonumber(f[2]) or 0
if f[4] == '1' then return {0, cursor, 1} end
local start = tonumber(f[3])
if not start then
  start = now
  redis.call('HSET', ik, kind .. '_start_ms', now)
end
local ja, en = f[5] or '', f[6] or ''
if kind == 'incident_resolved' then ja, en = f[7] or '', f[8] or '' end
local rates = cjson.decode(ARGV[6])
local n = tonumber(ARGV[5])
local members = redis.call('ZRANGE', ik .. ':members', cursor,
  cursor + n - 1)
local owed, skipped = 0, 0
for _, c in ipairs(members) do
  local uk = B .. ':cust:' .. c
  local cid = redis.call('HGET', uk, 'case')
  local ok, last = pcall(cjson.decode,
    redis.call('LINDEX', uk .. ':msgs', 0) or '')
  local h = string.sub(redis.sha1hex(c), 1, 16)
  if not cid or not ok or type(last) ~= 'table' or not last.id then
    skipped = skipped + 1
  elseif redis.call('SADD', ik .. ':' .. kind, h) == 1 then
    -- (Owed before, when a cursor was moved back by hand, is left alone:
    -- its job may be delivered and gone, so the set says, not the outbox.)
    local cs = redis.call('HMGET', B .. ':case:' .. cid, 'channel',
      'language', 'reply_to')
    local ch = last.channel or cs[1] or ''
    local lang = last.language or cs[2] or ''
    local text = en ~= '' and en or ja
    if string.sub(lang, 1, 2) == 'ja' and ja ~= '' then text = ja end
    local rate = tonumber(rates[ch]) or tonumber(rates['*']) or 0
    local due = now
    if rate > 0 then
      local i = redis.call('HINCRBY', ik, kind .. '_n:' .. ch, 1) - 1
      due = math.max(now, start + math.floor(i * 1000 / rate))
    end
    local job = id .. ':' .. kind .. ':' .. h
    owed = owed + outbox_put(B, job, kind, last.id, cid, cjson.encode({
      kind = kind, incident_id = id, tenant = ARGV[7], channel = ch,
      customer = c, case_id = cid, reply_to = cs[3] or '', language = lang,
      text = text, public = false}), due)
  end
end
cursor = cursor + #members
local done = #members < n and 1 or 0
redis.call('HSET', ik, kind .. '_cursor', cursor)
if done == 1 or cursor >= (tonumber(redis.call('HGET', ik, 'members')) or 0)
then
  done = 1
  redis.call('HSET', ik, kind .. '_done', 1)
  redis.call('RPUSH', ik .. ':timeline', cjson.encode({at_ms = now,
    type = kind .. '_owed', customers = cursor}))
end
if owed > 0 then redis.call('HINCRBY', ik, kind .. '_owed', owed) end
if skipped > 0 then redis.call('HINCRBY', ik, kind .. '_skipped', skipped) end
return {owed, cursor, done}
