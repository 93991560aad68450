-- requires: case_lib.lib.lua
-- requires: assign.lib.lua
-- requires: outbox.lib.lua
-- case_event: an agent's action on a case (POST /v1/cases/{id}/events).
--   reply    a human answer (public or private): the first one stops the
--            first-response clock, every one the next-response clock
--   note     internal, timeline only
--   pending  open -> pending: waiting on the customer, clocks paused
--   resolve  open|pending -> resolved: the agent's room frees, the team's
--            oldest queued case is assigned
--   reopen   resolved -> open
--   escalate raise the priority one step (p4 -> ... -> p1)
--   assign   give the case to `agent` (of the case's team, with room)
-- KEYS: B:case:<id> (the rest share its hash tag; see case_lib)
-- ARGV: B, case_id, type, agent, now, public (1/0), text, close_ms,
--       tenant, survey_text, survey_cooldown_ms, survey_token,
--       survey_url (the signed single-use token and the link carrying
--       it, put in the survey_request's payload; '' none)
-- A resolve owes the customer a survey_request (thank-you and survey
-- link), unless they were sent one within survey_cooldown_ms.
-- Clocks: a reply stops the first- and next-response timers; pending
-- stops every timer (kept in the case: the resume timer recomputes them);
-- resolve stops them and starts the close timer (now + close_ms); reopen
-- resumes them.
-- Returns {code, status, assignee, priority}: code 'ok', 'no_such_case',
-- 'no_such_agent', 'illegal_transition', 'at_capacity' or 'not_in_team'
-- (then nothing was written).
-- Take an open case away from its agent (resolved, reassigned, handed
-- back): the agent's load goes down by one.
local function release(B, cid, aid)
  if not aid or aid == '' then return end
  local ak = B .. ':agent:' .. aid
  if redis.call('SREM', ak .. ':cases', cid) == 1 then
    local load = tonumber(redis.call('HGET', ak, 'load')) or 0
    if load > 0 then redis.call('HSET', ak, 'load', load - 1) end
    index_room(B, aid)
  end
end

local B, cid, kind, agent, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ck = KEYS[1]

local c = redis.call('HMGET', ck, 'status', 'assignee', 'team', 'priority',
  'first_response_ms')
local status, assignee, team, priority = c[1], c[2] or '', c[3], c[4]
local function answer(code)
  local now_c = redis.call('HMGET', ck, 'status', 'assignee', 'priority')
  return {code, now_c[1] or '', now_c[2] or '', now_c[3] or ''}
end
if not status then return {'no_such_case', '', '', ''} end
local ak = B .. ':agent:' .. agent
if redis.call('EXISTS', ak) == 0 then return answer('no_such_agent') end

-- The survey a resolve owes (after the resolve's own timeline entry).
local function owe_survey()
  local f = redis.call('HMGET', ck, 'customer', 'first_complaint', 'channel',
    'language', 'resolutions', 'reply_to')
  local n = (tonumber(f[5]) or 0) + 1
  redis.call('HSET', ck, 'resolutions', n)
  local uk = B .. ':cust:' .. (f[1] or '')
  local last = tonumber(f[1] ~= '' and redis.call('HGET', uk, 'survey_ms'))
  if last and tonumber(now) - last < tonumber(ARGV[11]) then
    timeline(B, cid, now, {type = 'survey_skipped', reason = 'cooldown'})
  elseif ARGV[10] == '' then
    -- No survey template in the rules: nothing to send, said so.
    timeline(B, cid, now, {type = 'survey_skipped', reason = 'no_template'})
  else
    local fc = f[2] or cid
    outbox_put(B, fc .. ':survey_request:' .. n, 'survey_request', fc, cid,
      cjson.encode({kind = 'survey_request', complaint_id = fc,
        case_id = cid, tenant = ARGV[9], team = team, channel = f[3] or '',
        language = f[4] or '', priority = priority or '', text = ARGV[10],
        customer = f[1] or '', reply_to = f[6] or '',
        public = false, -- a survey is always asked in private
        survey_token = ARGV[12] ~= '' and ARGV[12] or nil,
        survey_url = ARGV[13] ~= '' and ARGV[13] or nil}),
      now)
    if f[1] and f[1] ~= '' then redis.call('HSET', uk, 'survey_ms', now) end
    timeline(B, cid, now, {type = 'survey_request'})
  end
end

local open = status == 'open' or status == 'pending'
local clocks = B .. ':clocks'
local function stop(...)
  for _, clock in ipairs({...}) do
    redis.call('ZREM', clocks, cid .. ':' .. clock)
  end
end
local entry = {type = kind, agent = agent}

if kind == 'reply' then
  if status == 'closed' then return answer('illegal_transition') end
  entry.public = ARGV[6] == '1'
  entry.text = ARGV[7]
  if not c[5] or c[5] == '' then
    redis.call('HSET', ck, 'first_response_ms', now,
      'first_response_by', agent)
    entry.first_response = true
  end
  redis.call('HSET', ck, 'last_reply_ms', now, 'nr_due_ms', '')
  stop('fr_warn', 'fr', 'nr_warn', 'nr')
elseif kind == 'note' then
  entry.text = ARGV[7]
elseif kind == 'pending' then
  if status ~= 'open' then return answer('illegal_transition') end
  redis.call('HSET', ck, 'status', 'pending', 'paused_ms', now)
  stop('fr_warn', 'fr', 'nr_warn', 'nr', 'res_warn', 'res', 'resume')
elseif kind == 'resolve' then
  if not open then return answer('illegal_transition') end
  redis.call('HSET', ck, 'status', 'resolved', 'resolved_ms', now,
    'resolved_by', agent, 'paused_ms', now)
  release(B, cid, assignee)
  redis.call('ZREM', B .. ':queue:' .. team, cid)
  stop('fr_warn', 'fr', 'nr_warn', 'nr', 'res_warn', 'res', 'resume')
  redis.call('ZADD', clocks, tonumber(now) + tonumber(ARGV[8]),
    cid .. ':close')
elseif kind == 'reopen' then
  if status ~= 'resolved' then return answer('illegal_transition') end
  redis.call('HSET', ck, 'status', 'open', 'resolved_ms', '',
    'reopened_ms', now, 'queued_ms', now)
  requeue(B, cid, now, 'reopened')
  stop('close')
  redis.call('ZADD', clocks, now, cid .. ':resume')
elseif kind == 'escalate' then
  if not open then return answer('illegal_transition') end
  local p = tonumber(string.match(priority or '', '^p(%d)$')) or 4
  if p > 1 then p = p - 1 end
  redis.call('HSET', ck, 'priority', 'p' .. p, 'escalated_ms', now)
  entry.priority = 'p' .. p
elseif kind == 'assign' then
  if not open then return answer('illegal_transition') end
  if redis.call('SISMEMBER', B .. ':team:' .. team .. ':agents', agent) == 0
  then
    return answer('not_in_team')
  end
  if assignee ~= agent then
    local a = redis.call('HMGET', ak, 'load', 'capacity')
    if (tonumber(a[1]) or 0) >= (tonumber(a[2]) or 0) then
      return answer('at_capacity')
    end
    release(B, cid, assignee)
    local seq = redis.call('INCR', B .. ':seq')
    redis.call('HSET', ak, 'load', (tonumber(a[1]) or 0) + 1, 'last', seq)
    index_room(B, agent)
    redis.call('SADD', ak .. ':cases', cid)
    redis.call('HSET', ck, 'assignee', agent, 'assigned_ms', now,
      'assigned_seq', seq)
    redis.call('ZREM', B .. ':queue:' .. team, cid)
  end
else
  return answer('illegal_transition')
end

redis.call('HSET', ck, 'updated_ms', now)
timeline(B, cid, now, entry)
case_event(B, cid, now, kind, agent)
if kind == 'resolve' then owe_survey() end
if kind == 'resolve' or kind == 'reopen' then assign_pass(B, team, now) end
return answer('ok')
