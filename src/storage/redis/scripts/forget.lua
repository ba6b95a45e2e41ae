-- Deletes every cart of one identifier and its instance set.
-- KEYS[1]: the identifier's instance set.
-- ARGV[1]: what precedes the instance in the identifier's cart keys.
-- Returns how many carts were deleted.

local deleted = 0
for _, instance in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  deleted = deleted + redis.call('DEL', ARGV[1] .. instance)
end
redis.call('DEL', KEYS[1])
return deleted
