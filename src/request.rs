//! Per-request state: what [`CartLayer`](crate::CartLayer) puts into the request, who the carts
//! of the request belong to ([`Identity`]), where a guest identifier is kept between requests
//! ([`GuestSlot`]), and the request's cache of loaded carts.
//!
//! Resolving an identity reads the session or a cookie and asks the user resolver; it never
//! touches cart storage. A guest cart that must merge into the user's is remembered as pending
//! and merged by the first cart operation of the request.

use std::sync::{Arc, Mutex as SyncMutex, OnceLock, Weak};

use http::request::Parts;
use tokio::sync::{Mutex, OnceCell};
use tower_sessions::Session;

use crate::cart::CartContents;
use crate::config::StorageMode;
use crate::error::CartError;
use crate::identify::{
    CookieConfig, IdentifierMode, is_guest_identifier, new_guest_identifier, user_identifier,
};
use crate::login::merge_guest_carts;
use crate::manager::CartManager;
use crate::protocol::RequestProtocol;
use crate::storage::{
    CartStorage, DEFAULT_INSTANCE, SessionStorage, StorageError, Versioned, instance_text,
};

/// What the layer shares with the extractor and the response future of one request.
pub(crate) struct RequestCart {
    pub(crate) manager: CartManager,
    /// A `Set-Cookie` value to add to the response (after a write to a guest cart, or a removal).
    set_cookie: SyncMutex<Option<String>>,
    /// The identity resolved by the first `Cart` extraction of this request. A plain cell, not
    /// an async one: extractions of one request run one after another, and should two ever
    /// resolve at once, the first to finish is the request's identity and the other's is
    /// dropped unused (nothing was stored for it: a guest id is stored by a write, through
    /// the identity that won).
    identity: OnceLock<Arc<Identity>>,
    /// The request's conditional and idempotency headers, when honoured and present.
    pub(crate) protocol: Option<Arc<RequestProtocol>>,
}

impl RequestCart {
    pub(crate) fn new(manager: CartManager, protocol: Option<Arc<RequestProtocol>>) -> Self {
        RequestCart {
            manager,
            set_cookie: SyncMutex::new(None),
            identity: OnceLock::new(),
            protocol,
        }
    }

    /// The identity, if a `Cart` was extracted: the request's answer is then a cart answer.
    pub(crate) fn resolved_identity(&self) -> Option<&Arc<Identity>> {
        self.identity.get()
    }

    pub(crate) fn set_cookie(&self, value: String) {
        *self
            .set_cookie
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(value);
    }

    /// The `Set-Cookie` value to answer with, if any.
    pub(crate) fn take_cookie(&self) -> Option<String> {
        self.set_cookie
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    /// The identity of this request, resolved once and shared by every extraction.
    pub(crate) async fn identity(
        self: &Arc<Self>,
        parts: &Parts,
    ) -> Result<Arc<Identity>, CartError> {
        if let Some(identity) = self.identity.get() {
            return Ok(Arc::clone(identity));
        }
        let resolved = resolve_identity(parts, self).await?;
        Ok(Arc::clone(self.identity.get_or_init(|| resolved)))
    }
}

/// The cached cart of one instance, shared by every handle on it within a request.
pub(crate) type CartCache = Arc<Mutex<Option<CachedCart>>>;

/// Where a handle finds its instance's cache: most requests open only the default instance,
/// whose cache lives inside the identity and costs no allocation of its own.
#[derive(Clone)]
pub(crate) enum CacheSlot {
    Default,
    Named(CartCache),
}

/// A cart as a request read or wrote it, with the write stamp of its key from before that read
/// (see [`CartManager::write_stamp`]): unchanged at the next write, nothing in this process wrote
/// the cart since, and the write may start from this copy.
#[derive(Clone)]
pub(crate) struct CachedCart {
    pub(crate) cart: Arc<Versioned<CartContents>>,
    pub(crate) stamp: u64,
}

/// Who the carts of a request belong to, and where they are stored.
pub(crate) struct Identity {
    pub(crate) identifier: Arc<str>,
    pub(crate) storage: Arc<dyn CartStorage>,
    /// Where the guest identifier lives (`None` for user carts and carts opened by a manager).
    pub(crate) slot: Option<GuestSlot>,
    /// A guest identifier minted for this request: stored in its slot only once its first cart
    /// is written, so that read-only visitors cost nothing.
    pending: bool,
    stored: OnceCell<()>,
    /// A guest whose carts merge into this user's at the first cart operation. Boxed: few
    /// requests have one, and every request's identity is built and moved.
    merge: Option<Box<PendingMerge>>,
    merged: OnceCell<()>,
    /// The loaded carts of this identity, one per instance, so that a cart is loaded once per
    /// request and every handle sees the request's own writes: the default instance's here,
    /// the others' in `caches`.
    default_cache: Mutex<Option<CachedCart>>,
    caches: SyncMutex<Vec<(Arc<str>, CartCache)>>,
    /// What the request's headers ask of its changes (`None` outside requests).
    pub(crate) protocol: Option<Arc<RequestProtocol>>,
}

/// A guest identifier found on a request that also has a logged-in user.
struct PendingMerge {
    guest: String,
    slot: GuestSlot,
}

impl Identity {
    /// An identity whose identifier is known and needs nothing stored.
    pub(crate) fn settled(
        identifier: impl Into<Arc<str>>,
        storage: Arc<dyn CartStorage>,
        slot: Option<GuestSlot>,
    ) -> Self {
        Identity::of_request(identifier.into(), storage, slot, false, None, None)
    }

    /// A request's identity, built in one piece: it is built for every request that takes a
    /// cart, and each step through a struct update would copy the whole of it.
    fn of_request(
        identifier: Arc<str>,
        storage: Arc<dyn CartStorage>,
        slot: Option<GuestSlot>,
        pending: bool,
        merge: Option<Box<PendingMerge>>,
        protocol: Option<Arc<RequestProtocol>>,
    ) -> Self {
        Identity {
            identifier,
            storage,
            slot,
            pending,
            stored: OnceCell::new(),
            merge,
            merged: OnceCell::new(),
            default_cache: Mutex::const_new(None),
            caches: SyncMutex::default(),
            protocol,
        }
    }

    /// The cache shared by every handle on `instance` of this identity.
    pub(crate) fn cache(&self, instance: &str) -> CacheSlot {
        if instance == DEFAULT_INSTANCE {
            return CacheSlot::Default;
        }
        let mut caches = self
            .caches
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // A request opens one or two instances: a list beats a map.
        if let Some((_, cache)) = caches.iter().find(|(name, _)| **name == *instance) {
            return CacheSlot::Named(Arc::clone(cache));
        }
        let cache = CartCache::default();
        caches.push((instance_text(instance), Arc::clone(&cache)));
        CacheSlot::Named(cache)
    }

    /// The cache a handle's slot names.
    pub(crate) fn cache_in<'a>(&'a self, slot: &'a CacheSlot) -> &'a Mutex<Option<CachedCart>> {
        match slot {
            CacheSlot::Default => &self.default_cache,
            CacheSlot::Named(cache) => cache,
        }
    }

    /// Whether the identifier was minted for this request and nothing was stored for it yet.
    pub(crate) fn is_pending(&self) -> bool {
        self.pending && self.stored.get().is_none()
    }

    /// Keeps the guest identifier once a write committed: a newly minted one goes into its slot.
    /// A cookie is sent again after every write, not only the first, so that its Max-Age counts
    /// from the visitor's last write (an active visitor never loses the cart) and a cookie
    /// verified by a previous key comes back signed with the current one. Reads never call this,
    /// so a visitor who only looks gets no cookie.
    pub(crate) async fn ensure_stored(&self) -> Result<(), CartError> {
        let Some(slot) = &self.slot else {
            return Ok(());
        };
        if let GuestSlot::Cookie { state, config } = slot {
            set_cookie(state, config.set_cookie(&self.identifier));
            // Setting fails only when already set, which is the state wanted.
            let _ = self.stored.set(());
            return Ok(());
        }
        if !self.pending {
            return Ok(());
        }
        self.stored
            .get_or_try_init(|| slot.store(&self.identifier))
            .await
            .map(|_| ())
    }

    /// Runs the pending guest-to-user merge, once per request; a no-op without one.
    pub(crate) async fn settle(&self, manager: &CartManager) -> Result<(), CartError> {
        let Some(merge) = &self.merge else {
            return Ok(());
        };
        // Boxed: a merge runs once in a login's life, and its large future would otherwise be
        // moved about inside every cart operation that awaits this one.
        self.merged
            .get_or_try_init(|| {
                Box::pin(merge_into_user(
                    manager,
                    &self.storage,
                    &merge.guest,
                    &self.identifier,
                    &merge.slot,
                ))
            })
            .await
            .map(|_| ())
    }
}

/// Merges the guest's carts into the user's, then forgets the guest identifier so that later
/// requests find nothing to merge. A failed merge does not fail the request (the user's cart is
/// there either way) and keeps the guest cart; the identifier is kept for another try only when
/// the failure may pass (the store was unavailable or too busy).
pub(crate) async fn merge_into_user(
    manager: &CartManager,
    storage: &Arc<dyn CartStorage>,
    guest: &str,
    user: &str,
    slot: &GuestSlot,
) -> Result<(), CartError> {
    match merge_guest_carts(manager, storage, guest, user).await {
        Err(CartError::Conflict(_) | CartError::Storage(StorageError::Unavailable { .. })) => {
            Ok(())
        }
        Ok(()) | Err(_) => slot.forget().await,
    }
}

/// Where a guest identifier is kept between requests.
pub(crate) enum GuestSlot {
    Session {
        session: Session,
        key: Arc<str>,
    },
    Cookie {
        // Weak: the request state owns the identity that owns this slot, and a strong handle
        // back would keep every cookie-mode request's state alive forever.
        state: Weak<RequestCart>,
        // The manager's, shared: a copy per request would cost its texts and key, and would
        // make every identity (built per request) as large as the configuration.
        config: Arc<CookieConfig>,
    },
}

/// Sets the response cookie of the request, if the request is still being answered.
fn set_cookie(state: &Weak<RequestCart>, value: String) {
    if let Some(state) = state.upgrade() {
        state.set_cookie(value);
    }
}

impl GuestSlot {
    async fn store(&self, identifier: &str) -> Result<(), CartError> {
        match self {
            GuestSlot::Session { session, key } => {
                session.insert(key, identifier).await.map_err(session_error)
            }
            GuestSlot::Cookie { state, config } => {
                set_cookie(state, config.set_cookie(identifier));
                Ok(())
            }
        }
    }

    /// Forgets the guest identifier once its carts were merged into a user's, so that a repeated
    /// login finds nothing to merge.
    pub(crate) async fn forget(&self) -> Result<(), CartError> {
        match self {
            GuestSlot::Session { session, key } => {
                session.remove_value(key).await.map_err(session_error)?;
            }
            GuestSlot::Cookie { state, config } => set_cookie(state, config.removal_cookie()),
        }
        Ok(())
    }

    /// The guest identifier this slot holds, if a valid one.
    async fn read(&self, parts: &Parts) -> Result<Option<String>, CartError> {
        Ok(match self {
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
        (StorageMode::Session { key }, Some(session)) => Arc::new(
            SessionStorage::new(session.clone(), key)
                .with_parsed(Arc::clone(manager.session_carts())),
        ),
        (StorageMode::Shared(storage), _) => storage,
        (StorageMode::Session { .. }, None) => return Err(CartError::MissingSession),
    };
    let slot = match (&config.identifier, session) {
        (IdentifierMode::Session { key }, Some(session)) => GuestSlot::Session {
            session,
            key: manager
                .guest_key()
                .map_or_else(|| Arc::from(key.as_str()), Arc::clone),
        },
        (IdentifierMode::Cookie(cookie), _) => GuestSlot::Cookie {
            state: Arc::downgrade(state),
            config: manager
                .guest_cookie()
                .map_or_else(|| Arc::new(cookie.clone()), Arc::clone),
        },
        (IdentifierMode::Session { .. }, None) => return Err(CartError::MissingSession),
    };
    let guest = slot.read(parts).await?;
    let protocol = state.protocol.clone();

    let user = match &config.user_resolver {
        Some(resolver) => resolver.user_id(parts).await,
        None => None,
    };
    let identity = match (user, guest) {
        (Some(user), guest) => Identity::of_request(
            user_identifier(&user).into(),
            storage,
            None,
            false,
            guest.map(|guest| Box::new(PendingMerge { guest, slot })),
            protocol,
        ),
        (None, Some(guest)) => {
            Identity::of_request(guest.into(), storage, Some(slot), false, None, protocol)
        }
        (None, None) => Identity::of_request(
            new_guest_identifier().into(),
            storage,
            Some(slot),
            true,
            None,
            protocol,
        ),
    };
    Ok(Arc::new(identity))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CartConfig;
    use crate::identify::CookieConfig;
    use crate::storage::MemoryStorage;

    #[tokio::test]
    async fn a_cookie_mode_identity_does_not_keep_its_request_alive() {
        let config = CartConfig::new()
            .with_storage(MemoryStorage::new())
            .with_cookie_identifier(CookieConfig::new(cookie::Key::generate()));
        let state = Arc::new(RequestCart::new(CartManager::new(config), None));
        let (parts, ()) = http::Request::new(()).into_parts();
        let identity = state.identity(&parts).await.unwrap();
        assert!(identity.slot.is_some(), "a guest gets a cookie slot");
        assert_eq!(
            Arc::strong_count(&state),
            1,
            "the request state is freed when its request ends"
        );
    }
}
