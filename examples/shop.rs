//! The example shop: a JSON cart API and a server-rendered storefront page.
//!
//! ```text
//! cargo run --example shop                      # session driver, in-memory sessions
//! CART_STORAGE=cache REDIS_URL=redis://127.0.0.1:6379 cargo run --example shop
//! CART_STORAGE=database DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --example shop
//! ```
//! `PORT` (default 3000) and `HOST` (default 127.0.0.1) choose where it listens.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{delete, get, patch, post, put};
use axum::{Form, Json, Router};
use axum_cart::settings::{CartSettings, Driver};
use axum_cart::{
    Cart, CartConfig, CartError, CartLayer, CartManager, CartView, ConditionInput, ItemInput,
    ItemUpdateInput, SessionUserResolver,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tower_sessions::{MemoryStore, Session, SessionManagerLayer, SessionStore};
use tower_sessions_redis_store::RedisStore;

/// The session key the demo login keeps the user id under.
const USER_KEY: &str = "user_id";
/// Request bodies above this are refused with 413 before they are parsed.
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

// ----- request plumbing: every rejection is a JSON error ---------------------------------------

/// `Json<T>` whose rejections answer `{"error", "message"}` with the rejection's 4xx status.
struct Body<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> Response {
    let status = rejection.status();
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        _ => "bad_request",
    };
    error_response(status, code, rejection.body_text())
}

fn error_response(status: StatusCode, code: &str, message: String) -> Response {
    (status, Json(json!({ "error": code, "message": message }))).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceQuery {
    instance: Option<String>,
}

/// The cart of the `?instance=` named in the query (default `default`).
struct ShopCart(Cart);

impl<S: Send + Sync> FromRequestParts<S> for ShopCart {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let query = axum::extract::Query::<InstanceQuery>::from_request_parts(parts, state)
            .await
            .map_err(|rejection: QueryRejection| {
                error_response(rejection.status(), "bad_request", rejection.body_text())
            })?;
        let cart = Cart::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match query.0.instance {
            Some(instance) => cart
                .instance(&instance)
                .map(ShopCart)
                .map_err(IntoResponse::into_response),
            None => Ok(ShopCart(cart)),
        }
    }
}

type ApiResult = Result<Json<CartView>, CartError>;

// ----- the JSON API ----------------------------------------------------------------------------

async fn show(ShopCart(cart): ShopCart) -> ApiResult {
    Ok(Json(cart.view().await?))
}

async fn add_item(ShopCart(cart): ShopCart, Body(item): Body<ItemInput>) -> ApiResult {
    cart.add_input(item).await?;
    Ok(Json(cart.view().await?))
}

async fn update_item(
    ShopCart(cart): ShopCart,
    Path(id): Path<String>,
    Body(update): Body<ItemUpdateInput>,
) -> ApiResult {
    cart.update_input(&id, update).await?;
    Ok(Json(cart.view().await?))
}

async fn remove_item(ShopCart(cart): ShopCart, Path(id): Path<String>) -> ApiResult {
    cart.remove(&id).await?;
    Ok(Json(cart.view().await?))
}

async fn add_item_condition(
    ShopCart(cart): ShopCart,
    Path(id): Path<String>,
    Body(condition): Body<ConditionInput>,
) -> ApiResult {
    cart.add_item_condition_input(&id, condition).await?;
    Ok(Json(cart.view().await?))
}

async fn add_condition(
    ShopCart(cart): ShopCart,
    Body(condition): Body<ConditionInput>,
) -> ApiResult {
    cart.add_condition_input(condition).await?;
    Ok(Json(cart.view().await?))
}

async fn remove_condition(ShopCart(cart): ShopCart, Path(name): Path<String>) -> ApiResult {
    cart.remove_condition(&name).await?;
    Ok(Json(cart.view().await?))
}

async fn set_metadata(
    ShopCart(cart): ShopCart,
    Path(key): Path<String>,
    Body(value): Body<Value>,
) -> ApiResult {
    cart.set_metadata(&key, value).await?;
    Ok(Json(cart.view().await?))
}

async fn clear(ShopCart(cart): ShopCart) -> ApiResult {
    cart.clear().await?;
    Ok(Json(cart.view().await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    user_id: String,
}

/// A demo login: no password. It keeps the user id in the session (the user resolver reads it
/// there), rotates the session id as a real login would, and merges the guest cart.
async fn login(
    session: Session,
    ShopCart(cart): ShopCart,
    Body(login): Body<Login>,
) -> Result<Json<CartView>, Response> {
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
    let session_failed = |e: tower_sessions::session::Error| {
        error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "session_unavailable",
            e.to_string(),
        )
    };
    let user_cart = cart
        .login(&login.user_id)
        .await
        .map_err(IntoResponse::into_response)?;
    session
        .insert(USER_KEY, &login.user_id)
        .await
        .map_err(session_failed)?;
    session.cycle_id().await.map_err(session_failed)?;
    Ok(Json(
        user_cart
            .view()
            .await
            .map_err(IntoResponse::into_response)?,
    ))
}

/// Logging out wipes the session: with the session driver the carts go with it; with the cache
/// and database drivers the user's cart stays stored under the user and comes back at the next
/// login, and the visitor starts a new guest cart.
async fn logout(session: Session) -> Response {
    match session.flush().await {
        Ok(()) => Json(json!({ "ok": true })).into_response(),
        Err(e) => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "session_unavailable",
            e.to_string(),
        ),
    }
}

// ----- the storefront page ---------------------------------------------------------------------

/// The demo catalogue: the storefront adds these by id, at these prices (never a client's price).
const PRODUCTS: &[(&str, &str, &str)] = &[
    ("tee", "Organic T-shirt", "19.90"),
    ("mug", "Enamel mug", "8.50"),
    ("cap", "Canvas cap", "14.00"),
    ("socks", "Wool socks", "6.25"),
    ("poster", "Screen-printed poster", "12.00"),
];

/// Discount codes the storefront accepts: code → value on the subtotal.
const DISCOUNT_CODES: &[(&str, &str)] = &[("SAVE10", "-10%")];

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[derive(Deserialize, Default)]
struct PageQuery {
    error: Option<String>,
    notice: Option<String>,
}

const STYLE: &str = "
:root{--ink:#1d2330;--muted:#667085;--line:#e4e7ec;--accent:#2e6b4f;--bad:#b42318}
*{box-sizing:border-box}body{font:16px/1.5 system-ui,sans-serif;color:var(--ink);margin:0;background:#f7f7f4}
header{background:var(--accent);color:#fff;padding:1rem 2rem}header h1{margin:0;font-size:1.4rem}
main{display:grid;grid-template-columns:1fr 1.2fr;gap:2rem;max-width:68rem;margin:1.5rem auto;padding:0 1rem}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:1rem 1.25rem}
h2{font-size:1.1rem;margin:.2rem 0 1rem}ul.products{list-style:none;margin:0;padding:0}
ul.products li{display:flex;justify-content:space-between;align-items:center;padding:.5rem 0;border-bottom:1px solid var(--line)}
table{width:100%;border-collapse:collapse}th,td{padding:.4rem .3rem;border-bottom:1px solid var(--line);text-align:left}
.num{text-align:right;font-variant-numeric:tabular-nums}input[type=number]{width:4.5rem}
button{background:var(--accent);color:#fff;border:0;border-radius:6px;padding:.35rem .8rem;cursor:pointer}
button.link{background:none;color:var(--bad);padding:0}.error{color:var(--bad);font-weight:600}
.notice{color:var(--accent);font-weight:600}dl{display:grid;grid-template-columns:1fr auto;gap:.2rem 1rem}
dt{color:var(--muted)}dd{margin:0;text-align:right;font-variant-numeric:tabular-nums}dd.total{font-weight:700;font-size:1.15rem}
form.discount{margin:1rem 0}form.qty{display:flex;gap:.3rem;align-items:center}th{white-space:nowrap}ol.breakdown{color:var(--muted);font-size:.9rem;padding-left:1.2rem}
";

async fn page(
    cart: Cart,
    query: axum::extract::Query<PageQuery>,
) -> Result<Html<String>, CartError> {
    let view = cart.view().await?;
    let mut products = String::new();
    for (id, name, price) in PRODUCTS {
        products.push_str(&format!(
            "<li><span>{name} <small>${price}</small></span>\
             <form method=post action=\"/ui/add\"><input type=hidden name=id value=\"{id}\">\
             <button type=submit id=\"add-{id}\">Add to cart</button></form></li>\n",
            name = escape(name),
            price = escape(price),
            id = escape(id),
        ));
    }
    let mut rows = String::new();
    for item in &view.items {
        let id = escape(&item.id);
        rows.push_str(&format!(
            "<tr data-id=\"{id}\"><td class=name>{name}</td><td class=num>{price}</td>\
             <td><form method=post action=\"/ui/update\" class=qty><input type=hidden name=id value=\"{id}\">\
             <input type=number name=quantity min=0 value=\"{qty}\" aria-label=\"Quantity of {name}\">\
             <button type=submit>Update</button></form></td>\
             <td class=\"num line-total\">{total}</td>\
             <td><form method=post action=\"/ui/remove\"><input type=hidden name=id value=\"{id}\">\
             <button type=submit class=link>Remove</button></form></td></tr>\n",
            name = escape(&item.name),
            price = escape(&item.price),
            qty = item.quantity,
            total = escape(&item.line_total),
        ));
    }
    if view.items.is_empty() {
        rows.push_str("<tr><td colspan=5 class=empty>Your cart is empty.</td></tr>\n");
    }
    let mut breakdown = String::new();
    for step in &view.breakdown {
        breakdown.push_str(&format!(
            "<li>{} ({} {}): {} → {}</li>\n",
            escape(&step.condition),
            escape(&step.kind),
            step.value,
            step.base,
            step.result
        ));
    }
    let message = |class: &str, text: Option<String>| {
        text.map(|t| format!("<p class={class} role=status>{}</p>", escape(&t)))
            .unwrap_or_default()
    };
    let query = query.0;
    Ok(Html(format!(
        r#"<!doctype html>
<html lang=en><head><meta charset=utf-8><meta name=viewport content="width=device-width,initial-scale=1">
<title>axum-cart demo shop</title><style>{STYLE}</style></head>
<body><header><h1>axum-cart demo shop</h1></header>
<main>
<section><h2>Products</h2><ul class=products>
{products}</ul></section>
<section><h2>Your cart</h2>{error}{notice}
<table id=cart><thead><tr><th>Item</th><th class=num>Price</th><th>Qty</th><th class=num>Line total</th><th></th></tr></thead>
<tbody>
{rows}</tbody></table>
<form method=post action="/ui/discount" class=discount><label>Discount code <input name=code id=code autocomplete=off></label>
<button type=submit id=apply-code>Apply</button></form>
<dl class=totals>
<dt>Items</dt><dd id=count>{count}</dd>
<dt>Subtotal before discounts</dt><dd id=subtotal-without-conditions>{raw}</dd>
<dt>Subtotal</dt><dd id=subtotal>{subtotal}</dd>
<dt>You save</dt><dd id=savings>{savings}</dd>
<dt>Total ({currency})</dt><dd id=total class=total>{total}</dd>
</dl>
<ol class=breakdown>
{breakdown}</ol></section>
</main></body></html>"#,
        error = message("error", query.error),
        notice = message("notice", query.notice),
        count = view.count,
        raw = escape(&view.subtotal_without_conditions),
        subtotal = escape(&view.subtotal),
        savings = escape(&view.savings),
        total = escape(&view.total),
        currency = escape(&view.currency),
    )))
}

fn back_with(kind: &str, message: &str) -> Redirect {
    Redirect::to(&format!("/?{kind}={}", url_encode(message)))
}

fn back_with_error(error: &CartError) -> Redirect {
    back_with("error", &error.to_string())
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Deserialize)]
struct ProductForm {
    id: String,
}

/// Every form post answers 303 See Other (POST-redirect-GET), so reloading or going back to the
/// page never submits a form again.
async fn ui_add(cart: Cart, Form(form): Form<ProductForm>) -> Redirect {
    let Some((id, name, price)) = PRODUCTS.iter().find(|(id, _, _)| *id == form.id) else {
        return back_with("error", "That product is not in the catalogue.");
    };
    let input = ItemInput {
        id: (*id).to_owned(),
        name: (*name).to_owned(),
        price: (*price).to_owned(),
        quantity: 1,
        attributes: Default::default(),
        conditions: Vec::new(),
    };
    match cart.add_input(input).await {
        Ok(_) => Redirect::to("/"),
        Err(error) => back_with_error(&error),
    }
}

#[derive(Deserialize)]
struct UpdateForm {
    id: String,
    quantity: String,
}

async fn ui_update(cart: Cart, Form(form): Form<UpdateForm>) -> Redirect {
    let Ok(quantity) = form.quantity.trim().parse::<i64>() else {
        return back_with("error", "The quantity must be a whole number.");
    };
    match cart.set_quantity(&form.id, quantity).await {
        Ok(_) => Redirect::to("/"),
        Err(error) => back_with_error(&error),
    }
}

async fn ui_remove(cart: Cart, Form(form): Form<ProductForm>) -> Redirect {
    match cart.remove(&form.id).await {
        Ok(_) => Redirect::to("/"),
        Err(error) => back_with_error(&error),
    }
}

#[derive(Deserialize)]
struct DiscountForm {
    code: String,
}

async fn ui_discount(cart: Cart, Form(form): Form<DiscountForm>) -> Redirect {
    let code = form.code.trim().to_ascii_uppercase();
    let Some((code, value)) = DISCOUNT_CODES.iter().find(|(known, _)| *known == code) else {
        return back_with(
            "error",
            &format!("Unknown discount code “{}”.", form.code.trim()),
        );
    };
    match cart.add_discount(code, value).await {
        Ok(()) => back_with("notice", &format!("{code} applied.")),
        Err(error) => back_with_error(&error),
    }
}

async fn health() -> &'static str {
    "ok"
}

// ----- assembly --------------------------------------------------------------------------------

/// The shop's routes with carts from `config` and sessions in `sessions`.
pub fn app<Store: SessionStore + Clone>(config: CartConfig, sessions: Store) -> Router {
    app_with_manager(CartManager::new(shop_config(config)), sessions)
}

/// The shop's cart configuration: `config` with the demo login's user resolver.
pub fn shop_config(config: CartConfig) -> CartConfig {
    config.with_user_resolver(SessionUserResolver::new(USER_KEY))
}

/// The shop's routes on an existing manager (shared with workers; see `examples/worker.rs`).
pub fn app_with_manager<Store: SessionStore + Clone>(
    manager: CartManager,
    sessions: Store,
) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/ui/add", post(ui_add))
        .route("/ui/update", post(ui_update))
        .route("/ui/remove", post(ui_remove))
        .route("/ui/discount", post(ui_discount))
        .route("/cart", get(show).delete(clear))
        .route("/cart/items", post(add_item))
        .route("/cart/items/{id}", patch(update_item).delete(remove_item))
        .route("/cart/items/{id}/conditions", post(add_item_condition))
        .route("/cart/conditions", post(add_condition))
        .route("/cart/conditions/{name}", delete(remove_condition))
        .route("/cart/metadata/{key}", put(set_metadata))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/health", get(health))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CartLayer::from_manager(manager))
        .layer(SessionManagerLayer::new(sessions).with_secure(false))
}

/// Serves `router` on `HOST:PORT` and prints the address.
async fn serve(router: Router) {
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let listener = match tokio::net::TcpListener::bind(format!("{host}:{port}")).await {
        Ok(listener) => listener,
        Err(e) => fail(&format!("cannot listen on {host}:{port}: {e}")),
    };
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    // Tests and scripts read this line to find the port when PORT=0.
    println!("shop listening on http://{address}");
    if let Err(e) = axum::serve(listener, router).await {
        fail(&format!("server error: {e}"));
    }
}

fn fail(message: &str) -> ! {
    eprintln!("shop: {message}");
    std::process::exit(1)
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,axum_cart=info".into()),
        )
        .init();
    // CART_STORAGE, CART_CURRENCY, CART_MAX_ITEMS, ... (see axum_cart::settings::ENV_VARS).
    let settings = CartSettings::from_env().unwrap_or_else(|e| fail(&e.to_string()));
    let router = match settings.storage {
        // With the cache driver the sessions live in Redis too, on the carts' pool, so that
        // several shop processes serve the same visitors.
        Driver::Cache => {
            let redis = settings
                .connect_cache()
                .await
                .unwrap_or_else(|e| fail(&e.to_string()));
            let sessions = RedisStore::new(redis.client().clone());
            let config = settings
                .to_config()
                .unwrap_or_else(|e| fail(&e.to_string()));
            app(config.with_storage(redis), sessions)
        }
        _ => {
            let config = settings
                .connect()
                .await
                .unwrap_or_else(|e| fail(&e.to_string()));
            app(config, MemoryStore::default())
        }
    };
    serve(router).await;
}
