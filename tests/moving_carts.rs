//! Moving carts between drivers with memory drivers (the Redis and Postgres runs are in
//! `tests/migrate_drivers.rs`): batch migration, dual writes, and swapping identifiers.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum_cart::storage::{
    CartKey, CartStorage, CopyOptions, DualWriteStorage, ModifyOptions, ScanPage, StorageError,
    Versioned, copy_carts, copy_identifier, new_write_id,
};
use axum_cart::{CartConfig, CartContents, CartItem, CartManager, Currency, MemoryStorage, Money};
use common::usd;
use futures_util::future::BoxFuture;

fn cart_with(id: &str, quantity: u32) -> CartContents {
    let mut cart = CartContents::new(Currency::USD);
    cart.add(CartItem::new(
        id,
        "Thing",
        Money::parse("2.50", Currency::USD).unwrap(),
        quantity,
    ))
    .unwrap();
    cart.add_discount("promo", "10%").unwrap();
    cart.set_metadata("note", serde_json::json!("gift"))
        .unwrap();
    // As every write of this crate does: the copy decides by these ids.
    cart.record_write(new_write_id());
    cart
}

/// `cart` after one more write adding `quantity` of `id`.
fn written(cart: &CartContents, id: &str, quantity: u32) -> CartContents {
    let mut next = cart.clone();
    next.add(CartItem::new(
        id,
        "Thing",
        Money::parse("1.00", Currency::USD).unwrap(),
        quantity,
    ))
    .unwrap();
    next.record_write(new_write_id());
    next
}

fn quantity(cart: &Versioned<CartContents>, id: &str) -> u32 {
    cart.value.get(id).map_or(0, |item| item.quantity())
}

#[tokio::test]
async fn migrate_copies_everything_once_and_respects_newer_targets() {
    let from = MemoryStorage::new();
    let to = MemoryStorage::new();
    let mut sources: Vec<CartContents> = (0..250).map(|i| cart_with("a", 1 + i % 5)).collect();
    // The target carts below are written before the sources, so every clock calls the source
    // newer: only the write ids may decide.
    // A target cart written after it received the source's last write: left alone.
    let newer_key = CartKey::new("guest-7", "default");
    to.save(&newer_key, &written(&sources[7], "z", 9), None)
        .await
        .unwrap();
    // A target cart that went apart from the source (each has a write the other lacks): left
    // alone too.
    let apart_key = CartKey::new("guest-8", "default");
    to.save(&apart_key, &cart_with("y", 4), None).await.unwrap();
    // A target cart the source's writes descend from: replaced.
    let older_key = CartKey::new("guest-9", "default");
    let earlier = cart_with("a", 1);
    sources[9] = written(&earlier, "b", 2);
    to.save(&older_key, &earlier, None).await.unwrap();
    for (i, cart) in sources.iter().enumerate() {
        from.save(&CartKey::new(format!("guest-{i}"), "default"), cart, None)
            .await
            .unwrap();
    }

    let dry = copy_carts(
        &from,
        &to,
        CopyOptions {
            batch_size: 40,
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(dry.copied, 248);
    assert_eq!(to.len(), 3, "a dry run writes nothing");

    let pages = std::sync::Mutex::new(Vec::new());
    let progress =
        |report: &axum_cart::storage::CopyReport| pages.lock().unwrap().push(report.scanned);
    let report = copy_carts(
        &from,
        &to,
        CopyOptions {
            batch_size: 40,
            dry_run: false,
            progress: Some(&progress),
        },
    )
    .await
    .unwrap();
    assert_eq!(report.scanned, 250);
    assert_eq!(report.copied, 248);
    assert_eq!(
        report.target_newer,
        vec![newer_key.clone(), apart_key.clone()]
    );
    assert!(report.failed.is_empty());
    assert_eq!(
        *pages.lock().unwrap(),
        vec![40, 80, 120, 160, 200, 240, 250]
    );
    for i in (0..250).filter(|i| *i != 7 && *i != 8) {
        let key = CartKey::new(format!("guest-{i}"), "default");
        let source = from.load(&key).await.unwrap().unwrap().value;
        let copied = to.load(&key).await.unwrap().unwrap().value;
        assert_eq!(copied, source);
        assert_eq!(copied.totals().unwrap(), source.totals().unwrap());
    }
    assert_eq!(
        quantity(&to.load(&newer_key).await.unwrap().unwrap(), "z"),
        9
    );
    assert_eq!(
        quantity(&to.load(&apart_key).await.unwrap().unwrap(), "y"),
        4
    );
    assert_eq!(
        quantity(&to.load(&older_key).await.unwrap().unwrap(), "b"),
        2
    );

    let again = copy_carts(&from, &to, CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(again.copied, 0, "a re-run copies nothing");
    assert_eq!(again.unchanged, 248);
    assert_eq!(again.target_newer.len(), 2);
}

type Hook = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// A memory driver that can be switched off (all of it, or its deletes), and that runs a hook
/// once, right after a read, to put another request between a read and what follows it.
#[derive(Clone, Default)]
struct TestDriver {
    inner: MemoryStorage,
    down: Arc<AtomicBool>,
    deletes_down: Arc<AtomicBool>,
    after_load: Arc<Mutex<Option<Hook>>>,
}

impl TestDriver {
    fn check(&self) -> Result<(), StorageError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StorageError::Unavailable {
                driver: "test",
                message: "switched off".into(),
            })
        } else {
            Ok(())
        }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn set_deletes_down(&self, down: bool) {
        self.deletes_down.store(down, Ordering::SeqCst);
    }

    /// Runs `hook` after the next read, before the read answers.
    fn after_next_load<F, Fut>(&self, hook: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        *self.after_load.lock().unwrap() = Some(Box::new(move || Box::pin(hook())));
    }
}

#[async_trait]
impl CartStorage for TestDriver {
    fn driver(&self) -> &'static str {
        "test"
    }
    async fn load(&self, key: &CartKey) -> Result<Option<Versioned<CartContents>>, StorageError> {
        self.check()?;
        let found = self.inner.load(key).await;
        let hook = self.after_load.lock().unwrap().take();
        if let Some(hook) = hook {
            hook().await;
        }
        found
    }
    async fn save(
        &self,
        key: &CartKey,
        cart: &CartContents,
        expected: Option<u64>,
    ) -> Result<u64, StorageError> {
        self.check()?;
        self.inner.save(key, cart, expected).await
    }
    async fn delete(&self, key: &CartKey) -> Result<bool, StorageError> {
        self.check()?;
        if self.deletes_down.load(Ordering::SeqCst) {
            return Err(StorageError::Unavailable {
                driver: "test",
                message: "deletes switched off".into(),
            });
        }
        self.inner.delete(key).await
    }
    async fn delete_at(&self, key: &CartKey, version: u64) -> Result<bool, StorageError> {
        self.check()?;
        self.inner.delete_at(key, version).await
    }
    async fn instances(&self, identifier: &str) -> Result<Vec<String>, StorageError> {
        self.check()?;
        self.inner.instances(identifier).await
    }
    async fn swap_identifier(
        &self,
        from: &str,
        to: &str,
        instance: &str,
    ) -> Result<bool, StorageError> {
        self.check()?;
        self.inner.swap_identifier(from, to, instance).await
    }
    async fn scan(&self, cursor: Option<String>, batch: usize) -> Result<ScanPage, StorageError> {
        self.check()?;
        self.inner.scan(cursor, batch).await
    }
}

#[tokio::test]
async fn dual_write_reads_through_copies_on_read_and_writes_both() {
    let new = MemoryStorage::new();
    let old = TestDriver::default();
    let key = CartKey::new("guest-1", "default");
    old.inner
        .save(&key, &cart_with("a", 3), None)
        .await
        .unwrap();
    let dual = DualWriteStorage::new(Arc::new(new.clone()), Arc::new(old.clone()));

    // Read fallback with copy-on-read.
    assert!(new.load(&key).await.unwrap().is_none());
    let read = dual.load(&key).await.unwrap().unwrap();
    assert_eq!(quantity(&read, "a"), 3);
    let copied = new.load(&key).await.unwrap().unwrap();
    assert_eq!(copied.value, read.value, "copied on read");
    assert_eq!(
        copied.version, read.version,
        "versions are the new driver's"
    );

    // Writes land in both.
    let manager = CartManager::new(CartConfig::new().with_storage(dual.clone()));
    let cart = manager.cart("guest-1", "default").unwrap();
    cart.change_quantity("a", 2).await.unwrap();
    assert_eq!(quantity(&new.load(&key).await.unwrap().unwrap(), "a"), 5);
    let in_old = old.inner.load(&key).await.unwrap().unwrap();
    assert_eq!(quantity(&in_old, "a"), 5);
    assert_eq!(in_old.value, new.load(&key).await.unwrap().unwrap().value);
    assert_eq!(dual.old_failures(), 0);

    // Two writes whose mirrors cross: the first write's mirror reads the old driver, the second
    // write commits and mirrors, then the first mirror goes on. The old driver keeps the later.
    // (The second goes straight to the storage: the cart handle queues writes to one cart.)
    let (second, second_key) = (dual.clone(), key.clone());
    old.after_next_load(move || async move {
        let add_one = |cart: &mut CartContents| {
            cart.add(CartItem::new("a", "Thing", usd("2.50"), 1))
                .map(|_| ())
        };
        second
            .modify(&second_key, &ModifyOptions::default(), &add_one)
            .await
            .unwrap();
    });
    cart.change_quantity("a", 1).await.unwrap();
    assert_eq!(quantity(&new.load(&key).await.unwrap().unwrap(), "a"), 7);
    assert_eq!(
        old.inner.load(&key).await.unwrap().unwrap().value,
        new.load(&key).await.unwrap().unwrap().value,
        "the old driver holds the later write"
    );

    assert!(dual.delete(&key).await.unwrap());
    assert!(new.load(&key).await.unwrap().is_none());
    assert!(old.inner.load(&key).await.unwrap().is_none());
    assert_eq!(dual.old_failures(), 0);
}

#[tokio::test]
async fn a_failing_old_driver_fails_no_request_and_is_counted() {
    let new = MemoryStorage::new();
    let old = TestDriver::default();
    let dual = DualWriteStorage::new(Arc::new(new.clone()), Arc::new(old.clone()));
    let both = CartKey::new("guest-both", "default");
    let only_old = CartKey::new("guest-old", "default");
    old.inner
        .save(&only_old, &cart_with("o", 1), None)
        .await
        .unwrap();
    let manager = CartManager::new(CartConfig::new().with_storage(dual.clone()));
    let cart = manager.cart("guest-both", "default").unwrap();
    cart.add_priced(CartItem::new("a", "Apple", usd("1.00"), 1))
        .await
        .unwrap();
    assert_eq!(dual.old_failures(), 0);

    old.set_down(true);
    // Loads: the new driver answers; a cart only in the old driver reads as absent.
    assert_eq!(quantity(&dual.load(&both).await.unwrap().unwrap(), "a"), 1);
    assert!(dual.load(&only_old).await.unwrap().is_none());
    assert_eq!(dual.instances("guest-both").await.unwrap(), vec!["default"]);
    assert_eq!(dual.old_failures(), 0, "reads are not writes");

    // A modify through the layer: one failed mirror.
    cart.add_priced(CartItem::new("a", "Apple", usd("1.00"), 1))
        .await
        .unwrap();
    assert_eq!(dual.old_failures(), 1);
    // A plain modify.
    let add_one = |cart: &mut CartContents| {
        cart.add(CartItem::new("a", "Apple", usd("1.00"), 1))
            .map(|_| ())
    };
    let modified = dual
        .modify(&both, &ModifyOptions::default(), &add_one)
        .await
        .unwrap();
    assert_eq!(quantity(&modified.cart, "a"), 3);
    assert_eq!(dual.old_failures(), 2);
    // A save.
    let stored = dual.load(&both).await.unwrap().unwrap();
    let version = dual
        .save(&both, &written(&stored.value, "b", 1), Some(stored.version))
        .await
        .unwrap();
    assert!(version > stored.version);
    assert_eq!(dual.old_failures(), 3);
    // A conditional delete and a delete.
    assert!(dual.delete_at(&both, version).await.unwrap());
    assert_eq!(dual.old_failures(), 4);
    assert!(
        !dual.delete(&only_old).await.unwrap(),
        "not in the new driver"
    );
    assert_eq!(dual.old_failures(), 5);
    assert!(new.load(&both).await.unwrap().is_none());

    // Back up: the old driver still has what it missed, and neither deleted cart comes back.
    old.set_down(false);
    assert_eq!(dual.pending_old_deletes(), 2);
    assert!(dual.load(&both).await.unwrap().is_none());
    assert!(dual.load(&only_old).await.unwrap().is_none());
    assert!(dual.instances("guest-old").await.unwrap().is_empty());
    assert_eq!(dual.retry_old_deletes().await, 0);
    assert!(old.inner.load(&both).await.unwrap().is_none());
    assert!(old.inner.load(&only_old).await.unwrap().is_none());
    assert!(dual.load(&only_old).await.unwrap().is_none());
    assert!(new.is_empty());
    assert_eq!(dual.old_failures(), 5);
}

#[tokio::test]
async fn a_delete_during_dual_write_is_never_undone_by_a_read() {
    let new = MemoryStorage::new();
    let old = TestDriver::default();
    let dual = DualWriteStorage::new(Arc::new(new.clone()), Arc::new(old.clone()));
    // A second process on the same drivers.
    let other = DualWriteStorage::new(Arc::new(new.clone()), Arc::new(old.clone()));
    let mut resurrected = Vec::new();

    // 1. Deleted while in both drivers, then read by both processes.
    let key = CartKey::new("guest-1", "default");
    dual.save(&key, &cart_with("a", 1), None).await.unwrap();
    assert!(dual.delete(&key).await.unwrap());
    for storage in [&dual, &other, &dual] {
        if storage.load(&key).await.unwrap().is_some() {
            resurrected.push("deleted in both, read back");
        }
    }

    // 2. A read falls back to the old driver and, between its read and its copy, another
    //    process deletes the cart: the copy lands after the delete and must be taken back.
    let key = CartKey::new("guest-2", "default");
    old.inner
        .save(&key, &cart_with("a", 2), None)
        .await
        .unwrap();
    let (deleter, deleted_key) = (other.clone(), key.clone());
    old.after_next_load(move || async move {
        assert!(deleter.delete(&deleted_key).await.unwrap());
    });
    if dual.load(&key).await.unwrap().is_some() {
        resurrected.push("copy racing a delete from another process");
    }
    if new.load(&key).await.unwrap().is_some() || dual.load(&key).await.unwrap().is_some() {
        resurrected.push("copy racing a delete from another process, read again");
    }

    // 3. The same race in one process, with the old driver failing the delete: the cart stays
    //    in the old driver, and still never comes back.
    let key = CartKey::new("guest-3", "default");
    old.inner
        .save(&key, &cart_with("a", 3), None)
        .await
        .unwrap();
    let (deleter, deleted_key, old_driver) = (dual.clone(), key.clone(), old.clone());
    old.after_next_load(move || async move {
        old_driver.set_deletes_down(true);
        assert!(!deleter.delete(&deleted_key).await.unwrap());
    });
    if dual.load(&key).await.unwrap().is_some() {
        resurrected.push("copy racing a delete the old driver failed");
    }
    old.set_deletes_down(false);
    for _ in 0..3 {
        if dual.load(&key).await.unwrap().is_some() {
            resurrected.push("a delete the old driver failed, read again");
        }
    }
    assert_eq!(dual.old_failures(), 1);

    // 4. A delete during a read that finds the cart in the new driver: plain.
    let key = CartKey::new("guest-4", "default");
    dual.save(&key, &cart_with("a", 4), None).await.unwrap();
    let stored = dual.load(&key).await.unwrap().unwrap();
    assert!(dual.delete_at(&key, stored.version).await.unwrap());
    if other.load(&key).await.unwrap().is_some() || dual.load(&key).await.unwrap().is_some() {
        resurrected.push("delete_at, read back");
    }

    assert_eq!(resurrected, Vec::<&str>::new());
    // The next write the old driver accepts retries the delete it failed.
    dual.save(
        &CartKey::new("guest-5", "default"),
        &cart_with("a", 5),
        None,
    )
    .await
    .unwrap();
    assert_eq!(dual.pending_old_deletes(), 0);
    assert_eq!(old.inner.len(), 1, "only guest-5 is left in the old driver");
    assert_eq!(new.len(), 1, "only guest-5 is left in the new driver");
}

/// A target driver in which a writer changes the cart between the copy's read and its write.
#[tokio::test]
async fn copying_never_overwrites_a_write_that_lands_in_the_target_meanwhile() {
    let from = MemoryStorage::new();
    let to = TestDriver::default();
    let key = CartKey::new("guest-1", "default");
    // The target holds an earlier state of the source's cart: the copy means to replace it.
    let earlier = cart_with("a", 1);
    to.inner.save(&key, &earlier, None).await.unwrap();
    from.save(&key, &written(&earlier, "b", 2), None)
        .await
        .unwrap();
    let (writer, written_key) = (to.inner.clone(), key.clone());
    to.after_next_load(move || async move {
        let add = |cart: &mut CartContents| {
            cart.add(CartItem::new("w", "Writer's", usd("1.00"), 7))
                .map(|_| ())
        };
        writer
            .modify(&written_key, &ModifyOptions::default(), &add)
            .await
            .unwrap();
    });
    let report = copy_carts(&from, &to, CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(report.copied, 0);
    assert_eq!(report.target_newer, vec![key.clone()]);
    let kept = to.inner.load(&key).await.unwrap().unwrap();
    assert_eq!(quantity(&kept, "w"), 7, "the writer's change is lost");

    // And a cart the copy creates while a writer creates it too: the writer's stays.
    let key = CartKey::new("guest-2", "default");
    from.save(&key, &cart_with("a", 1), None).await.unwrap();
    let (writer, written_key) = (to.inner.clone(), key.clone());
    to.after_next_load(move || async move {
        let add = |cart: &mut CartContents| {
            cart.add(CartItem::new("w", "Writer's", usd("1.00"), 5))
                .map(|_| ())
        };
        writer
            .modify(&written_key, &ModifyOptions::default(), &add)
            .await
            .unwrap();
    });
    let report = copy_identifier(&from, &to, "guest-2", &CopyOptions::default())
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.target_newer, vec![key.clone()]);
    assert_eq!(
        quantity(&to.inner.load(&key).await.unwrap().unwrap(), "w"),
        5
    );
}

#[tokio::test]
async fn a_copy_racing_a_delete_through_the_dual_write_takes_itself_back() {
    let old = TestDriver::default();
    let new = MemoryStorage::new();
    let dual = DualWriteStorage::new(Arc::new(new.clone()), Arc::new(old.clone()));
    let key = CartKey::new("guest-1", "default");
    old.inner
        .save(&key, &cart_with("a", 1), None)
        .await
        .unwrap();
    // The batch copy reads the old cart; the visitor deletes it before the copy writes.
    let (deleter, deleted_key) = (dual.clone(), key.clone());
    old.after_next_load(move || async move {
        assert!(deleter.delete(&deleted_key).await.unwrap());
    });
    let report = copy_carts(&old, &new, CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(report.vanished, 1);
    assert_eq!(report.copied, 0);
    assert!(new.load(&key).await.unwrap().is_none());
    assert!(dual.load(&key).await.unwrap().is_none());
}

#[tokio::test]
async fn swap_identifier_replaces_the_target_per_instance() {
    let storage = MemoryStorage::new();
    let manager = CartManager::new(CartConfig::new().with_storage(storage.clone()));
    let guest = manager.cart("guest-9", "default").unwrap();
    guest
        .add_priced(CartItem::new(
            "a",
            "Apple",
            Money::parse("1.00", Currency::USD).unwrap(),
            2,
        ))
        .await
        .unwrap();
    let guest_wishlist = manager.cart("guest-9", "wishlist").unwrap();
    guest_wishlist
        .add_priced(CartItem::new(
            "w",
            "Wish",
            Money::parse("9.00", Currency::USD).unwrap(),
            1,
        ))
        .await
        .unwrap();
    let user = manager.cart("user:9", "default").unwrap();
    user.add_priced(CartItem::new(
        "old",
        "Old",
        Money::parse("5.00", Currency::USD).unwrap(),
        1,
    ))
    .await
    .unwrap();

    assert!(guest.swap_identifier("user:9").await.unwrap());
    let user_now = manager
        .cart("user:9", "default")
        .unwrap()
        .contents()
        .await
        .unwrap();
    assert!(
        user_now.has("a") && !user_now.has("old"),
        "the target's old cart is replaced"
    );
    assert!(
        storage
            .load(&CartKey::new("guest-9", "default"))
            .await
            .unwrap()
            .is_none()
    );
    // Only the named instance moved.
    assert!(
        storage
            .load(&CartKey::new("guest-9", "wishlist"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        storage
            .load(&CartKey::new("user:9", "wishlist"))
            .await
            .unwrap()
            .is_none()
    );
    // A missing source gives false and changes nothing.
    let nobody = manager.cart("nobody", "default").unwrap();
    assert!(!nobody.swap_identifier("user:9").await.unwrap());
    assert!(
        manager
            .cart("user:9", "default")
            .unwrap()
            .contents()
            .await
            .unwrap()
            .has("a")
    );
}
