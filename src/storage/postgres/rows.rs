//! A cart as a row of the carts table: the document split into columns and put back together,
//! the statements that read and write one row, and sqlx errors as [`StorageError`].
//!
//! Everything here takes the table name rather than a `PostgresStorage`, so the rest of the
//! driver builds on this file and this file on nothing of the driver.

use serde_json::Value;
use sqlx::Postgres;
use sqlx::Row;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;

use crate::cart::CartContents;
use std::sync::Arc;

use crate::storage::{
    CartKey, LoggedEventKind, ParsedDocuments, StorageError, Versioned, identifier_tag,
};

pub(super) const DRIVER: &str = "postgres";

pub(super) fn storage_error(error: sqlx::Error) -> StorageError {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => StorageError::Unavailable {
            driver: DRIVER,
            message: error.to_string(),
        },
        other => StorageError::Backend {
            driver: DRIVER,
            message: other.to_string(),
        },
    }
}

pub(super) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

/// The document split into the table's columns.
pub(super) struct Columns {
    items: Value,
    conditions: Value,
    metadata: Value,
    settings: Value,
    log: Value,
}

/// The fields of the document that make up the `log` column.
const LOG_FIELDS: [&str; 2] = ["writes", "merged"];

/// The database clock in microseconds: the first version of a cart created now, the same clock
/// for every process, so that a cart deleted and created again starts above every version its
/// earlier life reached.
pub(super) const CLOCK_VERSION: &str = "(extract(epoch from clock_timestamp()) * 1000000)::bigint";

pub(super) fn to_columns(key: &CartKey, cart: &CartContents) -> Result<Columns, StorageError> {
    let corrupt = |message: String| StorageError::Corrupt {
        driver: DRIVER,
        key: key.clone(),
        message,
    };
    let Value::Object(mut document) =
        serde_json::to_value(cart).map_err(|e| corrupt(e.to_string()))?
    else {
        return Err(corrupt("a cart document is a JSON object".to_owned()));
    };
    let mut take = |field: &str| document.remove(field).unwrap_or(Value::Null);
    let items = take("items");
    let conditions = take("conditions");
    let metadata = take("metadata");
    // A field the document leaves out (an empty log) stays out: the column's default `{}`.
    let log = LOG_FIELDS
        .iter()
        .filter_map(|field| {
            document
                .remove(*field)
                .map(|value| (field.to_string(), value))
        })
        .collect();
    Ok(Columns {
        items,
        conditions,
        metadata,
        settings: Value::Object(document),
        log: Value::Object(log),
    })
}

/// Reads a row selected with [`select_sql`], parsing its document unless `parsed` holds it.
pub(super) fn from_row(
    parsed: &ParsedDocuments,
    key: &CartKey,
    row: &PgRow,
) -> Result<Arc<Versioned<CartContents>>, StorageError> {
    let corrupt = |message: String| StorageError::Corrupt {
        driver: DRIVER,
        key: key.clone(),
        message,
    };
    let document: &str = row
        .try_get("document")
        .map_err(|e| corrupt(e.to_string()))?;
    let version: i64 = row.try_get("version").map_err(|e| corrupt(e.to_string()))?;
    let updated_at: OffsetDateTime = row
        .try_get("updated_at")
        .map_err(|e| corrupt(e.to_string()))?;
    parsed
        .get_or_parse(key, version as u64, Some(updated_at), document.as_bytes())
        .map_err(|e| corrupt(e.to_string()))
}

/// The row's document is put back together by Postgres and sent as text: one JSON parse
/// here instead of five JSON values and a reassembly. Rows written before the `log` column
/// existed keep their log in `settings`, which this reads just as well; their next write moves
/// it.
pub(super) fn select_sql(table: &str, suffix: &str) -> String {
    format!(
        "SELECT (settings || log || jsonb_build_object('items', items, 'conditions', conditions, \
         'metadata', metadata))::text AS document, version, updated_at FROM {table} \
         WHERE identifier = $1 AND instance = $2{suffix}"
    )
}

/// The stored version of a cart, for the diagnostics of a conflict.
pub(super) async fn current_version<'e, E>(
    executor: E,
    table: &str,
    key: &CartKey,
) -> Result<Option<u64>, StorageError>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    let sql = format!("SELECT version FROM {table} WHERE identifier = $1 AND instance = $2");
    let version: Option<i64> = sqlx::query_scalar(&sql)
        .bind(key.identifier())
        .bind(key.instance())
        .fetch_optional(executor)
        .await
        .map_err(storage_error)?;
    Ok(version.map(|v| v as u64))
}

/// The event a write logs: the outbox table, and the write's id.
#[derive(Clone, Copy)]
pub(super) struct Logged<'a> {
    pub(super) events: &'a str,
    pub(super) write_id: Option<&'a str>,
}

/// `logged AS (INSERT ...)`: one event row per row of the CTE `source` (which returns the
/// cart's `version`), with the identifier tag, the identifier hash and the write id bound at
/// `$first`, `$first + 1` and `$first + 2`, and the instance at `$2`. Written in the statement
/// that changes the cart, so the change and its event commit together.
fn logged_cte(events: &str, source: &str, kind: LoggedEventKind, first: usize) -> String {
    let code = kind.code();
    format!(
        "logged AS (INSERT INTO {events} (event_id, kind, identifier_hash, instance, version, write_id) \
         SELECT ${first}::text || ':' || $2::text || ':' || version || ':{code}', '{code}', \
         ${}::text, $2, version, ${}::text FROM {source})",
        first + 1,
        first + 2
    )
}

/// The compare-and-set write, on a pool or inside a transaction, with the write log in the same
/// statement, and with the event log's row when `log` names one. `Ok(None)`: the expected version
/// did not match. A new cart starts at the database clock ([`CLOCK_VERSION`]).
pub(super) async fn write<'e, E>(
    executor: E,
    table: &str,
    key: &CartKey,
    columns: Columns,
    expected: Option<u64>,
    log: Option<Logged<'_>>,
) -> Result<Option<u64>, StorageError>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    let mut query = match expected {
        Some(_) => format!(
            "UPDATE {table} SET items = $3, conditions = $4, metadata = $5, settings = $6, \
             log = $7, version = version + 1, updated_at = now() \
             WHERE identifier = $1 AND instance = $2 AND version = $8 RETURNING version"
        ),
        None => format!(
            "INSERT INTO {table} (identifier, instance, items, conditions, metadata, settings, log, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, {CLOCK_VERSION}) \
             ON CONFLICT (identifier, instance) DO NOTHING RETURNING version"
        ),
    };
    if let Some(log) = log {
        let (kind, first) = match expected {
            Some(_) => (LoggedEventKind::Updated, 9),
            None => (LoggedEventKind::Created, 8),
        };
        query = format!(
            "WITH saved AS ({query}), {} SELECT version FROM saved",
            logged_cte(log.events, "saved", kind, first)
        );
    }
    let mut statement = sqlx::query_scalar::<_, i64>(&query)
        .bind(key.identifier())
        .bind(key.instance())
        .bind(columns.items)
        .bind(columns.conditions)
        .bind(columns.metadata)
        .bind(columns.settings)
        .bind(columns.log);
    if let Some(expected) = expected {
        statement = statement.bind(expected as i64);
    }
    if let Some(log) = log {
        statement = statement
            .bind(identifier_tag(key))
            .bind(key.identifier_hash())
            .bind(log.write_id.map(str::to_owned));
    }
    let version = statement
        .fetch_optional(executor)
        .await
        .map_err(storage_error)?;
    Ok(version.map(|v| v as u64))
}

/// Deletes a cart (only at `version`, when given), logging the delete in the same statement
/// when `events` names the outbox table. `true` when a cart went.
pub(super) async fn delete<'e, E>(
    executor: E,
    table: &str,
    key: &CartKey,
    version: Option<u64>,
    events: Option<&str>,
) -> Result<bool, StorageError>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    let at = if version.is_some() {
        " AND version = $3"
    } else {
        ""
    };
    let delete = format!("DELETE FROM {table} WHERE identifier = $1 AND instance = $2{at}");
    let query = match events {
        None => format!("WITH gone AS ({delete} RETURNING 1) SELECT count(*) FROM gone"),
        Some(events) => {
            let first = if version.is_some() { 4 } else { 3 };
            format!(
                "WITH gone AS ({delete} RETURNING version), {} SELECT count(*) FROM gone",
                logged_cte(events, "gone", LoggedEventKind::Deleted, first)
            )
        }
    };
    let mut statement = sqlx::query_scalar::<_, i64>(&query)
        .bind(key.identifier())
        .bind(key.instance());
    if let Some(version) = version {
        statement = statement.bind(version as i64);
    }
    if events.is_some() {
        statement = statement
            .bind(identifier_tag(key))
            .bind(key.identifier_hash())
            .bind(None::<String>);
    }
    let deleted = statement.fetch_one(executor).await.map_err(storage_error)?;
    Ok(deleted > 0)
}
