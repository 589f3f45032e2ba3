-- Release a lock only if we still hold it (compare-and-delete).
-- KEYS[1]  the lock key
-- ARGV[1]  the token our acquisition wrote
-- returns  1 if the key held our token and was deleted, 0 otherwise (expired, or someone else's lock now)
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
