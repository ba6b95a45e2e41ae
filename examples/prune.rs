//! Deletes carts nobody has written to for a while from the Postgres `carts` table.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop \
//!     cargo run --example prune -- --days 7 --dry-run --batch-size 1000
//! ```
//!
//! `--days N` (default 30): carts not updated for N days; `--batch-size N` (default 1000): rows
//! per DELETE; `--dry-run`: only count; `--table NAME`: another table (default `carts`).
//! Runs the bundled migrations first when the table is `carts`.

use std::process::ExitCode;
use std::time::Duration;

use axum_cart::PostgresStorage;

struct Args {
    days: u64,
    batch_size: i64,
    dry_run: bool,
    table: Option<String>,
}

const USAGE: &str =
    "usage: prune [--days N] [--batch-size N] [--dry-run] [--table NAME]   (reads DATABASE_URL)";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        days: 30,
        batch_size: 1000,
        dry_run: false,
        table: None,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--days" => {
                args.days = value("--days")?
                    .parse()
                    .map_err(|e| format!("--days: {e}"))?;
            }
            "--batch-size" => {
                args.batch_size = value("--batch-size")?
                    .parse()
                    .map_err(|e| format!("--batch-size: {e}"))?;
                if args.batch_size < 1 {
                    return Err("--batch-size must be at least 1".to_owned());
                }
            }
            "--table" => args.table = Some(value("--table")?),
            "--dry-run" => args.dry_run = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("prune: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("prune: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut storage = PostgresStorage::connect(&url)
        .await
        .map_err(|e| e.to_string())?;
    match &args.table {
        Some(table) => storage = storage.with_table(table).map_err(|e| e.to_string())?,
        None => storage.migrate().await.map_err(|e| e.to_string())?,
    }
    let older_than = Duration::from_secs(args.days.saturating_mul(86_400));
    println!(
        "{} carts of {} not updated for {} days (batches of {})",
        if args.dry_run { "counting" } else { "pruning" },
        storage.table(),
        args.days,
        args.batch_size
    );
    let progress = |deleted: u64| println!("  deleted {deleted} so far");
    let report = storage
        .prune(older_than, args.batch_size, args.dry_run, Some(&progress))
        .await
        .map_err(|e| e.to_string())?;
    if args.dry_run {
        println!("dry run: {} carts would be deleted", report.matched);
    } else {
        println!("matched {}, deleted {}", report.matched, report.deleted);
    }
    Ok(())
}
