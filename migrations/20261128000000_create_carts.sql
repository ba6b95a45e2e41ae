-- Carts of axum-cart's database driver. One row per (identifier, instance).
CREATE TABLE IF NOT EXISTS carts (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    identifier  text        NOT NULL,
    instance    text        NOT NULL DEFAULT 'default',
    items       jsonb       NOT NULL DEFAULT '[]',
    conditions  jsonb       NOT NULL DEFAULT '[]',
    metadata    jsonb       NOT NULL DEFAULT '{}',
    -- The rest of the cart document: schema, currency, rounding.
    settings    jsonb       NOT NULL DEFAULT '{}',
    version     bigint      NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT carts_identifier_instance_key UNIQUE (identifier, instance)
);

-- Abandoned-cart queries and pruning scan by age.
CREATE INDEX IF NOT EXISTS carts_updated_at_idx ON carts (updated_at);
