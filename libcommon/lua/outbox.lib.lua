-- outbox: a delivery owed, for the scripts that owe them (keys: see
-- case_lib.lib.lua, which every such script requires first).
-- Owe a delivery (customer_ack, sla_warning, escalation, follow_up,
-- survey_request, incident_notice, incident_resolved): job id is its idempotency key ('<complaint>:<kind>' or
-- with a ':<n>' suffix for repeats), so owing it twice changes nothing.
-- payload is the JSON (a string) the notifier sends along.
-- The queue suffix of a kind: the customer's or the team's.
local function outbox_audience(kind)
  if kind == 'customer_ack' or kind == 'survey_request' or
     kind == 'incident_notice' or kind == 'incident_resolved' then
    return ':c'
  end
  return ':t'
end

local function outbox_put(B, job, kind, complaint, cid, payload, due_ms)
  local k = B .. ':ob:' .. job
  if redis.call('EXISTS', k) == 1 then return 0 end
  redis.call('HSET', k, 'id', job, 'kind', kind, 'complaint', complaint,
    'case', cid, 'payload', payload, 'attempts', 0,
    'created_ms', due_ms)
  redis.call('ZADD', B .. ':outbox', due_ms, job)
  -- A case's deliveries to one audience (:c the customer, :t its team)
  -- go out in the order they were owed, so a survey never overtakes the
  -- acknowledgement: B:obq:<case>:<c|t> lists them (outbox_claim.lua).
  if cid and cid ~= '' then
    redis.call('RPUSH', B .. ':obq:' .. cid .. outbox_audience(kind), job)
  end
  return 1
end

