//! Copies every cart from one storage driver to another: from Redis (`cache`) to Postgres
//! (`database`) or back.
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379 DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo run --example migrate -- --from cache --to database --batch-size 500 --dry-run
//! ```
//!
//! The drivers are configured by the same `CART_*` variables as a shop (`CART_CACHE_PREFIX`,
//! `CART_DB_TABLE`, ...; `--help` lists them all). Carts are read page by page; a spinner on
//! stderr shows the running counts when stderr is a terminal, otherwise one line per page goes
//! to stdout. A re-run copies nothing new, and a cart that is newer in the target is left alone
//! and reported. Exits 1 when any cart failed to copy, 2 on bad arguments.
//!
//! On a Redis Cluster (`REDIS_URL=redis-cluster://host:port?node=host:port&...`) the scan walks
//! every primary, so every cart is copied.

use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

// The library calls, all in this block.
use axum_cart::settings::{CartSettings, ENV_VARS};
use axum_cart::storage::{CartStorage, CopyOptions, CopyReport, copy_carts};

async fn open(settings: &CartSettings, driver: DriverArg) -> Result<Arc<dyn CartStorage>, String> {
    Ok(match driver {
        DriverArg::Cache => Arc::new(settings.connect_cache().await.map_err(|e| e.to_string())?),
        DriverArg::Database => Arc::new(
            settings
                .connect_database()
                .await
                .map_err(|e| e.to_string())?,
        ),
    })
}

async fn copy(
    source: &dyn CartStorage,
    target: &dyn CartStorage,
    batch_size: usize,
    dry_run: bool,
    progress: &(dyn Fn(&CopyReport) + Send + Sync),
) -> Result<CopyReport, String> {
    copy_carts(
        source,
        target,
        CopyOptions {
            batch_size,
            dry_run,
            progress: Some(progress),
        },
    )
    .await
    .map_err(|e| e.to_string())
}
// End of the library calls.

/// Copy every cart from one storage driver to another.
///
/// Carts are read from the source page by page and written to the target. A cart already
/// identical in the target is skipped, and so is one whose copy in the target is newer than the
/// source's (it is listed at the end), so running the copy again copies nothing new.
///
/// Exits 0 when every cart was copied or skipped, 1 when any cart failed (each is listed), 2 on
/// bad arguments.
#[derive(Debug, Parser)]
#[command(verbatim_doc_comment, name = "migrate", version)]
struct Cli {
    /// The driver to read carts from.
    #[arg(long, value_enum, value_name = "DRIVER")]
    from: DriverArg,

    /// The driver to write carts to (not the same as --from).
    #[arg(long, value_enum, value_name = "DRIVER")]
    to: DriverArg,

    /// Only count what would be copied; write nothing.
    #[arg(long)]
    dry_run: bool,

    /// Carts read per page.
    #[arg(long, value_name = "N", default_value = "500")]
    batch_size: NonZeroUsize,

    /// Redis URL of the cache driver (CART_CACHE_URL, when set, wins over REDIS_URL).
    #[arg(long, value_name = "URL", env = "REDIS_URL", hide_env_values = true)]
    cache_url: Option<String>,

    /// Postgres URL of the database driver (CART_DB_URL, when set, wins over DATABASE_URL).
    #[arg(long, value_name = "URL", env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

/// A driver carts can be copied between.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DriverArg {
    /// Redis (configured by REDIS_URL / CART_CACHE_*).
    Cache,
    /// Postgres (configured by DATABASE_URL / CART_DB_*).
    Database,
}

impl DriverArg {
    fn name(self) -> &'static str {
        match self {
            DriverArg::Cache => "cache",
            DriverArg::Database => "database",
        }
    }
}

/// The `--help` text after the flags: every `CART_*` variable the settings read.
fn environment_help() -> String {
    let mut text = String::from(
        "Environment:\n  The drivers are configured like a shop's, by these variables \
         (unset ones keep their defaults):\n",
    );
    for (var, setting) in ENV_VARS {
        text.push_str(&format!("  {var:<30}{setting}\n"));
    }
    text.push_str(
        "\nExample:\n  REDIS_URL=redis://127.0.0.1:6379 \
         DATABASE_URL=postgres://127.0.0.1/shop \\\n    \
         migrate --from cache --to database --dry-run",
    );
    text
}

/// Parses the command line (exits 0 for --help/--version, 2 with clap's message on bad input).
fn parse() -> (Cli, bool, bool) {
    let mut command = Cli::command()
        .after_help("Run with --help for the CART_* environment variables.")
        .after_long_help(environment_help());
    let matches = command.get_matches_mut();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut command).exit());
    if cli.from == cli.to {
        command
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--from and --to name the same driver",
            )
            .exit();
    }
    let typed = |id| matches.value_source(id) == Some(ValueSource::CommandLine);
    let (cache_url_typed, database_url_typed) = (typed("cache_url"), typed("database_url"));
    (cli, cache_url_typed, database_url_typed)
}

fn counts(report: &CopyReport) -> String {
    format!(
        "scanned {} | copied {} | skipped {} | failed {}",
        report.scanned,
        report.copied,
        report.skipped(),
        report.failed.len()
    )
}

#[tokio::main]
async fn main() -> ExitCode {
    let (cli, cache_url_typed, database_url_typed) = parse();
    let (from, to) = (cli.from.name(), cli.to.name());
    let result = async {
        let mut settings = CartSettings::from_env().map_err(|e| e.to_string())?;
        // From the environment, REDIS_URL and DATABASE_URL are already fallbacks in the settings;
        // typed on the command line they win over everything.
        if cache_url_typed {
            settings.cache.url = cli.cache_url.clone();
        }
        if database_url_typed {
            settings.database.url = cli.database_url.clone();
        }
        let source = open(&settings, cli.from).await?;
        let target = open(&settings, cli.to).await?;
        println!(
            "{} carts from {from} to {to} in batches of {}",
            if cli.dry_run {
                "counting (dry run)"
            } else {
                "copying"
            },
            cli.batch_size
        );
        // The number of carts is not known up front (drivers are read page by page): a spinner
        // with the running counts. It draws on stderr, and only when stderr is a terminal.
        let spinner = ProgressBar::new_spinner()
            .with_style(
                ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
                    .expect("a valid template"),
            )
            .with_message("scanning");
        spinner.enable_steady_tick(Duration::from_millis(120));
        let progress = |report: &CopyReport| {
            if spinner.is_hidden() {
                println!("  {}", counts(report));
            } else {
                spinner.set_message(counts(report));
            }
        };
        let report = copy(
            source.as_ref(),
            target.as_ref(),
            cli.batch_size.get(),
            cli.dry_run,
            &progress,
        )
        .await;
        spinner.finish_and_clear();
        report
    }
    .await;
    match result {
        Ok(report) => {
            println!(
                "{}: scanned {}, copied {}, skipped {} (unchanged {}, newer in target {}, vanished {}), failed {}",
                if cli.dry_run { "dry run" } else { "done" },
                report.scanned,
                report.copied,
                report.skipped(),
                report.unchanged,
                report.target_newer.len(),
                report.vanished,
                report.failed.len()
            );
            for key in &report.target_newer {
                println!("  left alone (newer in target): {key}");
            }
            for (key, error) in &report.failed {
                println!("  failed: {key}: {error}");
            }
            if report.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(message) => {
            eprintln!("migrate: {message}");
            ExitCode::FAILURE
        }
    }
}
