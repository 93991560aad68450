-- clock_claim: take up to max due timers of one tenant (the router): each
-- one's score moves to now + lease, so another router copy does not take
-- it while this one fires it, and takes it if this one dies first.
-- KEYS: B:clocks
-- ARGV: B, now, lease_ms, max
-- Returns a flat list, 15 strings per timer: member, claimed score, then
-- its case's team status priority assignee hours paused_ms, the deadlines
-- first_response_due_ms fr_warn_ms nr_due_ms nr_warn_ms
-- resolution_due_ms res_warn_ms, and language ('' for a missing case or
-- field).
local B, now, lease, max = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, max)
local out = {}
for _, member in ipairs(due) do
  local at = now + lease
  redis.call('ZADD', KEYS[1], at, member)
  local cid = string.match(member, '^([^:]+):')
  local c = redis.call('HMGET', B .. ':case:' .. (cid or ''), 'team',
    'status', 'priority', 'assignee', 'hours', 'paused_ms',
    'first_response_due_ms', 'fr_warn_ms', 'nr_due_ms', 'nr_warn_ms',
    'resolution_due_ms', 'res_warn_ms', 'language')
  out[#out + 1] = member
  out[#out + 1] = tostring(at)
  for i = 1, 13 do out[#out + 1] = c[i] or '' end
end
return out
