//! Conditional requests and idempotency keys through the library alone: a router of a few
//! handlers on `CartLayer` with cookie identifiers, on the memory, Redis and Postgres drivers.

mod common;

use axum::body::Body;
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_cart::storage::CartStorage;
use axum_cart::{
    AddItem, Cart, CartConfig, CartError, CartLayer, CartResponse, CookieConfig, Currency,
    MemoryCatalog, MemoryStorage, Money,
};
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

async fn show(cart: Cart) -> Result<CartResponse, CartError> {
    cart.respond().await
}

async fn add(cart: Cart, Json(input): Json<AddItem>) -> Result<CartResponse, CartError> {
    cart.add_product(input).await?;
    cart.respond().await
}

fn app(storage: impl CartStorage) -> Router {
    app_with(storage, true)
}

/// `queue: false` leaves writers of one cart in this process to the compare-and-set, as writers
/// in two processes are.
fn app_with(storage: impl CartStorage, queue: bool) -> Router {
    let catalog = MemoryCatalog::new()
        .with_product(
            "mug",
            "Enamel mug",
            Money::parse("8.50", Currency::USD).unwrap(),
        )
        .with_product(
            "pen",
            "Brass pen",
            Money::parse("0.99", Currency::USD).unwrap(),
        );
    let config = CartConfig::new()
        .with_storage(storage)
        .with_cookie_identifier(CookieConfig::new(cookie::Key::generate()).with_secure(false))
        .with_catalog(catalog)
        .with_conditional_requests(true)
        .with_idempotency_keys(true)
        .with_write_queue(queue);
    Router::new()
        .route("/cart", get(show))
        .route("/cart/items", post(add))
        .layer(CartLayer::new(config))
}

/// An answer: status, headers and the body as JSON (`Null` when empty).
struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    fn etag(&self) -> String {
        self.header("etag").expect("an ETag").to_owned()
    }

    fn quantity(&self, id: &str) -> u64 {
        self.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|line| line["id"] == id)
            .map_or(0, |line| line["quantity"].as_u64().unwrap())
    }
}

async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    Answer {
        status,
        headers,
        body,
    }
}

fn request(
    method: &str,
    path: &str,
    cookie: &str,
    headers: &[(&str, &str)],
    body: Body,
) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::COOKIE, cookie);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body).unwrap()
}

fn add_request(cookie: &str, id: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let body = json!({ "id": id, "quantity": 1 }).to_string();
    request("POST", "/cart/items", cookie, headers, Body::from(body))
}

fn get_request(cookie: &str, headers: &[(&str, &str)]) -> Request<Body> {
    request("GET", "/cart", cookie, headers, Body::empty())
}

/// Adds a pen to a new visitor's cart; returns the visitor's cookie.
async fn visitor(app: &Router) -> String {
    let answer = send(app, add_request("", "pen", &[])).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let cookie = answer.header("set-cookie").expect("a cart cookie");
    cookie.split(';').next().unwrap().to_owned()
}

async fn etag_follows_changes(storage: impl CartStorage) {
    let app = app(storage);
    let cookie = visitor(&app).await;
    let first = send(&app, get_request(&cookie, &[])).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.header("cache-control"), Some("no-store"));
    assert_eq!(first.header("vary"), Some("Cookie"));
    let tag = first.etag();
    assert!(
        tag.starts_with('"') && tag.ends_with('"'),
        "a strong tag: {tag}"
    );
    assert_eq!(
        send(&app, get_request(&cookie, &[])).await.etag(),
        tag,
        "stable while unchanged"
    );

    let not_modified = send(&app, get_request(&cookie, &[("if-none-match", &tag)])).await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert_eq!(not_modified.body, Value::Null);
    assert_eq!(not_modified.etag(), tag);

    let added = send(&app, add_request(&cookie, "mug", &[])).await;
    assert_eq!(added.status, StatusCode::OK);
    assert_ne!(added.etag(), tag, "a change changes the tag");
    let after = send(&app, get_request(&cookie, &[("if-none-match", &tag)])).await;
    assert_eq!(
        after.status,
        StatusCode::OK,
        "the old tag no longer matches"
    );
    assert_eq!(after.etag(), added.etag());
    assert_eq!(after.quantity("mug"), 1);
    let star = send(&app, get_request(&cookie, &[("if-none-match", "*")])).await;
    assert_eq!(star.status, StatusCode::NOT_MODIFIED);
}

async fn stale_if_match_changes_nothing(storage: impl CartStorage) {
    let app = app(storage);
    let cookie = visitor(&app).await;
    let seen = send(&app, get_request(&cookie, &[])).await;
    let tag = seen.etag();
    let version = seen.body["version"].as_u64().unwrap();

    let matched = send(&app, add_request(&cookie, "mug", &[("if-match", &tag)])).await;
    assert_eq!(matched.status, StatusCode::OK, "{}", matched.body);
    assert_eq!(matched.quantity("mug"), 1);
    let current = matched.body["version"].as_u64().unwrap();
    assert!(current > version);

    let stale = send(&app, add_request(&cookie, "mug", &[("if-match", &tag)])).await;
    assert_eq!(
        stale.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        stale.body
    );
    assert_eq!(stale.body["error"], "precondition_failed");
    let now = send(&app, get_request(&cookie, &[])).await;
    assert_eq!(now.quantity("mug"), 1, "nothing changed");
    assert_eq!(now.body["version"].as_u64(), Some(current));
    assert_eq!(now.etag(), matched.etag());
}

async fn if_match_star_needs_a_cart(storage: impl CartStorage) {
    let app = app(storage);
    let refused = send(&app, add_request("", "mug", &[("if-match", "*")])).await;
    assert_eq!(
        refused.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        refused.body
    );
    assert_eq!(refused.header("set-cookie"), None, "no cart was created");
    let cookie = visitor(&app).await;
    let accepted = send(&app, add_request(&cookie, "mug", &[("if-match", "*")])).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.quantity("mug"), 1);
}

async fn a_key_sent_five_times_changes_once(storage: impl CartStorage) {
    let app = app(storage);
    let cookie = visitor(&app).await;
    let key = [("idempotency-key", "\"seq-1\"")];
    let mut answers = Vec::new();
    for _ in 0..5 {
        answers.push(send(&app, add_request(&cookie, "mug", &key)).await);
    }
    for (n, answer) in answers.iter().enumerate() {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.body, answers[0].body, "identical bodies");
        let replayed = answer.header("idempotent-replayed");
        assert_eq!(replayed, (n > 0).then_some("true"), "answer {n}");
    }
    assert_eq!(answers[0].quantity("mug"), 1);
    assert_eq!(
        send(&app, get_request(&cookie, &[])).await.quantity("mug"),
        1
    );
}

async fn a_key_sent_five_times_at_once_changes_once(storage: impl CartStorage) {
    five_at_once(app(storage)).await;
}

async fn a_key_racing_in_the_compare_and_set_changes_once(storage: impl CartStorage) {
    five_at_once(app_with(storage, false)).await;
}

async fn five_at_once(app: Router) {
    let cookie = visitor(&app).await;
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let app = app.clone();
            let request = add_request(&cookie, "mug", &[("idempotency-key", "par-1")]);
            tokio::spawn(async move { send(&app, request).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let fresh: Vec<_> = answers
        .iter()
        .filter(|answer| answer.header("idempotent-replayed").is_none())
        .collect();
    assert_eq!(fresh.len(), 1, "exactly one answer is not a replay");
    for answer in &answers {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.body, answers[0].body, "identical bodies");
        if answer.header("idempotent-replayed").is_some() {
            assert_eq!(answer.header("idempotent-replayed"), Some("true"));
        }
    }
    assert_eq!(
        send(&app, get_request(&cookie, &[])).await.quantity("mug"),
        1
    );
}

async fn a_reused_key_is_refused(storage: impl CartStorage) {
    let app = app(storage);
    let cookie = visitor(&app).await;
    let key = [("idempotency-key", "reuse-1")];
    let first = send(&app, add_request(&cookie, "mug", &key)).await;
    assert_eq!(first.status, StatusCode::OK);
    let other = send(&app, add_request(&cookie, "pen", &key)).await;
    assert_eq!(
        other.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        other.body
    );
    assert_eq!(other.body["error"], "idempotency_key_reused");
    let now = send(&app, get_request(&cookie, &[])).await;
    assert_eq!((now.quantity("mug"), now.quantity("pen")), (1, 1));
    assert_eq!(now.etag(), first.etag(), "nothing changed");
}

async fn a_large_body_with_a_key_is_refused(storage: impl CartStorage) {
    let app = app(storage);
    let cookie = visitor(&app).await;
    let before = send(&app, get_request(&cookie, &[])).await;
    let body = format!(
        "{{\"id\": \"mug\", \"quantity\": 1, \"attributes\": {{\"note\": \"{}\"}}}}",
        "x".repeat(1024 * 1024)
    );
    let key = [("idempotency-key", "big-1")];
    let large = send(
        &app,
        request(
            "POST",
            "/cart/items",
            &cookie,
            &key,
            Body::from(body.clone()),
        ),
    )
    .await;
    assert_eq!(large.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(large.body["error"], "payload_too_large");
    // Without a length announced, the limit holds as well.
    let stream = Body::from_stream(futures_util::stream::iter(
        body.into_bytes()
            .chunks(64 * 1024)
            .map(|chunk| Ok::<_, std::io::Error>(chunk.to_vec()))
            .collect::<Vec<_>>(),
    ));
    let streamed = send(&app, request("POST", "/cart/items", &cookie, &key, stream)).await;
    assert_eq!(streamed.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        send(&app, get_request(&cookie, &[])).await.etag(),
        before.etag()
    );
}

macro_rules! on_every_driver {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(MemoryStorage::new()).await;
                }
            )*
        }

        #[cfg(feature = "redis")]
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(crate::common::redis::fresh_storage().await).await;
                }
            )*
        }

        #[cfg(feature = "postgres")]
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(crate::common::pg::fresh_storage().await).await;
                }
            )*
        }
    };
}

on_every_driver!(
    etag_follows_changes,
    stale_if_match_changes_nothing,
    if_match_star_needs_a_cart,
    a_key_sent_five_times_changes_once,
    a_key_sent_five_times_at_once_changes_once,
    a_key_racing_in_the_compare_and_set_changes_once,
    a_reused_key_is_refused,
    a_large_body_with_a_key_is_refused,
);
