-- requires: case_lib.lib.lua
-- requires: assign.lib.lua
-- requires: agent_lib.lib.lua
-- agent_status: an agent's status changes (POST /v1/agents/{id}/status):
-- online, away (keeps their cases, takes no new ones) or offline (hands
-- them back to the queue when requeue is set). Then every team of the
-- agent gets an assignment pass.
-- KEYS: B:agent:<id> (the rest share its hash tag; see case_lib)
-- ARGV: B, id, status, now, requeue (1/0)
-- Returns {found (1/0), cases assigned by the passes, cases handed back}
local B, aid, status, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ak = KEYS[1]
local teams = redis.call('HGET', ak, 'teams')
if not teams then return {0, 0, 0} end
redis.call('HSET', ak, 'status', status, 'updated_ms', now)
index_room(B, aid)
local back = 0
if status == 'offline' and ARGV[5] == '1' then
  back = hand_back(B, aid, now)
end
return {1, assign_teams(B, teams, now), back}
