-- Reads a cart and, if it exists, refreshes its TTL and its instance set's, in one call.
-- KEYS[1]: the cart hash; KEYS[2]: the identifier's instance set.
-- ARGV[1]: the TTL in milliseconds.
-- Returns the fields v, d and t, as HMGET would.

local found = redis.call('HMGET', KEYS[1], 'v', 'd', 't')
if found[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
return found
