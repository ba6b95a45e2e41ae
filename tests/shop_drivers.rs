//! The example shop on the cache and database drivers, as separate processes: two shops sharing
//! one Redis, and outages of Redis and Postgres seen through HTTP.

mod common;

use std::time::{Duration, Instant};

use common::process::start_example;
use common::proxy::Proxy;
use common::{pg, redis};
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn add(client: &reqwest::Client, shop: &str, id: &str) -> reqwest::Response {
    client
        .post(format!("{shop}/cart/items"))
        .json(&json!({"id": id, "quantity": 2}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn two_shops_share_carts_through_one_redis() {
    let prefix = format!("shop-test-{}", uuid::Uuid::new_v4().simple());
    let envs = [
        ("CART_STORAGE", "cache"),
        ("REDIS_URL", &redis::url()),
        ("CART_CACHE_PREFIX", &prefix),
    ];
    let first = start_example("shop", &envs);
    let second = start_example("shop", &envs);
    let shopper = client();
    let written: Value = add(&shopper, &first.address, "tee")
        .await
        .json()
        .await
        .unwrap();
    // The session cookie from the first shop opens the same session and cart on the second.
    let read: Value = shopper
        .get(format!("{}/cart", second.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["identifier"], written["identifier"]);
    assert_eq!(read["items"][0]["id"], "tee");
    // Two tees at the catalogue's 19.90.
    assert_eq!(read["total"], "39.80");
    assert_eq!(read["version"], written["version"]);
    // And changes made through the second are seen by the first.
    add(&shopper, &second.address, "mug").await;
    let again: Value = shopper
        .get(format!("{}/cart", first.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["lines"], 2);
    assert_eq!(
        again["version"],
        written["version"].as_u64().unwrap() + 1,
        "one write through each shop"
    );
}

async fn expect_unavailable_then_recovery(
    shop: &str,
    shopper: &reqwest::Client,
    freeze: impl FnOnce(),
    thaw: impl FnOnce(),
) {
    assert_eq!(add(shopper, shop, "tee").await.status(), 200);
    freeze();
    let started = Instant::now();
    let response = shopper.get(format!("{shop}/cart")).send().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(
        response.status(),
        503,
        "a cart route answers 503 while the store is away"
    );
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].is_string() && body["message"].is_string(),
        "{body}"
    );
    println!("store down: 503 after {elapsed:?}: {}", body["message"]);
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");
    let health = shopper.get(format!("{shop}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200, "routes without Cart keep answering");
    thaw();
    // Bounded wait for the pool to reconnect; the same process serves carts again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let cart: Value = loop {
        let response = shopper.get(format!("{shop}/cart")).send().await.unwrap();
        if response.status() == 200 {
            break response.json().await.unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "no recovery: {}",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        cart["items"][0]["id"], "tee",
        "nothing stored was lost: {cart}"
    );
    assert_eq!(cart["items"][0]["quantity"], 2);
}

#[tokio::test]
async fn a_redis_outage_gives_503_and_the_shop_recovers() {
    let server = redis::OwnRedis::start();
    let shop = start_example(
        "shop",
        &[("CART_STORAGE", "cache"), ("REDIS_URL", &server.url())],
    );
    expect_unavailable_then_recovery(
        &shop.address,
        &client(),
        || server.signal("-STOP"),
        || server.signal("-CONT"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_gives_503_and_the_shop_recovers() {
    let mut proxy = Proxy::start_on(0).await;
    let port = proxy.port;
    let url = pg::server_url().replace(":5432/", &format!(":{port}/"));
    let shop = start_example(
        "shop",
        &[("CART_STORAGE", "database"), ("DATABASE_URL", &url)],
    );
    let shopper = client();
    let restarted = std::sync::Arc::new(std::sync::Mutex::new(None));
    let keep = std::sync::Arc::clone(&restarted);
    let runtime = tokio::runtime::Handle::current();
    expect_unavailable_then_recovery(
        &shop.address,
        &shopper,
        || proxy.stop(),
        move || {
            let proxy = std::thread::spawn(move || runtime.block_on(Proxy::start_on(port)))
                .join()
                .unwrap();
            *keep.lock().unwrap() = Some(proxy);
        },
    )
    .await;
    drop(restarted);
}
