//! [`DualWriteStorage`]: moving carts to another driver without downtime, by writing to both
//! while the carts move over.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::{CartKey, CartStorage, ScanPage, StorageError, Versioned};
use crate::cart::CartContents;

/// Writes go to both drivers; reads prefer the new one and fall back to the old one, copying the
/// cart into the new one on the way. Point the layer at it while a batch
/// [`copy_carts`](super::copy_carts) (or plain traffic) moves carts over, then switch to the new
/// driver alone. Every write reaches the old driver too, so switching back stays possible while
/// [`DualWriteStorage::old_failures`] is 0.
///
/// Versions are the new driver's. A failed write to the old driver does not fail the request (the
/// new driver is the one that counts); it is logged and counted in [`DualWriteStorage::old_failures`].
#[derive(Clone)]
pub struct DualWriteStorage {
    new: Arc<dyn CartStorage>,
    old: Arc<dyn CartStorage>,
    old_failures: Arc<AtomicU64>,
}

impl std::fmt::Debug for DualWriteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DualWriteStorage")
            .field("new", &self.new.driver())
            .field("old", &self.old.driver())
            .field("old_failures", &self.old_failures())
            .finish()
    }
}

impl DualWriteStorage {
    /// Moves carts from `old` to `new` (the new driver comes first).
    pub fn new(new: Arc<dyn CartStorage>, old: Arc<dyn CartStorage>) -> Self {
        DualWriteStorage {
            new,
            old,
            old_failures: Arc::default(),
        }
    }

    /// Writes to the old driver that failed since this storage was made.
    pub fn old_failures(&self) -> u64 {
        self.old_failures.load(Ordering::Relaxed)
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

    /// Mirrors `cart` into the old driver whatever version it has there.
    async fn mirror(&self, key: &CartKey, cart: &CartContents) -> Result<(), StorageError> {
        for _ in 0..3 {
            let expected = self.old.load(key).await?.map(|stored| stored.version);
            match self.old.save(key, cart, expected).await {
                Err(StorageError::Conflict { .. }) => continue,
                other => return other.map(|_| ()),
            }
        }
        Err(StorageError::Backend {
            driver: self.old.driver(),
            message: "kept conflicting while mirroring".to_owned(),
        })
    }
}

#[async_trait]
impl CartStorage for DualWriteStorage {
    fn driver(&self) -> &'static str {
        "dual-write"
    }

    async fn load(&self, key: &CartKey) -> Result<Option<Versioned<CartContents>>, StorageError> {
        if let Some(found) = self.new.load(key).await? {
            return Ok(Some(found));
        }
        let Some(old) = self.old.load(key).await? else {
            return Ok(None);
        };
        match self.new.save(key, &old.value, None).await {
            Ok(version) => Ok(Some(Versioned {
                value: old.value,
                version,
                updated_at: old.updated_at,
            })),
            // Another request copied it first: theirs is the one to read.
            Err(StorageError::Conflict { .. }) => self.new.load(key).await,
            Err(error) => Err(error),
        }
    }

    async fn save(
        &self,
        key: &CartKey,
        cart: &CartContents,
        expected: Option<u64>,
    ) -> Result<u64, StorageError> {
        let version = self.new.save(key, cart, expected).await?;
        if let Err(error) = self.mirror(key, cart).await {
            self.old_failed("save", &key.to_string(), &error);
        }
        Ok(version)
    }

    async fn delete(&self, key: &CartKey) -> Result<bool, StorageError> {
        let deleted = self.new.delete(key).await?;
        match self.old.delete(key).await {
            Ok(old_deleted) => Ok(deleted || old_deleted),
            Err(error) => {
                self.old_failed("delete", &key.to_string(), &error);
                Ok(deleted)
            }
        }
    }

    async fn instances(&self, identifier: &str) -> Result<Vec<String>, StorageError> {
        let mut instances = self.new.instances(identifier).await?;
        match self.old.instances(identifier).await {
            Ok(old) => instances.extend(old),
            Err(error) => self.old_failed("instances", identifier, &error),
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
        // A cart still only in the old driver is copied over first, so the swap moves it.
        self.load(&CartKey::new(from, instance)).await?;
        let swapped = self.new.swap_identifier(from, to, instance).await?;
        if let Err(error) = self.old.swap_identifier(from, to, instance).await {
            self.old_failed("swap_identifier", from, &error);
        }
        Ok(swapped)
    }

    async fn scan(&self, cursor: Option<String>, batch: usize) -> Result<ScanPage, StorageError> {
        self.new.scan(cursor, batch).await
    }
}
