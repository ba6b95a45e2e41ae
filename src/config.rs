//! [`CartConfig`]: how carts are stored, identified, priced and limited, and [`StorageMode`],
//! where they live.

use std::sync::Arc;
use std::time::Duration;

use crate::cart::{Currency, Limits, MergeStrategy, RoundingMode};
use crate::catalog::{Catalog, PricePolicy, Pricing, Promotions};
use crate::event::CartEvent;
use crate::identify::{CookieConfig, IdentifierMode, UserResolver};
use crate::storage::{CartStorage, DEFAULT_RETRY_BUDGET, DEFAULT_SESSION_KEY};

/// A listener called after each committed change.
pub type EventListener = Arc<dyn Fn(&CartEvent) + Send + Sync>;

/// Where carts live: in each request's session, or in a shared driver.
#[derive(Clone)]
pub enum StorageMode {
    /// In each request's tower-sessions session, under this key. Needs a `SessionManagerLayer`.
    Session {
        /// The session key (default `cart`).
        key: Arc<str>,
    },
    /// A shared driver: Redis, Postgres, memory or your own.
    Shared(Arc<dyn CartStorage>),
}

impl StorageMode {
    /// The driver's name.
    pub fn driver(&self) -> &'static str {
        match self {
            StorageMode::Session { .. } => "session",
            StorageMode::Shared(storage) => storage.driver(),
        }
    }
}

impl std::fmt::Debug for StorageMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageMode::Session { key } => write!(f, "Session {{ key: {key:?} }}"),
            StorageMode::Shared(storage) => write!(f, "Shared({})", storage.driver()),
        }
    }
}

/// How carts are stored, identified, priced and limited: what [`CartLayer::new`] and
/// [`CartManager::new`] are built from.
///
/// [`CartLayer::new`]: crate::CartLayer::new
/// [`CartManager::new`]: crate::CartManager::new
///
/// # Examples
///
/// ```
/// use axum_cart::{CartConfig, Currency, MemoryStorage, MergeStrategy};
/// let config = CartConfig::new()
///     .with_storage(MemoryStorage::new())
///     .with_currency(Currency::EUR)
///     .with_merge_strategy(MergeStrategy::KeepHighestQuantity)
///     .with_retry_budget(std::time::Duration::from_secs(1))
///     .with_event_listener(|event| println!("{event:?}"));
/// ```
#[derive(Clone)]
pub struct CartConfig {
    pub(crate) storage: StorageMode,
    pub(crate) identifier: IdentifierMode,
    pub(crate) user_resolver: Option<Arc<dyn UserResolver>>,
    pub(crate) currency: Currency,
    pub(crate) rounding: RoundingMode,
    pub(crate) limits: Limits,
    pub(crate) merge_strategy: MergeStrategy,
    pub(crate) retry_budget: Duration,
    pub(crate) write_queue: bool,
    pub(crate) max_instance_length: usize,
    pub(crate) max_instances: usize,
    pub(crate) catalog: Option<Arc<dyn Catalog>>,
    pub(crate) promotions: Option<Arc<dyn Promotions>>,
    pub(crate) price_policy: PricePolicy,
    pub(crate) max_price_age: Option<Duration>,
    pub(crate) listeners: Vec<EventListener>,
    pub(crate) conditional_requests: bool,
    pub(crate) idempotency_keys: bool,
    pub(crate) idempotency_retention: Duration,
}

/// The default for `CartConfig::with_idempotency_retention`: a day, the window the IETF draft
/// suggests and longer than any client keeps retrying.
pub const DEFAULT_IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// The default for `CartConfig::with_max_instances`.
pub(crate) const DEFAULT_MAX_INSTANCES: usize = 16;

impl Default for CartConfig {
    fn default() -> Self {
        CartConfig {
            storage: StorageMode::Session {
                key: DEFAULT_SESSION_KEY.into(),
            },
            identifier: IdentifierMode::default(),
            user_resolver: None,
            currency: Currency::default(),
            rounding: RoundingMode::default(),
            limits: Limits::default(),
            merge_strategy: MergeStrategy::default(),
            retry_budget: DEFAULT_RETRY_BUDGET,
            write_queue: true,
            max_instance_length: 64,
            max_instances: DEFAULT_MAX_INSTANCES,
            catalog: None,
            promotions: None,
            price_policy: PricePolicy::default(),
            max_price_age: None,
            listeners: Vec::new(),
            conditional_requests: false,
            idempotency_keys: false,
            idempotency_retention: DEFAULT_IDEMPOTENCY_RETENTION,
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
            .field("retry_budget", &self.retry_budget)
            .field("write_queue", &self.write_queue)
            .field("max_instances", &self.max_instances)
            .field("catalog", &self.catalog.is_some())
            .field("promotions", &self.promotions.is_some())
            .field("price_policy", &self.price_policy)
            .field("max_price_age", &self.max_price_age)
            .field("listeners", &self.listeners.len())
            .field("conditional_requests", &self.conditional_requests)
            .field("idempotency_keys", &self.idempotency_keys)
            .field("idempotency_retention", &self.idempotency_retention)
            .finish()
    }
}

impl CartConfig {
    /// The defaults: carts in the session under `cart`, guest identifiers in the session under
    /// `cart_id`, USD, half-up rounding, default limits, `add_quantities` merging, a 2 s retry budget.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum::Router;
    /// use axum_cart::{CartConfig, CartLayer};
    /// use tower_sessions::{MemoryStore, SessionManagerLayer};
    ///
    /// // The session driver needs a tower-sessions layer around the cart layer.
    /// let app: Router = Router::new()
    ///     .layer(CartLayer::new(CartConfig::new()))
    ///     .layer(SessionManagerLayer::new(MemoryStore::default()));
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps carts in a shared driver (Redis, Postgres, memory or your own).
    ///
    /// # Examples
    ///
    /// ```
    /// use axum_cart::{CartConfig, MemoryStorage};
    ///
    /// let config = CartConfig::new().with_storage(MemoryStorage::new());
    /// ```
    pub fn with_storage(mut self, storage: impl CartStorage) -> Self {
        self.storage = StorageMode::Shared(Arc::new(storage));
        self
    }

    /// Keeps carts in a shared driver given as a trait object.
    pub fn with_shared_storage(mut self, storage: Arc<dyn CartStorage>) -> Self {
        self.storage = StorageMode::Shared(storage);
        self
    }

    /// Keeps carts in the tower-sessions session under `key` (the default, with key `cart`).
    pub fn with_session_storage(mut self, key: impl Into<Arc<str>>) -> Self {
        self.storage = StorageMode::Session { key: key.into() };
        self
    }

    /// Keeps guest identifiers in the session under `key` (the default, with key `cart_id`).
    pub fn with_session_identifier(mut self, key: impl Into<String>) -> Self {
        self.identifier = IdentifierMode::Session { key: key.into() };
        self
    }

    /// Keeps guest identifiers in a signed cookie; no session needed with a shared driver.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum_cart::{CartConfig, CookieConfig, MemoryStorage};
    /// use cookie::Key;
    ///
    /// // Load the key from your secrets; a generated key forgets every cart at restart.
    /// let key = Key::generate();
    /// let config = CartConfig::new()
    ///     .with_storage(MemoryStorage::new())
    ///     .with_cookie_identifier(CookieConfig::new(key).with_name("cart"));
    /// ```
    pub fn with_cookie_identifier(mut self, cookie: CookieConfig) -> Self {
        self.identifier = IdentifierMode::Cookie(cookie);
        self
    }

    /// Resolves logged-in users; their carts are keyed by user and guest carts merge into them.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum_cart::{CartConfig, SessionUserResolver};
    ///
    /// // The user id your login handler stored in the session under `user_id`.
    /// let config = CartConfig::new().with_user_resolver(SessionUserResolver::new("user_id"));
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use axum_cart::{CartConfig, Limits};
    ///
    /// let config = CartConfig::new().with_limits(Limits {
    ///     max_lines: 50,
    ///     max_quantity: 99,
    ///     ..Limits::default()
    /// });
    /// assert_eq!(config.limits().max_lines, 50);
    /// ```
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How a guest cart merges into a user's at login.
    pub fn with_merge_strategy(mut self, strategy: MergeStrategy) -> Self {
        self.merge_strategy = strategy;
        self
    }

    /// How long a change may keep retrying after conflicts with other processes before it fails
    /// with 409 (default 2 s). Writers of one cart in this process never conflict: they queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use axum_cart::CartConfig;
    ///
    /// let config = CartConfig::new().with_retry_budget(Duration::from_millis(500));
    /// ```
    pub fn with_retry_budget(mut self, budget: Duration) -> Self {
        self.retry_budget = budget;
        self
    }

    /// Whether writers of one cart in this process queue for it (on by default). Off, they race
    /// each other through storage round trips and retry on conflict: only for measuring what the
    /// queue saves.
    pub fn with_write_queue(mut self, queue: bool) -> Self {
        self.write_queue = queue;
        self
    }

    /// Longest accepted instance name (default 64; names are `[A-Za-z0-9_.-]`).
    pub fn with_max_instance_length(mut self, length: usize) -> Self {
        self.max_instance_length = length;
        self
    }

    /// At most this many instances per identifier (default 16): a change that would create one
    /// more answers a limit error for `instances` and stores nothing. Only changes that create a
    /// cart are checked, so existing carts cost nothing.
    pub fn with_max_instances(mut self, max: usize) -> Self {
        self.max_instances = max;
        self
    }

    /// Where prices come from: [`Cart::add_product`](crate::Cart::add_product) takes name and
    /// unit price from it, and reads re-price catalogue lines as the price policy says.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum_cart::{CartConfig, Currency, MemoryCatalog, Money, PricePolicy};
    ///
    /// let catalog = MemoryCatalog::new().with_product("pen", "Brass pen", Money::parse("0.99", Currency::USD)?);
    /// let config = CartConfig::new()
    ///     .with_catalog(catalog)
    ///     .with_price_policy(PricePolicy::KeepSnapshot)
    ///     .with_max_price_age(std::time::Duration::from_secs(24 * 3600));
    /// # Ok::<(), axum_cart::cart::Error>(())
    /// ```
    pub fn with_catalog(mut self, catalog: impl Catalog) -> Self {
        self.catalog = Some(Arc::new(catalog));
        self
    }

    /// Where discount codes come from: [`Cart::apply_code`](crate::Cart::apply_code) adds the
    /// condition a code stands for.
    pub fn with_promotions(mut self, promotions: impl Promotions) -> Self {
        self.promotions = Some(Arc::new(promotions));
        self
    }

    /// What a read does when a catalogue price moved (default
    /// [`PricePolicy::RepriceWithNotice`]).
    pub fn with_price_policy(mut self, policy: PricePolicy) -> Self {
        self.price_policy = policy;
        self
    }

    /// A catalogue line priced longer ago than `age` is re-priced on read, even under
    /// [`PricePolicy::KeepSnapshot`] (no maximum by default).
    pub fn with_max_price_age(mut self, age: Duration) -> Self {
        self.max_price_age = Some(age);
        self
    }

    /// The price policy and maximum price age, together.
    /// Honours `If-Match` and `If-None-Match` on cart requests (off by default): every change of a
    /// request with `If-Match` first checks, in the same atomic write, that the stored cart is at
    /// a version the header names (`CartError::PreconditionFailed`, 412, otherwise), and
    /// [`Cart::respond`](crate::Cart::respond) answers 304 when `If-None-Match` names the view's
    /// ETag.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum_cart::{CartConfig, MemoryStorage};
    ///
    /// let config = CartConfig::new()
    ///     .with_storage(MemoryStorage::new())
    ///     .with_conditional_requests(true)
    ///     .with_idempotency_keys(true);
    /// ```
    pub fn with_conditional_requests(mut self, on: bool) -> Self {
        self.conditional_requests = on;
        self
    }

    /// Honours the `Idempotency-Key` header on POST, PUT, PATCH and DELETE (off by default): the
    /// first change of such a request records the key, with a fingerprint of the method, target
    /// and body, in the same atomic write; a repeat of the request changes nothing and is
    /// answered with the cart as it is now and `Idempotent-Replayed: true`; the same key on
    /// another request answers 422 (`CartError::IdempotencyKeyReused`). The layer buffers such
    /// bodies up to the cart size limit (413 over it).
    pub fn with_idempotency_keys(mut self, on: bool) -> Self {
        self.idempotency_keys = on;
        self
    }

    /// How long a cart remembers an idempotency key (default 24 h). A cart also forgets its
    /// oldest keys beyond the last 32.
    pub fn with_idempotency_retention(mut self, retention: Duration) -> Self {
        self.idempotency_retention = retention;
        self
    }

    pub(crate) fn pricing(&self) -> Pricing {
        Pricing {
            policy: self.price_policy,
            max_age: self.max_price_age,
        }
    }

    /// Calls `listener` after each committed change (never for a change that failed).
    ///
    /// # Examples
    ///
    /// ```
    /// use axum_cart::{CartConfig, CartEventKind};
    ///
    /// let config = CartConfig::new().with_event_listener(|event| {
    ///     if let CartEventKind::ItemAdded { id } = &event.kind {
    ///         println!("{id} added to a cart");
    ///     }
    /// });
    /// ```
    pub fn with_event_listener(
        mut self,
        listener: impl Fn(&CartEvent) + Send + Sync + 'static,
    ) -> Self {
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
