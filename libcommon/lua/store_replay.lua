-- kj_store_replay: a dead record goes back to the state it died in, due
-- now, with its attempts reset and its expiry (and its PII record's)
-- removed.
-- KEYS: record, dead, due:received, due:classified, due:routed, pii
-- ARGV: id, now, then the states of KEYS[3..] in order
-- Returns 1 when replayed, 0 when the record is not dead.
if redis.call('HGET', KEYS[1], 'state') ~= 'dead' then return 0 end
local from = redis.call('HGET', KEYS[1], 'dead_from')
local due = nil
for i = 3, #KEYS - 1 do
  if ARGV[i] == from then due = KEYS[i] end
end
if not due then
  return redis.error_reply('ERR record has no replayable dead_from')
end
redis.call('HSET', KEYS[1], 'state', from, 'attempts', 1,
  'updated_ms', ARGV[2])
redis.call('HDEL', KEYS[1], 'reason')
redis.call('ZADD', due, ARGV[2], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('PERSIST', KEYS[1])
redis.call('PERSIST', KEYS[#KEYS])
return 1
