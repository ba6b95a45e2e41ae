//! Every change is applied exactly once, on the real Redis and Postgres servers: parallel first
//! requests after a login merge a guest cart once; a merge whose guest delete failed is finished
//! later without merging again; many writers on one cart, in one process or two, lose no add and
//! get no refusal; a save whose answer the network lost counts once.
//!
//! Needs `REDIS_URL` and `DATABASE_URL` (defaults: the local servers); the multi-process tests
//! need the `shop` example built (`cargo build --all-features --example shop`).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum_cart::storage::{CartKey, CartStorage};
use axum_cart::{CartConfig, CartItem, CartManager, PostgresStorage, RedisStorage};
use common::faulty::Faulty;
use common::process::start_example;
use common::reply_drop::{POSTGRES_READY, ReplyDropProxy};
use common::requests::{Answer, Client, lines};
use common::shop::{app, cookie_config};
use common::{pg, redis, usd};
use http::StatusCode;
use serde_json::{Value, json};
use tower_sessions::MemoryStore;

// ----- helpers -----------------------------------------------------------------------------------

/// The example shop in this process, in cookie mode (guest identifiers in a signed `cart_id`
/// cookie, sessions in memory) on `storage`.
fn shop(storage: impl CartStorage) -> Router {
    app(cookie_config(storage), MemoryStore::default())
}

/// A new visitor who puts `quantity` × `item` in a guest cart; returns the visitor and the
/// guest cart's identifier.
async fn guest_with(app: &Router, item: &str, quantity: i64) -> (Client, String) {
    let mut guest = Client::new(app.clone());
    let view = guest.add(item, quantity).await;
    assert!(
        guest.cookies.contains_key("cart_id"),
        "the guest cart's cookie was set"
    );
    (guest, view["identifier"].as_str().unwrap().to_owned())
}

/// Sends the same request `n` times at once, each on a copy of `browser`'s cookies, each in its
/// own task (real parallelism on a multi-thread runtime).
async fn at_once(
    browser: &Client,
    n: usize,
    method: http::Method,
    uri: &str,
    body: Option<Value>,
) -> Vec<Answer> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (mut browser, method, uri, body) = (
                browser.clone(),
                method.clone(),
                uri.to_owned(),
                body.clone(),
            );
            tokio::spawn(async move { browser.send(method, &uri, body).await })
        })
        .collect();
    let mut answers = Vec::with_capacity(n);
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

/// `(id, quantity)` of every line of the stored cart (empty when there is none).
async fn stored_lines(storage: &impl CartStorage, identifier: &str) -> Vec<(String, u64)> {
    storage
        .load(&CartKey::new(identifier, "default"))
        .await
        .unwrap()
        .map(|cart| {
            cart.value
                .items()
                .iter()
                .map(|item| (item.id().to_owned(), u64::from(item.quantity())))
                .collect()
        })
        .unwrap_or_default()
}

async fn guest_cart_exists(storage: &impl CartStorage, identifier: &str) -> bool {
    storage
        .load(&CartKey::new(identifier, "default"))
        .await
        .unwrap()
        .is_some()
}

fn owned(lines: &[(&str, u64)]) -> Vec<(String, u64)> {
    lines.iter().map(|(id, q)| ((*id).to_owned(), *q)).collect()
}

/// Asserts that every answer is a 200 whose cart holds exactly `expected`.
#[track_caller]
fn assert_all_show(answers: &[Answer], expected: &[(&str, u64)], what: &str) {
    for (n, answer) in answers.iter().enumerate() {
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{what} #{n}: {}",
            answer.text
        );
        assert_eq!(
            lines(&answer.json),
            owned(expected),
            "{what} #{n}: {}",
            answer.text
        );
    }
}

fn user_name() -> String {
    format!("user-{}", uuid::Uuid::new_v4().simple())
}

// ----- 1. parallel logins --------------------------------------------------------------------

/// Logged in once, then the browser's first requests after the login go out together, each
/// carrying the logged-in session and the guest cookie: 4 for a first guest cart, 16 for a
/// second one. Each guest cart's lines land in the user's cart once.
async fn parallel_first_requests_after_login_merge_once(storage: impl CartStorage + Clone) {
    let app = shop(storage.clone());
    // The login itself carries no guest cookie, so it merges nothing: the first requests do.
    let mut login = Client::new(app.clone());
    let user_cart = login
        .post("/login", json!({"user_id": user_name()}))
        .await
        .ok();
    let user = user_cart["identifier"].as_str().unwrap().to_owned();
    assert_eq!(lines(&user_cart), owned(&[]));

    let mut expected = Vec::new();
    for (item, parallel) in [("tee", 4), ("mug", 16)] {
        let (guest, guest_id) = guest_with(&app, item, 2).await;
        let mut browser = guest.clone();
        browser.cookies.extend(login.cookies.clone());
        expected.push((item, 2));
        let answers = at_once(&browser, parallel, http::Method::GET, "/cart", None).await;
        assert_all_show(
            &answers,
            &expected,
            &format!("GET /cart ({parallel} at once)"),
        );
        assert_eq!(stored_lines(&storage, &user).await, owned(&expected));
        assert!(
            !guest_cart_exists(&storage, &guest_id).await,
            "the merged guest cart is deleted"
        );
        // And a later request of that browser merges nothing more.
        assert_eq!(lines(&browser.cart().await), owned(&expected));
    }
    assert_eq!(
        stored_lines(&storage, &user).await,
        owned(&[("tee", 2), ("mug", 2)])
    );
}

/// The same guest posts its login 4 times at once, then another guest 16 times.
async fn parallel_logins_merge_once(storage: impl CartStorage + Clone) {
    let app = shop(storage.clone());
    let name = user_name();
    let mut expected = Vec::new();
    let mut user = String::new();
    for (item, parallel) in [("tee", 4), ("mug", 16)] {
        let (guest, guest_id) = guest_with(&app, item, 2).await;
        expected.push((item, 2));
        let answers = at_once(
            &guest,
            parallel,
            http::Method::POST,
            "/login",
            Some(json!({"user_id": name})),
        )
        .await;
        assert_all_show(
            &answers,
            &expected,
            &format!("POST /login ({parallel} at once)"),
        );
        user = answers[0].json["identifier"].as_str().unwrap().to_owned();
        assert_eq!(stored_lines(&storage, &user).await, owned(&expected));
        assert!(!guest_cart_exists(&storage, &guest_id).await);
    }
    assert_eq!(
        stored_lines(&storage, &user).await,
        owned(&[("tee", 2), ("mug", 2)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_first_requests_after_login_merge_the_guest_cart_once_on_redis() {
    parallel_first_requests_after_login_merge_once(redis::fresh_storage().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_first_requests_after_login_merge_the_guest_cart_once_on_postgres() {
    parallel_first_requests_after_login_merge_once(pg::fresh_storage().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_logins_merge_the_guest_cart_once_on_redis() {
    parallel_logins_merge_once(redis::fresh_storage().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_logins_merge_the_guest_cart_once_on_postgres() {
    parallel_logins_merge_once(pg::fresh_storage().await).await;
}

// ----- 2. a failure between the merge and the guest delete ----------------------------------

/// The merge commits, the guest delete fails: the login still answers the merged cart and the
/// guest cart is kept; the next request finishes the job (deletes the guest cart, forgets the
/// guest cookie) without adding the lines again, and so does a repeated login.
async fn interrupted_merge_is_finished_once<S: CartStorage + Clone>(inner: S) {
    let storage = Faulty::new(inner);
    let app = shop(storage.clone());
    let (mut browser, guest_id) = guest_with(&app, "tee", 2).await;
    let name = user_name();

    storage.fail_next_delete_at(1);
    let first = browser.post("/login", json!({"user_id": name})).await.ok();
    assert_eq!(
        storage.counts.injected(),
        1,
        "the guest delete was attempted and failed"
    );
    assert_eq!(lines(&first), owned(&[("tee", 2)]));
    let user = first["identifier"].as_str().unwrap().to_owned();
    assert!(
        guest_cart_exists(&storage.inner, &guest_id).await,
        "a merge whose delete failed keeps the guest cart"
    );
    assert!(
        browser.cookies.contains_key("cart_id"),
        "and the guest cookie, for another try"
    );

    // The next request carries the session and the guest cookie: it finds the merge recorded.
    let next = browser.cart().await;
    assert_eq!(lines(&next), owned(&[("tee", 2)]));
    assert!(
        !guest_cart_exists(&storage.inner, &guest_id).await,
        "the second attempt deleted the guest cart"
    );
    assert!(
        !browser.cookies.contains_key("cart_id"),
        "and forgot the guest cookie"
    );

    let again = browser.post("/login", json!({"user_id": name})).await.ok();
    assert_eq!(lines(&again), owned(&[("tee", 2)]));
    assert_eq!(
        stored_lines(&storage.inner, &user).await,
        owned(&[("tee", 2)])
    );
    assert_eq!(storage.counts.injected(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_interrupted_before_the_guest_delete_is_finished_later_without_merging_twice_on_redis()
 {
    interrupted_merge_is_finished_once(redis::fresh_storage().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_interrupted_before_the_guest_delete_is_finished_later_without_merging_twice_on_postgres()
 {
    interrupted_merge_is_finished_once(pg::fresh_storage().await).await;
}

// ----- 3. many writers in one process ----------------------------------------------------------

const TASKS: usize = 16;
const ADDS_PER_TASK: usize = 10;

/// What one run of 16 × 10 adds on one cart through one shop saw.
#[derive(Debug)]
struct Run {
    ok: usize,
    conflicts_409: usize,
    other: Vec<(StatusCode, String)>,
    quantity: u64,
    saves: u64,
    save_conflicts: u64,
}

async fn sixteen_writers(storage: impl CartStorage + Clone, write_queue: bool) -> Run {
    let storage = Faulty::new(storage);
    let app = app(
        cookie_config(storage.clone()).with_write_queue(write_queue),
        MemoryStore::default(),
    );
    let mut owner = Client::new(app);
    // Creates the cart and its cookie; every writer then writes this one cart.
    owner
        .put("/cart/metadata/run", json!("contention"))
        .await
        .ok();
    let (saves_before, conflicts_before) = (storage.counts.saves(), storage.counts.conflicts());
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let mut writer = owner.clone();
            tokio::spawn(async move {
                let mut answers = Vec::with_capacity(ADDS_PER_TASK);
                for _ in 0..ADDS_PER_TASK {
                    let answer = writer
                        .post("/cart/items", json!({"id": "pen", "quantity": 1}))
                        .await;
                    answers.push((answer.status, answer.text));
                }
                answers
            })
        })
        .collect();
    let mut run = Run {
        ok: 0,
        conflicts_409: 0,
        other: Vec::new(),
        quantity: 0,
        saves: 0,
        save_conflicts: 0,
    };
    for task in tasks {
        for (status, text) in task.await.unwrap() {
            match status {
                StatusCode::OK => run.ok += 1,
                StatusCode::CONFLICT => run.conflicts_409 += 1,
                _ => run.other.push((status, text)),
            }
        }
    }
    run.saves = storage.counts.saves() - saves_before;
    run.save_conflicts = storage.counts.conflicts() - conflicts_before;
    run.quantity = common::requests::quantity(&owner.cart().await, "pen").unwrap_or(0);
    run
}

/// Write queue off, then on: both lose nothing (the quantity is the number of 200s); with the
/// queue every add succeeds. Prints the 409s and the retried saves of both for comparison.
async fn one_process_contention(driver: &str, storage: impl CartStorage + Clone) {
    for write_queue in [false, true] {
        let run = sixteen_writers(storage.clone(), write_queue).await;
        eprintln!(
            "{driver}, write queue {}: {} x 200, {} x 409, {} saves for {} committed adds \
             ({} retried saves, {} conflicts)",
            if write_queue { "on" } else { "off" },
            run.ok,
            run.conflicts_409,
            run.saves,
            run.ok,
            run.saves.saturating_sub(run.ok as u64),
            run.save_conflicts,
        );
        assert!(
            run.other.is_empty(),
            "{driver}: unexpected answers {:?}",
            run.other
        );
        assert_eq!(
            run.quantity, run.ok as u64,
            "{driver}, write queue {write_queue}: every 200 counted once, nothing else: {run:?}"
        );
        if write_queue {
            assert_eq!(run.ok, TASKS * ADDS_PER_TASK, "{driver}: {run:?}");
            assert_eq!(run.quantity, (TASKS * ADDS_PER_TASK) as u64);
            assert_eq!(
                run.save_conflicts, 0,
                "{driver}: writers in one process take turns"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_writers_in_one_process_all_succeed_and_lose_nothing_on_memory() {
    one_process_contention("memory", axum_cart::MemoryStorage::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_writers_in_one_process_all_succeed_and_lose_nothing_on_redis() {
    one_process_contention("redis", redis::fresh_storage().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_writers_in_one_process_all_succeed_and_lose_nothing_on_postgres() {
    one_process_contention("postgres", pg::fresh_storage().await).await;
}

// ----- 4. many writers in two processes ------------------------------------------------------

const COOKIE_SECRET: &str =
    "exactly-once-test-secret-exactly-once-test-secret-exactly-once-test-secret";
const WRITERS_PER_SHOP: usize = 16;
const ADDS_PER_WRITER: usize = 20;

/// Two shop processes on one store, sharing the guest cookie (one signing secret); 16 writers
/// on each add 1 unit 20 times to one cart. Returns the cart's identifier and the quantity the
/// shops show.
async fn two_shops_hammer(envs: &[(&str, &str)]) -> (String, u64) {
    let mut envs = envs.to_vec();
    envs.extend([
        ("CART_IDENTIFIER", "cookie"),
        ("CART_COOKIE_KEY", COOKIE_SECRET),
        ("CART_COOKIE_SECURE", "false"),
    ]);
    let shops = [start_example("shop", &envs), start_example("shop", &envs)];
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let seed = http
        .put(format!("{}/cart/metadata/run", shops[0].address))
        .json(&json!("two shops"))
        .send()
        .await
        .unwrap();
    assert_eq!(seed.status(), 200);
    let cookie = seed
        .headers()
        .get_all(http::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|pair| pair.starts_with("cart_id="))
        .expect("the first write sets the guest cookie");
    let seeded: Value = seed.json().await.unwrap();
    let identifier = seeded["identifier"].as_str().unwrap().to_owned();

    let mut tasks = Vec::new();
    for shop in &shops {
        for _ in 0..WRITERS_PER_SHOP {
            let (http, cookie, url) = (
                http.clone(),
                cookie.clone(),
                format!("{}/cart/items", shop.address),
            );
            tasks.push(tokio::spawn(async move {
                let mut failed = Vec::new();
                for _ in 0..ADDS_PER_WRITER {
                    let answer = http
                        .post(&url)
                        .header(http::header::COOKIE, &cookie)
                        .json(&json!({"id": "pen", "quantity": 1}))
                        .send()
                        .await
                        .unwrap();
                    let status = answer.status();
                    if status != 200 {
                        failed.push((status.as_u16(), answer.text().await.unwrap_or_default()));
                    }
                }
                failed
            }));
        }
    }
    let mut failed = Vec::new();
    for task in tasks {
        failed.extend(task.await.unwrap());
    }
    let total = 2 * WRITERS_PER_SHOP * ADDS_PER_WRITER;
    let shown: Value = http
        .get(format!("{}/cart", shops[1].address))
        .header(http::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let quantity = common::requests::quantity(&shown, "pen").unwrap_or(0);
    assert!(
        failed.is_empty(),
        "{} of {total} adds failed (quantity {quantity}); first: {:?}",
        failed.len(),
        failed.iter().take(3).collect::<Vec<_>>()
    );
    (identifier, quantity)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shop_processes_with_sixteen_writers_each_lose_no_add_on_redis() {
    let storage = redis::fresh_storage().await;
    let url = redis::url();
    let (identifier, shown) = two_shops_hammer(&[
        ("CART_STORAGE", "cache"),
        ("REDIS_URL", &url),
        ("CART_CACHE_PREFIX", storage.prefix()),
    ])
    .await;
    let expected = (2 * WRITERS_PER_SHOP * ADDS_PER_WRITER) as u64;
    assert_eq!(shown, expected);
    assert_eq!(
        stored_lines(&storage, &identifier).await,
        owned(&[("pen", expected)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shop_processes_with_sixteen_writers_each_lose_no_add_on_postgres() {
    let storage = pg::fresh_storage().await;
    let url = pg::test_database_url().await;
    let (identifier, shown) = two_shops_hammer(&[
        ("CART_STORAGE", "database"),
        ("DATABASE_URL", &url),
        ("CART_DB_TABLE", storage.table()),
    ])
    .await;
    let expected = (2 * WRITERS_PER_SHOP * ADDS_PER_WRITER) as u64;
    assert_eq!(shown, expected);
    assert_eq!(
        stored_lines(&storage, &identifier).await,
        owned(&[("pen", expected)])
    );
}

// ----- 5. writes that start from a server's own recent copy -----------------------------------

/// A change of a request that has not read the cart starts from the copy the server's storage
/// kept of its last read or write of it (`CartStorage::recent`). Two servers (each with its own
/// storage, so its own copies) take turns on one cart: each starts from a copy older than the
/// other's last write, and neither may overwrite the other's change. `reader` reads the stored
/// cart without touching either server's copies.
async fn servers_taking_turns<S: CartStorage + Clone>(driver: &str, servers: [S; 2], reader: S) {
    const TURNS: usize = 12;
    let managers = servers
        .clone()
        .map(|storage| CartManager::new(CartConfig::new().with_storage(storage)));
    let identifier = format!("turns-{}", uuid::Uuid::new_v4().simple());
    let key = CartKey::new(&identifier, "default");
    for turn in 0..TURNS {
        let server = turn % 2;
        if turn >= 2 {
            let kept = servers[server].recent(&key).map(|cart| cart.version);
            let stored = reader.load(&key).await.unwrap().map(|cart| cart.version);
            assert!(
                kept.is_some() && kept < stored,
                "[{driver}] turn {turn}: the server's copy ({kept:?}) is older than the stored \
                 cart ({stored:?}), so this write starts from a stale copy"
            );
        }
        let cart = managers[server].cart(&identifier, "default").unwrap();
        cart.add_priced(one("pen"))
            .await
            .unwrap_or_else(|e| panic!("[{driver}] turn {turn}: {e}"));
    }
    assert_eq!(
        stored_quantity(&reader, &key, "pen").await,
        Some(TURNS as u32),
        "[{driver}] every turn's add is stored once"
    );
}

/// Two servers, eight writers each, adding one unit at a time to one cart, every write of each
/// server starting from that server's copy: a 200 is stored once, and nothing else is.
async fn servers_racing<S: CartStorage + Clone>(driver: &str, servers: [S; 2], reader: S) {
    const WRITERS: usize = 8;
    const ADDS: usize = 10;
    let identifier = format!("racing-{}", uuid::Uuid::new_v4().simple());
    let key = CartKey::new(&identifier, "default");
    let tasks: Vec<_> = servers
        .iter()
        .flat_map(|storage| {
            let manager = CartManager::new(CartConfig::new().with_storage(storage.clone()));
            (0..WRITERS).map(move |_| manager.clone())
        })
        .map(|manager| {
            let identifier = identifier.clone();
            tokio::spawn(async move {
                let mut committed = 0u32;
                for _ in 0..ADDS {
                    let cart = manager.cart(&identifier, "default").unwrap();
                    match cart.add_priced(one("pen")).await {
                        Ok(_) => committed += 1,
                        Err(axum_cart::CartError::Conflict(_)) => {}
                        Err(other) => panic!("unexpected error: {other}"),
                    }
                }
                committed
            })
        })
        .collect();
    let mut committed = 0;
    for task in tasks {
        committed += task.await.unwrap();
    }
    assert!(committed > 0, "[{driver}] some adds committed");
    assert_eq!(
        stored_quantity(&reader, &key, "pen").await,
        Some(committed),
        "[{driver}] {committed} adds answered as committed; the stored quantity counts each once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_writing_from_their_own_stale_copies_lose_nothing_on_redis() {
    let first = redis::fresh_storage().await;
    let second = redis::storage_on(first.prefix()).await;
    let reader = redis::storage_on(first.prefix()).await;
    servers_taking_turns("redis", [first.clone(), second.clone()], reader.clone()).await;
    servers_racing("redis", [first, second], reader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_writing_from_their_own_stale_copies_lose_nothing_on_postgres() {
    let first = pg::fresh_storage().await;
    let second = pg::second_storage(&first, 4).await;
    let reader = pg::second_storage(&first, 2).await;
    servers_taking_turns("postgres", [first.clone(), second.clone()], reader.clone()).await;
    servers_racing("postgres", [first, second], reader).await;
}

// ----- 6. a save whose answer was lost -----------------------------------------------------------

/// `host:port` of a `scheme://[user@]host:port/...` URL.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    rest.split(['/', '?']).next().unwrap()
}

async fn socket_address(url: &str) -> SocketAddr {
    tokio::net::lookup_host(authority(url))
        .await
        .unwrap()
        .next()
        .unwrap()
}

/// `url` with its server replaced by the proxy's.
fn through(url: &str, proxy: &ReplyDropProxy) -> String {
    url.replacen(authority(url), &format!("127.0.0.1:{}", proxy.port), 1)
}

fn one(id: &str) -> CartItem {
    CartItem::new(id, "Thing", usd("1.00"), 1)
}

async fn stored_quantity(storage: &impl CartStorage, key: &CartKey, id: &str) -> Option<u32> {
    storage
        .load(key)
        .await
        .unwrap()
        .and_then(|cart| cart.value.get(id).map(CartItem::quantity))
}

/// Through `proxied` (the driver connected through `proxy`), adds 1 unit three times with the
/// answer of the save lost: an update of an existing line, another one, and the creation of a
/// cart. Each call returns Ok and adds exactly 1, as `direct` (the same store, not proxied) sees.
async fn lost_answers_count_once(
    proxy: &ReplyDropProxy,
    proxied: impl CartStorage,
    direct: &impl CartStorage,
    reply_end: Option<&[u8]>,
) {
    let manager = CartManager::new(CartConfig::new().with_storage(proxied));
    let key = common::guest_key();
    let cart = manager.cart(key.identifier(), key.instance()).unwrap();
    // Creates the cart (and, on Redis, loads the scripts) before any answer is lost.
    cart.add_priced(one("warm-up")).await.unwrap();
    let marker = format!("lost-answer-{}", uuid::Uuid::new_v4().simple());

    for (round, expected) in [(1, 1), (2, 2)] {
        proxy.arm(marker.as_bytes(), reply_end);
        let added = cart.add_priced(one(&marker)).await;
        assert!(added.is_ok(), "round {round}: the add returned {added:?}");
        assert!(
            !proxy.is_armed(),
            "round {round}: the save went through the proxy"
        );
        assert_eq!(
            proxy.dropped(),
            round,
            "round {round}: its answer was dropped"
        );
        assert_eq!(
            stored_quantity(direct, &key, &marker).await,
            Some(expected),
            "round {round}: applied exactly once"
        );
    }

    // A cart created by the save whose answer is lost.
    let created = common::guest_key();
    let cart = manager
        .cart(created.identifier(), created.instance())
        .unwrap();
    let marker = format!("lost-creation-{}", uuid::Uuid::new_v4().simple());
    proxy.arm(marker.as_bytes(), reply_end);
    let added = cart.add_priced(one(&marker)).await;
    assert!(added.is_ok(), "creation: the add returned {added:?}");
    assert_eq!(proxy.dropped(), 3);
    assert_eq!(stored_quantity(direct, &created, &marker).await, Some(1));
    assert_eq!(stored_quantity(direct, &key, "warm-up").await, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_save_whose_answer_was_lost_is_applied_once() {
    let direct = redis::fresh_storage().await;
    let proxy = ReplyDropProxy::start(socket_address(&redis::url()).await).await;
    let proxied = RedisStorage::connect(&through(&redis::url(), &proxy))
        .await
        .unwrap()
        .with_prefix(direct.prefix());
    // fred sends the script again on a new connection; that second run finds the first one's
    // write and must count it as committed.
    lost_answers_count_once(&proxy, proxied, &direct, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_save_whose_answer_was_lost_is_applied_once() {
    let direct = pg::fresh_storage().await;
    let url = pg::test_database_url().await;
    // The server `DATABASE_URL` names (its port defaults to 5432), and the URL through the proxy.
    let target = tokio::net::lookup_host(pg::server_address())
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = ReplyDropProxy::start(target).await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&pg::through_local_port(&url, proxy.port))
        .await
        .unwrap();
    let proxied = PostgresStorage::new(pool)
        .with_table(direct.table())
        .unwrap();
    // sqlx reports the closed connection; modify reloads the cart and finds its write id.
    lost_answers_count_once(&proxy, proxied, &direct, Some(POSTGRES_READY)).await;
}
