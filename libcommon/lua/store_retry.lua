-- requires: store_event.lib.lua
-- kj_store_retry: a failed attempt. The record is due again at next_ms,
-- or dead once it has used max_attempts. A deferral gives back the
-- attempt the claim counted (a pushed record sits at 1 and goes to 0:
-- its next claim makes it 1 again).
-- KEYS: record, due:<state>, dead, events, pii (expires with a dead record)
-- ARGV: id, state, now, next_ms, error, env, has_env, dead_event, maxlen,
--       max_attempts, retention_s, defer, sum, want_sum
--   sum and want_sum as in store_transition.lua.
-- Returns 1 when due again, 2 when dead, 0 when stale, -2 when forged.
local f = redis.call('HMGET', KEYS[1], 'state', 'sum', 'attempts')
if f[1] ~= ARGV[2] then return 0 end
if ARGV[14] ~= '' and f[2] and f[2] ~= ARGV[14] then return -2 end
local attempts = tonumber(f[3])
if ARGV[7] == '1' then
  redis.call('HSET', KEYS[1], 'env', ARGV[6], 'sum', ARGV[13])
end
if ARGV[12] == '1' then
  if (attempts or 0) > 0 then
    redis.call('HINCRBY', KEYS[1], 'attempts', -1)
  end
  redis.call('HSET', KEYS[1], 'last_error', ARGV[5], 'updated_ms', ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
  return 1
end
if (attempts or 0) >= tonumber(ARGV[10]) then
  redis.call('HSET', KEYS[1], 'state', 'dead', 'reason', ARGV[5],
    'dead_from', ARGV[2], 'last_error', ARGV[5], 'updated_ms', ARGV[3])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
  event(KEYS[4], ARGV[8], ARGV[9])
  if tonumber(ARGV[11]) > 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[11])
    redis.call('EXPIRE', KEYS[5], ARGV[11])
  end
  return 2
end
redis.call('HSET', KEYS[1], 'last_error', ARGV[5], 'updated_ms', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
return 1
