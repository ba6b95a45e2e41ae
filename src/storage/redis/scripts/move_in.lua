-- Step 2 of a cross-slot move: writes the moved cart into the target, replacing the target's
-- cart, and records the move (the source key and the version moved) beside it, in KEYS[3], for
-- as long as a cart lives. An attempt that finds its own record leaves the target alone: the
-- move is in, and writes the target took since (or its delete) must not be undone. The version
-- ends above the moved one, the replaced one and the server's clock in microseconds, as a swap's
-- does.
-- KEYS[1]: the target cart; KEYS[2]: the target instance set; KEYS[3]: the target's move record.
-- ARGV[1]: the move record; ARGV[2]: the moved version; ARGV[3]: the document; ARGV[4]: the
-- TTL in milliseconds; ARGV[5]: the encoded instance; ARGV[6]: now, unix seconds.
-- With the event log on (see log_event.lua): KEYS[4] and ARGV[7..9]; the write logs the target
-- `created` or `updated`, and an attempt that finds its record logs nothing again.
-- Returns {1, version} when written, {2} when an earlier attempt wrote it.

local refused = check_event_stream(4)
if refused then return refused end
if redis.call('GET', KEYS[3]) == ARGV[1] then return {2} end
local current = cart_head(1)
local now = redis.call('TIME')
local clock = tonumber(now[1]) * 1000000 + tonumber(now[2])
local version = math.max(tonumber(ARGV[2]), tonumber(current) or 0, clock) + 1
redis.call('SET', KEYS[1], head_of(version, ARGV[6]) .. ARGV[3], 'PX', ARGV[4])
redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[4])
redis.call('SADD', KEYS[2], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
log_event(4, current and 'u' or 'c', string.format('%d', version), 7)
return {1, version}
