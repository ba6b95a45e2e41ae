//! What storage can fail with, apart from HTTP: the drivers' [`StorageError`] and the
//! [`ModifyError`] of a read-modify-write.

use super::CartKey;
use crate::cart;

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

/// Everything known about a write that lost a race once its retries were spent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConflictInfo {
    /// The cart identifier (hashed when shown in logs; shown to the client, which owns it).
    pub identifier: String,
    /// The cart instance.
    pub instance: String,
    /// The version the write expected to replace.
    pub attempted_version: u64,
    /// The version actually stored (`None`: the cart was deleted meanwhile).
    pub current_version: Option<u64>,
    /// Retries spent before giving up.
    pub retries: u32,
}

impl ConflictInfo {
    /// The conflict of a write to `key` that expected `expected` and found `current`.
    pub fn new(key: &CartKey, expected: Option<u64>, current: Option<u64>, retries: u32) -> Self {
        ConflictInfo {
            identifier: key.identifier().to_owned(),
            instance: key.instance().to_owned(),
            attempted_version: expected.unwrap_or(0),
            current_version: current,
            retries,
        }
    }

    /// `current - attempted` (0 when the cart no longer exists).
    pub fn version_difference(&self) -> u64 {
        self.current_version
            .map_or(0, |current| current.saturating_sub(self.attempted_version))
    }

    /// A conflict with exactly one other write in between: a reload and retry will almost surely work.
    pub fn is_minor(&self) -> bool {
        self.version_difference() == 1
    }

    /// What the caller can do about it.
    pub fn suggestions(&self) -> Vec<&'static str> {
        let mut hints = vec!["reload the cart and retry the change"];
        if !self.is_minor() {
            hints.push(
                "the cart is written by many clients at once; consider the driver's locking mode",
            );
        }
        hints
    }
}

/// Why a [`CartStorage::modify`](super::CartStorage::modify) wrote nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModifyError {
    /// The change refused the cart (bad input, a limit, an unknown line).
    #[error(transparent)]
    Rejected(#[from] cart::Error),
    /// Other writers kept winning until the retry budget was spent.
    #[error(
        "the cart `{}` changed concurrently: attempted version {}, current version {}",
        .0.instance, .0.attempted_version, .0.current_version.map_or_else(|| "none".to_owned(), |v| v.to_string())
    )]
    Conflict(Box<ConflictInfo>),
    /// The backend failed.
    #[error(transparent)]
    Storage(StorageError),
}

impl ModifyError {
    /// The error of a write that gave up after `retries` conflicts.
    pub fn conflict(
        key: &CartKey,
        expected: Option<u64>,
        current: Option<u64>,
        retries: u32,
    ) -> Self {
        ModifyError::Conflict(Box::new(ConflictInfo::new(key, expected, current, retries)))
    }
}

impl From<StorageError> for ModifyError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Conflict {
                key,
                expected,
                current,
            } => ModifyError::conflict(&key, expected, current, 0),
            other => ModifyError::Storage(other),
        }
    }
}
