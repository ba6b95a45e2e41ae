//! The servers `bench/load.sh` drives: one process serves a side, so that each side's throughput
//! and peak memory are its own.
//!
//! ```text
//! bench_server library        # axum-cart
//! bench_server hand-written   # the lean cart a user would write instead
//! ```
//!
//! Both sides answer the same paths with the same bodies, for each driver:
//! - `/session/...`: the cart in the tower-sessions session (in-memory session store);
//! - `/cache/...`: the cart in Redis (`REDIS_URL`), sessions in Redis on the same fred pool;
//! - `/database/...`: the cart in Postgres (`DATABASE_URL`), in-memory sessions.
//!
//! Under each prefix, `GET /cart` answers `{items: [{id, name, price, quantity}], count,
//! subtotal}` and `POST /cart/items` takes `{id, quantity}`, prices the line from the shop's
//! catalogue and answers the same body. The library side also serves `GET /view` and
//! `POST /view/items`: the full cart view through `Cart::respond`, with the example shop's
//! settings (conditional requests, idempotency keys, re-pricing with notices). `GET /ping`
//! answers `pong`; on the library side it is behind `CartLayer` and never takes `Cart`.
//!
//! The hand-written side uses no axum-cart type: a serde struct of lines with prices in cents,
//! one `Session::get` and `Session::insert`, one Redis `GET` and `SET`, or one `SELECT` and one
//! upsert. `PORT` (default 3900) chooses the port; it prints `bench server listening on ...` when
//! ready.

use axum::Router;
use axum::routing::{get, post};
use tower_sessions::{MemoryStore, SessionManagerLayer, SessionStore};

/// The shop's catalogue on both sides: `sku-0` to `sku-49`, each with its own price.
const PRODUCTS: usize = 50;

/// The most of one product a cart holds, on both sides: high enough that no benchmark run meets
/// it.
const MAX_QUANTITY: u32 = 1_000_000;

fn product_name(index: usize) -> String {
    format!("Item {index}")
}

fn product_cents(index: usize) -> i64 {
    199 + 100 * index as i64
}

async fn ping() -> &'static str {
    "pong"
}

/// Where carts are stored, for each driver prefix.
#[derive(Clone, Default)]
pub struct Backends {
    #[cfg(feature = "redis")]
    redis: Option<fred::clients::Pool>,
    #[cfg(feature = "postgres")]
    postgres: Option<sqlx::PgPool>,
}

impl Backends {
    pub async fn from_env() -> Backends {
        #[allow(unused_mut)]
        let mut backends = Backends::default();
        #[cfg(feature = "redis")]
        if let Ok(url) = std::env::var("REDIS_URL") {
            use fred::interfaces::ClientLike;
            let config = fred::types::config::Config::from_url(&url).expect("REDIS_URL");
            let pool = fred::clients::Pool::new(config, None, None, None, 4).expect("Redis pool");
            pool.init().await.expect("connect to Redis");
            backends.redis = Some(pool);
        }
        #[cfg(feature = "postgres")]
        if let Ok(url) = std::env::var("DATABASE_URL") {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(8)
                .connect(&url)
                .await
                .expect("connect to Postgres");
            backends.postgres = Some(pool);
        }
        backends
    }
}

fn sessions<S: SessionStore + Clone>(store: S) -> SessionManagerLayer<S> {
    SessionManagerLayer::new(store).with_secure(false)
}

/// What a user writes without axum-cart.
mod hand_written {
    use axum::Json;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use serde::{Deserialize, Serialize};
    use tower_sessions::Session;

    use super::{MAX_QUANTITY, PRODUCTS, product_cents, product_name};

    #[derive(Clone, Default, Serialize, Deserialize)]
    pub struct LeanCart {
        pub lines: Vec<Line>,
    }

    #[derive(Clone, Serialize, Deserialize)]
    pub struct Line {
        pub id: String,
        pub name: String,
        pub price: i64,
        pub quantity: u32,
    }

    #[derive(Deserialize)]
    pub struct AddLine {
        id: String,
        quantity: u32,
    }

    #[derive(Serialize)]
    pub struct Answer<'a> {
        items: Vec<AnswerLine<'a>>,
        count: u64,
        subtotal: String,
    }

    #[derive(Serialize)]
    struct AnswerLine<'a> {
        id: &'a str,
        name: &'a str,
        price: String,
        quantity: u32,
    }

    fn cents(amount: i64) -> String {
        format!("{}.{:02}", amount / 100, amount % 100)
    }

    pub type Failure = (StatusCode, &'static str);

    fn unavailable<E>(_: E) -> Failure {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the cart store is unavailable",
        )
    }

    impl LeanCart {
        pub fn answer(&self) -> Json<Answer<'_>> {
            let items = self
                .lines
                .iter()
                .map(|line| AnswerLine {
                    id: &line.id,
                    name: &line.name,
                    price: cents(line.price),
                    quantity: line.quantity,
                })
                .collect();
            Json(Answer {
                items,
                count: self.lines.iter().map(|l| u64::from(l.quantity)).sum(),
                subtotal: cents(
                    self.lines
                        .iter()
                        .map(|l| l.price * i64::from(l.quantity))
                        .sum(),
                ),
            })
        }

        /// Adds a catalogue product: the price comes from the shop, never from the body.
        pub fn add(&mut self, input: AddLine) -> Result<(), Failure> {
            let index = input
                .id
                .strip_prefix("sku-")
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n < PRODUCTS)
                .ok_or((StatusCode::NOT_FOUND, "no such product"))?;
            if !(1..=MAX_QUANTITY).contains(&input.quantity) {
                return Err((StatusCode::UNPROCESSABLE_ENTITY, "bad quantity"));
            }
            match self.lines.iter_mut().find(|line| line.id == input.id) {
                Some(line) if line.quantity + input.quantity > MAX_QUANTITY => {
                    return Err((StatusCode::UNPROCESSABLE_ENTITY, "too many"));
                }
                Some(line) => {
                    line.quantity += input.quantity;
                    line.price = product_cents(index);
                }
                None => self.lines.push(Line {
                    id: input.id,
                    name: product_name(index),
                    price: product_cents(index),
                    quantity: input.quantity,
                }),
            }
            Ok(())
        }
    }

    const CART: &str = "cart";
    const CART_ID: &str = "cart_id";

    pub async fn session_show(session: Session) -> Result<Response, Failure> {
        let cart: LeanCart = session
            .get(CART)
            .await
            .map_err(unavailable)?
            .unwrap_or_default();
        Ok(cart.answer().into_response())
    }

    pub async fn session_add(
        session: Session,
        Json(input): Json<AddLine>,
    ) -> Result<Response, Failure> {
        let mut cart: LeanCart = session
            .get(CART)
            .await
            .map_err(unavailable)?
            .unwrap_or_default();
        cart.add(input)?;
        session.insert(CART, &cart).await.map_err(unavailable)?;
        Ok(cart.answer().into_response())
    }

    /// The visitor's cart id, minted into the session on the first write.
    async fn cart_id(session: &Session, create: bool) -> Result<Option<String>, Failure> {
        if let Some(id) = session.get::<String>(CART_ID).await.map_err(unavailable)? {
            return Ok(Some(id));
        }
        if !create {
            return Ok(None);
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        session.insert(CART_ID, &id).await.map_err(unavailable)?;
        Ok(Some(id))
    }

    #[cfg(feature = "redis")]
    pub mod cache {
        use fred::clients::Pool;
        use fred::interfaces::KeysInterface;
        use fred::types::Expiration;

        use super::*;

        async fn load(pool: &Pool, key: &str) -> Result<LeanCart, Failure> {
            let stored: Option<String> = pool.get(key).await.map_err(unavailable)?;
            match stored {
                Some(json) => serde_json::from_str(&json).map_err(unavailable),
                None => Ok(LeanCart::default()),
            }
        }

        pub async fn show(State(pool): State<Pool>, session: Session) -> Result<Response, Failure> {
            let cart = match cart_id(&session, false).await? {
                Some(id) => load(&pool, &format!("lean:{id}")).await?,
                None => LeanCart::default(),
            };
            Ok(cart.answer().into_response())
        }

        pub async fn add(
            State(pool): State<Pool>,
            session: Session,
            Json(input): Json<AddLine>,
        ) -> Result<Response, Failure> {
            let id = cart_id(&session, true).await?.unwrap_or_default();
            let key = format!("lean:{id}");
            let mut cart = load(&pool, &key).await?;
            cart.add(input)?;
            let json = serde_json::to_string(&cart).map_err(unavailable)?;
            let () = pool
                .set(key, json, Some(Expiration::EX(86_400)), None, false)
                .await
                .map_err(unavailable)?;
            Ok(cart.answer().into_response())
        }
    }

    #[cfg(feature = "postgres")]
    pub mod database {
        use sqlx::PgPool;
        use sqlx::types::Json as Jsonb;

        use super::*;

        pub const TABLE: &str = "CREATE TABLE IF NOT EXISTS lean_carts \
            (id text PRIMARY KEY, cart jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())";

        async fn load(pool: &PgPool, id: &str) -> Result<LeanCart, Failure> {
            let stored: Option<Jsonb<LeanCart>> =
                sqlx::query_scalar("SELECT cart FROM lean_carts WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await
                    .map_err(unavailable)?;
            Ok(stored.map(|cart| cart.0).unwrap_or_default())
        }

        pub async fn show(
            State(pool): State<PgPool>,
            session: Session,
        ) -> Result<Response, Failure> {
            let cart = match cart_id(&session, false).await? {
                Some(id) => load(&pool, &id).await?,
                None => LeanCart::default(),
            };
            Ok(cart.answer().into_response())
        }

        pub async fn add(
            State(pool): State<PgPool>,
            session: Session,
            Json(input): Json<AddLine>,
        ) -> Result<Response, Failure> {
            let id = cart_id(&session, true).await?.unwrap_or_default();
            let mut cart = load(&pool, &id).await?;
            cart.add(input)?;
            sqlx::query(
                "INSERT INTO lean_carts (id, cart) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET cart = EXCLUDED.cart, updated_at = now()",
            )
            .bind(&id)
            .bind(Jsonb(&cart))
            .execute(&pool)
            .await
            .map_err(unavailable)?;
            Ok(cart.answer().into_response())
        }
    }
}

/// The same routes through axum-cart.
mod library {
    use axum::Json;
    use axum::response::{IntoResponse, Response};
    use axum_cart::{
        AddItem, Cart, CartConfig, CartError, CartResponse, Currency, Limits, MemoryCatalog, Money,
        PricePolicy,
    };
    use serde::Serialize;

    use super::{MAX_QUANTITY, PRODUCTS, product_cents, product_name};

    fn limits() -> Limits {
        Limits {
            max_quantity: MAX_QUANTITY,
            ..Limits::default()
        }
    }

    pub fn catalog() -> MemoryCatalog {
        (0..PRODUCTS).fold(MemoryCatalog::new(), |catalog, index| {
            let price = Money::from_minor(product_cents(index), Currency::USD);
            catalog.with_product(format!("sku-{index}"), product_name(index), price)
        })
    }

    /// The compact routes' cart: prices are the catalogue's at the time of the add, as on the
    /// hand-written side.
    pub fn compact_config() -> CartConfig {
        CartConfig::new()
            .with_catalog(catalog())
            .with_limits(limits())
            .with_price_policy(PricePolicy::KeepSnapshot)
    }

    /// The full view's cart, set up as the example shop is.
    pub fn shop_config() -> CartConfig {
        CartConfig::new()
            .with_catalog(catalog())
            .with_limits(limits())
            .with_conditional_requests(true)
            .with_idempotency_keys(true)
    }

    #[derive(Serialize)]
    struct Answer<'a> {
        items: Vec<AnswerLine<'a>>,
        count: u64,
        subtotal: String,
    }

    #[derive(Serialize)]
    struct AnswerLine<'a> {
        id: &'a str,
        name: &'a str,
        price: String,
        quantity: u32,
    }

    async fn answer(cart: &Cart) -> Result<Response, CartError> {
        let contents = cart.snapshot().await?;
        let totals = contents.totals()?;
        let items = contents
            .items()
            .iter()
            .map(|item| AnswerLine {
                id: item.id(),
                name: item.name(),
                price: item.price().to_string(),
                quantity: item.quantity(),
            })
            .collect();
        Ok(Json(Answer {
            items,
            count: totals.count,
            subtotal: totals.subtotal.to_string(),
        })
        .into_response())
    }

    pub async fn show(cart: Cart) -> Result<Response, CartError> {
        answer(&cart).await
    }

    pub async fn add(cart: Cart, Json(input): Json<AddItem>) -> Result<Response, CartError> {
        cart.add_product(input).await?;
        answer(&cart).await
    }

    pub async fn view(cart: Cart) -> Result<CartResponse, CartError> {
        cart.respond().await
    }

    pub async fn view_add(
        cart: Cart,
        Json(input): Json<AddItem>,
    ) -> Result<CartResponse, CartError> {
        cart.add_product(input).await?;
        cart.respond().await
    }
}

/// `EVENT_LOG=1`: the library's cache and database drivers append every change to the durable
/// event log (`bench/events.sh` compares a server with it against one without).
fn event_log() -> bool {
    std::env::var("EVENT_LOG").is_ok_and(|v| v == "1")
}

pub fn library_app(backends: Backends) -> Router {
    use axum_cart::{CartConfig, CartLayer};

    let routes = |compact: CartConfig, shop: CartConfig| {
        Router::new()
            .route("/cart", get(library::show))
            .route("/cart/items", post(library::add))
            .layer(CartLayer::new(compact))
            .merge(
                Router::new()
                    .route("/view", get(library::view))
                    .route("/view/items", post(library::view_add))
                    .layer(CartLayer::new(shop)),
            )
    };
    let ping = Router::new()
        .route("/ping", get(ping))
        .layer(CartLayer::new(library::compact_config()));
    #[allow(unused_mut)]
    let mut app = ping.nest(
        "/session",
        routes(library::compact_config(), library::shop_config())
            .layer(sessions(MemoryStore::default())),
    );
    #[cfg(feature = "redis")]
    if let Some(pool) = backends.redis {
        let storage = axum_cart::RedisStorage::new(pool.clone()).with_event_log(event_log());
        app = app.nest(
            "/cache",
            routes(
                library::compact_config().with_storage(storage.clone()),
                library::shop_config().with_storage(storage),
            )
            .layer(sessions(tower_sessions_redis_store::RedisStore::new(pool))),
        );
    }
    #[cfg(feature = "postgres")]
    if let Some(pool) = backends.postgres {
        let storage = axum_cart::PostgresStorage::new(pool).with_event_log(event_log());
        app = app.nest(
            "/database",
            routes(
                library::compact_config().with_storage(storage.clone()),
                library::shop_config().with_storage(storage),
            )
            .layer(sessions(MemoryStore::default())),
        );
    }
    app
}

pub fn hand_written_app(backends: Backends) -> Router {
    #[allow(unused_mut)]
    let mut app = Router::new().route("/ping", get(ping)).nest(
        "/session",
        Router::new()
            .route("/cart", get(hand_written::session_show))
            .route("/cart/items", post(hand_written::session_add))
            .layer(sessions(MemoryStore::default())),
    );
    #[cfg(feature = "redis")]
    if let Some(pool) = backends.redis {
        use hand_written::cache;
        app = app.nest(
            "/cache",
            Router::new()
                .route("/cart", get(cache::show))
                .route("/cart/items", post(cache::add))
                .with_state(pool.clone())
                .layer(sessions(tower_sessions_redis_store::RedisStore::new(pool))),
        );
    }
    #[cfg(feature = "postgres")]
    if let Some(pool) = backends.postgres {
        use hand_written::database;
        app = app.nest(
            "/database",
            Router::new()
                .route("/cart", get(database::show))
                .route("/cart/items", post(database::add))
                .with_state(pool)
                .layer(sessions(MemoryStore::default())),
        );
    }
    app
}

/// The router of one side (`library` or `hand-written`), with the shared backends.
pub async fn app(side: &str, backends: Backends) -> Router {
    match side {
        "library" => {
            #[cfg(feature = "postgres")]
            if let Some(pool) = &backends.postgres {
                axum_cart::PostgresStorage::new(pool.clone())
                    .migrate()
                    .await
                    .expect("migrate the carts table");
            }
            library_app(backends)
        }
        "hand-written" => {
            #[cfg(feature = "postgres")]
            if let Some(pool) = &backends.postgres {
                sqlx::query(hand_written::database::TABLE)
                    .execute(pool)
                    .await
                    .expect("create the lean carts table");
            }
            hand_written_app(backends)
        }
        other => {
            eprintln!("bench_server: unknown side {other:?}: library or hand-written");
            std::process::exit(2)
        }
    }
}

#[tokio::main]
async fn main() {
    let side = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "library".to_owned());
    let app = app(&side, Backends::from_env().await).await;
    let port = std::env::var("PORT").unwrap_or_else(|_| "3900".to_owned());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("bind the bench port");
    println!(
        "bench server listening on http://{}",
        listener.local_addr().expect("a bound address")
    );
    axum::serve(listener, app).await.expect("serve");
}
