-- Releases a cart lock only if the caller still holds it, so a holder whose lock expired and
-- was taken over never releases the new holder's lock.
-- KEYS[1]: the lock key.
-- ARGV[1]: the token the caller locked with.
-- Returns 1 if the lock was released, else 0.

if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
