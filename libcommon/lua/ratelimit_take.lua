-- kj_ratelimit_take: admit up to n requests through two token buckets,
-- one per API key and one per tenant, checked and charged together: a
-- request passes only if both buckets hold a token for it, so the first
-- `admitted` of the n pass and the rest are refused.
-- KEYS: key bucket <prefix>:rl:{<tenant>}:k:<key id>,
--       tenant bucket <prefix>:rl:{<tenant>}:t
--   Both carry the tenant as hash tag, so on Redis Cluster they share a
--   slot and this one script may touch both.
-- ARGV: now_ms, n, key_rate, key_burst, tenant_rate, tenant_burst
--   now_ms comes from the caller, not Redis TIME: tests then pass time in
--   and never sleep, and the script is deterministic (replicated and
--   replayed from the AOF as it ran). Rates are tokens per second; a rate
--   of 0 means that bucket is unlimited and its key is not touched.
-- Each bucket is a hash {tokens, ts_ms}; tokens may be fractional. A
-- missing bucket is a full one, which is what an idle bucket becomes
-- after burst/rate seconds, so a PEXPIRE of twice that loses nothing.
-- Returns {admitted, retry_after_ms}: retry_after_ms is when the limiting
-- bucket has its next whole token (0 when all n were admitted). Both are
-- whole numbers, because Redis truncates a Lua number to an integer reply.
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local EPS = 1e-9 -- absorbs float error, e.g. 0.1 * 10 = 0.9999999999

local buckets = {}
for i = 1, 2 do
  local rate = tonumber(ARGV[1 + 2 * i])
  local burst = tonumber(ARGV[2 + 2 * i])
  if rate > 0 then
    local key = KEYS[i]
    local tokens, ts = burst, now
    local saved = redis.call('HMGET', key, 'tokens', 'ts_ms')
    if saved[1] and saved[2] then
      tokens = tonumber(saved[1])
      ts = tonumber(saved[2])
      -- A caller whose clock is behind the last writer's refills nothing
      -- and keeps the later ts, so no interval is credited twice.
      if now > ts then
        tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
        ts = now
      end
    end
    buckets[#buckets + 1] =
      {key = key, rate = rate, burst = burst, tokens = tokens, ts = ts}
  end
end

local admitted = n
for _, b in ipairs(buckets) do
  admitted = math.min(admitted, math.floor(b.tokens + EPS))
end
if admitted < 0 then admitted = 0 end

local retry = 0
for _, b in ipairs(buckets) do
  b.tokens = math.max(0, b.tokens - admitted)
  if admitted < n and b.tokens + EPS < 1 then
    retry = math.max(retry, math.ceil((1 - b.tokens) * 1000 / b.rate))
  end
  redis.call('HSET', b.key, 'tokens', string.format('%.17g', b.tokens),
    'ts_ms', string.format('%d', b.ts))
  redis.call('PEXPIRE', b.key, math.max(1, math.ceil(2000 * b.burst / b.rate)))
end
return {admitted, retry}
