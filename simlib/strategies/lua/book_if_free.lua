-- Book a seat in one server-side step: no lock, no race window.
-- KEYS[1]  the seat key
-- KEYS[2]  the run's ledger list
-- ARGV[1]  the user id to write as owner
-- ARGV[2]  the ledger entry "seat_id:user_id:token"
-- returns  1 if the seat was free and is now ours (ledger appended), 0 if it already had an owner
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  return 1
end
return 0
