-- Lists an identifier's instances whose cart still exists, dropping from the set those whose
-- cart expired.
-- KEYS[1]: the identifier's instance set.
-- ARGV[1]: what precedes the instance in the identifier's cart keys.
-- Returns the encoded instances still alive.

local live = {}
for _, instance in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. instance) == 1 then
    table.insert(live, instance)
  else
    redis.call('SREM', KEYS[1], instance)
  end
end
return live
