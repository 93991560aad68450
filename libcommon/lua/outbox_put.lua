-- requires: outbox.lib.lua
-- outbox_put: owe one delivery from C (kj_outbox_put) and tests; the
-- scripts that owe deliveries as part of their own change call
-- outbox_put from outbox.lib.lua directly.
-- KEYS: B:outbox (the rest share its hash tag; see case_lib)
-- ARGV: B, job, kind, complaint, case, payload (JSON), due_ms
-- Returns 1 if the job is new, 0 if it was owed already.
return outbox_put(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6],
  tonumber(ARGV[7]))
