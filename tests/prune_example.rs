//! `cargo run --example prune` on back-dated carts: a dry run counts, a real run deletes in batches.

mod support;

#[path = "support/pg.rs"]
mod pg;

use axum_cart::{CartContents, CartItem, CartKey, CartStorage, Currency, Money};

fn run_prune(url: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(support::example_path("prune"))
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
