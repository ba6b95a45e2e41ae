//! The driver conformance suite against `DualWriteStorage` over real backends, as a move from
//! Postgres to Redis runs it: carts written to both, read from the new driver first.

mod common;

use std::sync::Arc;

use axum_cart::storage::DualWriteStorage;
use common::{pg, redis};

async fn redis_over_postgres() -> DualWriteStorage {
    DualWriteStorage::new(
        Arc::new(redis::fresh_storage().await),
        Arc::new(pg::fresh_storage().await),
    )
}

// The drivers inside a dual-write storage are not reachable, so no corrupt document can be
// planted; each driver runs that check in its own suite.
axum_cart::conformance_tests!(redis_over_postgres, redis_over_postgres(), no_corrupt);
