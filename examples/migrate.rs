//! Moves every cart from one driver to another.
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379 DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo run --example migrate -- --from cache --to database [--dry-run] [--batch-size N]
//! ```
//!
//! Drivers are configured like the shop's (`CART_CACHE_PREFIX`, `CART_DB_TABLE`, ...; see
//! `axum_cart::settings::ENV_VARS`). A re-run copies nothing new; a cart that is newer in the
//! target is left alone and reported.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use axum_cart::settings::{CartSettings, StorageKind};
use axum_cart::{CartStorage, MigrateOptions, MigrationReport, migrate};

const USAGE: &str =
    "usage: migrate --from cache|database --to cache|database [--dry-run] [--batch-size N]";

async fn open(settings: &CartSettings, kind: &str) -> Result<Arc<dyn CartStorage>, String> {
    let kind: StorageKind = match kind {
        "cache" => StorageKind::Cache,
        "database" => StorageKind::Database,
        other => {
            return Err(format!(
                "`{other}` cannot be migrated: expected cache or database"
            ));
        }
    };
    Ok(match kind {
        StorageKind::Cache => Arc::new(settings.connect_cache().await.map_err(|e| e.to_string())?),
        _ => Arc::new(
            settings
                .connect_database()
                .await
                .map_err(|e| e.to_string())?,
        ),
    })
}

fn draw(report: &MigrationReport) {
    // The number of carts is not known up front (drivers are read page by page), so the bar
    // shows the share of scanned carts that were copied, skipped and failed.
    let scanned = report.scanned.max(1);
    let width = 30u64;
    let copied = report.copied * width / scanned;
    let skipped = report.skipped() * width / scanned;
    let failed = width
        .saturating_sub(copied + skipped)
        .min(report.failed.len() as u64 * width / scanned + 1);
    let bar = format!(
        "{}{}{}",
        "#".repeat(copied as usize),
        "=".repeat(skipped as usize),
        "!".repeat(if report.failed.is_empty() {
            0
        } else {
            failed as usize
        })
    );
    print!(
        "\r[{bar:<30}] scanned {} | copied {} | skipped {} | failed {}",
        report.scanned,
        report.copied,
        report.skipped(),
        report.failed.len()
    );
    let _ = std::io::stdout().flush();
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut from = None;
    let mut to = None;
    let mut dry_run = false;
    let mut batch_size = 500usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--from" => from = args.next(),
            "--to" => to = args.next(),
            "--dry-run" => dry_run = true,
            "--batch-size" => match args.next().and_then(|n| n.parse().ok()).filter(|n| *n > 0) {
                Some(n) => batch_size = n,
                None => {
                    eprintln!("migrate: --batch-size needs a positive number\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!("migrate: unknown argument {arg:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let (Some(from), Some(to)) = (from, to) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if from == to {
        eprintln!("migrate: --from and --to are the same driver");
        return ExitCode::from(2);
    }
    let result = async {
        let settings = CartSettings::from_env().map_err(|e| e.to_string())?;
        let source = open(&settings, &from).await?;
        let target = open(&settings, &to).await?;
        println!(
            "{} carts from {from} to {to} in batches of {batch_size}",
            if dry_run {
                "counting (dry run)"
            } else {
                "copying"
            }
        );
        let progress = |report: &MigrationReport| draw(report);
        let report = migrate(
            source.as_ref(),
            target.as_ref(),
            MigrateOptions {
                batch_size,
                dry_run,
                progress: Some(&progress),
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        println!();
        Ok::<_, String>(report)
    }
    .await;
    match result {
        Ok(report) => {
            println!(
                "{}: scanned {}, copied {}, skipped {} (unchanged {}, newer in target {}, vanished {}), failed {}",
                if dry_run { "dry run" } else { "done" },
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
