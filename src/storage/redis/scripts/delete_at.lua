-- Deletes one cart only while it is at the version the caller names, so a write that landed
-- after the caller read the cart is never deleted with it.
-- The instance leaves the set when the cart went, or was already gone; a cart kept at another
-- version keeps its instance.
-- KEYS[1]: the cart; KEYS[2]: the identifier's instance set.
-- ARGV[1]: the version to delete; ARGV[2]: the encoded instance.
-- With the event log on (see log_event.lua): KEYS[3] and ARGV[3..5]; a delete that removed the
-- cart logs it.
-- Returns 1 if the cart was deleted, else 0.

local refused = check_event_stream(3)
if refused then return refused end
local current = cart_head(1)
if current and current ~= ARGV[1] then return 0 end
redis.call('SREM', KEYS[2], ARGV[2])
if not current then return 0 end
local deleted = redis.call('DEL', KEYS[1])
if deleted == 1 then log_event(3, 'd', current, 3) end
return deleted
