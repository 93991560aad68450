-- incident_open: an operator (or, later, surge detection) opens an
-- incident of one tenant and fixes whom it affects, in one step:
-- the customers listed, then the customers of every case of the category
-- active in the window (B:cases_by:<category>, which case_route.lua
-- keeps), each once, in that order, up to max_members. The broadcast
-- (incident_owe.lua) then walks B:incident:<id>:members by rank.
-- B:incident:<id> hash: id status (open|resolved) title category from_ms
--   to_ms message_ja message_en opened_ms members; per kind K
--   (incident_notice, incident_resolved): K_cursor (members owed so far),
--   K_start_ms, K_done (1 when every member is owed), K_owed, K_skipped,
--   K_n:<channel> (jobs of the channel, spacing their due times);
--   resolved_ms resolved_ja resolved_en once resolved.
-- An Idempotency-Key opens one incident: a repeat answers the first's id.
-- KEYS: B:incidents (the rest share its hash tag; see case_lib)
-- ARGV: B, id, now_ms, idempotency key ('' none), title, category ('' none),
--       from_ms, to_ms, message_ja, message_en, customers (JSON array),
--       max_members, idempotency_ttl_s
-- Returns {id, 1 new or 0 repeat, members}.
local B, id, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local idem = ARGV[4] ~= '' and B .. ':incident_idem:' .. ARGV[4] or nil
if idem then
  local prior = redis.call('GET', idem)
  if prior then
    return {prior, 0,
      tonumber(redis.call('HGET', B .. ':incident:' .. prior, 'members'))
      or 0}
  end
end
local ik = B .. ':incident:' .. id
local mk = ik .. ':members'
local max = tonumber(ARGV[12])
local n = 0
local function add(c)
  if type(c) == 'string' and c ~= '' and n < max and
     not redis.call('ZSCORE', mk, c) then
    n = n + 1
    redis.call('ZADD', mk, n, c)
  end
end
for _, c in ipairs(cjson.decode(ARGV[11])) do add(c) end
if ARGV[6] ~= '' then
  local cases = redis.call('ZRANGEBYSCORE', B .. ':cases_by:' .. ARGV[6],
    ARGV[7], ARGV[8])
  for _, cid in ipairs(cases) do
    if n >= max then break end
    add(redis.call('HGET', B .. ':case:' .. cid, 'customer'))
  end
end
redis.call('HSET', ik, 'id', id, 'status', 'open', 'title', ARGV[5],
  'category', ARGV[6], 'from_ms', ARGV[7], 'to_ms', ARGV[8],
  'message_ja', ARGV[9], 'message_en', ARGV[10], 'opened_ms', now,
  'members', n)
redis.call('ZADD', KEYS[1], now, id)
redis.call('RPUSH', ik .. ':timeline', cjson.encode({at_ms = now,
  type = 'opened', members = n}))
if idem then
  redis.call('SET', idem, id, 'EX', tonumber(ARGV[13]))
end
return {id, 1, n}
