//! Deletes carts nobody has written to for a while from the Postgres carts table.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop \
//!     cargo run --example prune -- --days 7 --batch-size 1000 --dry-run
//! ```
//!
//! `--days N` (default 30): carts not updated for N days; `--batch-size N` (default 1000): rows
//! per DELETE; `--dry-run`: only count; `--table NAME`: another table (default `carts`, after
//! running the bundled migrations); `--database-url URL` or `DATABASE_URL`: the database.
//! A progress bar on stderr counts the deleted carts when stderr is a terminal; otherwise one
//! line per batch goes to stdout. Exits 2 on bad arguments, 1 when the database fails.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

// The library calls, all in this block.
use axum_cart::PostgresStorage;
use axum_cart::storage::PruneOptions;

/// What [`prune`] found and did.
struct Pruned {
    matched: u64,
    deleted: u64,
}

/// Opens the table (migrating the default one) and returns it with its name.
async fn open(url: &str, table: Option<&str>) -> Result<(PostgresStorage, String), String> {
    let mut storage = PostgresStorage::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    match table {
        Some(table) => storage = storage.with_table(table).map_err(|e| e.to_string())?,
        None => storage.migrate().await.map_err(|e| e.to_string())?,
    }
    let name = storage.table().to_owned();
    Ok((storage, name))
}

async fn prune(
    storage: &PostgresStorage,
    older_than: Duration,
    batch_size: i64,
    dry_run: bool,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<Pruned, String> {
    let report = storage
        .prune(
            &PruneOptions::older_than(older_than)
                .with_batch_size(batch_size)
                .with_dry_run(dry_run),
            Some(progress),
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(Pruned {
        matched: report.matched,
        deleted: report.deleted,
    })
}
// End of the library calls.

/// Delete carts nobody has written to for a while from the Postgres carts table.
///
/// Carts whose last update is older than --days are deleted, --batch-size rows per DELETE
/// statement, so a large table is pruned without one long lock. With --dry-run they are only
/// counted.
///
/// Exits 0 on success, 1 when the database fails, 2 on bad arguments.
#[derive(Debug, Parser)]
#[command(
    verbatim_doc_comment,
    name = "prune",
    version,
    after_help = "Example:\n  DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop \\\n    \
                  prune --days 7 --batch-size 1000 --dry-run"
)]
struct Cli {
    /// Delete carts not updated for this many days.
    #[arg(long, value_name = "N", default_value_t = 30)]
    days: u64,

    /// Rows deleted per statement.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1000,
        value_parser = clap::value_parser!(i64).range(1..)
    )]
    batch_size: i64,

    /// Only count the carts that would be deleted; delete nothing.
    #[arg(long)]
    dry_run: bool,

    /// Prune this table instead of `carts` (the bundled migrations run only for `carts`).
    #[arg(long, value_name = "NAME")]
    table: Option<String>,

    /// The Postgres database holding the carts.
    #[arg(
        long,
        value_name = "URL",
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    database_url: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("prune: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let (storage, table) = open(&cli.database_url, cli.table.as_deref()).await?;
    let older_than = Duration::from_secs(cli.days.saturating_mul(86_400));
    println!(
        "{} carts of {table} not updated for {} days (batches of {})",
        if cli.dry_run { "counting" } else { "pruning" },
        cli.days,
        cli.batch_size
    );
    // The total is only known inside the prune (it counts first), so the bar is a counter of
    // deleted carts. It draws on stderr, and only when stderr is a terminal.
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} [{elapsed}] deleted {pos} carts ({per_sec})")
            .expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let progress = |deleted: u64| {
        if bar.is_hidden() {
            println!("  deleted {deleted} so far");
        } else {
            bar.set_position(deleted);
        }
    };
    let result = prune(&storage, older_than, cli.batch_size, cli.dry_run, &progress).await;
    bar.finish_and_clear();
    let pruned = result?;
    if cli.dry_run {
        println!("dry run: {} carts would be deleted", pruned.matched);
    } else {
        println!("matched {}, deleted {}", pruned.matched, pruned.deleted);
    }
    Ok(())
}
