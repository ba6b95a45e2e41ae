-- With the event log on, a writing script is given its cart's event stream as KEYS[at] (KEYS[3]
-- for the scripts of one cart) and three more arguments from ARGV[first]: the identifier's tag,
-- the instance and the write id (empty for none). log_event appends one entry there, in the
-- script that makes the change, so the change and its event commit together; a script without
-- KEYS[at] logs nothing. Versions are passed as strings. The entry id is Redis's
-- (`*`): increasing within the stream, it is the consumers' cursor and the event's time (ms).
-- The event's id is put together by the reader from these fields: nothing more to store.

-- Redis does not roll a script back when a command fails, so the stream is checked before the
-- script writes anything: a key of another type there fails the whole change, not just its event.
local function check_event_stream(at)
  if not KEYS[at] then return nil end
  local kind = redis.call('TYPE', KEYS[at])['ok']
  if kind ~= 'stream' and kind ~= 'none' then
    return redis.error_reply('the event stream ' .. KEYS[at] .. ' holds a ' .. kind)
  end
  return nil
end

local function log_event(at, kind, version, first)
  if not KEYS[at] then return end
  redis.call('XADD', KEYS[at], '*', 'k', kind, 'h', ARGV[first], 'i', ARGV[first + 1],
    'v', version, 'w', ARGV[first + 2] or '')
end

