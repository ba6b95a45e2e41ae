//! Moving 10 000 carts between real drivers: memory → Redis, Redis → Postgres, Postgres → Redis,
//! and a Redis Cluster → Postgres → a Redis Cluster (its scan walks every primary).
//! Every cart's items, conditions, metadata and totals survive; a re-run copies nothing; a dry run
//! writes nothing; a newer target cart is left alone. Then the races of a move on the real
//! drivers: a copy against writers in the target, and reads against deletes during dual writes.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum_cart::cart::Rule;
use axum_cart::storage::{
    CartKey, CartStorage, CopyOptions, DualWriteStorage, ModifyOptions, copy_carts, new_write_id,
};
use axum_cart::{
    CartContents, CartItem, Condition, ConditionTarget, Currency, MemoryStorage, Money,
};
use common::{cluster, pg, process, redis};
use futures_util::StreamExt;

const CARTS: usize = 10_000;

fn cart(i: usize) -> CartContents {
    let usd = |minor: i64| Money::from_minor(minor, Currency::USD);
    let mut cart = CartContents::new(Currency::USD);
    cart.add(
        CartItem::new(
            format!("sku-{}", i % 97),
            "Thing",
            usd(100 + (i as i64 % 5000)),
            1 + (i % 4) as u32,
        )
        .with_attribute("size", ["S", "M", "L"][i % 3])
        .with_condition(
            Condition::new("member", "discount", ConditionTarget::Item, "-5%").unwrap(),
        ),
    )
    .unwrap();
    if i % 2 == 0 {
        cart.add(CartItem::new("gift", "Gift wrap", usd(250), 1))
            .unwrap();
    }
    cart.add_condition(
        Condition::new("bulk", "discount", ConditionTarget::Subtotal, "-10%")
            .unwrap()
            .with_rule(Rule::MinQuantity { value: 3 }),
    )
    .unwrap();
    cart.add_shipping("ground", "+4.99").unwrap();
    cart.set_metadata("source", serde_json::json!({"campaign": i % 7}))
        .unwrap();
    // As every write of this crate does (fixed, so that `cart(i)` is the same cart every time):
    // the copy decides by these ids.
    cart.record_write(format!("fill-{i}"));
    cart
}

fn key(run: &str, i: usize) -> CartKey {
    CartKey::new(
        format!("{run}-guest-{i}"),
        if i % 10 == 0 { "wishlist" } else { "default" },
    )
}

/// Runs `each` for every cart number, 32 at a time (the backends are remote: hide round trips).
async fn for_every_cart<F, Fut>(each: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    futures_util::stream::iter(0..CARTS)
        .for_each_concurrent(32, each)
        .await;
}

async fn fill(storage: &dyn CartStorage, run: &str) {
    for_every_cart(|i| async move {
        storage.save(&key(run, i), &cart(i), None).await.unwrap();
    })
    .await;
}

/// Copies `from` → `to` and checks what a move promises: a dry run writes nothing, a target cart
/// newer than its source is left alone, every other cart arrives equal with equal totals, and a
/// re-run copies nothing.
async fn check_move(from: &dyn CartStorage, to: &dyn CartStorage, run: &str) {
    let dry = copy_carts(
        from,
        to,
        CopyOptions {
            batch_size: 1000,
            dry_run: true,
            progress: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(dry.copied as usize, CARTS);
    assert!(
        to.load(&key(run, 1)).await.unwrap().is_none(),
        "a dry run writes nothing"
    );

    // A target cart written after it received the source's cart is newer, and must survive the
    // move (whatever the two backends' clocks say).
    let newer = key(run, 3);
    let mut theirs = from.load(&newer).await.unwrap().unwrap().value;
    theirs
        .add(CartItem::new(
            "kept",
            "Kept",
            Money::from_minor(1, Currency::USD),
            1,
        ))
        .unwrap();
    theirs.record_write(new_write_id());
    to.save(&newer, &theirs, None).await.unwrap();

    let report = copy_carts(
        from,
        to,
        CopyOptions {
            batch_size: 1000,
            dry_run: false,
            progress: None,
        },
    )
    .await
    .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed.first());
    assert_eq!(report.copied as usize, CARTS - 1);
    assert_eq!(report.target_newer, vec![newer.clone()]);
    assert!(to.load(&newer).await.unwrap().unwrap().value.has("kept"));

    for_every_cart(|i| async move {
        if i == 3 {
            return;
        }
        let source = from.load(&key(run, i)).await.unwrap().unwrap().value;
        let copied = to.load(&key(run, i)).await.unwrap().unwrap().value;
        assert_eq!(copied, source, "cart {i}");
        assert_eq!(
            copied.totals().unwrap(),
            source.totals().unwrap(),
            "totals of cart {i}"
        );
    })
    .await;

    let again = copy_carts(from, to, CopyOptions::default()).await.unwrap();
    assert_eq!(again.copied, 0, "a re-run copies nothing");
    assert_eq!(again.unchanged as usize, CARTS - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_carts_memory_to_redis() {
    let memory = MemoryStorage::new();
    fill(&memory, "m2r").await;
    let redis = redis::fresh_storage().await;
    check_move(&memory, &redis, "m2r").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_carts_redis_to_postgres_and_postgres_to_redis() {
    let redis = redis::fresh_storage().await;
    fill(&redis, "r2p").await;
    let postgres = pg::fresh_storage().await;
    check_move(&redis, &postgres, "r2p").await;

    let back = redis::fresh_storage().await;
    let postgres_only = pg::fresh_storage().await;
    fill(&postgres_only, "p2r").await;
    check_move(&postgres_only, &back, "p2r").await;
}

/// On a Redis Cluster the carts spread over the three primaries' slots: a scan that walked one
/// node would find a third of them, and the move's counts (every cart copied) would fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_carts_from_a_redis_cluster_to_postgres_and_back_identical() {
    let source = cluster::fresh_storage_with(4).await;
    fill(&source, "c2p").await;
    let postgres = pg::fresh_storage().await;
    check_move(&source, &postgres, "c2p").await;

    let back = cluster::fresh_storage_with(4).await;
    check_move(&postgres, &back, "c2p").await;
    // Round trip: every cart on the second cluster prefix equals the first's (but cart 3, which
    // each move's check changed in its target on purpose).
    let (source, back) = (&source, &back);
    for_every_cart(|i| async move {
        if i == 3 {
            return;
        }
        let original = source.load(&key("c2p", i)).await.unwrap().unwrap().value;
        let returned = back.load(&key("c2p", i)).await.unwrap().unwrap().value;
        assert_eq!(returned, original, "cart {i} after the round trip");
    })
    .await;
}

/// Carts of the concurrency runs below: fewer than a full move, as each does real round trips.
const RACED: usize = 300;

/// `cart(i)` after one more write, as the old driver holds it while the new one may still hold
/// `cart(i)`.
fn moved_on(i: usize) -> CartContents {
    let mut cart = cart(i);
    cart.add(CartItem::new(
        "more",
        "More",
        Money::from_minor(300, Currency::USD),
        2,
    ))
    .unwrap();
    cart.record_write(format!("more-{i}"));
    cart
}

/// Postgres → Redis while a writer adds to every cart in Redis: the copy replaces earlier
/// states and creates missing carts with compare-and-set, so every unit a writer committed is
/// still there at the end, whichever of the two got to the cart first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copying_while_writers_change_the_target_loses_no_write() {
    let old = pg::fresh_storage().await;
    let new = redis::fresh_storage().await;
    let run = "race";
    futures_util::stream::iter(0..RACED)
        .for_each_concurrent(32, |i| {
            let (old, new) = (&old, &new);
            async move {
                old.save(&key(run, i), &moved_on(i), None).await.unwrap();
                // Half the carts are in the target at an earlier state, half are not there yet.
                if i % 2 == 0 {
                    new.save(&key(run, i), &cart(i), None).await.unwrap();
                }
            }
        })
        .await;

    const WRITES: u32 = 3;
    let options = ModifyOptions {
        // A writer never gives up here, so what is missing at the end was lost, not refused.
        retry_budget: std::time::Duration::from_secs(60),
        ..ModifyOptions::default()
    };
    let writers = tokio::spawn({
        let (new, options) = (new.clone(), options.clone());
        async move {
            futures_util::stream::iter(0..RACED)
                .for_each_concurrent(32, |i| {
                    let (new, options) = (&new, &options);
                    async move {
                        for _ in 0..WRITES {
                            let add = |cart: &mut CartContents| {
                                cart.add(CartItem::new(
                                    "writer",
                                    "Writer's",
                                    Money::from_minor(100, Currency::USD),
                                    1,
                                ))
                                .map(|_| ())
                            };
                            new.modify(&key(run, i), options, &add).await.unwrap();
                        }
                    }
                })
                .await;
        }
    });
    let report = copy_carts(
        &old,
        &new,
        CopyOptions {
            batch_size: 50,
            ..CopyOptions::default()
        },
    )
    .await
    .unwrap();
    writers.await.unwrap();

    assert_eq!(report.scanned as usize, RACED);
    assert_eq!(
        report.copied as usize
            + report.unchanged as usize
            + report.target_newer.len()
            + report.failed.len(),
        RACED
    );
    let mut lost_units = 0;
    let mut copy_missing = Vec::new();
    for i in 0..RACED {
        let stored = new.load(&key(run, i)).await.unwrap().unwrap();
        lost_units += WRITES - stored.value.get("writer").map_or(0, |item| item.quantity());
        // A cart the copy did not report as left alone (or failed) holds the source's write.
        let left_alone = report.target_newer.contains(&key(run, i))
            || report
                .failed
                .iter()
                .any(|(failed, _)| *failed == key(run, i));
        if !left_alone && !stored.value.has_write(&format!("more-{i}")) {
            copy_missing.push(i);
        }
    }
    assert_eq!(
        lost_units, 0,
        "units the writers committed and the copy overwrote"
    );
    assert_eq!(copy_missing, Vec::<usize>::new());
}

/// Redis (new) and Postgres (old) behind a dual-write storage in two processes: one reads every
/// cart (copying it from Postgres on the way) while the other deletes it. No read that starts
/// after a delete answered finds the cart, and no cart is left in either driver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_during_dual_write_never_comes_back_with_real_drivers() {
    let old = pg::fresh_storage().await;
    let new = redis::fresh_storage().await;
    let run = "deleted";
    futures_util::stream::iter(0..RACED)
        .for_each_concurrent(32, |i| {
            let old = &old;
            async move {
                old.save(&key(run, i), &cart(i), None).await.unwrap();
            }
        })
        .await;
    let reader = DualWriteStorage::new(Arc::new(new.clone()), Arc::new(old.clone()));
    let deleter = DualWriteStorage::new(Arc::new(new.clone()), Arc::new(old.clone()));

    let resurrected = AtomicUsize::new(0);
    futures_util::stream::iter(0..RACED)
        .for_each_concurrent(16, |i| {
            let (reader, deleter, resurrected) = (&reader, &deleter, &resurrected);
            async move {
                let deleted = AtomicBool::new(false);
                let reads = async {
                    for _ in 0..6 {
                        let after_delete = deleted.load(Ordering::SeqCst);
                        let found = reader.load(&key(run, i)).await.unwrap();
                        if after_delete && found.is_some() {
                            resurrected.fetch_add(1, Ordering::Relaxed);
                        }
                        tokio::task::yield_now().await;
                    }
                };
                let delete = async {
                    tokio::task::yield_now().await;
                    deleter.delete(&key(run, i)).await.unwrap();
                    deleted.store(true, Ordering::SeqCst);
                };
                tokio::join!(reads, delete);
            }
        })
        .await;

    assert_eq!(
        resurrected.load(Ordering::Relaxed),
        0,
        "reads after a delete found the cart"
    );
    let mut left = Vec::new();
    for i in 0..RACED {
        let key = key(run, i);
        if reader.load(&key).await.unwrap().is_some()
            || deleter.load(&key).await.unwrap().is_some()
            || new.load(&key).await.unwrap().is_some()
            || old.load(&key).await.unwrap().is_some()
        {
            left.push(i);
        }
    }
    assert_eq!(left, Vec::<usize>::new(), "deleted carts still stored");
    assert_eq!(reader.old_failures() + deleter.old_failures(), 0);
}

#[test]
fn the_migrate_example_documents_its_flags_and_rejects_bad_ones() {
    let run = |args: &[&str]| {
        let output = std::process::Command::new(process::example_path("migrate"))
            .args(args)
            .env_remove("REDIS_URL")
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        (
            output.status.code().expect("exited, not killed"),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let (code, help, _) = run(&["--help"]);
    assert_eq!(code, 0, "{help}");
    let names = [
        "--from",
        "--to",
        "--dry-run",
        "--batch-size",
        "--cache-url",
        "--database-url",
        "cache",
        "database",
        "REDIS_URL",
        "DATABASE_URL",
    ];
    for name in names
        .into_iter()
        .chain(axum_cart::settings::ENV_VARS.iter().map(|(var, _)| *var))
    {
        assert!(help.contains(name), "`{name}` is not in the help:\n{help}");
    }

    for bad in [
        &["--bogus"][..],
        &["--from", "cache", "--to", "redis"],
        &["--from", "cache", "--to", "cache"],
        &["--from", "cache", "--to", "database", "--batch-size", "0"],
        &["--to", "database"],
    ] {
        let (code, _, stderr) = run(bad);
        assert_eq!(code, 2, "{bad:?}: {stderr}");
        assert!(stderr.contains("error:"), "{bad:?}: {stderr}");
    }
}

#[tokio::test]
async fn the_migrate_example_reports_and_is_idempotent() {
    let redis = redis::fresh_storage().await;
    for i in 0..30 {
        redis.save(&key("cli", i), &cart(i), None).await.unwrap();
    }
    let postgres = pg::fresh_storage().await;
    let url = pg::test_database_url().await;
    let run = |extra: &[&str]| {
        let output = std::process::Command::new(process::example_path("migrate"))
            .args(["--from", "cache", "--to", "database", "--batch-size", "7"])
            .args(extra)
            .env("REDIS_URL", redis::url())
            .env("CART_CACHE_PREFIX", redis.prefix())
            .env("DATABASE_URL", &url)
            .env("CART_DB_TABLE", postgres.table())
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let dry = run(&["--dry-run"]);
    assert!(dry.contains("dry run: scanned 30, copied 30"), "{dry}");
    assert!(postgres.load(&key("cli", 0)).await.unwrap().is_none());
    let done = run(&[]);
    assert!(
        done.contains("done: scanned 30, copied 30, skipped 0"),
        "{done}"
    );
    assert_eq!(
        postgres.load(&key("cli", 5)).await.unwrap().unwrap().value,
        cart(5)
    );
    let again = run(&[]);
    assert!(
        again.contains("copied 0, skipped 30 (unchanged 30"),
        "{again}"
    );
}
