//! A background worker and HTTP clients change the same cart at once, through the cache and the
//! database drivers: nothing is lost. Plus the example worker's idle-cart pass.

mod common;

// The example is a binary, not a library: its source is compiled in as a module, `main` unused.
// It compiles `examples/shop.rs` in itself, as `common::shop` does: two copies, on purpose.
#[path = "../examples/worker.rs"]
#[allow(dead_code, clippy::duplicate_mod)]
mod worker;

use std::time::Duration;

use axum::Router;
use axum::routing::post;
use axum_cart::storage::CartStorage;
use axum_cart::{Cart, CartConfig, CartError, CartLayer, CartManager, ItemInput};
use common::requests::serve;
use common::{pg, redis};

async fn add(cart: Cart, axum::Json(item): axum::Json<ItemInput>) -> Result<(), CartError> {
    cart.add_input(item).await.map(|_| ())
}

/// Every request is the same logged-in customer, so all clients share one cart.
async fn worker_and_clients_share_one_cart(storage: impl CartStorage + Clone) {
    let manager = CartManager::new(
        CartConfig::new()
            .with_storage(storage.clone())
            .with_cookie_identifier(axum_cart::CookieConfig::new(cookie::Key::generate()))
            .with_user_resolver(|_: &http::request::Parts| Some("shared".to_owned()))
            .with_max_retries(1_000),
    );
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
                    .json(&serde_json::json!({"id": "web", "name": "Web order", "price": "3.00", "quantity": 1}))
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
                cart.add(axum_cart::CartItem::new(
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
        cart.get("web").unwrap().quantity(),
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
    assert_eq!(version, 200 + 60 + 60, "one version per committed change");

    // The example worker's pass: with a zero idle time every non-empty cart is idle, once.
    assert!(worker::mark_idle(&manager, Duration::ZERO).await.unwrap() >= 1);
    let flagged = manager
        .cart("user:shared", "default")
        .unwrap()
        .contents()
        .await
        .unwrap();
    assert_eq!(flagged.get_metadata("idle"), Some(&serde_json::json!(true)));
    assert_eq!(flagged.get("web").unwrap().quantity(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn through_the_cache_driver() {
    worker_and_clients_share_one_cart(redis::fresh_storage().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn through_the_database_driver() {
    worker_and_clients_share_one_cart(pg::fresh_storage().await).await;
}
