-- outbox_retry: a job was not delivered. With defer = 1 nothing was sent
-- (a circuit open, no free slot): the claim's attempt is given back and
-- the job waits until next_ms. Otherwise it is due again at next_ms with
-- last_error, or, after max attempts, dead: it leaves the outbox for
-- B:outbox_dead (job -> when; the job hash stays for operators), and the
-- failed delivery is recorded on the complaint and the tenant's stream.
-- Only the current claim may answer: attempts must still be the value
-- the claim returned, else another copy holds the job now.
-- KEYS: B:outbox (the rest share its hash tag; see case_lib)
-- ARGV: B, job, now_ms, next_ms, error, attempts, max_attempts, defer,
--       endpoint (origin), http_status, retention_s
-- Returns 'retry', 'dead', 'gone' or 'stale'.
local DL_MAX = 100 -- deliveries kept per complaint
local B, job, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local k = B .. ':ob:' .. job
local j = redis.call('HMGET', k, 'kind', 'complaint', 'case', 'attempts')
if not j[1] then return 'gone' end
local attempts = tonumber(j[4]) or 0
if attempts ~= tonumber(ARGV[6]) then return 'stale' end
redis.call('HSET', k, 'last_error', ARGV[5], 'last_ms', now)
if ARGV[8] == '1' then
  redis.call('HSET', k, 'attempts', attempts > 0 and attempts - 1 or 0)
  redis.call('ZADD', KEYS[1], tonumber(ARGV[4]), job)
  return 'retry'
end
if attempts < tonumber(ARGV[7]) then
  redis.call('ZADD', KEYS[1], tonumber(ARGV[4]), job)
  return 'retry'
end
local dl = B .. ':dl:' .. j[2]
if redis.call('RPUSH', dl, cjson.encode({
  kind = j[1], endpoint = ARGV[9], status = 'failed', attempts = attempts,
  http_status = tonumber(ARGV[10]) or 0, error = ARGV[5], at_ms = now,
  idempotency_key = job})) > DL_MAX then
  redis.call('LTRIM', dl, -DL_MAX, -1)
end
redis.call('EXPIRE', dl, tonumber(ARGV[11]))
redis.call('ZREM', KEYS[1], job)
redis.call('ZADD', B .. ':outbox_dead', now, job)
-- A dead delivery does not hold up the case's next one.
if j[3] and j[3] ~= '' then
  redis.call('LREM', B .. ':obq:' .. j[3] ..
    ((j[1] == 'customer_ack' or j[1] == 'survey_request' or
      j[1] == 'incident_notice' or j[1] == 'incident_resolved') and ':c' or ':t'),
    1, job)
end
redis.call('XADD', B .. ':events', 'MAXLEN', '~', 100000, '*',
  'case', j[3] or '', 'type', 'dead', 'kind', j[1],
  'complaint', j[2], 'job', job, 'error', ARGV[5], 'at_ms', now)
return 'dead'
