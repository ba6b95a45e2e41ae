//! The driver conformance suite against Redis, optimistic and locking, each check on its own prefix.

mod common;

mod optimistic {
    use super::common::redis;
    axum_cart::conformance_tests!(redis::fresh_storage());
}

mod locking {
    use super::common::redis;
    axum_cart::conformance_tests!(async { redis::fresh_storage().await.with_locking(true) });
}
