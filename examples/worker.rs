//! The shop with a background worker next to it, both on one `CartManager`: every interval the
//! worker flags carts nobody has written to for a while with the metadata `idle: true` (a shop
//! could then send a reminder), while the shop keeps serving requests on the same carts.
//!
//! ```text
//! CART_STORAGE=cache REDIS_URL=redis://127.0.0.1:6379 \
//!     cargo run --example worker -- --idle-secs 3600 --interval-secs 60 --port 3000
//! ```
//!
//! `--idle-secs` (`WORKER_IDLE_SECS`, default 3600), `--interval-secs` (`WORKER_INTERVAL_SECS`,
//! default 60) and `--port` (`PORT`, default 3000) tune it; the cart itself is configured by the
//! `CART_*` variables (`--help` lists them). The worker needs a shared driver (`cache`,
//! `database` or `memory`): session carts live inside requests.

#[path = "shop.rs"]
#[allow(dead_code)]
mod shop;

use std::time::Duration;

use axum_cart::settings::{CartSettings, ENV_VARS};
use axum_cart::{CartError, CartManager, StorageMode};
use clap::{CommandFactory, FromArgMatches, Parser};
use time::OffsetDateTime;
use tower_sessions::MemoryStore;

/// Flags every cart not written for `idle_for` with `idle: true`; returns how many it flagged.
/// Each flag is one versioned write through the manager, so a visitor's change at the same moment
/// is retried, never lost.
pub async fn mark_idle(manager: &CartManager, idle_for: Duration) -> Result<usize, CartError> {
    let StorageMode::Shared(storage) = manager.storage() else {
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

/// Run the shop with a worker that flags idle carts.
///
/// The shop listens on 127.0.0.1:--port. Every --interval-secs the worker flags each cart not
/// written for --idle-secs with the metadata `idle: true`; each flag is a versioned write, so a
/// visitor's change at the same moment is retried, never lost. The cart is configured by the
/// CART_* variables below; CART_STORAGE must name a shared driver (cache, database or memory).
#[derive(Debug, Parser)]
#[command(verbatim_doc_comment, name = "worker", version)]
struct Cli {
    /// Flag carts not written for this many seconds.
    #[arg(
        long,
        value_name = "SECS",
        env = "WORKER_IDLE_SECS",
        default_value_t = 3600
    )]
    idle_secs: u64,

    /// Seconds between two passes of the worker.
    #[arg(
        long,
        value_name = "SECS",
        env = "WORKER_INTERVAL_SECS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    interval_secs: u64,

    /// The port the shop listens on (0: any free port).
    #[arg(long, value_name = "PORT", env = "PORT", default_value_t = 3000)]
    port: u16,
}

/// The `--help` text after the flags: every environment variable the settings read.
fn environment_help() -> String {
    let mut text = String::from(
        "Environment:\n  The cart is configured by these variables \
         (unset ones keep their defaults):\n",
    );
    text.push_str(&format!(
        "  {:<30}{}\n  {:<30}{}\n",
        "REDIS_URL",
        "cache.url when CART_CACHE_URL is unset",
        "DATABASE_URL",
        "database.url when CART_DB_URL is unset"
    ));
    for (var, setting) in ENV_VARS {
        text.push_str(&format!("  {var:<30}{setting}\n"));
    }
    text.push_str(
        "\nExample:\n  CART_STORAGE=cache REDIS_URL=redis://127.0.0.1:6379 worker --idle-secs 600",
    );
    text
}

fn parse() -> Cli {
    let mut command = Cli::command()
        .after_help("Run with --help for the CART_* environment variables.")
        .after_long_help(environment_help());
    let matches = command.get_matches_mut();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut command).exit())
}

#[tokio::main]
async fn main() {
    let cli = parse();
    tracing_subscriber::fmt().with_env_filter("info").init();
    let settings = CartSettings::from_env().unwrap_or_else(|e| exit(&e.to_string()));
    let config = settings
        .connect()
        .await
        .unwrap_or_else(|e| exit(&e.to_string()));
    let manager = CartManager::new(shop::shop_config(config));
    if !matches!(manager.storage(), StorageMode::Shared(_)) {
        exit("the worker needs a shared driver: CART_STORAGE=cache, database or memory");
    }
    let (idle_for, every) = (
        Duration::from_secs(cli.idle_secs),
        Duration::from_secs(cli.interval_secs),
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
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", cli.port))
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
