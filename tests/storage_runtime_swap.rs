//! Switching the storage at runtime while clients keep sending requests.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::Router;
use axum::routing::{get, post};
use axum_cart::storage::CartStorage;
use axum_cart::{
    AddItem, Cart, CartConfig, CartError, CartLayer, CartManager, CookieConfig, MemoryStorage,
    StorageMode,
};
use common::requests::{browser, serve};
use common::shop::{PRODUCTS, shop_catalog};

async fn add(cart: Cart, axum::Json(item): axum::Json<AddItem>) -> Result<String, CartError> {
    cart.add_product(item).await?;
    Ok(cart.storage().driver().to_owned())
}

async fn count(cart: Cart) -> Result<String, CartError> {
    Ok(cart.contents().await?.count().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swapping_the_driver_under_load_fails_no_request() {
    let old = MemoryStorage::new();
    let new = MemoryStorage::new();
    let manager = CartManager::new(
        CartConfig::new()
            .with_storage(old.clone())
            .with_catalog(shop_catalog())
            .with_cookie_identifier(CookieConfig::new(cookie::Key::generate()).with_secure(false)),
    );
    let app = Router::new()
        .route("/items", post(add))
        .route("/count", get(count))
        .layer(CartLayer::from_manager(manager.clone()));
    let base = serve(app).await;

    let swapped = Arc::new(AtomicBool::new(false));
    let sent_after_swap = Arc::new(AtomicU64::new(0));
    let (started_tx, mut started_rx) = tokio::sync::mpsc::channel::<()>(8);
    let mut clients = Vec::new();
    for client_number in 0..8 {
        let swapped = Arc::clone(&swapped);
        let sent_after_swap = Arc::clone(&sent_after_swap);
        let started = started_tx.clone();
        let base = base.clone();
        clients.push(tokio::spawn(async move {
            let http = browser();
            let mut failures = Vec::new();
            let mut succeeded = 0u64;
            let mut after = 0u64;
            // Each client keeps going until it has sent 20 requests after the swap.
            for request in 0u64.. {
                let swapped_before = swapped.load(Ordering::SeqCst);
                let response = http
                    .post(format!("{base}/items"))
                    .json(&serde_json::json!({
                        "id": PRODUCTS[client_number % PRODUCTS.len()].0, "quantity": 1
                    }))
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let body = response.text().await.unwrap();
                if status.is_success() {
                    succeeded += 1;
                } else {
                    failures.push(format!("{status} {body}"));
                }
                if request == 0 {
                    started.send(()).await.unwrap();
                }
                if swapped_before {
                    after += 1;
                    sent_after_swap.fetch_add(1, Ordering::SeqCst);
                    if after == 20 {
                        break;
                    }
                }
            }
            (succeeded, failures)
        }));
    }
    drop(started_tx);
    // Swap once every client has had a request answered, so the swap lands mid-traffic.
    for _ in 0..8 {
        started_rx.recv().await.unwrap();
    }
    let before_swap = old.len();
    manager.swap_storage(StorageMode::Shared(Arc::new(new.clone())));
    swapped.store(true, Ordering::SeqCst);

    let mut failures = Vec::new();
    let mut succeeded = 0;
    for client in clients {
        let (client_succeeded, client_failures) = client.await.unwrap();
        succeeded += client_succeeded;
        failures.extend(client_failures);
    }
    assert!(
        failures.is_empty(),
        "requests failed across the swap: {failures:?}"
    );
    // Each client had a request answered before the swap: one cart each in the old driver.
    assert_eq!(
        before_swap, 8,
        "each of the 8 clients has a cart in the old driver"
    );
    assert_eq!(sent_after_swap.load(Ordering::SeqCst), 160);
    // Every client's cart exists in the new driver: requests after the switch wrote there.
    assert_eq!(
        new.len(),
        8,
        "each of the 8 clients has a cart in the new driver"
    );
    // Each successful request added exactly one unit, to the driver in place when it ran: the
    // units in both drivers together are the successful requests, so a unit lost (or doubled) in
    // the swap shows here.
    let in_old = units(&old).await;
    let in_new = units(&new).await;
    assert_eq!(
        in_old + in_new,
        succeeded,
        "{in_old} units in the old driver and {in_new} in the new one for {succeeded} successful adds"
    );
    // Requests sent after the swap flag was set all landed in the new driver. Those sent before
    // may land in either (in flight at the swap, or sent between the swap and the flag), so the
    // new driver's share has only this lower bound; the sum above is exact.
    assert!(
        in_new >= 160,
        "the new driver holds {in_new} units, expected at least the 160 sent after the swap"
    );
}

/// The units (item quantities) of every cart in `storage`.
async fn units(storage: &MemoryStorage) -> u64 {
    let mut units = 0;
    let mut cursor = None;
    loop {
        let page = storage.scan(cursor, 100).await.unwrap();
        for key in &page.keys {
            units += storage.load(key).await.unwrap().unwrap().value.count();
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return units,
        }
    }
}
