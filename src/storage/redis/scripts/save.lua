-- Compare-and-set write of one cart: writes the document only if the stored version is the one
-- the caller read, bumps the version, refreshes the TTL and records the instance.
-- A new cart starts at the server's clock in microseconds, not at 1: a cart created after a DEL
-- or an expiry then starts above every version its earlier life reached (each write costs a
-- round trip, so no cart gains a version per microsecond), and a writer still holding one of
-- those versions conflicts instead of overwriting the new cart. The server's clock, so that
-- every process writing the cart counts on one clock.
-- Versions travel as strings: Redis may print a large Lua number in exponent notation.
-- KEYS[1]: the cart hash; KEYS[2]: the identifier's instance set.
-- ARGV[1]: the expected version ('' when the cart must not exist yet); ARGV[2]: the document;
-- ARGV[3]: the TTL in milliseconds; ARGV[4]: the encoded instance; ARGV[5]: now, unix seconds.
-- A cart being moved to another slot (field `m`, see move_out.lua) is frozen: the save answers
-- {2, version, target} and the caller finishes the move before it tries again.
-- With the event log on (see log_event.lua): KEYS[3] and ARGV[6..8]; only a write that
-- happened logs, after it happened.
-- Returns {1, new version} on success, {0, current version or -1} on a conflict.

local refused = check_event_stream(3)
if refused then return refused end
local stored = redis.call('HMGET', KEYS[1], 'v', 'm')
local current = stored[1]
if stored[2] then return {2, tonumber(current), stored[2]} end
if ARGV[1] == '' then
  if current then return {0, tonumber(current)} end
elseif current ~= ARGV[1] then
  return {0, tonumber(current) or -1}
end
local version
if current then
  version = string.format('%d', tonumber(current) + 1)
else
  local now = redis.call('TIME')
  version = now[1] .. string.format('%06d', tonumber(now[2]))
end
redis.call('HSET', KEYS[1], 'v', version, 'd', ARGV[2], 't', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
log_event(3, current and 'u' or 'c', version, 6)
return {1, tonumber(version)}
