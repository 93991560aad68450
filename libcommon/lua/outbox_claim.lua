-- outbox_claim: the notifier takes up to n due jobs of one tenant. A
-- claimed job's score becomes the end of its lease, so another notifier
-- copy takes it only if this one died (or overran the lease) without
-- answering; attempts counts the claims and fences a stale answer
-- (outbox_retry.lua).
-- KEYS: B:outbox (the rest share its hash tag; see case_lib)
-- ARGV: B, now_ms, lease_ms, n
-- Returns {{id, kind, complaint, case, payload, attempts}, ...}.
local B, now = ARGV[1], tonumber(ARGV[2])
local lease, n = tonumber(ARGV[3]), tonumber(ARGV[4])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, n)
local out = {}
for _, id in ipairs(ids) do
  local k = B .. ':ob:' .. id
  local j = redis.call('HMGET', k, 'kind', 'complaint', 'case', 'payload')
  if not j[1] then
    -- The job hash is gone (deleted by hand): nothing left to send.
    redis.call('ZREM', KEYS[1], id)
  else
    local attempts = redis.call('HINCRBY', k, 'attempts', 1)
    redis.call('ZADD', KEYS[1], now + lease, id)
    out[#out + 1] = {id, j[1], j[2] or '', j[3] or '', j[4] or '',
      attempts}
  end
end
return out
