//! `CartManager`: the shared handle the layer is built on. It holds the configuration, the
//! current storage (swappable at runtime) and the event listeners, and opens carts outside
//! requests for background workers and admin tools.

use std::sync::{Arc, RwLock};

use crate::cart::{Currency, Limits, MergeStrategy, RoundingMode};
use crate::error::CartError;
use crate::event::CartEvent;
use crate::extract::Cart;
use crate::identify::{IdentifierMode, UserResolver};
use crate::storage::session::DEFAULT_SESSION_KEY;
use crate::storage::{CartKey, CartStorage, ModifyOptions};

/// A listener called after each committed change.
pub type EventListener = Arc<dyn Fn(&CartEvent) + Send + Sync>;

/// Which storage carts live in.
#[derive(Clone)]
pub enum StorageChoice {
    /// In each request's tower-sessions session, under this key. Needs a `SessionManagerLayer`.
    Session {
        /// The session key (default `cart`).
        key: Arc<str>,
    },
    /// A shared driver: Redis, Postgres, memory or your own.
    Shared(Arc<dyn CartStorage>),
}

impl StorageChoice {
    /// The driver's name.
    pub fn driver(&self) -> &'static str {
        match self {
            StorageChoice::Session { .. } => "session",
            StorageChoice::Shared(storage) => storage.driver(),
        }
    }
}

impl std::fmt::Debug for StorageChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageChoice::Session { key } => write!(f, "Session {{ key: {key:?} }}"),
            StorageChoice::Shared(storage) => write!(f, "Shared({})", storage.driver()),
        }
    }
}

/// How carts are stored, identified, priced and limited.
///
/// ```
/// use axum_cart::{CartConfig, Currency, MemoryStorage, MergeStrategy};
/// let config = CartConfig::new()
///     .with_storage(MemoryStorage::new())
///     .with_currency(Currency::EUR)
///     .with_merge_strategy(MergeStrategy::KeepHighestQuantity)
///     .with_max_retries(10)
///     .on_event(|event| println!("{event:?}"));
/// ```
#[derive(Clone)]
pub struct CartConfig {
    pub(crate) storage: StorageChoice,
    pub(crate) identifier: IdentifierMode,
    pub(crate) user_resolver: Option<Arc<dyn UserResolver>>,
    pub(crate) currency: Currency,
    pub(crate) rounding: RoundingMode,
    pub(crate) limits: Limits,
    pub(crate) merge_strategy: MergeStrategy,
    pub(crate) max_retries: u32,
    pub(crate) max_instance_length: usize,
    pub(crate) listeners: Vec<EventListener>,
}

impl Default for CartConfig {
    fn default() -> Self {
        CartConfig {
            storage: StorageChoice::Session {
                key: DEFAULT_SESSION_KEY.into(),
            },
            identifier: IdentifierMode::default(),
            user_resolver: None,
            currency: Currency::default(),
            rounding: RoundingMode::default(),
            limits: Limits::default(),
            merge_strategy: MergeStrategy::default(),
            max_retries: 5,
            max_instance_length: 64,
            listeners: Vec::new(),
        }
    }
}

impl std::fmt::Debug for CartConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CartConfig")
            .field("storage", &self.storage)
            .field("identifier", &self.identifier)
            .field("user_resolver", &self.user_resolver.is_some())
            .field("currency", &self.currency)
            .field("rounding", &self.rounding)
            .field("limits", &self.limits)
            .field("merge_strategy", &self.merge_strategy)
            .field("max_retries", &self.max_retries)
            .field("listeners", &self.listeners.len())
            .finish()
    }
}

impl CartConfig {
    /// The defaults: carts in the session under `cart`, guest identifiers in the session under
    /// `cart_id`, USD, half-up rounding, default limits, `add_quantities` merging, 5 retries.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps carts in a shared driver (Redis, Postgres, memory or your own).
    pub fn with_storage(mut self, storage: impl CartStorage) -> Self {
        self.storage = StorageChoice::Shared(Arc::new(storage));
        self
    }

    /// Keeps carts in a shared driver given as a trait object.
    pub fn with_shared_storage(mut self, storage: Arc<dyn CartStorage>) -> Self {
        self.storage = StorageChoice::Shared(storage);
        self
    }

    /// Keeps carts in the tower-sessions session under `key` (the default, with key `cart`).
    pub fn with_session_storage(mut self, key: impl Into<Arc<str>>) -> Self {
        self.storage = StorageChoice::Session { key: key.into() };
        self
    }

    /// Keeps guest identifiers in the session under `key` (the default, with key `cart_id`).
    pub fn with_session_identifier(mut self, key: impl Into<String>) -> Self {
        self.identifier = IdentifierMode::Session { key: key.into() };
        self
    }

    /// Keeps guest identifiers in a signed cookie; no session needed with a shared driver.
    pub fn with_cookie_identifier(mut self, cookie: crate::identify::CookieConfig) -> Self {
        self.identifier = IdentifierMode::Cookie(cookie);
        self
    }

    /// Resolves logged-in users; their carts are keyed by user and guest carts merge into them.
    pub fn with_user_resolver(mut self, resolver: impl UserResolver) -> Self {
        self.user_resolver = Some(Arc::new(resolver));
        self
    }

    /// The currency of new carts.
    pub fn with_currency(mut self, currency: Currency) -> Self {
        self.currency = currency;
        self
    }

    /// The rounding mode of new carts.
    pub fn with_rounding(mut self, rounding: RoundingMode) -> Self {
        self.rounding = rounding;
        self
    }

    /// The limits every change is checked against.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How a guest cart merges into a user's at login.
    pub fn with_merge_strategy(mut self, strategy: MergeStrategy) -> Self {
        self.merge_strategy = strategy;
        self
    }

    /// Retries after a version conflict before a change fails with 409 (default 5).
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Longest accepted instance name (default 64; names are `[A-Za-z0-9_.-]`).
    pub fn with_max_instance_length(mut self, length: usize) -> Self {
        self.max_instance_length = length;
        self
    }

    /// Calls `listener` after each committed change.
    pub fn on_event(mut self, listener: impl Fn(&CartEvent) + Send + Sync + 'static) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// The identifier mode.
    pub fn identifier_mode(&self) -> &IdentifierMode {
        &self.identifier
    }

    /// The merge strategy.
    pub fn merge_strategy(&self) -> MergeStrategy {
        self.merge_strategy
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

/// The shared cart handle: configuration, current storage and listeners. Cheap to clone; every
/// clone (the layer's, a worker's) sees the same storage, including after [`CartManager::swap_storage`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use axum_cart::{CartConfig, CartItem, CartManager, Currency, MemoryStorage, Money};
/// let manager = CartManager::new(CartConfig::new().with_storage(MemoryStorage::new()));
/// // A background worker opens a cart by identifier and instance, outside any request.
/// let cart = manager.cart("user:42", "default").unwrap();
/// cart.add(CartItem::new("sku-1", "Mug", Money::parse("8.50", Currency::USD).unwrap(), 2)).await.unwrap();
/// assert_eq!(cart.totals().await.unwrap().total.to_string(), "17.00");
/// # });
/// ```
#[derive(Clone)]
pub struct CartManager {
    inner: Arc<ManagerInner>,
}

struct ManagerInner {
    config: CartConfig,
    storage: RwLock<StorageChoice>,
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
        CartManager {
            inner: Arc::new(ManagerInner {
                config,
                storage: RwLock::new(storage),
            }),
        }
    }

    /// The configuration it was built with (the storage may have been swapped since).
    pub fn config(&self) -> &CartConfig {
        &self.inner.config
    }

    /// The storage in use now.
    pub fn storage(&self) -> StorageChoice {
        self.inner
            .storage
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Switches the storage for every cart opened from now on. Requests already running finish on
    /// the storage they started with.
    pub fn swap_storage(&self, storage: StorageChoice) {
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

    /// Opens the cart (`identifier`, `instance`) outside a request. Needs a shared driver: the
    /// session driver only exists inside a request.
    pub fn cart(&self, identifier: &str, instance: &str) -> Result<Cart, CartError> {
        let StorageChoice::Shared(storage) = self.storage() else {
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

    /// Checks an instance name: 1 to `max_instance_length` characters of `[A-Za-z0-9_.-]`.
    pub fn validate_instance(&self, instance: &str) -> Result<(), CartError> {
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
            return Err(CartError::limit(
                "instance",
                max as u64,
                instance.len() as u64,
            ));
        }
        Ok(())
    }

    pub(crate) fn modify_options(&self) -> ModifyOptions {
        let config = &self.inner.config;
        ModifyOptions {
            max_retries: config.max_retries,
            currency: config.currency,
            rounding: config.rounding,
            limits: config.limits,
        }
    }

    pub(crate) fn emit(&self, event: &CartEvent) {
        for listener in &self.inner.config.listeners {
            listener(event);
        }
    }
}
