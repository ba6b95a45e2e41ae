//! A storage driver that counts its calls, and can be told to lose every compare-and-set.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use axum_cart::storage::{CartKey, CartStorage, StorageError, Versioned};
use axum_cart::{CartContents, MemoryStorage};

/// Calls per `CartStorage` method.
#[derive(Debug, Default)]
pub struct Calls {
    pub load: AtomicU64,
    pub save: AtomicU64,
    pub delete: AtomicU64,
    pub instances: AtomicU64,
    pub swap_identifier: AtomicU64,
    /// Saves that failed with a version conflict.
    pub conflicts: AtomicU64,
}

impl Calls {
    pub fn load(&self) -> u64 {
        self.load.load(Ordering::SeqCst)
    }
    pub fn save(&self) -> u64 {
        self.save.load(Ordering::SeqCst)
    }
    pub fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::SeqCst)
    }
    pub fn total(&self) -> u64 {
        self.load.load(Ordering::SeqCst)
            + self.save.load(Ordering::SeqCst)
            + self.delete.load(Ordering::SeqCst)
            + self.instances.load(Ordering::SeqCst)
            + self.swap_identifier.load(Ordering::SeqCst)
    }
    /// `(load, save, delete, instances, swap_identifier)`, for messages.
    pub fn snapshot(&self) -> (u64, u64, u64, u64, u64) {
        (
            self.load.load(Ordering::SeqCst),
            self.save.load(Ordering::SeqCst),
            self.delete.load(Ordering::SeqCst),
            self.instances.load(Ordering::SeqCst),
            self.swap_identifier.load(Ordering::SeqCst),
        )
    }
}

/// [`MemoryStorage`] with a counter per method. It keeps the trait's provided `modify`, so a
/// change is counted as the loads and saves it really makes.
///
/// - `yield_after_load`: yields to the scheduler between reading and returning a cart, so that
///   concurrent writers really interleave between their read and their write (no sleeping).
/// - `always_conflict`: while set, every `save` fails with a version conflict whose current
///   version is one ahead of the expected one, as if another writer always got there first.
#[derive(Clone, Default)]
pub struct CountingStorage {
    pub inner: MemoryStorage,
    pub calls: Arc<Calls>,
    pub yield_after_load: bool,
    pub always_conflict: Arc<AtomicBool>,
}

impl CountingStorage {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn yielding() -> Self {
        CountingStorage {
            yield_after_load: true,
            ..Self::default()
        }
    }
}

#[async_trait]
impl CartStorage for CountingStorage {
    fn driver(&self) -> &'static str {
        "counting-memory"
    }

    async fn load(&self, key: &CartKey) -> Result<Option<Versioned<CartContents>>, StorageError> {
        self.calls.load.fetch_add(1, Ordering::SeqCst);
        let loaded = self.inner.load(key).await;
        if self.yield_after_load {
            tokio::task::yield_now().await;
        }
        loaded
    }

    async fn save(
        &self,
        key: &CartKey,
        cart: &CartContents,
        expected: Option<u64>,
    ) -> Result<u64, StorageError> {
        self.calls.save.fetch_add(1, Ordering::SeqCst);
        if self.always_conflict.load(Ordering::SeqCst) {
            self.calls.conflicts.fetch_add(1, Ordering::SeqCst);
            return Err(StorageError::Conflict {
                key: key.clone(),
                expected,
                current: Some(expected.map_or(1, |v| v + 1)),
            });
        }
        let saved = self.inner.save(key, cart, expected).await;
        if matches!(saved, Err(StorageError::Conflict { .. })) {
            self.calls.conflicts.fetch_add(1, Ordering::SeqCst);
        }
        saved
    }

    async fn delete(&self, key: &CartKey) -> Result<bool, StorageError> {
        self.calls.delete.fetch_add(1, Ordering::SeqCst);
        self.inner.delete(key).await
    }

    async fn instances(&self, identifier: &str) -> Result<Vec<String>, StorageError> {
        self.calls.instances.fetch_add(1, Ordering::SeqCst);
        self.inner.instances(identifier).await
    }

    async fn swap_identifier(
        &self,
        from: &str,
        to: &str,
        instance: &str,
    ) -> Result<bool, StorageError> {
        self.calls.swap_identifier.fetch_add(1, Ordering::SeqCst);
        self.inner.swap_identifier(from, to, instance).await
    }
}
