-- agent_lib: what the agent scripts (agent_*.lua) add to case_lib.
-- An agent goes offline: their open cases go back to the queue.
local function hand_back(B, aid, now)
  local ak = B .. ':agent:' .. aid
  local cases = redis.call('SMEMBERS', ak .. ':cases')
  for _, cid in ipairs(cases) do
    requeue(B, cid, now, 'agent_offline')
    case_event(B, cid, now, 'unassigned', aid)
  end
  redis.call('DEL', ak .. ':cases')
  redis.call('HSET', ak, 'load', 0)
  index_room(B, aid)
  return #cases
end

-- Run an assignment pass for every team of an agent (JSON array).
local function assign_teams(B, teams_json, now)
  local ok, teams = pcall(cjson.decode, teams_json or '[]')
  if not ok or type(teams) ~= 'table' then return 0 end
  local made = 0
  for _, team in ipairs(teams) do
    made = made + assign_pass(B, team, now)
  end
  return made
end
