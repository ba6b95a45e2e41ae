//! Moving carts between drivers with memory drivers (the Redis and Postgres runs are in
//! `tests/migrate_drivers.rs`): batch migration, dual writes, and swapping identifiers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use axum_cart::storage::{
    CartKey, CartStorage, CopyOptions, DualWriteStorage, StorageError, Versioned,
};
use axum_cart::storage::{ScanPage, copy_carts};
use axum_cart::{CartConfig, CartContents, CartItem, CartManager, Currency, MemoryStorage, Money};

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
    cart
}

#[tokio::test]
async fn migrate_copies_everything_once_and_respects_newer_targets() {
    let from = MemoryStorage::new();
    let to = MemoryStorage::new();
    for i in 0..250 {
        from.save(
            &CartKey::new(format!("guest-{i}"), "default"),
            &cart_with("a", 1 + i % 5),
            None,
        )
        .await
        .unwrap();
    }
    // A target cart written after the source's: the migration must leave it alone.
    let newer_key = CartKey::new("guest-7", "default");
    to.save(&newer_key, &cart_with("z", 9), None).await.unwrap();

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
    assert_eq!(dry.copied, 249);
    assert_eq!(to.len(), 1, "a dry run writes nothing");

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
    assert_eq!(report.copied, 249);
    assert_eq!(report.target_newer, vec![newer_key.clone()]);
    assert!(report.failed.is_empty());
    assert_eq!(
        *pages.lock().unwrap(),
        vec![40, 80, 120, 160, 200, 240, 250]
    );
    for i in (0..250).filter(|i| *i != 7) {
        let key = CartKey::new(format!("guest-{i}"), "default");
        let source = from.load(&key).await.unwrap().unwrap().value;
        let copied = to.load(&key).await.unwrap().unwrap().value;
        assert_eq!(copied, source);
        assert_eq!(copied.totals().unwrap(), source.totals().unwrap());
    }
    assert_eq!(
        to.load(&newer_key)
            .await
            .unwrap()
            .unwrap()
            .value
            .get("z")
            .unwrap()
            .quantity(),
        9
    );

    let again = copy_carts(&from, &to, CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(again.copied, 0, "a re-run copies nothing");
    assert_eq!(again.unchanged, 249);
}

/// A driver that can be switched off, to see how the dual writer copes with a failing old driver.
#[derive(Clone)]
struct Flaky {
    inner: MemoryStorage,
    down: Arc<AtomicBool>,
}

impl Flaky {
    fn check(&self) -> Result<(), StorageError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StorageError::Unavailable {
                driver: "flaky",
                message: "switched off".into(),
            })
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl CartStorage for Flaky {
    fn driver(&self) -> &'static str {
        "flaky"
    }
    async fn load(&self, key: &CartKey) -> Result<Option<Versioned<CartContents>>, StorageError> {
        self.check()?;
        self.inner.load(key).await
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
        self.inner.delete(key).await
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
async fn dual_write_reads_through_copies_on_read_and_survives_a_failing_old_driver() {
    let new = MemoryStorage::new();
    let old = Flaky {
        inner: MemoryStorage::new(),
        down: Arc::default(),
    };
    let key = CartKey::new("guest-1", "default");
    old.inner
        .save(&key, &cart_with("a", 3), None)
        .await
        .unwrap();
    let dual = DualWriteStorage::new(Arc::new(new.clone()), Arc::new(old.clone()));

    // Read fallback with copy-on-read.
    assert!(new.load(&key).await.unwrap().is_none());
    let read = dual.load(&key).await.unwrap().unwrap();
    assert_eq!(read.value.get("a").unwrap().quantity(), 3);
    assert_eq!(
        new.load(&key).await.unwrap().unwrap().value,
        read.value,
        "copied on read"
    );

    // Writes land in both.
    let manager = CartManager::new(CartConfig::new().with_storage(dual.clone()));
    let cart = manager.cart("guest-1", "default").unwrap();
    cart.change_quantity("a", 2).await.unwrap();
    assert_eq!(
        new.load(&key)
            .await
            .unwrap()
            .unwrap()
            .value
            .get("a")
            .unwrap()
            .quantity(),
        5
    );
    assert_eq!(
        old.inner
            .load(&key)
            .await
            .unwrap()
            .unwrap()
            .value
            .get("a")
            .unwrap()
            .quantity(),
        5
    );
    assert_eq!(dual.old_failures(), 0);

    // The old driver fails: the write to the new one still counts, and the failure is reported.
    old.down.store(true, Ordering::SeqCst);
    let cart = manager.cart("guest-1", "default").unwrap();
    cart.change_quantity("a", 1).await.unwrap();
    assert_eq!(
        new.load(&key)
            .await
            .unwrap()
            .unwrap()
            .value
            .get("a")
            .unwrap()
            .quantity(),
        6
    );
    assert_eq!(
        old.inner
            .load(&key)
            .await
            .unwrap()
            .unwrap()
            .value
            .get("a")
            .unwrap()
            .quantity(),
        5
    );
    assert_eq!(dual.old_failures(), 1);

    // Deleting goes to both; an old-driver failure is reported, not raised.
    old.down.store(false, Ordering::SeqCst);
    assert!(dual.delete(&key).await.unwrap());
    assert!(new.load(&key).await.unwrap().is_none());
    assert!(old.inner.load(&key).await.unwrap().is_none());
}

#[tokio::test]
async fn swap_identifier_replaces_the_target_per_instance() {
    let storage = MemoryStorage::new();
    let manager = CartManager::new(CartConfig::new().with_storage(storage.clone()));
    let guest = manager.cart("guest-9", "default").unwrap();
    guest
        .add(CartItem::new(
            "a",
            "Apple",
            Money::parse("1.00", Currency::USD).unwrap(),
            2,
        ))
        .await
        .unwrap();
    let guest_wishlist = manager.cart("guest-9", "wishlist").unwrap();
    guest_wishlist
        .add(CartItem::new(
            "w",
            "Wish",
            Money::parse("9.00", Currency::USD).unwrap(),
            1,
        ))
        .await
        .unwrap();
    let user = manager.cart("user:9", "default").unwrap();
    user.add(CartItem::new(
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
