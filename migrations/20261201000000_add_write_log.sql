-- What a cart remembers of its own writes (the ids of its last writes and the guest carts merged
-- into it), so that a change whose answer was lost is recognised instead of applied twice. Kept
-- apart from `metadata`, which belongs to the shop, and from `settings`.
ALTER TABLE carts ADD COLUMN IF NOT EXISTS log jsonb NOT NULL DEFAULT '{}';
