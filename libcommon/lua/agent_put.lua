-- requires: case_lib.lib.lua
-- requires: assign.lib.lua
-- requires: agent_lib.lib.lua
-- agent_put: create or replace an agent (PUT /v1/agents/{id}). The load
-- (open cases held) is kept; team memberships follow `teams`. Going
-- offline hands the agent's open cases back to the queue when requeue is
-- set; then every team of the agent gets an assignment pass (room may
-- have opened: online again, capacity raised).
-- KEYS: B:agent:<id> (the rest share its hash tag; see case_lib)
-- ARGV: B, id, now, name, teams, languages, skills (JSON arrays of
--       strings, checked by the caller), capacity, status, requeue (1/0)
-- Returns {created (1/0), cases assigned by the passes, cases handed back}
local B, aid, now = ARGV[1], ARGV[2], ARGV[3]
local ak = KEYS[1]
local old = redis.call('HGET', ak, 'teams')
local created = old and 0 or 1
local new_teams = cjson.decode(ARGV[5])
local keep = {}
for _, t in ipairs(new_teams) do keep[t] = true end
if old then
  for _, t in ipairs(cjson.decode(old)) do
    if not keep[t] then
      redis.call('SREM', B .. ':team:' .. t .. ':agents', aid)
      redis.call('SREM', B .. ':free:' .. t, aid)
    end
  end
end
for _, t in ipairs(new_teams) do
  redis.call('SADD', B .. ':team:' .. t .. ':agents', aid)
end
redis.call('HSET', ak, 'id', aid, 'name', ARGV[4], 'teams', ARGV[5],
  'languages', ARGV[6], 'skills', ARGV[7], 'capacity', ARGV[8],
  'status', ARGV[9], 'updated_ms', now)
redis.call('HSETNX', ak, 'load', 0)
redis.call('HSETNX', ak, 'last', 0)
redis.call('SADD', B .. ':agents', aid)
index_room(B, aid)
local back = 0
if ARGV[9] == 'offline' and ARGV[10] == '1' then
  back = hand_back(B, aid, now)
end
return {created, assign_teams(B, ARGV[5], now), back}
