-- Step 1 of moving a cart to an identifier in another hash slot (Redis Cluster): marks the
-- source cart as moving to the target (field `m`) and answers it. A marked cart is frozen: the
-- save and swap scripts refuse it, so the copy the next steps write stays the cart's last state.
-- A cart already marked for this target (an attempt that died after this step) is answered again.
-- KEYS[1]: the source cart hash. ARGV[1]: the target identifier.
-- Returns {0} when there is no cart, {2, other target} when the cart is moving to another
-- target, else {1, version, document, last write}.

local found = redis.call('HMGET', KEYS[1], 'v', 'd', 't', 'm')
if not found[1] then return {0} end
if found[4] and found[4] ~= ARGV[1] then return {2, found[4]} end
if not found[4] then redis.call('HSET', KEYS[1], 'm', ARGV[1]) end
return {1, found[1], found[2], found[3] or ''}
