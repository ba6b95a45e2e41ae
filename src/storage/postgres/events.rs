//! Reading, acknowledging and pruning the outbox table `<table>_events` (the writes that fill
//! it are in `rows.rs`).
//!
//! Each row records the transaction that wrote it (`tx`, `pg_current_xact_id()`) and a sequence
//! number (`seq`). A sequence number is taken when the row is inserted, not when its transaction
//! commits, so reading `seq` in order would skip a row whose transaction commits after a later
//! row's was read. The reader orders by `(tx, seq)` instead and reads only rows of transactions
//! below the oldest one still running (`pg_snapshot_xmin(pg_current_snapshot())`): those have all
//! ended, so no row can appear behind a cursor later. A long transaction anywhere in the
//! database delays delivery until it ends; it never loses an event.
//!
//! A consumer's cursor is its row of `<table>_event_cursors`: the `(tx, seq)` of the last event
//! it acknowledged.

use sqlx::postgres::PgPool;
use sqlx::{Postgres, Row};
use time::OffsetDateTime;

use super::rows::{DRIVER, storage_error};
use crate::storage::{
    CartKey, EventRetention, LoggedEvent, LoggedEventKind, Position, StorageError, check_consumer,
    event_id, identifier_tag,
};

fn malformed(message: String) -> StorageError {
    StorageError::Backend {
        driver: DRIVER,
        message,
    }
}

/// Logs one change of `key` inside the caller's transaction (a swap's: its other statements are
/// not single-row compare-and-sets, so the event goes in as a statement of its own).
pub(super) async fn log<'e, E>(
    executor: E,
    events: &str,
    key: &CartKey,
    kind: LoggedEventKind,
    version: u64,
) -> Result<(), StorageError>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    let tag = identifier_tag(key);
    let sql = format!(
        "INSERT INTO {events} (event_id, kind, identifier_hash, instance, version) \
         VALUES ($1, $2, $3, $4, $5)"
    );
    sqlx::query(&sql)
        .bind(event_id(&tag, key.instance(), version, kind))
        .bind(kind.code())
        .bind(&tag[..10])
        .bind(key.instance())
        .bind(version as i64)
        .execute(executor)
        .await
        .map_err(storage_error)?;
    Ok(())
}

/// Deletes every cart of `identifier`, logging each in the same statement. Returns how many.
pub(super) async fn forget_logged(
    pool: &PgPool,
    table: &str,
    events: &str,
    identifier: &str,
) -> Result<usize, StorageError> {
    let tag = identifier_tag(&CartKey::new(identifier, ""));
    let sql = format!(
        "WITH gone AS (DELETE FROM {table} WHERE identifier = $1 RETURNING instance, version), \
         logged AS (INSERT INTO {events} (event_id, kind, identifier_hash, instance, version) \
         SELECT $2::text || ':' || instance || ':' || version || ':d', 'd', $3::text, instance, \
         version FROM gone) SELECT count(*) FROM gone"
    );
    let deleted: i64 = sqlx::query_scalar(&sql)
        .bind(identifier)
        .bind(&tag)
        .bind(&tag[..10])
        .fetch_one(pool)
        .await
        .map_err(storage_error)?;
    Ok(deleted as usize)
}

pub(super) async fn read(
    pool: &PgPool,
    events: &str,
    cursors: &str,
    consumer: &str,
    max: usize,
) -> Result<Vec<LoggedEvent>, StorageError> {
    check_consumer(DRIVER, consumer)?;
    let sql = format!(
        "WITH cursor AS ( \
           SELECT COALESCE((SELECT tx FROM {cursors} WHERE consumer = $1), '0'::xid8) AS tx, \
                  COALESCE((SELECT seq FROM {cursors} WHERE consumer = $1), 0) AS seq) \
         SELECT e.tx::text AS tx, e.seq, e.event_id, e.kind, e.identifier_hash, e.instance, \
                e.version, e.write_id, e.created_at \
         FROM {events} e, cursor c \
         WHERE (e.tx, e.seq) > (c.tx, c.seq) AND e.tx < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY e.tx, e.seq LIMIT $2"
    );
    let rows = sqlx::query(&sql)
        .bind(consumer)
        .bind(max.min(i64::MAX as usize) as i64)
        .fetch_all(pool)
        .await
        .map_err(storage_error)?;
    rows.iter()
        .map(|row| {
            let get_error = |e: sqlx::Error| malformed(format!("an event row: {e}"));
            let tx: String = row.try_get("tx").map_err(get_error)?;
            let tx: u64 = tx
                .parse()
                .map_err(|_| malformed(format!("transaction id `{tx}`")))?;
            let seq: i64 = row.try_get("seq").map_err(get_error)?;
            let kind: String = row.try_get("kind").map_err(get_error)?;
            let kind = LoggedEventKind::from_code(&kind)
                .ok_or_else(|| malformed(format!("event kind `{kind}`")))?;
            let version: i64 = row.try_get("version").map_err(get_error)?;
            let at: OffsetDateTime = row.try_get("created_at").map_err(get_error)?;
            Ok(LoggedEvent::new(
                row.try_get("event_id").map_err(get_error)?,
                kind,
                row.try_get("identifier_hash").map_err(get_error)?,
                row.try_get("instance").map_err(get_error)?,
                version as u64,
                row.try_get("write_id").map_err(get_error)?,
                at,
                Position {
                    stream: String::new(),
                    offset: (tx, seq as u64),
                },
            ))
        })
        .collect()
}

/// Moves the consumer's cursor to the last of `events`, never back.
pub(super) async fn ack(
    pool: &PgPool,
    cursors: &str,
    consumer: &str,
    events: &[LoggedEvent],
) -> Result<(), StorageError> {
    check_consumer(DRIVER, consumer)?;
    let Some((tx, seq)) = events.iter().map(|event| event.position().offset).max() else {
        return Ok(());
    };
    let sql = format!(
        "INSERT INTO {cursors} AS c (consumer, tx, seq) VALUES ($1, $2::text::xid8, $3) \
         ON CONFLICT (consumer) DO UPDATE SET tx = excluded.tx, seq = excluded.seq, \
         updated_at = now() WHERE (c.tx, c.seq) < (excluded.tx, excluded.seq)"
    );
    sqlx::query(&sql)
        .bind(consumer)
        .bind(tx.to_string())
        .bind(seq as i64)
        .execute(pool)
        .await
        .map_err(storage_error)?;
    Ok(())
}

/// Deletes events older than the age, then all but the newest `max_count`.
pub(super) async fn prune(
    pool: &PgPool,
    events: &str,
    retention: &EventRetention,
) -> Result<u64, StorageError> {
    let mut deleted = 0;
    if let Some(age) = retention.max_age {
        let sql =
            format!("DELETE FROM {events} WHERE created_at < now() - make_interval(secs => $1)");
        deleted += sqlx::query(&sql)
            .bind(age.as_secs_f64())
            .execute(pool)
            .await
            .map_err(storage_error)?
            .rows_affected();
    }
    if let Some(count) = retention.max_count {
        let sql = format!(
            "DELETE FROM {events} WHERE (tx, seq) <= \
             (SELECT tx, seq FROM {events} ORDER BY tx DESC, seq DESC OFFSET $1 LIMIT 1)"
        );
        deleted += sqlx::query(&sql)
            .bind(count.min(i64::MAX as u64) as i64)
            .execute(pool)
            .await
            .map_err(storage_error)?
            .rows_affected();
    }
    Ok(deleted)
}
