//! Locking mode: the writers of one cart queue on a lock instead of retrying on conflict.
//!
//! The lock is `SET lock token NX PX`, so a holder that dies loses it after the lock timeout.
//! Each holder locks with a random token and releases with a compare-and-delete script, so a
//! holder whose lock expired and was taken over never releases the new holder's lock.
//! The lock queues writers; it is not what keeps a change from being lost or applied twice:
//! the compare-and-set save and the write ids are, as in optimistic mode.

use std::time::Duration;

use fred::interfaces::KeysInterface;
use fred::types::{Expiration, SetOptions, Value};

use super::client::DRIVER;
use super::store::Store;
use super::write;
use crate::storage::{
    CartKey, CartOp, CartStorage, Modified, ModifyError, ModifyOptions, StorageError, backoff,
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
    /// Under the lock a save still meets writers that ignore it (a plain save, a swap) or a
    /// writer whose lock expired, so a conflict is retried within the retry budget. Every attempt
    /// stores its own write id, and after a save answered by a conflict or an error the stored
    /// cart is checked for them: a save that committed although its answer was lost (the pool
    /// re-sends it, and the copy conflicts) counts, and the change is not applied again.
    /// `storage` is the storage `store` serves, for that check.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] ("lock wait exceeded") when the lock is not free within the
    /// lock wait; [`ModifyError::Conflict`] when conflicts outlast the retry budget; otherwise
    /// what loading, the operation or saving fail with.
    pub(super) async fn modify(
        &self,
        store: &Store,
        storage: &dyn CartStorage,
        key: &CartKey,
        options: &ModifyOptions,
        op: &CartOp<'_>,
    ) -> Result<Modified, ModifyError> {
        let lock_key = store.keys.lock(key);
        let token = format!("{:032x}", rand::random::<u128>());
        self.acquire(store, key, &lock_key, &token).await?;
        let result = write::modify(store, storage, key, options, op).await;
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

    /// Takes the lock, waiting at most the lock wait.
    async fn acquire(
        &self,
        store: &Store,
        key: &CartKey,
        lock_key: &str,
        token: &str,
    ) -> Result<(), StorageError> {
        let deadline = tokio::time::Instant::now() + self.wait;
        let mut attempt = 0;
        loop {
            let taken: Value = store
                .client
                .timed(store.client.pool.set(
                    lock_key,
                    token,
                    Some(Expiration::PX(self.timeout.as_millis() as i64)),
                    Some(SetOptions::NX),
                    false,
                ))
                .await?;
            if !matches!(taken, Value::Null) {
                return Ok(());
            }
            // A `SET NX` re-sent by the pool after a dropped connection answers nil although
            // its first copy took the lock: the token tells.
            let holder: Option<String> =
                store.client.timed(store.client.pool.get(lock_key)).await?;
            if holder.as_deref() == Some(token) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StorageError::Unavailable {
                    driver: DRIVER,
                    message: format!("lock wait exceeded ({:?}) for cart {key}", self.wait),
                });
            }
            attempt += 1;
            backoff(attempt.min(3)).await;
        }
    }
}
