//! The guest-to-user merge: when a visitor with a guest cart logs in, every instance of the
//! guest's carts is merged into the user's with the configured [`MergeStrategy`].
//!
//! Each merge happens once, whatever parallel requests, retries or crashes do: the user's cart
//! records the merged (guest identifier, guest version) in the same versioned write that adds
//! the lines, a merge finding its record does nothing, and the guest cart is deleted only at the
//! version that was merged. A merge that fails keeps the guest cart and lets the visitor go on
//! with the user's cart.
//!
//! [`MergeStrategy`]: crate::MergeStrategy

use std::sync::{Arc, Mutex};

use tracing::Instrument;

use crate::cart::{CartContents, MergeReport, merge};
use crate::error::CartError;
use crate::event::{CartEvent, CartEventKind};
use crate::manager::CartManager;
use crate::storage::{CartKey, CartStorage, Versioned, identifier_hash};

/// Merges every instance of `guest`'s carts into `user`'s, then deletes the guest's.
///
/// A failure is logged and told to listeners (`MergeFailed`) and the guest cart is kept; the
/// error is returned so that the caller knows, but the user's cart is usable either way.
pub(crate) async fn merge_guest_carts(
    manager: &CartManager,
    storage: &Arc<dyn CartStorage>,
    guest: &str,
    user: &str,
) -> Result<(), CartError> {
    let result = merge_all(manager, storage, guest, user).await;
    if let Err(error) = &result {
        tracing::warn!(
            guest = %identifier_hash(guest),
            user = %identifier_hash(user),
            error = %error,
            "a guest cart could not be merged into the user's cart; the guest cart is kept"
        );
        manager.emit(&CartEvent {
            kind: CartEventKind::MergeFailed {
                error: error.code().to_owned(),
            },
            identifier: user.to_owned(),
            instance: crate::storage::DEFAULT_INSTANCE.to_owned(),
            version: 0,
        });
    }
    result
}

async fn merge_all(
    manager: &CartManager,
    storage: &Arc<dyn CartStorage>,
    guest: &str,
    user: &str,
) -> Result<(), CartError> {
    for instance in storage.instances(guest).await? {
        let guest_key = CartKey::new(guest, instance.as_str());
        let Some(guest_cart) = storage.load(&guest_key).await? else {
            continue;
        };
        let user_key = CartKey::new(user, instance.as_str());
        merge_one(manager, storage.as_ref(), &user_key, guest, &guest_cart).await?;
        // Only the version that was merged goes: a guest write that landed since stays.
        storage.delete_at(&guest_key, guest_cart.version).await?;
    }
    Ok(())
}

/// Merges one guest cart into the cart at `user_key` in one versioned write, unless the user's
/// cart records that it already holds this version of it, and tells listeners.
async fn merge_one(
    manager: &CartManager,
    storage: &dyn CartStorage,
    user_key: &CartKey,
    guest: &str,
    guest_cart: &Versioned<CartContents>,
) -> Result<(), CartError> {
    let strategy = manager.config().merge_strategy;
    let span = tracing::info_span!(
        "cart.modify",
        op = "merge",
        driver = storage.driver(),
        cart = %identifier_hash(user_key.identifier()),
        instance = user_key.instance(),
        version = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );
    async {
        // The report of the attempt that committed: each retry overwrites it.
        let report: Mutex<Option<MergeReport>> = Mutex::new(None);
        let op = |cart: &mut CartContents| {
            let merged = if cart.has_merged(guest, guest_cart.version) {
                None
            } else {
                let merged = merge(cart, &guest_cart.value, strategy);
                cart.record_merge(guest, guest_cart.version);
                Some(merged)
            };
            *report.lock().unwrap_or_else(|p| p.into_inner()) = merged;
            Ok(())
        };
        let options = manager.modify_options();
        let turn = manager.write_turn(user_key).await;
        let result = storage.modify(user_key, &options, &op).await;
        drop(turn);
        let span = tracing::Span::current();
        let modified = match result {
            Ok(modified) => modified,
            Err(error) => {
                let error = CartError::from(error);
                span.record("outcome", error.code());
                return Err(error);
            }
        };
        span.record("version", modified.cart.version);
        let Some(report) = report.into_inner().unwrap_or_else(|p| p.into_inner()) else {
            // Another request (or an earlier attempt) merged this guest cart already.
            span.record("outcome", "already_merged");
            return Ok(());
        };
        span.record("outcome", "committed");
        let emit = |kind| {
            manager.emit(&CartEvent {
                kind,
                identifier: user_key.identifier().to_owned(),
                instance: user_key.instance().to_owned(),
                version: modified.cart.version,
            });
        };
        if modified.previous_version.is_none() {
            emit(CartEventKind::Created);
        }
        emit(CartEventKind::Merged { report });
        Ok(())
    }
    .instrument(span)
    .await
}
