//! A background worker and HTTP clients change the same cart at once, through the cache and the
//! database drivers: nothing is lost, and with the write queue on they never conflict. Plus the
//! example worker's idle-cart pass.

mod common;

// The example is a binary, not a library: its source is compiled in as a module, `main` unused.
// It compiles `examples/shop.rs` in itself, as `common::shop` does: two copies, on purpose.
#[path = "../examples/worker.rs"]
#[allow(dead_code, clippy::duplicate_mod)]
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::routing::post;
use axum_cart::storage::{
    CartKey, CartOp, CartStorage, Modified, ModifyError, ModifyOptions, ScanPage, StorageError,
    Versioned,
};
use axum_cart::{AddItem, Cart, CartConfig, CartContents, CartError, CartLayer, CartManager};
use common::requests::serve;
use common::{pg, redis};

async fn add(cart: Cart, axum::Json(item): axum::Json<AddItem>) -> Result<(), CartError> {
    cart.add_product(item).await.map(|_| ())
}

/// A driver that counts the conflicts its `modify` retried, and otherwise is `inner` unchanged
/// (its own `modify` included).
#[derive(Clone)]
struct ConflictCounting<S> {
    inner: S,
    retries: Arc<AtomicU64>,
}

#[async_trait]
impl<S: CartStorage> CartStorage for ConflictCounting<S> {
    fn driver(&self) -> &'static str {
        self.inner.driver()
    }

    async fn load(&self, key: &CartKey) -> Result<Option<Versioned<CartContents>>, StorageError> {
        self.inner.load(key).await
    }

    async fn save(
        &self,
        key: &CartKey,
        cart: &CartContents,
        expected: Option<u64>,
    ) -> Result<u64, StorageError> {
        self.inner.save(key, cart, expected).await
    }

    async fn delete(&self, key: &CartKey) -> Result<bool, StorageError> {
        self.inner.delete(key).await
    }

    async fn delete_at(&self, key: &CartKey, version: u64) -> Result<bool, StorageError> {
        self.inner.delete_at(key, version).await
    }

    async fn instances(&self, identifier: &str) -> Result<Vec<String>, StorageError> {
        self.inner.instances(identifier).await
    }

    async fn swap_identifier(
        &self,
        from: &str,
        to: &str,
        instance: &str,
    ) -> Result<bool, StorageError> {
        self.inner.swap_identifier(from, to, instance).await
    }

    async fn forget(&self, identifier: &str) -> Result<usize, StorageError> {
        self.inner.forget(identifier).await
    }

    async fn scan(&self, cursor: Option<String>, batch: usize) -> Result<ScanPage, StorageError> {
        self.inner.scan(cursor, batch).await
    }

    async fn modify(
        &self,
        key: &CartKey,
        options: &ModifyOptions,
        op: &CartOp<'_>,
    ) -> Result<Modified, ModifyError> {
        let modified = self.inner.modify(key, options, op).await?;
        self.retries
            .fetch_add(u64::from(modified.retries), Ordering::SeqCst);
        Ok(modified)
    }
}

/// Every request is the same logged-in customer, so all clients share one cart. Returns the
/// conflicts retried.
async fn worker_and_clients_share_one_cart(storage: impl CartStorage, write_queue: bool) -> u64 {
    let retries = Arc::new(AtomicU64::new(0));
    let storage = ConflictCounting {
        inner: storage,
        retries: Arc::clone(&retries),
    };
    let manager = CartManager::new(
        CartConfig::new()
            .with_storage(storage)
            .with_catalog(common::shop::shop_catalog())
            .with_cookie_identifier(axum_cart::CookieConfig::new(cookie::Key::generate()))
            .with_user_resolver(|_: &http::request::Parts| Some("shared".to_owned()))
            // Far longer than the run needs: a racing writer never gives up.
            .with_retry_budget(Duration::from_secs(120))
            .with_write_queue(write_queue),
    );
    // The cart exists before the rush, so its version counts the changes that follow.
    let shared = manager.cart("user:shared", "default").unwrap();
    shared
        .set_metadata("started", serde_json::json!(true))
        .await
        .unwrap();
    let first = shared.version().await.unwrap();

    let app = Router::new()
        .route("/items", post(add))
        .layer(CartLayer::from_manager(manager.clone()));
    let base = serve(app).await;

    let mut clients = Vec::new();
    for _ in 0..8 {
        let base = base.clone();
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for _ in 0..25 {
                let response = http
                    .post(format!("{base}/items"))
                    .json(&serde_json::json!({"id": "mug", "quantity": 1}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
            }
        }));
    }
    let worker = {
        let manager = manager.clone();
        tokio::spawn(async move {
            for tick in 1..=60u64 {
                let cart = manager.cart("user:shared", "default").unwrap();
                cart.set_metadata("worker_tick", serde_json::json!(tick))
                    .await
                    .unwrap();
                cart.add_priced(axum_cart::CartItem::new(
                    "worker",
                    "Worker line",
                    axum_cart::Money::parse("1.00", axum_cart::Currency::USD).unwrap(),
                    1,
                ))
                .await
                .unwrap();
            }
        })
    };
    for client in clients {
        client.await.unwrap();
    }
    worker.await.unwrap();

    let cart = manager
        .cart("user:shared", "default")
        .unwrap()
        .contents()
        .await
        .unwrap();
    assert_eq!(
        cart.get("mug").unwrap().quantity(),
        200,
        "every web add counted"
    );
    assert_eq!(
        cart.get("worker").unwrap().quantity(),
        60,
        "every worker add counted"
    );
    assert_eq!(
        cart.get_metadata("worker_tick"),
        Some(&serde_json::json!(60))
    );
    let version = manager
        .cart("user:shared", "default")
        .unwrap()
        .version()
        .await
        .unwrap();
    assert_eq!(
        version,
        first + 200 + 60 + 60,
        "one version per committed change"
    );

    // The example worker's pass: with a zero idle time every non-empty cart is idle, once. The
    // storage is this test's own and holds the one shared cart, so the pass flags exactly it.
    assert_eq!(
        worker::mark_idle(&manager, Duration::ZERO).await.unwrap(),
        1,
        "the one shared cart is flagged"
    );
    let flagged_cart = manager.cart("user:shared", "default").unwrap();
    let flagged = flagged_cart.contents().await.unwrap();
    assert_eq!(flagged.get_metadata("idle"), Some(&serde_json::json!(true)));
    assert_eq!(flagged.get("mug").unwrap().quantity(), 200);
    assert_eq!(
        flagged_cart.version().await.unwrap(),
        version + 1,
        "flagging is one write"
    );
    // A second pass finds the cart flagged already and writes nothing.
    assert_eq!(
        worker::mark_idle(&manager, Duration::ZERO).await.unwrap(),
        0,
        "a flagged cart is not flagged again"
    );
    assert_eq!(flagged_cart.version().await.unwrap(), version + 1);
    let retries = retries.load(Ordering::SeqCst);
    println!(
        "{} with the queue {write_queue}: {retries} conflicts retried",
        manager.storage().driver()
    );
    retries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn through_the_cache_driver() {
    let retries = worker_and_clients_share_one_cart(redis::fresh_storage().await, true).await;
    assert_eq!(retries, 0, "writers of one process take turns");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn through_the_database_driver() {
    let retries = worker_and_clients_share_one_cart(pg::fresh_storage().await, true).await;
    assert_eq!(retries, 0, "writers of one process take turns");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn through_the_cache_driver_racing_without_the_queue() {
    worker_and_clients_share_one_cart(redis::fresh_storage().await, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn through_the_database_driver_racing_without_the_queue() {
    worker_and_clients_share_one_cart(pg::fresh_storage().await, false).await;
}
