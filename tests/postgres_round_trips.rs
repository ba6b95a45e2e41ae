//! How many statements the Postgres driver sends: one per load and one per optimistic save.
//! Alone in its binary, because it installs a global tracing subscriber to count them.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum_cart::storage::{CartKey, CartStorage, StorageError};
use axum_cart::{CartContents, CartItem, Currency, PostgresStorage};
use common::{guest_key, pg, usd};

/// Counts the statements sqlx sends, from its `sqlx::query` log events.
#[derive(Clone, Default)]
struct StatementCounter(Arc<AtomicU64>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StatementCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[tokio::test]
async fn an_optimistic_save_is_one_statement_and_a_load_is_one() {
    use tracing_subscriber::layer::SubscriberExt;
    let counter = StatementCounter::default();
    // A global subscriber, installed before this binary's only test sends anything: a scoped one
    // can miss events of callsites that other tests' threads registered first.
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(counter.clone()))
        .unwrap();
    let storage = fresh_storage_with_one_connection().await;
    let key = guest_key();
    let mut cart = CartContents::new(Currency::USD);
    cart.add(CartItem::new("a", "Apple", usd("1.00"), 1))
        .unwrap();
    let v1 = storage.save(&key, &cart, None).await.unwrap();
    // Warm the connection so that no connection set-up statement is counted.
    storage.load(&key).await.unwrap();

    let count = || counter.0.load(Ordering::SeqCst);
    let before = count();
    storage.load(&key).await.unwrap();
    assert_eq!(count() - before, 1, "a load is one statement");
    let before = count();
    assert_eq!(storage.save(&key, &cart, Some(v1)).await.unwrap(), v1 + 1);
    assert_eq!(count() - before, 1, "a save is one statement");
    let before = count();
    storage
        .save(&CartKey::new(key.identifier(), "wishlist"), &cart, None)
        .await
        .unwrap();
    assert_eq!(count() - before, 1, "creating a cart is one statement");
    // Only the failure path reads the current version for the diagnostics.
    let before = count();
    let stale = storage.save(&key, &cart, Some(v1)).await.unwrap_err();
    match stale {
        StorageError::Conflict {
            key: ref conflicted,
            expected,
            current,
        } => {
            assert_eq!(conflicted, &key, "{stale:?}");
            assert_eq!(
                expected,
                Some(v1),
                "the version the write expected: {stale:?}"
            );
            assert_eq!(current, Some(v1 + 1), "the version stored: {stale:?}");
        }
        other => panic!("a stale save must be a conflict, got {other:?}"),
    }
    assert_eq!(count() - before, 2);
    // Creating a cart that exists is a conflict too, reporting that no cart was expected.
    let before = count();
    match storage.save(&key, &cart, None).await.unwrap_err() {
        StorageError::Conflict {
            key: conflicted,
            expected: None,
            current: Some(current),
        } => {
            assert_eq!(conflicted, key);
            assert_eq!(current, v1 + 1);
        }
        other => panic!("creating an existing cart must be a conflict, got {other:?}"),
    }
    assert_eq!(count() - before, 2);
    let before = count();
    assert!(storage.delete_at(&key, v1 + 1).await.unwrap());
    assert_eq!(
        count() - before,
        1,
        "a delete at a version is one statement"
    );
}

/// A storage on a fresh table with every bundled migration applied: the migration that adds the
/// `log` column as well (`IF NOT EXISTS`, so applying it twice is harmless).
async fn fresh_storage_with_one_connection() -> PostgresStorage {
    let storage = pg::fresh_storage_with(1).await;
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
