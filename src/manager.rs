//! `CartManager`: the shared handle the layer is built on. It holds the configuration, the
//! current storage (swappable at runtime) and the event listeners. [`CartManager::cart`], which
//! opens carts outside requests, lives with the [`Cart`](crate::Cart) handle it returns.

use std::sync::{Arc, RwLock};

use crate::cart;
use crate::config::{CartConfig, StorageMode};
use crate::error::CartError;
use crate::event::CartEvent;
use crate::identify::{CookieConfig, IdentifierMode};
use crate::queue::{Turn, WriteQueue, WriteStamps};
use crate::storage::{CartKey, ModifyOptions, ParsedDocuments};

/// The shared cart handle: configuration, current storage and listeners. Cheap to clone; every
/// clone (the layer's, a worker's) sees the same storage, including after [`CartManager::swap_storage`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use axum_cart::{CartConfig, CartItem, CartManager, Currency, MemoryStorage, Money};
/// let manager = CartManager::new(CartConfig::new().with_storage(MemoryStorage::new()));
/// // A background worker opens a cart by identifier and instance, outside any request.
/// let cart = manager.cart("user:42", "default").unwrap();
/// cart.add_priced(CartItem::new("sku-1", "Mug", Money::parse("8.50", Currency::USD).unwrap(), 2)).await.unwrap();
/// assert_eq!(cart.totals().await.unwrap().total.to_string(), "17.00");
/// # });
/// ```
#[derive(Clone)]
pub struct CartManager {
    inner: Arc<ManagerInner>,
}

struct ManagerInner {
    config: CartConfig,
    storage: RwLock<StorageMode>,
    queue: WriteQueue,
    stamps: WriteStamps,
    /// The parsed carts of the session driver, shared by the requests of this manager.
    session_carts: Arc<ParsedDocuments>,
    /// The session key of guest identifiers in session mode, shared by every request's slot.
    guest_key: Option<Arc<str>>,
    /// The guest cookie's settings in cookie mode, shared by every request's slot.
    guest_cookie: Option<Arc<CookieConfig>>,
}

impl std::fmt::Debug for CartManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CartManager")
            .field("config", &self.inner.config)
            .field("storage", &self.storage())
            .finish()
    }
}

impl CartManager {
    /// A manager for `config`.
    pub fn new(config: CartConfig) -> Self {
        let storage = config.storage.clone();
        let (guest_key, guest_cookie) = match &config.identifier {
            IdentifierMode::Session { key } => (Some(Arc::from(key.as_str())), None),
            IdentifierMode::Cookie(cookie) => (None, Some(Arc::new(cookie.clone()))),
        };
        CartManager {
            inner: Arc::new(ManagerInner {
                config,
                storage: RwLock::new(storage),
                queue: WriteQueue::default(),
                stamps: WriteStamps::default(),
                session_carts: Arc::default(),
                guest_key,
                guest_cookie,
            }),
        }
    }

    /// The configuration it was built with (the storage may have been swapped since).
    pub fn config(&self) -> &CartConfig {
        &self.inner.config
    }

    /// The storage in use now.
    pub fn storage(&self) -> StorageMode {
        self.inner
            .storage
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Switches the storage for every cart opened from now on. Requests already running finish on
    /// the storage they started with.
    pub fn swap_storage(&self, storage: StorageMode) {
        let previous = std::mem::replace(
            &mut *self
                .inner
                .storage
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            storage,
        );
        tracing::info!(
            from = previous.driver(),
            to = self.storage().driver(),
            "cart storage swapped"
        );
    }

    /// Checks an instance name: 1 to `max_instance_length` characters of `[A-Za-z0-9_.-]`.
    pub(crate) fn validate_instance(&self, instance: &str) -> Result<(), CartError> {
        let max = self.inner.config.max_instance_length;
        let safe = instance
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if instance.is_empty() || !safe {
            return Err(CartError::validation(
                "instance",
                "an instance name is letters, digits, `_`, `-` and `.`",
            ));
        }
        if instance.len() > max {
            return Err(cart::Error::limit("instance", max as u64, instance.len() as u64).into());
        }
        Ok(())
    }

    pub(crate) fn modify_options(&self) -> ModifyOptions {
        let config = &self.inner.config;
        ModifyOptions {
            retry_budget: config.retry_budget,
            currency: config.currency,
            rounding: config.rounding,
            limits: config.limits,
            basis: None,
        }
    }

    /// Waits for this process's turn to write `key` (no wait when the queue is turned off).
    pub(crate) async fn write_turn(&self, key: &CartKey) -> Option<Turn<'_>> {
        if !self.inner.config.write_queue {
            return None;
        }
        Some(self.inner.queue.turn(key).await)
    }

    /// The parsed carts of the session driver.
    pub(crate) fn session_carts(&self) -> &Arc<ParsedDocuments> {
        &self.inner.session_carts
    }

    /// The session key guest identifiers are kept under, in session mode.
    pub(crate) fn guest_key(&self) -> Option<&Arc<str>> {
        self.inner.guest_key.as_ref()
    }

    /// The guest cookie's settings, in cookie mode.
    pub(crate) fn guest_cookie(&self) -> Option<&Arc<CookieConfig>> {
        self.inner.guest_cookie.as_ref()
    }

    /// The write stamp of `key` now: take it before reading the cart.
    pub(crate) fn write_stamp(&self, key: &CartKey) -> u64 {
        self.inner.stamps.current(key)
    }

    /// Counts a write of `key` that reached the storage; the stamp after it.
    pub(crate) fn count_write(&self, key: &CartKey) -> u64 {
        self.inner.stamps.count_write(key)
    }

    /// Whether anyone listens: without listeners no event is built.
    pub(crate) fn has_listeners(&self) -> bool {
        !self.inner.config.listeners.is_empty()
    }

    pub(crate) fn emit(&self, event: &CartEvent) {
        for listener in &self.inner.config.listeners {
            listener(event);
        }
    }
}
