//! Helpers shared by the integration tests, by concern:
//!
//! - [`shop`]: the example shop as a router in this process;
//! - [`requests`]: a `oneshot` client carrying cookies by hand, and a real bound server;
//! - [`counting`]: a storage driver that counts its calls (and can lose every compare-and-set);
//! - [`events`]: recording the cart events a configuration fires;
//! - [`process`]: the example binaries started as processes, and free ports;
//! - [`pg`], [`redis`], [`proxy`]: the real Postgres and Redis servers, and outages of them;
//! - [`cluster`]: the Redis Cluster at `REDIS_CLUSTER_URL`;
//! - [`hammer`]: many writers on one cart through two storages;
//! - [`faulty`]: any driver with counted calls and failures on demand;
//! - [`reply_drop`]: a TCP forwarder that loses the answer to one chosen write.

// Each test binary compiles this whole module and uses only part of it.
#![allow(dead_code)]

pub mod cluster;
pub mod counting;
pub mod events;
pub mod faulty;
pub mod hammer;
pub mod pg;
pub mod process;
pub mod proxy;
pub mod redis;
pub mod reply_drop;
pub mod requests;
pub mod shop;

use axum_cart::storage::CartKey;
use axum_cart::{Currency, Money};

/// `amount` in US dollars (`"4.50"`).
pub fn usd(amount: &str) -> Money {
    Money::parse(amount, Currency::USD).unwrap()
}

/// The `default` cart of a guest no other test uses.
pub fn guest_key() -> CartKey {
    CartKey::new(
        format!("guest-{}", uuid::Uuid::new_v4().simple()),
        "default",
    )
}
