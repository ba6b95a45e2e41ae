//! [`Cart`]: the handle on one cart (identifier, instance), used by handlers and by
//! [`CartManager::cart`] alike. It loads the cart on first use, caches it for the request, and
//! turns every change into one atomic, versioned write.

mod catalog;
mod commit;
mod conditions;
mod items;
mod snapshot;

use std::sync::Arc;

use tracing::Instrument;

use crate::cart::{self, CartContents, CartItem, Totals};
use crate::catalog::{Product, unchecked_ids};
use crate::config::StorageMode;
use crate::error::CartError;
use crate::event::CartEventKind;
use crate::identify::user_identifier;
use crate::manager::CartManager;
use crate::protocol::CartResponse;
use crate::request::{CacheSlot, CachedCart, Identity, merge_into_user};
use crate::storage::{CartKey, CartStorage, Versioned, identifier_hash};
use crate::view::CartView;

pub use snapshot::CartSnapshot;

/// A handle on one cart. Take it as a handler argument (it needs [`CartLayer`](crate::CartLayer)),
/// or open one with [`CartManager::cart`].
///
/// The cart is loaded on first use and cached for the request; every change is one atomic,
/// versioned `modify` on the storage, retried on conflict, and tells the event listeners once it
/// is committed. [`Cart::instance`] gives a handle on another instance (`wishlist`, ...) of the
/// same identifier. Cloning is cheap and clones share the request's cache.
///
/// # Examples
///
/// ```
/// use axum::Json;
/// use axum_cart::{Cart, CartError, CartView};
///
/// async fn show(cart: Cart) -> Result<Json<CartView>, CartError> {
///     Ok(Json(cart.view().await?))
/// }
///
/// async fn wishlist_count(cart: Cart) -> Result<String, CartError> {
///     let wishlist = cart.instance("wishlist")?;
///     Ok(wishlist.contents().await?.count().to_string())
/// }
/// ```
#[derive(Clone)]
pub struct Cart {
    manager: CartManager,
    identity: Arc<Identity>,
    key: CartKey,
    cache: CacheSlot,
}

impl std::fmt::Debug for Cart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cart")
            .field("key", &self.key)
            .field("driver", &self.identity.storage.driver())
            .finish()
    }
}

impl CartManager {
    /// Opens the cart (`identifier`, `instance`) outside a request, for background workers and
    /// admin tools.
    ///
    /// # Errors
    ///
    /// [`CartError::Unsupported`] on the session driver (its carts exist only inside their
    /// visitor's request); a validation error for an empty identifier or a bad instance name.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use axum_cart::{CartConfig, CartItem, CartManager, Currency, MemoryStorage, Money};
    ///
    /// let manager = CartManager::new(CartConfig::new().with_storage(MemoryStorage::new()));
    /// let cart = manager.cart("user:42", "default")?;
    /// let mug = CartItem::new("mug", "Enamel mug", Money::parse("8.50", Currency::USD)?, 2);
    /// cart.add_priced(mug).await?;
    /// assert_eq!(cart.totals().await?.total.to_string(), "17.00");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn cart(&self, identifier: &str, instance: &str) -> Result<Cart, CartError> {
        let StorageMode::Shared(storage) = self.storage() else {
            return Err(CartError::Unsupported(
                "the session driver keeps carts inside requests; open session carts with the Cart extractor".to_owned(),
            ));
        };
        self.validate_instance(instance)?;
        if identifier.is_empty() {
            return Err(CartError::validation("identifier", "must not be empty"));
        }
        Ok(Cart::detached(
            self.clone(),
            storage,
            CartKey::new(identifier, instance),
        ))
    }
}

impl Cart {
    /// The handle on `instance` of a request's identity.
    pub(crate) fn for_request(
        manager: CartManager,
        identity: Arc<Identity>,
        instance: &str,
    ) -> Self {
        Cart {
            manager,
            key: CartKey::shared(Arc::clone(&identity.identifier), instance),
            cache: identity.cache(instance),
            identity,
        }
    }

    /// This handle's cache of the request's cart.
    fn cache(&self) -> &tokio::sync::Mutex<Option<CachedCart>> {
        self.identity.cache_in(&self.cache)
    }

    fn detached(manager: CartManager, storage: Arc<dyn CartStorage>, key: CartKey) -> Self {
        let identity = Arc::new(Identity::settled(
            key.identifier().to_owned(),
            storage,
            None,
        ));
        Cart {
            manager,
            cache: identity.cache(key.instance()),
            identity,
            key,
        }
    }

    /// A handle on another instance (`wishlist`, `saved`, ...) of the same identifier.
    ///
    /// # Errors
    ///
    /// A validation error unless the name is 1 to 64 (by default) characters of `[A-Za-z0-9_.-]`.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use axum_cart::{CartConfig, CartManager, MemoryStorage};
    /// # let cart = CartManager::new(CartConfig::new().with_storage(MemoryStorage::new())).cart("user:7", "default")?;
    /// let wishlist = cart.instance("wishlist")?;
    /// wishlist.set_metadata("note", "for later".into()).await?;
    /// assert!(cart.contents().await?.metadata().is_empty(), "instances are separate carts");
    /// assert!(cart.instance("no spaces").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn instance(&self, name: &str) -> Result<Cart, CartError> {
        self.manager.validate_instance(name)?;
        Ok(Cart {
            manager: self.manager.clone(),
            identity: Arc::clone(&self.identity),
            key: CartKey::new(self.key.identifier(), name),
            cache: self.identity.cache(name),
        })
    }

    /// Logs `user_id` in: merges this guest's carts (every instance) into the user's with the
    /// configured strategy, forgets the guest identifier, and returns the user's cart of this
    /// instance. Call it after your own login succeeded, and make your
    /// [`UserResolver`](crate::UserResolver) return the user from then on. A repeated login
    /// merges nothing.
    ///
    /// # Errors
    ///
    /// A storage error, or a domain error when the merged cart would break a limit.
    pub async fn login(&self, user_id: &str) -> Result<Cart, CartError> {
        self.identity.settle(&self.manager).await?;
        let user = user_identifier(user_id);
        if self.identity.slot.is_some()
            && !self.identity.is_pending()
            && self.key.identifier() != user
        {
            if let Some(slot) = &self.identity.slot {
                merge_into_user(
                    &self.manager,
                    &self.identity.storage,
                    self.key.identifier(),
                    &user,
                    slot,
                )
                .await?;
            }
        }
        Ok(Cart::detached(
            self.manager.clone(),
            Arc::clone(&self.identity.storage),
            CartKey::new(user, self.key.instance()),
        ))
    }

    /// Moves this instance's cart to identifier `to` in the same storage, replacing any cart `to`
    /// had there. `false` when there was nothing to move.
    ///
    /// # Errors
    ///
    /// A validation error for an empty `to`; a storage error.
    pub async fn swap_identifier(&self, to: &str) -> Result<bool, CartError> {
        if to.is_empty() {
            return Err(CartError::validation("identifier", "must not be empty"));
        }
        self.identity.settle(&self.manager).await?;
        let moved = self
            .identity
            .storage
            .swap_identifier(self.key.identifier(), to, self.key.instance())
            .await?;
        self.reset_cache().await;
        Ok(moved)
    }

    /// The cart identifier (a guest id, or `user:<id>` for a logged-in user).
    pub fn identifier(&self) -> &str {
        self.key.identifier()
    }

    /// The instance name.
    pub fn instance_name(&self) -> &str {
        self.key.instance()
    }

    /// The (identifier, instance) key.
    pub fn key(&self) -> &CartKey {
        &self.key
    }

    /// The storage this cart lives in.
    pub fn storage(&self) -> &Arc<dyn CartStorage> {
        &self.identity.storage
    }

    /// Caches the empty cart after a write that removed this one from storage.
    async fn reset_cache(&self) {
        let empty = self.manager.modify_options().empty_cart();
        *self.cache().lock().await = Some(CachedCart {
            cart: Arc::new(Versioned::new(empty, 0)),
            stamp: self.manager.count_write(&self.key),
        });
    }

    async fn load_cached(&self) -> Result<Arc<Versioned<CartContents>>, CartError> {
        Ok(self.load_priced(None).await?.0)
    }

    /// The request's cart, loaded once and priced by the catalogue once: a single
    /// `Catalog::products` call covers the lines this request has not compared yet and `extra`,
    /// a product about to be added, which is returned when the catalogue sells it.
    async fn load_priced(
        &self,
        extra: Option<&str>,
    ) -> Result<(Arc<Versioned<CartContents>>, Option<Product>), CartError> {
        self.identity.settle(&self.manager).await?;
        let mut cache = self.cache().lock().await;
        let cached = match &mut *cache {
            Some(cached) => &mut cached.cart,
            empty => {
                let stamp = self.manager.write_stamp(&self.key);
                let loaded = if self.identity.is_pending() {
                    // A guest identifier minted just now cannot have a stored cart.
                    None
                } else {
                    self.identity.storage.load_shared(&self.key).await?
                };
                // Shared as the storage parsed it: the configured limits apply where the cart
                // changes (every write sets them) and on the copies handed out.
                let cart = loaded.unwrap_or_else(|| {
                    Arc::new(Versioned::new(
                        self.manager.modify_options().empty_cart(),
                        0,
                    ))
                });
                &mut empty.insert(CachedCart { cart, stamp }).cart
            }
        };
        let config = self.manager.config();
        let Some(catalog) = &config.catalog else {
            return Ok((Arc::clone(cached), None));
        };
        let pricing = config.pricing();
        let mut ids = if pricing.reads_catalog() {
            unchecked_ids(&cached.value)
        } else {
            Vec::new()
        };
        if let Some(extra) = extra.filter(|extra| !ids.iter().any(|id| id == extra)) {
            ids.push(extra.to_owned());
        }
        if ids.is_empty() {
            return Ok((Arc::clone(cached), None));
        }
        let found = catalog.products(&ids).await?;
        let product = extra.and_then(|id| found.get(id).cloned());
        if pricing.reads_catalog() {
            // In place unless a handle of this request still holds the cart as it was read.
            pricing.apply(
                &mut Arc::make_mut(cached).value,
                &ids,
                &found,
                cart::now_to_the_second(),
            );
        }
        Ok((Arc::clone(cached), product))
    }

    /// The catalogue's product `id`, about to be added. A pricing that compares the cart's lines
    /// with the catalogue reads the cart here as well, in the same catalogue call, so that the
    /// write stores that re-pricing too; any other pricing leaves the cart unread, for the write
    /// to read, or to start from the storage's recent copy (see [`CartStorage::recent`]).
    async fn product_to_add(&self, id: &str) -> Result<Option<Product>, CartError> {
        let config = self.manager.config();
        let Some(catalog) = config.catalog.as_deref() else {
            return Ok(None);
        };
        if config.pricing().reads_catalog() {
            return Ok(self.load_priced(Some(id)).await?.1);
        }
        Ok(catalog.products(&[id.to_owned()]).await?.remove(id))
    }

    /// A copy of the cart's contents (loaded once per request, then cached);
    /// [`Cart::snapshot`] reads them without copying.
    ///
    /// # Errors
    ///
    /// A storage error when the cart cannot be loaded.
    pub async fn contents(&self) -> Result<CartContents, CartError> {
        let mut contents = self.load_cached().await?.value.clone();
        contents.set_limits(self.manager.config().limits);
        Ok(contents)
    }

    /// The cart as this request holds it, without copying it: the cheap way to read a cart
    /// for an answer of your own.
    ///
    /// # Errors
    ///
    /// A storage error when the cart cannot be loaded.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum::Json;
    /// use axum_cart::{Cart, CartError};
    /// use serde_json::{Value, json};
    ///
    /// async fn summary(cart: Cart) -> Result<Json<Value>, CartError> {
    ///     let cart = cart.snapshot().await?;
    ///     let subtotal = cart.totals()?.subtotal;
    ///     Ok(Json(json!({"count": cart.count(), "subtotal": subtotal.to_string()})))
    /// }
    /// ```
    pub async fn snapshot(&self) -> Result<CartSnapshot, CartError> {
        Ok(CartSnapshot::new(self.load_cached().await?))
    }

    /// The stored version (0: not stored yet).
    ///
    /// # Errors
    ///
    /// A storage error when the cart cannot be loaded.
    pub async fn version(&self) -> Result<u64, CartError> {
        Ok(self.load_cached().await?.version)
    }

    /// The cart's lines, in the order they were added.
    ///
    /// # Errors
    ///
    /// A storage error when the cart cannot be loaded.
    pub async fn items(&self) -> Result<Vec<CartItem>, CartError> {
        Ok(self.load_cached().await?.value.items().to_vec())
    }

    /// The line with this id, if any.
    ///
    /// # Errors
    ///
    /// A storage error when the cart cannot be loaded.
    pub async fn get(&self, id: &str) -> Result<Option<CartItem>, CartError> {
        Ok(self.load_cached().await?.value.get(id).cloned())
    }

    /// The totals: line totals, subtotal, total, savings and every condition step.
    ///
    /// # Errors
    ///
    /// A storage error when the cart cannot be loaded; a domain error when an amount overflows.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use axum_cart::{CartConfig, CartManager, MemoryStorage};
    /// use axum_cart::{CartItem, Currency, Money};
    ///
    /// # let cart = CartManager::new(CartConfig::new().with_storage(MemoryStorage::new())).cart("user:7", "default")?;
    /// cart.add_priced(CartItem::new("tee", "T-shirt", Money::parse("20.00", Currency::USD)?, 3)).await?;
    /// cart.add_discount("SAVE10", "10%").await?;
    /// let totals = cart.totals().await?;
    /// assert_eq!(totals.subtotal.to_string(), "54.00");
    /// assert_eq!(totals.total.to_string(), "54.00");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn totals(&self) -> Result<Totals, CartError> {
        Ok(self.load_cached().await?.value.totals()?)
    }

    /// The cart with its totals, ready to serialize as a handler's answer.
    ///
    /// # Errors
    ///
    /// As [`Cart::totals`].
    pub async fn view(&self) -> Result<CartView, CartError> {
        let cart = self.load_cached().await?;
        Ok(CartView::new(
            self.key.identifier(),
            self.key.instance(),
            cart.version,
            &cart.value,
        )?)
    }

    /// The cart as a handler's answer: 200 with the view as JSON and its `ETag`, or 304 without a
    /// body when the request's `If-None-Match` names that tag (with
    /// [`CartConfig::with_conditional_requests`](crate::CartConfig::with_conditional_requests));
    /// `Cache-Control: no-store` and `Vary: Cookie` either way. The answer of a request that
    /// repeats an earlier one (same `Idempotency-Key`) is this view with
    /// `Idempotent-Replayed: true`.
    ///
    /// # Errors
    ///
    /// As [`Cart::view`]; [`CartError::Replayed`] never comes from here.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum::{Json, Router, routing::{get, post}};
    /// use axum_cart::{AddItem, Cart, CartConfig, CartError, CartLayer, CartResponse, CookieConfig};
    /// use axum_cart::{Currency, MemoryCatalog, MemoryStorage, Money};
    ///
    /// async fn show(cart: Cart) -> Result<CartResponse, CartError> {
    ///     cart.respond().await
    /// }
    ///
    /// // With idempotency keys on, a repeated request changes nothing: `add_product` returns
    /// // `CartError::Replayed` and the layer answers with the cart as it is now.
    /// async fn add(cart: Cart, Json(input): Json<AddItem>) -> Result<CartResponse, CartError> {
    ///     cart.add_product(input).await?;
    ///     cart.respond().await
    /// }
    ///
    /// let catalog = MemoryCatalog::new()
    ///     .with_product("mug", "Enamel mug", Money::parse("8.50", Currency::USD)?);
    /// let config = CartConfig::new()
    ///     .with_storage(MemoryStorage::new())
    ///     .with_cookie_identifier(CookieConfig::new(cookie::Key::generate()))
    ///     .with_catalog(catalog)
    ///     .with_conditional_requests(true)
    ///     .with_idempotency_keys(true);
    /// let app: Router = Router::new()
    ///     .route("/cart", get(show))
    ///     .route("/cart/items", post(add))
    ///     .layer(CartLayer::new(config));
    /// # Ok::<(), axum_cart::cart::Error>(())
    /// ```
    pub async fn respond(&self) -> Result<CartResponse, CartError> {
        let view = self.view().await?;
        let etag = view.etag();
        let protocol = self.identity.protocol.as_deref();
        let replayed = protocol.is_some_and(|protocol| protocol.replayed().is_some());
        let not_modified = !replayed
            && protocol
                .and_then(|protocol| protocol.if_none_match.as_ref())
                .is_some_and(|tags| tags.matches(&etag));
        Ok(CartResponse::new(view, etag, not_modified, replayed))
    }

    /// Any change, as one atomic versioned write; `op` may run more than once (on conflict), so it
    /// must be a pure function of the cart. Returns the committed cart.
    ///
    /// # Errors
    ///
    /// The error `op` returns (nothing is written); a conflict once the retry budget is spent; a
    /// storage error.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use axum_cart::{CartConfig, CartManager, MemoryStorage};
    /// use axum_cart::{CartItem, Currency, Money};
    ///
    /// # let cart = CartManager::new(CartConfig::new().with_storage(MemoryStorage::new())).cart("user:7", "default")?;
    /// // Two lines and a note in one write: all or nothing.
    /// let price = Money::parse("6.25", Currency::USD)?;
    /// let committed = cart
    ///     .modify(|cart| {
    ///         cart.add(CartItem::new("socks", "Wool socks", price, 2))?;
    ///         cart.add(CartItem::new("pen", "Brass pen", price, 1))?;
    ///         cart.set_metadata("gift", true.into())
    ///     })
    ///     .await?;
    /// assert_eq!(committed.count(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn modify<F>(&self, op: F) -> Result<CartContents, CartError>
    where
        F: Fn(&mut CartContents) -> Result<(), cart::Error> + Send + Sync,
    {
        self.commit(
            "modify",
            |cart| {
                op(cart)?;
                Ok(cart.clone())
            },
            |_| CartEventKind::Modified,
        )
        .await
    }

    /// Empties the cart (lines, conditions, metadata) by deleting it from storage.
    ///
    /// # Errors
    ///
    /// A storage error.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use axum_cart::{CartConfig, CartManager, MemoryStorage};
    /// # use axum_cart::{CartItem, Currency, Money};
    /// # let cart = CartManager::new(CartConfig::new().with_storage(MemoryStorage::new())).cart("user:7", "default")?;
    /// # cart.add_priced(CartItem::new("mug", "Mug", Money::parse("8.50", Currency::USD)?, 1)).await?;
    /// cart.clear().await?;
    /// assert!(cart.items().await?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn clear(&self) -> Result<(), CartError> {
        if self.identity.protocol.is_some() {
            // A request with `If-Match` or `Idempotency-Key` empties the cart in a versioned
            // write instead, where the checks run and the key is recorded.
            return self
                .commit(
                    "clear",
                    |cart| {
                        cart.clear();
                        Ok(())
                    },
                    |_| CartEventKind::Cleared,
                )
                .await;
        }
        self.identity.settle(&self.manager).await?;
        let span = tracing::info_span!(
            "cart.clear",
            driver = self.identity.storage.driver(),
            cart = %identifier_hash(self.key.identifier()),
            instance = self.key.instance(),
        );
        async {
            let existed = if self.identity.is_pending() {
                false
            } else {
                let _turn = self.manager.write_turn(&self.key).await;
                self.identity.storage.delete(&self.key).await?
            };
            self.reset_cache().await;
            if existed {
                self.emit(CartEventKind::Cleared, 0);
            }
            Ok(())
        }
        .instrument(span)
        .await
    }
}
