//! Concurrent writers on one cart lose nothing, and a writer that can never win gives up with a
//! 409 that says why, after exactly its retry budget.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum_cart::{CartConfig, CartEventKind, CartItem, CartManager, Currency, MemoryStorage, Money};
use common::counting::CountingStorage;
use common::events::{recording, take};
use common::requests::{Client, browser, lines, quantity, serve};
use common::shop::cookie_config;
use http::StatusCode;
use serde_json::{Value, json};
use tower_sessions::MemoryStore;

const TASKS: u64 = 32;
const ADDS_PER_TASK: u64 = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_tasks_adding_to_one_cart_lose_nothing() {
    let storage = CountingStorage::yielding();
    let (config, events) = recording(
        CartConfig::new()
            .with_shared_storage(Arc::new(storage.clone()))
            .with_max_retries(10_000),
    );
    let manager = CartManager::new(config);
    let price = Money::parse("1.25", Currency::USD).unwrap();

    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let manager = manager.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..ADDS_PER_TASK {
                // A fresh handle per change, as separate requests or workers would have.
                let cart = manager.cart("user:busy", "default").unwrap();
                cart.add(CartItem::new("sku", "Widget", price, 1))
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    let cart = manager.cart("user:busy", "default").unwrap();
    let expected = TASKS * ADDS_PER_TASK;
    assert_eq!(
        cart.get("sku").await.unwrap().unwrap().quantity() as u64,
        expected
    );
    assert_eq!(
        cart.version().await.unwrap(),
        expected,
        "one version per change"
    );
    assert_eq!(cart.totals().await.unwrap().total.to_string(), "1000.00");

    let conflicts = storage.calls.conflicts();
    let saves = storage.calls.save();
    println!(
        "{TASKS} tasks x {ADDS_PER_TASK} adds: {saves} saves, {conflicts} conflicts retried, {} loads",
        storage.calls.load()
    );
    assert_eq!(
        saves,
        expected + conflicts,
        "every save either committed or conflicted"
    );

    // Every committed change told the listeners exactly once; the cart was created once.
    let got = take(&events);
    let created = got
        .iter()
        .filter(|e| e.kind == CartEventKind::Created)
        .count();
    let added = got
        .iter()
        .filter(|e| matches!(e.kind, CartEventKind::ItemAdded { .. }))
        .count() as u64;
    assert_eq!(created, 1);
    assert_eq!(added, expected);
    let mut versions: Vec<u64> = got
        .iter()
        .filter(|e| matches!(e.kind, CartEventKind::ItemAdded { .. }))
        .map(|e| e.version)
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=expected).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_http_requests_of_one_visitor_lose_nothing_with_a_shared_driver() {
    let storage = MemoryStorage::new();
    let config = cookie_config(storage.clone()).with_max_retries(10_000);
    let base = serve(common::shop::app(config, MemoryStore::default())).await;
    let client = browser();
    // The first request makes the cart and its cookie; then many requests at once.
    let view: Value = client
        .post(format!("{base}/cart/items"))
        .json(&json!({"id": "sku", "name": "Widget", "price": "2.00", "quantity": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["version"], 1);

    let mut tasks = Vec::new();
    for _ in 0..16 {
        let client = client.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                let response = client
                    .patch(format!("{base}/cart/items/sku"))
                    .json(&json!({"delta": 1}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), reqwest::StatusCode::OK);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let view: Value = client
        .get(format!("{base}/cart"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(quantity(&view, "sku"), Some(81));
    assert_eq!(view["version"], 81);
    assert_eq!(storage.len(), 1, "one cart, one identifier");
}

#[tokio::test]
async fn a_write_that_always_loses_answers_409_after_exactly_its_retries() {
    const MAX_RETRIES: u32 = 3;
    let storage = CountingStorage::new();
    let (config, events) = recording(
        CartConfig::new()
            .with_shared_storage(Arc::new(storage.clone()))
            .with_max_retries(MAX_RETRIES),
    );
    let mut client = Client::new(common::shop::app(config, MemoryStore::default()));

    // An existing cart at version 1.
    let view = client.add("a", "1.00", 1).await;
    let identifier = view["identifier"].as_str().unwrap().to_owned();
    take(&events);

    storage.always_conflict.store(true, Ordering::SeqCst);
    let saves = storage.calls.save();
    let body = client
        .post(
            "/cart/items",
            json!({"id": "b", "name": "B", "price": "1.00", "quantity": 1}),
        )
        .await
        .error(StatusCode::CONFLICT);
    assert_eq!(
        storage.calls.save() - saves,
        u64::from(MAX_RETRIES) + 1,
        "one attempt and {MAX_RETRIES} retries"
    );
    assert_eq!(body["error"], "conflict");
    assert_eq!(body["attempted_version"], 1);
    assert_eq!(body["current_version"], 2);
    assert_eq!(body["version_difference"], 1);
    assert_eq!(body["minor"], true);
    assert_eq!(body["identifier"], identifier.as_str());
    assert_eq!(body["instance"], "default");
    assert_eq!(body["retries"], MAX_RETRIES);
    assert!(body["message"].as_str().unwrap().contains("concurrently"));
    assert!(take(&events).is_empty(), "nothing committed, nothing told");

    // A new cart (no version yet) fails the same way.
    let saves = storage.calls.save();
    let body = client
        .post(
            "/cart/items?instance=other",
            json!({"id": "b", "name": "B", "price": "1.00"}),
        )
        .await
        .error(StatusCode::CONFLICT);
    assert_eq!(storage.calls.save() - saves, u64::from(MAX_RETRIES) + 1);
    assert_eq!(body["attempted_version"], 0);
    assert_eq!(body["current_version"], 1);
    assert_eq!(body["instance"], "other");

    // Nothing was written; once the storage behaves, the cart works again.
    storage.always_conflict.store(false, Ordering::SeqCst);
    let view = client.cart().await;
    assert_eq!(lines(&view), [("a".into(), 1)]);
    assert_eq!(view["version"], 1);
    let view = client.add("b", "1.00", 1).await;
    assert_eq!(view["version"], 2);
}

#[tokio::test]
async fn a_new_visitor_losing_every_write_stores_nothing() {
    const MAX_RETRIES: u32 = 0;
    let storage = CountingStorage::new();
    storage.always_conflict.store(true, Ordering::SeqCst);
    for config in [
        CartConfig::new().with_shared_storage(Arc::new(storage.clone())),
        cookie_config(storage.clone()),
    ] {
        let config = config.with_max_retries(MAX_RETRIES);
        let mut client = Client::new(common::shop::app(config, MemoryStore::default()));
        let saves = storage.calls.save();
        let answer = client
            .post(
                "/cart/items",
                json!({"id": "b", "name": "B", "price": "1.00"}),
            )
            .await;
        assert!(
            answer.set_cookies().is_empty(),
            "{:?}",
            answer.set_cookies()
        );
        let body = answer.error(StatusCode::CONFLICT);
        assert_eq!(
            storage.calls.save() - saves,
            1,
            "no retry with a budget of 0"
        );
        assert_eq!(body["version_difference"], 1);
        assert_eq!(body["attempted_version"], 0);
        assert!(storage.inner.is_empty());
    }
}
