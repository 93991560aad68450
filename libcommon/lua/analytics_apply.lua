-- requires: store_record_sla.lib.lua
-- analytics: count one stream entry exactly once.
-- KEYS: stream, stats hash, and for an event with an SLA verdict the SLA
--       hash and the complaint's record
-- ARGV: group, entry id, SLA field ('' for none), verdict, then field and
--       increment pairs
-- The XACK is the guard: it returns 1 only for the call that takes the
-- entry off the pending list, so increments are applied once however
-- often the entry is delivered. kj_store's record_sla makes the verdict
-- count once per complaint.
-- Returns 1 when applied, 0 when the entry was acknowledged before.
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  for i = 5, #ARGV, 2 do
    redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1])
  end
  if ARGV[3] ~= '' and record_sla(KEYS[4], ARGV[4]) then
    redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
  end
  return 1
end
return 0
