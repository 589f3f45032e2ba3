-- Check a seat under a fenced lock, and tell the store that this token is now the newest it has seen.
-- KEYS[1]  the seat key
-- KEYS[2]  the newest fencing token the store has seen for the seat
-- ARGV[1]  our fencing token
-- returns  -1 if a newer token was already seen (our lease is stale), 1 if the seat has an owner,
--          0 if the seat is free (the newest-seen token is now ours, so any older holder's write will bounce)
local token = tonumber(ARGV[1])
if token < tonumber(redis.call('GET', KEYS[2]) or '0') then
  return -1
end
redis.call('SET', KEYS[2], token)
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 1
end
return 0
