//! The example shop (`examples/shop.rs`) as a router in this process, with its default session
//! mode or in cookie mode on a given storage.

// The example is a binary, not a library: its source is compiled in as a module.
#[path = "../../examples/shop.rs"]
mod example;

pub use example::*;

use axum::Router;
use axum_cart::storage::CartStorage;
use axum_cart::{CartConfig, CookieConfig};
use tower_sessions::MemoryStore;

/// The example shop with its defaults: carts and guest identifiers in an in-memory session.
pub fn session_shop() -> Router {
    app(CartConfig::new(), MemoryStore::default())
}

/// A cookie-mode configuration on `storage` (signed `cart_id` cookie, not Secure: tests speak HTTP).
pub fn cookie_config(storage: impl CartStorage) -> CartConfig {
    CartConfig::new()
        .with_storage(storage)
        .with_cookie_identifier(CookieConfig::new(cookie::Key::generate()).with_secure(false))
}

/// The example shop in cookie mode on `storage`.
pub fn cookie_shop(storage: impl CartStorage) -> Router {
    app(cookie_config(storage), MemoryStore::default())
}
