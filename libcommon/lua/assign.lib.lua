-- assign: fair assignment and the queues, for the scripts that assign
-- (keys: see case_lib.lib.lua, which every such script requires first).
local QUEUE_SCAN = 200 -- queued cases looked at per assignment pass
-- A JSON array of strings held as text: whether it has v; an empty list
-- accepts everything (an agent without skills takes every category).
local function accepts(json, v)
  if not json or json == '' or json == '[]' then return true end
  local ok, list = pcall(cjson.decode, json)
  if not ok or type(list) ~= 'table' then return false end
  if #list == 0 then return true end
  for _, x in ipairs(list) do
    if x == v then return true end
  end
  return false
end

-- Keep agent aid in, or out of, the free set of each of its teams:
-- B:free:<team> holds the team's online agents with room (load <
-- capacity), so that a pass over a full team costs one command. Called
-- after every change of an agent's load, status, capacity or teams.
local function index_room(B, aid)
  local a = redis.call('HMGET', B .. ':agent:' .. aid, 'status', 'load',
    'capacity', 'teams')
  local ok, teams = pcall(cjson.decode, a[4] or '[]')
  if not ok or type(teams) ~= 'table' then return end
  local free = a[1] == 'online' and
    (tonumber(a[2]) or 0) < (tonumber(a[3]) or 0)
  for _, t in ipairs(teams) do
    if free then
      redis.call('SADD', B .. ':free:' .. t, aid)
    else
      redis.call('SREM', B .. ':free:' .. t, aid)
    end
  end
end

-- Online agents of team with room (load < capacity), from its free set
-- (each checked again: the set is an index, the agent hash the truth).
local function free_agents(B, team)
  local out = {}
  for _, aid in ipairs(redis.call('SMEMBERS', B .. ':free:' .. team)) do
    local a = redis.call('HMGET', B .. ':agent:' .. aid, 'status', 'load',
      'capacity', 'languages', 'skills', 'last')
    local load, cap = tonumber(a[2]) or 0, tonumber(a[3]) or 0
    if a[1] == 'online' and load < cap then
      out[#out + 1] = {id = aid, load = load, cap = cap, langs = a[4],
        skills = a[5], last = tonumber(a[6]) or 0}
    end
  end
  return out
end

-- The case goes to agent ag (a free_agents entry), out of the queue.
local function give(B, cid, team, ag, now, how)
  ag.load = ag.load + 1
  ag.last = redis.call('INCR', B .. ':seq')
  redis.call('HSET', B .. ':agent:' .. ag.id, 'load', ag.load,
    'last', ag.last)
  if ag.load >= ag.cap then index_room(B, ag.id) end
  redis.call('SADD', B .. ':agent:' .. ag.id .. ':cases', cid)
  redis.call('HSET', B .. ':case:' .. cid, 'assignee', ag.id,
    'assigned_ms', now, 'assigned_seq', ag.last, 'updated_ms', now)
  redis.call('ZREM', B .. ':queue:' .. team, cid)
  timeline(B, cid, now, {type = 'assigned', agent = ag.id, by = how})
  case_event(B, cid, now, 'assigned', ag.id)
end

-- The best free agent for a case: speaks its language, has the skill,
-- least loaded relative to capacity (compared exactly: a.load/a.cap <
-- b.load/b.cap), then the one assigned longest ago (round robin).
local function best_agent(free, language, category)
  local best
  for _, ag in ipairs(free) do
    if ag.load < ag.cap and accepts(ag.langs, language) and
       accepts(ag.skills, category) then
      if not best then
        best = ag
      else
        local l, r = ag.load * best.cap, best.load * ag.cap
        if l < r or (l == r and ag.last < best.last) then best = ag end
      end
    end
  end
  return best
end

-- Assign team's queued cases, oldest first, while agents have room.
-- Entries for cases that are gone, assigned or finished are dropped.
local function assign_pass(B, team, now)
  local free = free_agents(B, team)
  if #free == 0 then return 0 end
  local qk = B .. ':queue:' .. team
  local made, room = 0, 0
  for _, ag in ipairs(free) do room = room + ag.cap - ag.load end
  for _, cid in ipairs(redis.call('ZRANGE', qk, 0, QUEUE_SCAN - 1)) do
    local c = redis.call('HMGET', B .. ':case:' .. cid, 'language',
      'category', 'status', 'assignee')
    if not c[3] or (c[4] and c[4] ~= '') or c[3] == 'resolved' or
       c[3] == 'closed' then
      redis.call('ZREM', qk, cid)
    else
      local ag = best_agent(free, c[1] or '', c[2] or '')
      if ag then
        give(B, cid, team, ag, now, 'router')
        made = made + 1
        room = room - 1
        if room == 0 then break end
      end
    end
  end
  return made
end

-- Put a case back in its team's queue, at the time it first waited, so
-- that it keeps its place among the oldest.
local function requeue(B, cid, now, why)
  local c = redis.call('HMGET', B .. ':case:' .. cid, 'team', 'queued_ms')
  redis.call('HSET', B .. ':case:' .. cid, 'assignee', '', 'updated_ms', now)
  redis.call('ZADD', B .. ':queue:' .. c[1], c[2] or now, cid)
  timeline(B, cid, now, {type = 'queued', reason = why})
end
