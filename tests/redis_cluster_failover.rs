//! A primary of the Redis Cluster dies under load (`kill -KILL`, as a crash would): 8 clients
//! keep adding through the library, with replica acknowledgements on. The adds whose carts live
//! on the dead primary's slots fail (503-class `Unavailable`) for a bounded time and then succeed
//! once its replica has taken over and the killed node is back as a replica; nothing that was
//! acknowledged is lost, and each add that was not is in at most once. The test starts the killed
//! node again, so the cluster ends as healthy as it began (and `./scripts/test` repairs it if
//! this test dies half-way).
//!
//! Its own test binary: no other test runs on the cluster while a primary is down.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum_cart::storage::{CartKey, CartStorage, ModifyOptions};
use axum_cart::{CartContents, CartItem, Currency, Money};
use common::cluster;
use tokio::sync::Mutex;

const CLIENTS: usize = 8;

/// What one client saw of its cart.
#[derive(Default)]
struct Tally {
    acknowledged: u32,
    failed: u32,
    /// When an add first failed, and when one succeeded first after that.
    first_failure: Option<Instant>,
    recovered: Option<Instant>,
}

fn config_value(port: u16, name: &str) -> String {
    let reply = cluster::cli(port, &["config", "get", name]).expect("the node answers");
    reply.lines().nth(1).unwrap_or_default().to_owned()
}

/// How to start the node on `port` again as it runs now (the settings `./scripts/test` gave it).
fn restart_command(port: u16) -> Command {
    let mut command = Command::new("redis-server");
    command.args([
        "--daemonize",
        "yes",
        "--bind",
        "127.0.0.1",
        "--port",
        &port.to_string(),
    ]);
    command.args(["--cluster-enabled", "yes"]);
    for name in [
        "cluster-config-file",
        "cluster-node-timeout",
        "dir",
        "logfile",
        "pidfile",
    ] {
        command
            .arg(format!("--{name}"))
            .arg(config_value(port, name));
    }
    command.args(["--save", "", "--appendonly", "no"]);
    command
}

fn pid_of(port: u16) -> u32 {
    let info = cluster::cli(port, &["info", "server"]).expect("the node answers");
    info.lines()
        .find_map(|line| line.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
        .expect("INFO server names the process id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_primary_dies_under_load_and_nothing_acknowledged_is_lost() {
    assert!(
        cluster::wait_healthy(Duration::from_secs(60)),
        "the Redis Cluster at {} is not healthy: run ./scripts/test",
        cluster::url()
    );
    let storage = cluster::fresh_storage_with(4)
        .await
        .with_replica_acks(1, Duration::from_millis(500));
    let nodes = cluster::nodes();
    let victim = nodes.iter().find(|n| n.is_primary()).unwrap().clone();
    // Half the carts on the victim's slots, half elsewhere.
    let mut keys = Vec::new();
    let (mut on_victim, mut elsewhere) = (0, 0);
    while keys.len() < CLIENTS {
        let key = CartKey::new(
            format!("failover-{}", uuid::Uuid::new_v4().simple()),
            "default",
        );
        let there = victim.serves(cluster::slot(&storage.cart_key(&key)));
        if there && on_victim < CLIENTS / 2 {
            on_victim += 1;
            keys.push((key, true));
        } else if !there && elsewhere < CLIENTS / 2 {
            elsewhere += 1;
            keys.push((key, false));
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let tallies: Vec<Arc<Mutex<Tally>>> = (0..CLIENTS).map(|_| Arc::default()).collect();
    let mut clients = Vec::new();
    for ((key, _), tally) in keys.iter().cloned().zip(tallies.iter().cloned()) {
        let (storage, stop) = (storage.clone(), Arc::clone(&stop));
        clients.push(tokio::spawn(async move {
            let options = ModifyOptions::default();
            let add = |cart: &mut CartContents| {
                let price = Money::parse("1.00", Currency::USD)?;
                cart.add(CartItem::new("sku", "Thing", price, 1))
                    .map(|_| ())
            };
            while !stop.load(Ordering::Relaxed) {
                let result = storage.modify(&key, &options, &add).await;
                let mut tally = tally.lock().await;
                match result {
                    Ok(_) => {
                        tally.acknowledged += 1;
                        if tally.first_failure.is_some() && tally.recovered.is_none() {
                            tally.recovered = Some(Instant::now());
                        }
                    }
                    Err(_) => {
                        tally.failed += 1;
                        tally.first_failure.get_or_insert_with(Instant::now);
                        drop(tally);
                        // A client backs off a little before it tries again.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }));
    }

    // Load first, so that the kill lands among writes.
    let acknowledged = || async {
        let mut sum = 0;
        for tally in &tallies {
            sum += tally.lock().await.acknowledged;
        }
        sum
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while acknowledged().await < 200 {
        assert!(Instant::now() < deadline, "the clients make no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let restart = restart_command(victim.port);
    let killed_at = Instant::now();
    common::process::signal(pid_of(victim.port), "KILL");
    println!("killed the primary on port {} under load", victim.port);

    // Its replica takes over after the node timeout; then the killed node comes back (as a
    // replica of the new primary), so that writes there can be acknowledged by a replica again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let nodes = cluster::nodes();
        let promoted = nodes.iter().any(|n| {
            n.is_primary() && !n.failing() && n.port != victim.port && n.slots == victim.slots
        });
        if promoted {
            break;
        }
        assert!(Instant::now() < deadline, "no replica took over: {nodes:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let promoted_after = killed_at.elapsed();
    let mut restart = restart;
    assert!(restart.status().unwrap().success(), "redis-server restarts");
    assert!(
        cluster::wait_healthy(Duration::from_secs(60)),
        "the cluster is healthy again after the restart"
    );

    // Every client on the victim's slots succeeds again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut all = true;
        for ((_, there), tally) in keys.iter().zip(&tallies) {
            let tally = tally.lock().await;
            if *there && (tally.first_failure.is_none() || tally.recovered.is_none()) {
                all = false;
            }
        }
        if all {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the victim's carts never recovered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A little more load on the healed cluster, then stop.
    let before = acknowledged().await;
    while acknowledged().await < before + 100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }

    let mut report = BTreeMap::new();
    let mut longest = Duration::ZERO;
    let (mut total_acked, mut total_stored, mut total_failed) = (0, 0, 0);
    for ((key, there), tally) in keys.iter().zip(&tallies) {
        let tally = tally.lock().await;
        let stored = storage
            .load(key)
            .await
            .unwrap()
            .and_then(|cart| cart.value.get("sku").map(|line| line.quantity()))
            .unwrap_or(0);
        assert!(
            stored >= tally.acknowledged,
            "cart {key}: {} adds acknowledged, {stored} stored: acknowledged adds were lost",
            tally.acknowledged
        );
        assert!(
            stored <= tally.acknowledged + tally.failed,
            "cart {key}: {stored} stored from {} acknowledged and {} failed adds: an add applied twice",
            tally.acknowledged,
            tally.failed
        );
        if *there {
            let window = tally.recovered.unwrap() - tally.first_failure.unwrap();
            longest = longest.max(window);
        }
        total_acked += tally.acknowledged;
        total_stored += stored;
        total_failed += tally.failed;
        report.insert(
            key.identifier().to_owned(),
            (*there, tally.acknowledged, tally.failed, stored),
        );
    }
    for (identifier, (there, acked, failed, stored)) in &report {
        println!(
            "{identifier} ({}): acknowledged {acked}, failed {failed}, stored {stored}",
            if *there {
                "on the killed primary"
            } else {
                "elsewhere"
            }
        );
    }
    println!(
        "failover: replica promoted {promoted_after:?} after the kill; longest failure window \
         {longest:?}; acknowledged {total_acked}, stored {total_stored}, failed {total_failed}"
    );
    assert!(
        longest < Duration::from_secs(30),
        "the failure window {longest:?} must stay bounded"
    );
}
