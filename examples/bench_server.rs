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
//! - With `REDIS_URL`: `/lib-redis/...` (the cache driver) and `/manual-redis/...` (the same JSON
//!   document with a plain fred `GET` and `SET`).
//! - With `DATABASE_URL`: `/lib-pg/...` (the database driver) and `/manual-pg/...` (the same
//!   document with a plain sqlx `SELECT` and upsert in a table of its own).
//!
//! The carts of every route are keyed by the visitor's session. `PORT` (default 3900) chooses the
//! port; it prints `bench server listening on ...` when ready.

use axum::extract::Json;
use axum::routing::{get, post};
use axum::{Router, http::StatusCode};
use axum_cart::{
    Cart, CartConfig, CartContents, CartError, CartLayer, CartView, Currency, Limits,
    PricedItemInput,
};
use serde_json::Value;
use tower_sessions::{MemoryStore, Session, SessionManagerLayer};

async fn ping() -> &'static str {
    "pong"
}

async fn lib_show(cart: Cart) -> Result<Json<CartView>, CartError> {
    Ok(Json(cart.view().await?))
}

async fn lib_add(
    cart: Cart,
    Json(item): Json<PricedItemInput>,
) -> Result<Json<CartView>, CartError> {
    cart.add_priced_input(item).await?;
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
    Json(item): Json<PricedItemInput>,
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

/// The hand-written handlers' cart key for this visitor, minted into the session on first use.
async fn manual_identifier(session: &Session) -> Result<String, (StatusCode, String)> {
    let unavailable =
        |e: tower_sessions::session::Error| (StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    if let Some(id) = session
        .get::<String>("manual_id")
        .await
        .map_err(unavailable)?
    {
        return Ok(id);
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    session
        .insert("manual_id", &id)
        .await
        .map_err(unavailable)?;
    Ok(id)
}

fn parse_document(document: Option<String>) -> Result<CartContents, (StatusCode, String)> {
    match document {
        Some(json) => CartContents::from_json(json.as_bytes())
            .map(|cart| cart.with_limits(limits()))
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        None => Ok(CartContents::new(Currency::USD).with_limits(limits())),
    }
}

fn add_item(
    cart: &mut CartContents,
    item: PricedItemInput,
) -> Result<String, (StatusCode, String)> {
    let item = item
        .into_item(cart.currency())
        .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    cart.add(item)
        .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let json = cart
        .to_json()
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    String::from_utf8(json).map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

#[cfg(feature = "redis")]
mod manual_redis {
    use super::*;
    use fred::clients::Pool;
    use fred::interfaces::KeysInterface;

    fn unavailable(e: fred::error::Error) -> (StatusCode, String) {
        (StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }

    pub async fn show(
        axum::extract::State(pool): axum::extract::State<Pool>,
        session: Session,
    ) -> Result<Json<CartView>, (StatusCode, String)> {
        let key = format!("manual:{}", manual_identifier(&session).await?);
        let document: Option<String> = pool.get(key).await.map_err(unavailable)?;
        manual_view(&parse_document(document)?)
    }

    pub async fn add(
        axum::extract::State(pool): axum::extract::State<Pool>,
        session: Session,
        Json(item): Json<PricedItemInput>,
    ) -> Result<Json<CartView>, (StatusCode, String)> {
        let key = format!("manual:{}", manual_identifier(&session).await?);
        let document: Option<String> = pool.get(key.as_str()).await.map_err(unavailable)?;
        let mut cart = parse_document(document)?;
        let json = add_item(&mut cart, item)?;
        let _: () = pool
            .set(
                key,
                json,
                Some(fred::types::Expiration::EX(86_400)),
                None,
                false,
            )
            .await
            .map_err(unavailable)?;
        manual_view(&cart)
    }
}

#[cfg(feature = "postgres")]
mod manual_pg {
    use super::*;
    use sqlx::PgPool;

    fn unavailable(e: sqlx::Error) -> (StatusCode, String) {
        (StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }

    pub const TABLE: &str = "CREATE TABLE IF NOT EXISTS bench_manual_carts \
        (identifier text PRIMARY KEY, document jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())";

    pub async fn show(
        axum::extract::State(pool): axum::extract::State<PgPool>,
        session: Session,
    ) -> Result<Json<CartView>, (StatusCode, String)> {
        let id = manual_identifier(&session).await?;
        let document: Option<String> = sqlx::query_scalar(
            "SELECT document::text FROM bench_manual_carts WHERE identifier = $1",
        )
        .bind(id)
        .fetch_optional(&pool)
        .await
        .map_err(unavailable)?;
        manual_view(&parse_document(document)?)
    }

    pub async fn add(
        axum::extract::State(pool): axum::extract::State<PgPool>,
        session: Session,
        Json(item): Json<PricedItemInput>,
    ) -> Result<Json<CartView>, (StatusCode, String)> {
        let id = manual_identifier(&session).await?;
        let document: Option<String> = sqlx::query_scalar(
            "SELECT document::text FROM bench_manual_carts WHERE identifier = $1",
        )
        .bind(&id)
        .fetch_optional(&pool)
        .await
        .map_err(unavailable)?;
        let mut cart = parse_document(document)?;
        let json = add_item(&mut cart, item)?;
        sqlx::query(
            "INSERT INTO bench_manual_carts (identifier, document) VALUES ($1, $2::jsonb) \
             ON CONFLICT (identifier) DO UPDATE SET document = EXCLUDED.document, updated_at = now()",
        )
        .bind(id)
        .bind(json)
        .execute(&pool)
        .await
        .map_err(unavailable)?;
        manual_view(&cart)
    }
}

/// The shared backends, when their URLs are set.
#[derive(Clone, Default)]
pub struct Backends {
    /// The cache driver and its pool.
    #[cfg(feature = "redis")]
    pub redis: Option<axum_cart::RedisStorage>,
    /// The database driver and its pool.
    #[cfg(feature = "postgres")]
    pub postgres: Option<axum_cart::PostgresStorage>,
}

impl Backends {
    /// Connects to `REDIS_URL` and `DATABASE_URL` when they are set.
    pub async fn from_env() -> Backends {
        let mut backends = Backends::default();
        #[cfg(feature = "redis")]
        if let Ok(url) = std::env::var("REDIS_URL") {
            let storage = axum_cart::RedisStorage::connect(&url)
                .await
                .expect("connect to Redis");
            backends.redis = Some(storage.with_prefix("bench-cart"));
        }
        #[cfg(feature = "postgres")]
        if let Ok(url) = std::env::var("DATABASE_URL") {
            let storage = axum_cart::PostgresStorage::connect(&url)
                .await
                .expect("connect to Postgres");
            storage.migrate().await.expect("migrate");
            sqlx::query(manual_pg::TABLE)
                .execute(storage.pool())
                .await
                .expect("manual table");
            backends.postgres = Some(storage);
        }
        backends
    }
}

/// Every compared route in one router (without the shared backends).
pub fn app() -> Router {
    app_with(Backends::default())
}

/// Every compared route in one router.
pub fn app_with(backends: Backends) -> Router {
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
    let mut router = Router::new()
        .nest("/plain", plain)
        .nest("/layered", layered)
        .nest("/lib", library)
        .nest("/manual", manual);
    #[cfg(feature = "redis")]
    if let Some(redis) = backends.redis {
        let pool = redis.client().clone();
        router = router
            .nest(
                "/lib-redis",
                Router::new()
                    .route("/cart", get(lib_show))
                    .route("/cart/items", post(lib_add))
                    .layer(CartLayer::new(
                        CartConfig::new().with_storage(redis).with_limits(limits()),
                    )),
            )
            .nest(
                "/manual-redis",
                Router::new()
                    .route("/cart", get(manual_redis::show))
                    .route("/cart/items", post(manual_redis::add))
                    .with_state(pool),
            );
    }
    #[cfg(feature = "postgres")]
    if let Some(postgres) = backends.postgres {
        let pool = postgres.pool().clone();
        router = router
            .nest(
                "/lib-pg",
                Router::new()
                    .route("/cart", get(lib_show))
                    .route("/cart/items", post(lib_add))
                    .layer(CartLayer::new(
                        CartConfig::new()
                            .with_storage(postgres)
                            .with_limits(limits()),
                    )),
            )
            .nest(
                "/manual-pg",
                Router::new()
                    .route("/cart", get(manual_pg::show))
                    .route("/cart/items", post(manual_pg::add))
                    .with_state(pool),
            );
    }
    router.layer(sessions)
}

#[tokio::main]
async fn main() {
    let app = app_with(Backends::from_env().await);
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
