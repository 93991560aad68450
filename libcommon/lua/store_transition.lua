-- requires: store_event.lib.lua
-- kj_store_transition: move a record from state `from` to `to` (only if
-- it is still in `from`), owing work in `to` at due_ms (0: none), into
-- the dead list when `to` is dead; finished records expire after
-- retention_s, and their PII records with them.
-- KEYS: record, due:<from>, due:<to>, dead, events, pii
-- ARGV: id, from, to, now, due_ms, env, has_env, event, maxlen, reason,
--       retention_s, sum, want_sum
--   sum: kj_sum of env (with has_env); want_sum: kj_sum of the envelope
--   the stage was given, '' for no check. A record without a sum (written
--   before sums existed) passes.
-- Returns 1 when moved, 0 when the record was not in `from` (stale), -2
-- when its envelope is not the one the stage was given (forged): nothing
-- is written.
local f = redis.call('HMGET', KEYS[1], 'state', 'sum')
if f[1] ~= ARGV[2] then return 0 end
if ARGV[13] ~= '' and f[2] and f[2] ~= ARGV[13] then return -2 end
-- One HSET for all the record's fields.
local set = {'state', ARGV[3], 'updated_ms', ARGV[4], 'attempts', 1}
local function field(k, v)
  set[#set + 1] = k
  set[#set + 1] = v
end
if ARGV[7] == '1' then
  field('env', ARGV[6])
  field('sum', ARGV[12])
end
if ARGV[3] == 'dead' then
  field('reason', ARGV[10])
  field('dead_from', ARGV[2])
end
redis.call('HSET', KEYS[1], unpack(set))
redis.call('ZREM', KEYS[2], ARGV[1])
if tonumber(ARGV[5]) > 0 then
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
end
if ARGV[3] == 'dead' then
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
end
event(KEYS[5], ARGV[8], ARGV[9])
if (ARGV[3] == 'delivered' or ARGV[3] == 'dead') and
   tonumber(ARGV[11]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[11])
  redis.call('EXPIRE', KEYS[6], ARGV[11])
end
return 1
