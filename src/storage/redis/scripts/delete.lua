-- Deletes one cart and removes it from its identifier's instance set.
-- KEYS[1]: the cart; KEYS[2]: the identifier's instance set.
-- ARGV[1]: the encoded instance.
-- With the event log on (see log_event.lua): KEYS[3] and ARGV[2..4]; a delete that removed a
-- cart logs it, at the version the cart had.
-- Returns 1 if the cart existed, else 0.

local refused = check_event_stream(3)
if refused then return refused end
local version = cart_head(1)
local deleted = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
if deleted == 1 and version then log_event(3, 'd', version, 2) end
return deleted
