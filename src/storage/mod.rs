//! Where carts live: the [`CartStorage`] trait and its drivers.
//!
//! Every driver keeps a version per cart and writes with compare-and-set: [`CartStorage::save`]
//! succeeds only when the stored version is the one the caller read. [`CartStorage::modify`] is
//! the read-modify-write every cart mutation goes through; its provided implementation retries on
//! conflict a bounded number of times, and drivers may override it (a lock, a transaction).
//! Drivers store documents; they never compute totals.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::cart::{CartContents, Currency, Limits, RoundingMode};
use crate::error::{CartError, ConflictInfo};

pub mod memory;
pub mod migrate;
pub mod session;

#[cfg(feature = "test-util")]
pub mod conformance;

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;

pub use memory::MemoryStorage;
pub use migrate::{DualWriteStorage, MigrateOptions, MigrationReport, migrate, migrate_identifier};
pub use session::SessionStorage;

/// The instance used when none is named.
pub const DEFAULT_INSTANCE: &str = "default";

/// Names one cart: a cart identifier and an instance (`default`, `wishlist`, ...).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CartKey {
    identifier: String,
    instance: String,
}

impl CartKey {
    /// The cart `instance` of `identifier`.
    pub fn new(identifier: impl Into<String>, instance: impl Into<String>) -> CartKey {
        CartKey {
            identifier: identifier.into(),
            instance: instance.into(),
        }
    }

    /// The cart identifier (a guest id or a user id).
    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    /// The instance name.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// A short, stable hash of the identifier for logs, so identifiers never appear in clear.
    pub fn identifier_hash(&self) -> String {
        identifier_hash(&self.identifier)
    }
}

/// Whether `name` is a plain SQL table name: lower-case letters, digits and `_`, optionally
/// `schema.table`. Table names are spliced into SQL, so nothing else may pass.
pub fn is_plain_table_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() <= 2
        && parts.iter().all(|part| {
            !part.is_empty()
                && part.len() <= 63
                && part.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// A short, stable, non-reversible tag of an identifier for logs.
pub fn identifier_hash(identifier: &str) -> String {
    use std::hash::{Hash, Hasher};
    // SipHash with fixed keys: stable across processes, and 64 bits reveal nothing useful about a
    // 128-bit random identifier.
    #[allow(deprecated)]
    let mut hasher = std::hash::SipHasher::new();
    identifier.hash(&mut hasher);
    format!("{:016x}", hasher.finish())[..10].to_owned()
}

impl fmt::Debug for CartKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CartKey({}…/{})", self.identifier_hash(), self.instance)
    }
}

impl fmt::Display for CartKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…/{}", self.identifier_hash(), self.instance)
    }
}

/// A stored value with its version (1 for a new cart, +1 per committed write).
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

/// What a storage driver can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A compare-and-set found another version than expected.
    #[error("version conflict on cart {key}: expected {expected:?}, found {current:?}")]
    Conflict {
        /// The cart.
        key: CartKey,
        /// The version the write expected (`None`: expected no cart).
        expected: Option<u64>,
        /// The version stored (`None`: no cart).
        current: Option<u64>,
    },
    /// The backend could not be reached or timed out.
    #[error("{driver} is unavailable: {message}")]
    Unavailable {
        /// The driver (`redis`, `postgres`, ...).
        driver: &'static str,
        /// What happened.
        message: String,
    },
    /// A stored document could not be read.
    #[error("stored cart {key} in {driver} is unreadable: {message}")]
    Corrupt {
        /// The driver.
        driver: &'static str,
        /// The cart.
        key: CartKey,
        /// The decoding error.
        message: String,
    },
    /// Any other backend error.
    #[error("{driver} failed: {message}")]
    Backend {
        /// The driver.
        driver: &'static str,
        /// What happened.
        message: String,
    },
    /// The driver cannot do this (e.g. enumerate session carts).
    #[error("{driver} does not support {operation}")]
    Unsupported {
        /// The driver.
        driver: &'static str,
        /// The operation.
        operation: &'static str,
    },
}

/// What a read-modify-write needs besides the operation: the shape of a new cart and the retry budget.
#[derive(Clone, Debug)]
pub struct ModifyOptions {
    /// Retries after a conflict before giving up with [`CartError::Conflict`] (default 5).
    pub max_retries: u32,
    /// Currency of a cart created by this write.
    pub currency: Currency,
    /// Rounding mode of a cart created by this write.
    pub rounding: RoundingMode,
    /// Limits enforced on the result.
    pub limits: Limits,
}

impl Default for ModifyOptions {
    fn default() -> Self {
        ModifyOptions {
            max_retries: 5,
            currency: Currency::default(),
            rounding: RoundingMode::default(),
            limits: Limits::default(),
        }
    }
}

impl ModifyOptions {
    /// An empty cart with these options.
    pub fn empty_cart(&self) -> CartContents {
        CartContents::new(self.currency)
            .with_rounding(self.rounding)
            .with_limits(self.limits)
    }

    /// Applies `op` to the stored cart (or a new one) and checks the result's size: the pure half
    /// of a read-modify-write, shared by every driver. Returns the new cart and the version it
    /// replaces.
    pub fn apply(
        &self,
        current: Option<Versioned<CartContents>>,
        op: &CartOp<'_>,
    ) -> Result<(CartContents, Option<u64>), CartError> {
        let (cart, expected) = self.run(current, op)?;
        cart.check_size()?;
        Ok((cart, expected))
    }

    /// Like [`ModifyOptions::apply`], and also returns the serialized document (whose length was
    /// the size check), for drivers that store the JSON bytes.
    pub fn apply_encoded(
        &self,
        current: Option<Versioned<CartContents>>,
        op: &CartOp<'_>,
    ) -> Result<(CartContents, Vec<u8>, Option<u64>), CartError> {
        let (cart, expected) = self.run(current, op)?;
        let document = cart.to_json_checked()?;
        Ok((cart, document, expected))
    }

    fn run(
        &self,
        current: Option<Versioned<CartContents>>,
        op: &CartOp<'_>,
    ) -> Result<(CartContents, Option<u64>), CartError> {
        let (mut cart, expected) = match current {
            Some(stored) => (stored.value, Some(stored.version)),
            None => (self.empty_cart(), None),
        };
        cart.set_limits(self.limits);
        op(&mut cart)?;
        Ok((cart, expected))
    }
}

/// A change to a cart: a pure function of the cart, so a retry is always safe.
pub type CartOp<'a> = dyn Fn(&mut CartContents) -> Result<(), CartError> + Send + Sync + 'a;

/// The outcome of a committed [`CartStorage::modify`].
#[derive(Clone, Debug)]
pub struct Modified {
    /// The cart as written, with its new version.
    pub cart: Versioned<CartContents>,
    /// The version it replaced (`None`: the write created the cart).
    pub previous_version: Option<u64>,
    /// Conflicts retried before the write went through.
    pub retries: u32,
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
/// - `save(key, cart, None)` creates the cart at version 1 and fails with
///   [`StorageError::Conflict`] when it exists; `save(key, cart, Some(v))` writes version `v + 1`
///   only when the stored version is `v`, and otherwise fails with a conflict carrying the
///   stored version.
/// - `delete` says whether a cart was there; instances of one identifier are independent carts.
/// - `swap_identifier(from, to, instance)` moves one instance's cart to another identifier,
///   replacing the target's, and returns `false` when `from` has no such cart.
/// - `modify` loses no update under any number of concurrent writers.
#[async_trait]
pub trait CartStorage: Send + Sync + 'static {
    /// The driver's name, for logs and errors (`memory`, `session`, `redis`, `postgres`).
    fn driver(&self) -> &'static str;

    /// Reads a cart.
    async fn load(&self, key: &CartKey) -> Result<Option<Versioned<CartContents>>, StorageError>;

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

    /// Read-modify-write with a bounded retry on conflict.
    async fn modify(
        &self,
        key: &CartKey,
        options: &ModifyOptions,
        op: &CartOp<'_>,
    ) -> Result<Modified, CartError> {
        optimistic_modify(self, key, options, op).await
    }
}

/// The optimistic read-modify-write: load, apply, compare-and-set save, and on a conflict a short
/// random pause and another try, at most `options.max_retries` times. The provided
/// [`CartStorage::modify`]; drivers that override `modify` for a locking mode call it for their
/// optimistic mode.
pub async fn optimistic_modify<S: CartStorage + ?Sized>(
    storage: &S,
    key: &CartKey,
    options: &ModifyOptions,
    op: &CartOp<'_>,
) -> Result<Modified, CartError> {
    let mut retries = 0;
    loop {
        let current = storage.load(key).await?;
        let (cart, expected) = options.apply(current, op)?;
        match storage.save(key, &cart, expected).await {
            Ok(version) => {
                return Ok(Modified {
                    cart: Versioned::new(cart, version),
                    previous_version: expected,
                    retries,
                });
            }
            Err(StorageError::Conflict { current, .. }) => {
                if retries >= options.max_retries {
                    return Err(conflict_error(key, expected, current, retries));
                }
                retries += 1;
                backoff(retries).await;
            }
            Err(other) => return Err(other.into()),
        }
    }
}

/// The error `modify` gives up with once its retries are spent.
pub fn conflict_error(
    key: &CartKey,
    expected: Option<u64>,
    current: Option<u64>,
    retries: u32,
) -> CartError {
    CartError::Conflict(Box::new(ConflictInfo {
        identifier: key.identifier().to_owned(),
        instance: key.instance().to_owned(),
        attempted_version: expected.unwrap_or(0),
        current_version: current,
        retries,
    }))
}

/// A short random pause before retry `attempt`, growing with each attempt, so that writers that
/// collided do not collide again in lockstep.
pub async fn backoff(attempt: u32) {
    let ceiling_micros = 500u64 << attempt.min(6);
    let pause = rand::random_range(0..=ceiling_micros);
    tokio::time::sleep(Duration::from_micros(pause)).await;
}
