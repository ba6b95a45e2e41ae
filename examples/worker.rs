//! A background worker next to the shop, both on one `CartManager`: every minute it marks carts
//! nobody has touched for an hour with the metadata flag `idle: true` (a shop could then send a
//! reminder), while the shop keeps serving requests on the same carts.
//!
//! ```text
//! CART_STORAGE=cache REDIS_URL=redis://127.0.0.1:6379 cargo run --example worker
//! ```
//! `WORKER_IDLE_SECS` (default 3600) and `WORKER_INTERVAL_SECS` (default 60) tune it. The worker
//! needs a shared driver (`cache`, `database` or `memory`): session carts live inside requests.

#[path = "shop.rs"]
#[allow(dead_code)]
mod shop;

use std::time::Duration;

use axum_cart::settings::CartSettings;
use axum_cart::{CartError, CartManager, StorageChoice};
use time::OffsetDateTime;
use tower_sessions::MemoryStore;

/// Flags every cart not written for `idle_for` with `idle: true`; returns how many it flagged.
/// Each flag is one versioned write through the manager, so a visitor's change at the same moment
/// is retried, never lost.
pub async fn mark_idle(manager: &CartManager, idle_for: Duration) -> Result<usize, CartError> {
    let StorageChoice::Shared(storage) = manager.storage() else {
        return Err(CartError::Unsupported(
            "the worker needs a shared driver (CART_STORAGE=cache, database or memory)".to_owned(),
        ));
    };
    let cutoff = OffsetDateTime::now_utc() - idle_for;
    let mut flagged = 0;
    let mut cursor = None;
    loop {
        let page = storage.scan(cursor, 200).await?;
        for key in page.keys {
            let Some(stored) = storage.load(&key).await? else {
                continue;
            };
            let idle = stored.updated_at.is_some_and(|at| at <= cutoff);
            let flagged_already =
                stored.value.get_metadata("idle") == Some(&serde_json::json!(true));
            if idle && !flagged_already && !stored.value.items().is_empty() {
                manager
                    .cart(key.identifier(), key.instance())?
                    .set_metadata("idle", serde_json::json!(true))
                    .await?;
                flagged += 1;
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(flagged),
        }
    }
}

fn seconds(var: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let settings = CartSettings::from_env().unwrap_or_else(|e| exit(&e.to_string()));
    let config = settings
        .connect()
        .await
        .unwrap_or_else(|e| exit(&e.to_string()));
    let manager = CartManager::new(shop::shop_config(config));
    if !matches!(manager.storage(), StorageChoice::Shared(_)) {
        exit("the worker needs a shared driver: CART_STORAGE=cache, database or memory");
    }
    let (idle_for, every) = (
        seconds("WORKER_IDLE_SECS", 3600),
        seconds("WORKER_INTERVAL_SECS", 60),
    );
    let worker = manager.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match mark_idle(&worker, idle_for).await {
                Ok(flagged) => tracing::info!(flagged, "worker: idle carts flagged"),
                Err(error) => tracing::warn!(%error, "worker: pass failed; trying again next tick"),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(format!(
        "127.0.0.1:{}",
        std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned())
    ))
    .await
    .unwrap_or_else(|e| exit(&e.to_string()));
    println!(
        "shop with worker listening on http://{}",
        listener.local_addr().unwrap()
    );
    axum::serve(
        listener,
        shop::app_with_manager(manager, MemoryStore::default()),
    )
    .await
    .unwrap_or_else(|e| exit(&e.to_string()));
}

fn exit(message: &str) -> ! {
    eprintln!("worker: {message}");
    std::process::exit(1)
}
