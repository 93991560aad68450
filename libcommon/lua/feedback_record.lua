-- requires: case_lib.lib.lua
-- feedback_record: one survey answer (POST /v1/feedback), recorded once.
-- The token's nonce is the single-use key: the first call with it marks
-- it used and, in the same atomic step, puts the answer on the case's
-- timeline, in the customer's view and in the tenant's survey counters
-- (what analytics serves as NPS and CSAT). A later call with the same
-- nonce changes nothing: it answers 'repeat' if its body digest is the
-- first call's (a client resending the same answer), else 'token_used'.
-- KEYS: B:fb:<nonce> (the rest share its hash tag; see case_lib)
-- ARGV: B, nonce, digest, case, complaint, customer, kind (nps|csat),
--       score, bucket (promoter passive detractor | satisfied neutral
--       unsatisfied), day (YYYY-MM-DD, UTC), now, ttl_s (until the token
--       expires), has_comment (1/0), lang
-- Under B (besides case_lib's):
--   fb:<nonce>            hash: the answer (digest kind score case
--                         complaint customer at_ms comment)
--   cust:<customer>:feedback list: JSON answers, newest first, capped
--   survey                hash: '<kind>:<day>:<bucket>' -> count
-- Returns {code, at_ms}: code 'ok', 'repeat' or 'token_used'.
-- (ARGV[2], the nonce, is in KEYS[1]; passed for the logs of a failure.)
local B, digest = ARGV[1], ARGV[3]
local cid, comp, cust, kind = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local score, bucket, day, now = tonumber(ARGV[8]), ARGV[9], ARGV[10],
  ARGV[11]
local CUST_FEEDBACK_MAX = 200

local prev = redis.call('HMGET', KEYS[1], 'digest', 'at_ms')
if prev[1] then
  if prev[1] == digest then return {'repeat', prev[2] or ''} end
  return {'token_used', prev[2] or ''}
end

redis.call('HSET', KEYS[1], 'digest', digest, 'kind', kind, 'score', score,
  'case', cid, 'complaint', comp, 'customer', cust, 'at_ms', now,
  'comment', ARGV[13])
local ttl = tonumber(ARGV[12]) or 0
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end

local entry = {type = 'feedback', kind = kind, score = score,
  complaint = comp, comment = ARGV[13] == '1'}
-- The case may be gone (closed and expired): the answer still counts.
if redis.call('EXISTS', B .. ':case:' .. cid) == 1 then
  timeline(B, cid, now, entry)
  redis.call('HSET', B .. ':case:' .. cid, 'feedback_kind', kind,
    'feedback_score', score, 'feedback_ms', now)
  case_event(B, cid, now, 'feedback', '')
end
if cust ~= '' then
  local ck = B .. ':cust:' .. cust .. ':feedback'
  entry.case = cid
  entry.at_ms = tonumber(now)
  if redis.call('LPUSH', ck, cjson.encode(entry)) > CUST_FEEDBACK_MAX then
    redis.call('LTRIM', ck, 0, CUST_FEEDBACK_MAX - 1)
  end
  redis.call('HSET', B .. ':cust:' .. cust, 'last_feedback_ms', now)
end
redis.call('HINCRBY', B .. ':survey', kind .. ':' .. day .. ':' .. bucket, 1)
return {'ok', now}
