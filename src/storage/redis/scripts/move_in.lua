-- Step 2 of a cross-slot move: writes the moved cart into the target, replacing the target's
-- cart, with a record of the move (field `f`: the source key and the version moved). An attempt
-- that finds its own record leaves the target alone: the move is in, and writes the target took
-- since must not be undone. The version ends above the moved one, the replaced one and the
-- server's clock in microseconds, as a swap's does.
-- Versions travel as strings: Redis may print a large Lua number in exponent notation.
-- KEYS[1]: the target cart hash; KEYS[2]: the target instance set.
-- ARGV[1]: the move record; ARGV[2]: the moved version; ARGV[3]: the document; ARGV[4]: the
-- TTL in milliseconds; ARGV[5]: the encoded instance; ARGV[6]: now, unix seconds.
-- With the event log on (see log_event.lua): KEYS[3] and ARGV[7..9]; the write logs the target
-- `created` or `updated`, and an attempt that finds its record logs nothing again.
-- Returns {1, version} when written, {2, version} when an earlier attempt wrote it.

local refused = check_event_stream(3)
if refused then return refused end
local current = redis.call('HMGET', KEYS[1], 'v', 'f')
if current[2] == ARGV[1] then return {2, tonumber(current[1])} end
local now = redis.call('TIME')
local clock = tonumber(now[1]) * 1000000 + tonumber(now[2])
local version = string.format('%d',
  math.max(tonumber(ARGV[2]), tonumber(current[1]) or 0, clock) + 1)
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', version, 'd', ARGV[3], 't', ARGV[6], 'f', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('SADD', KEYS[2], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
log_event(3, current[1] and 'u' or 'c', version, 7)
return {1, tonumber(version)}
