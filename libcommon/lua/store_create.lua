-- requires: store_event.lib.lua
-- kj_store_create: a new record in state received, due at the deadline,
-- its event, its PII record, and the idempotency mapping. An idempotency
-- key seen before answers with the id it maps to, and nothing is written.
-- KEYS: record, due:received, events, pii [, idem]
-- ARGV: id, env, now, deadline, event, maxlen, idem_ttl_s, sum,
--       then always the last four: name, email, text, subject
--   sum: kj_sum of env, kept beside it for the stages' checks
-- Returns {1, id} when created, {0, existing id} when not.
local idem = KEYS[5]
if idem then
  local prev = redis.call('GET', idem)
  if prev then return {0, prev} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, ARGV[1]} end
redis.call('HSET', KEYS[1], 'state', 'received', 'env', ARGV[2],
  'attempts', 1, 'created_ms', ARGV[3], 'updated_ms', ARGV[3],
  'sum', ARGV[8])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
event(KEYS[3], ARGV[5], ARGV[6])
if idem then
  if tonumber(ARGV[7]) > 0 then
    redis.call('SET', idem, ARGV[1], 'EX', ARGV[7])
  else
    redis.call('SET', idem, ARGV[1])
  end
end
-- The originals: counted from the end, so arguments added before them
-- keep their numbers. Empty fields are not stored.
local pii, fields = {}, {'name', 'email', 'text', 'subject'}
for i, f in ipairs(fields) do
  local v = ARGV[#ARGV - #fields + i]
  if v ~= '' then
    pii[#pii + 1] = f
    pii[#pii + 1] = v
  end
end
if #pii > 0 then redis.call('HSET', KEYS[4], unpack(pii)) end
return {1, ARGV[1]}
