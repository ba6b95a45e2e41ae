//! `cargo run --example prune` on back-dated carts: a dry run counts, a real run deletes in batches.

mod common;

// `support`: the name this file's body uses for `common::process`.
use common::{pg, process};

use axum_cart::storage::{CartKey, CartStorage};
use axum_cart::{CartContents, CartItem, Currency, Money};

fn run_prune(url: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(process::example_path("prune"))
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .unwrap();
    assert!(output.status.success(), "prune failed: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn the_prune_example_counts_then_deletes_in_batches() {
    let storage = pg::fresh_storage().await;
    let mut cart = CartContents::new(Currency::USD);
    cart.add(CartItem::new(
        "a",
        "Apple",
        Money::parse("1.00", Currency::USD).unwrap(),
        1,
    ))
    .unwrap();
    for i in 0..25 {
        storage
            .save(&CartKey::new(format!("stale-{i}"), "default"), &cart, None)
            .await
            .unwrap();
    }
    storage
        .save(&CartKey::new("recent", "default"), &cart, None)
        .await
        .unwrap();
    sqlx::query(&format!(
        "UPDATE {} SET updated_at = now() - interval '8 days' WHERE identifier LIKE 'stale-%'",
        storage.table()
    ))
    .execute(storage.pool())
    .await
    .unwrap();
    let url = pg::test_database_url().await;
    let table = storage.table().to_owned();

    let dry = run_prune(
        &url,
        &[
            "--days",
            "7",
            "--dry-run",
            "--batch-size",
            "10",
            "--table",
            &table,
        ],
    );
    assert!(dry.contains("dry run: 25 carts would be deleted"), "{dry}");
    assert!(
        storage
            .load(&CartKey::new("stale-0", "default"))
            .await
            .unwrap()
            .is_some()
    );

    let real = run_prune(
        &url,
        &["--days", "7", "--batch-size", "10", "--table", &table],
    );
    assert!(
        real.contains("deleted 10 so far") && real.contains("deleted 20 so far"),
        "{real}"
    );
    assert!(real.contains("matched 25, deleted 25"), "{real}");
    assert!(
        storage
            .load(&CartKey::new("stale-0", "default"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        storage
            .load(&CartKey::new("recent", "default"))
            .await
            .unwrap()
            .is_some()
    );
}

/// Runs a built example with `args` and no database settings; returns (exit code, stdout, stderr).
fn run_example(name: &str, args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(process::example_path(name))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .output()
        .unwrap();
    (
        output.status.code().expect("exited, not killed"),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn the_prune_example_documents_its_flags_and_rejects_bad_ones() {
    let (code, help, _) = run_example("prune", &["--help"]);
    assert_eq!(code, 0, "{help}");
    for name in [
        "--days",
        "--batch-size",
        "--dry-run",
        "--table",
        "--database-url",
        "DATABASE_URL",
    ] {
        assert!(help.contains(name), "`{name}` is not in the help:\n{help}");
    }

    let (code, _, stderr) = run_example("prune", &["--bogus"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("error:") && stderr.contains("--bogus"),
        "{stderr}"
    );
    let (code, _, stderr) = run_example("prune", &["--batch-size", "0"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("error:"), "{stderr}");
}

#[test]
fn the_worker_example_documents_its_flags_and_environment() {
    let (code, help, _) = run_example("worker", &["--help"]);
    assert_eq!(code, 0, "{help}");
    let flags = [
        "--idle-secs",
        "--interval-secs",
        "--port",
        "WORKER_IDLE_SECS",
        "WORKER_INTERVAL_SECS",
        "PORT",
        "REDIS_URL",
        "DATABASE_URL",
    ];
    for name in flags
        .into_iter()
        .chain(axum_cart::settings::ENV_VARS.iter().map(|(var, _)| *var))
    {
        assert!(help.contains(name), "`{name}` is not in the help:\n{help}");
    }

    let (code, _, stderr) = run_example("worker", &["--bogus"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("error:") && stderr.contains("--bogus"),
        "{stderr}"
    );
}
