-- outbox_done: a job was delivered (a 2xx answer). The job goes, and its
-- delivery is recorded on the complaint (B:dl:<complaint>, which GET
-- /v1/complaints/{id} shows) and on the tenant's stream. A second answer
-- for the same job (a copy that overran its lease) finds it gone and
-- records nothing, so a delivery is listed once.
-- KEYS: B:outbox (the rest share its hash tag; see case_lib)
-- ARGV: B, job, now_ms, endpoint (origin), http_status, retention_s
-- A delivered customer_ack stops its case's acknowledgement clock.
-- Returns 1, or 0 if the job was no longer there.
local DL_MAX = 100 -- deliveries kept per complaint
local B, job, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local k = B .. ':ob:' .. job
local j = redis.call('HMGET', k, 'kind', 'complaint', 'case', 'attempts')
if not j[1] then return 0 end
local dl = B .. ':dl:' .. j[2]
if redis.call('RPUSH', dl, cjson.encode({
  kind = j[1], endpoint = ARGV[4], status = 'delivered',
  attempts = tonumber(j[4]) or 0, http_status = tonumber(ARGV[5]) or 0,
  error = '', at_ms = now, idempotency_key = job})) > DL_MAX then
  redis.call('LTRIM', dl, -DL_MAX, -1)
end
redis.call('EXPIRE', dl, tonumber(ARGV[6]))
redis.call('DEL', k)
redis.call('ZREM', KEYS[1], job)
-- The case's next delivery may go (outbox_claim.lua).
if j[3] and j[3] ~= '' then
  redis.call('LREM', B .. ':obq:' .. j[3] ..
    ((j[1] == 'customer_ack' or j[1] == 'survey_request' or
      j[1] == 'incident_notice' or j[1] == 'incident_resolved') and ':c' or ':t'),
    1, job)
end
-- The automatic acknowledgement reached the customer: its clock stops.
if j[1] == 'customer_ack' and j[3] and j[3] ~= '' then
  local ck = B .. ':case:' .. j[3]
  if redis.call('EXISTS', ck) == 1 then
    redis.call('HSETNX', ck, 'ack_ms', now)
  end
end
redis.call('XADD', B .. ':events', 'MAXLEN', '~', 100000, '*',
  'case', j[3] or '', 'type', 'delivered', 'kind', j[1],
  'complaint', j[2], 'job', job, 'at_ms', now)
return 1
