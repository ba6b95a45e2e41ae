//! Adds and reads per second through the cache driver on a single Redis and on a Redis Cluster
//! (without and with replica acknowledgements), measured in the same run (`bench/cluster.sh` runs it; see BENCHMARKS.md).
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379 \
//! REDIS_CLUSTER_URL='redis-cluster://127.0.0.1:7000?node=127.0.0.1:7001' \
//! cargo run --release --example cluster_bench -- [seconds-per-run] [rounds]
//! ```
//! `TASKS` (default 16) tasks each work on a cart of their own, as visitors do; each run is
//! bounded by time, and the two targets alternate in every round so that drift on a shared
//! machine hits both alike. Read the ratios, not the absolute numbers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum_cart::storage::{CartKey, CartStorage, ModifyOptions};
use axum_cart::{CartContents, CartItem, Currency, Money, RedisStorage};

#[derive(Clone, Copy)]
enum Work {
    Add,
    Read,
}

/// Operations per second of `tasks` tasks doing `work` for `seconds`.
async fn run(storage: &RedisStorage, work: Work, tasks: usize, seconds: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let prefix = uuid::Uuid::new_v4().simple().to_string();
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (storage, done, stop) = (storage.clone(), Arc::clone(&done), Arc::clone(&stop));
        let key = CartKey::new(format!("bench-{prefix}-{task}"), "default");
        handles.push(tokio::spawn(async move {
            let options = ModifyOptions::default();
            let add = |cart: &mut CartContents| {
                let price = Money::parse("1.00", Currency::USD)?;
                // One line whose quantity grows: a run adds far fewer than the 10 000 a line
                // may hold.
                cart.add(CartItem::new("sku", "Thing", price, 1))
                    .map(|_| ())
            };
            // Every cart exists before a read run starts.
            storage.modify(&key, &options, &add).await.expect("a write");
            while !stop.load(Ordering::Relaxed) {
                match work {
                    Work::Add => {
                        storage.modify(&key, &options, &add).await.expect("an add");
                    }
                    Work::Read => {
                        storage.load(&key).await.expect("a read");
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for handle in handles {
        handle.await.expect("a bench task");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn loopback_only(url: &str) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let hosts = rest
        .split(['?', '&'])
        .map(|part| part.trim_start_matches("node="));
    for hostport in hosts {
        let host = hostport.rsplit_once(':').map_or(hostport, |(host, _)| host);
        assert!(
            host == "127.0.0.1" || host == "localhost",
            "the benchmark only talks to loopback, not {host} ({url})"
        );
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(3);
    let tasks: usize = std::env::var("TASKS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let single_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let cluster_url = std::env::var("REDIS_CLUSTER_URL")
        .expect("REDIS_CLUSTER_URL (./scripts/test --services-only starts a local cluster)");
    loopback_only(&single_url);
    loopback_only(&cluster_url);
    let connect = |url: String| async move {
        RedisStorage::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"))
            .with_prefix("axum-cart-bench")
            .with_ttl(Duration::from_secs(600))
    };
    let single = connect(single_url).await;
    let cluster = connect(cluster_url.clone()).await;
    let acked = connect(cluster_url)
        .await
        .with_replica_acks(1, Duration::from_millis(500));
    let targets = [
        ("single Redis", &single),
        ("Redis Cluster", &cluster),
        ("Redis Cluster, replica acks 1", &acked),
    ];
    let mut results = vec![[Vec::new(), Vec::new()]; targets.len()];
    for round in 0..rounds {
        for (work_index, work) in [Work::Add, Work::Read].into_iter().enumerate() {
            // Rotate which target goes first.
            for step in 0..targets.len() {
                let target = (step + round) % targets.len();
                let rate = run(targets[target].1, work, tasks, seconds).await;
                results[target][work_index].push(rate);
            }
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    println!("{tasks} tasks, {seconds} s per run, median of {rounds} rounds");
    println!("| target | adds/s | reads/s |");
    println!("|---|---|---|");
    let medians: Vec<(f64, f64)> = results
        .into_iter()
        .map(|[adds, reads]| (median(adds), median(reads)))
        .collect();
    for ((name, _), (adds, reads)) in targets.iter().zip(&medians) {
        println!("| {name} | {adds:.0} | {reads:.0} |");
    }
    for ((name, _), (adds, reads)) in targets.iter().zip(&medians).skip(1) {
        println!(
            "| {name} / single | {:.2} | {:.2} |",
            adds / medians[0].0,
            reads / medians[0].1
        );
    }
}
