//! How many statements the Postgres driver sends: one per load and one per optimistic save.
//! Alone in its binary, because it installs a global tracing subscriber to count them.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum_cart::storage::{CartKey, CartStorage};
use axum_cart::{CartContents, CartItem, Currency};
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
    let storage = pg::fresh_storage_with(1).await;
    let key = guest_key();
    let mut cart = CartContents::new(Currency::USD);
    cart.add(CartItem::new("a", "Apple", usd("1.00"), 1))
        .unwrap();
    storage.save(&key, &cart, None).await.unwrap();
    // Warm the connection so that no connection set-up statement is counted.
    storage.load(&key).await.unwrap();

    let count = || counter.0.load(Ordering::SeqCst);
    let before = count();
    storage.load(&key).await.unwrap();
    assert_eq!(count() - before, 1, "a load is one statement");
    let before = count();
    storage.save(&key, &cart, Some(1)).await.unwrap();
    assert_eq!(count() - before, 1, "a save is one statement");
    let before = count();
    storage
        .save(&CartKey::new(key.identifier(), "wishlist"), &cart, None)
        .await
        .unwrap();
    assert_eq!(count() - before, 1, "creating a cart is one statement");
    // Only the failure path reads the current version for the diagnostics.
    let before = count();
    assert!(storage.save(&key, &cart, Some(1)).await.is_err());
    assert_eq!(count() - before, 2);
}
