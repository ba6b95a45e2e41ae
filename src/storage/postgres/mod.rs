//! `PostgresStorage`: durable carts in Postgres through sqlx, with a `version` column for
//! optimistic locking, an optional `SELECT ... FOR UPDATE` mode, and abandoned-cart tools.
//!
//! # Schema
//! `migrations/` creates the table `carts`, adds its `log` and `updated_hour` columns and creates the event log's
//! tables `carts_events` and `carts_event_cursors` (see [`PostgresStorage::with_event_log`]; apply them with
//! [`PostgresStorage::migrate`], or copy them into your own migrations):
//!
//! | column | type | holds |
//! |---|---|---|
//! | `id` | `uuid` primary key | row id |
//! | `identifier`, `instance` | `text`, unique together | the cart's key |
//! | `items`, `conditions`, `metadata` | `jsonb` | the cart document's parts, queryable |
//! | `settings` | `jsonb` | the rest of the document: `schema`, `currency`, `rounding` |
//! | `log` | `jsonb` | the ids of the cart's last writes and the guest carts merged into it |
//! | `version` | `bigint` | the database clock (µs) for a new cart, +1 per committed write |
//! | `created_at`, `updated_at` | `timestamptz` | the cart's first and last write |
//! | `updated_hour` | `timestamptz`, generated | the hour of `updated_at`, indexed, for abandoned carts |
//!
//! `updated_at` itself is not indexed: every write changes it, and an index on it would make
//! every write insert into every index of the table. With only `updated_hour` indexed, most writes
//! are HOT updates. The document columns are compressed with lz4 where the server has it.
//!
//! **Another table name.** [`PostgresStorage::with_table`] points the driver at another table
//! (`shop_carts`, `cart.carts`). The bundled migrations always work on `carts`: for another name,
//! copy every file of `migrations/` into your own migrations with the name changed, and don't
//! call [`PostgresStorage::migrate`].
//!
//! # Writes
//! A compare-and-set save is one statement: `UPDATE ... WHERE identifier = $1 AND instance = $2
//! AND version = <expected> RETURNING version`, or for a new cart `INSERT ... ON CONFLICT DO NOTHING
//! RETURNING version`; the cart's write log goes in the same statement. The document is sent once,
//! split on this side into its columns, one `jsonb` parameter each. A writer that loses
//! either race gets [`StorageError::Conflict`] (never a unique-violation error); only then is the
//! current version read, for the diagnostics.
//!
//! A new cart's version is the database clock in microseconds, not 1: a cart deleted and created
//! again starts above every version it had, so a writer that read the earlier cart conflicts
//! instead of overwriting the new one. The server's clock is the one every process shares.
//! With [`PostgresStorage::with_locking`], `modify` runs `SELECT ... FOR UPDATE`, the
//! change and the update in one transaction, so writers of one cart queue instead of retrying.
//!
//! # Reads
//! A process keeps the carts it read or wrote lately parsed (256 of them), and a read names the
//! version and `updated_at` it holds: while the row still has both, Postgres sends no document
//! and nothing is parsed. So a change made with SQL of your own must do what compare-and-set
//! needs anyway, `version = version + 1` (or set `updated_at`), to be seen by running processes.
//!
//! # Failures
//! Queries are checked at run time (`sqlx::query`), so building never needs a database. A pool
//! that cannot get a connection within its acquire timeout (3 s from [`PostgresStorage::connect`])
//! gives [`StorageError::Unavailable`], which answers 503, and statements time out after 5 s.
//!
//! # Files
//! This file holds the driver and its [`CartStorage`] implementation; `lock.rs` the locking
//! read-modify-write; `events.rs` the event log's reader, retention and the writes of swaps and
//! `forget`; `maintenance.rs` abandoned carts and pruning; `migrate.rs` the runner of
//! `migrations/` and its history table; `rows.rs`, which the others build on, how a cart maps to
//! a row and the statements that read and write one.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use time::OffsetDateTime;

use super::{
    CartKey, CartOp, CartStorage, EventLog, EventRetention, LoggedEvent, Modified, ModifyError,
    ModifyOptions, ParsedDocuments, ScanPage, StorageError, Versioned, is_plain_table_name,
};
use crate::cart::CartContents;
use rows::{
    CLOCK_VERSION, DRIVER, Logged, current_version, is_unique_violation, load_row, storage_error,
    write,
};

mod events;
mod lock;
mod maintenance;
mod migrate;
mod rows;
mod write;

pub use maintenance::{AbandonedCart, PruneOptions, PruneReport};

/// Carts in a Postgres table. Cheap to clone; clones share the pool.
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
#[derive(Clone)]
pub struct PostgresStorage {
    pool: PgPool,
    table: Arc<str>,
    locking: bool,
    parsed: Arc<ParsedDocuments>,
    /// `<table>_events`, written when `event_log` is on; `<table>_event_cursors`.
    events: Arc<str>,
    cursors: Arc<str>,
    event_log: bool,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage")
            .field("table", &self.table)
            .field("locking", &self.locking)
            .field("event_log", &self.event_log)
            .finish()
    }
}

impl PostgresStorage {
    /// Carts in the `carts` table of `pool`'s database.
    pub fn new(pool: PgPool) -> Self {
        PostgresStorage {
            pool,
            table: Arc::from("carts"),
            locking: false,
            parsed: Arc::default(),
            events: Arc::from("carts_events"),
            cursors: Arc::from("carts_event_cursors"),
            event_log: false,
        }
    }

    /// Connects a pool (16 connections, 3 s acquire timeout, 5 s statement timeout) to `url`.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> Result<(), axum_cart::storage::StorageError> {
    /// use axum_cart::{CartConfig, PostgresStorage};
    ///
    /// let storage = PostgresStorage::connect("postgres://postgres@127.0.0.1:5432/shop").await?;
    /// storage.migrate().await?;
    /// // Writers of one cart wait for each other instead of retrying.
    /// let config = CartConfig::new().with_storage(storage.with_locking(true));
    /// # let _ = config;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when the server cannot be reached within the acquire
    /// timeout, and [`StorageError::Backend`] when `url` is not a Postgres URL or the server
    /// refuses the login.
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
    ///
    /// # Errors
    /// [`StorageError::Backend`] when `url` is not a Postgres URL; nothing is connected yet, so
    /// an unreachable server shows only on first use.
    pub fn connect_lazy(url: &str) -> Result<Self, StorageError> {
        let pool = Self::pool_options().connect_lazy_with(Self::connect_options(url)?);
        Ok(Self::new(pool))
    }

    fn pool_options() -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(3))
    }

    /// Uses another table (`shop_carts` or `schema.table`). The name goes into the SQL text,
    /// which is why only plain names are taken. [`PostgresStorage::migrate`] only works on
    /// `carts`: create another table from copies of the files of `migrations/` with the name
    /// changed.
    ///
    /// # Errors
    /// [`StorageError::Backend`] when `table` is not lower-case letters, digits and `_`,
    /// optionally as `schema.table`.
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
        self.events = Arc::from(format!("{table}_events"));
        self.cursors = Arc::from(format!("{table}_event_cursors"));
        Ok(self)
    }

    /// Appends every committed change to the outbox table `<table>_events` (`carts_events`,
    /// made by the bundled migrations) in the statement or transaction that commits it (default
    /// off; see [`EventLog`]): a save that wins its compare-and-set logs `created` or `updated`
    /// in the same statement (`WITH saved AS (UPDATE ...), logged AS (INSERT ...)`), as does the
    /// locked write of [`PostgresStorage::with_locking`] inside its transaction; a delete that
    /// removes a cart (`delete`, `delete_at`: a clear, a merged guest cart) logs `deleted`, as
    /// `forget` does for each instance; `swap_identifier` logs, in its transaction, the source
    /// `deleted` and the target `created` or `updated`. A conflict or a failed write logs
    /// nothing. Not logged: carts [`PostgresStorage::prune`] deletes (a maintenance job, not a
    /// change a worker acts on).
    ///
    /// Consumers' cursors live in `<table>_event_cursors`.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> Result<(), axum_cart::storage::StorageError> {
    /// use axum_cart::PostgresStorage;
    ///
    /// let storage = PostgresStorage::connect("postgres://postgres@127.0.0.1:5432/shop")
    ///     .await?
    ///     .with_event_log(true);
    /// storage.migrate().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_event_log(mut self, on: bool) -> Self {
        self.event_log = on;
        self
    }

    /// The event a write of `cart` logs, when the event log is on.
    fn logged<'a>(&'a self, cart: &'a CartContents) -> Option<Logged<'a>> {
        self.event_log.then(|| Logged {
            events: &self.events,
            write_id: cart.write_ids().last().map(|id| &**id),
        })
    }

    /// Serializes the writers of one cart with `SELECT ... FOR UPDATE` instead of retrying on
    /// conflict.
    pub fn with_locking(mut self, lock: bool) -> Self {
        self.locking = lock;
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

    /// Applies `migrations/` (creates the `carts` table, its indexes and its `log` column, and the
    /// event log's tables `carts_events` and `carts_event_cursors`);
    /// already applied migrations are skipped, so it can run at every start.
    ///
    /// The applied migrations are recorded in a table of this crate's own,
    /// `axum_cart_migrations`, not in sqlx's `_sqlx_migrations`: an app that runs its own sqlx
    /// migrations on the same database can run them before or after this, and neither history
    /// sees the other's versions. Processes starting at once wait for each other on the
    /// transaction-level advisory lock `7023492731563504244` ("axumcart" in ASCII), and the
    /// first applies what is missing, in order, in one transaction; a failed migration leaves
    /// nothing applied. Waiting for that lock, and the migrations themselves, are not bound by
    /// the pool's statement timeout.
    ///
    /// A database migrated by an earlier version of this crate, whose migrations sqlx recorded
    /// in `_sqlx_migrations`, migrates too (the bundled files do nothing on a schema they already
    /// made). Those old rows stay where they are, so the app's own sqlx migrator still finds
    /// versions it does not know: delete them once the app has migrations of its own
    /// (`DELETE FROM _sqlx_migrations WHERE version IN (20261128000000, 20261201000000,
    /// 20261203000000)`), or run it with `set_ignore_missing(true)`.
    ///
    /// Always works on `carts`, whatever [`PostgresStorage::with_table`] was given.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when the database cannot be reached, and
    /// [`StorageError::Backend`] when a migration fails or one recorded as applied had other
    /// contents than the bundled file.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        migrate::migrate(&self.pool).await
    }
}

/// Reads the outbox table [`PostgresStorage::with_event_log`] writes (whether or not this storage
/// writes it itself); see `events.rs` for why no late commit is skipped.
#[async_trait]
impl EventLog for PostgresStorage {
    async fn read_events(
        &self,
        consumer: &str,
        max: usize,
    ) -> Result<Vec<LoggedEvent>, StorageError> {
        events::read(&self.pool, &self.events, &self.cursors, consumer, max).await
    }

    async fn ack_events(&self, consumer: &str, events: &[LoggedEvent]) -> Result<(), StorageError> {
        events::ack(&self.pool, &self.cursors, consumer, events).await
    }

    async fn prune_events(&self, retention: &EventRetention) -> Result<u64, StorageError> {
        events::prune(&self.pool, &self.events, retention).await
    }
}

#[async_trait]
impl CartStorage for PostgresStorage {
    fn driver(&self) -> &'static str {
        DRIVER
    }

    fn recent(&self, key: &CartKey) -> Option<Arc<Versioned<CartContents>>> {
        self.parsed.latest(key)
    }

    async fn load(&self, key: &CartKey) -> Result<Option<Versioned<CartContents>>, StorageError> {
        Ok(self.load_shared(key).await?.map(Arc::unwrap_or_clone))
    }

    async fn load_shared(
        &self,
        key: &CartKey,
    ) -> Result<Option<Arc<Versioned<CartContents>>>, StorageError> {
        load_row(&self.pool, &self.table, "", &self.parsed, key).await
    }

    async fn save(
        &self,
        key: &CartKey,
        cart: &CartContents,
        expected: Option<u64>,
    ) -> Result<u64, StorageError> {
        let document = cart.to_json().map_err(|e| StorageError::Corrupt {
            driver: DRIVER,
            key: key.clone(),
            message: e.to_string(),
        })?;
        let logged = self.logged(cart);
        match write(&self.pool, &self.table, key, &document, expected, logged).await? {
            Some(stored) => Ok(stored.version),
            None => Err(StorageError::Conflict {
                key: key.clone(),
                expected,
                current: current_version(&self.pool, &self.table, key).await?,
            }),
        }
    }

    async fn delete(&self, key: &CartKey) -> Result<bool, StorageError> {
        let events = self.event_log.then_some(&*self.events);
        rows::delete(&self.pool, &self.table, key, None, events).await
    }

    async fn delete_at(&self, key: &CartKey, version: u64) -> Result<bool, StorageError> {
        let events = self.event_log.then_some(&*self.events);
        rows::delete(&self.pool, &self.table, key, Some(version), events).await
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
        use super::LoggedEventKind::{Created, Deleted, Updated};
        let mut tx = self.pool.begin().await.map_err(storage_error)?;
        let take = format!(
            "DELETE FROM {} WHERE identifier = $1 AND instance = $2 \
             RETURNING items, conditions, metadata, settings, log, version, created_at",
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
        // Above the moved cart's version, the replaced cart's and the clock: a writer holding
        // either old version conflicts, and so does one holding the version of a target cart
        // deleted before the swap, which only the clock is sure to be above.
        let above = moved_version.max(replaced.unwrap_or(0)) + 1;
        let insert = format!(
            "INSERT INTO {} (identifier, instance, items, conditions, metadata, settings, log, version, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, GREATEST($8, {CLOCK_VERSION}), $9) RETURNING version",
            self.table
        );
        let inserted = sqlx::query_scalar::<_, i64>(&insert)
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
            .bind(moved.try_get::<Value, _>("log").map_err(storage_error)?)
            .bind(above)
            .bind(
                moved
                    .try_get::<OffsetDateTime, _>("created_at")
                    .map_err(storage_error)?,
            )
            .fetch_one(&mut *tx)
            .await;
        let version = match inserted {
            Ok(version) => version as u64,
            // A concurrent writer created the target meanwhile: the caller can retry the swap.
            Err(error) if is_unique_violation(&error) => {
                return Err(StorageError::Conflict {
                    key: CartKey::new(to, instance),
                    expected: replaced.map(|v| v as u64),
                    current: None,
                });
            }
            Err(error) => return Err(storage_error(error)),
        };
        if self.event_log {
            let target = CartKey::new(to, instance);
            if from == to {
                events::log(&mut *tx, &self.events, &target, Updated, version).await?;
            } else {
                let source = CartKey::new(from, instance);
                let moved = moved_version as u64;
                events::log(&mut *tx, &self.events, &source, Deleted, moved).await?;
                let kind = if replaced.is_some() { Updated } else { Created };
                events::log(&mut *tx, &self.events, &target, kind, version).await?;
            }
        }
        tx.commit().await.map_err(storage_error)?;
        Ok(true)
    }

    async fn forget(&self, identifier: &str) -> Result<usize, StorageError> {
        if self.event_log {
            return events::forget_logged(&self.pool, &self.table, &self.events, identifier).await;
        }
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
        if self.locking {
            lock::locked_modify(self, key, options, op).await
        } else {
            write::optimistic_modify(self, key, options, op).await
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
