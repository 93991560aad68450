-- clock_resume: a paused case runs again (the router, on its resume
-- timer): the deadlines the router recomputed in business hours from now
-- replace the old ones, and the timers that have not fired start again.
-- KEYS: B:clocks
-- ARGV: B, member ('<case>:resume'), claimed score, now, then new
--       deadlines ('' to leave one alone): fr_warn, fr, nr_warn, nr,
--       res_warn, res
-- Returns 'resumed', 'skipped' (the case is not open), 'lost' or 'gone'.
local B, member, claimed, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('ZSCORE', KEYS[1], member) ~= claimed then return 'lost' end
redis.call('ZREM', KEYS[1], member)
local cid = string.match(member, '^([^:]+):resume$')
local ck = B .. ':case:' .. (cid or '')
local status = redis.call('HGET', ck, 'status')
if not status then return 'gone' end
if status ~= 'open' then return 'skipped' end
local timers = {'fr_warn', 'fr', 'nr_warn', 'nr', 'res_warn', 'res'}
local field = {fr_warn = 'fr_warn_ms', fr = 'first_response_due_ms',
  nr_warn = 'nr_warn_ms', nr = 'nr_due_ms', res_warn = 'res_warn_ms',
  res = 'resolution_due_ms'}
local c = redis.call('HMGET', ck, 'first_response_ms', 'nr_due_ms')
for i, t in ipairs(timers) do
  local at = ARGV[4 + i]
  local fired = redis.call('HGET', ck, t .. '_fired')
  local runs = true
  if t == 'fr_warn' or t == 'fr' then runs = not c[1] or c[1] == '' end
  if t == 'nr_warn' or t == 'nr' then runs = c[2] and c[2] ~= '' end
  if at ~= '' and runs then
    redis.call('HSET', ck, field[t], at)
    if not fired or fired == '' then
      redis.call('ZADD', KEYS[1], at, cid .. ':' .. t)
    end
  end
end
redis.call('HSET', ck, 'paused_ms', '', 'updated_ms', now)
return 'resumed'
