-- Moves one cart instance from one identifier to another, replacing the target's cart. The
-- moved cart's version ends above both old versions and above the server's clock in
-- microseconds, so neither a reader of the moved cart, nor of the replaced one, nor of a cart
-- the target had before an expiry or a delete, can overwrite it.
-- Moving a cart onto itself only bumps its version and TTL.
-- KEYS[1]: the source cart; KEYS[2]: the source instance set;
-- KEYS[3]: the target cart; KEYS[4]: the target instance set.
-- ARGV[1]: the encoded instance; ARGV[2]: the TTL in milliseconds; ARGV[3]: now, unix seconds.
-- A source cart frozen by a cross-slot move (see move_out.lua) is not moved again: the answer
-- names that move's target, and the caller finishes it.
-- With the event log on (see log_event.lua): KEYS[5], the slot's stream, with ARGV[4..6] for the
-- source and ARGV[7..9] for the target: the source logs `deleted` at the version moved, the target
-- `created` or `updated` at its new version (a cart moved onto itself: `updated`).
-- Returns 1 if a cart was moved, 0 if the source had none, {2, target} if it is moving.

local refused = check_event_stream(5)
if refused then return refused end
local moved, moving = cart_head(1)
if not moved then return 0 end
if moving then return {2, moving} end
if KEYS[1] == KEYS[3] then
  local bumped = tonumber(moved) + 1
  redis.call('SETRANGE', KEYS[1], 0, head_of(bumped, ARGV[3]))
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  -- Its set's too, as every write sets them: the set outlives the carts in it.
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  log_event(5, 'u', string.format('%d', bumped), 7)
  return 1
end
local now = redis.call('TIME')
local clock = tonumber(now[1]) * 1000000 + tonumber(now[2])
local replaced = tonumber((cart_head(3))) or 0
local version = math.max(tonumber(moved), replaced, clock) + 1
redis.call('RENAME', KEYS[1], KEYS[3])
redis.call('SETRANGE', KEYS[3], 0, head_of(version, ARGV[3]))
redis.call('PEXPIRE', KEYS[3], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('PEXPIRE', KEYS[4], ARGV[2])
redis.call('SREM', KEYS[2], ARGV[1])
log_event(5, 'd', moved, 4)
log_event(5, replaced > 0 and 'u' or 'c', string.format('%d', version), 7)
return 1
