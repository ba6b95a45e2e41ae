//! The driver conformance suite against Postgres, optimistic and locking, each check on its own
//! schema.

mod common;

use axum_cart::PostgresStorage;
use axum_cart::storage::CartKey;
use common::pg;

/// A storage on a fresh table with every bundled migration applied: the migration that adds the
/// `log` column as well (`IF NOT EXISTS`, so applying it twice is harmless).
async fn fresh_storage() -> PostgresStorage {
    let storage = pg::fresh_storage().await;
    let add_log = include_str!("../migrations/20261201000000_add_write_log.sql").replace(
        "ALTER TABLE carts",
        &format!("ALTER TABLE {}", storage.table()),
    );
    sqlx::raw_sql(&add_log)
        .execute(storage.pool())
        .await
        .unwrap();
    storage
}

/// Overwrites the stored lines of an existing cart with JSON that is not a list of lines.
async fn store_corrupt(storage: &PostgresStorage, key: &CartKey) {
    let sql = format!(
        "UPDATE {} SET items = '\"not a list\"' WHERE identifier = $1 AND instance = $2",
        storage.table()
    );
    let updated = sqlx::query(&sql)
        .bind(key.identifier())
        .bind(key.instance())
        .execute(storage.pool())
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 1);
}

axum_cart::conformance_tests!(optimistic, fresh_storage(), corrupt = store_corrupt);

axum_cart::conformance_tests!(
    locking,
    async { fresh_storage().await.with_locking(true) },
    corrupt = store_corrupt
);
