//! The Redis driver against real servers: concurrency in both modes, TTL, the script cache,
//! round trips, and an outage.

mod common;

use std::time::{Duration, Instant};

use axum_cart::storage::{CartStorage, StorageError};
use axum_cart::{CartContents, Currency, RedisStorage};
use common::guest_key;
use common::hammer::hammer;
use common::redis;
use fred::interfaces::{ClientLike, KeysInterface, LuaInterface};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_lost_updates_optimistic() {
    let first = redis::fresh_storage().await;
    let second = RedisStorage::connect(&redis::url())
        .await
        .unwrap()
        .with_prefix(first.prefix());
    let (quantity, retries) = hammer(first, second).await;
    println!("redis optimistic: 1280 writes, {retries} conflicts retried");
    assert_eq!(quantity, 1_280);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_lost_updates_with_locking() {
    let first = redis::fresh_storage()
        .await
        .with_locking(true)
        .with_lock_wait(Duration::from_secs(30));
    let second = RedisStorage::connect(&redis::url())
        .await
        .unwrap()
        .with_prefix(first.prefix())
        .with_locking(true)
        .with_lock_wait(Duration::from_secs(30));
    let (quantity, retries) = hammer(first, second).await;
    println!("redis locking: 1280 writes, {retries} conflicts retried (writers queue on the lock)");
    assert_eq!(quantity, 1_280);
    assert_eq!(retries, 0);
}

#[tokio::test]
async fn a_cart_expires_after_its_ttl_and_a_write_refreshes_it() {
    let storage = redis::fresh_storage()
        .await
        .with_ttl(Duration::from_millis(1500));
    let key = guest_key();
    let redis_key = storage.cart_key(&key);
    storage
        .save(&key, &CartContents::new(Currency::USD), None)
        .await
        .unwrap();
    let pttl = || async {
        storage
            .client()
            .pttl::<i64, _>(redis_key.as_str())
            .await
            .unwrap()
    };
    let first = pttl().await;
    assert!(first > 0 && first <= 1500, "PTTL {first}");
    // Wait (bounded) until some of the TTL has run down, then write: the TTL is back to full.
    let deadline = Instant::now() + Duration::from_secs(5);
    while pttl().await > 1000 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before_write = pttl().await;
    storage
        .save(&key, &CartContents::new(Currency::USD), Some(1))
        .await
        .unwrap();
    let after_write = pttl().await;
    assert!(
        after_write > before_write,
        "a write refreshes the TTL: {before_write} -> {after_write}"
    );
    // Without writes the cart expires.
    let deadline = Instant::now() + Duration::from_secs(5);
    while storage.load(&key).await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "the cart outlived its TTL");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        storage
            .instances(key.identifier())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn reads_refresh_the_ttl_when_asked() {
    let storage = redis::fresh_storage()
        .await
        .with_ttl(Duration::from_secs(60))
        .with_ttl_refresh_on_read(true);
    let key = guest_key();
    storage
        .save(&key, &CartContents::new(Currency::USD), None)
        .await
        .unwrap();
    let redis_key = storage.cart_key(&key);
    storage
        .client()
        .pexpire::<(), _>(redis_key.as_str(), 5_000, None)
        .await
        .unwrap();
    assert!(storage.load(&key).await.unwrap().is_some());
    let pttl: i64 = storage.client().pttl(redis_key.as_str()).await.unwrap();
    assert!(
        pttl > 50_000,
        "the read put the TTL back to a minute: {pttl}"
    );
}

#[tokio::test]
async fn saves_survive_a_flushed_script_cache() {
    let storage = redis::fresh_storage().await;
    let key = guest_key();
    storage
        .save(&key, &CartContents::new(Currency::USD), None)
        .await
        .unwrap();
    storage.client().next().script_flush(false).await.unwrap();
    assert_eq!(
        storage
            .save(&key, &CartContents::new(Currency::USD), Some(1))
            .await
            .unwrap(),
        2
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
async fn a_load_is_one_command_and_a_save_one_script_call() {
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
    storage
        .save(&key, &CartContents::new(Currency::USD), None)
        .await
        .unwrap(); // loads the script

    let (hmget, evalsha) = (
        command_calls(&observer, "hmget").await,
        command_calls(&observer, "evalsha").await,
    );
    storage.load(&key).await.unwrap();
    assert_eq!(
        command_calls(&observer, "hmget").await - hmget,
        1,
        "a load is one HMGET"
    );
    storage
        .save(&key, &CartContents::new(Currency::USD), Some(1))
        .await
        .unwrap();
    assert_eq!(
        command_calls(&observer, "evalsha").await - evalsha,
        1,
        "a save is one EVALSHA"
    );
    // The write itself happened inside that one call: commandstats also counts a script's own
    // commands, and the HSET of the document is among them.
    assert!(command_calls(&observer, "hset").await >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_gives_unavailable_in_bounded_time_and_the_storage_recovers() {
    let mut server = redis::OwnRedis::start();
    let port = server.port;
    let storage = RedisStorage::connect(&server.url()).await.unwrap();
    let key = guest_key();
    storage
        .save(&key, &CartContents::new(Currency::USD), None)
        .await
        .unwrap();

    server.stop();
    let started = Instant::now();
    let load = storage.load(&key).await;
    let save = storage
        .save(&key, &CartContents::new(Currency::USD), Some(1))
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
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");

    // The server comes back (empty: this one keeps nothing on disk) and the same storage works.
    let _server = redis::OwnRedis::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match storage
            .save(&key, &CartContents::new(Currency::USD), None)
            .await
        {
            Ok(version) => {
                assert_eq!(version, 1);
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
    let storage = RedisStorage::connect(&server.url()).await.unwrap();
    let key = guest_key();
    storage
        .save(&key, &CartContents::new(Currency::USD), None)
        .await
        .unwrap();
    server.signal("-STOP");
    let started = Instant::now();
    let save = storage
        .save(&key, &CartContents::new(Currency::USD), Some(1))
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
    assert!(elapsed < Duration::from_secs(6), "took {elapsed:?}");
    // Thawed, with its data: the stored cart is still at version 1 (the timed-out save may or
    // may not have reached Redis before the freeze, so accept 1 or 2).
    let deadline = Instant::now() + Duration::from_secs(15);
    let version = loop {
        match storage.load(&key).await {
            Ok(found) => break found.unwrap().version,
            Err(error) => {
                assert!(Instant::now() < deadline, "no recovery: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert!(version == 1 || version == 2, "{version}");
}
