//! The write path of the [`Cart`] handle: every change is one atomic, versioned `modify` that
//! also stores what this request's read re-priced, refuses an instance beyond the limit, checks
//! the request's `If-Match` and `Idempotency-Key` against the cart it is based on, and tells the
//! event listeners once committed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::Instrument;

use super::Cart;
use crate::cart::{self, CartContents};
use crate::catalog::{carry_repricing, restore_marks, strip_marks};
use crate::error::CartError;
use crate::event::{CartEvent, CartEventKind};
use crate::protocol::{KeyLookup, RequestProtocol, cart_tag_id};
use crate::request::CachedCart;
use crate::storage::{Modified, ModifyError, Versioned, identifier_hash};

/// Which stored cart a change of a request with `If-Match` may be based on.
enum Basis {
    /// `*`: any cart that exists.
    Exists,
    /// The cart whose last write has this id (`None`: no cart).
    Write(Option<Arc<str>>),
    /// None: the version the request names is not the stored one.
    Stale,
}

/// Why the change of a request was not applied, found inside the atomic write.
#[derive(Clone, Copy)]
enum Refusal {
    Stale,
    Replay,
    Reused,
}

/// What a request's headers ask of one change, fixed before the write so that the check inside
/// it is a pure function of the stored cart.
struct Guard<'a> {
    basis: Option<Basis>,
    key: Option<(&'a str, &'a str)>,
    now: i64,
    oldest: i64,
}

impl Guard<'_> {
    fn check(&self, cart: &CartContents) -> Result<(), Refusal> {
        if let Some((key, fingerprint)) = self.key {
            match cart.idempotency_record(key, self.oldest) {
                Some(record) if record.fingerprint == fingerprint => return Err(Refusal::Replay),
                Some(_) => return Err(Refusal::Reused),
                None => {}
            }
        }
        match &self.basis {
            None => Ok(()),
            Some(Basis::Exists) if !cart.write_ids().is_empty() => Ok(()),
            Some(Basis::Write(last)) if cart.write_ids().last() == last.as_ref() => Ok(()),
            Some(_) => Err(Refusal::Stale),
        }
    }

    fn record(&self, cart: &mut CartContents) {
        if let Some((key, fingerprint)) = self.key {
            cart.record_idempotency_key(key, fingerprint, self.now, self.oldest);
        }
    }
}

impl Cart {
    /// Refuses to create this instance when its identifier already has the most instances
    /// allowed.
    pub(super) async fn check_instances(&self) -> Result<(), CartError> {
        let max = self.manager.config().max_instances;
        let instances = if self.identity.is_pending() {
            Vec::new()
        } else {
            self.identity
                .storage
                .instances(self.key.identifier())
                .await?
        };
        if instances.iter().any(|name| name == self.key.instance()) || instances.len() < max {
            return Ok(());
        }
        Err(cart::Error::limit("instances", max as u64, instances.len() as u64 + 1).into())
    }

    /// Applies `op` as one atomic, versioned change and tells listeners `event(&output)`.
    pub(super) async fn commit<T, Op, Ev>(
        &self,
        name: &'static str,
        op: Op,
        event: Ev,
    ) -> Result<T, CartError>
    where
        T: Send,
        Op: Fn(&mut CartContents) -> Result<T, cart::Error> + Send + Sync,
        Ev: FnOnce(&T) -> CartEventKind,
    {
        self.commit_priced(name, None, op, event).await
    }

    /// [`Cart::commit`] for a change that prices the line `fresh` from the catalogue itself.
    ///
    /// The change also stores the re-pricing this request's read did, for the lines whose stored
    /// price is still the one the read replaced; the committed cart keeps the read's marks so the
    /// view still tells the shopper. A change that would create the cart first checks the number
    /// of instances of its identifier: when the cached cart is not stored yet, or when the write
    /// finds no cart.
    pub(super) async fn commit_priced<T, Op, Ev>(
        &self,
        name: &'static str,
        fresh: Option<&str>,
        op: Op,
        event: Ev,
    ) -> Result<T, CartError>
    where
        T: Send,
        Op: Fn(&mut CartContents) -> Result<T, cart::Error> + Send + Sync,
        Ev: FnOnce(&T) -> CartEventKind,
    {
        self.identity.settle(&self.manager).await?;
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
            let span = tracing::Span::current();
            let failed = |error: CartError| {
                span.record("outcome", error.code());
                Err(error)
            };
            let cached = self.cache().lock().await.clone();
            let mut read = cached.as_ref().map(|cached| Arc::clone(&cached.cart));
            let protocol = self.identity.protocol.as_deref();
            let guard = match protocol {
                // A replayed request changes nothing, not even with its later changes.
                Some(protocol) if protocol.replayed().is_some() => {
                    return failed(CartError::Replayed);
                }
                Some(protocol) => match self.guard(protocol, &mut read).await {
                    Ok(guard) => Some(guard),
                    Err(error) => return failed(error),
                },
                None => None,
            };
            let refused = std::sync::Mutex::new(None);
            let mut may_create = false;
            // A new guest's identifier has no carts yet: known without asking the storage.
            if self.identity.is_pending() || read.as_ref().is_some_and(|read| read.version == 0) {
                if let Err(error) = self.check_instances().await {
                    return failed(error);
                }
                may_create = true;
            }
            let output = std::sync::Mutex::new(None);
            let unchecked_create = AtomicBool::new(false);
            let mut options = self.manager.modify_options();
            let mut stamp;
            let result = loop {
                let wrapped = |cart: &mut CartContents| {
                    let mut refusal = refused.lock().unwrap_or_else(|p| p.into_inner());
                    *refusal = guard.as_ref().and_then(|guard| guard.check(cart).err());
                    if refusal.is_some() {
                        // The flag says why; the error only stops the write.
                        return Err(cart::Error::limit("instances", 0, 0));
                    }
                    drop(refusal);
                    // A cart that was never written has no write ids: this write creates it.
                    if !may_create && cart.write_ids().is_empty() {
                        unchecked_create.store(true, Ordering::Relaxed);
                        return Err(cart::Error::limit("instances", 0, 0));
                    }
                    if let Some(read) = &read {
                        carry_repricing(cart, &read.value);
                    }
                    let value = op(cart)?;
                    if let Some(guard) = &guard {
                        guard.record(cart);
                    }
                    strip_marks(cart);
                    // Each retry overwrites: the value kept is the one of the attempt that committed.
                    *output.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
                    Ok(())
                };
                let turn = self.manager.write_turn(&self.key).await;
                // The request's read, unless this process wrote the cart since; without a read,
                // the storage's own recent copy when it keeps one, so that a cart changed by this
                // process alone is written without a read first. A guest identifier minted now
                // has neither: its cart is looked up by the write itself, so that a storage that
                // says otherwise is believed.
                options.basis = match &cached {
                    _ if self.identity.is_pending() => None,
                    Some(cached) => (cached.stamp == self.manager.write_stamp(&self.key))
                        .then(|| Arc::clone(&cached.cart)),
                    None => self.identity.storage.recent(&self.key),
                };
                let result = self
                    .identity
                    .storage
                    .modify(&self.key, &options, &wrapped)
                    .await;
                stamp = self.manager.count_write(&self.key);
                drop(turn);
                let refusal = *refused.lock().unwrap_or_else(|p| p.into_inner());
                if let (Err(ModifyError::Rejected(_)), Some(refusal), Some(protocol)) =
                    (&result, refusal, protocol)
                {
                    return failed(self.refused(protocol, refusal).await);
                }
                match result {
                    Err(ModifyError::Rejected(_))
                        if unchecked_create.swap(false, Ordering::Relaxed) =>
                    {
                        if let Err(error) = self.check_instances().await {
                            return failed(error);
                        }
                        may_create = true;
                    }
                    result => break result,
                }
            };
            let Modified {
                mut cart,
                previous_version,
                retries,
            } = match result {
                Ok(modified) => modified,
                Err(error) => return failed(CartError::from(error)),
            };
            span.record("version", cart.version);
            span.record("retries", retries);
            span.record("outcome", "committed");
            if let Some(protocol) = protocol {
                if guard.as_ref().is_some_and(|guard| guard.key.is_some()) {
                    protocol.set_lookup(KeyLookup::Recorded);
                }
                protocol.note_written(self.key.instance(), cart.version);
            }
            restore_marks(
                &mut cart.value,
                read.as_ref().map(|read| &read.value),
                fresh,
            );
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
                let mut cache = self.cache().lock().await;
                if cache
                    .as_ref()
                    .is_none_or(|cached| cached.cart.version <= version)
                {
                    *cache = Some(CachedCart {
                        cart: Arc::new(cart),
                        stamp,
                    });
                }
            }
            if self.manager.has_listeners() {
                if previous_version.is_none() {
                    self.emit(CartEventKind::Created, version);
                }
                self.emit(event(&value), version);
            }
            Ok(value)
        }
        .instrument(span)
        .await
    }

    /// The guard of a change of this request, loading the cart first when `If-Match` names a
    /// version: the version is compared here, and the write then checks that the stored cart is
    /// still the one loaded (by its last write id).
    async fn guard<'p>(
        &self,
        protocol: &'p RequestProtocol,
        read: &mut Option<Arc<Versioned<CartContents>>>,
    ) -> Result<Guard<'p>, CartError> {
        let basis = match &protocol.if_match {
            None => None,
            Some(tags) if tags.is_any() => Some(Basis::Exists),
            Some(tags) => {
                let loaded = match read {
                    Some(loaded) => Arc::clone(loaded),
                    None => {
                        let loaded = self.load_cached().await?;
                        *read = Some(Arc::clone(&loaded));
                        loaded
                    }
                };
                let id = cart_tag_id(self.key.identifier(), self.key.instance());
                // A later change of the request is based on the request's own earlier write.
                if tags.names_version(&id, loaded.version)
                    || protocol.wrote(self.key.instance(), loaded.version)
                {
                    Some(Basis::Write(loaded.value.write_ids().last().cloned()))
                } else {
                    Some(Basis::Stale)
                }
            }
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let retention = i64::try_from(protocol.retention.as_secs()).unwrap_or(i64::MAX);
        Ok(Guard {
            basis,
            key: protocol
                .open_key()
                .map(|key| (key.key.as_str(), key.fingerprint.as_str())),
            now,
            oldest: now.saturating_sub(retention),
        })
    }

    /// The error of a change the guard refused; a replay also forgets the request's cached cart,
    /// which may predate the write that recorded the key, so that the answer shows the cart now.
    async fn refused(&self, protocol: &RequestProtocol, refusal: Refusal) -> CartError {
        match refusal {
            Refusal::Replay => {
                *self.cache().lock().await = None;
                protocol.set_lookup(KeyLookup::Replayed {
                    instance: self.key.instance().to_owned(),
                });
                CartError::Replayed
            }
            Refusal::Reused => CartError::IdempotencyKeyReused,
            Refusal::Stale => {
                let current = if self.identity.is_pending() {
                    Ok(None)
                } else {
                    self.identity.storage.load(&self.key).await
                };
                match current {
                    Ok(current) => CartError::PreconditionFailed {
                        current_version: current.map(|stored| stored.version),
                    },
                    Err(error) => error.into(),
                }
            }
        }
    }

    pub(super) fn emit(&self, kind: CartEventKind, version: u64) {
        if !self.manager.has_listeners() {
            return;
        }
        self.manager.emit(&CartEvent {
            kind,
            identifier: self.key.identifier().to_owned(),
            instance: self.key.instance().to_owned(),
            version,
        });
    }
}
