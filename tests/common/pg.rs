//! Postgres for tests: a dedicated database (`axum_cart_test`, recreated by `./scripts/test`),
//! and a fresh schema with its own `carts` table per test, so tests never see each other's rows.

use axum_cart::PostgresStorage;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection};

pub const TEST_DATABASE: &str = "axum_cart_test";

/// `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
pub fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The URL of the test database on the same server, created when missing.
pub async fn test_database_url() -> String {
    let server = server_url();
    let mut admin = PgConnection::connect(&server).await.unwrap_or_else(|e| {
        panic!("Postgres is not reachable at {server} ({e}): start it, or run ./scripts/test")
    });
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(TEST_DATABASE)
            .fetch_one(&mut admin)
            .await
            .unwrap();
    if !exists {
        // Two test binaries may race to create it; the loser's duplicate error is harmless.
        let _ = sqlx::query(&format!("CREATE DATABASE {TEST_DATABASE}"))
            .execute(&mut admin)
            .await;
    }
    let (base, _) = server
        .rsplit_once('/')
        .expect("DATABASE_URL has a database name");
    format!("{base}/{TEST_DATABASE}")
}

/// The bundled migration with the table name changed.
pub fn migration_for(table: &str) -> String {
    include_str!("../../migrations/20261128000000_create_carts.sql")
        .replace("EXISTS carts (", &format!("EXISTS {table} ("))
        .replace(
            "carts_identifier_instance_key",
            &format!("{}_key", table.replace('.', "_")),
        )
        .replace(
            "carts_updated_at_idx ON carts",
            &format!("{}_updated_idx ON {table}", table.replace('.', "_")),
        )
        + "\n"
        + &include_str!("../../migrations/20261201000000_add_write_log.sql")
            .replace("ALTER TABLE carts", &format!("ALTER TABLE {table}"))
}

/// A storage on a new schema of the test database (pool of `connections`).
pub async fn fresh_storage_with(connections: u32) -> PostgresStorage {
    let url = test_database_url().await;
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let pool = PgPoolOptions::new()
        .max_connections(connections)
        .connect(&url)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await
        .unwrap();
    let table = format!("{schema}.carts");
    sqlx::raw_sql(&migration_for(&table))
        .execute(&pool)
        .await
        .unwrap();
    PostgresStorage::new(pool).with_table(&table).unwrap()
}

/// A storage on a new schema of the test database.
pub async fn fresh_storage() -> PostgresStorage {
    fresh_storage_with(8).await
}

/// A second, independent pool on the same table (as a second web server would have).
pub async fn second_storage(first: &PostgresStorage, connections: u32) -> PostgresStorage {
    let pool = PgPoolOptions::new()
        .max_connections(connections)
        .connect(&test_database_url().await)
        .await
        .unwrap();
    PostgresStorage::new(pool)
        .with_table(first.table())
        .unwrap()
}
