//! The example shop: a JSON cart API, a server-rendered storefront page and admin routes.
//!
//! ```text
//! cargo run --example shop                      # session driver, in-memory sessions
//! CART_STORAGE=cache REDIS_URL=redis://127.0.0.1:6379 cargo run --example shop
//! CART_STORAGE=cache REDIS_URL='redis-cluster://127.0.0.1:7000?node=127.0.0.1:7001' cargo run --example shop
//! CART_STORAGE=database DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --example shop
//! SHOP_ADMIN_TOKEN=change-me cargo run --example shop   # with the admin and trusted routes
//! ```
//! `PORT` (default 3000) and `HOST` (default 127.0.0.1) choose where it listens.
//!
//! Prices come from the shop's catalogue, never from a client: `POST /cart/items` takes
//! `{id, quantity, attributes?}` and refuses a `price` or a `name`; discount codes are resolved
//! here (`POST /cart/codes`); arbitrary conditions and the admin routes need
//! `Authorization: Bearer <SHOP_ADMIN_TOKEN>`, and do not exist while that variable is unset.
//!
//! Cart answers carry an `ETag` (304 for a matching `If-None-Match`), changes honour `If-Match`
//! (412 when stale) and `Idempotency-Key` (a retry is answered, not applied again), and every
//! error is an RFC 9457 problem (`application/problem+json`).

#[path = "shop/admin.rs"]
mod admin;
#[path = "shop/api.rs"]
mod api;
#[path = "shop/plumbing.rs"]
mod plumbing;
#[path = "shop/storefront.rs"]
mod storefront;

use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post, put};
use axum_cart::cart::{Condition, ConditionTarget, Rule};
use axum_cart::settings::{CartSettings, Driver};
use axum_cart::{
    CartConfig, CartLayer, CartManager, Currency, MemoryCatalog, Money, Product,
    SessionUserResolver,
};
use tower_sessions::{MemoryStore, SessionManagerLayer, SessionStore};
use tower_sessions_redis_store::RedisStore;

/// The session key the demo login keeps the user id under.
const USER_KEY: &str = "user_id";
/// Request bodies above this are refused with 413 before they are parsed.
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The catalogue: id, name, price in USD.
pub const PRODUCTS: &[(&str, &str, &str)] = &[
    ("tee", "Organic T-shirt", "19.90"),
    ("mug", "Enamel mug", "8.50"),
    ("cap", "Canvas cap", "14.00"),
    ("socks", "Wool socks", "6.25"),
    ("poster", "Screen-printed poster", "12.00"),
    ("pen", "Brass pen", "0.99"),
    ("lamp", "Desk lamp", "149.00"),
];

/// The discount codes: `SAVE10` takes 10 % off the subtotal; `TENOFF` takes 10.00 off it while
/// the subtotal is at least 50.00. Both are discounts on the subtotal, so they stack.
pub fn codes() -> Vec<Condition> {
    let save10 = Condition::new("SAVE10", "discount", ConditionTarget::Subtotal, "-10%")
        .expect("a valid condition");
    let tenoff = Condition::new("TENOFF", "discount", ConditionTarget::Subtotal, "-10.00")
        .expect("a valid condition")
        .with_rule(Rule::SubtotalAtLeast {
            amount: "50.00".parse().expect("a decimal"),
        });
    vec![save10, tenoff]
}

/// A new catalogue holding [`PRODUCTS`] and [`codes`].
pub fn shop_catalog() -> MemoryCatalog {
    let mut catalog = MemoryCatalog::new();
    for (id, name, price) in PRODUCTS {
        let price = Money::parse(price, Currency::USD).expect("a catalogue price");
        catalog = catalog.with_product(*id, *name, price);
    }
    for code in codes() {
        catalog = catalog.with_code(code.name().to_owned(), code);
    }
    catalog
}

/// What the shop's handlers share: the carts' manager, the catalogue (the same one the carts
/// price from), the ids the storefront lists, and the admin token.
#[derive(Clone)]
pub struct Shop {
    manager: CartManager,
    catalog: MemoryCatalog,
    shelf: Arc<RwLock<Vec<String>>>,
    admin_token: Option<Arc<str>>,
}

impl Shop {
    fn new(manager: CartManager, catalog: MemoryCatalog, admin_token: Option<&str>) -> Shop {
        let shelf = PRODUCTS.iter().map(|(id, _, _)| (*id).to_owned()).collect();
        Shop {
            manager,
            catalog,
            shelf: Arc::new(RwLock::new(shelf)),
            admin_token: admin_token.filter(|t| !t.is_empty()).map(Arc::from),
        }
    }

    /// The products on the shelf, in shelf order.
    fn products(&self) -> Vec<Product> {
        let shelf = self.shelf.read().unwrap_or_else(|p| p.into_inner());
        shelf
            .iter()
            .filter_map(|id| self.catalog.product(id))
            .collect()
    }

    /// Lists `id` on the storefront (a product the admin created).
    fn shelve(&self, id: &str) {
        let mut shelf = self.shelf.write().unwrap_or_else(|p| p.into_inner());
        if !shelf.iter().any(|known| known == id) {
            shelf.push(id.to_owned());
        }
    }
}

// ----- assembly --------------------------------------------------------------------------------

/// The shop's routes with carts from `config` and sessions in `sessions`, on a new
/// [`shop_catalog`], without admin routes.
pub fn app<Store: SessionStore + Clone>(config: CartConfig, sessions: Store) -> Router {
    app_with(config, sessions, shop_catalog(), None)
}

/// The shop's routes on `catalog` (prices and codes); with `admin_token`, the admin and trusted
/// condition routes answer callers that send it as a bearer token.
pub fn app_with<Store: SessionStore + Clone>(
    config: CartConfig,
    sessions: Store,
    catalog: MemoryCatalog,
    admin_token: Option<&str>,
) -> Router {
    let manager = CartManager::new(shop_config_with(config, &catalog));
    routes(Shop::new(manager, catalog, admin_token), sessions)
}

/// The shop's cart configuration: `config` with the demo login's user resolver and a new
/// [`shop_catalog`].
pub fn shop_config(config: CartConfig) -> CartConfig {
    shop_config_with(config, &shop_catalog())
}

/// `config` with the demo login's user resolver, pricing from `catalog` and its codes, and the
/// HTTP protocol on: conditional requests (`ETag`, `If-None-Match`, `If-Match`) and
/// `Idempotency-Key` (see the README's "Safe retries").
pub fn shop_config_with(config: CartConfig, catalog: &MemoryCatalog) -> CartConfig {
    config
        .with_conditional_requests(true)
        .with_idempotency_keys(true)
        .with_user_resolver(SessionUserResolver::new(USER_KEY))
        .with_catalog(catalog.clone())
        .with_promotions(catalog.clone())
}

/// The shop's routes on an existing manager built with [`shop_config`] (shared with workers;
/// see `examples/worker.rs`), without admin routes.
pub fn app_with_manager<Store: SessionStore + Clone>(
    manager: CartManager,
    sessions: Store,
) -> Router {
    routes(Shop::new(manager, shop_catalog(), None), sessions)
}

fn routes<Store: SessionStore + Clone>(shop: Shop, sessions: Store) -> Router {
    let manager = shop.manager.clone();
    Router::new()
        .route("/", get(storefront::page))
        .route("/ui/add", post(storefront::add))
        .route("/ui/update", post(storefront::update))
        .route("/ui/remove", post(storefront::remove))
        .route("/ui/discount", post(storefront::apply_code))
        .route("/ui/code/remove", post(storefront::remove_code))
        .route("/cart", get(api::show).delete(api::clear))
        .route("/cart/items", post(api::add_item))
        .route(
            "/cart/items/{id}",
            patch(api::update_item).delete(api::remove_item),
        )
        .route("/cart/items/{id}/conditions", post(api::add_item_condition))
        .route("/cart/codes", post(api::apply_code))
        .route("/cart/codes/{code}", delete(api::remove_code))
        .route("/cart/conditions", post(api::add_condition))
        .route("/cart/conditions/{name}", delete(api::remove_condition))
        .route("/cart/metadata/{key}", put(api::set_metadata))
        .route("/admin/catalog/{id}", put(admin::put_product))
        .route("/admin/carts/{identifier}", get(admin::show_cart))
        .route("/login", post(api::login))
        .route("/logout", post(api::logout))
        .route("/health", get(api::health))
        .with_state(shop)
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
    let admin_token = std::env::var("SHOP_ADMIN_TOKEN").ok();
    let admin_token = admin_token.as_deref();
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
            app_with(
                config.with_storage(redis),
                sessions,
                shop_catalog(),
                admin_token,
            )
        }
        _ => {
            let config = settings
                .connect()
                .await
                .unwrap_or_else(|e| fail(&e.to_string()));
            app_with(config, MemoryStore::default(), shop_catalog(), admin_token)
        }
    };
    serve(router).await;
}
