//! The driver conformance suite: the [`CartStorage`] contract as executable checks.
//!
//! Every driver of this crate (memory, session, Redis, Postgres) runs these checks, and so should
//! yours. Each check is a public `async fn` taking `&dyn CartStorage`; it panics with a message
//! naming the driver and what went wrong. Checks use fresh random identifiers (UUID v4), so they
//! can share one storage, run in parallel, and run against a database that already holds carts.
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
//! Then, in `tests/conformance.rs`, give [`conformance_tests!`](crate::conformance_tests) an
//! expression that evaluates to a future of your storage. It expands to one
//! `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]` per check, each building its own
//! storage with the expression:
//!
//! ```ignore
//! axum_cart::conformance_tests!(async { my_crate::FileStorage::open(tempdir()).await.unwrap() });
//! ```
//!
//! To run everything in one test instead (for example against one expensive connection), call
//! [`run_all`]:
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
//! async fn my_driver_conforms() {
//!     let storage = my_crate::FileStorage::open(tempdir()).await.unwrap();
//!     axum_cart::storage::conformance::run_all(&storage).await;
//! }
//! ```
//!
//! The concurrency check ([`concurrent_modify_loses_nothing`]) drives its writers from 16 threads
//! on the caller's runtime when that runtime is multi-threaded (the macro's tests are); on a
//! current-thread runtime the writers only interleave on one task, which proves less.
//!
//! `scan` is optional for a driver: [`scan_visits_every_cart`] is skipped when the driver answers
//! [`StorageError::Unsupported`].

use std::collections::BTreeSet;

use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;

use super::{CartKey, CartStorage, ModifyError, ModifyOptions, StorageError};
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

fn driver_of(storage: &dyn CartStorage) -> &'static str {
    storage.driver()
}

async fn load_version(storage: &dyn CartStorage, key: &CartKey) -> Option<u64> {
    storage
        .load(key)
        .await
        .unwrap_or_else(|e| panic!("[{}] load {key} failed: {e}", driver_of(storage)))
        .map(|stored| stored.version)
}

async fn load_value(storage: &dyn CartStorage, key: &CartKey) -> Option<CartContents> {
    storage
        .load(key)
        .await
        .unwrap_or_else(|e| panic!("[{}] load {key} failed: {e}", driver_of(storage)))
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
            driver_of(storage)
        )
    })
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

/// `save(None)` creates version 1, and the cart comes back exactly as saved, with equal totals.
pub async fn save_new_round_trips(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let key = CartKey::new(fresh_identifier("round-trip"), "default");
    let cart = sample_cart();
    let version = save_ok(storage, &key, &cart, None).await;
    assert_eq!(
        version, 1,
        "[{driver}] a new cart must be stored at version 1"
    );
    let stored = storage
        .load(&key)
        .await
        .unwrap_or_else(|e| panic!("[{driver}] load after save failed: {e}"))
        .unwrap_or_else(|| panic!("[{driver}] a saved cart loads as None"));
    assert_eq!(stored.version, 1, "[{driver}] loaded version of a new cart");
    assert_eq!(
        stored.value, cart,
        "[{driver}] the loaded cart differs from the saved one"
    );
    assert_eq!(
        stored.value.totals_at(NOW).expect("totals of loaded cart"),
        cart.totals_at(NOW).expect("totals of saved cart"),
        "[{driver}] totals differ after a round trip"
    );
}

/// `save(None)` on an existing cart is a conflict carrying `current: Some(1)`.
pub async fn save_new_on_existing_conflicts(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let key = CartKey::new(fresh_identifier("create-twice"), "default");
    save_ok(storage, &key, &marked_cart("first"), None).await;
    let result = storage.save(&key, &marked_cart("second"), None).await;
    expect_conflict(
        driver,
        "save(None) on an existing cart",
        result,
        &key,
        None,
        Some(1),
    );
    assert_eq!(
        load_value(storage, &key).await,
        Some(marked_cart("first")),
        "[{driver}] a refused create must not change the stored cart"
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

/// A save with a stale version is a conflict carrying the stored version, and changes nothing.
pub async fn stale_save_conflicts(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let key = CartKey::new(fresh_identifier("stale"), "default");
    save_ok(storage, &key, &marked_cart("a"), None).await;
    save_ok(storage, &key, &marked_cart("b"), Some(1)).await;
    let result = storage.save(&key, &marked_cart("stale"), Some(1)).await;
    expect_conflict(
        driver,
        "save with a stale version",
        result,
        &key,
        Some(1),
        Some(2),
    );
    let result = storage.save(&key, &marked_cart("future"), Some(7)).await;
    expect_conflict(
        driver,
        "save with a future version",
        result,
        &key,
        Some(7),
        Some(2),
    );
    assert_eq!(
        load_version(storage, &key).await,
        Some(2),
        "[{driver}] version after a refused save"
    );
    assert_eq!(
        load_value(storage, &key).await,
        Some(marked_cart("b")),
        "[{driver}] a refused save must not change the stored cart"
    );
    // Expecting a version on a cart that does not exist is a conflict too.
    let missing = CartKey::new(fresh_identifier("stale-missing"), "default");
    let result = storage.save(&missing, &marked_cart("x"), Some(1)).await;
    expect_conflict(
        driver,
        "save(Some(1)) on a missing cart",
        result,
        &missing,
        Some(1),
        None,
    );
    assert_eq!(
        load_version(storage, &missing).await,
        None,
        "[{driver}] refused save created a cart"
    );
}

/// `delete` says whether a cart was there; a deleted cart loads as `None` and can be created again.
pub async fn delete_then_load_none(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let key = CartKey::new(fresh_identifier("delete"), "default");
    save_ok(storage, &key, &marked_cart("a"), None).await;
    let deleted = storage
        .delete(&key)
        .await
        .unwrap_or_else(|e| panic!("[{driver}] delete: {e}"));
    assert!(
        deleted,
        "[{driver}] delete of a stored cart must return true"
    );
    assert_eq!(
        load_version(storage, &key).await,
        None,
        "[{driver}] a deleted cart must load as None"
    );
    let again = storage
        .delete(&key)
        .await
        .unwrap_or_else(|e| panic!("[{driver}] delete: {e}"));
    assert!(
        !again,
        "[{driver}] delete of a missing cart must return false"
    );
    assert_eq!(
        save_ok(storage, &key, &marked_cart("b"), None).await,
        1,
        "[{driver}] a deleted cart must be creatable again with save(None)"
    );
}

/// Instances of one identifier are independent carts, and `instances()` lists them sorted.
pub async fn instances_are_independent_and_sorted(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let identifier = fresh_identifier("instances");
    let names = ["wishlist", "default", "b-side", "compare"];
    for name in names {
        save_ok(
            storage,
            &CartKey::new(&identifier, name),
            &marked_cart(name),
            None,
        )
        .await;
    }
    // Writing one instance leaves the others alone.
    save_ok(
        storage,
        &CartKey::new(&identifier, "default"),
        &marked_cart("changed"),
        Some(1),
    )
    .await;
    for name in names {
        let key = CartKey::new(&identifier, name);
        let (expected, version) = if name == "default" {
            (marked_cart("changed"), 2)
        } else {
            (marked_cart(name), 1)
        };
        assert_eq!(
            load_value(storage, &key).await,
            Some(expected),
            "[{driver}] instance {name}"
        );
        assert_eq!(
            load_version(storage, &key).await,
            Some(version),
            "[{driver}] instance {name} version"
        );
    }
    let listed = storage
        .instances(&identifier)
        .await
        .unwrap_or_else(|e| panic!("[{driver}] instances: {e}"));
    assert_eq!(
        listed,
        vec!["b-side", "compare", "default", "wishlist"],
        "[{driver}] instances() must list every instance, sorted"
    );
    assert!(
        storage
            .delete(&CartKey::new(&identifier, "compare"))
            .await
            .expect("delete"),
        "[{driver}] delete instance"
    );
    let listed = storage.instances(&identifier).await.expect("instances");
    assert_eq!(
        listed,
        vec!["b-side", "default", "wishlist"],
        "[{driver}] instances after a delete"
    );
    let none = storage
        .instances(&fresh_identifier("no-instances"))
        .await
        .unwrap_or_else(|e| panic!("[{driver}] instances: {e}"));
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
        storage
            .instances(&from)
            .await
            .expect("instances")
            .is_empty(),
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
        !moved,
        "[{driver}] swap_identifier from a missing cart must return false"
    );
    assert_eq!(
        load_value(storage, &CartKey::new(&to, "default")).await,
        Some(marked_cart("user")),
        "[{driver}] a swap from a missing cart must leave the target alone"
    );
    assert_eq!(
        load_version(storage, &CartKey::new(&to, "default")).await,
        Some(1)
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
        storage.instances(&from).await.expect("instances"),
        vec!["default"],
        "[{driver}]"
    );
    assert_eq!(
        storage.instances(&to).await.expect("instances"),
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
    save_ok(storage, &key, &marked_cart("mine"), None).await;
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
        load_version(storage, &key).await >= Some(1),
        "[{driver}] version after a swap onto itself"
    );
}

/// `forget` deletes every instance of an identifier and says how many.
pub async fn forget_removes_all_instances(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let identifier = fresh_identifier("forget");
    let other = CartKey::new(fresh_identifier("forget-other"), "default");
    save_ok(storage, &other, &marked_cart("other"), None).await;
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
        storage
            .instances(&identifier)
            .await
            .expect("instances")
            .is_empty(),
        "[{driver}]"
    );
    assert_eq!(
        load_version(storage, &other).await,
        Some(1),
        "[{driver}] forget touched another identifier"
    );
    assert_eq!(
        storage.forget(&identifier).await.expect("forget"),
        0,
        "[{driver}] second forget"
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

/// `modify` on a missing cart creates it at version 1 with the options' currency.
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
    assert_eq!(
        modified.cart.version, 1,
        "[{driver}] a cart created by modify is v1"
    );
    let stored = load_value(storage, &key)
        .await
        .unwrap_or_else(|| panic!("[{driver}] not stored"));
    assert_eq!(
        stored, modified.cart.value,
        "[{driver}] modify returned another cart than it stored"
    );
    assert_eq!(
        stored.currency(),
        Currency::GBP,
        "[{driver}] currency of a new cart"
    );
    let again = storage
        .modify(&key, &options, &add_unit("w"))
        .await
        .expect("second modify");
    assert_eq!(again.previous_version, Some(1), "[{driver}]");
    assert_eq!(again.cart.version, 2, "[{driver}]");
    assert_eq!(
        again.cart.value.get("w").map(CartItem::quantity),
        Some(2),
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
    save_ok(storage, &key, &marked_cart("kept"), None).await;
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
        Some(1),
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
    let key = CartKey::new(fresh_identifier("oversized"), "default");
    match storage.modify(&key, &options, &bloat).await {
        Err(ModifyError::Rejected(cart::Error::LimitExceeded { field, max, .. })) => {
            assert_eq!(field, "cart_size", "[{driver}]");
            assert_eq!(max, 600, "[{driver}]");
        }
        other => {
            panic!("[{driver}] an oversized cart must be refused with LimitExceeded, got {other:?}")
        }
    }
    assert_eq!(
        load_version(storage, &key).await,
        None,
        "[{driver}] an oversized cart was stored"
    );

    storage
        .modify(&key, &options, &add_unit("small"))
        .await
        .expect("a small cart fits");
    let before = load_value(storage, &key).await;
    assert!(
        storage.modify(&key, &options, &bloat).await.is_err(),
        "[{driver}] oversized update"
    );
    assert_eq!(
        load_version(storage, &key).await,
        Some(1),
        "[{driver}] an oversized update wrote"
    );
    assert_eq!(load_value(storage, &key).await, before, "[{driver}]");
}

/// Writers in the concurrency check.
pub const CONCURRENT_WRITERS: usize = 16;
/// `modify` calls per writer in the concurrency check.
pub const WRITES_PER_WRITER: usize = 20;

/// 16 concurrent writers × 20 `modify` calls, each adding one unit to one line of one cart: the
/// line ends at exactly 320 units. Prints how many conflicts were retried.
pub async fn concurrent_modify_loses_nothing(storage: &dyn CartStorage) {
    let driver = storage.driver();
    let key = CartKey::new(fresh_identifier("concurrent"), "default");
    let options = ModifyOptions {
        retry_budget: std::time::Duration::from_secs(60),
        ..ModifyOptions::default()
    };
    let op = add_unit("hot");
    let writer = || async {
        let mut retries = 0u64;
        for _ in 0..WRITES_PER_WRITER {
            let modified = storage
                .modify(&key, &options, &op)
                .await
                .unwrap_or_else(|e| panic!("[{driver}] concurrent modify failed: {e}"));
            retries += u64::from(modified.retries);
        }
        retries
    };
    let handle = tokio::runtime::Handle::current();
    let retries: u64 = if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread {
        futures_util::future::join_all((0..CONCURRENT_WRITERS).map(|_| writer()))
            .await
            .into_iter()
            .sum()
    } else {
        // The writers borrow the storage, so they cannot be spawned as 'static tasks: each runs
        // on its own scoped thread, driven by (and doing I/O through) the caller's runtime.
        std::thread::scope(|scope| {
            let threads: Vec<_> = (0..CONCURRENT_WRITERS)
                .map(|_| {
                    let handle = handle.clone();
                    let writer = &writer;
                    scope.spawn(move || handle.block_on(writer()))
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .sum()
        })
    };
    let expected = (CONCURRENT_WRITERS * WRITES_PER_WRITER) as u32;
    let stored = load_value(storage, &key)
        .await
        .unwrap_or_else(|| panic!("[{driver}] no cart"));
    let quantity = stored.get("hot").map(CartItem::quantity);
    println!(
        "[{driver}] {CONCURRENT_WRITERS} writers x {WRITES_PER_WRITER} modify: quantity {quantity:?}, {retries} conflicts retried"
    );
    assert_eq!(
        quantity,
        Some(expected),
        "[{driver}] concurrent modify lost updates ({retries} retries)"
    );
    assert_eq!(stored.lines(), 1, "[{driver}]");
    let version = load_version(storage, &key).await;
    assert_eq!(
        version,
        Some(u64::from(expected)),
        "[{driver}] one version per committed write"
    );
}

/// Paging through `scan` with a small batch visits every cart this check saved at least once.
/// Skipped when the driver answers [`StorageError::Unsupported`].
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
    let mut seen = BTreeSet::new();
    let mut cursor: Option<String> = None;
    let mut cursors = BTreeSet::new();
    let mut pages = 0usize;
    loop {
        let page = match storage.scan(cursor.clone(), 2).await {
            Ok(page) => page,
            Err(StorageError::Unsupported { .. }) if pages == 0 => {
                println!("[{driver}] scan is unsupported: check skipped");
                return;
            }
            Err(e) => panic!("[{driver}] scan page {pages} failed: {e}"),
        };
        pages += 1;
        seen.extend(page.keys.into_iter().filter(|key| saved.contains(key)));
        match page.next {
            None => break,
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
    let missing: Vec<_> = saved.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "[{driver}] scan never visited {missing:?} ({pages} pages)"
    );
    assert_eq!(seen, saved, "[{driver}] scan");
}

/// Every check, one after the other, on one storage.
pub async fn run_all(storage: &dyn CartStorage) {
    load_missing_is_none(storage).await;
    save_new_round_trips(storage).await;
    save_new_on_existing_conflicts(storage).await;
    save_expected_increments(storage).await;
    stale_save_conflicts(storage).await;
    delete_then_load_none(storage).await;
    instances_are_independent_and_sorted(storage).await;
    swap_identifier_replaces_target(storage).await;
    swap_identifier_missing_source(storage).await;
    swap_identifier_moves_only_named_instance(storage).await;
    swap_identifier_invalidates_target_version(storage).await;
    swap_identifier_onto_itself_keeps_the_cart(storage).await;
    forget_removes_all_instances(storage).await;
    modify_creates_cart(storage).await;
    failing_modify_stores_nothing(storage).await;
    oversized_modify_stores_nothing(storage).await;
    concurrent_modify_loses_nothing(storage).await;
    scan_visits_every_cart(storage).await;
}

/// Expands to one `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]` per conformance
/// check; each test builds its storage by awaiting the given expression.
///
/// Needs the `test-util` feature, and `tokio` with `macros` and `rt-multi-thread` in the calling
/// crate. See [`storage::conformance`](crate::storage::conformance).
///
/// ```ignore
/// axum_cart::conformance_tests!(async { axum_cart::MemoryStorage::new() });
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr $(,)?) => {
        $crate::__conformance_tests!(
            $make;
            load_missing_is_none,
            save_new_round_trips,
            save_new_on_existing_conflicts,
            save_expected_increments,
            stale_save_conflicts,
            delete_then_load_none,
            instances_are_independent_and_sorted,
            swap_identifier_replaces_target,
            swap_identifier_missing_source,
            swap_identifier_moves_only_named_instance,
            swap_identifier_invalidates_target_version,
            swap_identifier_onto_itself_keeps_the_cart,
            forget_removes_all_instances,
            modify_creates_cart,
            failing_modify_stores_nothing,
            oversized_modify_stores_nothing,
            concurrent_modify_loses_nothing,
            scan_visits_every_cart,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($make:expr; $($check:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let storage = $make.await;
                $crate::storage::conformance::$check(&storage).await;
            }
        )*
    };
}
