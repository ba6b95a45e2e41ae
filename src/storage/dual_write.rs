//! [`DualWriteStorage`]: moving carts to another driver without downtime, by writing to both
//! while the carts move over.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::{CartKey, CartStorage, ScanPage, StorageError, Versioned};
use crate::cart::CartContents;

/// Writes go to both drivers; reads prefer the new one and fall back to the old one, copying the
/// cart into the new one on the way. Point the layer at it while a batch
/// [`copy_carts`](super::copy_carts) (or plain traffic) moves carts over, then switch to the new
/// driver alone. Every write reaches the old driver too, so switching back stays possible while
/// [`DualWriteStorage::old_failures`] is 0.
///
/// Versions are the new driver's: the new driver decides every write, the old one follows.
///
/// **The old driver never fails a request.** A read it fails counts as "not in the old driver"
/// (the new driver answers alone); a write it fails is logged and counted in
/// [`DualWriteStorage::old_failures`], and the request goes on with the new driver's answer.
///
/// **A deleted cart stays deleted.** A read that falls back to the old driver copies the cart
/// into the new one only as a creation (a compare-and-set that fails when the key exists), so it
/// never overwrites a newer cart. Against a delete, two rules:
/// - deletes (and [`swap_identifier`](CartStorage::swap_identifier), which removes the source
///   cart) go to the old driver first and the new one second, and a fallback copy, once it
///   landed, reads the old driver again: when the cart it copied is gone (or changed), the copy
///   is taken back with [`delete_at`](CartStorage::delete_at). So a copy racing a delete is either
///   deleted by it or undone, in any process.
/// - a delete the old driver fails leaves the cart there: this storage remembers the key, reads
///   do not fall back for it, and the old delete is retried after the old driver's next
///   successful write (or with [`DualWriteStorage::retry_old_deletes`]). The memory is per
///   process and holds only deletes the old driver has not confirmed; until they are retried,
///   another process (or a [`copy_carts`](super::copy_carts) from the old driver) can still see
///   those carts, so check [`DualWriteStorage::pending_old_deletes`] is 0 before a batch copy
///   that follows an outage of the old driver.
#[derive(Clone)]
pub struct DualWriteStorage {
    new: Arc<dyn CartStorage>,
    old: Arc<dyn CartStorage>,
    old_failures: Arc<AtomicU64>,
    pending_deletes: Arc<Mutex<HashSet<CartKey>>>,
}

impl std::fmt::Debug for DualWriteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DualWriteStorage")
            .field("new", &self.new.driver())
            .field("old", &self.old.driver())
            .field("old_failures", &self.old_failures())
            .field("pending_old_deletes", &self.pending_old_deletes())
            .finish()
    }
}

/// Old-driver deletes retried at once after a successful old write: enough to drain a backlog
/// soon after an outage, few enough not to slow the request that triggers them.
const RETRIES_PER_WRITE: usize = 32;

/// Fallback reads tried for one `load` before answering with whatever the new driver holds: the
/// old cart changed under every one of them.
const FALLBACK_ATTEMPTS: usize = 3;

impl DualWriteStorage {
    /// Moves carts from `old` to `new` (the new driver comes first).
    pub fn new(new: Arc<dyn CartStorage>, old: Arc<dyn CartStorage>) -> Self {
        DualWriteStorage {
            new,
            old,
            old_failures: Arc::default(),
            pending_deletes: Arc::default(),
        }
    }

    /// Writes to the old driver that failed (or left it out of step with the new one) since this
    /// storage was made.
    pub fn old_failures(&self) -> u64 {
        self.old_failures.load(Ordering::Relaxed)
    }

    /// Carts deleted through this storage that the old driver still holds because its delete
    /// failed; reads here do not fall back to them.
    pub fn pending_old_deletes(&self) -> usize {
        self.pending().len()
    }

    /// Retries the old driver's deletes that failed; returns how many are still pending (a
    /// delete that fails again stays pending).
    pub async fn retry_old_deletes(&self) -> usize {
        let keys: Vec<CartKey> = self.pending().iter().cloned().collect();
        for key in keys {
            if self.old.delete(&key).await.is_ok() {
                self.pending().remove(&key);
            }
        }
        self.pending_old_deletes()
    }

    fn pending(&self) -> MutexGuard<'_, HashSet<CartKey>> {
        // The set is left consistent by every holder (single inserts and removes), so a panic
        // elsewhere does not make it unusable.
        self.pending_deletes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn is_pending(&self, key: &CartKey) -> bool {
        self.pending().contains(key)
    }

    fn old_failed(&self, operation: &str, key: &str, error: &StorageError) {
        self.old_failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            operation,
            cart = %key,
            error = %error,
            old = self.old.driver(),
            "dual write: the old driver failed; the new driver has the change"
        );
    }

    fn old_unreadable(&self, operation: &str, key: &str, error: &StorageError) {
        tracing::warn!(
            operation,
            cart = %key,
            error = %error,
            old = self.old.driver(),
            "dual write: the old driver failed a read; answering from the new driver alone"
        );
    }

    /// After the old driver accepted a write, deletes it failed earlier are likely to go
    /// through too.
    async fn drain_pending(&self) {
        let keys: Vec<CartKey> = {
            let pending = self.pending();
            if pending.is_empty() {
                return;
            }
            pending.iter().take(RETRIES_PER_WRITE).cloned().collect()
        };
        for key in keys {
            if self.old.delete(&key).await.is_err() {
                return;
            }
            self.pending().remove(&key);
        }
    }

    /// Brings `cart` (just written to the new driver) into the old driver. The old driver's cart
    /// is replaced unless it already holds this write (or a later one, which recorded this write
    /// id too): mirrors of concurrent writes may arrive out of order, and the older must not win.
    async fn mirror(&self, key: &CartKey, cart: &CartContents) -> Result<(), StorageError> {
        let last_write = cart.write_ids().last();
        for _ in 0..3 {
            let current = self.old.load(key).await?;
            if let (Some(stored), Some(id)) = (&current, last_write)
                && stored.value.has_write(id)
            {
                return Ok(());
            }
            match self
                .old
                .save(key, cart, current.map(|stored| stored.version))
                .await
            {
                Err(StorageError::Conflict { .. }) => continue,
                other => return other.map(|_| ()),
            }
        }
        Err(StorageError::Backend {
            driver: self.old.driver(),
            message: "kept conflicting while mirroring".to_owned(),
        })
    }

    async fn mirror_or_count(&self, key: &CartKey, cart: &CartContents) {
        match self.mirror(key, cart).await {
            Ok(()) => {
                // The old driver now holds this cart: a delete of the earlier one still pending
                // would remove it.
                self.pending().remove(key);
                self.drain_pending().await;
            }
            Err(error) => self.old_failed("save", &key.to_string(), &error),
        }
    }

    /// Deletes `key` in the old driver, or remembers that it still holds it. Runs before the new
    /// driver's delete, so that a fallback copy landing after the new driver's delete finds the
    /// old cart gone and is undone.
    async fn delete_old_first(&self, operation: &str, key: &CartKey) -> bool {
        match self.old.delete(key).await {
            Ok(deleted) => {
                self.pending().remove(key);
                self.drain_pending().await;
                deleted
            }
            Err(error) => {
                self.pending().insert(key.clone());
                self.old_failed(operation, &key.to_string(), &error);
                false
            }
        }
    }

    /// Whether a fallback copy of the old driver's cart at `old_version` may stand: no delete
    /// through this storage is pending for it and the old driver still holds that version.
    async fn copy_stands(&self, key: &CartKey, old_version: u64) -> bool {
        if self.is_pending(key) {
            return false;
        }
        match self.old.load(key).await {
            Ok(current) => current.is_some_and(|stored| stored.version == old_version),
            // The cart was there a moment ago; an outage is far likelier than a delete, and a
            // delete through this storage would be pending.
            Err(error) => {
                self.old_unreadable("load", &key.to_string(), &error);
                true
            }
        }
    }
}

#[async_trait]
impl CartStorage for DualWriteStorage {
    fn driver(&self) -> &'static str {
        "dual-write"
    }

    async fn load(&self, key: &CartKey) -> Result<Option<Versioned<CartContents>>, StorageError> {
        for _ in 0..FALLBACK_ATTEMPTS {
            if let Some(found) = self.new.load(key).await? {
                return Ok(Some(found));
            }
            if self.is_pending(key) {
                return Ok(None);
            }
            let old = match self.old.load(key).await {
                Ok(Some(old)) => old,
                Ok(None) => return Ok(None),
                Err(error) => {
                    self.old_unreadable("load", &key.to_string(), &error);
                    return Ok(None);
                }
            };
            match self.new.save(key, &old.value, None).await {
                Ok(version) => {
                    if self.copy_stands(key, old.version).await {
                        return Ok(Some(Versioned {
                            value: old.value,
                            version,
                            updated_at: old.updated_at,
                        }));
                    }
                    // Deleted (or changed) behind the copy. When a writer already built on
                    // the copy, `delete_at` leaves their cart, and the next round reads it.
                    self.new.delete_at(key, version).await?;
                }
                // Another request copied it first (or created the cart): theirs is the one to read.
                Err(StorageError::Conflict { .. }) => return self.new.load(key).await,
                Err(error) => return Err(error),
            }
        }
        self.new.load(key).await
    }

    async fn save(
        &self,
        key: &CartKey,
        cart: &CartContents,
        expected: Option<u64>,
    ) -> Result<u64, StorageError> {
        let version = self.new.save(key, cart, expected).await?;
        self.mirror_or_count(key, cart).await;
        Ok(version)
    }

    async fn delete(&self, key: &CartKey) -> Result<bool, StorageError> {
        let old_deleted = self.delete_old_first("delete", key).await;
        let deleted = self.new.delete(key).await?;
        Ok(deleted || old_deleted)
    }

    async fn delete_at(&self, key: &CartKey, version: u64) -> Result<bool, StorageError> {
        // Versions are the new driver's; the old driver's cart goes when the new one holds the
        // version named (checked first, so a stale caller leaves the old driver alone).
        if self
            .new
            .load(key)
            .await?
            .is_none_or(|stored| stored.version != version)
        {
            return Ok(false);
        }
        let old_deleted = self.delete_old_first("delete_at", key).await;
        let deleted = self.new.delete_at(key, version).await?;
        if !deleted && old_deleted {
            // A write landed in the new driver between the check and the delete: the old driver
            // lost a cart the new one kept (until that cart's next write mirrors it again).
            self.old_failed(
                "delete_at",
                &key.to_string(),
                &StorageError::Conflict {
                    key: key.clone(),
                    expected: Some(version),
                    current: None,
                },
            );
        }
        Ok(deleted)
    }

    async fn instances(&self, identifier: &str) -> Result<Vec<String>, StorageError> {
        let mut instances = self.new.instances(identifier).await?;
        match self.old.instances(identifier).await {
            Ok(old) => {
                let pending = self.pending();
                instances.extend(old.into_iter().filter(|instance| {
                    !pending.contains(&CartKey::new(identifier, instance.as_str()))
                }));
            }
            Err(error) => self.old_unreadable("instances", identifier, &error),
        }
        instances.sort();
        instances.dedup();
        Ok(instances)
    }

    async fn swap_identifier(
        &self,
        from: &str,
        to: &str,
        instance: &str,
    ) -> Result<bool, StorageError> {
        let from_key = CartKey::new(from, instance);
        // A cart still only in the old driver is copied over first, so the swap moves it.
        self.load(&from_key).await?;
        // The old driver first, as for a delete: the swap removes the source cart.
        match self.old.swap_identifier(from, to, instance).await {
            Ok(moved) => {
                let mut pending = self.pending();
                pending.remove(&from_key);
                if moved {
                    // The old driver's target cart is the moved one now: a delete of the
                    // earlier one still pending would remove it.
                    pending.remove(&CartKey::new(to, instance));
                }
            }
            Err(error) => {
                self.pending().insert(from_key);
                self.old_failed("swap_identifier", from, &error);
            }
        }
        self.new.swap_identifier(from, to, instance).await
    }

    async fn scan(&self, cursor: Option<String>, batch: usize) -> Result<ScanPage, StorageError> {
        self.new.scan(cursor, batch).await
    }
}
