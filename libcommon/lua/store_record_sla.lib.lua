-- kj_store: the SLA verdict's write into a record hash, for scripts that
-- must make it atomically with their own work (analytics' apply counts
-- the verdict in the same call that acknowledges the event). Sets the
-- record's 'sla' field once; true the first time for this record, and
-- true for a record already expired: it can no longer be replayed, so
-- its verdict counts without the check.
local function record_sla(record, verdict)
  return redis.call('EXISTS', record) == 0 or
    redis.call('HSETNX', record, 'sla', verdict) == 1
end

