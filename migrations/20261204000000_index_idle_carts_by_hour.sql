-- A write that changes no indexed column is a HOT update: Postgres writes no index entry and can
-- reuse the page's space. An index on `updated_at`, which every write changes, made every write
-- insert into each of the table's indexes. Abandoned-cart queries find old carts by the hour of
-- `updated_at` instead, which changes at most once an hour; the column is generated, so SQL of
-- your own that sets `updated_at` keeps it right. `date_bin` from a fixed instant, not
-- `date_trunc`, so that the hour does not depend on the session's time zone.
ALTER TABLE carts ADD COLUMN IF NOT EXISTS updated_hour timestamptz
    GENERATED ALWAYS AS (date_bin('1 hour', updated_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')) STORED;
CREATE INDEX IF NOT EXISTS carts_updated_hour_idx ON carts (updated_hour);
DROP INDEX IF EXISTS carts_updated_at_idx;

-- A cart of a few dozen lines is over the size at which Postgres compresses a row: lz4 costs a
-- fraction of the default pglz on every write and read. A server built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE carts
        ALTER COLUMN items SET COMPRESSION lz4,
        ALTER COLUMN conditions SET COMPRESSION lz4,
        ALTER COLUMN metadata SET COMPRESSION lz4,
        ALTER COLUMN settings SET COMPRESSION lz4,
        ALTER COLUMN log SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;
