//! Concurrent writers on one cart lose nothing: in one process they queue and never conflict,
//! and with the queue turned off they race and still lose nothing. A writer that can never win
//! gives up with a 409 that says why, once its retry budget is spent.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum_cart::{CartConfig, CartEventKind, CartItem, CartManager, Currency, Money};
use common::counting::CountingStorage;
use common::events::{recording, take};
use common::requests::{Client, browser, lines, quantity, serve};
use common::shop::cookie_config;
use http::StatusCode;
use serde_json::{Value, json};
use tower_sessions::MemoryStore;

const TASKS: u64 = 32;
const ADDS_PER_TASK: u64 = 25;

/// Far longer than any run needs: a racing writer never gives up, so the counts prove nothing
/// was lost rather than that nothing failed.
const NEVER_GIVE_UP: Duration = Duration::from_secs(120);

/// 32 tasks adding 25 units each to one cart through one manager, all starting at once; the
/// storage yields between each read and its return, so writers that do not queue interleave
/// between their read and their write. Returns the conflicts retried.
async fn thirty_two_tasks_adding_to_one_cart(write_queue: bool) -> u64 {
    let storage = CountingStorage::yielding();
    let (config, events) = recording(
        CartConfig::new()
            .with_shared_storage(Arc::new(storage.clone()))
            .with_retry_budget(NEVER_GIVE_UP)
            .with_write_queue(write_queue),
    );
    let manager = CartManager::new(config);
    let price = Money::parse("1.25", Currency::USD).unwrap();
    let start = Arc::new(tokio::sync::Barrier::new(TASKS as usize));

    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (manager, start) = (manager.clone(), Arc::clone(&start));
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            for _ in 0..ADDS_PER_TASK {
                // A fresh handle per change, as separate requests or workers would have.
                let cart = manager.cart("user:busy", "default").unwrap();
                cart.add_priced(CartItem::new("sku", "Widget", price, 1))
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
    assert_eq!(cart.totals().await.unwrap().total.to_string(), "1000.00");

    let conflicts = storage.calls.conflicts();
    let saves = storage.calls.save();
    println!(
        "queue {write_queue}: {TASKS} tasks x {ADDS_PER_TASK} adds: {saves} saves, \
         {conflicts} conflicts retried, {} loads",
        storage.calls.load()
    );
    assert_eq!(
        saves,
        expected + conflicts,
        "every save either committed or conflicted"
    );

    // Every committed change told the listeners exactly once; the cart was created once, and
    // each change took the next version after the one that created the cart.
    let got = take(&events);
    let created: Vec<u64> = got
        .iter()
        .filter(|e| e.kind == CartEventKind::Created)
        .map(|e| e.version)
        .collect();
    assert_eq!(created.len(), 1, "{created:?}");
    let first = created[0];
    let mut versions: Vec<u64> = got
        .iter()
        .filter(|e| matches!(e.kind, CartEventKind::ItemAdded { .. }))
        .map(|e| e.version)
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (first..first + expected).collect::<Vec<_>>());
    assert_eq!(
        cart.version().await.unwrap(),
        first + expected - 1,
        "one version per change"
    );
    conflicts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_tasks_adding_to_one_cart_queue_and_never_conflict() {
    let conflicts = thirty_two_tasks_adding_to_one_cart(true).await;
    assert_eq!(conflicts, 0, "writers of one process take turns");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_tasks_racing_without_the_queue_lose_nothing() {
    let conflicts = thirty_two_tasks_adding_to_one_cart(false).await;
    assert!(conflicts > 0, "the writers raced: {conflicts} conflicts");
}

/// One visitor's first request makes the cart and its cookie; then 16 clients send 5 requests
/// each at once. Returns the conflicts retried.
async fn parallel_http_requests_of_one_visitor(write_queue: bool) -> u64 {
    let storage = CountingStorage::yielding();
    let config = cookie_config(storage.clone())
        .with_retry_budget(NEVER_GIVE_UP)
        .with_write_queue(write_queue);
    let base = serve(common::shop::app(config, MemoryStore::default())).await;
    let client = browser();
    let view: Value = client
        .post(format!("{base}/cart/items"))
        .json(&json!({"id": "tee", "quantity": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = view["version"].as_u64().unwrap();

    let mut tasks = Vec::new();
    for _ in 0..16 {
        let client = client.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                let response = client
                    .patch(format!("{base}/cart/items/tee"))
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
    assert_eq!(quantity(&view, "tee"), Some(81));
    assert_eq!(view["version"], first + 80, "one version per change");
    assert_eq!(storage.inner.len(), 1, "one cart, one identifier");
    let conflicts = storage.calls.conflicts();
    println!("queue {write_queue}: 81 changes over HTTP, {conflicts} conflicts retried");
    assert_eq!(
        storage.calls.save(),
        81 + conflicts,
        "every save either committed or conflicted"
    );
    conflicts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_http_requests_of_one_visitor_queue_and_never_conflict() {
    let conflicts = parallel_http_requests_of_one_visitor(true).await;
    assert_eq!(conflicts, 0, "requests of one process take turns");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_http_requests_of_one_visitor_racing_without_the_queue_lose_nothing() {
    parallel_http_requests_of_one_visitor(false).await;
}

#[tokio::test]
async fn a_write_that_always_loses_answers_409_once_its_budget_is_spent() {
    const BUDGET: Duration = Duration::from_millis(50);
    let storage = CountingStorage::new();
    let (config, events) = recording(
        CartConfig::new()
            .with_shared_storage(Arc::new(storage.clone()))
            .with_retry_budget(BUDGET),
    );
    let mut client = Client::new(common::shop::app(config, MemoryStore::default()));

    // An existing cart.
    let view = client.add("mug", 1).await;
    let identifier = view["identifier"].as_str().unwrap().to_owned();
    let first = view["version"].as_u64().unwrap();
    take(&events);

    storage.always_conflict.store(true, Ordering::SeqCst);
    let saves = storage.calls.save();
    let started = Instant::now();
    let body = client
        .post("/cart/items", json!({"id": "cap", "quantity": 1}))
        .await
        .error(StatusCode::CONFLICT);
    assert!(
        started.elapsed() >= BUDGET,
        "gave up after {:?}, before its budget",
        started.elapsed()
    );
    let attempts = storage.calls.save() - saves;
    assert!(attempts >= 2, "it retried within its budget: {attempts}");
    assert_eq!(body["error"], "conflict");
    assert_eq!(body["attempted_version"], first);
    assert_eq!(body["current_version"], first + 1);
    assert_eq!(body["identifier"], identifier.as_str());
    assert_eq!(body["instance"], "default");
    assert_eq!(body["status"], 409);
    assert!(body["detail"].as_str().unwrap().contains("concurrently"));
    for tuning in ["retries", "minor", "version_difference", "suggestions"] {
        assert!(
            body.get(tuning).is_none(),
            "no server tuning in a 409 body: {body}"
        );
    }
    assert!(take(&events).is_empty(), "nothing committed, nothing told");

    // A new cart (no version yet) fails the same way.
    let saves = storage.calls.save();
    let started = Instant::now();
    let body = client
        .post("/cart/items?instance=other", json!({"id": "cap"}))
        .await
        .error(StatusCode::CONFLICT);
    assert!(started.elapsed() >= BUDGET);
    let attempts = storage.calls.save() - saves;
    assert!(attempts >= 2, "it retried within its budget: {attempts}");
    assert_eq!(body["attempted_version"], 0);
    assert_eq!(body["current_version"], 1);
    assert_eq!(body["instance"], "other");
    assert!(take(&events).is_empty(), "nothing committed, nothing told");

    // Nothing was written; once the storage behaves, the cart works again.
    storage.always_conflict.store(false, Ordering::SeqCst);
    assert_eq!(storage.inner.len(), 1, "no cart for the other instance");
    let view = client.cart().await;
    assert_eq!(lines(&view), [("mug".into(), 1)]);
    assert_eq!(view["version"], first);
    let view = client.add("cap", 1).await;
    assert_eq!(view["version"], first + 1);
}

#[tokio::test]
async fn a_new_visitor_losing_every_write_with_no_budget_tries_once_and_stores_nothing() {
    let storage = CountingStorage::new();
    storage.always_conflict.store(true, Ordering::SeqCst);
    for config in [
        CartConfig::new().with_shared_storage(Arc::new(storage.clone())),
        cookie_config(storage.clone()),
    ] {
        let config = config.with_retry_budget(Duration::ZERO);
        let mut client = Client::new(common::shop::app(config, MemoryStore::default()));
        let saves = storage.calls.save();
        let answer = client.post("/cart/items", json!({"id": "cap"})).await;
        assert!(
            answer.set_cookies().is_empty(),
            "{:?}",
            answer.set_cookies()
        );
        let body = answer.error(StatusCode::CONFLICT);
        assert_eq!(
            storage.calls.save() - saves,
            1,
            "exactly one attempt with a budget of 0"
        );
        assert_eq!(body["current_version"], 1);
        assert_eq!(body["attempted_version"], 0);
        assert!(storage.inner.is_empty());
    }
}
