//! Moving carts between drivers: a batch copy for drivers that can be enumerated, and
//! [`DualWriteStorage`] for moves without downtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::{CartKey, CartStorage, ScanPage, StorageError, Versioned};
use crate::cart::CartContents;

/// How [`migrate`] runs.
pub struct MigrateOptions<'a> {
    /// Carts read per page (default 500).
    pub batch_size: usize,
    /// Count what would be copied, write nothing.
    pub dry_run: bool,
    /// Called after each page with the running totals.
    pub progress: Option<&'a (dyn Fn(&MigrationReport) + Send + Sync)>,
}

impl Default for MigrateOptions<'_> {
    fn default() -> Self {
        MigrateOptions {
            batch_size: 500,
            dry_run: false,
            progress: None,
        }
    }
}

/// What a migration did (or, in a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Carts read from the source.
    pub scanned: u64,
    /// Carts written to the target (or that would be, in a dry run).
    pub copied: u64,
    /// Carts already identical in the target.
    pub unchanged: u64,
    /// Carts left alone because the target's copy is newer than the source's.
    pub target_newer: Vec<CartKey>,
    /// Carts that vanished from the source between the scan and the read.
    pub vanished: u64,
    /// Carts that could not be copied, with the reason.
    pub failed: Vec<(CartKey, String)>,
}

impl MigrationReport {
    /// Carts skipped for any reason other than a failure.
    pub fn skipped(&self) -> u64 {
        self.unchanged + self.target_newer.len() as u64 + self.vanished
    }
}

/// What to do with one cart.
enum Decision {
    Copy { expected: Option<u64> },
    Unchanged,
    TargetNewer,
}

fn decide(source: &Versioned<CartContents>, target: Option<&Versioned<CartContents>>) -> Decision {
    let Some(target) = target else {
        return Decision::Copy { expected: None };
    };
    if target.value == source.value {
        return Decision::Unchanged;
    }
    match (target.updated_at, source.updated_at) {
        (Some(target_at), Some(source_at)) if target_at > source_at => Decision::TargetNewer,
        _ => Decision::Copy {
            expected: Some(target.version),
        },
    }
}

/// Copies every cart (items, conditions, metadata) from `from` to `to`, a page at a time through
/// `from`'s [`CartStorage::scan`]. Idempotent: a cart already identical in the target is not
/// written again, and a target cart newer than the source (by `updated_at`) is left alone and
/// reported. A cart that fails is reported and the migration goes on; a failing scan stops it.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use axum_cart::storage::migrate::{MigrateOptions, migrate};
/// use axum_cart::{CartContents, CartKey, CartStorage, Currency, MemoryStorage};
/// let (old, new) = (MemoryStorage::new(), MemoryStorage::new());
/// old.save(&CartKey::new("guest-1", "default"), &CartContents::new(Currency::USD), None).await.unwrap();
/// let report = migrate(&old, &new, MigrateOptions::default()).await.unwrap();
/// assert_eq!(report.copied, 1);
/// // A second run copies nothing.
/// assert_eq!(migrate(&old, &new, MigrateOptions::default()).await.unwrap().copied, 0);
/// # });
/// ```
pub async fn migrate(
    from: &dyn CartStorage,
    to: &dyn CartStorage,
    options: MigrateOptions<'_>,
) -> Result<MigrationReport, StorageError> {
    let mut report = MigrationReport::default();
    let mut cursor = None;
    loop {
        let ScanPage { keys, next } = from.scan(cursor, options.batch_size.max(1)).await?;
        copy_all(from, to, keys, options.dry_run, &mut report).await;
        if let Some(progress) = options.progress {
            progress(&report);
        }
        match next {
            Some(next) => cursor = Some(next),
            None => return Ok(report),
        }
    }
}

/// Copies every instance of one identifier, for drivers that cannot be enumerated: the session
/// driver is moved this way, one visitor at a time, inside their own request (for example at
/// login, when the shop keeps user carts in the database):
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use axum_cart::storage::migrate::migrate_identifier;
/// use axum_cart::{CartContents, CartKey, CartStorage, Currency, MemoryStorage, SessionStorage};
/// use tower_sessions::{MemoryStore, Session};
/// let session = Session::new(None, Arc::new(MemoryStore::default()), None);
/// let in_session = SessionStorage::new(session, "cart");
/// in_session.save(&CartKey::new("guest-1", "default"), &CartContents::new(Currency::USD), None).await.unwrap();
/// let database = MemoryStorage::new(); // PostgresStorage in a real shop
/// let report = migrate_identifier(&in_session, &database, "guest-1", false).await.unwrap();
/// assert_eq!(report.copied, 1);
/// # });
/// ```
pub async fn migrate_identifier(
    from: &dyn CartStorage,
    to: &dyn CartStorage,
    identifier: &str,
    dry_run: bool,
) -> Result<MigrationReport, StorageError> {
    let mut report = MigrationReport::default();
    let keys = from
        .instances(identifier)
        .await?
        .into_iter()
        .map(|instance| CartKey::new(identifier, instance))
        .collect();
    copy_all(from, to, keys, dry_run, &mut report).await;
    Ok(report)
}

/// Carts copied at once: enough to hide network round trips, few enough to spare the backends.
const CONCURRENT_COPIES: usize = 16;

enum Outcome {
    Copied,
    Unchanged,
    TargetNewer,
    Vanished,
}

/// Copies `keys`, several at a time, and adds what happened to `report`.
async fn copy_all(
    from: &dyn CartStorage,
    to: &dyn CartStorage,
    keys: Vec<CartKey>,
    dry_run: bool,
    report: &mut MigrationReport,
) {
    use futures_util::StreamExt;
    let outcomes: Vec<(CartKey, Result<Outcome, StorageError>)> = futures_util::stream::iter(keys)
        .map(|key| async move {
            let outcome = copy_one(from, to, &key, dry_run).await;
            (key, outcome)
        })
        .buffer_unordered(CONCURRENT_COPIES)
        .collect()
        .await;
    for (key, outcome) in outcomes {
        report.scanned += 1;
        match outcome {
            Ok(Outcome::Copied) => report.copied += 1,
            Ok(Outcome::Unchanged) => report.unchanged += 1,
            Ok(Outcome::TargetNewer) => report.target_newer.push(key),
            Ok(Outcome::Vanished) => report.vanished += 1,
            Err(error) => report.failed.push((key, error.to_string())),
        }
    }
    report.target_newer.sort();
}

async fn copy_one(
    from: &dyn CartStorage,
    to: &dyn CartStorage,
    key: &CartKey,
    dry_run: bool,
) -> Result<Outcome, StorageError> {
    let Some(source) = from.load(key).await? else {
        return Ok(Outcome::Vanished);
    };
    let target = to.load(key).await?;
    Ok(match decide(&source, target.as_ref()) {
        Decision::Unchanged => Outcome::Unchanged,
        Decision::TargetNewer => Outcome::TargetNewer,
        Decision::Copy { expected } => {
            if !dry_run {
                to.save(key, &source.value, expected).await?;
            }
            Outcome::Copied
        }
    })
}

/// Writes go to both drivers; reads prefer the new one and fall back to the old one, copying the
/// cart into the new one on the way. Point the layer at it while a batch [`migrate`] (or plain
/// traffic) moves carts over, then switch to the new driver alone.
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
    /// Moves from `old` to `new`.
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
