//! The Postgres driver against a real server: versions, conflicts, concurrency in both modes,
//! statement counts, abandoned carts and pruning, and outages.

mod common;

use std::time::{Duration, Instant};

use axum_cart::storage::{CartKey, CartStorage, StorageError};
use axum_cart::{
    CartConfig, CartContents, CartError, CartItem, CartManager, Currency, PostgresStorage,
};
use common::hammer::hammer;
use common::proxy::Proxy;
use common::{guest_key, pg, usd};

#[tokio::test]
async fn the_bundled_migration_creates_the_default_table() {
    let url = pg::test_database_url().await;
    let storage = PostgresStorage::connect(&url).await.unwrap();
    storage.migrate().await.unwrap();
    storage.migrate().await.unwrap(); // applied migrations are skipped
    let key = guest_key();
    assert_eq!(
        storage
            .save(&key, &CartContents::new(Currency::USD), None)
            .await
            .unwrap(),
        1
    );
    let in_table: i64 =
        sqlx::query_scalar("SELECT count(*) FROM public.carts WHERE identifier = $1")
            .bind(key.identifier())
            .fetch_one(storage.pool())
            .await
            .unwrap();
    assert_eq!(in_table, 1);
    assert!(
        PostgresStorage::connect(&url)
            .await
            .unwrap()
            .with_table("carts; drop table carts")
            .is_err()
    );
}

#[tokio::test]
async fn versions_count_committed_changes_and_clearing_deletes_the_row() {
    let storage = pg::fresh_storage().await;
    let manager = CartManager::new(CartConfig::new().with_storage(storage.clone()));
    let key = guest_key();
    let cart = manager.cart(key.identifier(), "default").unwrap();
    cart.add(CartItem::new("a", "Apple", usd("1.00"), 1))
        .await
        .unwrap();
    assert_eq!(
        storage.load(&key).await.unwrap().unwrap().version,
        1,
        "a new cart has version 1"
    );
    cart.add(CartItem::new("b", "Bread", usd("2.00"), 1))
        .await
        .unwrap();
    cart.set_metadata("note", serde_json::json!("x"))
        .await
        .unwrap();
    cart.change_quantity("a", 2).await.unwrap();
    for _ in 0..3 {
        assert_eq!(
            storage.load(&key).await.unwrap().unwrap().version,
            4,
            "reads never change it"
        );
    }
    // A failed change commits nothing and keeps the version.
    assert!(cart.remove("missing").await.is_err());
    assert_eq!(storage.load(&key).await.unwrap().unwrap().version, 4);
    cart.clear().await.unwrap();
    let rows: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM {} WHERE identifier = $1",
        storage.table()
    ))
    .bind(key.identifier())
    .fetch_one(storage.pool())
    .await
    .unwrap();
    assert_eq!(rows, 0, "clearing deletes the row");
}

#[tokio::test]
async fn a_forced_conflict_reports_both_versions() {
    let storage = pg::fresh_storage().await;
    let key = guest_key();
    let mut cart = CartContents::new(Currency::USD);
    storage.save(&key, &cart, None).await.unwrap();
    cart.add(CartItem::new("a", "Apple", usd("1.00"), 1))
        .unwrap();
    // Two writers read version 1; the first wins.
    assert_eq!(storage.save(&key, &cart, Some(1)).await.unwrap(), 2);
    let lost = storage.save(&key, &cart, Some(1)).await.unwrap_err();
    let StorageError::Conflict {
        expected, current, ..
    } = &lost
    else {
        panic!("expected a conflict, got {lost:?}")
    };
    assert_eq!((*expected, *current), (Some(1), Some(2)));
    let error = CartError::from(lost);
    let CartError::Conflict(info) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(info.attempted_version, 1);
    assert_eq!(info.current_version, Some(2));
    assert!(info.is_minor());
    assert_eq!(error.status(), axum::http::StatusCode::CONFLICT);
    let body = error.body();
    assert_eq!(body["error"], "conflict");
    assert_eq!(body["attempted_version"], 1);
    assert_eq!(body["current_version"], 2);
    assert_eq!(body["version_difference"], 1);
    assert_eq!(body["minor"], true);
    assert_eq!(body["identifier"], key.identifier());
    // Over HTTP: 409 with that body.
    let response = axum::response::IntoResponse::into_response(error);
    assert_eq!(response.status(), 409);
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let sent: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(sent, body);
    // A creator that loses the race also gets a conflict, not a unique-violation error.
    assert!(matches!(
        storage.save(&key, &cart, None).await,
        Err(StorageError::Conflict {
            current: Some(2),
            ..
        })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_lost_updates_with_optimistic_writes() {
    let first = pg::fresh_storage_with(8).await;
    let second = pg::second_storage(&first, 8).await;
    let (quantity, retries) = hammer(first, second).await;
    println!("postgres optimistic: 1280 writes, {retries} retries after conflicts");
    assert_eq!(quantity, 1_280);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_lost_updates_with_locking() {
    let first = pg::fresh_storage_with(8).await.with_locking(true);
    let second = pg::second_storage(&first, 8).await.with_locking(true);
    let (quantity, retries) = hammer(first, second).await;
    println!("postgres locking: 1280 writes, {retries} retries (only creation races retry)");
    assert_eq!(quantity, 1_280);
}

#[tokio::test]
async fn abandoned_carts_and_pruning() {
    let storage = pg::fresh_storage().await;
    let table = storage.table().to_owned();
    let mut full = CartContents::new(Currency::USD);
    full.add(CartItem::new("a", "Apple", usd("1.00"), 3))
        .unwrap();
    full.add(CartItem::new("b", "Bread", usd("2.00"), 1))
        .unwrap();
    for i in 0..5 {
        storage
            .save(&CartKey::new(format!("old-{i}"), "default"), &full, None)
            .await
            .unwrap();
    }
    storage
        .save(
            &CartKey::new("old-empty", "default"),
            &CartContents::new(Currency::USD),
            None,
        )
        .await
        .unwrap();
    storage
        .save(&CartKey::new("fresh", "default"), &full, None)
        .await
        .unwrap();
    sqlx::query(&format!(
        "UPDATE {table} SET updated_at = now() - interval '10 days' WHERE identifier LIKE 'old-%'"
    ))
    .execute(storage.pool())
    .await
    .unwrap();

    let week = Duration::from_secs(7 * 24 * 3600);
    let abandoned = storage.abandoned(week, 100).await.unwrap();
    assert_eq!(
        abandoned.len(),
        5,
        "non-empty carts older than a week: {abandoned:?}"
    );
    assert!(abandoned.iter().all(|c| c.lines == 2 && c.quantity == 4));
    assert!(
        abandoned
            .iter()
            .all(|c| c.identifier.starts_with("old-") && c.identifier != "old-empty")
    );
    assert_eq!(storage.abandoned(week, 2).await.unwrap().len(), 2);

    let dry = storage
        .prune(
            &axum_cart::storage::PruneOptions::older_than(week)
                .with_batch_size(2)
                .with_dry_run(true),
            None,
        )
        .await
        .unwrap();
    assert_eq!((dry.matched, dry.deleted), (6, 0));
    assert_eq!(
        storage.abandoned(week, 100).await.unwrap().len(),
        5,
        "a dry run deletes nothing"
    );

    let progress = std::sync::Mutex::new(Vec::new());
    let report_progress = |deleted: u64| progress.lock().unwrap().push(deleted);
    let pruned = storage
        .prune(
            &axum_cart::storage::PruneOptions::older_than(week).with_batch_size(2),
            Some(&report_progress),
        )
        .await
        .unwrap();
    assert_eq!((pruned.matched, pruned.deleted, pruned.batches), (6, 6, 4));
    assert_eq!(*progress.lock().unwrap(), vec![2, 4, 6, 6]);
    assert!(
        storage
            .load(&CartKey::new("fresh", "default"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        storage
            .load(&CartKey::new("old-0", "default"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_gives_unavailable_in_bounded_time_and_the_storage_recovers() {
    let table = pg::fresh_storage().await.table().to_owned();
    let mut proxy = Proxy::start_on(0).await;
    let port = proxy.port;
    let url = pg::test_database_url()
        .await
        .replace(":5432/", &format!(":{port}/"));
    let storage = PostgresStorage::connect_lazy(&url)
        .unwrap()
        .with_table(&table)
        .unwrap();
    let key = guest_key();
    storage
        .save(&key, &CartContents::new(Currency::USD), None)
        .await
        .unwrap();

    proxy.stop();
    tokio::task::yield_now().await;
    let started = Instant::now();
    let load = storage.load(&key).await;
    let save = storage
        .save(&key, &CartContents::new(Currency::USD), Some(1))
        .await;
    let elapsed = started.elapsed();
    println!("postgres down: load and save failed after {elapsed:?}");
    assert!(
        matches!(load, Err(StorageError::Unavailable { .. })),
        "{load:?}"
    );
    assert!(
        matches!(save, Err(StorageError::Unavailable { .. })),
        "{save:?}"
    );
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");

    let _proxy = Proxy::start_on(port).await;
    let recovered = storage.load(&key).await.unwrap().unwrap();
    assert_eq!(recovered.version, 1, "nothing stored was lost");
    assert_eq!(
        storage.save(&key, &recovered.value, Some(1)).await.unwrap(),
        2
    );
}
