-- requires: case_lib.lib.lua
-- requires: assign.lib.lua
-- requires: outbox.lib.lua
-- case_route: file a routed complaint in a case (the router, before its
-- transition to routed). The complaint joins its customer's case while
-- that case is open or pending, or was resolved less than reopen_ms ago
-- (which reopens it); otherwise it opens a new case in the team's queue.
-- Then the team's queue gets an assignment pass. Filing the same
-- complaint again (a retry after a crash) changes nothing and answers as
-- the first time did.
-- KEYS: B:cc:<complaint> (the rest share its hash tag; see case_lib)
-- ARGV: B, complaint, new_case_id, customer, now, reopen_ms, team,
--       language, category, priority, channel, public (1/0), sentiment,
--       score, ack_due_ms, first_response_due_ms, resolution_due_ms,
--       retention_s, hours (the policy's business hours name, '' 24/7),
--       first_response_warn_ms, resolution_warn_ms (75 % of each clock),
--       next_response_due_ms, next_response_warn_ms (a message after a
--       human reply starts that clock), tenant, ack_text (the playbook's
--       acknowledgement, owed as a customer_ack delivery when the message
--       opens a case; '' none), tone_drop (a fall of the customer's
--       sentiment score this large on an open case owes the assignee a
--       follow_up and raises the priority), follow_up_text, refs (the
--       ids of the messages it answers in its channel, nearest first, one
--       a line), external_id (its own id in the channel, '' none)
-- A message that answers an earlier one (an e-mail reply, a reply to a
-- post) joins that message's case, found by B:thr:<channel>:<id>, before
-- the customer's current case is looked at.
-- A customer_ack's payload names the customer (the channel's user id)
-- and reply_to (the message to answer), so a channel connector can answer
-- where they wrote; the case keeps the latest as reply_to for later ones.
-- A new case starts its clocks: timers '<case>:<clock>' in B:clocks for
-- ack, fr_warn, fr, res_warn, res (see clock_fire.lua).
-- Returns {case_id, assignee or '', status, how}: how is 'opened',
-- 'joined', 'reopened' or 'filed' (already filed before).
local B, comp, new_id, cust, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4],
  ARGV[5]
local clocks = B .. ':clocks'
local CUST_LIST_MAX = 200 -- a customer's cases and messages kept

-- Start clocks' timers, {clock, at} pairs, in one ZADD (an at of 0 or ''
-- means none).
local function timers(cid, list)
  local args = {}
  for _, t in ipairs(list) do
    if tonumber(t[2]) and tonumber(t[2]) > 0 then
      args[#args + 1] = t[2]
      args[#args + 1] = cid .. ':' .. t[1]
    end
  end
  if #args > 0 then redis.call('ZADD', clocks, unpack(args)) end
end
local reopen_ms, team, retention = tonumber(ARGV[6]), ARGV[7],
  tonumber(ARGV[18])

local function answer(cid, how)
  local c = redis.call('HMGET', B .. ':case:' .. cid, 'assignee', 'status')
  return {cid, c[1] or '', c[2] or '', how}
end

local filed = redis.call('GET', KEYS[1])
if filed then return answer(filed, 'filed') end

-- Whether a case takes this message: 'joined', 'reopened' or nil.
local function continues(case)
  local c = redis.call('HMGET', B .. ':case:' .. case, 'status',
    'resolved_ms')
  if c[1] == 'open' or c[1] == 'pending' then return 'joined' end
  if c[1] == 'resolved' and
     tonumber(now) - (tonumber(c[2]) or 0) < reopen_ms then
    return 'reopened'
  end
  return nil
end

-- The conversation it answers: the nearest message kujo knows decides.
local cid, how
local thr = B .. ':thr:' .. ARGV[11] .. ':'
for ref in string.gmatch(ARGV[28], '[^\n]+') do
  local c = redis.call('GET', thr .. ref)
  if c then
    how = continues(c)
    if how then cid = c end
    break
  end
end

-- The customer's current case, if this message continues it.
if not cid and cust ~= '' then
  local cur = redis.call('HGET', B .. ':cust:' .. cust, 'case')
  if cur then
    how = continues(cur)
    if how then cid = cur end
  end
end

local ck
if cid then
  ck = B .. ':case:' .. cid
  local c = redis.call('HMGET', ck, 'status', 'assignee')
  if how == 'reopened' then
    redis.call('HSET', ck, 'status', 'open', 'resolved_ms', '',
      'reopened_ms', now, 'updated_ms', now)
    redis.call('ZREM', clocks, cid .. ':close')
    timeline(B, cid, now, {type = 'reopened', complaint = comp})
    case_event(B, cid, now, 'reopened', '')
    -- Back to its agent if they are still there with room, else queued.
    local aid = c[2] or ''
    local a = aid ~= '' and redis.call('HMGET', B .. ':agent:' .. aid,
      'status', 'load', 'capacity') or {}
    if a[1] == 'online' and (tonumber(a[2]) or 0) < (tonumber(a[3]) or 0)
    then
      redis.call('HSET', B .. ':agent:' .. aid, 'load', tonumber(a[2]) + 1)
      index_room(B, aid)
      redis.call('SADD', B .. ':agent:' .. aid .. ':cases', cid)
    else
      redis.call('HSET', ck, 'queued_ms', now)
      requeue(B, cid, now, 'reopened')
    end
    -- Its clocks run again from now (the router recomputes them).
    redis.call('ZADD', clocks, now, cid .. ':resume')
  elseif c[1] == 'pending' then
    -- The customer answered: the clocks run again, counted from now in
    -- business hours by the router (the resume timer).
    redis.call('HSET', ck, 'status', 'open', 'updated_ms', now)
    timeline(B, cid, now, {type = 'status', status = 'open',
      reason = 'customer_replied'})
    case_event(B, cid, now, 'open', '')
    redis.call('ZADD', clocks, now, cid .. ':resume')
  end
  -- A message after a human reply owes the next response.
  local f = redis.call('HMGET', ck, 'last_reply_ms', 'nr_due_ms', 'status')
  if f[1] and f[1] ~= '' and (not f[2] or f[2] == '') and f[3] == 'open'
  then
    redis.call('HSET', ck, 'nr_due_ms', ARGV[22], 'nr_warn_ms', ARGV[23],
      'nr_start_ms', now, 'nr_warn_fired', '', 'nr_fired', '')
    timers(cid, {{'nr_warn', ARGV[23]}, {'nr', ARGV[22]}})
  end
  redis.call('HSET', ck, 'last_message_ms', now, 'updated_ms', now)
  -- A later reply to the customer answers their latest message.
  if ARGV[29] ~= '' then redis.call('HSET', ck, 'reply_to', ARGV[29]) end
  redis.call('HINCRBY', ck, 'n_complaints', 1)
  timeline(B, cid, now, {type = 'message', complaint = comp})
else
  cid, how = new_id, 'opened'
  ck = B .. ':case:' .. cid
  redis.call('HSET', ck, 'id', cid, 'customer', cust, 'status', 'open',
    'team', team, 'assignee', '', 'language', ARGV[8], 'category', ARGV[9],
    'priority', ARGV[10], 'channel', ARGV[11], 'public', ARGV[12],
    'created_ms', now, 'updated_ms', now, 'queued_ms', now,
    'last_message_ms', now, 'n_complaints', 1,
    'ack_due_ms', ARGV[25] ~= '' and ARGV[15] or '',
    'first_response_due_ms', ARGV[16],
    'resolution_due_ms', ARGV[17], 'hours', ARGV[19],
    'first_complaint', comp, 'escalations', 0, 'fr_warn_ms', ARGV[20],
    'res_warn_ms', ARGV[21], 'reply_to', ARGV[29])
  -- The ack clock runs only when an acknowledgement is owed.
  timers(cid, {{'ack', ARGV[25] ~= '' and ARGV[15] or ''},
    {'fr_warn', ARGV[20]}, {'fr', ARGV[16]}, {'res_warn', ARGV[21]},
    {'res', ARGV[17]}})
  redis.call('ZADD', B .. ':queue:' .. team, now, cid)
  timeline(B, cid, now, {type = 'opened', complaint = comp, team = team,
    priority = ARGV[10]})
  case_event(B, cid, now, 'opened', '')
  -- The playbook's acknowledgement, owed at once (its clock is ack).
  if ARGV[25] ~= '' then
    outbox_put(B, comp .. ':customer_ack', 'customer_ack', comp, cid,
      cjson.encode({kind = 'customer_ack', complaint_id = comp,
        case_id = cid, tenant = ARGV[24], team = team, channel = ARGV[11],
        language = ARGV[8], priority = ARGV[10], public = ARGV[12] == '1',
        text = ARGV[25], customer = cust, reply_to = ARGV[29]}), now)
    timeline(B, cid, now, {type = 'customer_ack', complaint = comp})
  end
  if cust ~= '' then
    local uk = B .. ':cust:' .. cust
    redis.call('HSET', uk, 'case', cid, 'last_ms', now)
    redis.call('HSETNX', uk, 'first_ms', now)
    if redis.call('LPUSH', uk .. ':cases', cid) > CUST_LIST_MAX then
      redis.call('LTRIM', uk .. ':cases', 0, CUST_LIST_MAX - 1)
    end
  end
end

-- Tone change: this message against the customer's last one, on a case
-- that already had messages (a new case has nothing to compare).
if how ~= 'opened' and cust ~= '' then
  local last = redis.call('LINDEX', B .. ':cust:' .. cust .. ':msgs', 0)
  local ok, prev = pcall(cjson.decode, last or '')
  local score = tonumber(ARGV[14]) or 0
  if ok and type(prev) == 'table' and tonumber(prev.score) then
    local fell = tonumber(prev.score) - score >= tonumber(ARGV[26])
    local soured = prev.sentiment ~= 'negative' and ARGV[13] == 'negative'
    local c = redis.call('HMGET', ck, 'status', 'assignee', 'priority')
    if (fell or soured) and c[1] == 'open' then
      local p = tonumber(string.match(c[3] or '', '^p(%d)$')) or 4
      if p > 1 then p = p - 1 end
      redis.call('HSET', ck, 'priority', 'p' .. p)
      timeline(B, cid, now, {type = 'tone_drop', complaint = comp,
        from = tonumber(prev.score), to = score, priority = 'p' .. p})
      case_event(B, cid, now, 'tone_drop', c[2] or '')
      outbox_put(B, comp .. ':follow_up', 'follow_up', comp, cid,
        cjson.encode({kind = 'follow_up', complaint_id = comp, case_id = cid,
          tenant = ARGV[24], team = redis.call('HGET', ck, 'team'),
          channel = ARGV[11], language = ARGV[8], priority = 'p' .. p,
          to = c[2] or '', text = ARGV[27]}), now)
    end
  end
end

redis.call('RPUSH', ck .. ':complaints', comp)
redis.call('SET', KEYS[1], cid, 'EX', retention)
-- An incident finds the cases of its category active in its window here
-- (incident_open.lua): B:cases_by:<category> scores a case by its latest
-- message; entries older than the retention go as cases are filed.
local cat = redis.call('HGET', ck, 'category') or ''
if cat ~= '' then
  local ix = B .. ':cases_by:' .. cat
  redis.call('ZADD', ix, now, cid)
  redis.call('ZREMRANGEBYSCORE', ix, '-inf',
    '(' .. (tonumber(now) - retention * 1000))
end
-- A later reply to this message finds its case.
if ARGV[29] ~= '' then
  redis.call('SET', thr .. ARGV[29], cid, 'EX', retention)
end
if cust ~= '' then
  local uk = B .. ':cust:' .. cust
  if how ~= 'opened' then redis.call('HSET', uk, 'last_ms', now) end
  if redis.call('LPUSH', uk .. ':msgs', cjson.encode({id = comp,
      case = cid, at_ms = tonumber(now), sentiment = ARGV[13],
      score = tonumber(ARGV[14]), channel = ARGV[11],
      language = ARGV[8]})) > CUST_LIST_MAX then
    redis.call('LTRIM', uk .. ':msgs', 0, CUST_LIST_MAX - 1)
  end
end

local now_c = redis.call('HMGET', ck, 'status', 'assignee', 'team')
if now_c[1] == 'open' and now_c[2] == '' then
  assign_pass(B, now_c[3], now)
end
return answer(cid, how)
