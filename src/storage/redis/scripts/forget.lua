-- Deletes every cart of one identifier and its instance set. Keys and arguments: see
-- expected_members.lua.
-- Returns {1, carts deleted}, or {0, the set's members...} when they are not the expected ones.

local unexpected = unexpected_members()
if unexpected then return unexpected end
local deleted = 0
for i = 2, #KEYS do
  deleted = deleted + redis.call('DEL', KEYS[i])
end
redis.call('DEL', KEYS[1])
return {1, deleted}
