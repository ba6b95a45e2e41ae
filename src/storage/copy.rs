//! Moving carts between drivers: [`copy_carts`] for drivers that can be enumerated, page by
//! page, and [`copy_identifier`] for one visitor's carts at a time. For a move without downtime,
//! run them alongside a [`DualWriteStorage`](super::DualWriteStorage).

use super::{CartKey, CartStorage, ScanPage, StorageError, Versioned};
use crate::cart::CartContents;

/// How [`copy_carts`] and [`copy_identifier`] run.
pub struct CopyOptions<'a> {
    /// Carts read per page (default 500).
    pub batch_size: usize,
    /// Count what would be copied, write nothing.
    pub dry_run: bool,
    /// Called after each page with the running totals.
    pub progress: Option<&'a (dyn Fn(&CopyReport) + Send + Sync)>,
}

impl std::fmt::Debug for CopyOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyOptions")
            .field("batch_size", &self.batch_size)
            .field("dry_run", &self.dry_run)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl Default for CopyOptions<'_> {
    fn default() -> Self {
        CopyOptions {
            batch_size: 500,
            dry_run: false,
            progress: None,
        }
    }
}

/// What a copy did (or, in a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyReport {
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

impl CopyReport {
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
/// reported. A cart that fails is reported and the copy goes on; a failing scan stops it.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use axum_cart::cart::{CartContents, Currency};
/// use axum_cart::storage::{CartKey, CartStorage, CopyOptions, MemoryStorage, copy_carts};
/// let (old, new) = (MemoryStorage::new(), MemoryStorage::new());
/// old.save(&CartKey::new("guest-1", "default"), &CartContents::new(Currency::USD), None).await.unwrap();
/// let report = copy_carts(&old, &new, CopyOptions::default()).await.unwrap();
/// assert_eq!(report.copied, 1);
/// // A second run copies nothing.
/// assert_eq!(copy_carts(&old, &new, CopyOptions::default()).await.unwrap().copied, 0);
/// # });
/// ```
pub async fn copy_carts(
    from: &dyn CartStorage,
    to: &dyn CartStorage,
    options: CopyOptions<'_>,
) -> Result<CopyReport, StorageError> {
    let mut report = CopyReport::default();
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
/// use axum_cart::cart::{CartContents, Currency};
/// use axum_cart::storage::{
///     CartKey, CartStorage, CopyOptions, MemoryStorage, SessionStorage, copy_identifier,
/// };
/// use tower_sessions::{MemoryStore, Session};
/// let session = Session::new(None, Arc::new(MemoryStore::default()), None);
/// let in_session = SessionStorage::new(session, "cart");
/// in_session.save(&CartKey::new("guest-1", "default"), &CartContents::new(Currency::USD), None).await.unwrap();
/// let database = MemoryStorage::new(); // PostgresStorage in a real shop
/// let report = copy_identifier(&in_session, &database, "guest-1", &CopyOptions::default())
///     .await
///     .unwrap();
/// assert_eq!(report.copied, 1);
/// # });
/// ```
pub async fn copy_identifier(
    from: &dyn CartStorage,
    to: &dyn CartStorage,
    identifier: &str,
    options: &CopyOptions<'_>,
) -> Result<CopyReport, StorageError> {
    let mut report = CopyReport::default();
    let keys = from
        .instances(identifier)
        .await?
        .into_iter()
        .map(|instance| CartKey::new(identifier, instance))
        .collect();
    copy_all(from, to, keys, options.dry_run, &mut report).await;
    if let Some(progress) = options.progress {
        progress(&report);
    }
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
    report: &mut CopyReport,
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
