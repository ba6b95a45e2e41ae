//! The guest-to-user merge: when a visitor with a guest cart logs in, every instance of the
//! guest's carts is merged into the user's with the configured [`MergeStrategy`], one versioned
//! write per instance, and the guest cart is deleted.
//!
//! [`MergeStrategy`]: crate::MergeStrategy

use std::sync::{Arc, Mutex};

use tracing::Instrument;

use crate::cart::{CartContents, MergeReport, merge};
use crate::error::CartError;
use crate::event::{CartEvent, CartEventKind};
use crate::manager::CartManager;
use crate::storage::{CartKey, CartStorage, identifier_hash};

/// Merges every instance of `guest`'s carts into `user`'s, then deletes the guest's.
pub(crate) async fn merge_guest_carts(
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
        merge_one(manager, storage.as_ref(), &user_key, &guest_cart.value).await?;
        storage.delete(&guest_key).await?;
    }
    Ok(())
}

/// Merges `guest` into the cart at `user_key` in one versioned write and tells listeners.
async fn merge_one(
    manager: &CartManager,
    storage: &dyn CartStorage,
    user_key: &CartKey,
    guest: &CartContents,
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
            let merged = merge(cart, guest, strategy);
            *report.lock().unwrap_or_else(|p| p.into_inner()) = Some(merged);
            Ok(())
        };
        let options = manager.modify_options();
        let modified = match storage.modify(user_key, &options, &op).await {
            Ok(modified) => modified,
            Err(error) => {
                let error = CartError::from(error);
                tracing::Span::current().record("outcome", error.code());
                return Err(error);
            }
        };
        let span = tracing::Span::current();
        span.record("version", modified.cart.version);
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
        if let Some(report) = report.into_inner().unwrap_or_else(|p| p.into_inner()) {
            emit(CartEventKind::Merged { report });
        }
        Ok(())
    }
    .instrument(span)
    .await
}
