//! The shop's JSON cart API: items by catalogue id, codes, metadata, login and logout, and the
//! condition routes only trusted callers reach.

use axum::Json;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum_cart::storage::StorageError;
use axum_cart::{AddItem, Cart, CartError, ConditionInput, ItemUpdateInput};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_sessions::Session;

use super::USER_KEY;
use super::plumbing::{ApiResult, Body, ShopCart, Trusted};

/// The cart's answer: its view with `ETag`, `Cache-Control: no-store` and `Vary: Cookie`; 304
/// for a matching `If-None-Match`; on a replayed `Idempotency-Key`, the cart as it is now with
/// `Idempotent-Replayed: true`. All of it comes from the library (`Cart::respond`).
async fn view(cart: &Cart) -> ApiResult {
    cart.respond().await.map_err(IntoResponse::into_response)
}

/// Runs a change, then answers the cart's view.
async fn answer<T>(cart: &Cart, change: Result<T, CartError>) -> ApiResult {
    change.map_err(IntoResponse::into_response)?;
    view(cart).await
}

pub async fn show(ShopCart(cart): ShopCart) -> ApiResult {
    view(&cart).await
}

/// `{id, quantity, attributes?}`: the name and the unit price come from the catalogue.
pub async fn add_item(ShopCart(cart): ShopCart, Body(item): Body<AddItem>) -> ApiResult {
    let added = cart.add_product(item).await;
    answer(&cart, added).await
}

/// `{quantity}` or `{delta}`, and `attributes?`.
pub async fn update_item(
    ShopCart(cart): ShopCart,
    Path(id): Path<String>,
    Body(update): Body<ItemUpdateInput>,
) -> ApiResult {
    let updated = cart.update_input(&id, update).await;
    answer(&cart, updated).await
}

pub async fn remove_item(ShopCart(cart): ShopCart, Path(id): Path<String>) -> ApiResult {
    let removed = cart.remove(&id).await;
    answer(&cart, removed).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeInput {
    code: String,
}

/// A discount code: the promotion it names is resolved here, on the server.
pub async fn apply_code(ShopCart(cart): ShopCart, Body(input): Body<CodeInput>) -> ApiResult {
    let applied = cart.apply_code(&input.code).await;
    answer(&cart, applied).await
}

pub async fn remove_code(ShopCart(cart): ShopCart, Path(code): Path<String>) -> ApiResult {
    let removed = cart.remove_code(&code).await;
    answer(&cart, removed).await
}

/// Any cart condition: trusted callers only.
pub async fn add_condition(
    _: Trusted,
    ShopCart(cart): ShopCart,
    Body(condition): Body<ConditionInput>,
) -> ApiResult {
    let added = cart.add_condition_input(condition).await;
    answer(&cart, added).await
}

pub async fn remove_condition(
    _: Trusted,
    ShopCart(cart): ShopCart,
    Path(name): Path<String>,
) -> ApiResult {
    let removed = cart.remove_condition(&name).await;
    answer(&cart, removed).await
}

/// Any condition on one line: trusted callers only.
pub async fn add_item_condition(
    _: Trusted,
    ShopCart(cart): ShopCart,
    Path(id): Path<String>,
    Body(condition): Body<ConditionInput>,
) -> ApiResult {
    let added = cart.add_item_condition_input(&id, condition).await;
    answer(&cart, added).await
}

pub async fn set_metadata(
    ShopCart(cart): ShopCart,
    Path(key): Path<String>,
    Body(value): Body<Value>,
) -> ApiResult {
    let set = cart.set_metadata(&key, value).await;
    answer(&cart, set).await
}

pub async fn clear(ShopCart(cart): ShopCart) -> ApiResult {
    let cleared = cart.clear().await;
    answer(&cart, cleared).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    user_id: String,
}

/// The session store failed: the library's 503 problem ("the cart store is unavailable") with a
/// `request_id`; the session store's own error goes to the log line with that id, not to the
/// client.
fn session_failed(error: tower_sessions::session::Error) -> Response {
    CartError::from(StorageError::Unavailable {
        driver: "session",
        message: error.to_string(),
    })
    .into_response()
}

/// A demo login: no password. It keeps the user id in the session (the user resolver reads it
/// there), rotates the session id as a real login would, and merges the guest cart.
pub async fn login(
    session: Session,
    ShopCart(cart): ShopCart,
    Body(login): Body<Login>,
) -> ApiResult {
    let valid = !login.user_id.is_empty()
        && login.user_id.len() <= 64
        && login
            .user_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'));
    if !valid {
        return Err(CartError::validation(
            "user_id",
            "1 to 64 letters, digits, `_`, `-`, `.` or `@`",
        )
        .into_response());
    }
    let user_cart = cart
        .login(&login.user_id)
        .await
        .map_err(IntoResponse::into_response)?;
    session
        .insert(USER_KEY, &login.user_id)
        .await
        .map_err(session_failed)?;
    session.cycle_id().await.map_err(session_failed)?;
    view(&user_cart).await
}

/// Logging out wipes the session: with the session driver the carts go with it; with the cache
/// and database drivers the user's cart stays stored under the user and comes back at the next
/// login, and the visitor starts a new guest cart.
pub async fn logout(session: Session) -> Response {
    match session.flush().await {
        Ok(()) => Json(json!({ "ok": true })).into_response(),
        Err(e) => session_failed(e),
    }
}

pub async fn health() -> &'static str {
    "ok"
}
