//! `PostgresStorage::migrate` next to an app's own sqlx migrations, on a database of its own per
//! test: either order works, our history stays out of `_sqlx_migrations`, a second run and
//! parallel runs apply nothing twice, a failure leaves nothing applied, and a database that an
//! earlier version of this crate migrated through `_sqlx_migrations` still migrates.

// Only the Postgres helpers: the rest of `common` brings in the example shop, which this file
// has no use for.
#[allow(dead_code)]
#[path = "common/pg.rs"]
mod pg;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum_cart::storage::{CartKey, CartStorage, StorageError};
use axum_cart::{CartContents, Currency, PostgresStorage};
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

/// The advisory lock key `migrate` documents.
const LOCK_KEY: i64 = 7023492731563504244;

const OUR_VERSIONS: [i64; 4] = [
    20261128000000,
    20261201000000,
    20261203000000,
    20261204000000,
];

/// Runs `test` with the URL of a new, empty database, which is dropped afterwards, also when
/// `test` panics.
async fn on_fresh_database<F, Fut>(test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let server = pg::server_url();
    let name = format!("axum_cart_migrations_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&server).await.unwrap_or_else(|e| {
        panic!("Postgres is not reachable at {server} ({e}): start it, or run ./scripts/test")
    });
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let (base, _) = server
        .rsplit_once('/')
        .expect("DATABASE_URL has a database name");
    // A task of its own, so that a panic comes back as a value and the database still goes.
    let outcome = tokio::spawn(test(format!("{base}/{name}"))).await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

/// An app's migrations directory, removed on drop.
struct AppMigrations(PathBuf);

impl AppMigrations {
    /// Two migrations that fail if run twice (no `IF NOT EXISTS`), so a re-run would show.
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "axum_cart_app_migrations_{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir(&dir).unwrap();
        let app = AppMigrations(dir);
        app.add(
            "1_create_products.sql",
            "CREATE TABLE products (id text PRIMARY KEY, name text NOT NULL);",
        );
        app.add(
            "2_create_orders.sql",
            "CREATE TABLE orders (id bigint PRIMARY KEY, product text NOT NULL REFERENCES products);",
        );
        app
    }

    fn add(&self, file: &str, sql: &str) {
        std::fs::write(self.0.join(file), sql).unwrap();
    }

    /// The app's sqlx migrator, as the app would run it: its defaults, nothing ignored.
    async fn run(&self, pool: &PgPool) {
        Migrator::new(self.0.as_path())
            .await
            .unwrap()
            .run(pool)
            .await
            .unwrap();
    }
}

impl Drop for AppMigrations {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn pool(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .unwrap()
}

/// The versions in a history table, in order.
async fn versions(pool: &PgPool, table: &str) -> Vec<i64> {
    sqlx::query_scalar(&format!("SELECT version FROM {table} ORDER BY version"))
        .fetch_all(pool)
        .await
        .unwrap()
}

/// The tables of the `public` schema, by name.
async fn tables(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' ORDER BY table_name",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn has_index(pool: &PgPool, index: &str) -> bool {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(index)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A cart written and read back through `storage`: the table has every column the driver needs.
async fn round_trip(storage: &PostgresStorage) {
    let key = guest_key();
    let mut cart = CartContents::new(Currency::USD);
    cart.record_write("w-1");
    let version = storage.save(&key, &cart, None).await.unwrap();
    let loaded = storage.load(&key).await.unwrap().unwrap();
    assert_eq!((loaded.version, loaded.value), (version, cart));
}

fn guest_key() -> CartKey {
    CartKey::new(
        format!("guest-{}", uuid::Uuid::new_v4().simple()),
        "default",
    )
}

fn backend_message(error: StorageError) -> String {
    match error {
        StorageError::Backend { driver, message } => {
            assert_eq!(driver, "postgres");
            message
        }
        other => panic!("expected a backend error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_apps_migrations_run_before_and_after_ours() {
    on_fresh_database(|url| async move {
        let app_pool = pool(&url).await;
        let app = AppMigrations::new();
        app.run(&app_pool).await;

        let storage = PostgresStorage::connect(&url).await.unwrap();
        storage.migrate().await.unwrap();

        app.add(
            "3_add_price.sql",
            "ALTER TABLE products ADD COLUMN price numeric NOT NULL DEFAULT 0;",
        );
        app.run(&app_pool).await;

        assert_eq!(versions(&app_pool, "_sqlx_migrations").await, [1, 2, 3]);
        assert_eq!(
            versions(&app_pool, "axum_cart_migrations").await,
            OUR_VERSIONS
        );
        assert_eq!(
            tables(&app_pool).await,
            [
                "_sqlx_migrations",
                "axum_cart_migrations",
                "carts",
                "carts_event_cursors",
                "carts_events",
                "orders",
                "products"
            ]
        );
        let price: i64 = sqlx::query_scalar(
            "INSERT INTO products (id, name) VALUES ('tv', 'TV') RETURNING price::bigint",
        )
        .fetch_one(&app_pool)
        .await
        .unwrap();
        assert_eq!(price, 0);
        round_trip(&storage).await;
    })
    .await;
}

#[tokio::test]
async fn ours_first_leaves_the_apps_migrator_a_history_it_knows() {
    on_fresh_database(|url| async move {
        let storage = PostgresStorage::connect(&url).await.unwrap();
        storage.migrate().await.unwrap();
        let app_pool = pool(&url).await;
        let app = AppMigrations::new();
        app.run(&app_pool).await;
        storage.migrate().await.unwrap();

        assert_eq!(versions(&app_pool, "_sqlx_migrations").await, [1, 2]);
        assert_eq!(
            versions(&app_pool, "axum_cart_migrations").await,
            OUR_VERSIONS
        );
        round_trip(&storage).await;
    })
    .await;
}

#[tokio::test]
async fn a_second_run_applies_nothing() {
    on_fresh_database(|url| async move {
        let storage = PostgresStorage::connect(&url).await.unwrap();
        storage.migrate().await.unwrap();
        let recorded: Vec<(i64, String, time::OffsetDateTime)> = sqlx::query_as(
            "SELECT version, description, applied_at FROM axum_cart_migrations ORDER BY version",
        )
        .fetch_all(storage.pool())
        .await
        .unwrap();
        assert_eq!(
            recorded
                .iter()
                .map(|(v, d, _)| (*v, d.as_str()))
                .collect::<Vec<_>>(),
            [
                (OUR_VERSIONS[0], "create carts"),
                (OUR_VERSIONS[1], "add write log"),
                (OUR_VERSIONS[2], "create cart events"),
                (OUR_VERSIONS[3], "index idle carts by hour")
            ]
        );
        // The last migration creates this index: a run that executed it again would bring it
        // back.
        sqlx::query("DROP INDEX carts_updated_hour_idx")
            .execute(storage.pool())
            .await
            .unwrap();

        storage.migrate().await.unwrap();

        assert!(!has_index(storage.pool(), "carts_updated_hour_idx").await);
        let again: Vec<(i64, String, time::OffsetDateTime)> = sqlx::query_as(
            "SELECT version, description, applied_at FROM axum_cart_migrations ORDER BY version",
        )
        .fetch_all(storage.pool())
        .await
        .unwrap();
        assert_eq!(again, recorded);
    })
    .await;
}

#[tokio::test]
async fn processes_starting_at_once_apply_each_migration_once() {
    on_fresh_database(|url| async move {
        // Held here until every run waits on it, so the runs surely overlap.
        let mut holder = PgConnection::connect(&url).await.unwrap();
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(LOCK_KEY)
            .execute(&mut holder)
            .await
            .unwrap();
        let mut runs = Vec::new();
        for _ in 0..3 {
            // A pool each, as separate processes would have.
            let storage = PostgresStorage::connect(&url).await.unwrap();
            runs.push(tokio::spawn(async move { storage.migrate().await }));
        }
        let started = Instant::now();
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            )
            .fetch_one(&mut holder)
            .await
            .unwrap();
            if waiting == 3 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{waiting} of 3 runs wait on the advisory lock"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(LOCK_KEY)
            .execute(&mut holder)
            .await
            .unwrap();
        for run in runs {
            run.await.unwrap().unwrap();
        }

        let app_pool = pool(&url).await;
        assert_eq!(
            versions(&app_pool, "axum_cart_migrations").await,
            OUR_VERSIONS
        );
        // One run applied them all, in one transaction.
        let runs: i64 =
            sqlx::query_scalar("SELECT count(DISTINCT applied_at) FROM axum_cart_migrations")
                .fetch_one(&app_pool)
                .await
                .unwrap();
        assert_eq!(runs, 1);
        assert_eq!(
            tables(&app_pool).await,
            [
                "axum_cart_migrations",
                "carts",
                "carts_event_cursors",
                "carts_events"
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn a_database_migrated_through_sqlx_history_migrates_again() {
    on_fresh_database(|url| async move {
        // What earlier versions of this crate did: sqlx's migrator on `migrations/`.
        let app_pool = pool(&url).await;
        let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        Migrator::new(bundled.as_path())
            .await
            .unwrap()
            .run(&app_pool)
            .await
            .unwrap();
        let storage = PostgresStorage::connect(&url).await.unwrap();
        let key = guest_key();
        let mut cart = CartContents::new(Currency::USD);
        cart.record_write("before the upgrade");
        let version = storage.save(&key, &cart, None).await.unwrap();

        storage.migrate().await.unwrap();

        assert_eq!(
            versions(&app_pool, "axum_cart_migrations").await,
            OUR_VERSIONS
        );
        let loaded = storage.load(&key).await.unwrap().unwrap();
        assert_eq!((loaded.version, loaded.value), (version, cart));
        // With the old rows deleted as `migrate` documents, the app's own migrator starts
        // cleanly next to ours.
        sqlx::query(
            "DELETE FROM _sqlx_migrations \
             WHERE version IN (20261128000000, 20261201000000, 20261203000000, 20261204000000)",
        )
        .execute(&app_pool)
        .await
        .unwrap();
        let app = AppMigrations::new();
        app.run(&app_pool).await;
        storage.migrate().await.unwrap();
        assert_eq!(versions(&app_pool, "_sqlx_migrations").await, [1, 2]);
        round_trip(&storage).await;
    })
    .await;
}

#[tokio::test]
async fn a_recorded_migration_with_other_contents_is_refused() {
    on_fresh_database(|url| async move {
        let storage = PostgresStorage::connect(&url).await.unwrap();
        storage.migrate().await.unwrap();
        sqlx::query("UPDATE axum_cart_migrations SET checksum = '\\x00' WHERE version = $1")
            .bind(OUR_VERSIONS[1])
            .execute(storage.pool())
            .await
            .unwrap();

        let error = storage.migrate().await.unwrap_err();

        assert_eq!(
            backend_message(error),
            "migration 20261201000000 (add write log) was applied with other contents than the \
             bundled file's; the database's schema may differ from what this driver expects"
        );
    })
    .await;
}

#[tokio::test]
async fn a_failed_migration_leaves_nothing_applied() {
    on_fresh_database(|url| async move {
        let storage = PostgresStorage::connect(&url).await.unwrap();
        // `CREATE TABLE IF NOT EXISTS carts` passes over a view of that name; the index on it
        // then fails.
        sqlx::query("CREATE VIEW carts AS SELECT now() AS updated_at")
            .execute(storage.pool())
            .await
            .unwrap();

        let error = storage.migrate().await.unwrap_err();

        assert_eq!(
            backend_message(error),
            "migration 20261128000000 (create carts) failed: error returned from database: \
             cannot create index on relation \"carts\""
        );
        assert_eq!(tables(storage.pool()).await, ["carts"]);
        let lock_free: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LOCK_KEY)
            .fetch_one(storage.pool())
            .await
            .unwrap();
        assert!(lock_free);
    })
    .await;
}
