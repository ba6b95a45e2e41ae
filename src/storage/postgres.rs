//! `PostgresStorage`: durable carts in Postgres through sqlx, with a `version` column for
//! optimistic locking, an optional `SELECT ... FOR UPDATE` mode, and abandoned-cart tools.
//!
//! # Schema
//! `migrations/` creates the table `carts` (apply it with [`PostgresStorage::migrate`] or
//! `sqlx migrate run`):
//!
//! | column | type | holds |
//! |---|---|---|
//! | `id` | `uuid` primary key | row id |
//! | `identifier`, `instance` | `text`, unique together | the cart's key |
//! | `items`, `conditions`, `metadata` | `jsonb` | the cart document's parts, queryable |
//! | `settings` | `jsonb` | the rest of the document: `schema`, `currency`, `rounding` |
//! | `version` | `bigint` | 1 for a new cart, +1 per committed write |
//! | `created_at`, `updated_at` | `timestamptz` | `updated_at` is indexed, for abandoned carts |
//!
//! **Another table name.** [`PostgresStorage::with_table`] points the driver at another table
//! (`shop_carts`, `cart.carts`). The bundled migration always creates `carts`: for another name,
//! copy `migrations/20261128000000_create_carts.sql` into your own migrations with the name
//! changed, and don't call [`PostgresStorage::migrate`].
//!
//! # Writes
//! A compare-and-set save is one statement: `UPDATE ... WHERE identifier = $1 AND instance = $2
//! AND version = $3 RETURNING version`, or for a new cart `INSERT ... ON CONFLICT DO NOTHING
//! RETURNING version`. A writer that loses either race gets [`StorageError::Conflict`] (never a
//! unique-violation error); only then is the current version read, for the diagnostics.
//! With [`PostgresStorage::with_lock_for_update`], `modify` runs `SELECT ... FOR UPDATE`, the
//! change and the update in one transaction, so writers of one cart queue instead of retrying.
//!
//! # Failures
//! Queries are checked at run time (`sqlx::query`), so building never needs a database. A pool
//! that cannot get a connection within its acquire timeout (3 s from [`PostgresStorage::connect`])
//! gives [`StorageError::Unavailable`], which answers 503, and statements time out after 5 s.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};
use time::OffsetDateTime;

use super::{
    CartKey, CartOp, CartStorage, Modified, ModifyError, ModifyOptions, ScanPage, StorageError, Versioned,
    backoff, is_plain_table_name, optimistic_modify,
};
use crate::cart::CartContents;


const DRIVER: &str = "postgres";

/// Carts in a Postgres table. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct PostgresStorage {
    pool: PgPool,
    table: Arc<str>,
    lock_for_update: bool,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage")
            .field("table", &self.table)
            .field("lock_for_update", &self.lock_for_update)
            .finish()
    }
}

/// A non-empty cart not updated for a while.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AbandonedCart {
    /// The cart identifier.
    pub identifier: String,
    /// The instance.
    pub instance: String,
    /// Distinct lines.
    pub lines: i64,
    /// Sum of quantities.
    pub quantity: i64,
    /// The last write.
    pub updated_at: OffsetDateTime,
}

/// What [`PostgresStorage::prune`] found and deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Rows older than the cut-off when the prune started.
    pub matched: u64,
    /// Rows deleted (0 in a dry run).
    pub deleted: u64,
    /// Batches run.
    pub batches: u64,
}

fn storage_error(error: sqlx::Error) -> StorageError {
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

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

/// The document split into the table's columns.
struct Columns {
    items: Value,
    conditions: Value,
    metadata: Value,
    settings: Value,
}

fn to_columns(key: &CartKey, cart: &CartContents) -> Result<Columns, StorageError> {
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
    Ok(Columns {
        items,
        conditions,
        metadata,
        settings: Value::Object(document),
    })
}

fn from_row(key: &CartKey, row: &PgRow) -> Result<Versioned<CartContents>, StorageError> {
    let corrupt = |message: String| StorageError::Corrupt {
        driver: DRIVER,
        key: key.clone(),
        message,
    };
    let document: &str = row
        .try_get("document")
        .map_err(|e| corrupt(e.to_string()))?;
    let cart = CartContents::from_json(document.as_bytes()).map_err(|e| corrupt(e.to_string()))?;
    let version: i64 = row.try_get("version").map_err(|e| corrupt(e.to_string()))?;
    let updated_at: OffsetDateTime = row
        .try_get("updated_at")
        .map_err(|e| corrupt(e.to_string()))?;
    Ok(Versioned {
        value: cart,
        version: version as u64,
        updated_at: Some(updated_at),
    })
}

impl PostgresStorage {
    /// Carts in the `carts` table of `pool`'s database.
    pub fn new(pool: PgPool) -> Self {
        PostgresStorage {
            pool,
            table: Arc::from("carts"),
            lock_for_update: false,
        }
    }

    /// Connects a pool (16 connections, 3 s acquire timeout) to `url`.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        let pool = Self::pool_options()
            .connect_with(Self::connect_options(url)?)
            .await
            .map_err(storage_error)?;
        Ok(Self::new(pool))
    }

    /// `url` with a 5 s `statement_timeout`, so a server that hangs mid-query fails the request
    /// instead of holding it.
    fn connect_options(url: &str) -> Result<PgConnectOptions, StorageError> {
        let options: PgConnectOptions = url.parse().map_err(storage_error)?;
        Ok(options.options([("statement_timeout", "5000")]))
    }

    /// Like [`PostgresStorage::connect`], but connects on first use: a shop can start while its
    /// database is still coming up, answering 503 until it is there.
    pub fn connect_lazy(url: &str) -> Result<Self, StorageError> {
        let pool = Self::pool_options().connect_lazy_with(Self::connect_options(url)?);
        Ok(Self::new(pool))
    }

    fn pool_options() -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(3))
    }

    /// Uses another table (`shop_carts` or `schema.table`); see the module docs for migrations.
    pub fn with_table(mut self, table: &str) -> Result<Self, StorageError> {
        if !is_plain_table_name(table) {
            return Err(StorageError::Backend {
                driver: DRIVER,
                message: format!(
                    "`{table}` is not a plain table name (lower-case letters, digits, `_`, optionally schema.table)"
                ),
            });
        }
        self.table = Arc::from(table);
        Ok(self)
    }

    /// Serializes the writers of one cart with `SELECT ... FOR UPDATE` instead of retrying on
    /// conflict.
    pub fn with_lock_for_update(mut self, lock: bool) -> Self {
        self.lock_for_update = lock;
        self
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Applies `migrations/` (creates the `carts` table and its indexes).
    pub async fn migrate(&self) -> Result<(), StorageError> {
        sqlx::migrate!("./migrations")
            .run(&self.pool)
            .await
            .map_err(|e| StorageError::Backend {
                driver: DRIVER,
                message: format!("migration failed: {e}"),
            })
    }

    async fn current_version<'e, E>(
        &self,
        executor: E,
        key: &CartKey,
    ) -> Result<Option<u64>, StorageError>
    where
        E: sqlx::Executor<'e, Database = Postgres>,
    {
        let sql = format!(
            "SELECT version FROM {} WHERE identifier = $1 AND instance = $2",
            self.table
        );
        let version: Option<i64> = sqlx::query_scalar(&sql)
            .bind(key.identifier())
            .bind(key.instance())
            .fetch_optional(executor)
            .await
            .map_err(storage_error)?;
        Ok(version.map(|v| v as u64))
    }

    /// The compare-and-set write, on a pool or inside a transaction. `Ok(None)`: the expected
    /// version did not match.
    async fn write<'e, E>(
        &self,
        executor: E,
        key: &CartKey,
        columns: Columns,
        expected: Option<u64>,
    ) -> Result<Option<u64>, StorageError>
    where
        E: sqlx::Executor<'e, Database = Postgres>,
    {
        let query = match expected {
            Some(_) => format!(
                "UPDATE {} SET items = $3, conditions = $4, metadata = $5, settings = $6, \
                 version = version + 1, updated_at = now() \
                 WHERE identifier = $1 AND instance = $2 AND version = $7 RETURNING version",
                self.table
            ),
            None => format!(
                "INSERT INTO {} (identifier, instance, items, conditions, metadata, settings, version) \
                 VALUES ($1, $2, $3, $4, $5, $6, 1) \
                 ON CONFLICT (identifier, instance) DO NOTHING RETURNING version",
                self.table
            ),
        };
        let mut statement = sqlx::query_scalar::<_, i64>(&query)
            .bind(key.identifier())
            .bind(key.instance())
            .bind(columns.items)
            .bind(columns.conditions)
            .bind(columns.metadata)
            .bind(columns.settings);
        if let Some(expected) = expected {
            statement = statement.bind(expected as i64);
        }
        let version = statement
            .fetch_optional(executor)
            .await
            .map_err(storage_error)?;
        Ok(version.map(|v| v as u64))
    }

    /// The row's document is put back together by Postgres and sent as text: one JSON parse
    /// here instead of four JSON values and a reassembly.
    fn select_sql(&self, suffix: &str) -> String {
        format!(
            "SELECT (settings || jsonb_build_object('items', items, 'conditions', conditions, \
             'metadata', metadata))::text AS document, version, updated_at FROM {} \
             WHERE identifier = $1 AND instance = $2{suffix}",
            self.table
        )
    }

    async fn locked_modify(
        &self,
        key: &CartKey,
        options: &ModifyOptions,
        op: &CartOp<'_>,
    ) -> Result<Modified, ModifyError> {
        let mut retries = 0;
        loop {
            let mut tx: Transaction<'_, Postgres> =
                self.pool.begin().await.map_err(storage_error)?;
            let row = sqlx::query(&self.select_sql(" FOR UPDATE"))
                .bind(key.identifier())
                .bind(key.instance())
                .fetch_optional(&mut *tx)
                .await
                .map_err(storage_error)?;
            let current = row.map(|row| from_row(key, &row)).transpose()?;
            // On an error the transaction is dropped, which rolls it back.
            let (cart, expected) = options.apply(current, op)?;
            let columns = to_columns(key, &cart)?;
            match self.write(&mut *tx, key, columns, expected).await? {
                Some(version) => {
                    tx.commit().await.map_err(storage_error)?;
                    return Ok(Modified {
                        cart: Versioned::new(cart, version),
                        previous_version: expected,
                        retries,
                    });
                }
                None => {
                    // Only a creation can lose while locked: another writer inserted the row
                    // first. Start over on the row that now exists.
                    tx.rollback().await.map_err(storage_error)?;
                    if retries >= options.max_retries {
                        let current = self.current_version(&self.pool, key).await?;
                        return Err(ModifyError::conflict(key, expected, current, retries));
                    }
                    retries += 1;
                    backoff(retries).await;
                }
            }
        }
    }

    /// Non-empty carts not updated for `older_than`, oldest first.
    pub async fn abandoned(
        &self,
        older_than: Duration,
        limit: i64,
    ) -> Result<Vec<AbandonedCart>, StorageError> {
        let cutoff = OffsetDateTime::now_utc() - older_than;
        let sql = format!(
            "SELECT identifier, instance, jsonb_array_length(items)::bigint AS lines, \
             COALESCE((SELECT sum((item->>'quantity')::bigint) FROM jsonb_array_elements(items) item), 0)::bigint AS quantity, \
             updated_at FROM {} \
             WHERE updated_at < $1 AND jsonb_array_length(items) > 0 \
             ORDER BY updated_at LIMIT $2",
            self.table
        );
        let rows = sqlx::query(&sql)
            .bind(cutoff)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(storage_error)?;
        rows.iter()
            .map(|row| {
                Ok(AbandonedCart {
                    identifier: row.try_get("identifier").map_err(storage_error)?,
                    instance: row.try_get("instance").map_err(storage_error)?,
                    lines: row.try_get("lines").map_err(storage_error)?,
                    quantity: row.try_get("quantity").map_err(storage_error)?,
                    updated_at: row.try_get("updated_at").map_err(storage_error)?,
                })
            })
            .collect()
    }

    /// Deletes carts not updated for `older_than`, `batch_size` rows per statement, calling
    /// `progress` with the running count after each batch. A dry run only counts.
    pub async fn prune(
        &self,
        older_than: Duration,
        batch_size: i64,
        dry_run: bool,
        progress: Option<&(dyn Fn(u64) + Send + Sync)>,
    ) -> Result<PruneReport, StorageError> {
        let cutoff = OffsetDateTime::now_utc() - older_than;
        let count = format!("SELECT count(*) FROM {} WHERE updated_at < $1", self.table);
        let matched: i64 = sqlx::query_scalar(&count)
            .bind(cutoff)
            .fetch_one(&self.pool)
            .await
            .map_err(storage_error)?;
        let mut report = PruneReport {
            matched: matched as u64,
            ..PruneReport::default()
        };
        if dry_run || matched == 0 {
            return Ok(report);
        }
        let delete = format!(
            "DELETE FROM {table} WHERE id IN \
             (SELECT id FROM {table} WHERE updated_at < $1 ORDER BY updated_at LIMIT $2)",
            table = self.table
        );
        loop {
            let deleted = sqlx::query(&delete)
                .bind(cutoff)
                .bind(batch_size.max(1))
                .execute(&self.pool)
                .await
                .map_err(storage_error)?
                .rows_affected();
            report.deleted += deleted;
            report.batches += 1;
            if let Some(progress) = progress {
                progress(report.deleted);
            }
            if deleted < batch_size.max(1) as u64 {
                return Ok(report);
            }
        }
    }
}

#[async_trait]
impl CartStorage for PostgresStorage {
    fn driver(&self) -> &'static str {
        DRIVER
    }

    async fn load(&self, key: &CartKey) -> Result<Option<Versioned<CartContents>>, StorageError> {
        let row = sqlx::query(&self.select_sql(""))
            .bind(key.identifier())
            .bind(key.instance())
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_error)?;
        row.map(|row| from_row(key, &row)).transpose()
    }

    async fn save(
        &self,
        key: &CartKey,
        cart: &CartContents,
        expected: Option<u64>,
    ) -> Result<u64, StorageError> {
        let columns = to_columns(key, cart)?;
        match self.write(&self.pool, key, columns, expected).await? {
            Some(version) => Ok(version),
            None => Err(StorageError::Conflict {
                key: key.clone(),
                expected,
                current: self.current_version(&self.pool, key).await?,
            }),
        }
    }

    async fn delete(&self, key: &CartKey) -> Result<bool, StorageError> {
        let sql = format!(
            "DELETE FROM {} WHERE identifier = $1 AND instance = $2",
            self.table
        );
        let result = sqlx::query(&sql)
            .bind(key.identifier())
            .bind(key.instance())
            .execute(&self.pool)
            .await
            .map_err(storage_error)?;
        Ok(result.rows_affected() > 0)
    }

    async fn instances(&self, identifier: &str) -> Result<Vec<String>, StorageError> {
        let sql = format!(
            "SELECT instance FROM {} WHERE identifier = $1 ORDER BY instance",
            self.table
        );
        sqlx::query_scalar(&sql)
            .bind(identifier)
            .fetch_all(&self.pool)
            .await
            .map_err(storage_error)
    }

    async fn swap_identifier(
        &self,
        from: &str,
        to: &str,
        instance: &str,
    ) -> Result<bool, StorageError> {
        let mut tx = self.pool.begin().await.map_err(storage_error)?;
        let take = format!(
            "DELETE FROM {} WHERE identifier = $1 AND instance = $2 \
             RETURNING items, conditions, metadata, settings, version, created_at",
            self.table
        );
        let Some(moved) = sqlx::query(&take)
            .bind(from)
            .bind(instance)
            .fetch_optional(&mut *tx)
            .await
            .map_err(storage_error)?
        else {
            return Ok(false);
        };
        let replace = format!(
            "DELETE FROM {} WHERE identifier = $1 AND instance = $2 RETURNING version",
            self.table
        );
        let replaced: Option<i64> = sqlx::query_scalar(&replace)
            .bind(to)
            .bind(instance)
            .fetch_optional(&mut *tx)
            .await
            .map_err(storage_error)?;
        let moved_version: i64 = moved.try_get("version").map_err(storage_error)?;
        // The target's version keeps growing so that a writer holding its old version conflicts.
        let version = moved_version.max(replaced.unwrap_or(0)) + 1;
        let insert = format!(
            "INSERT INTO {} (identifier, instance, items, conditions, metadata, settings, version, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            self.table
        );
        let inserted = sqlx::query(&insert)
            .bind(to)
            .bind(instance)
            .bind(moved.try_get::<Value, _>("items").map_err(storage_error)?)
            .bind(
                moved
                    .try_get::<Value, _>("conditions")
                    .map_err(storage_error)?,
            )
            .bind(
                moved
                    .try_get::<Value, _>("metadata")
                    .map_err(storage_error)?,
            )
            .bind(
                moved
                    .try_get::<Value, _>("settings")
                    .map_err(storage_error)?,
            )
            .bind(version)
            .bind(
                moved
                    .try_get::<OffsetDateTime, _>("created_at")
                    .map_err(storage_error)?,
            )
            .execute(&mut *tx)
            .await;
        match inserted {
            Ok(_) => {}
            // A concurrent writer created the target meanwhile: the caller can retry the swap.
            Err(error) if is_unique_violation(&error) => {
                return Err(StorageError::Conflict {
                    key: CartKey::new(to, instance),
                    expected: replaced.map(|v| v as u64),
                    current: None,
                });
            }
            Err(error) => return Err(storage_error(error)),
        }
        tx.commit().await.map_err(storage_error)?;
        Ok(true)
    }

    async fn forget(&self, identifier: &str) -> Result<usize, StorageError> {
        let sql = format!("DELETE FROM {} WHERE identifier = $1", self.table);
        let result = sqlx::query(&sql)
            .bind(identifier)
            .execute(&self.pool)
            .await
            .map_err(storage_error)?;
        Ok(result.rows_affected() as usize)
    }

    async fn scan(&self, cursor: Option<String>, batch: usize) -> Result<ScanPage, StorageError> {
        let batch = batch.max(1);
        let after: Option<(String, String)> = cursor
            .map(|c| serde_json::from_str(&c))
            .transpose()
            .map_err(|e| StorageError::Backend {
                driver: DRIVER,
                message: format!("bad scan cursor: {e}"),
            })?;
        let rows: Vec<(String, String)> = match &after {
            Some((identifier, instance)) => {
                let sql = format!(
                    "SELECT identifier, instance FROM {} WHERE (identifier, instance) > ($1, $2) \
                     ORDER BY identifier, instance LIMIT $3",
                    self.table
                );
                sqlx::query_as(&sql)
                    .bind(identifier)
                    .bind(instance)
                    .bind(batch as i64)
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                let sql = format!(
                    "SELECT identifier, instance FROM {} ORDER BY identifier, instance LIMIT $1",
                    self.table
                );
                sqlx::query_as(&sql)
                    .bind(batch as i64)
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(storage_error)?;
        let next = (rows.len() == batch)
            .then(|| {
                rows.last()
                    .map(|(i, n)| serde_json::json!([i, n]).to_string())
            })
            .flatten();
        Ok(ScanPage {
            keys: rows
                .into_iter()
                .map(|(identifier, instance)| CartKey::new(identifier, instance))
                .collect(),
            next,
        })
    }

    async fn modify(
        &self,
        key: &CartKey,
        options: &ModifyOptions,
        op: &CartOp<'_>,
    ) -> Result<Modified, ModifyError> {
        if self.lock_for_update {
            self.locked_modify(key, options, op).await
        } else {
            optimistic_modify(self, key, options, op).await
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::storage::is_plain_table_name as valid_table;

    #[test]
    fn only_plain_table_names_pass() {
        for ok in ["carts", "shop_carts", "cart.carts", "_x1"] {
            assert!(valid_table(ok), "{ok}");
        }
        for bad in [
            "",
            "Carts",
            "carts;drop table x",
            "a.b.c",
            "1carts",
            "carts ",
            "\"carts\"",
            "a.",
        ] {
            assert!(!valid_table(bad), "{bad}");
        }
    }
}
