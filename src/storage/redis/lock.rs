//! Locking mode: the writers of one cart queue on a lock instead of retrying on conflict.
//!
//! The lock is `SET lock token NX PX`, so a holder that dies loses it after the lock timeout.
//! Each holder locks with a random token and releases with a compare-and-delete script, so a
//! holder whose lock expired and was taken over never releases the new holder's lock.

use std::time::Duration;

use fred::interfaces::KeysInterface;
use fred::types::{Expiration, SetOptions, Value};

use super::client::DRIVER;
use super::store::Store;
use crate::storage::{
    CartKey, CartOp, Modified, ModifyError, ModifyOptions, StorageError, Versioned, backoff,
    new_write_id,
};

/// How long a lock lives and how long a writer waits for one.
#[derive(Clone, Copy, Debug)]
pub(super) struct Lock {
    pub(super) timeout: Duration,
    pub(super) wait: Duration,
}

impl Lock {
    /// `modify` under the cart's lock: load, apply, save, release.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] ("lock wait exceeded") when the lock is not free within the
    /// lock wait; otherwise what loading, the operation or saving fail with.
    pub(super) async fn modify(
        &self,
        store: &Store,
        key: &CartKey,
        options: &ModifyOptions,
        op: &CartOp<'_>,
    ) -> Result<Modified, ModifyError> {
        let lock_key = store.keys.lock(key);
        let token = format!("{:032x}", rand::random::<u128>());
        let deadline = tokio::time::Instant::now() + self.wait;
        let mut attempt = 0;
        loop {
            let taken: Value = store
                .client
                .timed(store.client.pool.set(
                    lock_key.as_str(),
                    token.as_str(),
                    Some(Expiration::PX(self.timeout.as_millis() as i64)),
                    Some(SetOptions::NX),
                    false,
                ))
                .await?;
            if !matches!(taken, Value::Null) {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StorageError::Unavailable {
                    driver: DRIVER,
                    message: format!("lock wait exceeded ({:?}) for cart {key}", self.wait),
                }
                .into());
            }
            attempt += 1;
            backoff(attempt.min(3)).await;
        }
        let result = async {
            let current = store.load(key).await?;
            let (cart, document, expected) = options.apply_encoded(current, op, &new_write_id())?;
            match store.save_document(key, document, expected).await {
                Ok(version) => Ok(Modified {
                    cart: Versioned::new(cart, version),
                    previous_version: expected,
                    retries: 0,
                }),
                // Only a writer that ignores the lock (a plain save) can get here.
                Err(StorageError::Conflict { current, .. }) => {
                    Err(ModifyError::conflict(key, expected, current, 0))
                }
                Err(other) => Err(other.into()),
            }
        }
        .await;
        let released = store
            .scripts
            .unlock
            .run(&store.client, vec![lock_key], vec![token])
            .await;
        if let Err(error) = released {
            // The lock expires by itself after the lock timeout.
            tracing::warn!(cart = %key, %error, "could not release a cart lock");
        }
        result
    }
}
