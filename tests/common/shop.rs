//! The example shop (`examples/shop.rs`) as a router in this process: with its default session
//! mode or in cookie mode on a given storage, its catalogue, and an admin token.

// The example is a binary, not a library: its source is compiled in as a module.
#[path = "../../examples/shop.rs"]
mod example;

pub use example::*;

use axum::Router;
use axum_cart::storage::CartStorage;
use axum_cart::{CartConfig, CookieConfig, MemoryCatalog};
use tower_sessions::MemoryStore;

/// The admin token the test shops accept (`Authorization: Bearer ...`).
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// The example shop on `config` with sessions in memory, a new catalogue (returned, to change
/// prices behind the shop's back) and [`ADMIN_TOKEN`].
pub fn shop_with(config: CartConfig) -> (Router, MemoryCatalog) {
    let catalog = shop_catalog();
    let app = app_with(
        config,
        MemoryStore::default(),
        catalog.clone(),
        Some(ADMIN_TOKEN),
    );
    (app, catalog)
}

/// The example shop on `config`, with sessions in memory and [`ADMIN_TOKEN`].
pub fn admin_shop(config: CartConfig) -> Router {
    shop_with(config).0
}

/// The example shop with its defaults: carts and guest identifiers in an in-memory session.
pub fn session_shop() -> Router {
    admin_shop(CartConfig::new())
}

/// A cookie-mode configuration on `storage` (signed `cart_id` cookie, not Secure: tests speak HTTP).
pub fn cookie_config(storage: impl CartStorage) -> CartConfig {
    CartConfig::new()
        .with_storage(storage)
        .with_cookie_identifier(CookieConfig::new(cookie::Key::generate()).with_secure(false))
}

/// The example shop in cookie mode on `storage`.
pub fn cookie_shop(storage: impl CartStorage) -> Router {
    admin_shop(cookie_config(storage))
}
