//! The server `bench/load.sh` drives: the same work through axum-cart and through what a user
//! would write by hand instead, side by side in one process so that one load run compares them.
//!
//! Routes (all behind a tower-sessions `SessionManagerLayer` with an in-memory store):
//! - `GET /plain/ping`: no `CartLayer` at all.
//! - `GET /layered/ping`: behind a `CartLayer`, never touching `Cart`.
//! - `GET /lib/cart`, `POST /lib/cart/items`: the session driver through the `Cart` extractor.
//! - `GET /manual/cart`, `POST /manual/cart/items`: hand-written handlers that keep the same
//!   cart document in the session themselves (load, change, insert, answer the same view).
//!
//! `PORT` (default 3900) chooses the port; it prints `bench server listening on ...` when ready.

use axum::extract::Json;
use axum::routing::{get, post};
use axum::{Router, http::StatusCode};
use axum_cart::{
    Cart, CartConfig, CartContents, CartError, CartLayer, CartView, Currency, ItemInput, Limits,
};
use serde_json::Value;
use tower_sessions::{MemoryStore, Session, SessionManagerLayer};

async fn ping() -> &'static str {
    "pong"
}

async fn lib_show(cart: Cart) -> Result<Json<CartView>, CartError> {
    Ok(Json(cart.view().await?))
}

async fn lib_add(cart: Cart, Json(item): Json<ItemInput>) -> Result<Json<CartView>, CartError> {
    cart.add_input(item).await?;
    Ok(Json(cart.view().await?))
}

const MANUAL_KEY: &str = "manual_cart";

/// Load runs add the same few ids over and over: lift the quantity limit on both sides so that
/// no run ends in 422s.
fn limits() -> Limits {
    Limits {
        max_quantity: u32::MAX,
        ..Limits::default()
    }
}

async fn manual_load(session: &Session) -> Result<CartContents, (StatusCode, String)> {
    let stored: Option<Value> = session
        .get(MANUAL_KEY)
        .await
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    match stored {
        Some(value) => serde_json::from_value::<CartContents>(value)
            .map(|cart| cart.with_limits(limits()))
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        None => Ok(CartContents::new(Currency::USD).with_limits(limits())),
    }
}

fn manual_view(cart: &CartContents) -> Result<Json<CartView>, (StatusCode, String)> {
    CartView::new("manual", "default", 0, cart)
        .map(Json)
        .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))
}

async fn manual_show(session: Session) -> Result<Json<CartView>, (StatusCode, String)> {
    manual_view(&manual_load(&session).await?)
}

async fn manual_add(
    session: Session,
    Json(item): Json<ItemInput>,
) -> Result<Json<CartView>, (StatusCode, String)> {
    let mut cart = manual_load(&session).await?;
    let item = item
        .into_item(cart.currency())
        .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    cart.add(item)
        .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    session
        .insert(MANUAL_KEY, &cart)
        .await
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    manual_view(&cart)
}

/// Every compared route in one router.
pub fn app() -> Router {
    let sessions = SessionManagerLayer::new(MemoryStore::default()).with_secure(false);
    let plain = Router::new().route("/ping", get(ping));
    let layered = Router::new()
        .route("/ping", get(ping))
        .layer(CartLayer::new(CartConfig::new()));
    let library = Router::new()
        .route("/cart", get(lib_show))
        .route("/cart/items", post(lib_add))
        .layer(CartLayer::new(CartConfig::new().with_limits(limits())));
    let manual = Router::new()
        .route("/cart", get(manual_show))
        .route("/cart/items", post(manual_add));
    Router::new()
        .nest("/plain", plain)
        .nest("/layered", layered)
        .nest("/lib", library)
        .nest("/manual", manual)
        .layer(sessions)
}

#[tokio::main]
async fn main() {
    let app = app();
    let port = std::env::var("PORT").unwrap_or_else(|_| "3900".to_owned());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("bind the bench port");
    println!(
        "bench server listening on http://{}",
        listener.local_addr().unwrap()
    );
    axum::serve(listener, app).await.expect("serve");
}
