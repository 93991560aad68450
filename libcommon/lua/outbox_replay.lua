-- outbox_replay: an operator puts a dead job back (kujo-admin dead
-- replay). The same job id, which is its idempotency key, is due again
-- at now with its attempts reset, so the notifier sends it with the key
-- a receiver may already have seen and can drop a repeat. The error it
-- died of moves to replayed_from (with replayed_ms and a replays count)
-- for audit. A job that is not in B:outbox_dead changes nothing, so a
-- replay run twice replays once.
-- KEYS: B:outbox (the rest share its hash tag; see case_lib)
-- ARGV: B, job, now_ms
-- Returns 'replayed', 'not_dead', or 'no_job' (listed dead but its hash
-- was deleted by hand: nothing left to send; drop it).
local B, job, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
if not redis.call('ZSCORE', B .. ':outbox_dead', job) then
  return 'not_dead'
end
local k = B .. ':ob:' .. job
if redis.call('EXISTS', k) == 0 then return 'no_job' end
local err = redis.call('HGET', k, 'last_error') or ''
redis.call('HSET', k, 'attempts', 0, 'replayed_from', err,
  'replayed_ms', now)
redis.call('HINCRBY', k, 'replays', 1)
redis.call('HDEL', k, 'last_error')
redis.call('ZREM', B .. ':outbox_dead', job)
redis.call('ZADD', KEYS[1], now, job)
return 'replayed'
