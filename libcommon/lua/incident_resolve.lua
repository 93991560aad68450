-- incident_resolve: an open incident is resolved, with the follow-up's
-- message; its customers are then owed an incident_resolved each
-- (incident_owe.lua). Resolving again changes nothing.
-- KEYS: B:incident:<id> (the rest share its hash tag; see case_lib)
-- ARGV: now_ms, message_ja, message_en
-- Returns 1 resolved now, 0 resolved already, -1 no such incident.
local now = tonumber(ARGV[1])
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return -1 end
if st == 'resolved' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'resolved', 'resolved_ms', now,
  'resolved_ja', ARGV[2], 'resolved_en', ARGV[3])
redis.call('RPUSH', KEYS[1] .. ':timeline', cjson.encode({at_ms = now,
  type = 'resolved'}))
return 1
