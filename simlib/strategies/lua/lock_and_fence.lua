-- Take the single-instance lock and, in the same step, draw the next fencing token for the seat.
-- KEYS[1]  the lock key
-- KEYS[2]  the seat's fencing counter (INCR'd only when the lock is taken)
-- ARGV[1]  the random token of this acquisition
-- ARGV[2]  the lease, milliseconds (PX)
-- returns  the new fencing token (1, 2, 3, ...) if the lock was free and is now ours, 0 if someone holds it
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
