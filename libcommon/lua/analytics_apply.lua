-- requires: store_record_sla.lib.lua
-- analytics: count a batch of one partition's stream entries, each
-- exactly once, in one call.
-- KEYS: stream, stats hash, SLA hash, then the records of the entries
--       that carry an SLA verdict (all in the stream's partition)
-- ARGV: group, then for each entry: id, record (its index in KEYS, 0 for
--       none), SLA field, verdict, n (increment pairs), then n field and
--       increment pairs
-- An entry's XACK is its guard: it returns 1 only for the call that takes
-- the entry off the pending list, so its increments are applied once
-- however often it is delivered. kj_store's record_sla makes the verdict
-- count once per complaint. The batch's increments are summed per field
-- first, so the stats hash gets one HINCRBY per distinct field.
-- Returns one integer per entry: 1 applied now, 0 acknowledged before.
local group, sum, order, out = ARGV[1], {}, {}, {}
local i = 2
while i <= #ARGV do
  local id, rec, field, verdict, n = ARGV[i], tonumber(ARGV[i + 1]),
    ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
  local first = i + 5
  i = first + 2 * n
  if redis.call('XACK', KEYS[1], group, id) == 1 then
    for j = first, i - 1, 2 do
      local f = ARGV[j]
      if not sum[f] then
        sum[f] = 0
        order[#order + 1] = f
      end
      sum[f] = sum[f] + tonumber(ARGV[j + 1])
    end
    if rec > 0 and record_sla(KEYS[rec], verdict) then
      redis.call('HINCRBY', KEYS[3], field, 1)
    end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
for _, f in ipairs(order) do
  if sum[f] ~= 0 then redis.call('HINCRBY', KEYS[2], f, sum[f]) end
end
return out
