//! A shopping cart for [axum]: items, conditions (discounts, taxes, fees, shipping), metadata,
//! exact totals with a step-by-step breakdown, and named instances (cart, wishlist, ...).
//!
//! Add one layer, [`CartLayer`], to a [`Router`](axum::Router) and take [`Cart`] as a handler
//! argument. The layer works out whose cart a request reaches (a guest identifier kept in the
//! tower-sessions session or in a signed cookie, or the logged-in user); the `Cart` handle loads
//! that cart on first use and makes every change one atomic, versioned write.
//!
//! # A handler
//!
//! ```
//! use axum::{Json, Router, routing::{get, post}};
//! use axum_cart::{AddItem, Cart, CartConfig, CartError, CartLayer, CartView, Currency, MemoryCatalog, Money};
//! use tower_sessions::{MemoryStore, SessionManagerLayer};
//!
//! // The client names a product and a quantity; name and price come from the shop's catalogue,
//! // and a body with a `price` or `name` field is refused.
//! async fn add(cart: Cart, Json(input): Json<AddItem>) -> Result<Json<CartView>, CartError> {
//!     cart.add_product(input).await?;
//!     Ok(Json(cart.view().await?))
//! }
//!
//! async fn show(cart: Cart) -> Result<Json<CartView>, CartError> {
//!     Ok(Json(cart.view().await?))
//! }
//!
//! let catalog = MemoryCatalog::new()
//!     .with_product("mug", "Enamel mug", Money::parse("8.50", Currency::USD)?);
//! let app: Router = Router::new()
//!     .route("/cart", get(show))
//!     .route("/cart/items", post(add))
//!     .layer(CartLayer::new(CartConfig::new().with_catalog(catalog)))
//!     // The default (session) driver keeps carts in the tower-sessions session.
//!     .layer(SessionManagerLayer::new(MemoryStore::default()));
//! # Ok::<(), axum_cart::cart::Error>(())
//! ```
//!
//! [`CartError`] answers with an HTTP status and a JSON body, so handlers use `?` throughout.
//! Prices come from a [`Catalog`] and discount codes from [`Promotions`]; the [`PricePolicy`] says
//! what a cart does when a catalogue price moves. [`Cart::add_priced`] takes a price as given,
//! for trusted code only.
//! Outside requests (workers, admin tools), [`CartManager::cart`] opens a cart by identifier and
//! instance, with the same writes and events.
//!
//! # Drivers
//!
//! | driver | backend | for | configure |
//! |---|---|---|---|
//! | session (default) | the tower-sessions session, key `cart` | zero set-up, per-visitor carts | [`CartConfig::new`] |
//! | cache | Redis through fred: prefix, TTL, optional locking | carts shared by many web servers | [`RedisStorage`] |
//! | database | Postgres through sqlx: `carts` table, `version` column | durable carts, abandoned-cart queries | [`PostgresStorage`] |
//! | memory | a map in this process | tests, examples, single-process tools | [`MemoryStorage`] |
//!
//! Your own backend is a [`storage::CartStorage`] implementation; [`storage::conformance`] (with
//! the `test-util` feature) checks it against the same contract as the built-in drivers.
//! [`CartManager::swap_storage`] switches drivers at runtime and [`storage::copy_carts`] moves
//! carts between them. [`CartSettings`] reads the whole configuration from environment variables
//! or TOML.
//!
//! # Modules
//!
//! The root holds what a handler author needs. [`cart`] is the pure domain (money, items,
//! conditions, totals, merging: no I/O, no HTTP); [`storage`] is what a driver author needs.
//!
//! # Features
//!
//! - `redis` (default): the cache driver, on [fred] and tower-sessions-redis-store.
//! - `postgres` (default): the database driver, on [sqlx].
//! - `test-util`: the driver conformance suite, [`storage::conformance`].
//!
//! The crate builds without either driver feature; the session and memory drivers are always
//! there.
//!
//! [axum]: https://docs.rs/axum
//! [fred]: https://docs.rs/fred
//! [sqlx]: https://docs.rs/sqlx
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

pub mod cart;
mod catalog;
mod config;
mod error;
mod event;
mod extract;
mod handle;
mod identify;
mod layer;
mod login;
mod manager;
mod protocol;
mod queue;
mod request;
pub mod settings;
pub mod storage;
mod view;

#[doc(inline)]
pub use cart::{
    AddItem, CartContents, CartItem, Condition, ConditionInput, ConditionTarget, Currency,
    ItemUpdateInput, Limits, MergeStrategy, Money, PricedItemInput, RoundingMode, Totals,
};
pub use catalog::{Catalog, CatalogError, MemoryCatalog, PricePolicy, Product, Promotions};
pub use config::{CartConfig, StorageMode};
pub use error::CartError;
pub use event::{CartEvent, CartEventKind};
pub use handle::{Cart, CartSnapshot};
pub use identify::{CookieConfig, IdentifierMode, SessionUserResolver, UserResolver};
pub use layer::{CartLayer, CartService, ResponseFuture};
pub use manager::CartManager;
pub use protocol::CartResponse;
#[doc(inline)]
pub use settings::{CartSettings, SettingsError};
#[doc(inline)]
pub use storage::MemoryStorage;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
#[doc(inline)]
pub use storage::PostgresStorage;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
#[doc(inline)]
pub use storage::RedisStorage;
pub use view::{CartView, Notice};

// The README's examples stay compiled without being the crate's docs.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
