//! The HTTP protocol of the example shop (DESIGN.md sections 6 and 8), over HTTP on every driver
//! (session, memory, Redis, a Redis Cluster, Postgres): a cart answer's `ETag` changes with each
//! change and a matching `If-None-Match` answers 304; a stale `If-Match` answers 412 and changes
//! nothing; one `Idempotency-Key` sent 5 times, in a row or at once, changes the cart once and
//! answers the same body, with `Idempotent-Replayed: true` on all but the first; the key with
//! another body answers 422; every error class answers problem details with its code. (On the
//! session driver, requests of one session sent at once cannot see each other's keys: the cart
//! still changes once, but more than one answer may lack the replay header; see the test.) And
//! two shop processes on one Redis, one Redis Cluster or one Postgres apply a key once between
//! them.
//!
//! Needs `REDIS_URL`, `REDIS_CLUSTER_URL` and `DATABASE_URL` (./scripts/test sets them); the
//! two-process tests need the `shop` example built (`cargo build --all-features --example shop`).

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_cart::storage::CartStorage;
use axum_cart::{CartConfig, MemoryStorage};
use common::process::start_example;
use common::requests::{Answer, Client, assert_json_error, quantity, serve};
use common::shop::shop_with;
use common::{cluster, pg, redis};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const ETAG: &str = "etag";
const IF_MATCH: &str = "if-match";
const IF_NONE_MATCH: &str = "if-none-match";
const KEY: &str = "idempotency-key";
const REPLAYED: &str = "idempotent-replayed";

/// The configuration of each driver the shop runs on, guest identifiers in the session.
async fn configs() -> Vec<(&'static str, CartConfig)> {
    let shared = |storage: Arc<dyn CartStorage>| CartConfig::new().with_shared_storage(storage);
    vec![
        ("session", CartConfig::new()),
        ("memory", shared(Arc::new(MemoryStorage::new()))),
        ("redis", shared(Arc::new(redis::fresh_storage().await))),
        (
            "redis-cluster",
            shared(Arc::new(cluster::fresh_storage().await)),
        ),
        ("postgres", shared(Arc::new(pg::fresh_storage().await))),
    ]
}

/// The shop (with the admin token) on every driver.
async fn shops() -> Vec<(&'static str, Router)> {
    configs()
        .await
        .into_iter()
        .map(|(driver, config)| (driver, shop_with(config).0))
        .collect()
}

fn new_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The `ETag` of an answer, asserting it is there and strong.
#[track_caller]
fn etag(answer: &Answer) -> String {
    let tag = answer
        .header(ETAG)
        .unwrap_or_else(|| panic!("no ETag: {:?}", answer.headers))
        .to_owned();
    assert!(
        tag.starts_with('"') && tag.ends_with('"') && tag.len() > 2,
        "a strong entity tag: {tag}"
    );
    tag
}

/// A 200 cart answer: its `ETag`, `Cache-Control: no-store` and `Vary: Cookie`; returns the
/// tag and the view.
#[track_caller]
fn cart_answer(driver: &str, answer: Answer) -> (String, Value) {
    assert_eq!(answer.status, StatusCode::OK, "{driver}: {}", answer.text);
    assert_cache_headers(driver, &answer);
    (etag(&answer), answer.json)
}

#[track_caller]
fn assert_cache_headers(driver: &str, answer: &Answer) {
    assert_eq!(answer.header("cache-control"), Some("no-store"), "{driver}");
    let vary: Vec<String> = answer
        .headers
        .get_all("vary")
        .iter()
        .flat_map(|v| {
            v.to_str()
                .unwrap()
                .split(',')
                .map(|s| s.trim().to_ascii_lowercase())
        })
        .collect();
    assert!(
        vary.iter().any(|v| v == "cookie"),
        "{driver}: Vary {vary:?}"
    );
}

// ----- ETag and If-None-Match ------------------------------------------------------------------

#[tokio::test]
async fn the_etag_changes_with_each_change_and_a_match_answers_304() {
    for (driver, app) in shops().await {
        let mut client = Client::new(app);
        client.add("mug", 1).await;
        let (first, view) = cart_answer(driver, client.get("/cart").await);
        // Reading again changes nothing: the same tag.
        let (again, same) = cart_answer(driver, client.get("/cart").await);
        assert_eq!(again, first, "{driver}");
        assert_eq!(same, view, "{driver}");

        // Each change answers a new tag, and a read then answers that tag.
        let mut seen = BTreeSet::from([first.clone()]);
        let changes: Vec<(Method, &str, Option<Value>)> = vec![
            (
                Method::POST,
                "/cart/items",
                Some(json!({"id": "tee", "quantity": 2})),
            ),
            (
                Method::PATCH,
                "/cart/items/tee",
                Some(json!({"quantity": 3})),
            ),
            (Method::POST, "/cart/codes", Some(json!({"code": "SAVE10"}))),
            (Method::PUT, "/cart/metadata/gift", Some(json!(true))),
            (Method::DELETE, "/cart/codes/SAVE10", None),
            (Method::DELETE, "/cart/items/mug", None),
            // Clearing deletes the stored cart, and the next change starts a new one: neither
            // may answer a tag an earlier state of this cart had.
            (Method::DELETE, "/cart", None),
            (
                Method::POST,
                "/cart/items",
                Some(json!({"id": "tee", "quantity": 1})),
            ),
        ];
        let mut last = view["version"].as_u64().unwrap();
        for (method, uri, body) in changes {
            let label = format!("{driver}: {method} {uri}");
            let clear = method == Method::DELETE && uri == "/cart";
            let (tag, changed) = cart_answer(&label, client.send(method, uri, body).await);
            if clear {
                assert_eq!(changed["count"], 0, "{label}");
            } else if last != 0 {
                assert_eq!(changed["version"], last + 1, "{label}");
            }
            last = changed["version"].as_u64().unwrap();
            assert!(
                seen.insert(tag.clone()),
                "{label}: a tag seen before: {tag}"
            );
            let (read, _) = cart_answer(&label, client.get("/cart").await);
            assert_eq!(read, tag, "{label}");
        }

        // A matching If-None-Match: 304 without a body, with the tag.
        let (current, _) = cart_answer(driver, client.get("/cart").await);
        for matching in [current.clone(), format!("\"nope\", {current}"), "*".into()] {
            let answer = client
                .send_headers(&[(IF_NONE_MATCH, &matching)], Method::GET, "/cart", None)
                .await;
            assert_eq!(
                answer.status,
                StatusCode::NOT_MODIFIED,
                "{driver}: {matching}"
            );
            assert_eq!(answer.text, "", "{driver}: 304 has no body");
            assert_eq!(answer.header(ETAG), Some(current.as_str()), "{driver}");
        }
        // An admin reading the cart by identifier sees the tag its visitor sees.
        if driver != "session" {
            let identifier = client.cart().await["identifier"]
                .as_str()
                .unwrap()
                .to_owned();
            let admin = client
                .trusted(Method::GET, &format!("/admin/carts/{identifier}"), None)
                .await;
            assert_eq!(admin.status, StatusCode::OK, "{driver}: {}", admin.text);
            assert_eq!(admin.header(ETAG), Some(current.as_str()), "{driver}");
            assert_eq!(admin.header("cache-control"), Some("no-store"), "{driver}");
        }
        // A tag from before the last change: the whole view.
        let answer = client
            .send_headers(&[(IF_NONE_MATCH, &first)], Method::GET, "/cart", None)
            .await;
        let (tag, view) = cart_answer(driver, answer);
        assert_eq!(tag, current, "{driver}");
        assert_eq!(view["version"], last, "{driver}");

        // Another instance of the same visitor has its own tag.
        let (other, _) = cart_answer(driver, client.get("/cart?instance=wishlist").await);
        assert!(!seen.contains(&other), "{driver}: {other}");
        let answer = client
            .send_headers(
                &[(IF_NONE_MATCH, &current)],
                Method::GET,
                "/cart?instance=wishlist",
                None,
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{driver}");

        // And another visitor's cart never matches this visitor's tag.
        let mut stranger = client.stranger();
        stranger.add("mug", 1).await;
        let answer = stranger
            .send_headers(&[(IF_NONE_MATCH, &first)], Method::GET, "/cart", None)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{driver}");
    }
}

// ----- If-Match --------------------------------------------------------------------------------

#[tokio::test]
async fn a_stale_if_match_answers_412_and_changes_nothing() {
    for (driver, app) in shops().await {
        let mut client = Client::new(app);
        let (stale, _) = cart_answer(
            driver,
            client
                .post("/cart/items", json!({"id": "tee", "quantity": 1}))
                .await,
        );
        let (current, view) = cart_answer(
            driver,
            client
                .post("/cart/items", json!({"id": "mug", "quantity": 1}))
                .await,
        );
        let version = view["version"].as_u64().unwrap();

        let stale_changes: Vec<(Method, &str, Option<Value>)> = vec![
            (
                Method::POST,
                "/cart/items",
                Some(json!({"id": "cap", "quantity": 1})),
            ),
            (Method::PATCH, "/cart/items/tee", Some(json!({"delta": 1}))),
            (Method::DELETE, "/cart/items/tee", None),
            (Method::POST, "/cart/codes", Some(json!({"code": "SAVE10"}))),
            (Method::PUT, "/cart/metadata/note", Some(json!("hi"))),
            (Method::DELETE, "/cart", None),
        ];
        for (method, uri, body) in stale_changes {
            let label = format!("{driver}: {method} {uri}");
            for tag in [stale.clone(), "\"not-a-tag\"".to_owned()] {
                let problem = client
                    .send_headers(&[(IF_MATCH, &tag)], method.clone(), uri, body.clone())
                    .await
                    .problem(StatusCode::PRECONDITION_FAILED, "precondition_failed");
                assert_eq!(problem["current_version"], version, "{label}: {problem}");
            }
            // Nothing changed: the same tag and the same view.
            let (tag, now) = cart_answer(&label, client.get("/cart").await);
            assert_eq!(tag, current, "{label}");
            assert_eq!(now, view, "{label}");
        }

        // The current tag (alone or in a list), or `*` on a cart that exists: the change applies.
        let list = format!("{stale}, {current}");
        let (tag, changed) = cart_answer(
            driver,
            client
                .send_headers(
                    &[(IF_MATCH, &list)],
                    Method::PATCH,
                    "/cart/items/tee",
                    Some(json!({"quantity": 4})),
                )
                .await,
        );
        assert_eq!(quantity(&changed, "tee"), Some(4), "{driver}");
        assert_eq!(changed["version"], version + 1, "{driver}");
        let (_, changed) = cart_answer(
            driver,
            client
                .send_headers(&[(IF_MATCH, "*")], Method::DELETE, "/cart/items/mug", None)
                .await,
        );
        assert_eq!(quantity(&changed, "mug"), None, "{driver}");
        // The tag of the cart before that change is stale now.
        client
            .send_headers(&[(IF_MATCH, &tag)], Method::DELETE, "/cart", None)
            .await
            .problem(StatusCode::PRECONDITION_FAILED, "precondition_failed");

        // `If-Match: *` on a visitor without a cart: 412, and still no cart.
        let mut stranger = client.stranger();
        let problem = stranger
            .send_headers(
                &[(IF_MATCH, "*")],
                Method::POST,
                "/cart/items",
                Some(json!({"id": "tee", "quantity": 1})),
            )
            .await
            .problem(StatusCode::PRECONDITION_FAILED, "precondition_failed");
        assert!(problem["current_version"].is_null(), "{driver}: {problem}");
        assert_eq!(stranger.cart().await["count"], 0, "{driver}");
    }
}

// ----- Idempotency-Key -------------------------------------------------------------------------

/// Asserts 5 answers to one keyed change: all 200 with the same body and tag, exactly one
/// without `Idempotent-Replayed` (the one that changed the cart), the others with `true`.
#[track_caller]
fn assert_one_change(label: &str, answers: &[(StatusCode, Option<String>, Option<String>, Value)]) {
    let first = &answers[0].3;
    for (status, tag, _, body) in answers {
        assert_eq!(*status, StatusCode::OK, "{label}: {body}");
        assert_eq!(body, first, "{label}: identical bodies");
        assert_eq!(tag.as_deref(), answers[0].1.as_deref(), "{label}");
    }
    let replays: Vec<Option<&str>> = answers.iter().map(|a| a.2.as_deref()).collect();
    assert_eq!(
        replays.iter().filter(|r| r.is_none()).count(),
        1,
        "{label}: one first answer: {replays:?}"
    );
    assert_eq!(
        replays.iter().filter(|r| **r == Some("true")).count(),
        answers.len() - 1,
        "{label}: {replays:?}"
    );
}

#[tokio::test]
async fn one_key_sent_five_times_in_a_row_changes_the_cart_once() {
    for (driver, app) in shops().await {
        let mut client = Client::new(app);
        let before = client.add("mug", 1).await["version"].as_u64().unwrap();
        let key = new_key();
        let mut answers = Vec::new();
        for _ in 0..5 {
            let answer = client
                .send_headers(
                    &[(KEY, &key)],
                    Method::POST,
                    "/cart/items",
                    Some(json!({"id": "tee", "quantity": 1})),
                )
                .await;
            assert_cache_headers(driver, &answer);
            answers.push((
                answer.status,
                answer.header(ETAG).map(str::to_owned),
                answer.header(REPLAYED).map(str::to_owned),
                answer.json,
            ));
        }
        assert_one_change(driver, &answers);
        assert!(
            answers[0].2.is_none(),
            "{driver}: the first is not a replay"
        );
        let view = client.cart().await;
        assert_eq!(quantity(&view, "tee"), Some(1), "{driver}");
        assert_eq!(view["version"], before + 1, "{driver}: one write");
        assert_eq!(view, answers[0].3, "{driver}");

        // Another key is another change.
        let other = client
            .send_headers(
                &[(KEY, &new_key())],
                Method::POST,
                "/cart/items",
                Some(json!({"id": "tee", "quantity": 1})),
            )
            .await;
        assert_eq!(other.header(REPLAYED), None, "{driver}");
        assert_eq!(quantity(&other.ok(), "tee"), Some(2), "{driver}");

        // A replay answers the cart as it is now: after another change, the retry of the first
        // key shows that change too, and still applies nothing.
        let retried = client
            .send_headers(
                &[(KEY, &key)],
                Method::POST,
                "/cart/items",
                Some(json!({"id": "tee", "quantity": 1})),
            )
            .await;
        assert_eq!(retried.header(REPLAYED), Some("true"), "{driver}");
        let retried = retried.ok();
        assert_eq!(quantity(&retried, "tee"), Some(2), "{driver}");
        assert_eq!(retried["version"], before + 2, "{driver}");

        // The same key on another visitor's cart is that cart's own key.
        let mut stranger = client.stranger();
        let theirs = stranger
            .send_headers(
                &[(KEY, &key)],
                Method::POST,
                "/cart/items",
                Some(json!({"id": "tee", "quantity": 1})),
            )
            .await;
        assert_eq!(theirs.header(REPLAYED), None, "{driver}");
        assert_eq!(quantity(&theirs.ok(), "tee"), Some(1), "{driver}");
    }
}

/// Sends `body` to `url` with `key` from `http` (which carries the visitor's cookies).
async fn keyed_post(
    http: &reqwest::Client,
    url: &str,
    cookie: Option<&str>,
    key: &str,
    body: &Value,
) -> (StatusCode, Option<String>, Option<String>, Value) {
    let mut request = http.post(url).header(KEY, key).json(body);
    if let Some(cookie) = cookie {
        request = request.header(http::header::COOKIE, cookie);
    }
    let answer = request.send().await.unwrap();
    let header = |name: &str| {
        answer
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (tag, replayed) = (header(ETAG), header(REPLAYED));
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let text = answer.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, tag, replayed, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_sent_five_times_at_once_changes_the_cart_once() {
    for (driver, app) in shops().await {
        let base = serve(app).await;
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        // The visitor's cart exists (and its cookie is set) before the five race.
        let seeded: Value = http
            .post(format!("{base}/cart/items"))
            .json(&json!({"id": "mug", "quantity": 1}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let before = seeded["version"].as_u64().unwrap();
        let key = new_key();
        let body = json!({"id": "tee", "quantity": 1});
        let url = format!("{base}/cart/items");
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let (http, url, key, body) = (http.clone(), url.clone(), key.clone(), body.clone());
                tokio::spawn(async move { keyed_post(&http, &url, None, &key, &body).await })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        if driver == "session" {
            // The session driver's documented limit (src/storage/session.rs): each request of a
            // session works on its own copy of the session record, so requests racing each other
            // cannot see the key the others record, and more than one may answer as the first.
            // They all apply the same change to the same cart, and the last save wins: the cart
            // still changes once, and every answer is the same.
            for (status, tag, replayed, body) in &answers {
                assert_eq!(*status, StatusCode::OK, "{driver}: {body}");
                assert_eq!(body, &answers[0].3, "{driver}: identical bodies");
                assert_eq!(tag, &answers[0].1, "{driver}");
                assert!(
                    matches!(replayed.as_deref(), None | Some("true")),
                    "{driver}"
                );
            }
            assert!(answers.iter().any(|a| a.2.is_none()), "{driver}");
        } else {
            assert_one_change(driver, &answers);
        }
        let view: Value = http
            .get(format!("{base}/cart"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(quantity(&view, "tee"), Some(1), "{driver}: {view}");
        assert_eq!(view["version"], before + 1, "{driver}: one write");
        assert_eq!(view, answers[0].3, "{driver}");
    }
}

#[tokio::test]
async fn a_key_reused_with_another_body_answers_422_and_changes_nothing() {
    for (driver, app) in shops().await {
        let mut client = Client::new(app);
        let key = new_key();
        let first = client
            .send_headers(
                &[(KEY, &key)],
                Method::POST,
                "/cart/items",
                Some(json!({"id": "tee", "quantity": 1})),
            )
            .await
            .ok();
        let reuses: Vec<(Method, &str, Option<Value>)> = vec![
            (
                Method::POST,
                "/cart/items",
                Some(json!({"id": "tee", "quantity": 2})),
            ),
            (
                Method::POST,
                "/cart/items",
                Some(json!({"id": "mug", "quantity": 1})),
            ),
            (
                Method::PATCH,
                "/cart/items/tee",
                Some(json!({"quantity": 5})),
            ),
            (Method::DELETE, "/cart", None),
        ];
        for (method, uri, body) in reuses {
            let label = format!("{driver}: {method} {uri}");
            let problem = client
                .send_headers(&[(KEY, &key)], method, uri, body)
                .await
                .problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
            assert!(problem["detail"].as_str().is_some(), "{label}");
            assert_eq!(client.cart().await, first, "{label}: nothing changed");
        }
        // The first body is still answered as a replay.
        let again = client
            .send_headers(
                &[(KEY, &key)],
                Method::POST,
                "/cart/items",
                Some(json!({"id": "tee", "quantity": 1})),
            )
            .await;
        assert_eq!(again.header(REPLAYED), Some("true"), "{driver}");
        assert_eq!(again.ok(), first, "{driver}");
    }
}

// ----- problem details -------------------------------------------------------------------------

#[tokio::test]
async fn every_error_class_answers_problem_details_with_its_code() {
    for (driver, app) in shops().await {
        let mut client = Client::new(app);
        let (tag, _) = cart_answer(
            driver,
            client
                .post("/cart/items", json!({"id": "tee", "quantity": 1}))
                .await,
        );
        client.add("mug", 1).await;
        let key = new_key();
        client
            .send_headers(
                &[(KEY, &key)],
                Method::PUT,
                "/cart/metadata/k",
                Some(json!(1)),
            )
            .await
            .ok();
        let big = vec![b' '; 3 * 1024 * 1024];

        // (answer, status, code, member that must be there)
        let cases: Vec<(&str, Answer, StatusCode, &str, Option<&str>)> =
            vec![
            (
                "unparsable body",
                client
                    .send_raw(Method::POST, "/cart/items", Some("application/json"), b"{".to_vec())
                    .await,
                StatusCode::BAD_REQUEST,
                "bad_request",
                None,
            ),
            (
                "no JSON content type",
                client
                    .send_raw(Method::POST, "/cart/items", None, b"{}".to_vec())
                    .await,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                None,
            ),
            (
                "unknown query parameter",
                client.get("/cart?color=red").await,
                StatusCode::BAD_REQUEST,
                "bad_request",
                None,
            ),
            (
                "a price from the client",
                client
                    .post("/cart/items", json!({"id": "tee", "quantity": 1, "price": "0.01"}))
                    .await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                Some("field"),
            ),
            (
                "unknown product",
                client
                    .post("/cart/items", json!({"id": "nope", "quantity": 1}))
                    .await,
                StatusCode::NOT_FOUND,
                "product_not_found",
                None,
            ),
            (
                "unknown line",
                client
                    .patch("/cart/items/nope", json!({"quantity": 1}))
                    .await,
                StatusCode::NOT_FOUND,
                "item_not_found",
                None,
            ),
            (
                "unknown code to remove",
                client.delete("/cart/codes/NOPE").await,
                StatusCode::NOT_FOUND,
                "condition_not_found",
                None,
            ),
            (
                "unknown code",
                client.post("/cart/codes", json!({"code": "NOPE"})).await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_code",
                None,
            ),
            (
                "no admin token",
                client
                    .post(
                        "/cart/conditions",
                        json!({"name": "X", "type": "discount", "target": "total", "value": "-1%"}),
                    )
                    .await,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                None,
            ),
            (
                "stale If-Match",
                client
                    .send_headers(
                        &[(IF_MATCH, &tag)],
                        Method::DELETE,
                        "/cart/items/tee",
                        None,
                    )
                    .await,
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                Some("current_version"),
            ),
            (
                "reused Idempotency-Key",
                client
                    .send_headers(&[(KEY, &key)], Method::PUT, "/cart/metadata/k", Some(json!(2)))
                    .await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                None,
            ),
            (
                "a body over the shop's limit",
                client
                    .send_raw(Method::POST, "/cart/items", Some("application/json"), big.clone())
                    .await,
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                None,
            ),
            (
                "a keyed body over the layer's limit",
                client
                    .send_with(
                        None,
                        &[(KEY, &new_key())],
                        Method::POST,
                        "/cart/items",
                        Some("application/json"),
                        big,
                    )
                    .await,
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                None,
            ),
        ];
        for (label, answer, status, code, member) in cases {
            let label = format!("{driver}: {label}");
            assert_eq!(answer.status, status, "{label}: {}", answer.text);
            let body = answer.problem(status, code);
            if let Some(member) = member {
                assert!(!body[member].is_null(), "{label}: no `{member}` in {body}");
            }
        }

        // Validation: 422 with the field, the code as the library names it.
        let answer = client
            .post("/cart/items", json!({"id": "tee", "quantity": 0}))
            .await;
        let body = answer.error(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["field"], "quantity", "{driver}: {body}");
        assert_eq!(body["error"], "validation_error", "{driver}: {body}");
        assert_json_error(&body, &body.to_string());
        // None of those changed the cart.
        let view = client.cart().await;
        assert_eq!(quantity(&view, "tee"), Some(1), "{driver}");
        assert_eq!(view["metadata"]["k"], 1, "{driver}");
    }
}

// ----- two processes -----------------------------------------------------------------------------

const COOKIE_SECRET: &str =
    "shop-protocol-test-secret-shop-protocol-test-secret-shop-protocol-test-secret";

/// Two shop processes on one store sharing the guest cookie's secret: one key sent to both, one
/// after the other and then to both at once, changes the cart once each time.
async fn one_key_on_two_shops(envs: &[(&str, &str)]) {
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
    let mut version = seeded["version"].as_u64().unwrap();
    let urls: Vec<String> = shops
        .iter()
        .map(|shop| format!("{}/cart/items", shop.address))
        .collect();
    let body = json!({"id": "pen", "quantity": 1});

    // One after the other: first shop, second shop, and again.
    let key = new_key();
    let mut answers = Vec::new();
    for url in urls.iter().cycle().take(5) {
        answers.push(keyed_post(&http, url, Some(&cookie), &key, &body).await);
    }
    assert_one_change("in a row", &answers);
    assert!(answers[0].2.is_none(), "the first is not a replay");
    assert_eq!(quantity(&answers[0].3, "pen"), Some(1));
    assert_eq!(answers[0].3["version"], version + 1);
    version += 1;

    // At once: 3 to one shop, 3 to the other.
    let key = new_key();
    let tasks: Vec<_> = urls
        .iter()
        .cycle()
        .take(6)
        .map(|url| {
            let (http, url, cookie, key, body) = (
                http.clone(),
                url.clone(),
                cookie.clone(),
                key.clone(),
                body.clone(),
            );
            tokio::spawn(async move { keyed_post(&http, &url, Some(&cookie), &key, &body).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    assert_one_change("at once", &answers);
    for shop in &shops {
        let view: Value = http
            .get(format!("{}/cart", shop.address))
            .header(http::header::COOKIE, &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(quantity(&view, "pen"), Some(2), "{view}");
        assert_eq!(view["version"], version + 1, "one write per key: {view}");
        assert_eq!(view, answers[0].3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_on_two_shop_processes_changes_the_cart_once_on_redis() {
    let storage = redis::fresh_storage().await;
    let url = redis::url();
    one_key_on_two_shops(&[
        ("CART_STORAGE", "cache"),
        ("REDIS_URL", &url),
        ("CART_CACHE_PREFIX", storage.prefix()),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_on_two_shop_processes_changes_the_cart_once_on_a_redis_cluster() {
    let prefix = format!("shop-test-{}", uuid::Uuid::new_v4().simple());
    one_key_on_two_shops(&[
        ("CART_STORAGE", "cache"),
        ("REDIS_URL", &cluster::url()),
        ("CART_CACHE_PREFIX", &prefix),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_on_two_shop_processes_changes_the_cart_once_on_postgres() {
    let storage = pg::fresh_storage().await;
    let url = pg::test_database_url().await;
    one_key_on_two_shops(&[
        ("CART_STORAGE", "database"),
        ("DATABASE_URL", &url),
        ("CART_DB_TABLE", storage.table()),
    ])
    .await;
}
