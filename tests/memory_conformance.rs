//! The conformance suite against the in-memory reference driver, and against `DualWriteStorage`
//! over two of them.
//!
//! `MemoryStorage` keeps its documents private, so nothing can store a corrupt one: the
//! corrupt-document check is opted out.

use std::sync::Arc;

use axum_cart::MemoryStorage;
use axum_cart::storage::DualWriteStorage;

axum_cart::conformance_tests!(memory, async { MemoryStorage::new() }, no_corrupt);

/// Moving carts between two memory stores: reads prefer the new one, writes go to both.
async fn dual_write_storage() -> DualWriteStorage {
    DualWriteStorage::new(
        Arc::new(MemoryStorage::new()),
        Arc::new(MemoryStorage::new()),
    )
}

axum_cart::conformance_tests!(dual_write, dual_write_storage(), no_corrupt);

/// Every check in one test on one shared storage: checks must not interfere with each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn all_checks_share_one_storage() {
    let storage = MemoryStorage::new();
    axum_cart::storage::conformance::run_all(&storage).await;
}

/// The concurrency checks refuse a current-thread runtime, where their writers would only take
/// turns, and say how to fix the test.
#[tokio::test(flavor = "current_thread")]
#[should_panic(expected = "needs a multi-thread runtime")]
async fn concurrency_checks_require_a_multi_thread_runtime() {
    let storage = MemoryStorage::new();
    axum_cart::storage::conformance::concurrent_creates_one_wins(&storage).await;
}
