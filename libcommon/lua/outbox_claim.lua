-- outbox_claim: the notifier takes up to n due jobs of one tenant. A
-- claimed job's score becomes the end of its lease, so another notifier
-- copy takes it only if this one died (or overran the lease) without
-- answering; attempts counts the claims and fences a stale answer
-- (outbox_retry.lua).
-- A job whose case owes an earlier delivery to the same audience still
-- (B:obq:<case>:<c|t> has another job at its head; see outbox.lib.lua)
-- waits WAIT_MS and is looked at again, so a case's deliveries to one
-- audience go out one at a time, in order; other cases' jobs are not held
-- up by it (up to SCAN_MAX times n due jobs are looked at).
-- KEYS: B:outbox (the rest share its hash tag; see case_lib)
-- ARGV: B, now_ms, lease_ms, n
-- Returns {{id, kind, complaint, case, payload, attempts}, ...}.
local WAIT_MS, SCAN_MAX = 250, 4
local B, now = ARGV[1], tonumber(ARGV[2])
local lease, n = tonumber(ARGV[3]), tonumber(ARGV[4])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0,
  n * SCAN_MAX)
local out = {}
for _, id in ipairs(ids) do
  if #out >= n then break end
  local k = B .. ':ob:' .. id
  local j = redis.call('HMGET', k, 'kind', 'complaint', 'case', 'payload')
  local q = j[3] and j[3] ~= '' and B .. ':obq:' .. j[3] ..
    ((j[1] == 'customer_ack' or j[1] == 'survey_request' or
      j[1] == 'incident_notice' or j[1] == 'incident_resolved') and ':c' or ':t')
  local head = q and redis.call('LINDEX', q, 0)
  if not j[1] then
    -- The job hash is gone (deleted by hand): nothing left to send.
    redis.call('ZREM', KEYS[1], id)
  elseif head and head ~= id and
         redis.call('EXISTS', B .. ':ob:' .. head) == 1 then
    redis.call('ZADD', KEYS[1], now + WAIT_MS, id)
  else
    if head and head ~= id then
      -- Its head is gone for good (deleted by hand): not a reason to wait.
      redis.call('LREM', q, 1, head)
    end
    local attempts = redis.call('HINCRBY', k, 'attempts', 1)
    redis.call('ZADD', KEYS[1], now + lease, id)
    out[#out + 1] = {id, j[1], j[2] or '', j[3] or '', j[4] or '',
      attempts}
  end
end
return out
