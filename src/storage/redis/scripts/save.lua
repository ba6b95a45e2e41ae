-- Compare-and-set write of one cart. The caller sent the new value to KEYS[3] with the cart's TTL
-- (`SET`, on the same connection just before this call), its head already at the expected version + 1 (zeros for a new
-- cart): the script checks the stored version, renames that value over the cart (which takes its
-- TTL along), writes a new cart's first version into its head, and records the instance. Each
-- command a script calls costs Redis about a microsecond beyond its own work, so the script
-- calls no more than it must.
-- A new cart starts at the server's clock in microseconds, not at 1: a cart created after a DEL
-- or an expiry then starts above every version its earlier life reached (each write costs a
-- round trip, so no cart gains a version per microsecond), and a writer still holding one of
-- those versions conflicts instead of overwriting the new cart. The server's clock, so that
-- every process writing the cart counts on one clock.
-- KEYS[1]: the cart; KEYS[2]: the identifier's instance set; KEYS[3]: the new value.
-- ARGV[1]: the expected version ('' when the cart must not exist yet); ARGV[2]: the TTL in
-- milliseconds; ARGV[3]: the encoded instance.
-- A cart being moved to another slot (see move_out.lua) is frozen: the save answers
-- {2, version, target} and the caller finishes the move before it tries again.
-- With the event log on (see log_event.lua): KEYS[4] and ARGV[4..6]; only a write that
-- happened logs, after it happened.
-- Returns {1, new version} on success, {0, current version or -1} on a conflict. A write that
-- does not happen deletes the value it was sent.

local function refuse(answer)
  redis.call('DEL', KEYS[3])
  return answer
end
local refused = check_event_stream(4)
if refused then return refuse(refused) end
local current, moving = cart_head(1)
if moving then return refuse({2, tonumber(current), moving}) end
if ARGV[1] == '' then
  if current then return refuse({0, tonumber(current)}) end
elseif current ~= ARGV[1] then
  return refuse({0, tonumber(current) or -1})
end
-- Renamed first: when the value is missing, the script fails before it changed anything.
redis.call('RENAME', KEYS[3], KEYS[1])
local version
if current then
  version = tonumber(current) + 1
else
  local now = redis.call('TIME')
  version = tonumber(now[1]) * 1000000 + tonumber(now[2])
  redis.call('SETRANGE', KEYS[1], 0, string.format('%020d', version))
end
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
log_event(4, current and 'u' or 'c', string.format('%d', version), 4)
return {1, version}
