//! The example shop on the cache and database drivers, as separate processes: two shops sharing
//! one Redis or one Redis Cluster, and outages of Redis and Postgres seen through HTTP (503 problem details without
//! the driver's text, and a `request_id` the log line has too).

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::process::{self, Running, start_example};
use common::proxy::Proxy;
use common::{cluster, pg, redis};
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
    two_shops_share_carts(&redis::url()).await;
}

/// The same on a Redis Cluster: sessions (tower-sessions-redis-store) and carts on the shop's one
/// cluster pool.
#[tokio::test]
async fn two_shops_share_carts_through_one_redis_cluster() {
    two_shops_share_carts(&cluster::url()).await;
}

async fn two_shops_share_carts(url: &str) {
    let prefix = format!("shop-test-{}", uuid::Uuid::new_v4().simple());
    let envs = [
        ("CART_STORAGE", "cache"),
        ("REDIS_URL", url),
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

/// The cart store goes away: a cart route answers a 503 problem within 15 s whose body holds none
/// of the driver's text (`driver_text`: distinctive words of the driver's error) and whose
/// `request_id` is in the shop's log line with the real error; then the store comes back and the
/// same process serves the cart as it was.
async fn expect_unavailable_then_recovery(
    running: &Running,
    shopper: &reqwest::Client,
    driver_text: &[&str],
    freeze: impl Future<Output = ()>,
    thaw: impl Future<Output = ()>,
) {
    let shop = running.address.as_str();
    assert_eq!(add(shopper, shop, "tee").await.status(), 200);
    freeze.await;
    let started = Instant::now();
    let response = shopper.get(format!("{shop}/cart")).send().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(
        response.status(),
        503,
        "a cart route answers 503 while the store is away"
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["status"], 503, "{body}");
    assert_eq!(body["error"], "storage_unavailable", "{body}");
    assert_eq!(body["detail"], "the cart store is unavailable", "{body}");
    let lower = text.to_ascii_lowercase();
    for word in driver_text {
        assert!(!lower.contains(word), "`{word}` reached the client: {text}");
    }
    let request_id = body["request_id"].as_str().expect("a request_id");
    assert!(!request_id.is_empty(), "{body}");
    let line = running
        .wait_for_log(request_id, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no log line with {request_id}: {:?}", running.log()));
    assert!(line.contains("ERROR"), "{line}");
    let logged = line.to_ascii_lowercase();
    assert!(
        driver_text.iter().any(|word| logged.contains(word)),
        "the log line has the real error: {line}"
    );
    println!("store down: 503 after {elapsed:?}: {text}\nlog: {line}");
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");
    let health = shopper.get(format!("{shop}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200, "routes without Cart keep answering");
    thaw.await;
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

/// Words of the errors a frozen Redis gives (fred: "Timeout Error: Request timed out.").
const REDIS_TEXT: &[&str] = &["timed out", "timeout error", "redis"];
/// Words of the errors an unreachable Postgres gives (sqlx: "pool timed out while waiting for an
/// open connection", "error communicating with database: Connection refused").
const POSTGRES_TEXT: &[&str] = &[
    "timed out",
    "connection refused",
    "pool",
    "communicating",
    "postgres",
];

#[tokio::test]
async fn a_redis_outage_gives_503_and_the_shop_recovers() {
    let server = redis::OwnRedis::start();
    let shop = start_example(
        "shop",
        &[("CART_STORAGE", "cache"), ("REDIS_URL", &server.url())],
    );
    expect_unavailable_then_recovery(
        &shop,
        &client(),
        REDIS_TEXT,
        async { process::signal(server.pid(), "STOP") },
        async { process::signal(server.pid(), "CONT") },
    )
    .await;
}

/// The shop runs on a table of its own in the per-run test database (`pg::fresh_storage`), reached
/// through a proxy; the outage is the proxy stopping, which returns once every connection of the
/// shop's pool through it is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_gives_503_and_the_shop_recovers() {
    // A table other than `carts`: the shop does not migrate, and no other test sees its rows.
    let table = pg::fresh_storage().await.table().to_owned();
    let mut proxy = Proxy::start_on(0).await;
    let port = proxy.port;
    let url = pg::through_local_port(&pg::test_database_url().await, port);
    let shop = start_example(
        "shop",
        &[
            ("CART_STORAGE", "database"),
            ("DATABASE_URL", &url),
            ("CART_DB_TABLE", &table),
        ],
    );
    let mut restarted = None;
    expect_unavailable_then_recovery(&shop, &client(), POSTGRES_TEXT, proxy.stop(), async {
        restarted = Some(Proxy::start_on(port).await)
    })
    .await;
    drop(restarted);
}
