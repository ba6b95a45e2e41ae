//! Abandoned carts: finding them ([`PostgresStorage::abandoned`]) and deleting them in batches
//! ([`PostgresStorage::prune`]), for a scheduled job rather than the request path.

use std::time::Duration;

use sqlx::Row;
use time::OffsetDateTime;

use super::PostgresStorage;
use super::rows::storage_error;
use crate::storage::StorageError;

/// Carts last written before `$1`, found through the index on `updated_hour` (the hour of
/// `updated_at`, which is never after it; see the migration that adds it): `updated_at` itself is
/// not indexed, so that writes stay HOT updates.
const IDLE_BEFORE: &str = "updated_hour < $1 AND updated_at < $1";

/// Oldest first, in the index's order: `updated_hour` grows with `updated_at`, so this is the
/// order of `updated_at`, sorted within each hour only.
const OLDEST_FIRST: &str = "updated_hour, updated_at";

/// A non-empty cart not updated for a while.
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
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

/// Which carts [`PostgresStorage::prune`] deletes, and how.
///
/// ```
/// use std::time::Duration;
/// use axum_cart::storage::PruneOptions;
/// let week = PruneOptions::older_than(Duration::from_secs(7 * 24 * 3600))
///     .with_batch_size(500)
///     .with_dry_run(true);
/// assert_eq!((week.batch_size, week.dry_run), (500, true));
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
#[derive(Clone, Debug)]
pub struct PruneOptions {
    /// Carts whose last write is older than this go.
    pub older_than: Duration,
    /// Rows per `DELETE` (default 1000; below 1 counts as 1). Small batches keep each
    /// statement's locks short on a busy table.
    pub batch_size: i64,
    /// Only count the carts that would go; delete nothing (default `false`).
    pub dry_run: bool,
}

impl PruneOptions {
    /// Carts not updated for `older_than`, 1000 rows per statement, really deleted.
    pub fn older_than(older_than: Duration) -> Self {
        PruneOptions {
            older_than,
            batch_size: 1000,
            dry_run: false,
        }
    }

    /// Rows per `DELETE` statement.
    pub fn with_batch_size(mut self, batch_size: i64) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Only count, when `dry_run` is `true`.
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

/// What [`PostgresStorage::prune`] found and deleted.
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Rows older than the cut-off when the prune started.
    pub matched: u64,
    /// Rows deleted (0 in a dry run).
    pub deleted: u64,
    /// Batches run.
    pub batches: u64,
}

impl PostgresStorage {
    /// Non-empty carts not updated for `older_than`, oldest first, at most `limit` of them.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when the database cannot be reached, and
    /// [`StorageError::Backend`] when the query fails (a missing table, for one).
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
             WHERE {IDLE_BEFORE} AND jsonb_array_length(items) > 0 \
             ORDER BY {OLDEST_FIRST} LIMIT $2",
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

    /// Deletes the carts `options` describe, oldest first, one batch per statement so that a
    /// large prune never holds one long lock, calling `progress` with the running count of
    /// deleted carts after each batch. A dry run only counts.
    ///
    /// ```no_run
    /// # use axum_cart::storage::{PostgresStorage, StorageError};
    /// # async fn example(storage: PostgresStorage) -> Result<(), StorageError> {
    /// use std::time::Duration;
    /// use axum_cart::storage::PruneOptions;
    /// let options = PruneOptions::older_than(Duration::from_secs(30 * 24 * 3600));
    /// let report = storage.prune(&options, Some(&|deleted| println!("{deleted} so far"))).await?;
    /// println!("deleted {} of {}", report.deleted, report.matched);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when the database cannot be reached, and
    /// [`StorageError::Backend`] when a statement fails. Batches deleted before the failure
    /// stay deleted.
    pub async fn prune(
        &self,
        options: &PruneOptions,
        progress: Option<&(dyn Fn(u64) + Send + Sync)>,
    ) -> Result<PruneReport, StorageError> {
        let cutoff = OffsetDateTime::now_utc() - options.older_than;
        let batch_size = options.batch_size.max(1);
        let count = format!("SELECT count(*) FROM {} WHERE {IDLE_BEFORE}", self.table);
        let matched: i64 = sqlx::query_scalar(&count)
            .bind(cutoff)
            .fetch_one(&self.pool)
            .await
            .map_err(storage_error)?;
        let mut report = PruneReport {
            matched: matched as u64,
            ..PruneReport::default()
        };
        if options.dry_run || matched == 0 {
            return Ok(report);
        }
        let delete = format!(
            "DELETE FROM {table} WHERE id IN \
             (SELECT id FROM {table} WHERE {IDLE_BEFORE} ORDER BY {OLDEST_FIRST} LIMIT $2)",
            table = self.table
        );
        loop {
            let deleted = sqlx::query(&delete)
                .bind(cutoff)
                .bind(batch_size)
                .execute(&self.pool)
                .await
                .map_err(storage_error)?
                .rows_affected();
            report.deleted += deleted;
            report.batches += 1;
            if let Some(progress) = progress {
                progress(report.deleted);
            }
            if deleted < batch_size as u64 {
                return Ok(report);
            }
        }
    }
}
