//! The read-modify-write of the Redis driver, in both modes: load, apply, one compare-and-set
//! script, retried on conflict within the retry budget. It stores the document the size check
//! already serialized, so a change is serialized once; after a save answered by a conflict or an
//! error, the stored cart's write ids tell whether it committed after all (and, when the storage
//! waits for replicas, whether the replicas hold it too).

use super::store::{Store, now};
use crate::storage::{
    CartKey, CartOp, CartStorage, Fingerprint, Modified, ModifyError, ModifyOptions, StorageError,
    Versioned, backoff, committed_write, new_write_id,
};

/// The read-modify-write of both modes (the locking mode runs it under the cart's lock).
pub(super) async fn modify(
    store: &Store,
    storage: &dyn CartStorage,
    key: &CartKey,
    options: &ModifyOptions,
    op: &CartOp<'_>,
) -> Result<Modified, ModifyError> {
    let deadline = options.deadline();
    let mut write_ids = Vec::new();
    let mut retries = 0;
    let mut basis = options.basis_cart();
    loop {
        let from_basis = basis.is_some();
        let current = match basis.take() {
            Some(current) => current,
            None => store.load(key).await?,
        };
        let write_id = new_write_id();
        let (cart, document, expected) = options.apply_encoded(current, op, &write_id)?;
        write_ids.push(write_id);
        let committed = |stored| Modified {
            cart: stored,
            previous_version: expected,
            retries,
        };
        let written = Fingerprint::of(&document);
        let now = now();
        let logged_id = write_ids.last().map(String::as_str);
        match store
            .save_document(key, document, expected, now, logged_id)
            .await
        {
            Ok(version) => {
                let cart = Versioned {
                    value: cart,
                    version,
                    updated_at: time::OffsetDateTime::from_unix_timestamp(now).ok(),
                };
                // The next read of this cart gets the same document back: no parse then.
                store.parsed.remember(key, written, cart.clone());
                return Ok(committed(cart));
            }
            Err(StorageError::Conflict { current, .. }) => {
                if let Some(stored) = committed_write(storage, key, &write_ids).await {
                    store.confirm_replicated(key).await?;
                    return Ok(committed(stored));
                }
                // A basis the cart moved on from met no writer in flight: read and go again,
                // whatever the budget, without counting a retry.
                if from_basis {
                    continue;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(ModifyError::conflict(key, expected, current, retries));
                }
                retries += 1;
                backoff(retries).await;
            }
            Err(error) => {
                return match committed_write(storage, key, &write_ids).await {
                    Some(stored) => {
                        store.confirm_replicated(key).await?;
                        Ok(committed(stored))
                    }
                    None => Err(error.into()),
                };
            }
        }
    }
}
