//! [`PostgresStorage::migrate`](super::PostgresStorage::migrate): the files of `migrations/`,
//! recorded in a history table of this crate's own rather than in sqlx's `_sqlx_migrations`.
//!
//! `_sqlx_migrations` belongs to the app: sqlx's migrator refuses a history holding a version
//! its source does not have, so an app running its own sqlx migrations and ours on one table
//! would have each migrator fail on the other's versions.

use sqlx::Executor;
use sqlx::migrate::{Migration, Migrator};
use sqlx::postgres::PgPool;

use super::rows::{DRIVER, storage_error};
use crate::storage::StorageError;

/// The files of `migrations/`, embedded at build time. Only their versions, descriptions, SQL and
/// checksums are used; sqlx's runner, which would record them in `_sqlx_migrations`, is not.
static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// The advisory lock that serializes `migrate` across processes ("axumcart" in ASCII). It must
/// never change: processes running different versions of this crate must wait for each other.
/// Advisory locks are per database, so apps on other databases on the server are not involved.
const LOCK_KEY: i64 = 0x6178_756d_6361_7274;

const CREATE_HISTORY: &str = "CREATE TABLE IF NOT EXISTS axum_cart_migrations (
    version     bigint      PRIMARY KEY,
    description text        NOT NULL,
    checksum    bytea       NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)";

/// The bundled migrations, oldest first.
fn migrations() -> impl Iterator<Item = &'static Migration> {
    MIGRATIONS.iter()
}

fn failed(message: String) -> StorageError {
    StorageError::Backend {
        driver: DRIVER,
        message,
    }
}

/// Applies the migrations this database has not recorded yet, in order, in one transaction that
/// first takes [`LOCK_KEY`]: processes starting at once wait for the first one, then find every
/// migration recorded and apply nothing. A failure rolls the whole run back, lock included.
///
/// A database migrated by an earlier version of this crate has its history in
/// `_sqlx_migrations` and none here, so every file runs again: each is written to be a no-op on
/// a schema it already made (`IF NOT EXISTS`).
pub(super) async fn migrate(pool: &PgPool) -> Result<(), StorageError> {
    let mut tx = pool.begin().await.map_err(storage_error)?;
    // The pool's statement timeout is sized for requests; waiting for another process's run
    // or a migration on a large table may take longer, and this runs at startup.
    sqlx::query("SET LOCAL statement_timeout = 0")
        .execute(&mut *tx)
        .await
        .map_err(storage_error)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *tx)
        .await
        .map_err(storage_error)?;
    // Under the lock: two processes creating the table at once could both pass `IF NOT EXISTS`
    // and one would fail on the catalogue's unique index.
    sqlx::query(CREATE_HISTORY)
        .execute(&mut *tx)
        .await
        .map_err(storage_error)?;
    let applied: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT version, checksum FROM axum_cart_migrations")
            .fetch_all(&mut *tx)
            .await
            .map_err(storage_error)?;
    // Versions recorded here that this build does not have were applied by a newer version of
    // the crate (a rolling deploy): its schema is a superset of ours, so they are left alone.
    for migration in migrations() {
        let version = migration.version;
        let description = &migration.description;
        if let Some((_, checksum)) = applied.iter().find(|(v, _)| *v == version) {
            if checksum.as_slice() != &*migration.checksum {
                return Err(failed(format!(
                    "migration {version} ({description}) was applied with other contents than \
                     the bundled file's; the database's schema may differ from what this driver expects"
                )));
            }
            continue;
        }
        // A string without arguments goes by the simple-query protocol, which takes a file of
        // several statements.
        (&mut *tx)
            .execute(&*migration.sql)
            .await
            .map_err(|e| failed(format!("migration {version} ({description}) failed: {e}")))?;
        sqlx::query(
            "INSERT INTO axum_cart_migrations (version, description, checksum) VALUES ($1, $2, $3)",
        )
        .bind(version)
        .bind(description.to_string())
        .bind(migration.checksum.to_vec())
        .execute(&mut *tx)
        .await
        .map_err(storage_error)?;
    }
    tx.commit().await.map_err(storage_error)
}

#[cfg(test)]
mod tests {
    use super::migrations;

    #[test]
    fn every_bundled_migration_fits_the_runner() {
        // `migrate` runs every file forward, all in one transaction: a `-- no-transaction` file
        // or a `.down.sql` file would need a runner that this one is not.
        let all: Vec<_> = migrations().collect();
        assert!(!all.is_empty());
        assert!(all.iter().all(|m| !m.no_tx));
        assert!(all.iter().all(|m| !m.migration_type.is_down_migration()));
        assert!(all.windows(2).all(|pair| pair[0].version < pair[1].version));
    }
}
