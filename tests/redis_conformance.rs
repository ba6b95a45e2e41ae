//! The driver conformance suite against Redis, optimistic and locking, each check on its own prefix.

mod common;

use axum_cart::RedisStorage;
use axum_cart::storage::CartKey;
use common::redis;
use fred::interfaces::HashesInterface;

/// Overwrites the stored document of an existing cart with bytes that are not a cart.
async fn store_corrupt(storage: &RedisStorage, key: &CartKey) {
    storage
        .client()
        .hset::<(), _, _>(storage.cart_key(key), ("d", "{not a cart"))
        .await
        .unwrap();
}

axum_cart::conformance_tests!(optimistic, redis::fresh_storage(), corrupt = store_corrupt);

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
    corrupt = store_corrupt
);

axum_cart::conformance_tests!(
    ttl_refresh_on_read,
    async { redis::fresh_storage().await.with_ttl_refresh_on_read(true) },
    corrupt = store_corrupt
);
