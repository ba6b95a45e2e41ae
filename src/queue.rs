//! Writers of one cart inside one process wait for each other here instead of racing through
//! storage round trips: the compare-and-set retry loop then only meets other processes.
//!
//! One async lock per cart being written, removed as soon as nobody holds or waits for it, so
//! memory follows the number of carts written at this moment, not the number of carts.
//!
//! [`WriteStamps`] count the writes of this process per cart, so that a change can tell whether
//! the cart its request read is still the latest this process knows of.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::storage::CartKey;

/// The per-cart locks of one process.
#[derive(Default)]
pub(crate) struct WriteQueue {
    locks: Mutex<HashMap<CartKey, Arc<AsyncMutex<()>>>>,
}

/// A cart's turn to be written; the next writer of the cart goes when it drops.
pub(crate) struct Turn<'a> {
    queue: &'a WriteQueue,
    key: CartKey,
    lock: Arc<AsyncMutex<()>>,
    guard: Option<OwnedMutexGuard<()>>,
}

impl WriteQueue {
    fn locks(&self) -> std::sync::MutexGuard<'_, HashMap<CartKey, Arc<AsyncMutex<()>>>> {
        self.locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for the turn to write `key`.
    pub(crate) async fn turn(&self, key: &CartKey) -> Turn<'_> {
        let lock = Arc::clone(self.locks().entry(key.clone()).or_default());
        let mut turn = Turn {
            queue: self,
            key: key.clone(),
            lock: Arc::clone(&lock),
            guard: None,
        };
        // Held by `turn` from here on, so a cancelled wait still cleans the entry up on drop.
        turn.guard = Some(lock.lock_owned().await);
        turn
    }

    /// Carts with a writer or a waiter now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.locks().len()
    }
}

/// How many counters the write stamps of a process are spread over.
const STAMP_STRIPES: usize = 1024;

/// A counter of this process's writes for every cart, carts sharing counters by a hash of their
/// key: fixed memory whatever the number of carts. A stamp taken before a cart is read and
/// unchanged when it is written means that nothing in this process wrote that cart in between;
/// a write of another cart on the same counter only makes a stamp look stale, never fresh.
pub(crate) struct WriteStamps {
    stripes: Box<[AtomicU64]>,
}

impl Default for WriteStamps {
    fn default() -> Self {
        WriteStamps {
            stripes: (0..STAMP_STRIPES).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl WriteStamps {
    fn stripe(&self, key: &CartKey) -> &AtomicU64 {
        &self.stripes[(key.table_hash() % STAMP_STRIPES as u64) as usize]
    }

    /// The stamp of `key` now.
    pub(crate) fn current(&self, key: &CartKey) -> u64 {
        self.stripe(key).load(Ordering::Acquire)
    }

    /// Counts a write of `key` that just reached the storage; the stamp after it.
    pub(crate) fn count_write(&self, key: &CartKey) -> u64 {
        self.stripe(key).fetch_add(1, Ordering::AcqRel) + 1
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = self.queue.locks();
        // The map's handle and ours: nobody else holds or waits for this cart.
        if Arc::strong_count(&self.lock) == 2 {
            locks.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writers_of_one_cart_take_turns_and_idle_carts_cost_nothing() {
        let queue = Arc::new(WriteQueue::default());
        let inside = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let overlaps = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|n| {
                let (queue, inside, overlaps) = (
                    Arc::clone(&queue),
                    Arc::clone(&inside),
                    Arc::clone(&overlaps),
                );
                tokio::spawn(async move {
                    for _ in 0..50 {
                        let key = CartKey::new(if n % 2 == 0 { "even" } else { "odd" }, "default");
                        let _turn = queue.turn(&key).await;
                        if key.identifier() == "even" {
                            if inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
                                overlaps.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            }
                            tokio::task::yield_now().await;
                            inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(overlaps.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(queue.len(), 0, "idle carts keep no lock");
    }

    #[test]
    fn a_write_makes_the_stamps_of_its_cart_stale() {
        let stamps = WriteStamps::default();
        let cart = CartKey::new("guest", "default");
        let other = CartKey::new("guest", "wishlist");
        let before = stamps.current(&cart);
        let untouched = stamps.current(&other);
        assert_eq!(stamps.count_write(&cart), before + 1);
        assert_ne!(
            stamps.current(&cart),
            before,
            "a read before the write is stale"
        );
        assert_eq!(
            stamps.current(&cart),
            before + 1,
            "a read after it is fresh"
        );
        // Another cart's counter moves only when it shares this cart's stripe.
        let shared = std::ptr::eq(stamps.stripe(&cart), stamps.stripe(&other));
        assert_eq!(stamps.current(&other) == untouched, !shared);
    }

    #[tokio::test]
    async fn a_cancelled_wait_leaves_nothing_behind() {
        let queue = WriteQueue::default();
        let key = CartKey::new("a", "default");
        let first = queue.turn(&key).await;
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(1), queue.turn(&key));
        assert!(waiting.await.is_err(), "the second writer waits");
        drop(first);
        assert_eq!(queue.len(), 0);
    }
}
