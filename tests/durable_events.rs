//! The durable event log (`with_event_log`, `EventLog`) on real Postgres, Redis and Redis
//! Cluster: every committed change is logged once with a stable id, conflicts and failed writes
//! log nothing, consumers resume from their acknowledged cursor, retention prunes by age and
//! count. Then the whole path across processes: two example shops and the example worker, the
//! worker killed mid-stream and restarted.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum_cart::storage::{
    CartKey, CartStorage, EventLog, EventRetention, LoggedEvent, LoggedEventKind, ModifyOptions,
    StorageError,
};
use axum_cart::{CartContents, CartItem, Currency, Money, PostgresStorage, RedisStorage};
use common::process::{self, start_example};
use common::{cluster, guest_key, pg, redis};
use fred::interfaces::{ClientLike, KeysInterface};
use fred::types::CustomCommand;

/// Every event the log holds for a consumer nobody used, read in pages of `page` and
/// acknowledged, waiting (bounded) until there are `expected`: Postgres hands out an event once
/// every transaction older than its own has ended, and other tests' transactions run beside.
async fn everything(log: &dyn EventLog, page: usize, expected: usize) -> Vec<LoggedEvent> {
    let consumer = format!("audit-{}", uuid::Uuid::new_v4().simple());
    read_all(log, &consumer, page, expected).await
}

async fn read_all(
    log: &dyn EventLog,
    consumer: &str,
    page: usize,
    expected: usize,
) -> Vec<LoggedEvent> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut all = Vec::new();
    loop {
        let events = log.read_events(consumer, page).await.unwrap();
        if events.is_empty() {
            if all.len() >= expected || Instant::now() > deadline {
                return all;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        log.ack_events(consumer, &events).await.unwrap();
        all.extend(events);
    }
}

fn cart_with(write_id: &str) -> CartContents {
    let mut cart = CartContents::new(Currency::USD);
    cart.record_write(write_id);
    cart
}

fn summary(events: &[LoggedEvent]) -> Vec<(LoggedEventKind, u64, Option<String>)> {
    events
        .iter()
        .map(|e| (e.kind, e.version, e.write_id.clone()))
        .collect()
}

/// Saves, a conflict of each kind, a modify, deletes that miss and one that hits: the log holds
/// exactly the changes that committed, in order, each naming its cart by hash.
async fn logs_exactly_the_committed_changes<S: CartStorage + EventLog>(storage: S) {
    let key = guest_key();
    let v1 = storage.save(&key, &cart_with("w1"), None).await.unwrap();
    // The cart exists; then a stale version.
    for expected in [None, Some(v1 + 7)] {
        let refused = storage.save(&key, &cart_with("lost"), expected).await;
        assert!(
            matches!(refused, Err(StorageError::Conflict { .. })),
            "{refused:?}"
        );
    }
    let v2 = storage
        .save(&key, &cart_with("w2"), Some(v1))
        .await
        .unwrap();
    let add = |cart: &mut CartContents| {
        cart.add(CartItem::new(
            "tee",
            "Tee",
            Money::parse("19.90", Currency::USD)?,
            1,
        ))
        .map(|_| ())
    };
    let modified = storage
        .modify(&key, &ModifyOptions::default(), &add)
        .await
        .unwrap();
    let v3 = modified.cart.version;
    let w3 = modified.cart.value.write_ids().last().unwrap().to_string();
    assert!(!storage.delete_at(&key, v2).await.unwrap(), "stale version");
    assert!(!storage.delete(&guest_key()).await.unwrap(), "no such cart");
    assert!(storage.delete_at(&key, v3).await.unwrap());
    assert!(!storage.delete(&key).await.unwrap(), "already gone");

    let events = everything(&storage, 2, 4).await;
    assert_eq!(
        summary(&events),
        [
            (LoggedEventKind::Created, v1, Some("w1".to_owned())),
            (LoggedEventKind::Updated, v2, Some("w2".to_owned())),
            (LoggedEventKind::Updated, v3, Some(w3)),
            (LoggedEventKind::Deleted, v3, None),
        ]
    );
    for event in &events {
        assert_eq!(event.identifier_hash, key.identifier_hash());
        assert_eq!(event.instance, "default");
        assert!(!event.id.contains(key.identifier()), "{}", event.id);
        let json = serde_json::to_string(event).unwrap();
        assert!(!json.contains(key.identifier()), "{json}");
    }
    let ids: HashSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), events.len(), "ids are unique");
    // Read again from the start by another consumer: the same ids.
    let again = everything(&storage, 100, 4).await;
    assert_eq!(
        again.iter().map(|e| &e.id).collect::<Vec<_>>(),
        events.iter().map(|e| &e.id).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn postgres_logs_exactly_the_committed_changes() {
    logs_exactly_the_committed_changes(pg::fresh_storage().await.with_event_log(true)).await;
}

#[tokio::test]
async fn postgres_locking_mode_logs_exactly_the_committed_changes() {
    let storage = pg::fresh_storage().await.with_event_log(true);
    logs_exactly_the_committed_changes(storage.with_locking(true)).await;
}

#[tokio::test]
async fn redis_logs_exactly_the_committed_changes() {
    logs_exactly_the_committed_changes(redis::fresh_storage().await.with_event_log(true)).await;
}

#[tokio::test]
async fn redis_locking_mode_logs_exactly_the_committed_changes() {
    let storage = redis::fresh_storage().await.with_event_log(true);
    logs_exactly_the_committed_changes(storage.with_locking(true)).await;
}

#[tokio::test]
async fn redis_cluster_logs_exactly_the_committed_changes() {
    let storage = cluster::fresh_storage().await.with_event_log(true);
    let prefix = storage.prefix().to_owned();
    logs_exactly_the_committed_changes(storage).await;
    expire_event_keys(&prefix);
}

/// Streams and cursors have no TTL (the log is pruned, not expired): this test's get the hour
/// every key of a `cluster` storage has, so runs leave nothing behind for long.
fn expire_event_keys(prefix: &str) {
    let pattern = format!("{prefix}:event*");
    for port in cluster::ports() {
        let Some(keys) = cluster::cli(port, &["--scan", "--pattern", &pattern]) else {
            continue;
        };
        for key in keys.lines().filter(|key| !key.is_empty()) {
            // Replicas refuse the write; their primary's reaches them.
            let _ = cluster::cli(port, &["PEXPIRE", key, "3600000"]);
        }
    }
}

/// A move between identifiers logs the source `deleted` and the target `created` or `updated`; a
/// move onto itself `updated`; `forget` each instance `deleted`; a move of nothing nothing.
async fn moves_and_forgets_are_logged<S: CartStorage + EventLog>(storage: S) {
    use LoggedEventKind::{Created, Deleted, Updated};
    let (from, to) = (guest_key(), guest_key());
    let moved_version = storage.save(&from, &cart_with("w1"), None).await.unwrap();
    let replaced = storage.save(&to, &cart_with("w2"), None).await.unwrap();
    let (f, t) = (from.identifier(), to.identifier());
    assert!(storage.swap_identifier(f, t, "default").await.unwrap());
    assert!(
        !storage.swap_identifier(f, t, "default").await.unwrap(),
        "nothing left"
    );
    let moved = storage.load(&to).await.unwrap().unwrap().version;
    assert!(storage.swap_identifier(t, t, "default").await.unwrap());
    let bumped = storage.load(&to).await.unwrap().unwrap().version;
    let owner = guest_key();
    let a = CartKey::new(owner.identifier(), "a");
    let b = CartKey::new(owner.identifier(), "b");
    let va = storage.save(&a, &cart_with("wa"), None).await.unwrap();
    let vb = storage.save(&b, &cart_with("wb"), None).await.unwrap();
    assert_eq!(storage.forget(owner.identifier()).await.unwrap(), 2);

    let logged: BTreeSet<(String, String, String, u64)> = everything(&storage, 4, 9)
        .await
        .into_iter()
        .map(|e| {
            (
                format!("{:?}", e.kind),
                e.identifier_hash,
                e.instance,
                e.version,
            )
        })
        .collect();
    let event = |kind: LoggedEventKind, key: &CartKey, version| {
        (
            format!("{kind:?}"),
            key.identifier_hash(),
            key.instance().to_owned(),
            version,
        )
    };
    let expected: BTreeSet<_> = [
        event(Created, &from, moved_version),
        event(Created, &to, replaced),
        event(Deleted, &from, moved_version),
        event(Updated, &to, moved),
        event(Updated, &to, bumped),
        event(Created, &a, va),
        event(Created, &b, vb),
        event(Deleted, &a, va),
        event(Deleted, &b, vb),
    ]
    .into_iter()
    .collect();
    assert_eq!(logged, expected);
}

#[tokio::test]
async fn postgres_moves_and_forgets_are_logged() {
    moves_and_forgets_are_logged(pg::fresh_storage().await.with_event_log(true)).await;
}

#[tokio::test]
async fn redis_moves_and_forgets_are_logged() {
    moves_and_forgets_are_logged(redis::fresh_storage().await.with_event_log(true)).await;
}

/// On a cluster the two identifiers are in different slots (almost always): the three-step move
/// logs the target from the target's slot and the source from the source's.
#[tokio::test]
async fn redis_cluster_moves_and_forgets_are_logged() {
    let storage = cluster::fresh_storage().await.with_event_log(true);
    let prefix = storage.prefix().to_owned();
    moves_and_forgets_are_logged(storage).await;
    expire_event_keys(&prefix);
}

/// Off by default: nothing is logged.
#[tokio::test]
async fn without_the_event_log_nothing_is_logged() {
    let postgres = pg::fresh_storage().await;
    let redis = redis::fresh_storage().await;
    for storage in [&postgres as &dyn CartStorage, &redis] {
        let key = guest_key();
        let version = storage.save(&key, &cart_with("w"), None).await.unwrap();
        assert!(storage.delete_at(&key, version).await.unwrap());
    }
    assert!(everything(&postgres, 10, 0).await.is_empty());
    assert!(everything(&redis, 10, 0).await.is_empty());
}

/// 16 writers through two storages (two servers) on one cart, with real conflicts: the versions
/// the winners were answered are exactly the logged ones, each once.
async fn concurrent_writers_log_each_commit_once<S>(first: S, second: S)
where
    S: CartStorage + EventLog + Clone,
{
    let key = guest_key();
    let options = ModifyOptions {
        retry_budget: Duration::from_secs(120),
        ..ModifyOptions::default()
    };
    let retries = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for task in 0..16 {
        let storage = if task % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let (key, options, retries) = (key.clone(), options.clone(), Arc::clone(&retries));
        tasks.push(tokio::spawn(async move {
            let mut versions = Vec::new();
            for _ in 0..10 {
                let add = |cart: &mut CartContents| {
                    let price = Money::parse("1.00", Currency::USD)?;
                    cart.add(CartItem::new("sku", "Thing", price, 1))
                        .map(|_| ())
                };
                let modified = storage.modify(&key, &options, &add).await.unwrap();
                retries.fetch_add(modified.retries as usize, Ordering::Relaxed);
                versions.push(modified.cart.version);
            }
            versions
        }));
    }
    let mut committed = BTreeSet::new();
    for task in tasks {
        committed.extend(task.await.unwrap());
    }
    assert_eq!(committed.len(), 160, "every answered version is distinct");
    let events = everything(&first, 37, 160).await;
    let logged: BTreeSet<u64> = events.iter().map(|e| e.version).collect();
    assert_eq!(events.len(), 160, "one event per commit, no more");
    assert_eq!(logged, committed);
    assert!(
        retries.load(Ordering::Relaxed) > 0,
        "the writers met no conflict: the test proves nothing about conflicts"
    );
}

#[tokio::test]
async fn postgres_concurrent_writers_log_each_commit_once() {
    let first = pg::fresh_storage().await.with_event_log(true);
    let second = pg::second_storage(&first, 8).await.with_event_log(true);
    concurrent_writers_log_each_commit_once(first, second).await;
}

#[tokio::test]
async fn redis_concurrent_writers_log_each_commit_once() {
    let first = redis::fresh_storage().await.with_event_log(true);
    let second = RedisStorage::connect(&redis::url())
        .await
        .unwrap()
        .with_prefix(first.prefix())
        .with_event_log(true);
    concurrent_writers_log_each_commit_once(first, second).await;
}

/// A write the database refuses (a constraint), and one whose event cannot be written (the
/// outbox table is gone): neither the cart nor an event is stored.
#[tokio::test]
async fn postgres_failed_writes_log_nothing() {
    let storage = pg::fresh_storage().await.with_event_log(true);
    let table = storage.table().to_owned();
    sqlx::query(&format!(
        "ALTER TABLE {table} ADD CONSTRAINT no_boom CHECK (NOT (metadata ? 'boom'))"
    ))
    .execute(storage.pool())
    .await
    .unwrap();
    let key = guest_key();
    let v1 = storage.save(&key, &cart_with("w1"), None).await.unwrap();
    let mut boom = cart_with("w2");
    boom.set_metadata("boom", serde_json::json!(true)).unwrap();
    let refused = storage.save(&key, &boom, Some(v1)).await;
    assert!(
        matches!(refused, Err(StorageError::Backend { .. })),
        "{refused:?}"
    );

    let (schema, bare) = table.split_once('.').unwrap();
    sqlx::query(&format!(
        "ALTER TABLE {table}_events RENAME TO {bare}_events_away"
    ))
    .execute(storage.pool())
    .await
    .unwrap();
    let without_log = storage.save(&key, &cart_with("w3"), Some(v1)).await;
    let lost_create = storage.save(&guest_key(), &cart_with("w4"), None).await;
    let lost_delete = storage.delete(&key).await;
    sqlx::query(&format!(
        "ALTER TABLE {schema}.{bare}_events_away RENAME TO {bare}_events"
    ))
    .execute(storage.pool())
    .await
    .unwrap();
    assert!(without_log.is_err() && lost_create.is_err() && lost_delete.is_err());
    assert_eq!(storage.load(&key).await.unwrap().unwrap().version, v1);

    let events = everything(&storage, 10, 1).await;
    assert_eq!(
        summary(&events),
        [(LoggedEventKind::Created, v1, Some("w1".to_owned()))]
    );
}

/// A key of another type where the stream goes: the script refuses before writing anything
/// (Redis does not roll a script back), so neither the cart nor an event is stored.
#[tokio::test]
async fn redis_failed_writes_log_nothing() {
    let storage = redis::fresh_storage().await.with_event_log(true);
    let stream = format!("{}:events", storage.prefix());
    let key = guest_key();
    let v1 = storage.save(&key, &cart_with("w1"), None).await.unwrap();
    let renamed = format!("{stream}-away");
    let _: () = storage.client().rename(&stream, &renamed).await.unwrap();
    let _: () = storage
        .client()
        .set(&stream, "not a stream", None, None, false)
        .await
        .unwrap();
    let refused = storage.save(&key, &cart_with("w2"), Some(v1)).await;
    let refused_new = storage.save(&guest_key(), &cart_with("w3"), None).await;
    let refused_delete = storage.delete(&key).await;
    let _: () = storage.client().del(&stream).await.unwrap();
    let _: () = storage.client().rename(&renamed, &stream).await.unwrap();
    assert!(refused.is_err() && refused_new.is_err() && refused_delete.is_err());
    assert_eq!(storage.load(&key).await.unwrap().unwrap().version, v1);

    let events = everything(&storage, 10, 1).await;
    assert_eq!(
        summary(&events),
        [(LoggedEventKind::Created, v1, Some("w1".to_owned()))]
    );
}

/// A consumer that read more than it acknowledged gets the rest, and only the rest, from a new
/// process (a new storage on the same log); another consumer has a cursor of its own.
async fn consumers_resume_from_their_cursor<S: CartStorage + EventLog>(first: S, restarted: S) {
    let mut versions = Vec::new();
    for _ in 0..10 {
        versions.push(
            first
                .save(&guest_key(), &cart_with("w"), None)
                .await
                .unwrap(),
        );
    }
    // Once all ten are there to read (see `everything`).
    assert_eq!(everything(&first, 10, 10).await.len(), 10);
    let consumer = format!("worker-{}", uuid::Uuid::new_v4().simple());
    let read = first.read_events(&consumer, 6).await.unwrap();
    assert_eq!(read.len(), 6);
    // Reading again without acknowledging gives the same events.
    let reread = first.read_events(&consumer, 6).await.unwrap();
    assert_eq!(reread, read);
    first.ack_events(&consumer, &read[..4]).await.unwrap();
    // An older acknowledgement never moves the cursor back.
    first.ack_events(&consumer, &read[..1]).await.unwrap();

    let rest = read_all(&restarted, &consumer, 3, 6).await;
    let seen: Vec<&str> = read[..4]
        .iter()
        .chain(&rest)
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(seen.len(), 10, "{seen:?}");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 10);
    let logged: BTreeSet<u64> = read[..4].iter().chain(&rest).map(|e| e.version).collect();
    assert_eq!(logged, versions.into_iter().collect());
    assert!(
        restarted
            .read_events(&consumer, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn postgres_consumers_resume_from_their_cursor() {
    let first = pg::fresh_storage().await.with_event_log(true);
    let restarted = pg::second_storage(&first, 2).await;
    consumers_resume_from_their_cursor(first, restarted).await;
}

#[tokio::test]
async fn redis_consumers_resume_from_their_cursor() {
    let first = redis::fresh_storage().await.with_event_log(true);
    let restarted = RedisStorage::connect(&redis::url())
        .await
        .unwrap()
        .with_prefix(first.prefix());
    consumers_resume_from_their_cursor(first, restarted).await;
}

/// Carts of many slots log into many streams, and a reader covers them all.
#[tokio::test]
async fn redis_cluster_reads_the_events_of_every_slot() {
    let first = cluster::fresh_storage().await.with_event_log(true);
    let mut slots = BTreeSet::new();
    let mut versions = BTreeMap::new();
    for _ in 0..24 {
        let key = guest_key();
        slots.insert(fred::util::redis_keyslot(first.cart_key(&key).as_bytes()));
        let version = first.save(&key, &cart_with("w"), None).await.unwrap();
        versions.insert(key.identifier_hash(), version);
    }
    assert!(slots.len() > 10, "{slots:?}");
    let restarted = cluster::second_storage(&first).await;
    let consumer = "cluster-worker";
    let half = restarted.read_events(consumer, 12).await.unwrap();
    restarted.ack_events(consumer, &half).await.unwrap();
    let rest = read_all(&cluster::second_storage(&first).await, consumer, 3, 12).await;
    let logged: BTreeMap<String, u64> = half
        .iter()
        .chain(&rest)
        .map(|e| (e.identifier_hash.clone(), e.version))
        .collect();
    assert_eq!(half.len() + rest.len(), 24);
    assert_eq!(logged, versions);
    expire_event_keys(first.prefix());
}

/// Five changes; the oldest made old; a prune by age takes it, a prune by count all but the two
/// newest.
#[tokio::test]
async fn postgres_retention_prunes_by_age_and_count() {
    let storage = pg::fresh_storage().await.with_event_log(true);
    let mut versions = Vec::new();
    for _ in 0..5 {
        versions.push(
            storage
                .save(&guest_key(), &cart_with("w"), None)
                .await
                .unwrap(),
        );
    }
    sqlx::query(&format!(
        "UPDATE {}_events SET created_at = now() - interval '2 hours' WHERE version = $1",
        storage.table()
    ))
    .bind(versions[0] as i64)
    .execute(storage.pool())
    .await
    .unwrap();
    retention_prunes_by_age_and_count(&storage, &versions).await;
}

/// As on Postgres, with the old entry added to the stream by hand (entry ids are the clock).
#[tokio::test]
async fn redis_retention_prunes_by_age_and_count() {
    let storage = redis::fresh_storage().await.with_event_log(true);
    let stream = format!("{}:events", storage.prefix());
    let mut versions = vec![1];
    let old: String = storage
        .client()
        .next()
        .custom(
            CustomCommand::new_static("XADD", None, false),
            vec![
                stream.as_str(),
                "1000-1",
                "k",
                "c",
                "h",
                "0123456789abcdef",
                "i",
                "default",
                "v",
                "1",
                "w",
                "",
            ],
        )
        .await
        .unwrap();
    assert_eq!(old, "1000-1");
    for _ in 0..4 {
        versions.push(
            storage
                .save(&guest_key(), &cart_with("w"), None)
                .await
                .unwrap(),
        );
    }
    retention_prunes_by_age_and_count(&storage, &versions).await;
}

async fn retention_prunes_by_age_and_count(log: &dyn EventLog, versions: &[u64]) {
    let hour = EventRetention::new().with_max_age(Duration::from_secs(3600));
    assert_eq!(log.prune_events(&hour).await.unwrap(), 1);
    assert_eq!(log.prune_events(&hour).await.unwrap(), 0);
    let kept: Vec<u64> = everything(log, 10, 4)
        .await
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(kept, versions[1..]);
    let two = EventRetention::new().with_max_count(2);
    assert_eq!(log.prune_events(&two).await.unwrap(), 2);
    let kept: Vec<u64> = everything(log, 10, 2)
        .await
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(kept, versions[3..]);
}

#[test]
fn the_event_log_setting_needs_a_driver_that_has_one() {
    use axum_cart::settings::CartSettings;
    let vars = |storage: &str| {
        [("CART_STORAGE", storage), ("CART_EVENT_LOG", "true")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    };
    for storage in ["session", "memory"] {
        let error = CartSettings::from_env_map(vars(storage)).unwrap_err();
        assert_eq!(error.key, "event_log", "{storage}");
        assert!(error.message.contains("in-process"), "{error}");
    }
    for storage in ["cache", "database"] {
        assert!(CartSettings::from_env_map(vars(storage)).unwrap().event_log);
    }
}

// ---- Two shops and a worker, as processes ---------------------------------------------------

const PRODUCTS: [&str; 7] = ["tee", "mug", "cap", "socks", "poster", "pen", "lamp"];
const CARTS: usize = 4;
const CLIENTS: usize = 8;
const CHANGES: usize = 1000;

/// The example worker consuming the log as `consumer`, appending what it reads to `out` and
/// logging to `log`; killed on drop.
struct Worker(std::process::Child);

impl Worker {
    fn start(envs: &[(String, String)], consumer: &str, out: &Path, log: &Path) -> Worker {
        let mut command = Command::new(process::example_path("worker"));
        command
            .args(["--events", consumer, "--idle-secs", "1", "--poll-ms", "50"])
            .arg("--events-out")
            .arg(out)
            .stdout(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .unwrap(),
            ))
            .stderr(Stdio::inherit());
        for (key, value) in envs {
            command.env(key, value);
        }
        Worker(command.spawn().expect("start the worker"))
    }

    fn kill(&mut self) {
        process::signal(self.0.id(), "KILL");
        self.0.wait().unwrap();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The events the worker wrote to `out` so far (a line being written may be cut short: skipped).
fn worker_events(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Polls `done` every 50 ms until it holds or `timeout` passes.
async fn eventually(timeout: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "not within {timeout:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One change: adds one unit of a product through `shop`, carrying the cart cookie when there
/// is one. Returns the answer's status, its cart cookie, and the cart's (identifier, version).
async fn add(
    client: &reqwest::Client,
    shop: &str,
    cookie: Option<&str>,
    product: &str,
) -> (u16, Option<String>, Option<(String, u64)>) {
    let mut request = client
        .post(format!("{shop}/cart/items"))
        .json(&serde_json::json!({"id": product, "quantity": 1}));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    let cookie = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("cart_id="))
        .map(|c| c.split(';').next().unwrap().to_owned());
    let body: serde_json::Value = answer.json().await.unwrap_or_default();
    let cart = match (body["identifier"].as_str(), body["version"].as_u64()) {
        (Some(identifier), Some(version)) if status == 200 => {
            Some((identifier.to_owned(), version))
        }
        _ => None,
    };
    (status, cookie, cart)
}

/// 1 000 adds from 8 clients, two per cart, each client alternating between the two shops, while
/// the worker consumes the log; the worker is killed midway and restarted. After de-duplication
/// by id the worker saw exactly the committed changes (the versions the shops answered), and the
/// log holds nothing else; after one more change per cart, the restarted worker gave every cart
/// its "abandoned cart" notice.
async fn shops_and_worker(envs: Vec<(String, String)>, audit: &dyn EventLog) {
    let env_refs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let shops = [
        start_example("shop", &env_refs),
        start_example("shop", &env_refs),
    ];
    let shops: Arc<Vec<String>> = Arc::new(shops.iter().map(|s| s.address.clone()).collect());
    let dir = std::env::temp_dir().join(format!(
        "axum-cart-events-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (out, first_log, second_log) = (
        dir.join("events.jsonl"),
        dir.join("worker-1.log"),
        dir.join("worker-2.log"),
    );
    let consumer = format!("test-worker-{}", uuid::Uuid::new_v4().simple());
    let mut worker = Worker::start(&envs, &consumer, &out, &first_log);

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let committed = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let refused = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let record = {
        let (committed, refused, done) = (
            Arc::clone(&committed),
            Arc::clone(&refused),
            Arc::clone(&done),
        );
        move |status: u16, cart: Option<(String, u64)>| {
            match (status, cart) {
                (200, Some((identifier, version))) => {
                    let hash = CartKey::new(identifier, "default").identifier_hash();
                    assert!(
                        committed.lock().unwrap().insert((hash, version)),
                        "a version twice"
                    );
                }
                // A change that lost its compare-and-set beyond the retry budget: not committed.
                (409, _) => {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
                (status, _) => panic!("an add answered {status}"),
            }
            done.fetch_add(1, Ordering::Relaxed);
        }
    };
    // Each cart is created by the first change of its first client.
    let mut cookies = Vec::new();
    for cart in 0..CARTS {
        let (status, cookie, answered) = add(&client, &shops[cart % 2], None, PRODUCTS[cart]).await;
        cookies.push(cookie.expect("a cart cookie"));
        record(status, answered);
    }
    let record = Arc::new(record);
    let per_client = CHANGES / CLIENTS;
    let mut clients = Vec::new();
    for n in 0..CLIENTS {
        let (client, shops, record) = (client.clone(), Arc::clone(&shops), Arc::clone(&record));
        let cookie = cookies[n % CARTS].clone();
        // The client that created its cart has one change fewer to make.
        let changes = if n < CARTS {
            per_client - 1
        } else {
            per_client
        };
        clients.push(tokio::spawn(async move {
            for i in 0..changes {
                let shop = &shops[(n + i) % 2];
                let (status, _, answered) =
                    add(&client, shop, Some(&cookie), PRODUCTS[(n + i) % 7]).await;
                record(status, answered);
            }
        }));
    }
    // Midway, with the worker part way through the log: kill it, and start it again.
    eventually(Duration::from_secs(120), "half of the changes", || {
        done.load(Ordering::Relaxed) >= CHANGES / 2
    })
    .await;
    eventually(
        Duration::from_secs(60),
        "the worker read some events",
        || !worker_events(&out).is_empty(),
    )
    .await;
    worker.kill();
    let seen_before_kill = worker_events(&out).len();
    let _restarted = Worker::start(&envs, &consumer, &out, &second_log);
    for task in clients {
        task.await.unwrap();
    }
    // A restarted worker knows the carts it reads events of, and the first one may have read
    // every event of some carts already (the clients can be done before its first batch): one
    // more change per cart, made after the restart.
    for (cart, cookie) in cookies.iter().enumerate() {
        let (status, _, answered) =
            add(&client, &shops[cart % 2], Some(cookie), PRODUCTS[cart]).await;
        record(status, answered);
    }
    let made = CHANGES + CARTS;
    assert_eq!(done.load(Ordering::Relaxed), made);
    let committed = committed.lock().unwrap().clone();
    assert_eq!(committed.len() + refused.load(Ordering::Relaxed), made);

    let distinct = |events: &[serde_json::Value]| -> BTreeMap<String, (String, u64)> {
        events
            .iter()
            .map(|e| {
                (
                    e["id"].as_str().unwrap().to_owned(),
                    (
                        e["identifier_hash"].as_str().unwrap().to_owned(),
                        e["version"].as_u64().unwrap(),
                    ),
                )
            })
            .collect()
    };
    eventually(
        Duration::from_secs(60),
        "the worker saw every committed change",
        || distinct(&worker_events(&out)).len() >= committed.len(),
    )
    .await;
    let seen = worker_events(&out);
    let by_id = distinct(&seen);
    let changes: BTreeSet<(String, u64)> = by_id.values().cloned().collect();
    assert_eq!(changes.len(), by_id.len(), "two ids for one change");
    assert_eq!(
        changes, committed,
        "the worker saw exactly the committed changes"
    );
    for event in &seen {
        assert_eq!(event["instance"], "default");
        let kind = event["kind"].as_str().unwrap();
        assert!(kind == "created" || kind == "updated", "{event}");
    }
    let created = seen
        .iter()
        .filter(|e| e["kind"] == "created")
        .map(|e| &e["id"])
        .collect::<HashSet<_>>();
    assert_eq!(created.len(), CARTS, "one creation per cart");
    // The log itself, read by another consumer, holds the same and nothing more.
    let logged: BTreeSet<(String, u64)> = everything(audit, 250, committed.len())
        .await
        .into_iter()
        .map(|e| (e.identifier_hash, e.version))
        .collect();
    assert_eq!(logged, committed);
    eprintln!(
        "{} committed, {} refused; the worker read {} events ({} before it was killed), {} distinct",
        committed.len(),
        made - committed.len(),
        seen.len(),
        seen_before_kill,
        by_id.len()
    );
    // Every cart went idle after its last change: the restarted worker noticed each once.
    let hashes: BTreeSet<String> = committed.iter().map(|(hash, _)| hash.clone()).collect();
    eventually(
        Duration::from_secs(30),
        "an abandoned-cart notice per cart",
        || {
            let log = std::fs::read_to_string(&second_log).unwrap_or_default();
            hashes.iter().all(|hash| {
                log.lines()
                    .any(|l| l.contains("abandoned cart") && l.contains(hash.as_str()))
            })
        },
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn cookie_envs() -> Vec<(String, String)> {
    [
        ("CART_EVENT_LOG", "true"),
        ("CART_IDENTIFIER", "cookie"),
        ("CART_COOKIE_NAME", "cart_id"),
        ("CART_COOKIE_SECURE", "false"),
        (
            "CART_COOKIE_KEY",
            "a test secret of the durable events test that is well over sixty-four bytes long",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_shops_and_a_worker_on_postgres() {
    let audit: PostgresStorage = pg::fresh_storage().await;
    let mut envs = cookie_envs();
    envs.extend([
        ("CART_STORAGE".to_owned(), "database".to_owned()),
        ("DATABASE_URL".to_owned(), pg::test_database_url().await),
        ("CART_DB_TABLE".to_owned(), audit.table().to_owned()),
    ]);
    shops_and_worker(envs, &audit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_shops_and_a_worker_on_redis() {
    let audit: RedisStorage = redis::fresh_storage().await;
    let mut envs = cookie_envs();
    envs.extend([
        ("CART_STORAGE".to_owned(), "cache".to_owned()),
        ("REDIS_URL".to_owned(), redis::url()),
        ("CART_CACHE_PREFIX".to_owned(), audit.prefix().to_owned()),
    ]);
    shops_and_worker(envs, &audit).await;
}

/// The same on a Redis Cluster: the carts' events land in the streams of their slots, and the
/// worker reads them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_shops_and_a_worker_on_redis_cluster() {
    let audit: RedisStorage = cluster::fresh_storage().await;
    let mut envs = cookie_envs();
    envs.extend([
        ("CART_STORAGE".to_owned(), "cache".to_owned()),
        ("REDIS_URL".to_owned(), cluster::url()),
        ("CART_CACHE_PREFIX".to_owned(), audit.prefix().to_owned()),
        ("CART_CACHE_TTL".to_owned(), "3600".to_owned()),
    ]);
    shops_and_worker(envs, &audit).await;
    expire_event_keys(audit.prefix());
}
