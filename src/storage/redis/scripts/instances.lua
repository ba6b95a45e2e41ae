-- Lists an identifier's instances whose cart still exists, dropping from the set those whose
-- cart expired. Keys and arguments: see expected_members.lua.
-- Returns {1, live members...}, or {0, the set's members...} when they are not the expected ones.

local unexpected = unexpected_members()
if unexpected then return unexpected end
local live = {1}
for i, instance in ipairs(ARGV) do
  if redis.call('EXISTS', KEYS[i + 1]) == 1 then
    table.insert(live, instance)
  else
    redis.call('SREM', KEYS[1], instance)
  end
end
return live
