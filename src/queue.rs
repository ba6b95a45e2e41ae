//! Writers of one cart inside one process wait for each other here instead of racing through
//! storage round trips: the compare-and-set retry loop then only meets other processes.
//!
//! One async lock per cart being written, removed as soon as nobody holds or waits for it, so
//! memory follows the number of carts written at this moment, not the number of carts.

use std::collections::HashMap;
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
