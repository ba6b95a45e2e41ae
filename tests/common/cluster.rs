//! The Redis Cluster at `REDIS_CLUSTER_URL` (three primaries, three replicas), which
//! `./scripts/test` starts on 127.0.0.1:7000-7005 when none answers. Tests that need it fail
//! loudly without it. Every storage here lives under a prefix of its own and its keys expire
//! within an hour, so runs leave nothing behind for long.

use std::process::Command;
use std::time::{Duration, Instant};

use axum_cart::RedisStorage;

/// `REDIS_CLUSTER_URL`; panics when it is unset.
pub fn url() -> String {
    std::env::var("REDIS_CLUSTER_URL").unwrap_or_else(|_| {
        panic!(
            "REDIS_CLUSTER_URL is not set: these tests need a Redis Cluster \
             (./scripts/test starts one on 127.0.0.1:7000-7005 and sets it)"
        )
    })
}

/// The ports of the nodes the URL names (its host's and each `node=`).
pub fn ports() -> Vec<u16> {
    let url = url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let (first, query) = rest.split_once('?').unwrap_or((rest, ""));
    std::iter::once(first)
        .chain(
            query
                .split('&')
                .filter_map(|pair| pair.strip_prefix("node=")),
        )
        .filter_map(|hostport| hostport.rsplit_once(':')?.1.parse().ok())
        .collect()
}

/// A storage on the cluster with a prefix no other test uses, carts living one hour, through a
/// pool of `connections`.
pub async fn fresh_storage_with(connections: usize) -> RedisStorage {
    let url = url();
    let pool = RedisStorage::pool(&url, connections)
        .await
        .unwrap_or_else(|e| {
            panic!("the Redis Cluster at {url} is not reachable ({e}): run ./scripts/test")
        });
    RedisStorage::new(pool)
        .with_prefix(&format!(
            "axum-cart-test:cluster:{}",
            uuid::Uuid::new_v4().simple()
        ))
        .with_ttl(Duration::from_secs(3600))
}

/// [`fresh_storage_with`] two connections.
pub async fn fresh_storage() -> RedisStorage {
    fresh_storage_with(2).await
}

/// A second pool on `first`'s carts (as a second web server would have).
pub async fn second_storage(first: &RedisStorage) -> RedisStorage {
    let pool = RedisStorage::pool(&url(), 2).await.unwrap();
    RedisStorage::new(pool)
        .with_prefix(first.prefix())
        .with_ttl(Duration::from_secs(3600))
}

/// `redis-cli -p port args...` on loopback: its output, or `None` when the node does not answer.
pub fn cli(port: u16, args: &[&str]) -> Option<String> {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli is not installed (./scripts/test installs it)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.success() && !text.starts_with("Could not connect")).then_some(text)
}

/// One line of `CLUSTER NODES`.
#[derive(Clone, Debug)]
pub struct Node {
    pub id: String,
    pub port: u16,
    pub flags: String,
    pub primary_id: String,
    pub slots: Vec<(u16, u16)>,
}

impl Node {
    pub fn is_primary(&self) -> bool {
        self.flags.contains("master")
    }

    pub fn failing(&self) -> bool {
        self.flags.contains("fail")
    }

    pub fn serves(&self, slot: u16) -> bool {
        self.slots
            .iter()
            .any(|(from, to)| (*from..=*to).contains(&slot))
    }
}

/// The cluster as the first node of [`ports`] that answers sees it.
pub fn nodes() -> Vec<Node> {
    let text = ports()
        .into_iter()
        .find_map(|port| cli(port, &["cluster", "nodes"]))
        .expect("no node of the Redis Cluster answers");
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port = fields
                .get(1)?
                .split('@')
                .next()?
                .rsplit_once(':')?
                .1
                .parse()
                .ok()?;
            let slots = fields
                .iter()
                .skip(8)
                .filter(|range| !range.starts_with('['))
                .filter_map(|range| {
                    let (from, to) = range.split_once('-').unwrap_or((range, range));
                    Some((from.parse().ok()?, to.parse().ok()?))
                })
                .collect();
            Some(Node {
                id: fields[0].to_owned(),
                port,
                flags: fields[2].to_owned(),
                primary_id: fields[3].to_owned(),
                slots,
            })
        })
        .collect()
}

/// The hash slot of a Redis key.
pub fn slot(key: &str) -> u16 {
    fred::util::redis_keyslot(key.as_bytes())
}

/// Healthy as `./scripts/test` means it: six nodes answering, three primaries serving every
/// slot, three replicas, nothing failing.
pub fn healthy() -> bool {
    let ports = ports();
    if ports.iter().any(|port| {
        !cli(*port, &["cluster", "info"]).is_some_and(|info| info.contains("cluster_state:ok"))
    }) {
        return false;
    }
    let nodes = nodes();
    let serving: u32 = nodes
        .iter()
        .filter(|n| n.is_primary() && !n.failing())
        .flat_map(|n| n.slots.iter().map(|(from, to)| u32::from(to - from) + 1))
        .sum();
    nodes.len() == 6
        && nodes.iter().all(|n| !n.failing())
        && nodes.iter().filter(|n| n.is_primary()).count() == 3
        && serving == 16_384
}

/// Polls [`healthy`] every 100 ms until `within` is over.
pub fn wait_healthy(within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if healthy() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
