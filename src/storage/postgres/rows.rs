//! A cart as a row of the carts table: the document split into columns and put back together,
//! the statements that read and write one row, and sqlx errors as [`StorageError`].
//!
//! Everything here takes the table name rather than a `PostgresStorage`, so the rest of the
//! driver builds on this file and this file on nothing of the driver.

use std::sync::Arc;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgRow, PgTypeInfo};
use sqlx::{Postgres, Row};
use time::OffsetDateTime;

use crate::cart::CartContents;

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

/// A `jsonb` parameter sent as JSON text (jsonb's binary format is a version byte and the text).
pub(super) struct Document<'a>(pub(super) &'a [u8]);

impl sqlx::Type<Postgres> for Document<'_> {
    fn type_info() -> PgTypeInfo {
        <sqlx::types::Json<()> as sqlx::Type<Postgres>>::type_info()
    }
}

impl<'q> sqlx::Encode<'q, Postgres> for Document<'_> {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        // The version byte of jsonb's binary format, then the JSON text.
        buf.push(1);
        buf.extend_from_slice(self.0);
        Ok(IsNull::No)
    }
}

/// The columns a document is stored in, bound as `$3` to `$7` in this order.
const COLUMNS: [&str; 5] = ["items", "conditions", "metadata", "settings", "log"];

/// A document split into its columns on this side, each sent as a parameter of its own: `items`,
/// `conditions` and `metadata` as they are, `log` the document's `writes` and `merged` (a field
/// it leaves out stays out), `settings` the rest. Splitting here costs a scan of the bytes the
/// size check serialized; splitting in the statement cost Postgres a copy of each part out of
/// the parsed document and a rebuild of the rest, several times the whole write's parse.
struct Columns<'a> {
    items: &'a [u8],
    conditions: &'a [u8],
    metadata: &'a [u8],
    settings: Vec<u8>,
    log: Vec<u8>,
}

impl<'a> Columns<'a> {
    fn of(document: &'a [u8]) -> Result<Self, StorageError> {
        use serde_json::value::RawValue;
        use std::collections::BTreeMap;
        // jsonb orders an object's keys itself: the order they are read in does not matter.
        let fields: BTreeMap<&'a str, &'a RawValue> =
            serde_json::from_slice(document).map_err(|e| StorageError::Backend {
                driver: DRIVER,
                message: format!("a document that is not a JSON object: {e}"),
            })?;
        let mut columns = Columns {
            items: b"[]",
            conditions: b"[]",
            metadata: b"{}",
            settings: Vec::with_capacity(64),
            log: Vec::new(),
        };
        for (name, value) in fields {
            let value = value.get().as_bytes();
            let object = match name {
                "items" => {
                    columns.items = value;
                    continue;
                }
                "conditions" => {
                    columns.conditions = value;
                    continue;
                }
                "metadata" => {
                    columns.metadata = value;
                    continue;
                }
                "writes" | "merged" => &mut columns.log,
                _ => &mut columns.settings,
            };
            object.push(if object.is_empty() { b'{' } else { b',' });
            // A key borrowed from the document had no escapes in it (serde_json borrows only
            // those), so its text between quotes is the key as it was written.
            object.push(b'"');
            object.extend_from_slice(name.as_bytes());
            object.extend_from_slice(b"\":");
            object.extend_from_slice(value);
        }
        for object in [&mut columns.settings, &mut columns.log] {
            if object.is_empty() {
                object.push(b'{');
            }
            object.push(b'}');
        }
        Ok(columns)
    }
}

/// The database clock in microseconds: the first version of a cart created now, the same clock
/// for every process, so that a cart deleted and created again starts above every version its
/// earlier life reached.
pub(super) const CLOCK_VERSION: &str = "(extract(epoch from clock_timestamp()) * 1000000)::bigint";

/// Reads a row selected with [`select_sql`] and the entry `known` its `$3` and `$4` named: the
/// row's document is parsed unless `parsed` holds it, and not even sent when the row is still at
/// the known version and write time.
fn from_row(
    parsed: &ParsedDocuments,
    key: &CartKey,
    row: &PgRow,
    known: Option<&Arc<Versioned<CartContents>>>,
) -> Result<Arc<Versioned<CartContents>>, StorageError> {
    let corrupt = |message: String| StorageError::Corrupt {
        driver: DRIVER,
        key: key.clone(),
        message,
    };
    let document: Option<&str> = row
        .try_get("document")
        .map_err(|e| corrupt(e.to_string()))?;
    let version: i64 = row.try_get("version").map_err(|e| corrupt(e.to_string()))?;
    let updated_at: OffsetDateTime = row
        .try_get("updated_at")
        .map_err(|e| corrupt(e.to_string()))?;
    match document {
        Some(document) => parsed
            .get_or_parse(key, version as u64, Some(updated_at), document.as_bytes())
            .map_err(|e| corrupt(e.to_string())),
        None => known
            .filter(|known| known.version == version as u64)
            .filter(|known| known.updated_at == Some(updated_at))
            .cloned()
            .ok_or_else(|| corrupt("the row has no document".to_owned())),
    }
}

/// The row's document is put back together by Postgres and sent as text: one JSON parse
/// here instead of five JSON values and a reassembly. When the row's version and write time are
/// `$3` and `$4` (the cart this process holds parsed, see [`load_row`]), no document is sent:
/// the row is the one already parsed. Rows written before the `log` column existed keep their
/// log in `settings`, which this reads just as well; their next write moves it.
fn select_sql(table: &str, suffix: &str) -> String {
    format!(
        "SELECT CASE WHEN version = $3 AND updated_at = $4 THEN NULL ELSE \
         (settings || log || jsonb_build_object('items', items, 'conditions', conditions, \
         'metadata', metadata))::text END AS document, version, updated_at FROM {table} \
         WHERE identifier = $1 AND instance = $2{suffix}"
    )
}

/// The cart of `key`, read with [`select_sql`] (`suffix` appended: `" FOR UPDATE"` in a locked
/// write), on a pool or inside a transaction. The statement names the version and write time of
/// the cart `parsed` holds, so an unchanged row comes back without its document.
pub(super) async fn load_row<'e, E>(
    executor: E,
    table: &str,
    suffix: &str,
    parsed: &ParsedDocuments,
    key: &CartKey,
) -> Result<Option<Arc<Versioned<CartContents>>>, StorageError>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    let known = parsed.latest(key);
    let row = sqlx::query(&select_sql(table, suffix))
        .bind(key.identifier())
        .bind(key.instance())
        .bind(known.as_ref().map(|known| known.version as i64))
        .bind(known.as_ref().and_then(|known| known.updated_at))
        .fetch_optional(executor)
        .await
        .map_err(storage_error)?;
    row.map(|row| from_row(parsed, key, &row, known.as_ref()))
        .transpose()
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

/// What a committed write stored: the version and the write time, which a later read compares
/// to tell whether the row is still this write's.
pub(super) struct Stored {
    pub(super) version: u64,
    pub(super) updated_at: OffsetDateTime,
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

/// The compare-and-set write of `document`, on a pool or inside a transaction, with the write log
/// in the same statement, and with the event log's row when `log` names one. `Ok(None)`: the
/// expected version did not match. A new cart starts at the database clock ([`CLOCK_VERSION`]).
pub(super) async fn write<'e, E>(
    executor: E,
    table: &str,
    key: &CartKey,
    document: &[u8],
    expected: Option<u64>,
    log: Option<Logged<'_>>,
) -> Result<Option<Stored>, StorageError>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    let columns = Columns::of(document)?;
    let mut query = match expected {
        Some(_) => {
            let set: Vec<String> = COLUMNS
                .iter()
                .zip(3..)
                .map(|(column, at)| format!("{column} = ${at}"))
                .collect();
            format!(
                "UPDATE {table} SET {}, version = version + 1, updated_at = now() \
                 WHERE identifier = $1 AND instance = $2 AND version = $8 \
                 RETURNING version, updated_at",
                set.join(", ")
            )
        }
        None => format!(
            "INSERT INTO {table} (identifier, instance, {}, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, {CLOCK_VERSION}) \
             ON CONFLICT (identifier, instance) DO NOTHING RETURNING version, updated_at",
            COLUMNS.join(", "),
        ),
    };
    if let Some(log) = log {
        let (kind, first) = match expected {
            Some(_) => (LoggedEventKind::Updated, 9),
            None => (LoggedEventKind::Created, 8),
        };
        query = format!(
            "WITH saved AS ({query}), {} SELECT version, updated_at FROM saved",
            logged_cte(log.events, "saved", kind, first)
        );
    }
    let mut statement = sqlx::query_as::<_, (i64, OffsetDateTime)>(&query)
        .bind(key.identifier())
        .bind(key.instance())
        .bind(Document(columns.items))
        .bind(Document(columns.conditions))
        .bind(Document(columns.metadata))
        .bind(Document(&columns.settings))
        .bind(Document(&columns.log));
    if let Some(expected) = expected {
        statement = statement.bind(expected as i64);
    }
    if let Some(log) = log {
        statement = statement
            .bind(identifier_tag(key))
            .bind(key.identifier_hash())
            .bind(log.write_id.map(str::to_owned));
    }
    let stored = statement
        .fetch_optional(executor)
        .await
        .map_err(storage_error)?;
    Ok(stored.map(|(version, updated_at)| Stored {
        version: version as u64,
        updated_at,
    }))
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

#[cfg(test)]
mod tests {
    use super::Columns;
    use serde_json::{Value, json};

    fn parsed(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    /// Each column gets what the statement used to cut out of the whole document in Postgres:
    /// the three parts as they are, the write log's two fields, and every other field.
    #[test]
    fn a_document_splits_into_the_columns_it_is_stored_in() {
        let document = json!({
            "schema": 1,
            "currency": "USD",
            "rounding": "half_up",
            "items": [{"id": "a\"b", "name": "Mug \u{2615}", "price": "1.00", "quantity": 2}],
            "conditions": [{"name": "tax", "kind": "tax", "value": "10%"}],
            "metadata": {"note": "line\nbreak"},
            "writes": ["w1", "w2"],
            "merged": ["m1"],
            "idempotency": [{"key": "k"}]
        });
        let bytes = serde_json::to_vec(&document).unwrap();
        let columns = Columns::of(&bytes).unwrap();
        assert_eq!(parsed(columns.items), document["items"]);
        assert_eq!(parsed(columns.conditions), document["conditions"]);
        assert_eq!(parsed(columns.metadata), document["metadata"]);
        assert_eq!(
            parsed(&columns.log),
            json!({"writes": ["w1", "w2"], "merged": ["m1"]})
        );
        assert_eq!(
            parsed(&columns.settings),
            json!({"schema": 1, "currency": "USD", "rounding": "half_up", "idempotency": [{"key": "k"}]})
        );

        // A document without the optional parts gets the columns' empty values.
        let bare = Columns::of(br#"{"schema":1,"currency":"EUR"}"#).unwrap();
        assert_eq!(
            (bare.items, bare.conditions, bare.metadata),
            (&b"[]"[..], &b"[]"[..], &b"{}"[..])
        );
        assert_eq!(parsed(&bare.log), json!({}));
        assert_eq!(
            parsed(&bare.settings),
            json!({"schema": 1, "currency": "EUR"})
        );

        assert!(Columns::of(b"[1, 2]").is_err());
    }
}
