//! The driver conformance suite against Redis, optimistic and locking, each check on its own prefix.

#[path = "support/redis.rs"]
mod redis;

mod optimistic {
    use super::redis;
    axum_cart::conformance_tests!(redis::fresh_storage());
}

mod locking {
    use super::redis;
    axum_cart::conformance_tests!(async { redis::fresh_storage().await.with_locking(true) });
}
