//! The write path of the [`Cart`] handle: every change is one atomic, versioned `modify` that
//! also stores what this request's read re-priced, refuses an instance beyond the limit, and
//! tells the event listeners once committed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::Instrument;

use super::Cart;
use crate::cart::{self, CartContents};
use crate::catalog::{carry_repricing, restore_marks, strip_marks};
use crate::error::CartError;
use crate::event::{CartEvent, CartEventKind};
use crate::storage::{Modified, ModifyError, identifier_hash};

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
            let read = self.cache.lock().await.clone();
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
            let options = self.manager.modify_options();
            let result = loop {
                let wrapped = |cart: &mut CartContents| {
                    // A cart that was never written has no write ids: this write creates it.
                    if !may_create && cart.write_ids().is_empty() {
                        unchecked_create.store(true, Ordering::Relaxed);
                        return Err(cart::Error::limit("instances", 0, 0));
                    }
                    if let Some(read) = &read {
                        carry_repricing(cart, &read.value);
                    }
                    let value = op(cart)?;
                    strip_marks(cart);
                    // Each retry overwrites: the value kept is the one of the attempt that committed.
                    *output.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
                    Ok(())
                };
                let turn = self.manager.write_turn(&self.key).await;
                let result = self
                    .identity
                    .storage
                    .modify(&self.key, &options, &wrapped)
                    .await;
                drop(turn);
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

    pub(super) fn emit(&self, kind: CartEventKind, version: u64) {
        self.manager.emit(&CartEvent {
            kind,
            identifier: self.key.identifier().to_owned(),
            instance: self.key.instance().to_owned(),
            version,
        });
    }
}
