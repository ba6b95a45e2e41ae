//! The Redis driver against real servers: concurrency in both modes, versions that never repeat
//! (after a delete, an expiry, a Redis restart), `delete_at`, a save whose answer was lost,
//! TTL, the script cache, round trips, and an outage.

mod common;

use std::time::{Duration, Instant};

use axum_cart::storage::{CartKey, CartStorage, ModifyOptions, StorageError};
use axum_cart::{CartContents, CartItem, Currency, Money, RedisStorage};
use common::guest_key;
use common::hammer::hammer;
use common::redis;
use common::reply_drop::ReplyDropProxy;
use fred::interfaces::{ClientLike, KeysInterface, LuaInterface, SetsInterface};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_lost_updates_optimistic() {
    let first = redis::fresh_storage().await;
    let second = RedisStorage::connect(&redis::url())
        .await
        .unwrap()
        .with_prefix(first.prefix());
    let (quantity, retries) = hammer(first, second).await;
    let lost = 1_280 - i64::from(quantity);
    println!("redis optimistic: 1280 writes, {retries} conflicts retried, {lost} lost");
    assert_eq!(lost, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_lost_updates_with_locking() {
    // Waits and lock lifetimes far beyond the run: no writer gives up, and no lock expires under
    // a descheduled holder, so every writer goes through the lock.
    let locked = |storage: RedisStorage| {
        storage
            .with_locking(true)
            .with_lock_wait(Duration::from_secs(120))
            .with_lock_timeout(Duration::from_secs(120))
    };
    let first = locked(redis::fresh_storage().await);
    let second = locked(
        RedisStorage::connect(&redis::url())
            .await
            .unwrap()
            .with_prefix(first.prefix()),
    );
    let (quantity, retries) = hammer(first, second).await;
    let lost = 1_280 - i64::from(quantity);
    println!(
        "redis locking: 1280 writes, {retries} conflicts retried (writers queue on the lock), {lost} lost"
    );
    assert_eq!(lost, 0);
    // `retries` counts the compare-and-set conflicts retried under the lock (see the test
    // below): when every writer holds the lock for its whole read-modify-write, there are none.
    assert_eq!(retries, 0);
}

/// Locking mode reports the conflicts it retried: a plain save (which takes no lock) lands
/// between the locked writer's load and its save, and the writer retries once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_under_the_lock_is_retried_and_reported() {
    let storage = redis::fresh_storage()
        .await
        .with_locking(true)
        .with_lock_wait(Duration::from_secs(30));
    let key = guest_key();
    let created = storage.save(&key, &cart_with("a"), None).await.unwrap();
    let interfered = std::sync::atomic::AtomicBool::new(false);
    let runtime = tokio::runtime::Handle::current();
    let add = |cart: &mut CartContents| {
        if !interfered.swap(true, std::sync::atomic::Ordering::SeqCst) {
            // The first attempt: a writer that ignores the lock saves first.
            let saved = tokio::task::block_in_place(|| {
                runtime.block_on(storage.save(&key, &cart_with("b"), Some(created)))
            });
            assert_eq!(saved.unwrap(), created + 1);
        }
        cart.add(CartItem::new("c", "c", common::usd("1.00"), 1))
            .map(|_| ())
    };
    let modified = storage
        .modify(&key, &ModifyOptions::default(), &add)
        .await
        .unwrap();
    assert_eq!(modified.retries, 1, "one conflict, retried once");
    assert_eq!(modified.previous_version, Some(created + 1));
    assert_eq!(modified.cart.version, created + 2);
    let stored = storage.load(&key).await.unwrap().unwrap();
    assert_eq!(stored.version, created + 2);
    let lines: Vec<(&str, u32)> = stored
        .value
        .items()
        .iter()
        .map(|item| (item.id(), item.quantity()))
        .collect();
    assert_eq!(
        lines,
        vec![("b", 1), ("c", 1)],
        "the plain save's cart plus the change"
    );
}

/// The configured TTL of the TTL tests: an hour, so no descheduling runs it down noticeably
/// between a write and the check of its `PTTL`.
const HOUR_MS: i64 = 3_600_000;

/// More than the hour minus any pause of a loaded machine, and far above the short TTL the
/// tests set by hand: a TTL back at the configured value.
const RESET_MS: i64 = HOUR_MS - 600_000;

async fn pttl(storage: &RedisStorage, redis_key: &str) -> i64 {
    storage.client().pttl(redis_key).await.unwrap()
}

/// Makes `redis_key` expire now (`PEXPIRE key 1`) and waits, bounded, until Redis has dropped it.
async fn expire_now(storage: &RedisStorage, redis_key: &str) {
    let set: bool = storage.client().pexpire(redis_key, 1, None).await.unwrap();
    assert!(set, "{redis_key} does not exist");
    let deadline = Instant::now() + Duration::from_secs(30);
    while storage.client().exists::<u64, _>(redis_key).await.unwrap() == 1 {
        assert!(Instant::now() < deadline, "{redis_key} outlived PEXPIRE 1");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_write_resets_the_ttl_and_without_writes_the_cart_expires() {
    let storage = redis::fresh_storage()
        .await
        .with_ttl(Duration::from_millis(HOUR_MS as u64));
    let key = guest_key();
    let redis_key = storage.cart_key(&key);
    let set_key = format!("{}:{{{}}}", storage.prefix(), key.identifier());
    let created = storage
        .save(&key, &CartContents::new(Currency::USD), None)
        .await
        .unwrap();
    for stored in [&redis_key, &set_key] {
        let first = pttl(&storage, stored).await;
        assert!(
            first > RESET_MS && first <= HOUR_MS,
            "{stored}: PTTL {first}"
        );
    }
    // The TTL has almost run out (set directly, not waited for); a write puts it back to the
    // configured hour, on the cart and on its instance set.
    for stored in [&redis_key, &set_key] {
        let _: bool = storage
            .client()
            .pexpire(stored.as_str(), 5_000, None)
            .await
            .unwrap();
        let short = pttl(&storage, stored).await;
        assert!(short > 0 && short <= 5_000, "{stored}: PTTL {short}");
    }
    assert_eq!(
        storage
            .save(&key, &CartContents::new(Currency::USD), Some(created))
            .await
            .unwrap(),
        created + 1
    );
    for stored in [&redis_key, &set_key] {
        let after_write = pttl(&storage, stored).await;
        assert!(
            after_write > RESET_MS && after_write <= HOUR_MS,
            "a write resets {stored}'s TTL to an hour: PTTL {after_write}"
        );
    }
    // A read does not (reads refresh only when asked, see below).
    let _: bool = storage
        .client()
        .pexpire(redis_key.as_str(), 5_000, None)
        .await
        .unwrap();
    assert!(storage.load(&key).await.unwrap().is_some());
    let after_read = pttl(&storage, &redis_key).await;
    assert!(
        after_read <= 5_000,
        "a read left the TTL alone: PTTL {after_read}"
    );
    // Without writes the cart expires: it is gone, and no longer listed as an instance.
    expire_now(&storage, &redis_key).await;
    assert_eq!(storage.load(&key).await.unwrap(), None);
    assert_eq!(
        storage.instances(key.identifier()).await.unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn reads_refresh_the_ttl_when_asked() {
    let storage = redis::fresh_storage()
        .await
        .with_ttl(Duration::from_millis(HOUR_MS as u64))
        .with_ttl_refresh_on_read(true);
    let key = guest_key();
    storage
        .save(&key, &CartContents::new(Currency::USD), None)
        .await
        .unwrap();
    let redis_key = storage.cart_key(&key);
    let _: bool = storage
        .client()
        .pexpire(redis_key.as_str(), 5_000, None)
        .await
        .unwrap();
    assert!(storage.load(&key).await.unwrap().is_some());
    let refreshed = pttl(&storage, &redis_key).await;
    assert!(
        refreshed > RESET_MS && refreshed <= HOUR_MS,
        "the read put the TTL back to an hour: PTTL {refreshed}"
    );
}

#[tokio::test]
async fn saves_survive_a_flushed_script_cache() {
    // A server of our own: flushing the shared server's script cache would hit the other tests
    // of this binary in the middle of their script calls.
    let server = redis::OwnRedis::start();
    let storage = RedisStorage::connect(&server.url()).await.unwrap();
    let key = guest_key();
    let created = storage
        .save(&key, &CartContents::new(Currency::USD), None)
        .await
        .unwrap();
    storage.client().next().script_flush(false).await.unwrap();
    assert_eq!(
        storage
            .save(&key, &CartContents::new(Currency::USD), Some(created))
            .await
            .unwrap(),
        created + 1
    );
}

async fn command_calls(client: &fred::clients::Client, command: &str) -> u64 {
    let info: String = client
        .info(Some(fred::types::InfoKind::CommandStats))
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_load_is_one_get_and_a_save_one_value_and_one_script_call() {
    // A server of our own, so no other test's commands are counted.
    let server = redis::OwnRedis::start();
    let storage = RedisStorage::connect(&server.url()).await.unwrap();
    let observer = fred::clients::Client::new(
        fred::types::config::Config::from_url(&server.url()).unwrap(),
        None,
        None,
        None,
    );
    observer.init().await.unwrap();
    let key = guest_key();
    let created = storage
        .save(&key, &CartContents::new(Currency::USD), None)
        .await
        .unwrap(); // loads the script

    let commands = ["get", "set", "evalsha", "rename", "hset", "hmget"];
    let mut before = Vec::new();
    for command in commands {
        before.push(command_calls(&observer, command).await);
    }
    let counted = async |before: &mut Vec<u64>| {
        let mut calls = Vec::new();
        for (command, earlier) in commands.iter().zip(before.iter_mut()) {
            let now = command_calls(&observer, command).await;
            calls.push((*command, now - *earlier));
            *earlier = now;
        }
        calls
    };
    storage.load(&key).await.unwrap();
    assert_eq!(
        counted(&mut before).await,
        [
            ("get", 1),
            ("set", 0),
            ("evalsha", 0),
            ("rename", 0),
            ("hset", 0),
            ("hmget", 0)
        ],
        "a load is one GET"
    );
    storage
        .save(&key, &CartContents::new(Currency::USD), Some(created))
        .await
        .unwrap();
    // commandstats also counts a script's own commands: the document went by the one SET, and
    // the script renamed it into place instead of taking it as an argument.
    assert_eq!(
        counted(&mut before).await,
        [
            ("get", 0),
            ("set", 1),
            ("evalsha", 1),
            ("rename", 1),
            ("hset", 0),
            ("hmget", 0)
        ],
        "a save is one SET and one EVALSHA"
    );
    assert_eq!(
        storage.load(&key).await.unwrap().unwrap().version,
        created + 1
    );
}

/// The command timeout of the outage tests: small, so that the bound they check stays far below
/// what the pool alone would take.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(250);

/// A load and a save during an outage: two commands of at most [`COMMAND_TIMEOUT`] each. The
/// bound leaves the rest of 40 timeouts (9.5 s) to a loaded machine, and is still far below the
/// minute the pool of [`small_timeout_storage`] waits by itself: only the driver's own timeout
/// can meet it.
const OUTAGE_BOUND: Duration = Duration::from_millis(40 * 250);

/// A storage on `url` whose pool waits a minute for an answer (and reconnects every 200 ms),
/// with the driver's command timeout set to [`COMMAND_TIMEOUT`].
async fn small_timeout_storage(url: &str) -> RedisStorage {
    let pool =
        fred::types::Builder::from_config(fred::types::config::Config::from_url(url).unwrap())
            .with_performance_config(|performance| {
                performance.default_command_timeout = Duration::from_secs(60);
            })
            .with_connection_config(|connection| {
                connection.max_command_attempts = 2;
            })
            .set_policy(fred::types::config::ReconnectPolicy::new_constant(0, 200))
            .build_pool(2)
            .unwrap();
    pool.init().await.unwrap();
    RedisStorage::new(pool).with_command_timeout(COMMAND_TIMEOUT)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_gives_unavailable_in_bounded_time_and_the_storage_recovers() {
    let mut server = redis::OwnRedis::start();
    let port = server.port;
    let storage = small_timeout_storage(&server.url()).await;
    let key = guest_key();
    let created = storage
        .save(&key, &CartContents::new(Currency::USD), None)
        .await
        .unwrap();

    server.stop();
    let started = Instant::now();
    let load = storage.load(&key).await;
    let save = storage
        .save(&key, &CartContents::new(Currency::USD), Some(created))
        .await;
    let elapsed = started.elapsed();
    println!("redis down: load and save failed after {elapsed:?}");
    assert!(
        matches!(load, Err(StorageError::Unavailable { .. })),
        "{load:?}"
    );
    assert!(
        matches!(save, Err(StorageError::Unavailable { .. })),
        "{save:?}"
    );
    assert!(elapsed < OUTAGE_BOUND, "took {elapsed:?}");

    // The server comes back (empty: this one keeps nothing on disk) and the same storage works.
    // The cart it creates again starts above the lost one: versions come from the clock.
    let _server = redis::OwnRedis::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match storage
            .save(&key, &CartContents::new(Currency::USD), None)
            .await
        {
            Ok(version) => {
                assert!(
                    version > created,
                    "re-created at v{version}, the lost cart was at v{created}"
                );
                break;
            }
            Err(error) => {
                assert!(Instant::now() < deadline, "no recovery: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert!(storage.load(&key).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_fails_writes_within_the_command_timeout() {
    let server = redis::OwnRedis::start();
    let storage = small_timeout_storage(&server.url()).await;
    let key = guest_key();
    let created = storage
        .save(&key, &CartContents::new(Currency::USD), None)
        .await
        .unwrap();
    server.signal("-STOP");
    let started = Instant::now();
    let save = storage
        .save(&key, &CartContents::new(Currency::USD), Some(created))
        .await;
    let load = storage.load(&key).await;
    let elapsed = started.elapsed();
    server.signal("-CONT");
    println!("redis frozen: save and load failed after {elapsed:?}");
    assert!(
        matches!(save, Err(StorageError::Unavailable { .. })),
        "{save:?}"
    );
    assert!(
        matches!(load, Err(StorageError::Unavailable { .. })),
        "{load:?}"
    );
    assert!(elapsed < OUTAGE_BOUND, "took {elapsed:?}");
    // Thawed, with its data: the stored cart is at its first version, or the next one when the
    // timed-out save reached Redis before the freeze.
    let deadline = Instant::now() + Duration::from_secs(60);
    let version = loop {
        match storage.load(&key).await {
            Ok(found) => break found.unwrap().version,
            Err(error) => {
                assert!(Instant::now() < deadline, "no recovery: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert!(
        version == created || version == created + 1,
        "v{version}, created at v{created}"
    );
}

/// A cart holding one unit of `sku`, so carts of different lives tell apart.
fn cart_with(sku: &str) -> CartContents {
    let mut cart = CartContents::new(Currency::USD);
    cart.add(CartItem::new(sku, sku, common::usd("1.00"), 1))
        .unwrap();
    cart
}

/// The Redis server's clock in microseconds.
async fn server_micros(storage: &RedisStorage) -> u64 {
    let (seconds, micros): (u64, u64) = storage
        .client()
        .eval(
            "return redis.call('TIME')",
            Vec::<String>::new(),
            Vec::<String>::new(),
        )
        .await
        .unwrap();
    seconds * 1_000_000 + micros
}

fn assert_conflict(result: Result<u64, StorageError>, expected: u64, current: u64) {
    match result {
        Err(StorageError::Conflict {
            expected: Some(held),
            current: Some(stored),
            ..
        }) => assert_eq!((held, stored), (expected, current)),
        other => panic!("expected a conflict of v{expected} with v{current}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_new_cart_starts_at_the_server_clock_and_each_write_adds_one() {
    let storage = redis::fresh_storage().await;
    let key = guest_key();
    let before = server_micros(&storage).await;
    let created = storage.save(&key, &cart_with("a"), None).await.unwrap();
    let after = server_micros(&storage).await;
    assert!(
        (before..=after).contains(&created),
        "v{created} is not the server clock between {before} and {after}"
    );
    let second = storage
        .save(&key, &cart_with("b"), Some(created))
        .await
        .unwrap();
    assert_eq!(second, created + 1);
    assert_eq!(storage.load(&key).await.unwrap().unwrap().version, second);
}

#[tokio::test]
async fn a_save_read_before_a_delete_conflicts_with_the_recreated_cart() {
    let storage = redis::fresh_storage().await;
    let key = guest_key();
    let created = storage.save(&key, &cart_with("old"), None).await.unwrap();
    let held = storage
        .save(&key, &cart_with("old"), Some(created))
        .await
        .unwrap();
    assert!(storage.delete(&key).await.unwrap());
    let recreated = storage.save(&key, &cart_with("new"), None).await.unwrap();
    assert!(
        recreated > held,
        "the re-created cart (v{recreated}) must start above the deleted one (v{held})"
    );
    assert_conflict(
        storage.save(&key, &cart_with("stale"), Some(held)).await,
        held,
        recreated,
    );
    let stored = storage.load(&key).await.unwrap().unwrap();
    assert_eq!(stored.version, recreated);
    assert_eq!(stored.value, cart_with("new"));
}

#[tokio::test]
async fn a_save_read_before_an_expiry_conflicts_with_the_recreated_cart() {
    let storage = redis::fresh_storage().await;
    let key = guest_key();
    let redis_key = storage.cart_key(&key);
    let created = storage.save(&key, &cart_with("old"), None).await.unwrap();
    let held = storage
        .save(&key, &cart_with("old"), Some(created))
        .await
        .unwrap();
    // The TTL runs out (made to, rather than waited for).
    expire_now(&storage, &redis_key).await;
    assert_eq!(storage.load(&key).await.unwrap(), None);
    let recreated = storage.save(&key, &cart_with("new"), None).await.unwrap();
    assert!(
        recreated > held,
        "the re-created cart (v{recreated}) must start above the expired one (v{held})"
    );
    assert_conflict(
        storage.save(&key, &cart_with("stale"), Some(held)).await,
        held,
        recreated,
    );
    let stored = storage.load(&key).await.unwrap().unwrap();
    assert_eq!(stored.version, recreated);
    assert_eq!(stored.value, cart_with("new"));
}

/// The instance set of `key`'s identifier, read directly (guest identifiers need no escaping).
async fn instance_set(storage: &RedisStorage, key: &CartKey) -> Vec<String> {
    let set = format!("{}:{{{}}}", storage.prefix(), key.identifier());
    let mut members: Vec<String> = storage.client().smembers(set.as_str()).await.unwrap();
    members.sort();
    members
}

#[tokio::test]
async fn delete_at_deletes_only_the_version_it_names() {
    let storage = redis::fresh_storage().await;
    let key = guest_key();
    let created = storage.save(&key, &cart_with("a"), None).await.unwrap();
    let current = storage
        .save(&key, &cart_with("b"), Some(created))
        .await
        .unwrap();

    assert!(!storage.delete_at(&key, created).await.unwrap());
    let kept = storage.load(&key).await.unwrap().unwrap();
    assert_eq!((kept.version, kept.value), (current, cart_with("b")));
    assert_eq!(instance_set(&storage, &key).await, vec!["default"]);

    assert!(storage.delete_at(&key, current).await.unwrap());
    assert_eq!(storage.load(&key).await.unwrap(), None);
    assert_eq!(instance_set(&storage, &key).await, Vec::<String>::new());
    assert!(!storage.delete_at(&key, current).await.unwrap());
}

#[tokio::test]
async fn a_swap_moves_the_cart_above_both_versions_and_the_clock() {
    let storage = redis::fresh_storage().await;
    let (from, to) = (guest_key(), guest_key());
    let to = CartKey::new(to.identifier(), from.instance());
    let moved = storage
        .save(&from, &cart_with("moved"), None)
        .await
        .unwrap();
    let replaced = storage
        .save(&to, &cart_with("replaced"), None)
        .await
        .unwrap();
    let before = server_micros(&storage).await;
    assert!(
        storage
            .swap_identifier(from.identifier(), to.identifier(), from.instance())
            .await
            .unwrap()
    );
    let stored = storage.load(&to).await.unwrap().unwrap();
    assert_eq!(stored.value, cart_with("moved"));
    assert!(
        stored.version > before && stored.version > moved.max(replaced),
        "v{} after a swap of v{moved} onto v{replaced} at clock {before}",
        stored.version
    );
    for held in [moved, replaced] {
        assert_conflict(
            storage.save(&to, &cart_with("stale"), Some(held)).await,
            held,
            stored.version,
        );
    }
    assert_eq!(storage.load(&from).await.unwrap(), None);
}

/// A save that Redis committed but whose answer was lost (fred re-sends it on a new connection,
/// or reports the error) counts once: one more unit, one more version.
async fn a_lost_answer_applies_the_change_once(locking: bool) {
    let target = redis::url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let target = tokio::net::lookup_host(target)
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = ReplyDropProxy::start(target).await;
    let storage = RedisStorage::connect(&format!("redis://127.0.0.1:{}", proxy.port))
        .await
        .unwrap()
        .with_prefix(redis::fresh_storage().await.prefix())
        .with_locking(locking);
    let key = guest_key();
    let options = ModifyOptions::default();
    let sku = format!("lost-answer-{}", uuid::Uuid::new_v4().simple());
    let add = |cart: &mut CartContents| {
        let price = Money::parse("1.00", Currency::USD)?;
        cart.add(CartItem::new(sku.as_str(), "Thing", price, 1))
            .map(|_| ())
    };
    let first = storage.modify(&key, &options, &add).await.unwrap();

    // The next save carries the line's id in its document; its answer is lost.
    proxy.arm(sku.as_bytes(), None);
    let second = storage.modify(&key, &options, &add).await.unwrap();
    assert!(!proxy.is_armed(), "the save went through the proxy");
    assert_eq!(proxy.dropped(), 1, "its answer was dropped");

    assert_eq!(second.cart.version, first.cart.version + 1);
    assert_eq!(second.cart.value.get(&sku).unwrap().quantity(), 2);
    let stored = storage.load(&key).await.unwrap().unwrap();
    assert_eq!(stored.version, first.cart.version + 1);
    assert_eq!(stored.value.get(&sku).unwrap().quantity(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_applies_the_change_once_optimistic() {
    a_lost_answer_applies_the_change_once(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_applies_the_change_once_with_locking() {
    a_lost_answer_applies_the_change_once(true).await;
}

/// A cart moved onto its own identifier keeps its TTL and its instance set's together: the set,
/// which lists the cart, never expires before it.
#[tokio::test]
async fn a_cart_swapped_onto_itself_refreshes_its_instance_set_too() {
    let storage = redis::fresh_storage()
        .await
        .with_ttl(Duration::from_millis(HOUR_MS as u64));
    let key = guest_key();
    let set_key = format!("{}:{{{}}}", storage.prefix(), key.identifier());
    storage
        .save(&key, &CartContents::new(Currency::USD), None)
        .await
        .unwrap();
    for stored in [storage.cart_key(&key), set_key.clone()] {
        let _: bool = storage
            .client()
            .pexpire(stored.as_str(), 5_000, None)
            .await
            .unwrap();
    }
    storage
        .swap_identifier(key.identifier(), key.identifier(), key.instance())
        .await
        .unwrap();
    for stored in [storage.cart_key(&key), set_key] {
        let after = pttl(&storage, &stored).await;
        assert!(
            after > RESET_MS && after <= HOUR_MS,
            "the swap reset {stored}'s TTL to an hour: PTTL {after}"
        );
    }
}

/// Every save sends its new value under a key of its own before the script that renames it over
/// the cart: saves that lose the race, or are refused, must not leave those values behind.
#[tokio::test]
async fn racing_and_refused_saves_leave_no_value_behind() {
    let storage = redis::fresh_storage().await;
    let key = guest_key();
    let created = storage.save(&key, &cart_with("a"), None).await.unwrap();
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let (storage, key) = (storage.clone(), key.clone());
            tokio::spawn(async move {
                storage
                    .save(&key, &cart_with(&format!("racer-{i}")), Some(created))
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(version) => {
                assert_eq!(version, created + 1);
                won += 1;
            }
            Err(StorageError::Conflict { .. }) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(won, 1, "one save of eight on the same version wins");
    assert!(matches!(
        storage.save(&key, &cart_with("new"), None).await,
        Err(StorageError::Conflict { .. })
    ));

    let pattern = format!("{}:*", storage.prefix());
    let mut found: Vec<String> = storage
        .client()
        .custom(
            fred::types::CustomCommand::new_static("KEYS", None, false),
            vec![pattern],
        )
        .await
        .unwrap();
    found.sort();
    let mut expected = vec![
        storage.cart_key(&key),
        format!("{}:{{{}}}", storage.prefix(), key.identifier()),
    ];
    expected.sort();
    assert_eq!(found, expected);
}
