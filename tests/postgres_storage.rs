//! The Postgres driver against a real server: versions from the database clock, conflicts,
//! deletes at a version, the write log, concurrency in both modes, abandoned carts and pruning,
//! and outages.

mod common;

use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum_cart::cart::MergeRecord;
use axum_cart::storage::{
    CartKey, CartStorage, ModifyError, ModifyOptions, StorageError, Versioned,
};
use axum_cart::{
    CartConfig, CartContents, CartError, CartItem, CartManager, Currency, PostgresStorage,
};
use common::hammer::hammer;
use common::proxy::Proxy;
use common::{guest_key, pg, usd};

/// A storage on a fresh table with every bundled migration applied: the migration that adds the
/// `log` column as well (`IF NOT EXISTS`, so applying it twice is harmless).
async fn fresh_storage_with(connections: u32) -> PostgresStorage {
    let storage = pg::fresh_storage_with(connections).await;
    let add_log = include_str!("../migrations/20261201000000_add_write_log.sql").replace(
        "ALTER TABLE carts",
        &format!("ALTER TABLE {}", storage.table()),
    );
    sqlx::raw_sql(&add_log)
        .execute(storage.pool())
        .await
        .unwrap();
    storage
}

async fn fresh_storage() -> PostgresStorage {
    fresh_storage_with(8).await
}

/// The database clock in microseconds, which new carts take as their first version.
async fn db_clock(storage: &PostgresStorage) -> u64 {
    let micros: i64 =
        sqlx::query_scalar("SELECT (extract(epoch from clock_timestamp()) * 1000000)::bigint")
            .fetch_one(storage.pool())
            .await
            .unwrap();
    u64::try_from(micros).unwrap()
}

#[tokio::test]
async fn the_bundled_migration_creates_the_default_table() {
    let url = pg::test_database_url().await;
    let storage = PostgresStorage::connect(&url).await.unwrap();
    storage.migrate().await.unwrap();
    storage.migrate().await.unwrap(); // applied migrations are skipped
    let key = guest_key();
    let mut cart = CartContents::new(Currency::USD);
    cart.record_write("w-1");
    let before = db_clock(&storage).await;
    let version = storage.save(&key, &cart, None).await.unwrap();
    let after = db_clock(&storage).await;
    assert!(
        (before..=after).contains(&version),
        "a new cart starts at the database clock: {before} <= {version} <= {after}"
    );
    let stored = storage.load(&key).await.unwrap().unwrap();
    assert_eq!(
        (stored.value, stored.version),
        (cart, version),
        "the default table keeps the write log"
    );
    let in_table: i64 =
        sqlx::query_scalar("SELECT count(*) FROM public.carts WHERE identifier = $1")
            .bind(key.identifier())
            .fetch_one(storage.pool())
            .await
            .unwrap();
    assert_eq!(in_table, 1);
    assert!(
        PostgresStorage::connect(&url)
            .await
            .unwrap()
            .with_table("carts; drop table carts")
            .is_err()
    );
}

#[tokio::test]
async fn versions_count_committed_changes_and_clearing_deletes_the_row() {
    let storage = fresh_storage().await;
    let manager = CartManager::new(CartConfig::new().with_storage(storage.clone()));
    let key = guest_key();
    let cart = manager.cart(key.identifier(), "default").unwrap();
    let before = db_clock(&storage).await;
    cart.add_priced(CartItem::new("a", "Apple", usd("1.00"), 1))
        .await
        .unwrap();
    let first = storage.load(&key).await.unwrap().unwrap().version;
    let after = db_clock(&storage).await;
    assert!(
        (before..=after).contains(&first),
        "a new cart starts at the database clock: {before} <= {first} <= {after}"
    );
    cart.add_priced(CartItem::new("b", "Bread", usd("2.00"), 1))
        .await
        .unwrap();
    cart.set_metadata("note", serde_json::json!("x"))
        .await
        .unwrap();
    cart.change_quantity("a", 2).await.unwrap();
    for _ in 0..3 {
        assert_eq!(
            storage.load(&key).await.unwrap().unwrap().version,
            first + 3,
            "one more per committed change; reads never change it"
        );
    }
    // A failed change commits nothing and keeps the version.
    assert!(cart.remove("missing").await.is_err());
    assert_eq!(
        storage.load(&key).await.unwrap().unwrap().version,
        first + 3
    );
    cart.clear().await.unwrap();
    let rows: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM {} WHERE identifier = $1",
        storage.table()
    ))
    .bind(key.identifier())
    .fetch_one(storage.pool())
    .await
    .unwrap();
    assert_eq!(rows, 0, "clearing deletes the row");
}

#[tokio::test]
async fn a_forced_conflict_reports_both_versions() {
    let storage = fresh_storage().await;
    let key = guest_key();
    let mut cart = CartContents::new(Currency::USD);
    let v1 = storage.save(&key, &cart, None).await.unwrap();
    cart.add(CartItem::new("a", "Apple", usd("1.00"), 1))
        .unwrap();
    // Two writers read the first version; the first to save wins.
    assert_eq!(storage.save(&key, &cart, Some(v1)).await.unwrap(), v1 + 1);
    let lost = storage.save(&key, &cart, Some(v1)).await.unwrap_err();
    let StorageError::Conflict {
        expected, current, ..
    } = &lost
    else {
        panic!("expected a conflict, got {lost:?}")
    };
    assert_eq!((*expected, *current), (Some(v1), Some(v1 + 1)));
    let error = CartError::from(lost);
    let CartError::Conflict(info) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(info.attempted_version, v1);
    assert_eq!(info.current_version, Some(v1 + 1));
    assert!(info.is_minor());
    assert_eq!(error.status(), axum::http::StatusCode::CONFLICT);
    let body = error.body();
    assert_eq!(body["error"], "conflict");
    assert_eq!(body["attempted_version"], v1);
    assert_eq!(body["current_version"], v1 + 1);
    assert_eq!(body["identifier"], key.identifier());
    // Over HTTP: 409 with that body.
    let response = axum::response::IntoResponse::into_response(error);
    assert_eq!(response.status(), 409);
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let sent: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(sent, body);
    // A creator that loses the race also gets a conflict, not a unique-violation error.
    let again = storage.save(&key, &cart, None).await.unwrap_err();
    assert!(
        matches!(again, StorageError::Conflict { expected: None, current: Some(c), .. } if c == v1 + 1),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_lost_updates_with_optimistic_writes() {
    let first = fresh_storage_with(8).await;
    let second = pg::second_storage(&first, 8).await;
    let (quantity, retries) = hammer(first, second).await;
    println!("postgres optimistic: 1280 writes, {retries} retries after conflicts");
    assert_eq!(
        quantity,
        1_280,
        "{} writes lost",
        1_280 - i64::from(quantity)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_lost_updates_with_locking() {
    let first = fresh_storage_with(8).await.with_locking(true);
    let second = pg::second_storage(&first, 8).await.with_locking(true);
    let (quantity, retries) = hammer(first, second).await;
    println!("postgres locking: 1280 writes, {retries} retries (only creation races retry)");
    assert_eq!(
        quantity,
        1_280,
        "{} writes lost",
        1_280 - i64::from(quantity)
    );
}

#[tokio::test]
async fn abandoned_carts_and_pruning() {
    let storage = fresh_storage().await;
    let table = storage.table().to_owned();
    let mut full = CartContents::new(Currency::USD);
    full.add(CartItem::new("a", "Apple", usd("1.00"), 3))
        .unwrap();
    full.add(CartItem::new("b", "Bread", usd("2.00"), 1))
        .unwrap();
    for i in 0..5 {
        storage
            .save(&CartKey::new(format!("old-{i}"), "default"), &full, None)
            .await
            .unwrap();
    }
    storage
        .save(
            &CartKey::new("old-empty", "default"),
            &CartContents::new(Currency::USD),
            None,
        )
        .await
        .unwrap();
    storage
        .save(&CartKey::new("fresh", "default"), &full, None)
        .await
        .unwrap();
    sqlx::query(&format!(
        "UPDATE {table} SET updated_at = now() - interval '10 days' WHERE identifier LIKE 'old-%'"
    ))
    .execute(storage.pool())
    .await
    .unwrap();

    let week = Duration::from_secs(7 * 24 * 3600);
    let abandoned = storage.abandoned(week, 100).await.unwrap();
    assert_eq!(
        abandoned.len(),
        5,
        "non-empty carts older than a week: {abandoned:?}"
    );
    assert!(abandoned.iter().all(|c| c.lines == 2 && c.quantity == 4));
    assert!(
        abandoned
            .iter()
            .all(|c| c.identifier.starts_with("old-") && c.identifier != "old-empty")
    );
    assert_eq!(storage.abandoned(week, 2).await.unwrap().len(), 2);

    let dry = storage
        .prune(
            &axum_cart::storage::PruneOptions::older_than(week)
                .with_batch_size(2)
                .with_dry_run(true),
            None,
        )
        .await
        .unwrap();
    assert_eq!((dry.matched, dry.deleted), (6, 0));
    assert_eq!(
        storage.abandoned(week, 100).await.unwrap().len(),
        5,
        "a dry run deletes nothing"
    );

    let progress = std::sync::Mutex::new(Vec::new());
    let report_progress = |deleted: u64| progress.lock().unwrap().push(deleted);
    let pruned = storage
        .prune(
            &axum_cart::storage::PruneOptions::older_than(week).with_batch_size(2),
            Some(&report_progress),
        )
        .await
        .unwrap();
    assert_eq!((pruned.matched, pruned.deleted, pruned.batches), (6, 6, 4));
    assert_eq!(*progress.lock().unwrap(), vec![2, 4, 6, 6]);
    assert!(
        storage
            .load(&CartKey::new("fresh", "default"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        storage
            .load(&CartKey::new("old-0", "default"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_gives_unavailable_in_bounded_time_and_the_storage_recovers() {
    let table = fresh_storage().await.table().to_owned();
    let mut proxy = Proxy::start_on(0).await;
    let port = proxy.port;
    let url = pg::through_local_port(&pg::test_database_url().await, port);
    let storage = PostgresStorage::connect_lazy(&url)
        .unwrap()
        .with_table(&table)
        .unwrap();
    let key = guest_key();
    let v1 = storage
        .save(&key, &CartContents::new(Currency::USD), None)
        .await
        .unwrap();

    // Returns once every connection the pool had through the proxy is closed.
    proxy.stop().await;
    let started = Instant::now();
    let load = storage.load(&key).await;
    let save = storage
        .save(&key, &CartContents::new(Currency::USD), Some(v1))
        .await;
    let elapsed = started.elapsed();
    println!("postgres down: load and save failed after {elapsed:?}");
    assert!(
        matches!(load, Err(StorageError::Unavailable { .. })),
        "{load:?}"
    );
    assert!(
        matches!(save, Err(StorageError::Unavailable { .. })),
        "{save:?}"
    );
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");

    let _proxy = Proxy::start_on(port).await;
    let recovered = storage.load(&key).await.unwrap().unwrap();
    assert_eq!(recovered.version, v1, "nothing stored was lost");
    assert_eq!(
        storage
            .save(&key, &recovered.value, Some(v1))
            .await
            .unwrap(),
        v1 + 1
    );
}

#[tokio::test]
async fn a_cart_created_again_refuses_a_version_read_before_its_delete() {
    let storage = fresh_storage().await;
    let key = guest_key();
    let first = storage
        .save(&key, &CartContents::new(Currency::USD), None)
        .await
        .unwrap();
    let mut cart = CartContents::new(Currency::USD);
    cart.add(CartItem::new("a", "Apple", usd("1.00"), 1))
        .unwrap();
    assert_eq!(
        storage.save(&key, &cart, Some(first)).await.unwrap(),
        first + 1
    );
    // A writer reads the cart, then the cart is deleted (a clear) and created again.
    let held = storage.load(&key).await.unwrap().unwrap();
    assert!(storage.delete(&key).await.unwrap());
    let before = db_clock(&storage).await;
    let again = storage
        .save(&key, &CartContents::new(Currency::USD), None)
        .await
        .unwrap();
    let after = db_clock(&storage).await;
    assert!(
        (before..=after).contains(&again) && again > held.version,
        "the new cart starts at the clock ({before} <= {again} <= {after}), above {}",
        held.version
    );
    let stale = storage
        .save(&key, &held.value, Some(held.version))
        .await
        .unwrap_err();
    assert!(
        matches!(&stale, StorageError::Conflict { expected: Some(e), current: Some(c), .. }
            if *e == held.version && *c == again),
        "{stale:?}"
    );
    let stored = storage.load(&key).await.unwrap().unwrap();
    assert_eq!(
        (stored.version, stored.value),
        (again, CartContents::new(Currency::USD)),
        "the stale writer's apple did not come back"
    );
}

#[tokio::test]
async fn delete_at_deletes_only_the_version_it_names() {
    let storage = fresh_storage().await;
    let key = guest_key();
    let v1 = storage
        .save(&key, &CartContents::new(Currency::USD), None)
        .await
        .unwrap();
    let mut cart = CartContents::new(Currency::USD);
    cart.add(CartItem::new("a", "Apple", usd("1.00"), 2))
        .unwrap();
    let v2 = storage.save(&key, &cart, Some(v1)).await.unwrap();
    assert!(
        !storage.delete_at(&key, v1).await.unwrap(),
        "an older version"
    );
    assert!(
        !storage.delete_at(&key, v2 + 1).await.unwrap(),
        "a newer one"
    );
    let kept = storage.load(&key).await.unwrap().unwrap();
    assert_eq!((kept.version, kept.value), (v2, cart));
    assert!(storage.delete_at(&key, v2).await.unwrap());
    assert_eq!(storage.load(&key).await.unwrap(), None);
    assert!(!storage.delete_at(&key, v2).await.unwrap(), "already gone");
    assert!(
        !storage
            .delete_at(&CartKey::new(key.identifier(), "wishlist"), v2)
            .await
            .unwrap(),
        "another instance"
    );
}

#[tokio::test]
async fn the_write_log_round_trips_in_its_own_column() {
    let storage = fresh_storage().await;
    let key = guest_key();
    let mut cart = CartContents::new(Currency::USD);
    cart.add(CartItem::new("a", "Apple", usd("1.00"), 1))
        .unwrap();
    cart.set_metadata("note", serde_json::json!("ring twice"))
        .unwrap();
    cart.record_write("w-1");
    cart.record_write("w-2");
    cart.record_merge("guest-a", 7);
    let v1 = storage.save(&key, &cart, None).await.unwrap();
    let loaded = storage.load(&key).await.unwrap().unwrap();
    assert_eq!(ids(loaded.value.write_ids()), ["w-1", "w-2"]);
    assert_eq!(
        loaded.value.merges(),
        [MergeRecord {
            guest: "guest-a".to_owned(),
            version: 7
        }]
    );
    assert_eq!((loaded.version, &loaded.value), (v1, &cart));

    // The shop sees metadata; the log stays out of it and out of the settings.
    let columns = || async {
        let sql = format!(
            "SELECT log, metadata, settings ? 'writes' OR settings ? 'merged' FROM {} \
             WHERE identifier = $1 AND instance = $2",
            storage.table()
        );
        sqlx::query_as::<_, (serde_json::Value, serde_json::Value, bool)>(&sql)
            .bind(key.identifier())
            .bind(key.instance())
            .fetch_one(storage.pool())
            .await
            .unwrap()
    };
    assert_eq!(
        columns().await,
        (
            serde_json::json!({"writes": ["w-1", "w-2"], "merged": [{"guest": "guest-a", "version": 7}]}),
            serde_json::json!({"note": "ring twice"}),
            false
        )
    );

    // An update writes the log in the same statement as the cart.
    cart.record_write("w-3");
    assert_eq!(storage.save(&key, &cart, Some(v1)).await.unwrap(), v1 + 1);
    let loaded = storage.load(&key).await.unwrap().unwrap();
    assert_eq!(ids(loaded.value.write_ids()), ["w-1", "w-2", "w-3"]);
    assert_eq!(
        columns().await.0["writes"],
        serde_json::json!(["w-1", "w-2", "w-3"])
    );

    // A cart without a log stores the column's default.
    let bare = CartKey::new(key.identifier(), "wishlist");
    storage
        .save(&bare, &CartContents::new(Currency::USD), None)
        .await
        .unwrap();
    let loaded = storage.load(&bare).await.unwrap().unwrap();
    assert_eq!(
        (loaded.value.write_ids(), loaded.value.merges()),
        (&[][..], &[][..])
    );

    // A swap moves the log with the cart.
    let to = format!("user-{}", uuid::Uuid::new_v4().simple());
    assert!(
        storage
            .swap_identifier(key.identifier(), &to, "default")
            .await
            .unwrap()
    );
    let moved = storage
        .load(&CartKey::new(&to, "default"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(moved.value, cart);
}

#[tokio::test]
async fn a_row_written_before_the_log_column_keeps_its_log() {
    let storage = fresh_storage().await;
    let key = guest_key();
    let mut cart = CartContents::new(Currency::USD);
    cart.record_write("w-old");
    cart.record_merge("guest-old", 3);
    let v1 = storage.save(&key, &cart, None).await.unwrap();
    // Such a row had the log among the rest of the document, in `settings`.
    sqlx::query(&format!(
        "UPDATE {} SET settings = settings || log, log = '{{}}' WHERE identifier = $1",
        storage.table()
    ))
    .bind(key.identifier())
    .execute(storage.pool())
    .await
    .unwrap();
    let loaded = storage.load(&key).await.unwrap().unwrap();
    assert_eq!((loaded.version, &loaded.value), (v1, &cart));
    cart.record_write("w-new");
    storage.save(&key, &cart, Some(v1)).await.unwrap();
    assert_eq!(
        ids(storage.load(&key).await.unwrap().unwrap().value.write_ids()),
        ["w-old", "w-new"]
    );
}

#[tokio::test]
async fn a_swap_lands_above_both_versions_and_the_clock() {
    let storage = fresh_storage().await;
    let (from, to) = (guest_key(), guest_key());
    let mut moved = CartContents::new(Currency::USD);
    moved
        .add(CartItem::new("a", "Apple", usd("1.00"), 1))
        .unwrap();
    storage.save(&from, &moved, None).await.unwrap();
    let replaced = storage
        .save(&to, &CartContents::new(Currency::USD), None)
        .await
        .unwrap();
    let before = db_clock(&storage).await;
    assert!(
        storage
            .swap_identifier(from.identifier(), to.identifier(), "default")
            .await
            .unwrap()
    );
    let after = db_clock(&storage).await;
    let swapped = storage.load(&to).await.unwrap().unwrap();
    assert!(
        (before..=after).contains(&swapped.version) && swapped.version > replaced,
        "{before} <= {} <= {after}, above {replaced}",
        swapped.version
    );
    assert_eq!(swapped.value, moved);
    let stale = storage
        .save(&to, &CartContents::new(Currency::USD), Some(replaced))
        .await
        .unwrap_err();
    assert!(
        matches!(&stale, StorageError::Conflict { current: Some(c), .. } if *c == swapped.version),
        "{stale:?}"
    );

    // A cart whose versions ran ahead of the clock moves above its own version.
    let ahead = after + 1_000_000_000_000;
    sqlx::query(&format!(
        "UPDATE {} SET version = $2 WHERE identifier = $1",
        storage.table()
    ))
    .bind(to.identifier())
    .bind(ahead as i64)
    .execute(storage.pool())
    .await
    .unwrap();
    assert!(
        storage
            .swap_identifier(to.identifier(), from.identifier(), "default")
            .await
            .unwrap()
    );
    assert_eq!(
        storage.load(&from).await.unwrap().unwrap().version,
        ahead + 1
    );
}

/// A driver whose saves commit and then answer as if they had not: the answer lost on the way
/// back, or a save re-sent by the client library and then refused as a conflict.
#[derive(Clone)]
struct LosesAnswers {
    inner: PostgresStorage,
    conflict: bool,
}

#[async_trait]
impl CartStorage for LosesAnswers {
    fn driver(&self) -> &'static str {
        "postgres, losing answers"
    }
    async fn load(&self, key: &CartKey) -> Result<Option<Versioned<CartContents>>, StorageError> {
        self.inner.load(key).await
    }
    async fn save(
        &self,
        key: &CartKey,
        cart: &CartContents,
        expected: Option<u64>,
    ) -> Result<u64, StorageError> {
        let version = self.inner.save(key, cart, expected).await?;
        Err(if self.conflict {
            StorageError::Conflict {
                key: key.clone(),
                expected,
                current: Some(version),
            }
        } else {
            StorageError::Unavailable {
                driver: "postgres",
                message: "connection reset".to_owned(),
            }
        })
    }
    async fn delete(&self, key: &CartKey) -> Result<bool, StorageError> {
        self.inner.delete(key).await
    }
    async fn instances(&self, identifier: &str) -> Result<Vec<String>, StorageError> {
        self.inner.instances(identifier).await
    }
    async fn swap_identifier(
        &self,
        from: &str,
        to: &str,
        instance: &str,
    ) -> Result<bool, StorageError> {
        self.inner.swap_identifier(from, to, instance).await
    }
}

#[tokio::test]
async fn a_save_whose_answer_was_lost_counts_once() {
    let storage = fresh_storage().await;
    let key = guest_key();
    let options = ModifyOptions::default();
    let add = |cart: &mut CartContents| {
        cart.add(CartItem::new("a", "Apple", usd("1.00"), 1))
            .map(|_| ())
    };
    let created = storage.modify(&key, &options, &add).await.unwrap();
    let [created_write] = created.cart.value.write_ids() else {
        panic!("one write id: {:?}", created.cart.value.write_ids())
    };
    let mut version = created.cart.version;
    for conflict in [false, true] {
        let losing = LosesAnswers {
            inner: storage.clone(),
            conflict,
        };
        let modified = losing.modify(&key, &options, &add).await.unwrap();
        assert_eq!(
            (
                modified.cart.version,
                modified.previous_version,
                modified.retries
            ),
            (version + 1, Some(version), 0),
            "conflict answer: {conflict}"
        );
        version += 1;
    }
    let stored = storage.load(&key).await.unwrap().unwrap();
    assert_eq!(stored.version, version);
    assert_eq!(
        stored.value.get("a").unwrap().quantity(),
        3,
        "each change applied once"
    );
    assert_eq!(stored.value.write_ids().len(), 3);
    assert_eq!(&stored.value.write_ids()[0], created_write);
}

#[tokio::test]
async fn a_locked_change_whose_commit_fails_stores_nothing_and_says_so() {
    let storage = fresh_storage().await.with_locking(true);
    let table = storage.table().to_owned();
    let schema = table.split_once('.').unwrap().0.to_owned();
    // A deferred constraint trigger fails the COMMIT itself, after the update went through.
    sqlx::raw_sql(&format!(
        "CREATE FUNCTION {schema}.refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.metadata ? 'refuse' THEN RAISE EXCEPTION 'refused at commit'; END IF; \
         RETURN NULL; END $$; \
         CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT OR UPDATE ON {table} \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {schema}.refuse_commit();"
    ))
    .execute(storage.pool())
    .await
    .unwrap();
    let key = guest_key();
    let options = ModifyOptions::default();
    let add = |cart: &mut CartContents| {
        cart.add(CartItem::new("a", "Apple", usd("1.00"), 1))
            .map(|_| ())
    };
    let created = storage.modify(&key, &options, &add).await.unwrap();
    let refused = |cart: &mut CartContents| {
        add(cart)?;
        cart.set_metadata("refuse", serde_json::json!(true))
    };
    let error = storage.modify(&key, &options, &refused).await.unwrap_err();
    assert!(
        matches!(&error, ModifyError::Storage(StorageError::Backend { message, .. })
            if message.contains("refused at commit")),
        "{error:?}"
    );
    let stored = storage.load(&key).await.unwrap().unwrap();
    assert_eq!(
        (stored.version, stored.value),
        (created.cart.version, created.cart.value),
        "nothing of the refused change is stored"
    );
    let after = storage.modify(&key, &options, &add).await.unwrap();
    assert_eq!(
        (
            after.cart.version,
            after.cart.value.get("a").unwrap().quantity()
        ),
        (created.cart.version + 1, 2),
        "the failed commit released the row"
    );
}

/// Write ids as plain strings, for comparing with literals.
fn ids(write_ids: &[std::sync::Arc<str>]) -> Vec<&str> {
    write_ids.iter().map(|id| &**id).collect()
}

/// A process keeps the carts it read or wrote parsed and asks Postgres for a row's document only
/// when the row moved on from the version and write time it holds: a change by another process,
/// or by SQL that bumps the version as compare-and-set requires, is read at once.
#[tokio::test]
async fn a_row_changed_elsewhere_is_read_again() {
    let storage = fresh_storage().await;
    let other = PostgresStorage::new(storage.pool().clone())
        .with_table(storage.table())
        .unwrap();
    let key = guest_key();
    let options = ModifyOptions::default();
    let add = |id: &'static str| {
        move |cart: &mut CartContents| cart.add(CartItem::new(id, id, usd("1.00"), 1)).map(|_| ())
    };
    storage.modify(&key, &options, &add("a")).await.unwrap();
    let mine = storage.load(&key).await.unwrap().unwrap();
    assert_eq!(storage.load(&key).await.unwrap().unwrap().value, mine.value);

    other.modify(&key, &options, &add("b")).await.unwrap();
    let seen = storage.load(&key).await.unwrap().unwrap();
    assert_eq!(seen.version, mine.version + 1);
    assert!(seen.value.get("b").is_some(), "the other process's line");

    sqlx::query(&format!(
        "UPDATE {} SET items = '[]', version = version + 1 WHERE identifier = $1",
        storage.table()
    ))
    .bind(key.identifier())
    .execute(storage.pool())
    .await
    .unwrap();
    let emptied = storage.load(&key).await.unwrap().unwrap();
    assert_eq!(emptied.version, seen.version + 1);
    assert!(emptied.value.items().is_empty(), "the change made with SQL");

    // The columns a write splits the document into are what SQL reads.
    storage.modify(&key, &options, &add("c")).await.unwrap();
    let (items, settings): (serde_json::Value, serde_json::Value) = sqlx::query_as(&format!(
        "SELECT items, settings FROM {} WHERE identifier = $1",
        storage.table()
    ))
    .bind(key.identifier())
    .fetch_one(storage.pool())
    .await
    .unwrap();
    assert_eq!(items[0]["id"], "c");
    assert_eq!(settings["currency"], "USD");
    for moved in ["items", "conditions", "metadata", "writes"] {
        assert!(settings.get(moved).is_none(), "{moved} has its own column");
    }
}
