//! The driver conformance suite against Postgres, each check on its own schema.

#[path = "support/pg.rs"]
mod pg;

axum_cart::conformance_tests!(pg::fresh_storage());
