//! `MemoryStorage`: carts in a map in this process. The reference driver, for tests and examples.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{CartKey, CartStorage, ScanPage, StorageError, Versioned, initial_version};
use crate::cart::CartContents;

/// Carts held in memory, with the same compare-and-set semantics as every other driver.
/// Clones share the same carts.
///
/// ```
/// # tokio_test_block(async {
/// use axum_cart::storage::{CartKey, CartStorage};
/// use axum_cart::{CartContents, Currency, MemoryStorage};
/// let storage = MemoryStorage::new();
/// let key = CartKey::new("visitor-1", "default");
/// let v1 = storage.save(&key, &CartContents::new(Currency::USD), None).await.unwrap();
/// let v2 = storage.save(&key, &CartContents::new(Currency::USD), Some(v1)).await.unwrap();
/// assert_eq!(v2, v1 + 1);
/// // A write that read an older version loses, and says so.
/// assert!(storage.save(&key, &CartContents::new(Currency::USD), None).await.is_err());
/// # });
/// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone, Default)]
pub struct MemoryStorage {
    carts: Arc<Mutex<BTreeMap<CartKey, Stored>>>,
    // The highest version this store ever wrote, for any cart: a cart created after a delete
    // starts above it, so versions never repeat for a key even when writes outrun the clock.
    highest: Arc<AtomicU64>,
}

#[derive(Clone)]
struct Stored {
    // Kept serialized, as a real backend would, so callers can never alias a stored cart.
    document: Vec<u8>,
    version: u64,
    updated_at: OffsetDateTime,
}

impl std::fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStorage")
            .field("carts", &self.lock().len())
            .finish()
    }
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many carts are stored.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// `true` when no cart is stored.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<CartKey, Stored>> {
        // A panic while holding the lock cannot leave a half-written entry: entries are replaced whole.
        self.carts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A version above every version this store wrote (taken under the map's lock).
    fn fresh_version(&self) -> u64 {
        initial_version().max(self.highest.load(Ordering::SeqCst) + 1)
    }

    fn wrote(&self, version: u64) {
        self.highest.fetch_max(version, Ordering::SeqCst);
    }

    fn encode(key: &CartKey, cart: &CartContents) -> Result<Vec<u8>, StorageError> {
        serde_json::to_vec(cart).map_err(|e| StorageError::Corrupt {
            driver: "memory",
            key: key.clone(),
            message: e.to_string(),
        })
    }
}

#[async_trait]
impl CartStorage for MemoryStorage {
    fn driver(&self) -> &'static str {
        "memory"
    }

    async fn load(&self, key: &CartKey) -> Result<Option<Versioned<CartContents>>, StorageError> {
        let Some(stored) = self.lock().get(key).cloned() else {
            return Ok(None);
        };
        let cart =
            CartContents::from_json(&stored.document).map_err(|e| StorageError::Corrupt {
                driver: "memory",
                key: key.clone(),
                message: e.to_string(),
            })?;
        Ok(Some(Versioned {
            value: cart,
            version: stored.version,
            updated_at: Some(stored.updated_at),
        }))
    }

    async fn save(
        &self,
        key: &CartKey,
        cart: &CartContents,
        expected: Option<u64>,
    ) -> Result<u64, StorageError> {
        let document = Self::encode(key, cart)?;
        let mut carts = self.lock();
        let current = carts.get(key).map(|stored| stored.version);
        if current != expected {
            return Err(StorageError::Conflict {
                key: key.clone(),
                expected,
                current,
            });
        }
        let version = current.map_or_else(|| self.fresh_version(), |v| v + 1);
        self.wrote(version);
        carts.insert(
            key.clone(),
            Stored {
                document,
                version,
                updated_at: OffsetDateTime::now_utc(),
            },
        );
        Ok(version)
    }

    async fn delete(&self, key: &CartKey) -> Result<bool, StorageError> {
        Ok(self.lock().remove(key).is_some())
    }

    async fn delete_at(&self, key: &CartKey, version: u64) -> Result<bool, StorageError> {
        let mut carts = self.lock();
        if carts
            .get(key)
            .is_some_and(|stored| stored.version == version)
        {
            carts.remove(key);
            return Ok(true);
        }
        Ok(false)
    }

    async fn instances(&self, identifier: &str) -> Result<Vec<String>, StorageError> {
        Ok(self
            .lock()
            .keys()
            .filter(|key| key.identifier() == identifier)
            .map(|key| key.instance().to_owned())
            .collect())
    }

    async fn swap_identifier(
        &self,
        from: &str,
        to: &str,
        instance: &str,
    ) -> Result<bool, StorageError> {
        let mut carts = self.lock();
        let Some(mut moved) = carts.remove(&CartKey::new(from, instance)) else {
            return Ok(false);
        };
        let target = CartKey::new(to, instance);
        // The target's version grows past everything so that a writer holding any older version
        // of the target conflicts.
        let replaced = carts.get(&target).map_or(0, |stored| stored.version);
        moved.version = (moved.version.max(replaced) + 1).max(self.fresh_version());
        self.wrote(moved.version);
        moved.updated_at = OffsetDateTime::now_utc();
        carts.insert(target, moved);
        Ok(true)
    }

    async fn scan(&self, cursor: Option<String>, batch: usize) -> Result<ScanPage, StorageError> {
        let carts = self.lock();
        let after = cursor.map(|c| decode_cursor(&c)).transpose()?;
        let range: Box<dyn Iterator<Item = &CartKey>> = match &after {
            Some(after) => Box::new(
                carts
                    .range::<CartKey, _>((
                        std::ops::Bound::Excluded(after),
                        std::ops::Bound::Unbounded,
                    ))
                    .map(|(k, _)| k),
            ),
            None => Box::new(carts.keys()),
        };
        let keys: Vec<CartKey> = range.take(batch.max(1) + 1).cloned().collect();
        let batch = batch.max(1);
        let next = (keys.len() > batch).then(|| encode_cursor(&keys[batch - 1]));
        Ok(ScanPage {
            keys: keys.into_iter().take(batch).collect(),
            next,
        })
    }
}

fn encode_cursor(key: &CartKey) -> String {
    serde_json::json!([key.identifier(), key.instance()]).to_string()
}

fn decode_cursor(cursor: &str) -> Result<CartKey, StorageError> {
    let (identifier, instance): (String, String) =
        serde_json::from_str(cursor).map_err(|e| StorageError::Backend {
            driver: "memory",
            message: format!("bad scan cursor: {e}"),
        })?;
    Ok(CartKey::new(identifier, instance))
}
