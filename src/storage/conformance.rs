//! The driver conformance suite: the [`CartStorage`] contract as executable checks.
//!
//! Every driver of this crate (memory, session, Redis, Postgres) runs these checks, and so should
//! yours. Each check is a public `async fn` taking the storage; it panics with a message naming
//! the driver and what went wrong. Checks use fresh random identifiers (UUID v4), so they can
//! share one storage, run in parallel, and run against a database that already holds carts.
//!
//! Versions are checked relative to each other, never as numbers: a new cart may start at any
//! version (the drivers of this crate start at a clock in microseconds), a committed write adds
//! exactly one, and a cart created after a delete starts above every version its key had.
//!
//! # Running it against your own driver
//!
//! Enable the `test-util` feature for your tests, and have `tokio` (features `macros` and
//! `rt-multi-thread`) as a dev-dependency:
//!
//! ```toml
//! [dev-dependencies]
//! axum-cart = { version = "0.1", features = ["test-util"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! Then, in `tests/conformance.rs`, call [`conformance_tests!`](crate::conformance_tests) with a
//! module name, an expression that evaluates to a future of your storage, and how the suite can
//! store a corrupt document in it. It expands to a module of that name with one
//! `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]` per check, each building its own
//! storage with the expression:
//!
//! ```ignore
//! use axum_cart::storage::CartKey;
//! use my_crate::FileStorage;
//!
//! async fn storage() -> FileStorage {
//!     FileStorage::open(tempdir()).await.unwrap()
//! }
//!
//! /// Replaces the stored document of `key` (a cart the check has just saved) with bytes the
//! /// driver cannot decode.
//! async fn corrupt(storage: &FileStorage, key: &CartKey) {
//!     tokio::fs::write(storage.file_of(key), b"{ not json").await.unwrap();
//! }
//!
//! axum_cart::conformance_tests!(file, storage(), corrupt = corrupt);
//! ```
//!
//! The options after the expression:
//! - `corrupt = HOOK` or `no_corrupt`, one of them required: `HOOK` is an async function
//!   `(&YourStorage, &CartKey)` that overwrites the stored document of an existing cart with
//!   something undecodable, for [`corrupt_document_is_an_error`]. A driver that offers no way to
//!   write raw bytes opts out with `no_corrupt`.
//! - `no_scan`, optional: for a driver that cannot enumerate its carts (the session driver). The
//!   scan checks then show as ignored tests; without it, `scan` must work.
//!
//! To run everything in one test instead (for example against one expensive connection), call
//! [`run_all`] (every check but the corrupt-document one, which needs the hook):
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
//! async fn my_driver_conforms() {
//!     let storage = my_crate::FileStorage::open(tempdir()).await.unwrap();
//!     axum_cart::storage::conformance::run_all(&storage).await;
//! }
//! ```
//!
//! The concurrency checks ([`concurrent_creates_one_wins`], [`concurrent_modify_loses_nothing`])
//! run their writers on parallel threads driven by the caller's runtime, which must be
//! multi-threaded: on any other runtime they fail with a message saying so.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;

use super::{
    CartKey, CartStorage, ModifyError, ModifyOptions, StorageError, Versioned, new_write_id,
};
use crate::cart::{
    self, CartContents, CartItem, Condition, ConditionTarget, Currency, Limits, Money,
    RoundingMode, Rule,
};

/// A fresh identifier no other check (or earlier run) uses.
fn fresh_identifier(check: &str) -> String {
    format!("conformance-{check}-{}", uuid::Uuid::new_v4())
}

/// The moment totals are compared at, so date-window rules give the same answer every run.
const NOW: OffsetDateTime = datetime!(2025-06-15 12:00 UTC);

fn eur(amount: &str) -> Money {
    Money::parse(amount, Currency::EUR).expect("a valid EUR amount")
}

/// A cart that uses every stored feature: a non-default currency and rounding, items with
/// attributes and item conditions (with rules), cart conditions with rules and orders, and
/// nested, non-ASCII metadata.
pub fn sample_cart() -> CartContents {
    let mut cart = CartContents::new(Currency::EUR).with_rounding(RoundingMode::HalfEven);
    let bulk = Condition::new("bulk", "discount", ConditionTarget::Item, "-10%")
        .expect("valid condition")
        .with_rule(Rule::ItemQuantityAtLeast { value: 2 });
    cart.add(
        CartItem::new("sku-1", "Café au lait ☕", eur("3.35"), 3)
            .with_attribute("size", "large")
            .with_attribute("extras", json!(["oat milk", {"shots": 2}]))
            .with_condition(bulk)
            .with_condition(
                Condition::new("engraving", "fee", ConditionTarget::Item, "+1.25")
                    .expect("valid condition")
                    .with_order(2),
            ),
    )
    .expect("add sku-1");
    cart.add(CartItem::new("sku-2", "Croissant", eur("1.99"), 1).with_attribute("warm", true))
        .expect("add sku-2");
    cart.add_condition(
        Condition::new("summer", "discount", ConditionTarget::Subtotal, "-5%")
            .expect("valid condition")
            .with_rule(Rule::SubtotalAtLeast {
                amount: "5.00".parse().expect("decimal"),
            })
            .with_rule(Rule::DateWindow {
                from: Some(datetime!(2025-06-01 0:00 UTC)),
                until: Some(datetime!(2025-09-01 0:00 UTC)),
            })
            .with_rule(Rule::MetadataIn {
                key: "channel".into(),
                values: vec![json!("web"), json!("app")],
            }),
    )
    .expect("add summer");
    cart.add_tax("vat", "+19%").expect("add vat");
    cart.add_shipping("standard", "+4.90")
        .expect("add shipping");
    cart.add_condition(
        Condition::new("rounding", "fee", ConditionTarget::Total, "*1.001")
            .expect("valid condition")
            .with_order(-1),
    )
    .expect("add rounding");
    cart.set_metadata("channel", json!("web"))
        .expect("metadata");
    cart.set_metadata(
        "note",
        json!({"text": "Grüße", "lines": [1, 2, 3], "gift": null}),
    )
    .expect("metadata");
    cart
}

/// A small cart whose content tells carts apart.
fn marked_cart(mark: &str) -> CartContents {
    let mut cart = CartContents::new(Currency::USD);
    cart.add(CartItem::new(
        mark,
        format!("item {mark}"),
        Money::parse("1.00", Currency::USD).expect("amount"),
        1,
    ))
    .expect("add marked item");
    cart
}

async fn load_version(storage: &dyn CartStorage, key: &CartKey) -> Option<u64> {
    storage
        .load(key)
        .await
        .unwrap_or_else(|e| panic!("[{}] load {key} failed: {e}", storage.driver()))
        .map(|stored| stored.version)
}

async fn load_value(storage: &dyn CartStorage, key: &CartKey) -> Option<CartContents> {
    storage
        .load(key)
        .await
        .unwrap_or_else(|e| panic!("[{}] load {key} failed: {e}", storage.driver()))
        .map(|stored| stored.value)
}

async fn save_ok(
    storage: &dyn CartStorage,
    key: &CartKey,
    cart: &CartContents,
    expected: Option<u64>,
) -> u64 {
    storage.save(key, cart, expected).await.unwrap_or_else(|e| {
        panic!(
            "[{}] save {key} expecting {expected:?} failed: {e}",
            storage.driver()
        )
    })
}

async fn delete_ok(storage: &dyn CartStorage, key: &CartKey) -> bool {
    storage
        .delete(key)
        .await
        .unwrap_or_else(|e| panic!("[{}] delete {key} failed: {e}", storage.driver()))
}

async fn instances_ok(storage: &dyn CartStorage, identifier: &str) -> Vec<String> {
    storage
        .instances(identifier)
        .await
        .unwrap_or_else(|e| panic!("[{}] instances failed: {e}", storage.driver()))
}

fn expect_conflict(
    driver: &str,
    what: &str,
    result: Result<u64, StorageError>,
    key: &CartKey,
    expected: Option<u64>,
    current: Option<u64>,
) {
    match result {
        Err(StorageError::Conflict {
            key: k,
            expected: e,
            current: c,
        }) => {
            assert_eq!(
                &k, key,
                "[{driver}] {what}: the conflict names another cart"
            );
            assert_eq!(
                e, expected,
                "[{driver}] {what}: the conflict carries the wrong expected version"
            );
            assert_eq!(
                c, current,
                "[{driver}] {what}: the conflict must carry the stored version"
            );
        }
        Ok(version) => panic!("[{driver}] {what}: expected a conflict, the save wrote v{version}"),
        Err(other) => panic!("[{driver}] {what}: expected StorageError::Conflict, got {other}"),
    }
}

/// Fails unless the caller runs on a multi-thread runtime: the concurrency checks need writers
/// that really run at the same time.
fn require_multi_thread(driver: &str, check: &str) {
    let flavor = tokio::runtime::Handle::try_current()
        .map(|handle| handle.runtime_flavor())
        .unwrap_or_else(|_| panic!("[{driver}] {check} must run inside a tokio runtime"));
    assert!(
        flavor == tokio::runtime::RuntimeFlavor::MultiThread,
        "[{driver}] {check} needs a multi-thread runtime, not {flavor:?}: annotate the test with \
         #[tokio::test(flavor = \"multi_thread\", worker_threads = 4)] \
         (the tests of axum_cart::conformance_tests! are)"
    );
}

/// Runs `task(0)`, ..., `task(tasks - 1)` at the same time, each on its own thread driven by the
/// caller's (multi-thread) runtime, released together by a barrier; their results in order.
///
/// The tasks borrow the storage, so they cannot be spawned as `'static` tasks: each runs on a
/// scoped thread, and the calling thread waits for them. The macro's tests call this from the
/// thread that drives the test, not from a worker, so every worker stays free for the tasks' I/O.
fn in_parallel<T, F, Fut>(tasks: usize, task: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize) -> Fut + Sync,
    Fut: Future<Output = T>,
{
    let handle = tokio::runtime::Handle::current();
    let start = std::sync::Barrier::new(tasks);
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..tasks)
            .map(|index| {
                let (handle, task, start) = (handle.clone(), &task, &start);
                scope.spawn(move || {
                    start.wait();
                    handle.block_on(task(index))
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Every stored cart `scan` visits, with how many times, paging `batch` carts at a time.
async fn scan_counts(storage: &dyn CartStorage, batch: usize) -> BTreeMap<CartKey, usize> {
    let driver = storage.driver();
    let mut seen = BTreeMap::new();
    let mut cursor: Option<String> = None;
    let mut cursors = BTreeSet::new();
    let mut pages = 0usize;
    loop {
        let page = match storage.scan(cursor.clone(), batch).await {
            Ok(page) => page,
            Err(StorageError::Unsupported { .. }) => panic!(
                "[{driver}] scan is unsupported: implement CartStorage::scan, or opt out of the \
                 scan checks with `no_scan` in conformance_tests!"
            ),
            Err(e) => panic!("[{driver}] scan page {pages} failed: {e}"),
        };
        pages += 1;
        for key in page.keys {
            *seen.entry(key).or_insert(0) += 1;
        }
        match page.next {
            None => return seen,
            Some(next) => {
                assert!(
                    cursors.insert(next.clone()),
                    "[{driver}] scan returned cursor {next:?} twice: it would never end"
                );
                cursor = Some(next);
            }
        }
        assert!(pages < 1_000_000, "[{driver}] scan does not end");
    }
}

/// `load` of a cart that was never saved is `Ok(None)`.
pub async fn load_missing_is_none(storage: &dyn CartStorage) {
    let key = CartKey::new(fresh_identifier("load-missing"), "default");
    assert_eq!(
        load_version(storage, &key).await,
        None,
        "[{}] load of a missing cart must be None",
        storage.driver()
    );
}

/// `save(None)` creates a cart, which comes back exactly as saved, at the version the save
/// returned, with equal totals.
pub async fn save_new_round_trips(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let key = CartKey::new(fresh_identifier("round-trip"), "default");
    let mut cart = sample_cart();
    cart.record_write(new_write_id());
    let version = save_ok(storage, &key, &cart, None).await;
    assert!(version > 0, "[{driver}] a new cart was stored at version 0");
    let stored = storage
        .load(&key)
        .await
        .unwrap_or_else(|e| panic!("[{driver}] load after save failed: {e}"))
        .unwrap_or_else(|| panic!("[{driver}] a saved cart loads as None"));
    assert_eq!(
        stored.version, version,
        "[{driver}] a new cart must load at the version its save returned"
    );
    assert_eq!(
        stored.value, cart,
        "[{driver}] the loaded cart differs from the saved one"
    );
    assert_eq!(
        stored.value.write_ids(),
        cart.write_ids(),
        "[{driver}] the cart's write ids must be stored with it"
    );
    assert_eq!(
        stored.value.totals_at(NOW).expect("totals of loaded cart"),
        cart.totals_at(NOW).expect("totals of saved cart"),
        "[{driver}] totals differ after a round trip"
    );
}

/// `save(None)` on an existing cart is a conflict carrying the stored version.
pub async fn save_new_on_existing_conflicts(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let key = CartKey::new(fresh_identifier("create-twice"), "default");
    let version = save_ok(storage, &key, &marked_cart("first"), None).await;
    let result = storage.save(&key, &marked_cart("second"), None).await;
    expect_conflict(
        driver,
        "save(None) on an existing cart",
        result,
        &key,
        None,
        Some(version),
    );
    assert_eq!(
        load_value(storage, &key).await,
        Some(marked_cart("first")),
        "[{driver}] a refused create must not change the stored cart"
    );
    assert_eq!(
        load_version(storage, &key).await,
        Some(version),
        "[{driver}] a refused create must not change the version"
    );
}

/// `save(Some(v))` on version `v` writes `v + 1`.
pub async fn save_expected_increments(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let key = CartKey::new(fresh_identifier("increment"), "default");
    let mut version = save_ok(storage, &key, &marked_cart("v1"), None).await;
    for round in 2..=4u64 {
        let cart = marked_cart(&format!("v{round}"));
        let next = save_ok(storage, &key, &cart, Some(version)).await;
        assert_eq!(
            next,
            version + 1,
            "[{driver}] save(Some({version})) must write v{}",
            version + 1
        );
        version = next;
        assert_eq!(
            load_version(storage, &key).await,
            Some(version),
            "[{driver}] loaded version"
        );
        assert_eq!(
            load_value(storage, &key).await,
            Some(cart),
            "[{driver}] loaded cart"
        );
    }
}

/// A save with a stale (or future) version is a conflict carrying the stored version, and
/// changes nothing.
pub async fn stale_save_conflicts(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let key = CartKey::new(fresh_identifier("stale"), "default");
    let v1 = save_ok(storage, &key, &marked_cart("a"), None).await;
    let v2 = save_ok(storage, &key, &marked_cart("b"), Some(v1)).await;
    assert_eq!(v2, v1 + 1, "[{driver}] one write adds one to the version");
    let result = storage.save(&key, &marked_cart("stale"), Some(v1)).await;
    expect_conflict(
        driver,
        "save with a stale version",
        result,
        &key,
        Some(v1),
        Some(v2),
    );
    let result = storage
        .save(&key, &marked_cart("future"), Some(v2 + 5))
        .await;
    expect_conflict(
        driver,
        "save with a future version",
        result,
        &key,
        Some(v2 + 5),
        Some(v2),
    );
    assert_eq!(
        load_version(storage, &key).await,
        Some(v2),
        "[{driver}] version after a refused save"
    );
    assert_eq!(
        load_value(storage, &key).await,
        Some(marked_cart("b")),
        "[{driver}] a refused save must not change the stored cart"
    );
    // Expecting a version on a cart that does not exist is a conflict too.
    let missing = CartKey::new(fresh_identifier("stale-missing"), "default");
    let result = storage.save(&missing, &marked_cart("x"), Some(v1)).await;
    expect_conflict(
        driver,
        "save(Some(v)) on a missing cart",
        result,
        &missing,
        Some(v1),
        None,
    );
    assert_eq!(
        load_version(storage, &missing).await,
        None,
        "[{driver}] refused save created a cart"
    );
}

/// `delete` says whether a cart was there; a deleted cart loads as `None` and can be created
/// again, above the version it had.
pub async fn delete_then_load_none(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let key = CartKey::new(fresh_identifier("delete"), "default");
    let version = save_ok(storage, &key, &marked_cart("a"), None).await;
    assert!(
        delete_ok(storage, &key).await,
        "[{driver}] delete of a stored cart must return true"
    );
    assert_eq!(
        load_version(storage, &key).await,
        None,
        "[{driver}] a deleted cart must load as None"
    );
    assert!(
        !delete_ok(storage, &key).await,
        "[{driver}] delete of a missing cart must return false"
    );
    let again = save_ok(storage, &key, &marked_cart("b"), None).await;
    assert!(
        again > version,
        "[{driver}] a cart created after a delete must start above the deleted v{version}, got v{again}"
    );
}

/// A writer that read a cart before it was deleted (or forgotten) and created anew conflicts
/// with the new cart instead of overwriting it: versions never repeat for a key.
pub async fn stale_writer_after_recreate_conflicts(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let identifier = fresh_identifier("recreate");
    let key = CartKey::new(&identifier, "default");
    let first = save_ok(storage, &key, &marked_cart("old"), None).await;
    let held = save_ok(storage, &key, &marked_cart("old, changed"), Some(first)).await;
    assert!(delete_ok(storage, &key).await, "[{driver}] delete");
    let new = save_ok(storage, &key, &marked_cart("new"), None).await;
    assert!(
        new > held,
        "[{driver}] a cart created after a delete must start above v{held}, got v{new}"
    );
    for stale in [held, first] {
        let result = storage
            .save(&key, &marked_cart("stale writer"), Some(stale))
            .await;
        expect_conflict(
            driver,
            "a writer holding a version of the deleted cart",
            result,
            &key,
            Some(stale),
            Some(new),
        );
    }
    assert_eq!(
        load_value(storage, &key).await,
        Some(marked_cart("new")),
        "[{driver}] the new cart must survive the stale writer"
    );

    // The same after `forget`, and after `delete_at`.
    let held = save_ok(storage, &key, &marked_cart("new, changed"), Some(new)).await;
    let forgotten = storage
        .forget(&identifier)
        .await
        .unwrap_or_else(|e| panic!("[{driver}] forget: {e}"));
    assert_eq!(forgotten, 1, "[{driver}] forget");
    let newer = save_ok(storage, &key, &marked_cart("newer"), None).await;
    assert!(
        newer > held,
        "[{driver}] a cart created after forget must start above v{held}, got v{newer}"
    );
    let result = storage.save(&key, &marked_cart("stale"), Some(held)).await;
    expect_conflict(
        driver,
        "a writer holding a version of the forgotten cart",
        result,
        &key,
        Some(held),
        Some(newer),
    );
    let deleted = storage
        .delete_at(&key, newer)
        .await
        .unwrap_or_else(|e| panic!("[{driver}] delete_at: {e}"));
    assert!(deleted, "[{driver}] delete_at of the stored version");
    let newest = save_ok(storage, &key, &marked_cart("newest"), None).await;
    assert!(
        newest > newer,
        "[{driver}] a cart created after delete_at must start above v{newer}, got v{newest}"
    );
    let result = storage.save(&key, &marked_cart("stale"), Some(newer)).await;
    expect_conflict(
        driver,
        "a writer holding the version delete_at deleted",
        result,
        &key,
        Some(newer),
        Some(newest),
    );
    assert_eq!(
        load_value(storage, &key).await,
        Some(marked_cart("newest")),
        "[{driver}]"
    );
}

/// A save sent twice (the same cart with the same write id, expecting the same version, as a
/// client library re-sends a request whose answer was lost) is applied once: the second save
/// conflicts, the version moved by exactly one, and the stored cart carries the write id, so the
/// writer can tell that its change committed.
pub async fn replayed_save_applies_once(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let key = CartKey::new(fresh_identifier("replay"), "default");

    // A create, sent twice.
    let mut created = marked_cart("created");
    let create_id = new_write_id();
    created.record_write(&create_id);
    let base = save_ok(storage, &key, &created, None).await;
    let replay = storage.save(&key, &created, None).await;
    expect_conflict(driver, "a replayed create", replay, &key, None, Some(base));
    assert_eq!(
        load_version(storage, &key).await,
        Some(base),
        "[{driver}] a replayed create wrote again"
    );

    // An update, sent twice.
    let mut updated = marked_cart("updated");
    let update_id = new_write_id();
    updated.record_write(&update_id);
    let version = save_ok(storage, &key, &updated, Some(base)).await;
    assert_eq!(version, base + 1, "[{driver}] one write adds one");
    let replay = storage.save(&key, &updated, Some(base)).await;
    expect_conflict(
        driver,
        "a replayed update",
        replay,
        &key,
        Some(base),
        Some(base + 1),
    );
    let stored = storage
        .load(&key)
        .await
        .unwrap_or_else(|e| panic!("[{driver}] load: {e}"))
        .unwrap_or_else(|| panic!("[{driver}] the cart is gone"));
    assert_eq!(
        stored.version,
        base + 1,
        "[{driver}] the version must move by exactly one for a change sent twice"
    );
    assert_eq!(stored.value, updated, "[{driver}] stored cart");
    assert!(
        stored.value.has_write(&update_id),
        "[{driver}] the stored cart must carry the write id of the save that wrote it"
    );
}

/// `delete_at` deletes only the version it names: a wrong version keeps the cart.
pub async fn delete_at_deletes_only_that_version(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let identifier = fresh_identifier("delete-at");
    let key = CartKey::new(&identifier, "default");
    let delete_at = |version: u64| {
        let key = key.clone();
        async move {
            storage
                .delete_at(&key, version)
                .await
                .unwrap_or_else(|e| panic!("[{driver}] delete_at v{version}: {e}"))
        }
    };
    let missing = CartKey::new(fresh_identifier("delete-at-missing"), "default");
    assert!(
        !storage
            .delete_at(&missing, 1)
            .await
            .unwrap_or_else(|e| panic!("[{driver}] delete_at of a missing cart: {e}")),
        "[{driver}] delete_at of a missing cart must return false"
    );
    let v1 = save_ok(storage, &key, &marked_cart("one"), None).await;
    let v2 = save_ok(storage, &key, &marked_cart("two"), Some(v1)).await;
    for wrong in [v1, v2 + 1] {
        assert!(
            !delete_at(wrong).await,
            "[{driver}] delete_at(v{wrong}) deleted the cart stored at v{v2}"
        );
        assert_eq!(
            load_version(storage, &key).await,
            Some(v2),
            "[{driver}] delete_at(v{wrong}) changed the stored version"
        );
        assert_eq!(
            load_value(storage, &key).await,
            Some(marked_cart("two")),
            "[{driver}] delete_at(v{wrong}) changed the stored cart"
        );
    }
    assert!(
        delete_at(v2).await,
        "[{driver}] delete_at of the stored version must delete the cart"
    );
    assert_eq!(
        load_version(storage, &key).await,
        None,
        "[{driver}] delete_at returned true but the cart is still there"
    );
    assert!(
        instances_ok(storage, &identifier).await.is_empty(),
        "[{driver}] a cart deleted by delete_at is still listed by instances()"
    );
    assert!(
        !delete_at(v2).await,
        "[{driver}] a second delete_at must return false"
    );
}

/// Instances of one identifier are independent carts, and `instances()` lists them sorted.
pub async fn instances_are_independent_and_sorted(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let identifier = fresh_identifier("instances");
    let names = ["wishlist", "default", "b-side", "compare"];
    let mut versions = BTreeMap::new();
    for name in names {
        let key = CartKey::new(&identifier, name);
        versions.insert(name, save_ok(storage, &key, &marked_cart(name), None).await);
    }
    // Writing one instance leaves the others alone.
    let default_version = versions["default"];
    let changed = save_ok(
        storage,
        &CartKey::new(&identifier, "default"),
        &marked_cart("changed"),
        Some(default_version),
    )
    .await;
    assert_eq!(changed, default_version + 1, "[{driver}]");
    versions.insert("default", changed);
    for name in names {
        let key = CartKey::new(&identifier, name);
        let expected = if name == "default" {
            marked_cart("changed")
        } else {
            marked_cart(name)
        };
        assert_eq!(
            load_value(storage, &key).await,
            Some(expected),
            "[{driver}] instance {name}"
        );
        assert_eq!(
            load_version(storage, &key).await,
            Some(versions[name]),
            "[{driver}] instance {name} version"
        );
    }
    assert_eq!(
        instances_ok(storage, &identifier).await,
        vec!["b-side", "compare", "default", "wishlist"],
        "[{driver}] instances() must list every instance, sorted"
    );
    assert!(
        delete_ok(storage, &CartKey::new(&identifier, "compare")).await,
        "[{driver}] delete instance"
    );
    assert_eq!(
        instances_ok(storage, &identifier).await,
        vec!["b-side", "default", "wishlist"],
        "[{driver}] instances after a delete"
    );
    let none = instances_ok(storage, &fresh_identifier("no-instances")).await;
    assert!(
        none.is_empty(),
        "[{driver}] an unknown identifier has no instances, got {none:?}"
    );
}

/// `swap_identifier` onto an existing target replaces its cart and removes the source.
pub async fn swap_identifier_replaces_target(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let (from, to) = (fresh_identifier("swap-from"), fresh_identifier("swap-to"));
    let source = sample_cart();
    save_ok(storage, &CartKey::new(&from, "default"), &source, None).await;
    save_ok(
        storage,
        &CartKey::new(&to, "default"),
        &marked_cart("user"),
        None,
    )
    .await;
    let moved = storage
        .swap_identifier(&from, &to, "default")
        .await
        .unwrap_or_else(|e| panic!("[{driver}] swap_identifier: {e}"));
    assert!(
        moved,
        "[{driver}] swap_identifier of an existing cart must return true"
    );
    assert_eq!(
        load_value(storage, &CartKey::new(&to, "default")).await,
        Some(source),
        "[{driver}] after a swap the target holds the source's cart"
    );
    assert_eq!(
        load_version(storage, &CartKey::new(&from, "default")).await,
        None,
        "[{driver}] after a swap the source cart is gone"
    );
    assert!(
        instances_ok(storage, &from).await.is_empty(),
        "[{driver}] after a swap the source identifier lists no instances"
    );
}

/// `swap_identifier` from a missing cart returns `false` and changes nothing.
pub async fn swap_identifier_missing_source(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let (from, to) = (
        fresh_identifier("swap-none"),
        fresh_identifier("swap-none-to"),
    );
    let target = CartKey::new(&to, "default");
    let version = save_ok(storage, &target, &marked_cart("user"), None).await;
    let moved = storage
        .swap_identifier(&from, &to, "default")
        .await
        .unwrap_or_else(|e| panic!("[{driver}] swap_identifier: {e}"));
    assert!(
        !moved,
        "[{driver}] swap_identifier from a missing cart must return false"
    );
    assert_eq!(
        load_value(storage, &target).await,
        Some(marked_cart("user")),
        "[{driver}] a swap from a missing cart must leave the target alone"
    );
    assert_eq!(
        load_version(storage, &target).await,
        Some(version),
        "[{driver}] a swap from a missing cart must leave the target's version alone"
    );
}

/// `swap_identifier` moves only the named instance.
pub async fn swap_identifier_moves_only_named_instance(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let (from, to) = (
        fresh_identifier("swap-one"),
        fresh_identifier("swap-one-to"),
    );
    save_ok(
        storage,
        &CartKey::new(&from, "default"),
        &marked_cart("guest-default"),
        None,
    )
    .await;
    save_ok(
        storage,
        &CartKey::new(&from, "wishlist"),
        &marked_cart("guest-wish"),
        None,
    )
    .await;
    save_ok(
        storage,
        &CartKey::new(&to, "default"),
        &marked_cart("user-default"),
        None,
    )
    .await;
    assert!(
        storage
            .swap_identifier(&from, &to, "wishlist")
            .await
            .expect("swap"),
        "[{driver}] swap of an existing instance must return true"
    );
    assert_eq!(
        load_value(storage, &CartKey::new(&from, "default")).await,
        Some(marked_cart("guest-default")),
        "[{driver}] a swap of `wishlist` must not move the source's `default`"
    );
    assert_eq!(
        load_value(storage, &CartKey::new(&to, "default")).await,
        Some(marked_cart("user-default")),
        "[{driver}] a swap of `wishlist` must not touch the target's `default`"
    );
    assert_eq!(
        load_value(storage, &CartKey::new(&to, "wishlist")).await,
        Some(marked_cart("guest-wish")),
        "[{driver}] the target must now hold the moved `wishlist`"
    );
    assert_eq!(
        instances_ok(storage, &from).await,
        vec!["default"],
        "[{driver}]"
    );
    assert_eq!(
        instances_ok(storage, &to).await,
        vec!["default", "wishlist"],
        "[{driver}]"
    );
}

/// After a swap, a writer still holding the target's old version conflicts instead of
/// overwriting the moved cart.
pub async fn swap_identifier_invalidates_target_version(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let (from, to) = (
        fresh_identifier("swap-ver"),
        fresh_identifier("swap-ver-to"),
    );
    let target = CartKey::new(&to, "default");
    // The source has a lower version than the target: the moved cart must still get a newer one.
    save_ok(
        storage,
        &CartKey::new(&from, "default"),
        &marked_cart("guest"),
        None,
    )
    .await;
    let mut held = save_ok(storage, &target, &marked_cart("user-1"), None).await;
    held = save_ok(storage, &target, &marked_cart("user-2"), Some(held)).await;
    assert!(
        storage
            .swap_identifier(&from, &to, "default")
            .await
            .expect("swap")
    );
    let result = storage
        .save(&target, &marked_cart("late writer"), Some(held))
        .await;
    match result {
        Err(StorageError::Conflict { current, .. }) => assert!(
            current.is_some_and(|c| c > held),
            "[{driver}] after a swap the target's version must be above {held}, got {current:?}"
        ),
        Ok(v) => panic!(
            "[{driver}] a writer holding the target's pre-swap version {held} overwrote the moved cart (v{v})"
        ),
        Err(other) => panic!("[{driver}] expected a conflict, got {other}"),
    }
    assert_eq!(
        load_value(storage, &target).await,
        Some(marked_cart("guest")),
        "[{driver}] the moved cart must survive the late writer"
    );
}

/// `swap_identifier` onto the same identifier keeps the cart (a user logging in with the
/// identifier they already have).
pub async fn swap_identifier_onto_itself_keeps_the_cart(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let identifier = fresh_identifier("swap-self");
    let key = CartKey::new(&identifier, "default");
    let version = save_ok(storage, &key, &marked_cart("mine"), None).await;
    let moved = storage
        .swap_identifier(&identifier, &identifier, "default")
        .await
        .unwrap_or_else(|e| panic!("[{driver}] swap_identifier onto itself: {e}"));
    assert!(
        moved,
        "[{driver}] swap_identifier of an existing cart must return true"
    );
    assert_eq!(
        load_value(storage, &key).await,
        Some(marked_cart("mine")),
        "[{driver}] a swap onto the same identifier lost the cart"
    );
    assert!(
        load_version(storage, &key).await >= Some(version),
        "[{driver}] a swap onto the same identifier moved the version back"
    );
}

/// `forget` deletes every instance of an identifier and says how many.
pub async fn forget_removes_all_instances(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let identifier = fresh_identifier("forget");
    let other = CartKey::new(fresh_identifier("forget-other"), "default");
    let other_version = save_ok(storage, &other, &marked_cart("other"), None).await;
    for name in ["default", "wishlist", "later"] {
        save_ok(
            storage,
            &CartKey::new(&identifier, name),
            &marked_cart(name),
            None,
        )
        .await;
    }
    let forgotten = storage
        .forget(&identifier)
        .await
        .unwrap_or_else(|e| panic!("[{driver}] forget: {e}"));
    assert_eq!(
        forgotten, 3,
        "[{driver}] forget must report the carts it deleted"
    );
    for name in ["default", "wishlist", "later"] {
        assert_eq!(
            load_version(storage, &CartKey::new(&identifier, name)).await,
            None,
            "[{driver}] `{name}` survived forget"
        );
    }
    assert!(
        instances_ok(storage, &identifier).await.is_empty(),
        "[{driver}] a forgotten identifier still lists instances"
    );
    assert_eq!(
        load_version(storage, &other).await,
        Some(other_version),
        "[{driver}] forget touched another identifier"
    );
    assert_eq!(
        storage.forget(&identifier).await.expect("forget"),
        0,
        "[{driver}] second forget"
    );
}

/// The identifiers and instances of [`odd_identifiers_round_trip`] and
/// [`scan_visits_odd_identifiers_once`]: the characters that structure keys, patterns and paths
/// in one backend or another (`: { } % _ * /`), non-ASCII text, an identifier that is a prefix of
/// another (`user-1` and `user-10`), and two carts whose identifier and instance joined by `:`
/// read the same (`X` / `a:b` and `X:a` / `b`).
fn odd_keys(base: &str) -> Vec<CartKey> {
    [
        ("-user-1", "default"),
        ("-user-1", "wish:list"),
        ("-user-10", "default"),
        ("-user-_", "default"),
        ("-user-%", "default"),
        ("-user-*", "default"),
        ("", "a:b"),
        (":a", "b"),
        (":a:b", "default"),
        ("{tag}", "{tag}"),
        ("}{", "default"),
        ("/a/b", "50%_off*"),
        ("-Grüße-日本-🛒", "ü/ß ✓"),
    ]
    .into_iter()
    .map(|(suffix, instance)| CartKey::new(format!("{base}{suffix}"), instance))
    .collect()
}

/// A mark that tells the carts of [`odd_keys`] apart.
fn odd_mark(index: usize) -> String {
    format!("odd-{index}")
}

/// Carts whose identifiers and instances hold odd characters, or are prefixes of each other,
/// are independent carts: each round-trips through save and load, `instances` lists exactly its
/// identifier's, and `forget` of one identifier (`user-1`) leaves every other (`user-10`,
/// `user-_`, `user-%`, `user-*`) alone.
pub async fn odd_identifiers_round_trip(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let base = fresh_identifier("odd");
    let keys = odd_keys(&base);
    let mut versions = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        versions.push(save_ok(storage, key, &marked_cart(&odd_mark(index)), None).await);
    }
    for (index, key) in keys.iter().enumerate() {
        let stored = storage
            .load(key)
            .await
            .unwrap_or_else(|e| panic!("[{driver}] load {key:?}: {e}"))
            .unwrap_or_else(|| {
                panic!(
                    "[{driver}] the cart of identifier {:?}, instance {:?} loads as None",
                    key.identifier(),
                    key.instance()
                )
            });
        assert_eq!(
            stored.value,
            marked_cart(&odd_mark(index)),
            "[{driver}] identifier {:?}, instance {:?} loads another cart",
            key.identifier(),
            key.instance()
        );
        assert_eq!(
            stored.version, versions[index],
            "[{driver}] version of {key:?}"
        );
    }
    let mut by_identifier: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for key in &keys {
        by_identifier
            .entry(key.identifier())
            .or_default()
            .push(key.instance().to_owned());
    }
    for (identifier, expected) in &mut by_identifier {
        expected.sort();
        // Sorted here too: a database may order odd characters by its collation.
        let mut listed = instances_ok(storage, identifier).await;
        listed.sort();
        assert_eq!(
            &listed, expected,
            "[{driver}] instances() of identifier {identifier:?}"
        );
    }

    let forget = |identifier: String| async move {
        storage
            .forget(&identifier)
            .await
            .unwrap_or_else(|e| panic!("[{driver}] forget {identifier:?}: {e}"))
    };
    let gone = [format!("{base}-user-1"), base.clone()];
    assert_eq!(
        forget(gone[0].clone()).await,
        2,
        "[{driver}] forget of `user-1` must delete its two carts"
    );
    assert_eq!(
        forget(gone[1].clone()).await,
        1,
        "[{driver}] forget of an identifier that prefixes others must delete its one cart"
    );
    for (index, key) in keys.iter().enumerate() {
        let expected =
            (!gone.iter().any(|g| g == key.identifier())).then(|| marked_cart(&odd_mark(index)));
        assert_eq!(
            load_value(storage, key).await,
            expected,
            "[{driver}] after forgetting {:?} and {:?}: identifier {:?}, instance {:?}",
            gone[0],
            gone[1],
            key.identifier(),
            key.instance()
        );
    }
    for identifier in &gone {
        assert!(
            instances_ok(storage, identifier).await.is_empty(),
            "[{driver}] forgotten identifier {identifier:?} still lists instances"
        );
    }
    assert_eq!(
        instances_ok(storage, &format!("{base}-user-10")).await,
        vec!["default"],
        "[{driver}] forget of `user-1` touched `user-10`"
    );
}

/// `scan` visits every cart with an unusual identifier (`:`, braces, `%`, `_`, `*`, `/`,
/// unicode, prefix pairs) exactly once, with its identifier and instance intact.
pub async fn scan_visits_odd_identifiers_once(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let base = fresh_identifier("odd-scan");
    let keys = odd_keys(&base);
    for (index, key) in keys.iter().enumerate() {
        save_ok(storage, key, &marked_cart(&odd_mark(index)), None).await;
    }
    let counts = scan_counts(storage, 3).await;
    for key in &keys {
        assert_eq!(
            counts.get(key).copied().unwrap_or(0),
            1,
            "[{driver}] scan must visit identifier {:?}, instance {:?} exactly once",
            key.identifier(),
            key.instance()
        );
    }
    let strays: Vec<_> = counts
        .keys()
        .filter(|key| key.identifier().starts_with(&base) && !keys.contains(key))
        .map(|key| (key.identifier(), key.instance()))
        .collect();
    assert!(
        strays.is_empty(),
        "[{driver}] scan returned carts that were never saved (mangled keys?): {strays:?}"
    );
}

/// Paging through `scan` with a small batch visits every cart this check saved exactly once.
/// A driver without `scan` opts out with `no_scan` in
/// [`conformance_tests!`](crate::conformance_tests); an `Unsupported` answer fails.
pub async fn scan_visits_every_cart(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let base = fresh_identifier("scan");
    let mut saved = BTreeSet::new();
    for (suffix, instances) in [
        ("a", &["default", "wishlist"][..]),
        ("b", &["default"]),
        ("c", &["x", "y", "z"]),
    ] {
        for instance in instances {
            let key = CartKey::new(format!("{base}-{suffix}"), *instance);
            save_ok(storage, &key, &marked_cart(instance), None).await;
            saved.insert(key);
        }
    }
    let counts = scan_counts(storage, 2).await;
    let missing: Vec<_> = saved
        .iter()
        .filter(|key| !counts.contains_key(key))
        .collect();
    assert!(
        missing.is_empty(),
        "[{driver}] scan never visited {missing:?}"
    );
    let repeated: Vec<_> = saved
        .iter()
        .filter(|key| counts.get(key).is_some_and(|&n| n > 1))
        .map(|key| (key, counts[key]))
        .collect();
    assert!(
        repeated.is_empty(),
        "[{driver}] scan visited carts more than once: {repeated:?}"
    );
}

fn add_unit(
    id: &'static str,
) -> impl Fn(&mut CartContents) -> Result<(), cart::Error> + Send + Sync {
    move |cart: &mut CartContents| {
        cart.add(CartItem::new(
            id,
            "Widget",
            Money::parse("2.50", cart.currency())?,
            1,
        ))
        .map(|_| ())
    }
}

/// `modify` on a missing cart creates it with the options' currency; the next `modify` writes
/// the next version.
pub async fn modify_creates_cart(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let key = CartKey::new(fresh_identifier("modify-create"), "default");
    let options = ModifyOptions {
        currency: Currency::GBP,
        ..ModifyOptions::default()
    };
    let modified = storage
        .modify(&key, &options, &add_unit("w"))
        .await
        .unwrap_or_else(|e| panic!("[{driver}] modify of a missing cart: {e}"));
    assert_eq!(
        modified.previous_version, None,
        "[{driver}] modify created the cart"
    );
    let created = modified.cart.version;
    let stored = storage
        .load(&key)
        .await
        .unwrap_or_else(|e| panic!("[{driver}] load: {e}"))
        .unwrap_or_else(|| panic!("[{driver}] not stored"));
    assert_eq!(
        stored.value, modified.cart.value,
        "[{driver}] modify returned another cart than it stored"
    );
    assert_eq!(
        stored.version, created,
        "[{driver}] modify returned another version than it stored"
    );
    assert_eq!(
        stored.value.currency(),
        Currency::GBP,
        "[{driver}] currency of a new cart"
    );
    assert_eq!(
        stored.value.write_ids().len(),
        1,
        "[{driver}] a modify records its write id in the cart"
    );
    let again = storage
        .modify(&key, &options, &add_unit("w"))
        .await
        .expect("second modify");
    assert_eq!(again.previous_version, Some(created), "[{driver}]");
    assert_eq!(again.cart.version, created + 1, "[{driver}]");
    assert_eq!(
        again.cart.value.get("w").map(CartItem::quantity),
        Some(2),
        "[{driver}]"
    );
}

/// `modify` with a [`basis`](ModifyOptions::basis) lands on the stored cart whatever the basis
/// says: a basis at the stored version is the cart changed; a stale one (the cart moved on) or one
/// that says "not stored" of a cart that exists is refused by the compare-and-set, and the change
/// is applied once to the cart as stored.
pub async fn modify_from_a_basis_lands_once(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let key = CartKey::new(fresh_identifier("modify-basis"), "default");
    let plain = ModifyOptions::default();
    let with_basis = |basis: Versioned<CartContents>| ModifyOptions {
        basis: Some(std::sync::Arc::new(basis)),
        ..ModifyOptions::default()
    };
    let units = |modified: &super::Modified| modified.cart.value.get("b").map(CartItem::quantity);

    let first = storage
        .modify(&key, &plain, &add_unit("b"))
        .await
        .expect("create");
    let fresh = storage
        .modify(&key, &with_basis(first.cart.clone()), &add_unit("b"))
        .await
        .unwrap_or_else(|e| panic!("[{driver}] modify from a fresh basis: {e}"));
    assert_eq!(
        units(&fresh),
        Some(2),
        "[{driver}] a fresh basis is the cart changed"
    );
    assert_eq!(
        fresh.previous_version,
        Some(first.cart.version),
        "[{driver}]"
    );
    assert_eq!(fresh.cart.version, first.cart.version + 1, "[{driver}]");

    // `first` is stale now: the change must land on version `fresh`, not overwrite it.
    let stale = storage
        .modify(&key, &with_basis(first.cart.clone()), &add_unit("b"))
        .await
        .unwrap_or_else(|e| panic!("[{driver}] modify from a stale basis: {e}"));
    assert_eq!(
        units(&stale),
        Some(3),
        "[{driver}] a stale basis lost a write"
    );
    assert_eq!(
        stale.previous_version,
        Some(fresh.cart.version),
        "[{driver}]"
    );

    let unstored = Versioned::new(CartContents::new(Currency::default()), 0);
    let created_over = storage
        .modify(&key, &with_basis(unstored), &add_unit("b"))
        .await
        .unwrap_or_else(|e| panic!("[{driver}] modify from a basis of no cart: {e}"));
    assert_eq!(
        units(&created_over),
        Some(4),
        "[{driver}] a basis of no cart replaced the stored one"
    );
    let stored = load_value(storage, &key).await.expect("stored");
    assert_eq!(
        stored.get("b").map(CartItem::quantity),
        Some(4),
        "[{driver}]"
    );
    assert_eq!(
        load_version(storage, &key).await,
        Some(created_over.cart.version),
        "[{driver}] one version per change"
    );
    assert_eq!(
        created_over.cart.version,
        first.cart.version + 3,
        "[{driver}]"
    );
}

/// A `modify` whose operation fails stores nothing: no new cart, no new version.
pub async fn failing_modify_stores_nothing(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let fail = |_: &mut CartContents| -> Result<(), cart::Error> {
        Err(cart::Error::validation("quantity", "refused by the check"))
    };
    let key = CartKey::new(fresh_identifier("modify-fail"), "default");
    let options = ModifyOptions::default();
    match storage.modify(&key, &options, &fail).await {
        Err(ModifyError::Rejected(cart::Error::Validation { field, .. })) => {
            assert_eq!(field, "quantity", "[{driver}]")
        }
        other => panic!("[{driver}] a failing op must return its error, got {other:?}"),
    }
    assert_eq!(
        load_version(storage, &key).await,
        None,
        "[{driver}] a failed modify created a cart"
    );

    // Half-done changes before the error are not stored either.
    let version = save_ok(storage, &key, &marked_cart("kept"), None).await;
    let half_done = |cart: &mut CartContents| -> Result<(), cart::Error> {
        cart.clear();
        cart.remove("not-there").map(|_| ())
    };
    match storage.modify(&key, &options, &half_done).await {
        Err(ModifyError::Rejected(cart::Error::ItemNotFound { .. })) => {}
        other => panic!("[{driver}] expected ItemNotFound, got {other:?}"),
    }
    assert_eq!(
        load_version(storage, &key).await,
        Some(version),
        "[{driver}] a failed modify wrote"
    );
    assert_eq!(
        load_value(storage, &key).await,
        Some(marked_cart("kept")),
        "[{driver}]"
    );
}

/// A `modify` whose result is over `Limits::max_cart_bytes` is refused and stores nothing.
pub async fn oversized_modify_stores_nothing(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let options = ModifyOptions {
        limits: Limits {
            max_cart_bytes: 600,
            ..Limits::default()
        },
        ..ModifyOptions::default()
    };
    let bloat = |cart: &mut CartContents| -> Result<(), cart::Error> {
        let item = CartItem::new("big", "Big", Money::parse("1.00", cart.currency())?, 1)
            .with_attribute("blob", "x".repeat(2_000));
        cart.add(item).map(|_| ())
    };
    // The refused document's size, as `modify` builds it: the cart after the change with this
    // write's id recorded (write ids all have the same length).
    let size_after_bloat = |start: CartContents| -> u64 {
        let mut cart = start.with_limits(options.limits);
        bloat(&mut cart).expect("the oversized change applies");
        cart.record_write(new_write_id());
        cart.to_json().expect("the oversized cart serializes").len() as u64
    };
    let key = CartKey::new(fresh_identifier("oversized"), "default");
    let expected = cart::Error::limit("cart_size", 600, size_after_bloat(options.empty_cart()));
    match storage.modify(&key, &options, &bloat).await {
        Err(ModifyError::Rejected(error)) => assert_eq!(error, expected, "[{driver}]"),
        other => {
            panic!("[{driver}] an oversized cart must be refused with {expected:?}, got {other:?}")
        }
    }
    assert_eq!(
        load_version(storage, &key).await,
        None,
        "[{driver}] an oversized cart was stored"
    );

    let small = storage
        .modify(&key, &options, &add_unit("small"))
        .await
        .expect("a small cart fits");
    let before = load_value(storage, &key).await;
    let expected = cart::Error::limit(
        "cart_size",
        600,
        size_after_bloat(before.clone().expect("the small cart is stored")),
    );
    match storage.modify(&key, &options, &bloat).await {
        Err(ModifyError::Rejected(error)) => {
            assert_eq!(error, expected, "[{driver}] oversized update");
        }
        other => panic!(
            "[{driver}] an oversized update must be refused with {expected:?}, got {other:?}"
        ),
    }
    assert_eq!(
        load_version(storage, &key).await,
        Some(small.cart.version),
        "[{driver}] an oversized update wrote"
    );
    assert_eq!(load_value(storage, &key).await, before, "[{driver}]");
}

/// Writers in the concurrency checks.
pub const CONCURRENT_WRITERS: usize = 16;
/// `modify` calls per writer in the concurrency check.
pub const WRITES_PER_WRITER: usize = 20;
/// Rounds of [`concurrent_creates_one_wins`], each on a fresh cart.
pub const CREATE_ROUNDS: usize = 5;

/// 16 `save(key, cart, None)` on one missing cart at the same time, from parallel threads:
/// exactly one wins, the 15 others conflict with the winner's version, and the stored cart is
/// the winner's. Repeated on [`CREATE_ROUNDS`] fresh carts. Needs a multi-thread runtime.
pub async fn concurrent_creates_one_wins(storage: &dyn CartStorage) {
    let driver = storage.driver();
    require_multi_thread(driver, "concurrent_creates_one_wins");
    for round in 0..CREATE_ROUNDS {
        let key = CartKey::new(fresh_identifier("concurrent-create"), "default");
        let results = in_parallel(CONCURRENT_WRITERS, |writer| {
            let key = &key;
            async move {
                storage
                    .save(key, &marked_cart(&format!("writer-{writer}")), None)
                    .await
            }
        });
        let winners: Vec<(usize, u64)> = results
            .iter()
            .enumerate()
            .filter_map(|(writer, result)| result.as_ref().ok().map(|&v| (writer, v)))
            .collect();
        let conflicts = results
            .iter()
            .filter(|r| matches!(r, Err(StorageError::Conflict { .. })))
            .count();
        let errors: Vec<String> = results
            .iter()
            .filter_map(|r| match r {
                Err(StorageError::Conflict { .. }) | Ok(_) => None,
                Err(other) => Some(other.to_string()),
            })
            .collect();
        assert!(
            errors.is_empty(),
            "[{driver}] round {round}: concurrent creates failed with other errors than conflicts: {errors:?}"
        );
        assert_eq!(
            winners.len(),
            1,
            "[{driver}] round {round}: {CONCURRENT_WRITERS} concurrent creates of one cart: \
             {} won (writers and versions: {winners:?}), {conflicts} conflicted; exactly one may win",
            winners.len()
        );
        let (winner, version) = winners[0];
        for (writer, result) in results.into_iter().enumerate() {
            if writer != winner {
                expect_conflict(
                    driver,
                    &format!("round {round}: a create that lost to writer {winner}"),
                    result,
                    &key,
                    None,
                    Some(version),
                );
            }
        }
        let stored = storage
            .load(&key)
            .await
            .unwrap_or_else(|e| panic!("[{driver}] load: {e}"))
            .unwrap_or_else(|| panic!("[{driver}] round {round}: no cart after the creates"));
        assert_eq!(
            stored.value,
            marked_cart(&format!("writer-{winner}")),
            "[{driver}] round {round}: the stored cart is not the winner's (writer {winner})"
        );
        assert_eq!(
            stored.version, version,
            "[{driver}] round {round}: stored version"
        );
    }
}

/// 16 concurrent writers × 20 `modify` calls, each adding one unit to one line of one cart, from
/// parallel threads: the line ends at exactly 320 units, the 320 writes got 320 consecutive
/// versions (one of them the create), and the stored version is the last. Prints how many
/// conflicts were retried. Needs a multi-thread runtime.
pub async fn concurrent_modify_loses_nothing(storage: &dyn CartStorage) {
    let driver = storage.driver();
    require_multi_thread(driver, "concurrent_modify_loses_nothing");
    let key = CartKey::new(fresh_identifier("concurrent"), "default");
    let options = ModifyOptions {
        retry_budget: std::time::Duration::from_secs(60),
        ..ModifyOptions::default()
    };
    let op = add_unit("hot");
    let per_writer = in_parallel(CONCURRENT_WRITERS, |_| {
        let (key, options, op) = (&key, &options, &op);
        async move {
            let mut written = Vec::with_capacity(WRITES_PER_WRITER);
            for _ in 0..WRITES_PER_WRITER {
                let modified = storage
                    .modify(key, options, op)
                    .await
                    .unwrap_or_else(|e| panic!("[{driver}] concurrent modify failed: {e}"));
                written.push(modified);
            }
            written
        }
    });
    let written: Vec<_> = per_writer.into_iter().flatten().collect();
    let retries: u64 = written.iter().map(|m| u64::from(m.retries)).sum();
    let expected = CONCURRENT_WRITERS * WRITES_PER_WRITER;
    let stored = storage
        .load(&key)
        .await
        .unwrap_or_else(|e| panic!("[{driver}] load: {e}"))
        .unwrap_or_else(|| panic!("[{driver}] no cart"));
    let quantity = stored.value.get("hot").map(CartItem::quantity);
    println!(
        "[{driver}] {CONCURRENT_WRITERS} writers x {WRITES_PER_WRITER} modify: quantity {quantity:?}, {retries} conflicts retried"
    );
    assert_eq!(
        quantity,
        Some(expected as u32),
        "[{driver}] concurrent modify lost (or doubled) updates: {} units for {expected} committed writes ({retries} retries)",
        quantity.unwrap_or(0)
    );
    assert_eq!(stored.value.lines(), 1, "[{driver}]");

    let creates = written
        .iter()
        .filter(|m| m.previous_version.is_none())
        .count();
    assert_eq!(
        creates, 1,
        "[{driver}] {creates} of the concurrent modify calls say they created the cart"
    );
    let versions: BTreeSet<u64> = written.iter().map(|m| m.cart.version).collect();
    assert_eq!(
        versions.len(),
        expected,
        "[{driver}] {expected} committed writes reported only {} distinct versions",
        versions.len()
    );
    let (first, last) = (
        *versions.first().expect("versions"),
        *versions.last().expect("versions"),
    );
    assert_eq!(
        last - first + 1,
        expected as u64,
        "[{driver}] the versions of {expected} committed writes must be consecutive: v{first}..=v{last}"
    );
    for modified in &written {
        if let Some(previous) = modified.previous_version {
            assert_eq!(
                modified.cart.version,
                previous + 1,
                "[{driver}] a modify must write the version after the one it replaced"
            );
        }
    }
    assert_eq!(
        stored.version, last,
        "[{driver}] the stored version must be the last write's"
    );
}

/// A stored document the driver cannot decode is a [`StorageError::Corrupt`] naming the cart:
/// not a panic, not an empty cart, and not overwritten by a `modify` or a create. `delete` still
/// removes it.
///
/// `store_corrupt(storage, key)` must overwrite the stored document of the existing cart `key`
/// with bytes the driver cannot decode (keeping the cart's version where the driver stores it
/// apart): [`conformance_tests!`](crate::conformance_tests) takes it as `corrupt = HOOK`.
pub async fn corrupt_document_is_an_error<S, F>(storage: &S, store_corrupt: F)
where
    S: CartStorage,
    F: AsyncFn(&S, &CartKey),
{
    let driver = storage.driver();
    let key = CartKey::new(fresh_identifier("corrupt"), "default");
    let dyn_storage: &dyn CartStorage = storage;
    save_ok(dyn_storage, &key, &sample_cart(), None).await;
    store_corrupt(storage, &key).await;

    let expect_corrupt =
        |what: &str, result: Result<Option<Versioned<CartContents>>, StorageError>| match result {
            Err(StorageError::Corrupt { key: k, .. }) => assert_eq!(
                k, key,
                "[{driver}] {what}: the Corrupt error names another cart"
            ),
            Ok(Some(stored)) => panic!(
                "[{driver}] {what}: a corrupt document loaded as a cart ({} lines, v{})",
                stored.value.lines(),
                stored.version
            ),
            Ok(None) => panic!("[{driver}] {what}: a corrupt document loaded as no cart"),
            Err(other) => panic!("[{driver}] {what}: expected StorageError::Corrupt, got {other}"),
        };
    expect_corrupt("load", storage.load(&key).await);

    let options = ModifyOptions::default();
    match storage.modify(&key, &options, &add_unit("over")).await {
        Err(ModifyError::Storage(StorageError::Corrupt { key: k, .. })) => assert_eq!(
            k, key,
            "[{driver}] modify: the Corrupt error names another cart"
        ),
        Ok(modified) => panic!(
            "[{driver}] modify of a corrupt cart wrote v{} over it (a cart of {} lines)",
            modified.cart.version,
            modified.cart.value.lines()
        ),
        Err(other) => panic!("[{driver}] modify of a corrupt cart: expected Corrupt, got {other}"),
    }
    expect_corrupt("load after modify", storage.load(&key).await);

    if let Ok(version) = storage.save(&key, &marked_cart("new"), None).await {
        panic!("[{driver}] save(None) created v{version} over a corrupt cart")
    }
    expect_corrupt("load after save(None)", storage.load(&key).await);

    assert!(
        storage
            .delete(&key)
            .await
            .unwrap_or_else(|e| panic!("[{driver}] delete of a corrupt cart: {e}")),
        "[{driver}] delete of a corrupt cart must return true"
    );
    assert_eq!(
        load_version(dyn_storage, &key).await,
        None,
        "[{driver}] a deleted corrupt cart"
    );
}

/// Every check that needs no hook, one after the other, on one storage; `scan` must work.
/// ([`corrupt_document_is_an_error`] needs a way to store a corrupt document: call it apart.)
pub async fn run_all(storage: &dyn CartStorage) {
    load_missing_is_none(storage).await;
    save_new_round_trips(storage).await;
    save_new_on_existing_conflicts(storage).await;
    save_expected_increments(storage).await;
    stale_save_conflicts(storage).await;
    delete_then_load_none(storage).await;
    stale_writer_after_recreate_conflicts(storage).await;
    replayed_save_applies_once(storage).await;
    delete_at_deletes_only_that_version(storage).await;
    instances_are_independent_and_sorted(storage).await;
    swap_identifier_replaces_target(storage).await;
    swap_identifier_missing_source(storage).await;
    swap_identifier_moves_only_named_instance(storage).await;
    swap_identifier_invalidates_target_version(storage).await;
    swap_identifier_onto_itself_keeps_the_cart(storage).await;
    forget_removes_all_instances(storage).await;
    odd_identifiers_round_trip(storage).await;
    modify_creates_cart(storage).await;
    modify_from_a_basis_lands_once(storage).await;
    failing_modify_stores_nothing(storage).await;
    oversized_modify_stores_nothing(storage).await;
    concurrent_creates_one_wins(storage).await;
    concurrent_modify_loses_nothing(storage).await;
    scan_visits_every_cart(storage).await;
    scan_visits_odd_identifiers_once(storage).await;
}

/// Expands to a module `NAME` with one `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]`
/// per conformance check; each test builds its storage by awaiting `FACTORY`.
///
/// ```ignore
/// axum_cart::conformance_tests!(NAME, FACTORY, corrupt = HOOK);
/// axum_cart::conformance_tests!(NAME, FACTORY, no_corrupt);
/// axum_cart::conformance_tests!(NAME, FACTORY, corrupt = HOOK, no_scan);
/// ```
///
/// - `NAME`: the module the tests go in, so one file can run several configurations.
///   It sees the items of the file (`use super::*`).
/// - `FACTORY`: an expression that evaluates to a future of the storage.
/// - `corrupt = HOOK` or `no_corrupt` (one is required): `HOOK` is an async function
///   `(&Storage, &CartKey)` that overwrites the stored document of an existing cart with bytes the
///   driver cannot decode, for
///   [`corrupt_document_is_an_error`](crate::storage::conformance::corrupt_document_is_an_error);
///   `no_corrupt` opts out of that check.
/// - `no_scan` (optional): the driver does not implement `scan`; the scan checks become ignored
///   tests. Without it, `scan` must work.
///
/// Opted-out checks still show, as ignored tests that say why.
///
/// Needs the `test-util` feature, and `tokio` with `macros` and `rt-multi-thread` in the calling
/// crate. See [`storage::conformance`](crate::storage::conformance).
///
/// ```ignore
/// axum_cart::conformance_tests!(memory, async { axum_cart::MemoryStorage::new() }, no_corrupt);
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($name:ident, $make:expr $(, $($option:tt)*)?) => {
        $crate::__conformance_tests!(
            @options $name, ($make), corrupt: [], scan: [required]; $($($option)*)?
        );
    };
    ($($other:tt)*) => {
        ::core::compile_error!(
            "usage: conformance_tests!(NAME, FACTORY, corrupt = HOOK | no_corrupt [, no_scan])"
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    // Options, one at a time.
    (@options $name:ident, $make:tt, corrupt: [], scan: [$scan:ident];
        corrupt = $hook:expr $(, $($rest:tt)*)?) => {
        $crate::__conformance_tests!(
            @options $name, $make, corrupt: [hook ($hook)], scan: [$scan]; $($($rest)*)?
        );
    };
    (@options $name:ident, $make:tt, corrupt: [], scan: [$scan:ident];
        no_corrupt $(, $($rest:tt)*)?) => {
        $crate::__conformance_tests!(
            @options $name, $make, corrupt: [none], scan: [$scan]; $($($rest)*)?
        );
    };
    (@options $name:ident, $make:tt, corrupt: [$($corrupt:tt)+], scan: [$scan:ident];
        corrupt = $($rest:tt)*) => {
        ::core::compile_error!("conformance_tests!: `corrupt = HOOK` / `no_corrupt` given twice");
    };
    (@options $name:ident, $make:tt, corrupt: [$($corrupt:tt)+], scan: [$scan:ident];
        no_corrupt $($rest:tt)*) => {
        ::core::compile_error!("conformance_tests!: `corrupt = HOOK` / `no_corrupt` given twice");
    };
    (@options $name:ident, $make:tt, corrupt: [$($corrupt:tt)*], scan: [$scan:ident];
        no_scan $(, $($rest:tt)*)?) => {
        $crate::__conformance_tests!(
            @options $name, $make, corrupt: [$($corrupt)*], scan: [opted_out]; $($($rest)*)?
        );
    };
    (@options $name:ident, $make:tt, corrupt: [], scan: [$scan:ident];) => {
        ::core::compile_error!(
            "conformance_tests!: say how to store a corrupt document: `corrupt = HOOK`, HOOK an \
             async fn(&Storage, &CartKey) that overwrites an existing cart's stored document with \
             undecodable bytes, or opt out of that check with `no_corrupt`"
        );
    };
    (@options $name:ident, $make:tt, corrupt: [$($corrupt:tt)+], scan: [$scan:ident];) => {
        $crate::__conformance_tests!(@module $name, $make, corrupt: [$($corrupt)+], scan: [$scan]);
    };
    (@options $name:ident, $make:tt, corrupt: [$($corrupt:tt)*], scan: [$scan:ident];
        $($unknown:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "conformance_tests!: unknown option `",
            ::core::stringify!($($unknown)*),
            "`; the options are `corrupt = HOOK`, `no_corrupt` and `no_scan`"
        ));
    };

    (@module $name:ident, $make:tt, corrupt: [$($corrupt:tt)+], scan: [$scan:ident]) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $crate::__conformance_tests!(
                @checks $make;
                load_missing_is_none,
                save_new_round_trips,
                save_new_on_existing_conflicts,
                save_expected_increments,
                stale_save_conflicts,
                delete_then_load_none,
                stale_writer_after_recreate_conflicts,
                replayed_save_applies_once,
                delete_at_deletes_only_that_version,
                instances_are_independent_and_sorted,
                swap_identifier_replaces_target,
                swap_identifier_missing_source,
                swap_identifier_moves_only_named_instance,
                swap_identifier_invalidates_target_version,
                swap_identifier_onto_itself_keeps_the_cart,
                forget_removes_all_instances,
                odd_identifiers_round_trip,
                modify_creates_cart,
                modify_from_a_basis_lands_once,
                failing_modify_stores_nothing,
                oversized_modify_stores_nothing,
                concurrent_creates_one_wins,
                concurrent_modify_loses_nothing,
            );
            $crate::__conformance_tests!(
                @scan $scan $make; scan_visits_every_cart, scan_visits_odd_identifiers_once,
            );
            $crate::__conformance_tests!(@corrupt $make; $($corrupt)+);
        }
    };

    (@checks $make:tt; $($check:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let storage = $make.await;
                $crate::storage::conformance::$check(&storage).await;
            }
        )*
    };

    (@scan required $make:tt; $($check:ident),* $(,)?) => {
        $crate::__conformance_tests!(@checks $make; $($check),*);
    };
    (@scan opted_out $make:tt; $($check:ident),* $(,)?) => {
        $(
            #[test]
            #[ignore = "the driver opted out of scan (`no_scan`)"]
            fn $check() {}
        )*
    };

    (@corrupt $make:tt; hook ($hook:expr)) => {
        #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn corrupt_document_is_an_error() {
            let storage = $make.await;
            $crate::storage::conformance::corrupt_document_is_an_error(&storage, $hook).await;
        }
    };
    (@corrupt $make:tt; none) => {
        #[test]
        #[ignore = "the driver cannot store a corrupt document (`no_corrupt`)"]
        fn corrupt_document_is_an_error() {}
    };
}
