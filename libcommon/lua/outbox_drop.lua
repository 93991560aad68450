-- outbox_drop: an operator gives up on a dead job (kujo-admin dead drop):
-- it leaves B:outbox_dead and its job hash is deleted. Only a dead job
-- is touched, so a job that was replayed meanwhile (and may be in
-- flight) keeps its hash. The failed delivery stays recorded on the
-- complaint (B:dl:<complaint>, expiring as before).
-- KEYS: B:outbox (the rest share its hash tag; see case_lib)
-- ARGV: B, job
-- Returns 'dropped' or 'not_dead'.
local B, job = ARGV[1], ARGV[2]
if redis.call('ZREM', B .. ':outbox_dead', job) == 0 then
  return 'not_dead'
end
redis.call('DEL', B .. ':ob:' .. job)
return 'dropped'
