-- Deletes one cart and removes it from its identifier's instance set.
-- KEYS[1]: the cart hash; KEYS[2]: the identifier's instance set.
-- ARGV[1]: the encoded instance.
-- Returns 1 if the cart existed, else 0.

local deleted = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return deleted
