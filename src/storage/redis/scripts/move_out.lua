-- Step 1 of moving a cart to an identifier in another hash slot (Redis Cluster): marks the
-- source cart as moving to the target (state 'm' in its head, the target after it, see
-- cart_head.lua) and answers it. A marked cart is frozen: the save and swap scripts refuse it,
-- so the copy the next steps write stays the cart's last state. A cart already marked for this
-- target (an attempt that died after this step) is answered again.
-- KEYS[1]: the source cart. ARGV[1]: the target identifier.
-- Returns {0} when there is no cart, {2, other target} when the cart is moving to another
-- target, else {1, version, document, last write}.

local value = redis.call('GET', KEYS[1])
if not value then return {0} end
local version = string.format('%d', tonumber(string.sub(value, 1, 20)))
local written = string.format('%d', tonumber(string.sub(value, 22, 41)))
local document
if string.sub(value, 21, 21) == 'm' then
  local length = tonumber(string.sub(value, 42, 51))
  local target = string.sub(value, 52, 51 + length)
  if target ~= ARGV[1] then return {2, target} end
  document = string.sub(value, 52 + length)
else
  document = string.sub(value, 42)
  redis.call('SET', KEYS[1], string.sub(value, 1, 20) .. 'm' .. string.sub(value, 22, 41)
    .. string.format('%010d', #ARGV[1]) .. ARGV[1] .. document, 'KEEPTTL')
end
return {1, version, document, written}
