-- kj_store_claim: take one overdue record for a lease, counting the
-- attempt.
-- KEYS: record, due:<state>
-- ARGV: id, state, now, now + lease
-- Returns nil when not due (another copy took it first) or stale (the
-- stale entry is dropped from the due set); else
-- {attempts, env, last_error}.
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[3]) then
  return false
end
if redis.call('HGET', KEYS[1], 'state') ~= ARGV[2] then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return false
end
local a = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'env', 'last_error')
return {a, f[1] or '', f[2] or ''}
