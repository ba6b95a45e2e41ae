//! The layer is lazy: a route that never takes `Cart` costs no storage call and no cookie, a
//! read-only visit of a new visitor stores nothing, one request loads a cart once, and a login
//! merge waits for the first cart operation. And a missing layer is a clear 500, not a panic.

mod common;

use std::sync::{Arc, Mutex};

use axum::routing::{get, post};
use axum::{Json, Router};
use axum_cart::{AddItem, Cart, CartConfig, CartError, CartLayer, CartView};
use common::counting::CountingStorage;
use common::requests::Client;
use common::shop::{cookie_config, session_shop, shop_catalog};
use http::StatusCode;
use http::request::Parts;
use serde_json::{Value, json};
use tower_sessions::{MemoryStore, SessionManagerLayer};

async fn health() -> &'static str {
    "ok"
}

async fn show(cart: Cart) -> Result<Json<CartView>, CartError> {
    Ok(Json(cart.view().await?))
}

async fn add(cart: Cart, Json(item): Json<AddItem>) -> Result<Json<CartView>, CartError> {
    cart.add_product(item).await?;
    Ok(Json(cart.view().await?))
}

/// Uses one `Cart` several times.
async fn many_reads(cart: Cart) -> Result<Json<Value>, CartError> {
    let view = cart.view().await?;
    let totals = cart.totals().await?;
    let items = cart.items().await?;
    let version = cart.version().await?;
    let line = cart.get("mug").await?;
    Ok(Json(json!({
        "total": totals.total.to_string(),
        "lines": items.len(),
        "version": version,
        "has_mug": line.is_some(),
        "count": view.count,
    })))
}

/// Takes `Cart` twice (as a handler and a helper extractor of an app might).
async fn two_extractions(first: Cart, second: Cart) -> Result<Json<Value>, CartError> {
    let a = first.view().await?;
    let b = second.view().await?;
    assert_eq!(a.identifier, b.identifier);
    Ok(Json(json!({ "count": a.count + b.count })))
}

/// Changes the cart through one handle and reads it through another.
async fn write_then_read_elsewhere(first: Cart, second: Cart) -> Result<Json<Value>, CartError> {
    let before = second.view().await?;
    first.change_quantity("pen", 1).await?;
    let after = second.view().await?;
    Ok(Json(
        json!({ "before": before.count, "after": after.count, "version": after.version }),
    ))
}

fn routes() -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/cart", get(show))
        .route("/cart/items", post(add))
        .route("/many-reads", get(many_reads))
        .route("/two-extractions", get(two_extractions))
        .route("/write-then-read", post(write_then_read_elsewhere))
}

/// Cookie mode, no session layer at all; prices from the shop's catalogue.
fn cookie_app(storage: &CountingStorage) -> Router {
    routes().layer(CartLayer::new(
        cookie_config(storage.clone()).with_catalog(shop_catalog()),
    ))
}

/// Guest identifiers in the session, carts in the counting driver.
fn session_app(storage: &CountingStorage) -> Router {
    routes()
        .layer(CartLayer::new(
            CartConfig::new()
                .with_shared_storage(Arc::new(storage.clone()))
                .with_catalog(shop_catalog()),
        ))
        .layer(SessionManagerLayer::new(MemoryStore::default()).with_secure(false))
}

#[tokio::test]
async fn cookie_mode_a_route_without_cart_costs_nothing() {
    let storage = CountingStorage::new();
    let mut client = Client::new(cookie_app(&storage));

    let answer = client.get("/health").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.set_cookies().is_empty(),
        "{:?}",
        answer.set_cookies()
    );
    assert_eq!(storage.calls.total(), 0);

    // Also once the visitor has a cart, and with a forged cookie.
    client.add("pen", 1).await;
    assert!(client.cookies.contains_key("cart_id"));
    let before = storage.calls.snapshot();
    let answer = client.get("/health").await;
    assert!(answer.set_cookies().is_empty());
    let mut forged = client.clone();
    forged.cookies.insert("cart_id".into(), "forged".into());
    let answer = forged.get("/health").await;
    assert!(answer.set_cookies().is_empty());
    assert_eq!(storage.calls.snapshot(), before);
}

#[tokio::test]
async fn cookie_mode_a_new_visitor_reading_the_cart_stores_nothing() {
    let storage = CountingStorage::new();
    let mut client = Client::new(cookie_app(&storage));
    for _ in 0..3 {
        let answer = client.get("/cart").await;
        assert!(
            answer.set_cookies().is_empty(),
            "{:?}",
            answer.set_cookies()
        );
        let view = answer.ok();
        assert_eq!(view["items"], json!([]));
        assert_eq!(view["version"], 0);
    }
    assert_eq!(storage.calls.total(), 0, "{:?}", storage.calls.snapshot());
    assert!(storage.inner.is_empty());

    // The first write stores the cart and sets the cookie, once.
    let answer = client
        .post("/cart/items", json!({"id": "pen", "quantity": 1}))
        .await;
    assert!(answer.set_cookie("cart_id").is_some());
    assert_eq!(storage.calls.save(), 1);
    assert_eq!(storage.inner.len(), 1);

    // A returning visitor's read is one load and no cookie.
    let before = storage.calls.snapshot();
    let answer = client.get("/cart").await;
    assert!(answer.set_cookies().is_empty());
    assert_eq!(answer.ok()["count"], 1);
    let after = storage.calls.snapshot();
    assert_eq!(
        after,
        (before.0 + 1, before.1, before.2, before.3, before.4),
        "one load, nothing else"
    );
}

#[tokio::test]
async fn session_mode_a_route_without_cart_and_a_read_only_visit_cost_nothing() {
    let storage = CountingStorage::new();
    let mut client = Client::new(session_app(&storage));

    let answer = client.get("/health").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.set_cookies().is_empty(),
        "{:?}",
        answer.set_cookies()
    );

    let answer = client.get("/cart").await;
    assert!(
        answer.set_cookies().is_empty(),
        "{:?}",
        answer.set_cookies()
    );
    assert_eq!(answer.ok()["version"], 0);
    assert_eq!(storage.calls.total(), 0, "{:?}", storage.calls.snapshot());

    client.add("pen", 1).await;
    assert!(
        client.cookies.contains_key("id"),
        "the session now holds the id"
    );
    let before = storage.calls.snapshot();
    let answer = client.get("/health").await;
    assert!(
        answer.set_cookies().is_empty(),
        "{:?}",
        answer.set_cookies()
    );
    assert_eq!(storage.calls.snapshot(), before);
}

#[tokio::test]
async fn session_driver_a_read_only_visit_sets_no_cookie() {
    // The example shop with its defaults (carts in the session).
    let mut client = Client::new(session_shop());
    let answer = client.get("/cart").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.set_cookies().is_empty(),
        "{:?}",
        answer.set_cookies()
    );
    let answer = client.get("/health").await;
    assert!(
        answer.set_cookies().is_empty(),
        "{:?}",
        answer.set_cookies()
    );
    let answer = client.get("/").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.text.contains("Your cart is empty"));
    assert!(
        answer.set_cookies().is_empty(),
        "{:?}",
        answer.set_cookies()
    );
}

#[tokio::test]
async fn one_request_loads_a_cart_once() {
    for (mode, app, storage) in [
        {
            let s = CountingStorage::new();
            ("cookie", cookie_app(&s), s)
        },
        {
            let s = CountingStorage::new();
            ("session", session_app(&s), s)
        },
    ] {
        let mut client = Client::new(app);
        client.add("mug", 2).await;

        let loads = storage.calls.load();
        let body = client.get("/many-reads").await.ok();
        assert_eq!(body["total"], "17.00");
        assert_eq!(body["has_mug"], true);
        assert_eq!(
            storage.calls.load() - loads,
            1,
            "{mode}: one Cart used five times"
        );

        let loads = storage.calls.load();
        let body = client.get("/two-extractions").await.ok();
        assert_eq!(body["count"], 4);
        assert_eq!(
            storage.calls.load() - loads,
            1,
            "{mode}: Cart extracted twice"
        );
    }
}

#[tokio::test]
async fn handles_of_one_request_see_each_others_writes() {
    let storage = CountingStorage::new();
    let mut client = Client::new(cookie_app(&storage));
    let first = client.add("pen", 1).await["version"].as_u64().unwrap();
    let body = client.post("/write-then-read", json!({})).await.ok();
    assert_eq!(body, json!({"before": 1, "after": 2, "version": first + 1}));
}

#[tokio::test]
async fn without_cart_layer_the_extractor_answers_500_naming_it() {
    let app = Router::new().route("/cart", get(show));
    let answer = Client::new(app).get("/cart").await;
    let body = answer.error(StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"], "missing_cart_layer");
    assert!(
        body["detail"].as_str().unwrap().contains("CartLayer"),
        "{body}"
    );
}

#[tokio::test]
async fn session_config_without_session_layer_answers_500_naming_it() {
    let storage = CountingStorage::new();
    for config in [
        CartConfig::new(),
        CartConfig::new().with_shared_storage(Arc::new(storage.clone())),
    ] {
        let app = routes().layer(CartLayer::new(config));
        let mut client = Client::new(app);
        let body = client
            .get("/cart")
            .await
            .error(StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"], "missing_session_layer");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("SessionManagerLayer"),
            "{body}"
        );
        // Routes without Cart still work.
        assert_eq!(client.get("/health").await.text, "ok");
    }
    assert_eq!(storage.calls.total(), 0);
}

#[tokio::test]
async fn a_new_visitors_failed_first_write_leaves_no_trace() {
    // Over the 1 MiB cart size limit.
    let long_attribute = "n".repeat(1024 * 1024 + 1024);
    let storage = CountingStorage::new();
    for (mode, app) in [
        ("cookie", cookie_app(&storage)),
        ("session", session_app(&storage)),
        ("session driver", session_shop()),
    ] {
        let mut client = Client::new(app);
        let answer = client
            .post(
                "/cart/items",
                json!({"id": "pen", "quantity": 1, "attributes": {"note": long_attribute}}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{mode}");
        assert!(
            answer.set_cookies().is_empty(),
            "{mode}: {:?}",
            answer.set_cookies()
        );
    }
    assert_eq!(storage.calls.save(), 0);
    assert!(storage.inner.is_empty());
}

async fn untouched(_cart: Cart) -> &'static str {
    "ok"
}

/// A login noticed while extracting `Cart` merges nothing yet: a route that takes `Cart` and never
/// uses it costs no storage call, and the request's first cart operation merges, once.
#[tokio::test]
async fn a_login_merge_waits_for_the_first_cart_operation() {
    let storage = CountingStorage::new();
    let user: Arc<Mutex<Option<String>>> = Arc::default();
    let logged_in = Arc::clone(&user);
    let config = cookie_config(storage.clone())
        .with_catalog(shop_catalog())
        .with_user_resolver(move |_: &Parts| {
            logged_in.lock().unwrap_or_else(|p| p.into_inner()).clone()
        });
    let app = routes()
        .route("/untouched", get(untouched))
        .layer(CartLayer::new(config));
    let mut client = Client::new(app);
    client.add("pen", 2).await;
    *user.lock().unwrap() = Some("42".to_owned());

    let before = storage.calls.snapshot();
    let answer = client.get("/untouched").await;
    assert_eq!(answer.text, "ok");
    assert_eq!(
        storage.calls.snapshot(),
        before,
        "extracting Cart touched storage"
    );
    assert!(
        answer.set_cookies().is_empty(),
        "{:?}",
        answer.set_cookies()
    );
    assert_eq!(
        storage.inner.len(),
        1,
        "the guest cart is kept until the merge"
    );

    let view = client.get("/cart").await.ok();
    assert_eq!(view["identifier"], "user:42");
    assert_eq!(view["count"], 2);
    assert_eq!(storage.inner.len(), 1, "the guest cart went once merged");

    let view = client.get("/cart").await.ok();
    assert_eq!(view["count"], 2, "a later request merges nothing again");
}
