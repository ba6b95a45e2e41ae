//! The `Cart` extractor: a handle on one cart (identifier, instance, storage) for one request,
//! or for a worker through [`CartManager::cart`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use http::request::Parts;
use serde_json::{Map, Value};
use tokio::sync::{Mutex, OnceCell};
use tower_sessions::Session;
use tracing::Instrument;

use crate::cart::{
    CartContents, CartItem, Condition, ConditionInput, ItemInput, ItemUpdate, ItemUpdateInput,
    MergeReport, Totals, merge,
};
use crate::error::CartError;
use crate::event::{CartEvent, CartEventKind};
use crate::identify::{
    CookieConfig, IdentifierMode, is_guest_identifier, new_guest_identifier, user_identifier,
};
use crate::layer::RequestCart;
use crate::manager::{CartManager, StorageChoice};
use crate::storage::{
    CartKey, CartStorage, DEFAULT_INSTANCE, Modified, SessionStorage, StorageError, Versioned,
    identifier_hash,
};
use crate::view::CartView;

/// Who the carts of a request belong to, and where they are stored.
pub(crate) struct Identity {
    identifier: String,
    storage: Arc<dyn CartStorage>,
    /// Where the guest identifier lives (`None` for user carts and carts opened by a manager).
    slot: Option<GuestSlot>,
    /// A guest identifier minted for this request: stored in its slot only once its first cart
    /// is written, so that read-only visitors cost nothing.
    pending: bool,
    stored: OnceCell<()>,
    /// The loaded carts of this identity, one per instance, shared by every handle of the request
    /// so that a cart is loaded once and every handle sees the request's own writes.
    caches: std::sync::Mutex<HashMap<String, CartCache>>,
}

/// The cached cart of one handle (and of every other handle on the same instance of a request).
type CartCache = Arc<Mutex<Option<Arc<Versioned<CartContents>>>>>;

/// Where a guest identifier is kept between requests.
enum GuestSlot {
    Session {
        session: Session,
        key: String,
    },
    Cookie {
        state: Arc<RequestCart>,
        config: CookieConfig,
    },
}

impl GuestSlot {
    async fn store(&self, identifier: &str) -> Result<(), CartError> {
        match self {
            GuestSlot::Session { session, key } => {
                session.insert(key, identifier).await.map_err(session_error)
            }
            GuestSlot::Cookie { state, config } => {
                state.set_cookie(config.set_cookie(identifier));
                Ok(())
            }
        }
    }

    /// Forgets the guest identifier once its carts were merged into a user's, so that a repeated
    /// login finds nothing to merge.
    async fn forget(&self) -> Result<(), CartError> {
        match self {
            GuestSlot::Session { session, key } => {
                session.remove_value(key).await.map_err(session_error)?;
            }
            GuestSlot::Cookie { state, config } => state.set_cookie(config.removal_cookie()),
        }
        Ok(())
    }
}

impl Identity {
    fn settled(identifier: String, storage: Arc<dyn CartStorage>, slot: Option<GuestSlot>) -> Self {
        Identity {
            identifier,
            storage,
            slot,
            pending: false,
            stored: OnceCell::new(),
            caches: std::sync::Mutex::default(),
        }
    }

    /// The cache shared by every handle on `instance` of this identity.
    fn cache(&self, instance: &str) -> CartCache {
        let mut caches = self
            .caches
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(cache) = caches.get(instance) {
            return Arc::clone(cache);
        }
        Arc::clone(caches.entry(instance.to_owned()).or_default())
    }

    fn is_pending(&self) -> bool {
        self.pending && self.stored.get().is_none()
    }

    async fn ensure_stored(&self) -> Result<(), CartError> {
        let (true, Some(slot)) = (self.pending, &self.slot) else {
            return Ok(());
        };
        self.stored
            .get_or_try_init(|| slot.store(&self.identifier))
            .await
            .map(|_| ())
    }
}

/// A handle on one cart. Take it as a handler argument (it needs [`crate::CartLayer`]), or open one
/// with [`CartManager::cart`].
///
/// The cart is loaded on first use and cached for the request; every change is one atomic,
/// versioned `modify` on the storage, retried on conflict, and tells the event listeners once it
/// is committed. [`Cart::instance`] gives a handle on another instance (`wishlist`, ...) of the
/// same identifier.
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
    cache: CartCache,
}

impl std::fmt::Debug for Cart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cart")
            .field("key", &self.key)
            .field("driver", &self.identity.storage.driver())
            .finish()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Cart {
    type Rejection = CartError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let state = parts
            .extensions
            .get::<Arc<RequestCart>>()
            .cloned()
            .ok_or(CartError::MissingLayer)?;
        let identity = state
            .identity
            .get_or_try_init(|| resolve_identity(parts, &state))
            .await?
            .clone();
        let key = CartKey::new(identity.identifier.clone(), DEFAULT_INSTANCE);
        Ok(Cart {
            manager: state.manager.clone(),
            cache: identity.cache(DEFAULT_INSTANCE),
            identity,
            key,
        })
    }
}

fn session_error(error: tower_sessions::session::Error) -> CartError {
    CartError::Storage(StorageError::Unavailable {
        driver: "session",
        message: error.to_string(),
    })
}

async fn resolve_identity(
    parts: &Parts,
    state: &Arc<RequestCart>,
) -> Result<Arc<Identity>, CartError> {
    let manager = &state.manager;
    let config = manager.config();
    let session = parts.extensions.get::<Session>().cloned();
    let storage: Arc<dyn CartStorage> = match (manager.storage(), &session) {
        (StorageChoice::Session { key }, Some(session)) => {
            Arc::new(SessionStorage::new(session.clone(), key))
        }
        (StorageChoice::Shared(storage), _) => storage,
        (StorageChoice::Session { .. }, None) => return Err(CartError::MissingSession),
    };
    let slot = match (&config.identifier, session) {
        (IdentifierMode::Session { key }, Some(session)) => GuestSlot::Session {
            session,
            key: key.clone(),
        },
        (IdentifierMode::Cookie(cookie), _) => GuestSlot::Cookie {
            state: Arc::clone(state),
            config: cookie.clone(),
        },
        (IdentifierMode::Session { .. }, None) => return Err(CartError::MissingSession),
    };

    let guest = match &slot {
        GuestSlot::Session { session, key } => session
            .get_value(key)
            .await
            .map_err(session_error)?
            .and_then(|value| match value {
                serde_json::Value::String(id) => Some(id),
                _ => None,
            })
            .filter(|id| is_guest_identifier(id)),
        GuestSlot::Cookie { config, .. } => config.read(&parts.headers),
    };

    let user = match &config.user_resolver {
        Some(resolver) => resolver.user_id(parts).await,
        None => None,
    };
    if let Some(user) = user {
        let identifier = user_identifier(&user);
        if let Some(guest) = guest {
            merge_guest_carts(manager, &storage, &guest, &identifier).await?;
            slot.forget().await?;
        }
        return Ok(Arc::new(Identity::settled(identifier, storage, None)));
    }
    Ok(Arc::new(match guest {
        Some(guest) => Identity::settled(guest, storage, Some(slot)),
        None => Identity {
            pending: true,
            ..Identity::settled(new_guest_identifier(), storage, Some(slot))
        },
    }))
}

/// Merges every instance of the guest's carts into the user's, one versioned write each, then
/// deletes the guest cart.
async fn merge_guest_carts(
    manager: &CartManager,
    storage: &Arc<dyn CartStorage>,
    guest: &str,
    user: &str,
) -> Result<(), CartError> {
    let strategy = manager.config().merge_strategy;
    for instance in storage.instances(guest).await? {
        let guest_key = CartKey::new(guest, instance.as_str());
        let Some(guest_cart) = storage.load(&guest_key).await? else {
            continue;
        };
        let user_cart = Cart::detached(
            manager.clone(),
            Arc::clone(storage),
            CartKey::new(user, instance.as_str()),
        );
        let source = guest_cart.value;
        user_cart
            .commit(
                "merge",
                move |cart| Ok(merge(cart, &source, strategy)),
                |report: &MergeReport| CartEventKind::Merged {
                    report: report.clone(),
                },
            )
            .await?;
        storage.delete(&guest_key).await?;
    }
    Ok(())
}

impl Cart {
    pub(crate) fn detached(
        manager: CartManager,
        storage: Arc<dyn CartStorage>,
        key: CartKey,
    ) -> Self {
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
    /// Instance names are `[A-Za-z0-9_.-]`, at most 64 characters by default.
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
    /// instance. Call it after your own login succeeded, and make your [`crate::UserResolver`]
    /// return the user from then on. A repeated login merges nothing.
    pub async fn login(&self, user_id: &str) -> Result<Cart, CartError> {
        let user = user_identifier(user_id);
        if self.identity.slot.is_some()
            && !self.identity.is_pending()
            && self.key.identifier() != user
        {
            merge_guest_carts(
                &self.manager,
                &self.identity.storage,
                self.key.identifier(),
                &user,
            )
            .await?;
            if let Some(slot) = &self.identity.slot {
                slot.forget().await?;
            }
        }
        Ok(Cart::detached(
            self.manager.clone(),
            Arc::clone(&self.identity.storage),
            CartKey::new(user, self.key.instance()),
        ))
    }

    /// Moves this instance's cart to identifier `to` in the same storage, replacing any cart `to`
    /// had there (the seed's `CartMigrationService::swap`). `false` when there was nothing to move.
    pub async fn swap_identifier(&self, to: &str) -> Result<bool, CartError> {
        if to.is_empty() {
            return Err(CartError::validation("identifier", "must not be empty"));
        }
        let moved = self
            .identity
            .storage
            .swap_identifier(self.key.identifier(), to, self.key.instance())
            .await?;
        let options = self.manager.modify_options();
        *self.cache.lock().await = Some(Arc::new(Versioned::new(options.empty_cart(), 0)));
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

    async fn load_cached(&self) -> Result<Arc<Versioned<CartContents>>, CartError> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref() {
            return Ok(Arc::clone(cached));
        }
        let loaded = if self.identity.is_pending() {
            // A guest identifier minted just now cannot have a stored cart.
            None
        } else {
            self.identity.storage.load(&self.key).await?
        };
        let options = self.manager.modify_options();
        let mut versioned = loaded.unwrap_or_else(|| Versioned::new(options.empty_cart(), 0));
        versioned.value.set_limits(options.limits);
        let versioned = Arc::new(versioned);
        *cache = Some(Arc::clone(&versioned));
        Ok(versioned)
    }

    /// The cart's contents (loaded once per request, then cached).
    pub async fn contents(&self) -> Result<CartContents, CartError> {
        Ok(self.load_cached().await?.value.clone())
    }

    /// The stored version (0: not stored yet).
    pub async fn version(&self) -> Result<u64, CartError> {
        Ok(self.load_cached().await?.version)
    }

    /// The lines.
    pub async fn items(&self) -> Result<Vec<CartItem>, CartError> {
        Ok(self.load_cached().await?.value.items().to_vec())
    }

    /// One line.
    pub async fn get(&self, id: &str) -> Result<Option<CartItem>, CartError> {
        Ok(self.load_cached().await?.value.get(id).cloned())
    }

    /// The totals.
    pub async fn totals(&self) -> Result<Totals, CartError> {
        self.load_cached().await?.value.totals()
    }

    /// The cart with its totals, ready to serialize.
    pub async fn view(&self) -> Result<CartView, CartError> {
        let cart = self.load_cached().await?;
        CartView::new(
            self.key.identifier(),
            self.key.instance(),
            cart.version,
            &cart.value,
        )
    }

    /// Applies `op` as one atomic, versioned change and tells listeners `event(&output)`.
    async fn commit<T, Op, Ev>(&self, name: &'static str, op: Op, event: Ev) -> Result<T, CartError>
    where
        T: Send,
        Op: Fn(&mut CartContents) -> Result<T, CartError> + Send + Sync,
        Ev: FnOnce(&T) -> CartEventKind,
    {
        let span = tracing::info_span!(
            "cart.modify",
            op = name,
            driver = self.identity.storage.driver(),
            cart = %identifier_hash(self.key.identifier()),
            instance = self.key.instance(),
            version = tracing::field::Empty,
            retries = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        async {
            let output = std::sync::Mutex::new(None);
            let wrapped = |cart: &mut CartContents| {
                let value = op(cart)?;
                // Each retry overwrites: the value kept is the one of the attempt that committed.
                *output.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
                Ok(())
            };
            let options = self.manager.modify_options();
            let result = self
                .identity
                .storage
                .modify(&self.key, &options, &wrapped)
                .await;
            let span = tracing::Span::current();
            let Modified {
                cart,
                previous_version,
                retries,
            } = match result {
                Ok(modified) => modified,
                Err(error) => {
                    span.record("outcome", error.code());
                    return Err(error);
                }
            };
            span.record("version", cart.version);
            span.record("retries", retries);
            span.record("outcome", "committed");
            // A new guest's identifier is kept (cookie or session) once its first cart is
            // written, not before: a change that fails leaves no trace.
            self.identity.ensure_stored().await?;
            let value = output
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .ok_or_else(|| {
                    CartError::Unsupported(
                        "the storage committed without running the change".to_owned(),
                    )
                })?;
            let version = cart.version;
            {
                // Handles of one request share this cache; keep the newest of their writes.
                let mut cache = self.cache.lock().await;
                if cache
                    .as_ref()
                    .is_none_or(|cached| cached.version <= version)
                {
                    *cache = Some(Arc::new(cart));
                }
            }
            if previous_version.is_none() {
                self.emit(CartEventKind::Created, version);
            }
            self.emit(event(&value), version);
            Ok(value)
        }
        .instrument(span)
        .await
    }

    fn emit(&self, kind: CartEventKind, version: u64) {
        self.manager.emit(&CartEvent {
            kind,
            identifier: self.key.identifier().to_owned(),
            instance: self.key.instance().to_owned(),
            version,
        });
    }

    /// Any change, as one atomic versioned write; `op` may run more than once (on conflict), so it
    /// must be a pure function of the cart. Returns the committed cart.
    pub async fn modify<F>(&self, op: F) -> Result<CartContents, CartError>
    where
        F: Fn(&mut CartContents) -> Result<(), CartError> + Send + Sync,
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

    /// Adds a line (an existing id gets the new name, price and attributes and the summed quantity).
    pub async fn add(&self, item: CartItem) -> Result<CartItem, CartError> {
        let id = item.id().to_owned();
        self.commit(
            "add",
            |cart| cart.add(item.clone()).cloned(),
            |_| CartEventKind::ItemAdded { id },
        )
        .await
    }

    /// Adds a line from client input (price as a decimal string in the cart's currency).
    pub async fn add_input(&self, input: ItemInput) -> Result<CartItem, CartError> {
        // Checked here too, so that a quantity beyond 32 bits is told against the configured
        // limit, as every other over-the-limit quantity is.
        let max = self.manager.config().limits.max_quantity;
        if input.quantity > i64::from(max) {
            return Err(CartError::limit(
                "quantity",
                u64::from(max),
                input.quantity.unsigned_abs(),
            ));
        }
        let id = input.id.clone();
        // Prices are parsed in the stored cart's currency inside the change itself, so adding
        // costs no read besides the one the write does anyway.
        self.commit(
            "add",
            |cart| {
                let item = input.clone().into_item(cart.currency())?;
                cart.add(item).cloned()
            },
            |_| CartEventKind::ItemAdded { id },
        )
        .await
    }

    /// Adds several lines: all or none.
    pub async fn add_many(&self, items: Vec<CartItem>) -> Result<(), CartError> {
        let first = items.first().map(|i| i.id().to_owned()).unwrap_or_default();
        self.commit(
            "add_many",
            |cart| cart.add_many(items.iter().cloned()),
            |_| CartEventKind::ItemAdded { id: first },
        )
        .await
    }

    /// Changes one line; `None` when the change removed it.
    pub async fn update(
        &self,
        id: &str,
        update: ItemUpdate,
    ) -> Result<Option<CartItem>, CartError> {
        self.update_with(id, |_| Ok(update.clone())).await
    }

    /// `update` with the change built from the stored cart's currency.
    async fn update_with(
        &self,
        id: &str,
        update: impl Fn(crate::cart::Currency) -> Result<ItemUpdate, CartError> + Send + Sync,
    ) -> Result<Option<CartItem>, CartError> {
        self.commit(
            "update",
            |cart| Ok(cart.update(id, update(cart.currency())?)?.cloned()),
            |line: &Option<CartItem>| match line {
                Some(_) => CartEventKind::ItemUpdated { id: id.to_owned() },
                None => CartEventKind::ItemRemoved { id: id.to_owned() },
            },
        )
        .await
    }

    /// Changes one line from client input (`{quantity}` or `{delta}`, name, price, attributes).
    pub async fn update_input(
        &self,
        id: &str,
        input: ItemUpdateInput,
    ) -> Result<Option<CartItem>, CartError> {
        self.update_with(id, |currency| input.clone().into_update(currency))
            .await
    }

    /// Sets the quantity of a line; 0 or less removes it.
    pub async fn set_quantity(
        &self,
        id: &str,
        quantity: i64,
    ) -> Result<Option<CartItem>, CartError> {
        self.update(id, ItemUpdate::set_quantity(quantity)).await
    }

    /// Changes the quantity of a line by `delta`; a result of 0 or less removes it.
    pub async fn change_quantity(
        &self,
        id: &str,
        delta: i64,
    ) -> Result<Option<CartItem>, CartError> {
        self.update(id, ItemUpdate::change_quantity(delta)).await
    }

    /// Removes a line.
    pub async fn remove(&self, id: &str) -> Result<CartItem, CartError> {
        self.commit(
            "remove",
            |cart| cart.remove(id),
            |_| CartEventKind::ItemRemoved { id: id.to_owned() },
        )
        .await
    }

    /// Empties the cart (lines, conditions, metadata) by deleting it from storage.
    pub async fn clear(&self) -> Result<(), CartError> {
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
                self.identity.storage.delete(&self.key).await?
            };
            let options = self.manager.modify_options();
            *self.cache.lock().await = Some(Arc::new(Versioned::new(options.empty_cart(), 0)));
            if existed {
                self.emit(CartEventKind::Cleared, 0);
            }
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Adds (or replaces) a cart condition.
    pub async fn add_condition(&self, condition: Condition) -> Result<(), CartError> {
        let name = condition.name().to_owned();
        self.commit(
            "add_condition",
            |cart| cart.add_condition(condition.clone()),
            |_| CartEventKind::ConditionAdded { name, item: None },
        )
        .await
    }

    /// Adds a cart condition from client input.
    pub async fn add_condition_input(&self, input: ConditionInput) -> Result<(), CartError> {
        self.add_condition(Condition::try_from(input)?).await
    }

    /// Removes a cart condition.
    pub async fn remove_condition(&self, name: &str) -> Result<(), CartError> {
        self.commit(
            "remove_condition",
            |cart| cart.remove_condition(name).map(|_| ()),
            |_| CartEventKind::ConditionRemoved {
                name: name.to_owned(),
                item: None,
            },
        )
        .await
    }

    /// Removes every cart condition.
    pub async fn clear_conditions(&self) -> Result<(), CartError> {
        self.commit(
            "clear_conditions",
            |cart| {
                cart.clear_conditions();
                Ok(())
            },
            |_| CartEventKind::ConditionRemoved {
                name: "*".to_owned(),
                item: None,
            },
        )
        .await
    }

    /// Adds (or replaces) a condition on one line.
    pub async fn add_item_condition(
        &self,
        id: &str,
        condition: Condition,
    ) -> Result<(), CartError> {
        let name = condition.name().to_owned();
        self.commit(
            "add_item_condition",
            |cart| cart.add_item_condition(id, condition.clone()),
            |_| CartEventKind::ConditionAdded {
                name,
                item: Some(id.to_owned()),
            },
        )
        .await
    }

    /// Adds a condition on one line from client input.
    pub async fn add_item_condition_input(
        &self,
        id: &str,
        input: ConditionInput,
    ) -> Result<(), CartError> {
        let mut input = input;
        input.target = Some(crate::cart::ConditionTarget::Item);
        self.add_item_condition(id, Condition::try_from(input)?)
            .await
    }

    /// Removes a condition from one line.
    pub async fn remove_item_condition(&self, id: &str, name: &str) -> Result<(), CartError> {
        self.commit(
            "remove_item_condition",
            |cart| cart.remove_item_condition(id, name).map(|_| ()),
            |_| CartEventKind::ConditionRemoved {
                name: name.to_owned(),
                item: Some(id.to_owned()),
            },
        )
        .await
    }

    async fn add_named(
        &self,
        op: &'static str,
        name: &str,
        value: &str,
        add: fn(&mut CartContents, &str, &str) -> Result<(), CartError>,
    ) -> Result<(), CartError> {
        self.commit(
            op,
            |cart| add(cart, name, value),
            |_| CartEventKind::ConditionAdded {
                name: name.to_owned(),
                item: None,
            },
        )
        .await
    }

    /// A discount on the subtotal (always a reduction).
    pub async fn add_discount(&self, name: &str, value: &str) -> Result<(), CartError> {
        self.add_named("add_discount", name, value, CartContents::add_discount)
            .await
    }

    /// A tax on the subtotal.
    pub async fn add_tax(&self, name: &str, value: &str) -> Result<(), CartError> {
        self.add_named("add_tax", name, value, CartContents::add_tax)
            .await
    }

    /// A fee on the total.
    pub async fn add_fee(&self, name: &str, value: &str) -> Result<(), CartError> {
        self.add_named("add_fee", name, value, CartContents::add_fee)
            .await
    }

    /// Shipping on the total, replacing any other shipping condition.
    pub async fn add_shipping(&self, name: &str, value: &str) -> Result<(), CartError> {
        self.add_named("add_shipping", name, value, CartContents::add_shipping)
            .await
    }

    /// Sets one metadata value.
    pub async fn set_metadata(&self, key: &str, value: Value) -> Result<(), CartError> {
        self.commit(
            "set_metadata",
            |cart| cart.set_metadata(key, value.clone()),
            |_| CartEventKind::MetadataChanged {
                keys: vec![key.to_owned()],
            },
        )
        .await
    }

    /// Sets several metadata values at once.
    pub async fn set_metadata_many(&self, values: Map<String, Value>) -> Result<(), CartError> {
        let keys = values.keys().cloned().collect();
        self.commit(
            "set_metadata_many",
            |cart| cart.set_metadata_many(values.clone()),
            |_| CartEventKind::MetadataChanged { keys },
        )
        .await
    }

    /// Removes one metadata value and returns it.
    pub async fn remove_metadata(&self, key: &str) -> Result<Option<Value>, CartError> {
        self.commit(
            "remove_metadata",
            |cart| Ok(cart.remove_metadata(key)),
            |_| CartEventKind::MetadataChanged {
                keys: vec![key.to_owned()],
            },
        )
        .await
    }

    /// Removes all metadata.
    pub async fn clear_metadata(&self) -> Result<(), CartError> {
        self.commit(
            "clear_metadata",
            |cart| {
                cart.clear_metadata();
                Ok(())
            },
            |_| CartEventKind::MetadataChanged { keys: Vec::new() },
        )
        .await
    }
}
