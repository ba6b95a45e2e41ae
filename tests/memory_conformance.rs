//! The conformance suite against the in-memory reference driver.

axum_cart::conformance_tests!(async { axum_cart::MemoryStorage::new() });

/// Every check in one test on one shared storage: checks must not interfere with each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn all_checks_share_one_storage() {
    let storage = axum_cart::MemoryStorage::new();
    axum_cart::storage::conformance::run_all(&storage).await;
}
