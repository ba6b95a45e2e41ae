//! The driver conformance suite against Postgres, each check on its own schema.

mod common;

use common::pg;

axum_cart::conformance_tests!(pg::fresh_storage());
