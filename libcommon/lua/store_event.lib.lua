-- kj_store: append event ev to the capped stream key, a prelude of the
-- scripts that write events. An empty event means the caller has none;
-- maxlen 0 means no cap.
local function event(key, ev, maxlen)
  if ev == '' then return end
  if tonumber(maxlen) > 0 then
    redis.call('XADD', key, 'MAXLEN', '~', maxlen, '*', 'e', ev)
  else
    redis.call('XADD', key, '*', 'e', ev)
  end
end

