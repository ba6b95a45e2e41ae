//! A cart worker, in two modes.
//!
//! **Event consumer** (`--events CONSUMER`): a process of its own that reads the durable event log
//! (`CART_EVENT_LOG=true` on the shops that write it) under a consumer name, and logs one
//! "abandoned cart" notice per cart that has had no change for `--idle-secs` (again after its next
//! change). It acknowledges what it handled, so a worker killed and restarted goes on from its
//! cursor and misses nothing; events handled but not yet acknowledged come again, and their ids
//! tell them apart. `--events-out FILE` appends every event it reads to FILE as a JSON line.
//! `--prune-events` applies retention instead (`--max-age-secs`, `--max-count`) and exits.
//!
//! ```text
//! CART_STORAGE=database DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop \
//!     cargo run --example worker -- --events mailer --idle-secs 1800
//! CART_STORAGE=cache cargo run --example worker -- --prune-events --max-age-secs 604800
//! ```
//!
//! The idle state of carts lives in the worker's memory: a restarted worker knows the carts that
//! changed after its cursor, so a cart that went idle while it was down gets its notice after its
//! next change.
//!
//! **Shop with an idle marker** (the default): the shop with a background task next to it, both
//! on one `CartManager`: every interval the task flags carts nobody has written to for a while
//! with the metadata `idle: true` (a shop could then send a reminder), while the shop keeps
//! serving requests on the same carts.
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

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use axum_cart::settings::{CartSettings, Driver, ENV_VARS};
use axum_cart::storage::{EventLog, EventRetention, LoggedEvent, LoggedEventKind};
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

/// Run the shop with a worker that flags idle carts, or (--events) consume the durable event log
/// in a process of its own.
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

    /// Consume the event log as this consumer instead of running the shop.
    #[arg(long, value_name = "CONSUMER")]
    events: Option<String>,

    /// With --events: append every event read to this file, one JSON object a line.
    #[arg(long, value_name = "FILE", requires = "events")]
    events_out: Option<std::path::PathBuf>,

    /// With --events: milliseconds to wait when the log has nothing new.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    poll_ms: u64,

    /// Apply the event log's retention (--max-age-secs, --max-count) and exit.
    #[arg(long, conflicts_with = "events")]
    prune_events: bool,

    /// With --prune-events: delete events older than this many seconds.
    #[arg(long, value_name = "SECS")]
    max_age_secs: Option<u64>,

    /// With --prune-events: keep only this many of the newest events (per stream on a Redis
    /// Cluster).
    #[arg(long, value_name = "N")]
    max_count: Option<u64>,
}

/// The event log of the driver the settings name.
async fn event_log(settings: &CartSettings) -> Result<Box<dyn EventLog>, String> {
    match settings.storage {
        Driver::Cache => Ok(Box::new(
            settings.connect_cache().await.map_err(|e| e.to_string())?,
        )),
        Driver::Database => Ok(Box::new(
            settings
                .connect_database()
                .await
                .map_err(|e| e.to_string())?,
        )),
        _ => Err(
            "the event log needs CART_STORAGE=cache or database (session and memory carts \
             have in-process events only)"
                .to_owned(),
        ),
    }
}

/// When each cart last changed, and whether its notice went out since.
#[derive(Default)]
pub struct IdleCarts {
    carts: HashMap<(String, String), (time::OffsetDateTime, bool)>,
}

impl IdleCarts {
    /// Takes an event into account: a change restarts the cart's idle time, a delete forgets it.
    pub fn record(&mut self, event: &LoggedEvent) {
        let cart = (event.identifier_hash.clone(), event.instance.clone());
        if event.kind == LoggedEventKind::Deleted {
            self.carts.remove(&cart);
            return;
        }
        let entry = self.carts.entry(cart).or_insert((event.at, false));
        // Redelivered or out-of-order events never move a cart back in time.
        if event.at >= entry.0 {
            *entry = (event.at, false);
        }
    }

    /// The carts idle for `idle_for` at `now` that have had no notice yet, now marked noticed.
    pub fn newly_abandoned(
        &mut self,
        now: OffsetDateTime,
        idle_for: Duration,
    ) -> Vec<(String, String)> {
        let mut abandoned = Vec::new();
        for (cart, (at, noticed)) in &mut self.carts {
            if !*noticed && *at + idle_for <= now {
                *noticed = true;
                abandoned.push(cart.clone());
            }
        }
        abandoned.sort();
        abandoned
    }
}

/// Reads, records and acknowledges events until the process is killed. Each batch is written to
/// `out` (and flushed) before it is acknowledged: a kill between the two redelivers the batch.
async fn consume(
    log: &dyn EventLog,
    consumer: &str,
    mut out: Option<std::fs::File>,
    idle_for: Duration,
    poll: Duration,
) -> Result<(), String> {
    let mut idle = IdleCarts::default();
    loop {
        let events = match log.read_events(consumer, 500).await {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(%error, "worker: reading events failed; trying again");
                tokio::time::sleep(poll).await;
                continue;
            }
        };
        if let Some(out) = &mut out {
            let mut lines = Vec::new();
            for event in &events {
                serde_json::to_writer(&mut lines, event).map_err(|e| e.to_string())?;
                lines.push(b'\n');
            }
            out.write_all(&lines).map_err(|e| e.to_string())?;
        }
        for event in &events {
            idle.record(event);
        }
        if let Err(error) = log.ack_events(consumer, &events).await {
            // Not acknowledged: the batch comes again, and its ids tell it apart.
            tracing::warn!(%error, "worker: acknowledging events failed");
        }
        for (cart, instance) in idle.newly_abandoned(OffsetDateTime::now_utc(), idle_for) {
            tracing::info!(%cart, %instance, "abandoned cart: no change for {idle_for:?}");
        }
        if events.is_empty() {
            tokio::time::sleep(poll).await;
        }
    }
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
    if cli.prune_events {
        let log = event_log(&settings).await.unwrap_or_else(|e| exit(&e));
        let mut retention = EventRetention::new();
        if let Some(secs) = cli.max_age_secs {
            retention = retention.with_max_age(Duration::from_secs(secs));
        }
        if let Some(count) = cli.max_count {
            retention = retention.with_max_count(count);
        }
        let pruned = log
            .prune_events(&retention)
            .await
            .unwrap_or_else(|e| exit(&e.to_string()));
        println!("pruned {pruned} events");
        return;
    }
    if let Some(consumer) = &cli.events {
        let log = event_log(&settings).await.unwrap_or_else(|e| exit(&e));
        let out = cli.events_out.as_ref().map(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap_or_else(|e| exit(&format!("{}: {e}", path.display())))
        });
        println!("worker consuming events as {consumer}");
        let (idle_for, poll) = (
            Duration::from_secs(cli.idle_secs),
            Duration::from_millis(cli.poll_ms),
        );
        consume(&*log, consumer, out, idle_for, poll)
            .await
            .unwrap_or_else(|e| exit(&e));
        return;
    }
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
