//! [`CartLayer`]: puts a lazy per-request cart context into the request ([`CartService`]) and, on
//! the way out, sets the identifier cookie when a guest cart was written ([`ResponseFuture`]).
//!
//! The layer does no I/O of its own: the [`crate::Cart`] extractor resolves the identifier and
//! loads the cart on first use, so a route that never takes `Cart` costs one small allocation.

mod future;
mod service;

use tower_layer::Layer;

pub use self::future::ResponseFuture;
pub use self::service::CartService;
use crate::config::CartConfig;
use crate::manager::CartManager;

/// Adds carts to a router.
///
/// With the default (session) configuration, a tower-sessions `SessionManagerLayer` must wrap it,
/// i.e. be added after it:
///
/// ```
/// use axum::{Json, Router, routing::put};
/// use axum_cart::{Cart, CartConfig, CartError, CartLayer, CartView};
/// use tower_sessions::{MemoryStore, SessionManagerLayer};
///
/// async fn gift(cart: Cart, Json(gift): Json<bool>) -> Result<Json<CartView>, CartError> {
///     cart.set_metadata("gift", gift.into()).await?;
///     Ok(Json(cart.view().await?))
/// }
///
/// let app: Router = Router::new()
///     .route("/cart/gift", put(gift))
///     .layer(CartLayer::new(CartConfig::new()))
///     .layer(SessionManagerLayer::new(MemoryStore::default()));
/// ```
#[derive(Clone, Debug)]
pub struct CartLayer {
    manager: CartManager,
}

impl CartLayer {
    /// A layer with a new [`CartManager`] for `config`.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use axum_cart::{Cart, CartConfig, CartLayer, CookieConfig, MemoryStorage};
    ///
    /// async fn count(cart: Cart) -> String {
    ///     match cart.contents().await {
    ///         Ok(contents) => contents.count().to_string(),
    ///         Err(error) => error.to_string(),
    ///     }
    /// }
    ///
    /// // A shared driver and signed-cookie identifiers need no session layer.
    /// let key = cookie::Key::generate();
    /// let config = CartConfig::new()
    ///     .with_storage(MemoryStorage::new())
    ///     .with_cookie_identifier(CookieConfig::new(key));
    /// let app: Router = Router::new().route("/count", get(count)).layer(CartLayer::new(config));
    /// ```
    pub fn new(config: CartConfig) -> Self {
        CartLayer {
            manager: CartManager::new(config),
        }
    }

    /// A layer on an existing manager (shared with workers, or with other routers).
    pub fn from_manager(manager: CartManager) -> Self {
        CartLayer { manager }
    }

    /// The manager this layer serves carts from.
    pub fn manager(&self) -> &CartManager {
        &self.manager
    }
}

impl<S> Layer<S> for CartLayer {
    type Service = CartService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CartService::new(inner, self.manager.clone())
    }
}
