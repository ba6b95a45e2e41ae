-- Step 3 of a cross-slot move: deletes the source cart, only while it is the frozen one that was
-- copied (its version and its mark), so a retry after the cart went deletes nothing else.
-- KEYS[1]: the source cart; KEYS[2]: the source instance set.
-- ARGV[1]: the version moved; ARGV[2]: the target identifier; ARGV[3]: the encoded instance.
-- With the event log on (see log_event.lua): KEYS[3] and ARGV[4..6]; deleting the source logs
-- it `deleted` at the version moved.
-- Returns 1 when the source cart was deleted, else 0.

local refused = check_event_stream(3)
if refused then return refused end
local version, moving = cart_head(1)
if version ~= ARGV[1] or moving ~= ARGV[2] then return 0 end
redis.call('SREM', KEYS[2], ARGV[3])
local deleted = redis.call('DEL', KEYS[1])
if deleted == 1 then log_event(3, 'd', ARGV[1], 4) end
return deleted
