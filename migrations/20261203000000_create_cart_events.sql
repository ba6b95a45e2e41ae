-- The event log of axum-cart's database driver (`PostgresStorage::with_event_log`): one row per
-- committed change of a cart, inserted by the statement or transaction that makes the change.
-- `tx` is the writing transaction: readers order by (tx, seq) and read only transactions that
-- have ended, so a late commit is never skipped (see src/storage/postgres/events.rs).
-- One index only, the readers' (tx, seq): every index is paid by every change. Pruning by age
-- scans the table, which a periodic job can afford.
CREATE TABLE IF NOT EXISTS carts_events (
    seq             bigserial   NOT NULL,
    tx              xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id        text        NOT NULL,
    kind            text        NOT NULL,
    identifier_hash text        NOT NULL,
    instance        text        NOT NULL,
    version         bigint      NOT NULL,
    write_id        text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS cart_events_position_idx ON carts_events (tx, seq);

-- Where each consumer of the event log is: the (tx, seq) of the last event it acknowledged.
CREATE TABLE IF NOT EXISTS carts_event_cursors (
    consumer   text        PRIMARY KEY,
    tx         xid8        NOT NULL,
    seq        bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
