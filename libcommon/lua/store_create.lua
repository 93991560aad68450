-- requires: store_event.lib.lua
-- kj_store_create: a new record in state received, due at the deadline,
-- its event, and the idempotency mapping. An idempotency key seen before
-- answers with the id it maps to, and nothing is written.
-- KEYS: record, due:received, events [, idem]
-- ARGV: id, env, now, deadline, event, maxlen, idem_ttl_s, sum
--   sum: kj_sum of env, kept beside it for the stages' checks
-- Returns {1, id} when created, {0, existing id} when not.
if #KEYS >= 4 then
  local prev = redis.call('GET', KEYS[4])
  if prev then return {0, prev} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, ARGV[1]} end
redis.call('HSET', KEYS[1], 'state', 'received', 'env', ARGV[2],
  'attempts', 1, 'created_ms', ARGV[3], 'updated_ms', ARGV[3],
  'sum', ARGV[8])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
event(KEYS[3], ARGV[5], ARGV[6])
if #KEYS >= 4 then
  if tonumber(ARGV[7]) > 0 then
    redis.call('SET', KEYS[4], ARGV[1], 'EX', ARGV[7])
  else
    redis.call('SET', KEYS[4], ARGV[1])
  end
end
return {1, ARGV[1]}
