//! Redis for tests: the server at `REDIS_URL`, a fresh key prefix per test under a prefix of this
//! run, and throwaway redis-server processes for outage and script-cache tests.
//!
//! Every storage of [`fresh_storage`] lives under `axum-cart-test:<run id>:`. On first use a
//! test binary names one connection of its own `axum-cart-test-<run id>` (it stays open until
//! the process exits) and then deletes the keys of every earlier run: runs under
//! `axum-cart-test:` whose named connection is gone, and keys of the suite's former
//! `test-<uuid>:` prefixes that nothing has touched for ten minutes. Runs of other binaries going
//! on at the same time keep their connection, so their keys stay.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum_cart::RedisStorage;
use fred::clients::Client;
use fred::interfaces::{ClientLike, LuaInterface};
use fred::types::CustomCommand;

/// What every test prefix starts with.
pub const ROOT: &str = "axum-cart-test";

/// `REDIS_URL` (default `redis://127.0.0.1:6379`).
pub fn url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// This process's run id.
pub fn run_id() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..16].to_owned())
}

/// `axum-cart-test:<run id>`: every key of this run's tests starts with it.
pub fn run_prefix() -> String {
    format!("{ROOT}:{}", run_id())
}

/// A storage on the shared server with a prefix no other test uses, under this run's prefix.
pub async fn fresh_storage() -> RedisStorage {
    start_run().await;
    let url = url();
    RedisStorage::connect(&url)
        .await
        .unwrap_or_else(|e| {
            panic!("Redis is not reachable at {url} ({e}): start it, or run ./scripts/test")
        })
        .with_prefix(&format!(
            "{}:{}",
            run_prefix(),
            uuid::Uuid::new_v4().simple()
        ))
}

/// Another storage on the carts of the storage with `prefix`, with a connection and parsed carts
/// of its own (as a second web server would have).
pub async fn storage_on(prefix: &str) -> RedisStorage {
    let url = url();
    RedisStorage::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("Redis is not reachable at {url} ({e})"))
        .with_prefix(prefix)
}

/// Once per process: names this run's connection, then deletes the keys of earlier runs.
/// The connection lives on a thread of its own (each test has its own runtime, which ends with
/// the test), so it stays open until the process exits.
async fn start_run() {
    static STARTED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    STARTED
        .get_or_init(|| async {
            let (done, started) = tokio::sync::oneshot::channel();
            std::thread::Builder::new()
                .name("redis-test-run".to_owned())
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(async move {
                        match register_and_clean().await {
                            Ok(client) => {
                                let _ = done.send(Ok(()));
                                // Holds the named connection until the process exits.
                                std::future::pending::<()>().await;
                                drop(client);
                            }
                            Err(error) => {
                                let _ = done.send(Err(error));
                            }
                        }
                    });
                })
                .unwrap();
            match started.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => panic!(
                    "preparing Redis at {} for this run failed ({error}): start it, or run ./scripts/test",
                    url()
                ),
                Err(_) => panic!("the thread preparing Redis for this run died"),
            }
        })
        .await;
}

fn command(name: &'static str) -> CustomCommand {
    CustomCommand::new_static(name, None, false)
}

/// The run ids of the connections now open under `axum-cart-test-<run id>` names.
async fn live_runs(client: &Client) -> Result<Vec<String>, fred::error::Error> {
    let list: String = client.custom(command("CLIENT"), vec!["LIST"]).await?;
    let name_prefix = format!("name={ROOT}-");
    Ok(list
        .lines()
        .flat_map(|line| line.split(' '))
        .filter_map(|field| field.strip_prefix(name_prefix.as_str()))
        .map(str::to_owned)
        .collect())
}

/// Deletes `keys` that nothing has read or written for ten minutes.
const UNLINK_IDLE: &str = "local n = 0 \
    for _, key in ipairs(KEYS) do \
      local idle = redis.call('OBJECT', 'IDLETIME', key) \
      if idle and idle > 600 then n = n + redis.call('UNLINK', key) end \
    end \
    return n";

async fn register_and_clean() -> Result<Client, fred::error::Error> {
    let client = Client::new(
        fred::types::config::Config::from_url(&url())?,
        None,
        None,
        None,
    );
    client.init().await?;
    client
        .custom::<(), _>(
            command("CLIENT"),
            vec!["SETNAME".to_owned(), format!("{ROOT}-{}", run_id())],
        )
        .await?;
    // Earlier runs' keys: a run is live when its named connection is open. A run starts after
    // our first look only with a name this look did not see, and names its connection before
    // its first key, so an unknown run is looked up again before its keys go.
    let mut live: HashMap<String, bool> = live_runs(&client)
        .await?
        .into_iter()
        .map(|run| (run, true))
        .collect();
    let (mut cursor, mut deleted) = ("0".to_owned(), 0u64);
    loop {
        let page: (String, Vec<String>) = client
            .custom(
                command("SCAN"),
                vec![cursor.as_str(), "MATCH", "*test*", "COUNT", "1000"],
            )
            .await?;
        cursor = page.0;
        let (mut dead, mut legacy) = (Vec::new(), Vec::new());
        for key in page.1 {
            if let Some(rest) = key.strip_prefix(&format!("{ROOT}:")) {
                let run = rest.split(':').next().unwrap_or_default().to_owned();
                if !live.contains_key(&run) {
                    let now_live = live_runs(&client).await?;
                    for seen in now_live {
                        live.insert(seen, true);
                    }
                    live.entry(run.clone()).or_insert(false);
                }
                if !live[&run] {
                    dead.push(key);
                }
            } else if is_legacy(&key) {
                legacy.push(key);
            }
        }
        if !dead.is_empty() {
            deleted += client.custom::<u64, _>(command("UNLINK"), dead).await?;
        }
        if !legacy.is_empty() {
            deleted += client
                .eval::<u64, _, _, _>(UNLINK_IDLE, legacy, Vec::<String>::new())
                .await?;
        }
        if cursor == "0" {
            break;
        }
    }
    if deleted > 0 {
        println!("redis: deleted {deleted} keys of earlier test runs");
    }
    Ok(client)
}

/// A key of the suite's former per-test prefixes, `test-<32 hex digits>:`.
fn is_legacy(key: &str) -> bool {
    key.strip_prefix("test-")
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(id, _)| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Overwrites the stored document of an existing cart with bytes that are not a cart (the
/// conformance suite's `corrupt` hook, on a single Redis or a cluster).
pub async fn store_corrupt(storage: &RedisStorage, key: &axum_cart::storage::CartKey) {
    use fred::interfaces::KeysInterface;
    // A cart's value is a 41-byte head (version, state, last write), then its document.
    let cart = storage.cart_key(key);
    let head: String = storage.client().getrange(&cart, 0, 40).await.unwrap();
    assert_eq!(head.len(), 41, "no cart at {cart}");
    storage
        .client()
        .set::<(), _, _>(
            &cart,
            format!("{head}{{not a cart"),
            Some(fred::types::Expiration::KEEPTTL),
            None,
            false,
        )
        .await
        .unwrap();
}

/// A redis-server this test owns, on its own port; killed on drop.
pub struct OwnRedis {
    pub port: u16,
    child: Child,
}

impl OwnRedis {
    pub fn start_on(port: u16) -> OwnRedis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is not installed (./scripts/test installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        // Readiness poll: the server accepts connections once it has loaded.
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server on {port} did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnRedis { port, child }
    }

    pub fn start() -> OwnRedis {
        Self::start_on(super::process::free_port())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the server: it stops answering but keeps its data.
    /// Sends `signal` (`-STOP`, `-CONT`, `STOP`, ...) to the server, through the shell's own
    /// `kill` (a fresh machine has no procps).
    pub fn signal(&self, signal: &str) {
        super::process::signal(self.pid(), signal.trim_start_matches('-'));
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
