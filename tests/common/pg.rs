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

/// The port of a Postgres URL that names none.
pub const DEFAULT_PORT: u16 = 5432;

/// A `scheme://[userinfo@]authority[/database][?query]` URL cut at its authority (`host`,
/// `host:port`, `[v6]` or `[v6]:port`).
struct Parts<'a> {
    /// `scheme://userinfo@`.
    before: &'a str,
    authority: &'a str,
    /// `/database?query` (maybe empty).
    after: &'a str,
}

fn parts(url: &str) -> Parts<'_> {
    let scheme_end = url
        .find("://")
        .map(|i| i + 3)
        .unwrap_or_else(|| panic!("`{url}` is not a URL (scheme://host:port/database)"));
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    // The user's password may hold `@`: the authority starts after the last one.
    let userinfo_end = rest[..authority_end].rfind('@').map_or(0, |i| i + 1);
    Parts {
        before: &url[..scheme_end + userinfo_end],
        authority: &rest[userinfo_end..authority_end],
        after: &rest[authority_end..],
    }
}

/// Host and port of a Postgres URL's authority: `127.0.0.1` for an empty host (as
/// `./scripts/test` reads it), [`DEFAULT_PORT`] when no port is given; IPv6 without brackets.
pub fn host_and_port(url: &str) -> (String, u16) {
    let authority = parts(url).authority;
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, rest) = bracketed
            .split_once(']')
            .unwrap_or_else(|| panic!("unclosed `[` in the host of `{url}`"));
        (host, rest.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None | Some("") => DEFAULT_PORT,
        Some(port) => port
            .parse()
            .unwrap_or_else(|e| panic!("bad port `{port}` in `{url}`: {e}")),
    };
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    (host.to_owned(), port)
}

/// Host and port of the Postgres server `DATABASE_URL` names.
pub fn server_address() -> (String, u16) {
    host_and_port(&server_url())
}

/// `url` with its authority (host and port) replaced by `host:port`; user, password, database
/// and query are kept.
pub fn with_authority(url: &str, host: &str, port: u16) -> String {
    let Parts { before, after, .. } = parts(url);
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    format!("{before}{host}:{port}{after}")
}

/// `url` (a URL of the Postgres server) as reached through a local forwarder on `port`.
pub fn through_local_port(url: &str, port: u16) -> String {
    with_authority(url, "127.0.0.1", port)
}

/// `url` with its database replaced by `database` (the query, if any, is kept).
pub fn with_database(url: &str, database: &str) -> String {
    let Parts {
        before,
        authority,
        after,
    } = parts(url);
    let query = after.find(['?', '#']).map_or("", |i| &after[i..]);
    format!("{before}{authority}/{database}{query}")
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
    with_database(&server, TEST_DATABASE)
}

/// The bundled migration with the table name changed.
pub fn migration_for(table: &str) -> String {
    // Index names take the table's name with its schema, if any, joined in; an index lives in
    // its table's schema, which `DROP INDEX` must name.
    let name = table.replace('.', "_");
    let schema = table
        .rsplit_once('.')
        .map(|(schema, _)| format!("{schema}."))
        .unwrap_or_default();
    include_str!("../../migrations/20261128000000_create_carts.sql")
        .replace("EXISTS carts (", &format!("EXISTS {table} ("))
        .replace("carts_identifier_instance_key", &format!("{name}_key"))
        .replace(
            "carts_updated_at_idx ON carts",
            &format!("{name}_updated_idx ON {table}"),
        )
        + "\n"
        + &include_str!("../../migrations/20261201000000_add_write_log.sql")
            .replace("ALTER TABLE carts", &format!("ALTER TABLE {table}"))
        + "\n"
        + &include_str!("../../migrations/20261203000000_create_cart_events.sql")
            .replace("carts_event", &format!("{table}_event"))
        + "\n"
        + &include_str!("../../migrations/20261204000000_index_idle_carts_by_hour.sql")
            .replace("ALTER TABLE carts", &format!("ALTER TABLE {table}"))
            .replace(
                "carts_updated_hour_idx ON carts",
                &format!("{name}_updated_hour_idx ON {table}"),
            )
            .replace(
                "carts_updated_at_idx",
                &format!("{schema}{name}_updated_idx"),
            )
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
