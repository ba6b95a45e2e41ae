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
    /// Carts left alone because the target holds writes the source lacks: the target was
    /// written after receiving the source's last write, or each has writes the other does not
    /// know (see [`copy_carts`]).
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
#[derive(Debug, PartialEq)]
enum Decision {
    Copy { expected: Option<u64> },
    Unchanged,
    TargetNewer,
}

/// Decides by the carts' write ids, never by their timestamps: the clocks of two backends say
/// nothing about which write came last.
fn decide(source: &CartContents, target: Option<&Versioned<CartContents>>) -> Decision {
    let Some(target) = target else {
        return Decision::Copy { expected: None };
    };
    let stored = &target.value;
    if stored == source {
        return Decision::Unchanged;
    }
    match (source.write_ids().last(), stored.write_ids().last()) {
        (Some(source_last), Some(target_last)) if source_last == target_last => Decision::Unchanged,
        // The target was written after it received the source's last write.
        (Some(source_last), _) if stored.has_write(source_last) => Decision::TargetNewer,
        // The target is an earlier state of the source's cart, or predates write ids.
        (_, None) => Decision::Copy {
            expected: Some(target.version),
        },
        (_, Some(target_last)) if source.has_write(target_last) => Decision::Copy {
            expected: Some(target.version),
        },
        // Each has writes the other lacks (the target was written while the source could not
        // be read, or too many writes apart to tell): overwriting would lose the target's.
        _ => Decision::TargetNewer,
    }
}

/// Copies every cart (items, conditions, metadata) from `from` to `to`, a page at a time through
/// `from`'s [`CartStorage::scan`]. A cart that fails is reported and the copy goes on; a failing
/// scan stops it.
///
/// Which cart wins is decided by the write ids the carts carry
/// ([`CartContents::write_ids`]), never by timestamps of different backends:
/// - a target cart with the source's last write id is unchanged (a re-run copies nothing);
/// - a target cart that holds the source's last write among its writes is newer and left alone,
///   and so is one with writes the source does not know of (reported in
///   [`CopyReport::target_newer`]);
/// - a missing target cart, or one the source's writes descend from (or that has no write ids),
///   is written with compare-and-set against the version just read, so a writer that changes
///   the target meanwhile makes the copy conflict and decide again, never lose its write;
/// - a cart created in the target is checked against the source once more: when the source
///   cart went (a delete through a [`DualWriteStorage`](super::DualWriteStorage)) or changed
///   meanwhile, the copy is taken back with [`CartStorage::delete_at`] and decided again.
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

/// Rounds of deciding and writing one cart before it is reported as failed: each round lost to
/// a writer changing the source or the target in between.
const COPY_ATTEMPTS: u32 = 5;

async fn copy_one(
    from: &dyn CartStorage,
    to: &dyn CartStorage,
    key: &CartKey,
    dry_run: bool,
) -> Result<Outcome, StorageError> {
    let mut attempt = 0;
    loop {
        let Some(source) = from.load(key).await? else {
            return Ok(Outcome::Vanished);
        };
        let target = to.load(key).await?;
        let expected = match decide(&source.value, target.as_ref()) {
            Decision::Unchanged => return Ok(Outcome::Unchanged),
            Decision::TargetNewer => return Ok(Outcome::TargetNewer),
            Decision::Copy { expected } => expected,
        };
        if dry_run {
            return Ok(Outcome::Copied);
        }
        match to.save(key, &source.value, expected).await {
            Ok(version) => {
                if expected.is_some() || still_there(from, key, source.version).await? {
                    return Ok(Outcome::Copied);
                }
                // The source cart went or changed while the copy landed: a deleted cart must
                // not come back. A writer that already built on the copy keeps its cart.
                to.delete_at(key, version).await?;
            }
            Err(StorageError::Conflict { .. }) => {}
            Err(error) => return Err(error),
        }
        attempt += 1;
        if attempt >= COPY_ATTEMPTS {
            return Err(StorageError::Backend {
                driver: to.driver(),
                message: format!("the cart kept changing during {COPY_ATTEMPTS} copy attempts"),
            });
        }
        super::backoff(attempt).await;
    }
}

/// Whether `from` still holds `key` at `version`.
async fn still_there(
    from: &dyn CartStorage,
    key: &CartKey,
    version: u64,
) -> Result<bool, StorageError> {
    Ok(from
        .load(key)
        .await?
        .is_some_and(|stored| stored.version == version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cart::{CartItem, Currency, Money};

    fn written(cart: &CartContents, sku: &str, write_id: &str) -> CartContents {
        let mut next = cart.clone();
        next.add(CartItem::new(
            sku,
            "Thing",
            Money::from_minor(100, Currency::USD),
            1,
        ))
        .unwrap();
        next.record_write(write_id);
        next
    }

    fn at(cart: &CartContents, version: u64) -> Versioned<CartContents> {
        Versioned::new(cart.clone(), version)
    }

    #[test]
    fn decides_by_write_ids_alone() {
        let base = written(&CartContents::new(Currency::USD), "a", "w1");
        let source = written(&base, "b", "w2");
        let copy = Decision::Copy { expected: Some(40) };
        assert_eq!(decide(&source, None), Decision::Copy { expected: None });
        assert_eq!(decide(&source, Some(&at(&source, 40))), Decision::Unchanged);
        // The target received the source's last write, then one more.
        let target_on_top = written(&source, "c", "w3");
        assert_eq!(
            decide(&source, Some(&at(&target_on_top, 40))),
            Decision::TargetNewer
        );
        // The target is an earlier state of the source's cart.
        assert_eq!(decide(&source, Some(&at(&base, 40))), copy);
        // Went apart after `base`: neither may overwrite the other.
        let apart = written(&base, "d", "w4");
        assert_eq!(
            decide(&source, Some(&at(&apart, 40))),
            Decision::TargetNewer
        );
        // A target written before carts recorded their writes is replaced.
        let mut legacy = CartContents::new(Currency::USD);
        legacy
            .add(CartItem::new(
                "z",
                "Old",
                Money::from_minor(1, Currency::USD),
                1,
            ))
            .unwrap();
        assert_eq!(decide(&source, Some(&at(&legacy, 40))), copy);
    }
}
