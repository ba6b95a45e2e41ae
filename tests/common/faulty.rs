//! A wrapper around any storage driver that counts the calls a change really makes and can fail
//! chosen calls once, to play a crash or an outage between two steps of a protocol.
//!
//! It keeps the trait's provided `modify` (the optimistic loop every driver of this crate uses by
//! default), so each attempt of a change goes through this wrapper's `load` and `save` and is
//! counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use axum_cart::CartContents;
use axum_cart::storage::{CartKey, CartStorage, ScanPage, StorageError, Versioned};

/// What went through a [`Faulty`] storage.
#[derive(Debug, Default)]
pub struct Counts {
    pub loads: AtomicU64,
    /// Compare-and-set attempts, committed or not.
    pub saves: AtomicU64,
    /// Saves answered by a version conflict.
    pub conflicts: AtomicU64,
    pub delete_ats: AtomicU64,
    /// Calls failed on purpose.
    pub injected: AtomicU64,
}

impl Counts {
    pub fn saves(&self) -> u64 {
        self.saves.load(Ordering::SeqCst)
    }
    pub fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::SeqCst)
    }
    pub fn delete_ats(&self) -> u64 {
        self.delete_ats.load(Ordering::SeqCst)
    }
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }
}

/// `inner` with counters, and `delete_at` failures on demand.
#[derive(Clone)]
pub struct Faulty<S> {
    pub inner: S,
    pub counts: Arc<Counts>,
    /// How many of the next `delete_at` calls fail with [`StorageError::Unavailable`] (before
    /// reaching `inner`, so the cart stays).
    fail_delete_at: Arc<AtomicU64>,
}

impl<S: CartStorage + Clone> Faulty<S> {
    pub fn new(inner: S) -> Self {
        Faulty {
            inner,
            counts: Arc::default(),
            fail_delete_at: Arc::default(),
        }
    }

    /// Makes the next `times` calls of `delete_at` fail as if the backend went away.
    pub fn fail_next_delete_at(&self, times: u64) {
        self.fail_delete_at.store(times, Ordering::SeqCst);
    }

    fn take_failure(counter: &AtomicU64) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }
}

#[async_trait]
impl<S: CartStorage + Clone> CartStorage for Faulty<S> {
    fn driver(&self) -> &'static str {
        self.inner.driver()
    }

    async fn load(&self, key: &CartKey) -> Result<Option<Versioned<CartContents>>, StorageError> {
        self.counts.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load(key).await
    }

    async fn save(
        &self,
        key: &CartKey,
        cart: &CartContents,
        expected: Option<u64>,
    ) -> Result<u64, StorageError> {
        self.counts.saves.fetch_add(1, Ordering::SeqCst);
        let saved = self.inner.save(key, cart, expected).await;
        if matches!(saved, Err(StorageError::Conflict { .. })) {
            self.counts.conflicts.fetch_add(1, Ordering::SeqCst);
        }
        saved
    }

    async fn delete(&self, key: &CartKey) -> Result<bool, StorageError> {
        self.inner.delete(key).await
    }

    async fn delete_at(&self, key: &CartKey, version: u64) -> Result<bool, StorageError> {
        self.counts.delete_ats.fetch_add(1, Ordering::SeqCst);
        if Self::take_failure(&self.fail_delete_at) {
            self.counts.injected.fetch_add(1, Ordering::SeqCst);
            return Err(StorageError::Unavailable {
                driver: self.inner.driver(),
                message: "injected: delete_at failed".to_owned(),
            });
        }
        self.inner.delete_at(key, version).await
    }

    async fn instances(&self, identifier: &str) -> Result<Vec<String>, StorageError> {
        self.inner.instances(identifier).await
    }

    async fn swap_identifier(
        &self,
        from: &str,
        to: &str,
        instance: &str,
    ) -> Result<bool, StorageError> {
        self.inner.swap_identifier(from, to, instance).await
    }

    async fn forget(&self, identifier: &str) -> Result<usize, StorageError> {
        self.inner.forget(identifier).await
    }

    async fn scan(&self, cursor: Option<String>, batch: usize) -> Result<ScanPage, StorageError> {
        self.inner.scan(cursor, batch).await
    }
}
