//! Where carts live: the [`CartStorage`] trait and its drivers.
//!
//! Every driver keeps a version per cart and writes with compare-and-set: [`CartStorage::save`]
//! succeeds only when the stored version is the one the caller read. [`CartStorage::modify`] is
//! the read-modify-write every cart mutation goes through; its provided implementation retries on
//! conflict a bounded number of times, and drivers may override it (a lock, a transaction).
//! Drivers store documents; they never compute totals.

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::cart::CartContents;

mod copy;
mod dual_write;
mod error;
mod event_log;
mod key;
mod memory;
mod modify;
mod parsed;
mod session;

#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod conformance;

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;

#[cfg(feature = "postgres")]
pub use postgres::{AbandonedCart, PostgresStorage, PruneOptions, PruneReport};
#[cfg(feature = "redis")]
pub use redis::RedisStorage;

pub use copy::{CopyOptions, CopyReport, copy_carts, copy_identifier};
pub use dual_write::DualWriteStorage;
pub use error::{ConflictInfo, ModifyError, StorageError};
pub use event_log::{EventLog, EventRetention, LoggedEvent, LoggedEventKind};
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) use event_log::{Position, check_consumer, event_id, from_micros, identifier_tag};
pub use key::{CartKey, DEFAULT_INSTANCE};
pub(crate) use key::{identifier_hash, instance_text, is_plain_table_name};
pub use memory::MemoryStorage;
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) use modify::committed_write;
pub(crate) use modify::{Attempt, backoff, modify_with, optimistic_modify};
pub use modify::{
    CartOp, DEFAULT_RETRY_BUDGET, Modified, ModifyOptions, initial_version, new_write_id,
};
pub(crate) use parsed::{Fingerprint, ParsedDocuments};
pub use session::{DEFAULT_SESSION_KEY, SessionStorage};

/// A stored value with its version (a new cart starts at a clock-derived version, +1 per
/// committed write; see [`initial_version`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Versioned<T> {
    /// The value.
    pub value: T,
    /// Its version.
    pub version: u64,
    /// When it was last written, where the driver knows.
    pub updated_at: Option<OffsetDateTime>,
}

impl<T> Versioned<T> {
    /// A value at `version`, with no timestamp.
    pub fn new(value: T, version: u64) -> Self {
        Versioned {
            value,
            version,
            updated_at: None,
        }
    }
}

/// One page of an enumeration of stored carts.
#[derive(Clone, Debug, Default)]
pub struct ScanPage {
    /// The carts of this page.
    pub keys: Vec<CartKey>,
    /// Where the next page starts; `None` after the last page.
    pub next: Option<String>,
}

/// A cart storage driver.
///
/// Contract, checked by the conformance suite for every driver:
/// - `load` of a missing cart is `Ok(None)`; a stored cart comes back equal, with its version.
/// - `save(key, cart, None)` creates the cart and fails with [`StorageError::Conflict`] when it
///   exists; `save(key, cart, Some(v))` writes version `v + 1` only when the stored version is
///   `v`, and otherwise fails with a conflict carrying the stored version.
/// - Versions never repeat for a key: a cart created after a delete (or an expiry) starts above
///   every version the key had, so a writer that read the earlier cart cannot overwrite the new
///   one. Drivers start new carts at their clock in microseconds ([`initial_version`] for
///   drivers without a server) or above a version they remember.
/// - `delete` says whether a cart was there; `delete_at` deletes only the version it names;
///   instances of one identifier are independent carts.
/// - `swap_identifier(from, to, instance)` moves one instance's cart to another identifier,
///   replacing the target's, and returns `false` when `from` has no such cart.
/// - `modify` loses no update under any number of concurrent writers, and applies a change once:
///   a save whose answer was lost is recognised by the write id it stored in the cart.
#[async_trait]
pub trait CartStorage: Send + Sync + 'static {
    /// The driver's name, for logs and errors (`memory`, `session`, `redis`, `postgres`).
    fn driver(&self) -> &'static str;

    /// Reads a cart.
    async fn load(&self, key: &CartKey) -> Result<Option<Versioned<CartContents>>, StorageError>;

    /// Reads a cart that the caller only reads: drivers that keep the carts they parsed hand the
    /// same copy to every reader of an unchanged document. The provided implementation wraps
    /// [`CartStorage::load`].
    async fn load_shared(
        &self,
        key: &CartKey,
    ) -> Result<Option<Arc<Versioned<CartContents>>>, StorageError> {
        Ok(self.load(key).await?.map(Arc::new))
    }

    /// The cart as this process last read or wrote it, when the driver keeps one, without asking
    /// the store: a write that has not read the cart may start from it instead of reading first
    /// (see [`ModifyOptions::basis`]). Only a hint, never an answer: the compare-and-set at its
    /// version refuses it once another writer moved the cart on, and the write then reads the
    /// stored cart. The provided implementation keeps none, so every such write reads first.
    fn recent(&self, key: &CartKey) -> Option<Arc<Versioned<CartContents>>> {
        let _ = key;
        None
    }

    /// Compare-and-set: writes only if the stored version equals `expected` (`None`: the cart must
    /// not exist). Returns the new version.
    async fn save(
        &self,
        key: &CartKey,
        cart: &CartContents,
        expected: Option<u64>,
    ) -> Result<u64, StorageError>;

    /// Deletes a cart; `true` when there was one.
    async fn delete(&self, key: &CartKey) -> Result<bool, StorageError>;

    /// Deletes the cart only while its stored version is `version`; `true` when it did.
    ///
    /// The provided implementation loads, compares and deletes in two steps, so a write landing
    /// in between is deleted with the cart: drivers should override it with one atomic step, as
    /// every driver of this crate does.
    async fn delete_at(&self, key: &CartKey, version: u64) -> Result<bool, StorageError> {
        match self.load(key).await? {
            Some(stored) if stored.version == version => self.delete(key).await,
            _ => Ok(false),
        }
    }

    /// The instances stored for an identifier, sorted.
    async fn instances(&self, identifier: &str) -> Result<Vec<String>, StorageError>;

    /// Moves the `instance` cart of `from` to `to`, replacing any cart `to` had there.
    /// `false` when `from` has no such cart.
    async fn swap_identifier(
        &self,
        from: &str,
        to: &str,
        instance: &str,
    ) -> Result<bool, StorageError>;

    /// Deletes every instance of an identifier; returns how many carts went.
    async fn forget(&self, identifier: &str) -> Result<usize, StorageError> {
        let mut deleted = 0;
        for instance in self.instances(identifier).await? {
            if self.delete(&CartKey::new(identifier, instance)).await? {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Enumerates stored carts, a page at a time, for moving carts between drivers.
    /// `cursor` is `None` for the first page, then the previous page's `next`.
    async fn scan(&self, cursor: Option<String>, batch: usize) -> Result<ScanPage, StorageError> {
        let _ = (cursor, batch);
        Err(StorageError::Unsupported {
            driver: self.driver(),
            operation: "scan",
        })
    }

    /// Read-modify-write, retried on conflict within `options.retry_budget`; a change is applied
    /// once even when the answer to its save was lost (see [`new_write_id`]).
    async fn modify(
        &self,
        key: &CartKey,
        options: &ModifyOptions,
        op: &CartOp<'_>,
    ) -> Result<Modified, ModifyError> {
        optimistic_modify(self, key, options, op).await
    }
}
