-- A cart is one string: a 41-byte head, then the cart's document. The head is the version in 20
-- digits, a state byte ('-', or 'm' for a cart frozen by a move to another slot, see
-- move_out.lua) and the last write's time, unix seconds in 20 digits. A frozen cart's target
-- identifier follows the head, as its length in 10 digits and the identifier, before the
-- document. Writes change the head in place (SETRANGE) and move whole values (RENAME), so no
-- document passes through Lua: Redis copies every byte it hands to a script, and for a cart that
-- was most of a save's cost.

-- The version of the cart at KEYS[at], as a string without padding (nil when there is no cart),
-- and, when a move froze it, the identifier it is moving to.
local function cart_head(at)
  local head = redis.call('GETRANGE', KEYS[at], 0, 20)
  if head == '' then return nil, nil end
  local version = string.format('%d', tonumber(string.sub(head, 1, 20)))
  if string.sub(head, 21, 21) ~= 'm' then return version, nil end
  local length = tonumber(redis.call('GETRANGE', KEYS[at], 41, 50))
  return version, redis.call('GETRANGE', KEYS[at], 51, 50 + length)
end

-- The head of a cart that is not moving, at `version`, last written at unix second `written`.
local function head_of(version, written)
  return string.format('%020d-%020d', version, tonumber(written))
end

