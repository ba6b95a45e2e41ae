-- Prepended to the scripts that walk an identifier's instance set (instances.lua, forget.lua).
-- Redis Cluster wants every key a script touches declared, so the caller names the cart keys of
-- the members it expects; when the set holds other members (it changed, or the caller guessed
-- none), the script answers them and changes nothing, and the caller calls again with them.
-- KEYS[1]: the identifier's instance set; KEYS[i + 1]: the cart of member ARGV[i].
-- ARGV: the encoded instances the caller expects in the set.
-- Returns nil when the set holds exactly ARGV, else the reply {0, the set's members...}.
local function unexpected_members()
  local members = redis.call('SMEMBERS', KEYS[1])
  local expected = {}
  for _, instance in ipairs(ARGV) do expected[instance] = true end
  local same = #members == #ARGV
  for _, instance in ipairs(members) do
    if not expected[instance] then same = false end
  end
  if same then return nil end
  table.insert(members, 1, 0)
  return members
end
