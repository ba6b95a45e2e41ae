//! The driver conformance suite against Redis, optimistic and locking, each check on its own prefix.

mod common;

use common::redis;

axum_cart::conformance_tests!(
    optimistic,
    redis::fresh_storage(),
    corrupt = redis::store_corrupt
);

// Sixteen writers queue on one cart's lock on a machine that may have two busy cores: the
// lock wait is far longer than that queue can take, so no writer gives up; a lock that is never
// released still fails its waiters, after 30 s instead of 2 s.
axum_cart::conformance_tests!(
    locking,
    async {
        redis::fresh_storage()
            .await
            .with_locking(true)
            .with_lock_wait(std::time::Duration::from_secs(30))
    },
    corrupt = redis::store_corrupt
);

axum_cart::conformance_tests!(
    ttl_refresh_on_read,
    async { redis::fresh_storage().await.with_ttl_refresh_on_read(true) },
    corrupt = redis::store_corrupt
);
