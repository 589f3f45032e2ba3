-- Book a seat only if it is free and our fencing token is not older than the newest the store has seen.
-- KEYS[1]  the seat key
-- KEYS[2]  the newest fencing token the store has seen for the seat
-- KEYS[3]  the run's ledger list
-- ARGV[1]  the user id to write as owner
-- ARGV[2]  our fencing token
-- ARGV[3]  the ledger entry "seat_id:user_id:token"
-- returns  1 if booked (owner set, newest-seen token raised, ledger appended), 0 if the seat already had an owner,
--          -1 if a newer token was seen (a stale holder: nothing is written)
local token = tonumber(ARGV[2])
if token < tonumber(redis.call('GET', KEYS[2]) or '0') then
  return -1
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], token)
redis.call('RPUSH', KEYS[3], ARGV[3])
return 1
