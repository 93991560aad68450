-- case_lib: what the case scripts (case_*.lua, agent_*.lua) share.
-- B (ARGV[1] of every such script) is '<prefix>:{t:<tenant>}': one
-- tenant's cases, customers, agents and team queues all carry its hash
-- tag, so that one script assigns atomically across them, on Redis
-- Cluster too. Under B:
--   case:<id>            hash: the case (status team assignee clocks ...)
--   case:<id>:complaints list: complaint ids, oldest first
--   case:<id>:timeline   list: JSON entries {at_ms, type, ...}, capped
--   cc:<complaint>       string: the case a complaint was filed in
--   cust:<customer>      hash: case (the current one), first_ms, last_ms
--   cust:<customer>:cases list: case ids, newest first, capped
--   cust:<customer>:msgs list: JSON {id, case, at_ms, sentiment, score,
--                        channel, language}, newest first, capped (the
--                        sentiment trajectory; incidents read the last
--                        channel and language a customer used)
--   cases_by:<category>  zset: case id -> its latest message (ms), trimmed
--                        to the retention (incident_open.lua reads it)
--   incidents            zset: incident id -> opened_ms
--   incident:<id>        hash: an incident (incident_open.lua documents it)
--   incident:<id>:members zset: customer -> order added (1, 2, ...)
--   incident:<id>:timeline list: JSON {at_ms, type, ...}
--   incident:<id>:<kind> set: the customers (16 hex of SHA-1) owed <kind>
--   incident_idem:<key>  string: the incident an Idempotency-Key opened
--   agents               set: agent ids
--   agent:<id>           hash: name teams languages skills (JSON arrays)
--                        capacity status load last updated_ms
--   agent:<id>:cases     set: open cases assigned to the agent
--   team:<team>:agents   set: the team's agent ids
--   free:<team>          set: the team's online agents with room (an
--                        index assign.lib.lua keeps; the agent hash rules)
--   queue:<team>         zset: case id -> ms it started waiting
--   seq                  counter: the order of assignments (round robin)
--   events               capped stream: every case change, for analytics
--   clocks               zset: '<case>:<clock>' -> when it fires (ms);
--                        claimed by the router (clock_claim.lua)
--   outbox               zset: job id -> when it is due (ms); claimed by
--                        the notifier (outbox_claim.lua)
--   ob:<job>             hash: a delivery job: id kind complaint case
--                        payload (JSON) attempts created_ms last_error
--   obq:<case>:<c|t>     list: the case's owed jobs to the customer (c)
--                        or its team (t), oldest first: only the head is
--                        claimed (outbox_claim.lua)
--   dl:<complaint>       list: JSON of every outbox delivery made for a
--                        complaint {kind, endpoint, status, attempts,
--                        http_status, error, at_ms, idempotency_key}
-- and, outside the tag, <prefix>:tenants (set): every tenant with cases,
-- for the stages that sweep clocks and outboxes.
local TIMELINE_MAX = 500

local function timeline(B, cid, now, entry)
  entry.at_ms = tonumber(now)
  local k = B .. ':case:' .. cid .. ':timeline'
  if redis.call('RPUSH', k, cjson.encode(entry)) > TIMELINE_MAX then
    redis.call('LTRIM', k, -TIMELINE_MAX, -1)
  end
end

-- A case change on the tenant's stream (capped near 100k entries).
local function case_event(B, cid, now, kind, agent)
  redis.call('XADD', B .. ':events', 'MAXLEN', '~', 100000, '*',
    'case', cid, 'type', kind, 'agent', agent or '', 'at_ms', now)
end
