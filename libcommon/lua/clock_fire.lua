-- requires: case_lib.lib.lua
-- requires: outbox.lib.lua
-- clock_fire: a claimed timer fires, once (the router). Timers, per case:
--   ack        the automatic acknowledgement was not delivered in time:
--              a breach on the timeline, no escalation
--   fr_warn, nr_warn, res_warn   75 % of the first-response, next-
--              response or resolution clock: a sla_warning delivery to
--              the assignee (the team when unassigned)
--   fr, nr, res  the clock's deadline: a breach, the priority one step
--              up, an escalation delivery to the next person of the
--              team's escalation chain (team lead, then manager ...)
--   close      a resolved case closes
-- A timer fires only if its clock still runs (no human reply yet, the
-- case open) and has not fired before. Each delivery is an outbox job
-- whose id is its idempotency key, so it is owed exactly once.
-- KEYS: B:clocks
-- ARGV: B, member ('<case>:<timer>'), claimed score, now, tenant,
--       escalation chain (agent ids, comma-separated, may be ''),
--       warning text, escalation text (rendered by the router; '' none),
--       send_ms (when deliveries are due: the real time, which a clock
--       offset for tests and demos does not move)
-- Returns {result, timer}: result 'fired', 'skipped' (its clock had
-- stopped), 'lost' (not ours any more: another copy took it) or 'gone'.
local B, member, claimed, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('ZSCORE', KEYS[1], member) ~= claimed then
  return {'lost', member}
end
redis.call('ZREM', KEYS[1], member)
local cid, t = string.match(member, '^([^:]+):(.+)$')
local ck = B .. ':case:' .. (cid or '')
local c = redis.call('HMGET', ck, 'status', 'priority', 'assignee', 'team',
  'first_complaint', 'first_response_ms', 'nr_due_ms', 'ack_ms', 'channel',
  'language', 'escalations', t .. '_fired')
if not c[1] then return {'gone', t} end
local status, priority, assignee, team, fc = c[1], c[2], c[3] or '', c[4],
  c[5] or cid
if c[12] and c[12] ~= '' then return {'skipped', t} end

local clock_of = {fr_warn = 'first_response', fr = 'first_response',
  nr_warn = 'next_response', nr = 'next_response',
  res_warn = 'resolution', res = 'resolution'}
local due_of = {first_response = 'first_response_due_ms',
  next_response = 'nr_due_ms', resolution = 'resolution_due_ms'}
local clock = clock_of[t]

local function running()
  if status ~= 'open' then return false end
  if clock == 'first_response' then return not c[6] or c[6] == '' end
  if clock == 'next_response' then return c[7] and c[7] ~= '' end
  return true
end

local function payload(kind, to, text)
  local p = {kind = kind, complaint_id = fc, case_id = cid,
    tenant = ARGV[5], team = team, channel = c[9] or '',
    language = c[10] or '', priority = priority or '', to = to,
    clock = clock, due_at_ms = tonumber(redis.call('HGET', ck,
      due_of[clock] or 'x')) or 0}
  if text ~= '' then p.text = text end
  return cjson.encode(p)
end

if t == 'ack' then
  if c[8] and c[8] ~= '' then return {'skipped', t} end
  redis.call('HSET', ck, 'ack_fired', now, 'ack_breached', 1)
  timeline(B, cid, now, {type = 'breached', clock = 'ack'})
  case_event(B, cid, now, 'breached', '')
  return {'fired', t}
end

if t == 'close' then
  if status ~= 'resolved' then return {'skipped', t} end
  redis.call('HSET', ck, 'status', 'closed', 'closed_ms', now,
    'updated_ms', now)
  timeline(B, cid, now, {type = 'status', status = 'closed'})
  case_event(B, cid, now, 'closed', '')
  return {'fired', t}
end

if not clock or not running() then return {'skipped', t} end
redis.call('HSET', ck, t .. '_fired', now)

-- Next-response clocks restart with every customer message: their jobs
-- carry the clock's start, so each round is its own delivery.
local round = ''
if clock == 'next_response' then
  round = ':' .. (redis.call('HGET', ck, 'nr_start_ms') or '')
end

if string.match(t, '_warn$') then
  local to = assignee ~= '' and assignee or ''
  outbox_put(B, fc .. ':sla_warning:' .. t .. round, 'sla_warning', fc, cid,
    payload('sla_warning', to, ARGV[7]), ARGV[9])
  timeline(B, cid, now, {type = 'sla_warning', clock = clock, to = to})
  case_event(B, cid, now, 'sla_warning', to)
  return {'fired', t}
end

-- A breach: priority up one step, escalate to the next in the chain.
local p = tonumber(string.match(priority or '', '^p(%d)$')) or 4
if p > 1 then p = p - 1 end
priority = 'p' .. p
local level = tonumber(c[11]) or 0
local chain = {}
for id in string.gmatch(ARGV[6], '[^,]+') do chain[#chain + 1] = id end
local to = chain[math.min(level + 1, #chain)] or ''
redis.call('HSET', ck, t .. '_breached', now, 'priority', priority,
  'escalations', level + 1, 'escalated_ms', now, 'updated_ms', now)
timeline(B, cid, now, {type = 'breached', clock = clock})
case_event(B, cid, now, 'breached', '')
outbox_put(B, fc .. ':escalation:' .. t .. round, 'escalation', fc, cid,
  payload('escalation', to, ARGV[8]), ARGV[9])
timeline(B, cid, now, {type = 'escalation', clock = clock, to = to,
  priority = priority})
case_event(B, cid, now, 'escalated', to)
return {'fired', t}
