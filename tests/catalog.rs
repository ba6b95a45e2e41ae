//! The catalogue at the library level: adding by id, price provenance, the price policy on read,
//! one batched catalogue call per read, discount codes, and the instance limit. Carts are opened
//! with `CartManager::cart` on `MemoryStorage`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use axum_cart::cart::{self, CartContents, Condition, ConditionTarget, Rule};
use axum_cart::storage::{CartKey, CartStorage, StorageError, Versioned};
use axum_cart::{
    AddItem, Cart, CartConfig, CartError, CartItem, CartManager, Catalog, CatalogError, Currency,
    MemoryCatalog, MemoryStorage, Money, Notice, PricePolicy, Product,
};
use serde_json::json;
use time::OffsetDateTime;

fn usd(amount: &str) -> Money {
    Money::parse(amount, Currency::USD).unwrap()
}

/// The example shop's catalogue and codes (DESIGN.md section 7).
fn shop_catalog() -> MemoryCatalog {
    let save10 = Condition::new("SAVE10", "discount", ConditionTarget::Subtotal, "-10%").unwrap();
    let tenoff = Condition::new("TENOFF", "discount", ConditionTarget::Subtotal, "-10.00")
        .unwrap()
        .with_rule(Rule::SubtotalAtLeast {
            amount: "50.00".parse().unwrap(),
        });
    MemoryCatalog::new()
        .with_product("tee", "Organic T-shirt", usd("19.90"))
        .with_product("mug", "Enamel mug", usd("8.50"))
        .with_product("cap", "Canvas cap", usd("14.00"))
        .with_product("socks", "Wool socks", usd("6.25"))
        .with_product("poster", "Screen-printed poster", usd("12.00"))
        .with_product("pen", "Brass pen", usd("0.99"))
        .with_product("lamp", "Desk lamp", usd("149.00"))
        .with_code("SAVE10", save10)
        .with_code("TENOFF", tenoff)
}

/// A catalogue that counts its calls.
#[derive(Clone, Default)]
struct CountingCatalog {
    inner: MemoryCatalog,
    calls: Arc<AtomicUsize>,
    asked: Arc<std::sync::Mutex<Vec<Vec<String>>>>,
}

impl CountingCatalog {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Catalog for CountingCatalog {
    async fn products(&self, ids: &[String]) -> Result<HashMap<String, Product>, CatalogError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.asked.lock().unwrap().push(ids.to_vec());
        self.inner.products(ids).await
    }
}

/// A catalogue that is down.
struct DownCatalog;

#[async_trait]
impl Catalog for DownCatalog {
    async fn products(&self, _: &[String]) -> Result<HashMap<String, Product>, CatalogError> {
        Err(CatalogError(
            "connection refused by pricing.internal:9000".into(),
        ))
    }
}

/// Memory storage that counts `instances` calls.
#[derive(Clone, Default)]
struct CountingInstances {
    inner: MemoryStorage,
    instances: Arc<AtomicUsize>,
}

#[async_trait]
impl CartStorage for CountingInstances {
    fn driver(&self) -> &'static str {
        "counting-instances"
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
        self.inner.save(key, cart, expected).await
    }
    async fn delete(&self, key: &CartKey) -> Result<bool, StorageError> {
        self.inner.delete(key).await
    }
    async fn instances(&self, identifier: &str) -> Result<Vec<String>, StorageError> {
        self.instances.fetch_add(1, Ordering::SeqCst);
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

struct Shop {
    manager: CartManager,
    storage: MemoryStorage,
    catalog: MemoryCatalog,
}

impl Shop {
    fn new(configure: impl FnOnce(CartConfig) -> CartConfig) -> Shop {
        let storage = MemoryStorage::new();
        let catalog = shop_catalog();
        let config = CartConfig::new()
            .with_storage(storage.clone())
            .with_catalog(catalog.clone())
            .with_promotions(catalog.clone());
        Shop {
            manager: CartManager::new(configure(config)),
            storage,
            catalog,
        }
    }

    /// A handle as one request gets it: its own cache.
    fn cart(&self) -> Cart {
        self.manager.cart("user:1", "default").unwrap()
    }

    async fn stored(&self) -> Option<Versioned<CartContents>> {
        self.storage
            .load(&CartKey::new("user:1", "default"))
            .await
            .unwrap()
    }

    fn set_price(&self, id: &str, price: &str) {
        let mut product = self.catalog.product(id).unwrap();
        product.price = usd(price);
        self.catalog.set_product(product);
    }
}

fn price_changed(id: &str, old: &str, new: &str) -> Notice {
    Notice::PriceChanged {
        id: id.into(),
        old: old.into(),
        new: new.into(),
    }
}

#[tokio::test]
async fn adding_by_id_takes_name_and_price_from_the_catalogue_and_records_provenance() {
    let shop = Shop::new(|config| config);
    let before = OffsetDateTime::now_utc();
    let line = shop
        .cart()
        .add_product(AddItem::new("tee", 2).with_attribute("size", "M"))
        .await
        .unwrap();
    let after = OffsetDateTime::now_utc();
    assert_eq!(line.name(), "Organic T-shirt");
    assert_eq!(line.price(), usd("19.90"));
    assert_eq!(line.quantity(), 2);
    assert_eq!(line.attributes()["size"], "M");
    assert_eq!(line.price_source(), Some("catalog@v1"));
    let priced_at = line.priced_at().unwrap();
    // Taken to the second.
    assert_eq!(priced_at.nanosecond(), 0);
    assert!(before.replace_nanosecond(0).unwrap() <= priced_at && priced_at <= after);

    let stored = shop.stored().await.unwrap().value;
    let stored_line = stored.get("tee").unwrap();
    assert_eq!(stored_line, &line);
    assert_eq!(stored_line.priced_at(), Some(priced_at));
    let document: serde_json::Value = serde_json::from_slice(&stored.to_json().unwrap()).unwrap();
    assert_eq!(document["items"][0]["price_source"], "catalog@v1");

    // Again: the quantities add up at the current price, with a new time.
    shop.set_price("tee", "21.00");
    let line = shop
        .cart()
        .add_product(AddItem::new("tee", 1))
        .await
        .unwrap();
    assert_eq!((line.quantity(), line.price()), (3, usd("21.00")));
    assert_eq!(line.price_source(), Some("catalog@v2"));
    assert!(line.priced_at().unwrap() >= priced_at);
    assert_eq!(shop.cart().totals().await.unwrap().total, usd("63.00"));
}

#[tokio::test]
async fn a_trusted_price_has_no_provenance_and_is_never_repriced() {
    let shop = Shop::new(|config| config.with_max_price_age(Duration::ZERO));
    let cart = shop.cart();
    cart.add_priced(CartItem::new("tee", "Staff tee", usd("5.00"), 1))
        .await
        .unwrap();
    let view = shop.cart().view().await.unwrap();
    assert_eq!(view.items[0].price, "5.00");
    assert!(view.notices.is_empty());
    let line = shop.cart().get("tee").await.unwrap().unwrap();
    assert_eq!((line.price_source(), line.priced_at()), (None, None));

    // A catalogue line re-added at a trusted price loses its provenance.
    cart.add_product(AddItem::new("mug", 1)).await.unwrap();
    let line = cart
        .add_priced(CartItem::new("mug", "Mug", usd("1.00"), 1))
        .await
        .unwrap();
    assert_eq!((line.price_source(), line.priced_at()), (None, None));
}

#[tokio::test]
async fn an_unknown_product_is_not_found_and_stores_nothing() {
    let shop = Shop::new(|config| config);
    let error = shop
        .cart()
        .add_product(AddItem::new("yacht", 1))
        .await
        .unwrap_err();
    assert!(matches!(&error, CartError::ProductNotFound { id } if id == "yacht"));
    assert_eq!(error.status(), StatusCode::NOT_FOUND);
    assert_eq!(error.code(), "product_not_found");
    assert!(shop.stored().await.is_none());
    assert!(shop.storage.is_empty());

    // A bad quantity is a validation error, before the catalogue is asked.
    let error = shop
        .cart()
        .add_product(AddItem::new("tee", 0))
        .await
        .unwrap_err();
    assert_eq!(error.field(), Some("quantity"));
    assert!(shop.storage.is_empty());
}

#[tokio::test]
async fn without_a_catalogue_adding_by_id_is_unsupported() {
    let manager = CartManager::new(CartConfig::new().with_storage(MemoryStorage::new()));
    let cart = manager.cart("user:1", "default").unwrap();
    let error = cart.add_product(AddItem::new("tee", 1)).await.unwrap_err();
    assert!(matches!(error, CartError::Unsupported(_)));
    assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(matches!(
        cart.apply_code("SAVE10").await.unwrap_err(),
        CartError::Unsupported(_)
    ));
}

#[tokio::test]
async fn a_catalogue_failure_answers_503_without_its_text() {
    let manager = CartManager::new(
        CartConfig::new()
            .with_storage(MemoryStorage::new())
            .with_catalog(DownCatalog),
    );
    let cart = manager.cart("user:1", "default").unwrap();
    let error = cart.add_product(AddItem::new("tee", 1)).await.unwrap_err();
    assert!(matches!(error, CartError::Catalog(_)));
    assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error.code(), "catalog_unavailable");
    let body = error.body().to_string();
    assert!(!body.contains("pricing.internal"), "{body}");
}

#[tokio::test]
async fn with_notice_a_moved_price_is_repriced_and_told_then_stored_by_the_next_write() {
    let shop = Shop::new(|config| config.with_price_policy(PricePolicy::RepriceWithNotice));
    shop.cart()
        .add_product(AddItem::new("tee", 2))
        .await
        .unwrap();
    shop.cart()
        .add_product(AddItem::new("mug", 1))
        .await
        .unwrap();
    shop.set_price("tee", "21.00");

    let cart = shop.cart();
    let view = cart.view().await.unwrap();
    assert_eq!(view.items[0].price, "21.00");
    assert_eq!(view.items[0].line_total, "42.00");
    assert_eq!(view.total, "50.50");
    assert_eq!(view.notices, [price_changed("tee", "19.90", "21.00")]);
    assert_eq!(
        serde_json::to_value(&view.notices).unwrap(),
        json!([{"kind": "price_changed", "id": "tee", "old": "19.90", "new": "21.00"}])
    );
    assert_eq!(cart.totals().await.unwrap().total, usd("50.50"));
    assert_eq!(cart.items().await.unwrap()[0].price(), usd("21.00"));
    // Reading stores nothing.
    let stored = shop.stored().await.unwrap();
    assert_eq!(stored.value.get("tee").unwrap().price(), usd("19.90"));

    // The next write of the request stores the new price; its view still tells.
    cart.set_quantity("mug", 2).await.unwrap();
    let view = cart.view().await.unwrap();
    assert_eq!(view.notices, [price_changed("tee", "19.90", "21.00")]);
    assert_eq!(view.total, "59.00");
    let stored = shop.stored().await.unwrap().value;
    let tee = stored.get("tee").unwrap();
    assert_eq!(tee.price(), usd("21.00"));
    assert_eq!(tee.price_source(), Some("catalog@v2"));

    // Told once: the next request finds the stored price current.
    let view = shop.cart().view().await.unwrap();
    assert!(view.notices.is_empty());
    assert_eq!(view.total, "59.00");
}

#[tokio::test]
async fn a_write_without_a_read_first_stores_the_repricing_too() {
    let shop = Shop::new(|config| config);
    shop.cart()
        .add_product(AddItem::new("tee", 1))
        .await
        .unwrap();
    shop.set_price("tee", "18.00");
    // add_product reads and prices the cart in the same catalogue call.
    let cart = shop.cart();
    cart.add_product(AddItem::new("mug", 1)).await.unwrap();
    assert_eq!(
        cart.view().await.unwrap().notices,
        [price_changed("tee", "19.90", "18.00")]
    );
    assert_eq!(
        shop.stored()
            .await
            .unwrap()
            .value
            .get("tee")
            .unwrap()
            .price(),
        usd("18.00")
    );
}

#[tokio::test]
async fn reprice_follows_the_catalogue_without_a_notice() {
    let shop = Shop::new(|config| config.with_price_policy(PricePolicy::Reprice));
    shop.cart()
        .add_product(AddItem::new("tee", 1))
        .await
        .unwrap();
    shop.set_price("tee", "21.00");
    let view = shop.cart().view().await.unwrap();
    assert_eq!(view.items[0].price, "21.00");
    assert_eq!(view.total, "21.00");
    assert!(view.notices.is_empty());
}

#[tokio::test]
async fn keep_snapshot_keeps_the_price_until_it_is_older_than_the_maximum_age() {
    let shop = Shop::new(|config| {
        config
            .with_price_policy(PricePolicy::KeepSnapshot)
            .with_max_price_age(Duration::from_secs(24 * 3600))
    });
    shop.cart()
        .add_product(AddItem::new("tee", 1))
        .await
        .unwrap();
    shop.set_price("tee", "21.00");
    let view = shop.cart().view().await.unwrap();
    assert_eq!(view.items[0].price, "19.90");
    assert!(view.notices.is_empty());

    // A line priced two days ago is older than a day: re-priced, and told.
    let mut stored = shop.stored().await.unwrap();
    let mut document: serde_json::Value =
        serde_json::from_slice(&stored.value.to_json().unwrap()).unwrap();
    let two_days_ago = OffsetDateTime::now_utc() - Duration::from_secs(2 * 24 * 3600);
    document["items"][0]["priced_at"] = json!(
        two_days_ago
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    stored.value = CartContents::from_json(document.to_string().as_bytes()).unwrap();
    let key = CartKey::new("user:1", "default");
    shop.storage
        .save(&key, &stored.value, Some(stored.version))
        .await
        .unwrap();
    let view = shop.cart().view().await.unwrap();
    assert_eq!(view.items[0].price, "21.00");
    assert_eq!(view.notices, [price_changed("tee", "19.90", "21.00")]);
}

#[tokio::test]
async fn keep_snapshot_with_a_zero_maximum_age_always_follows() {
    let shop = Shop::new(|config| {
        config
            .with_price_policy(PricePolicy::KeepSnapshot)
            .with_max_price_age(Duration::ZERO)
    });
    shop.cart()
        .add_product(AddItem::new("tee", 1))
        .await
        .unwrap();
    shop.set_price("tee", "17.50");
    let view = shop.cart().view().await.unwrap();
    assert_eq!(view.items[0].price, "17.50");
    assert_eq!(view.notices, [price_changed("tee", "19.90", "17.50")]);
}

#[tokio::test]
async fn a_product_no_longer_for_sale_keeps_its_price() {
    let storage = MemoryStorage::new();
    let catalog = CountingCatalog {
        inner: shop_catalog(),
        ..CountingCatalog::default()
    };
    let manager = CartManager::new(
        CartConfig::new()
            .with_storage(storage.clone())
            .with_catalog(catalog.clone()),
    );
    let cart = manager.cart("user:1", "default").unwrap();
    cart.add_product(AddItem::new("pen", 1)).await.unwrap();
    // Another catalogue that no longer sells pens, on the same carts.
    let manager = CartManager::new(
        CartConfig::new()
            .with_storage(storage)
            .with_catalog(MemoryCatalog::new()),
    );
    let view = manager
        .cart("user:1", "default")
        .unwrap()
        .view()
        .await
        .unwrap();
    assert_eq!(view.items[0].price, "0.99");
    assert!(view.notices.is_empty());
}

#[tokio::test]
async fn one_catalogue_call_per_read_of_a_cart_with_many_lines() {
    let mut inner = MemoryCatalog::new();
    for n in 0..40 {
        inner = inner.with_product(format!("p{n}"), format!("Product {n}"), usd("1.25"));
    }
    let catalog = CountingCatalog {
        inner,
        ..CountingCatalog::default()
    };
    let manager = CartManager::new(
        CartConfig::new()
            .with_storage(MemoryStorage::new())
            .with_catalog(catalog.clone()),
    );
    let cart = manager.cart("user:1", "default").unwrap();
    for n in 0..40 {
        cart.add_product(AddItem::new(format!("p{n}"), 1))
            .await
            .unwrap();
    }
    // The first add asks for its product; every later one for itself alone: the lines the
    // handle already compared are not asked again.
    assert_eq!(catalog.calls(), 40);
    assert!(
        catalog
            .asked
            .lock()
            .unwrap()
            .iter()
            .all(|ids| ids.len() == 1)
    );

    // A new request reads the cart many ways: one call, for all 40 ids.
    let before = catalog.calls();
    let cart = manager.cart("user:1", "default").unwrap();
    let view = cart.view().await.unwrap();
    cart.totals().await.unwrap();
    cart.items().await.unwrap();
    cart.contents().await.unwrap();
    cart.get("p3").await.unwrap();
    let clone = cart.clone();
    clone.view().await.unwrap();
    assert_eq!(view.total, "50.00");
    assert_eq!(catalog.calls() - before, 1);
    assert_eq!(catalog.asked.lock().unwrap().last().unwrap().len(), 40);

    // A write and its view: still one call (the add covers the other lines).
    let before = catalog.calls();
    let cart = manager.cart("user:1", "default").unwrap();
    cart.add_product(AddItem::new("p0", 1)).await.unwrap();
    cart.view().await.unwrap();
    assert_eq!(catalog.calls() - before, 1);

    // Any other write then a view: one call.
    let before = catalog.calls();
    let cart = manager.cart("user:1", "default").unwrap();
    cart.set_quantity("p1", 3).await.unwrap();
    assert_eq!(cart.view().await.unwrap().count, 43);
    assert_eq!(catalog.calls() - before, 1);

    // A cart of trusted prices only asks nothing.
    let before = catalog.calls();
    let other = manager.cart("user:2", "default").unwrap();
    other
        .add_priced(CartItem::new("x", "X", usd("1.00"), 1))
        .await
        .unwrap();
    manager
        .cart("user:2", "default")
        .unwrap()
        .view()
        .await
        .unwrap();
    assert_eq!(catalog.calls(), before);
}

#[tokio::test]
async fn codes_apply_as_their_condition_and_refuse_when_unknown_or_inapplicable() {
    let shop = Shop::new(|config| config);
    let cart = shop.cart();
    cart.add_product(AddItem::new("tee", 2)).await.unwrap();

    // Codes match whatever their case; the condition is named after the code.
    cart.apply_code("save10").await.unwrap();
    let view = shop.cart().view().await.unwrap();
    assert_eq!(view.conditions.len(), 1);
    assert_eq!(view.conditions[0].name(), "SAVE10");
    assert_eq!(view.subtotal, "35.82");
    assert_eq!(view.total, "35.82");
    // Applying it again keeps one.
    cart.apply_code("SAVE10").await.unwrap();
    assert_eq!(shop.cart().contents().await.unwrap().conditions().len(), 1);

    // Unknown.
    let error = cart.apply_code("FREESTUFF").await.unwrap_err();
    assert!(matches!(&error, CartError::InvalidCode { code } if code == "FREESTUFF"));
    assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error.code(), "invalid_code");
    assert_eq!(
        cart.apply_code("").await.unwrap_err().code(),
        "invalid_code"
    );

    // TENOFF needs a subtotal of 50.00: 39.80 is below, nothing is stored.
    let version = shop.stored().await.unwrap().version;
    let error = cart.apply_code("TENOFF").await.unwrap_err();
    assert!(matches!(error, CartError::InvalidCode { .. }));
    let stored = shop.stored().await.unwrap();
    assert_eq!(stored.version, version);
    assert!(stored.value.condition("TENOFF").is_none());

    // With 59.70 it applies and stacks with SAVE10.
    cart.add_product(AddItem::new("tee", 1)).await.unwrap();
    cart.apply_code("tenoff").await.unwrap();
    let totals = shop.cart().totals().await.unwrap();
    assert_eq!(totals.subtotal_without_conditions, usd("59.70"));
    assert_eq!(totals.subtotal, usd("43.73"));

    // Removing.
    cart.remove_code("save10").await.unwrap();
    assert!(
        shop.cart()
            .contents()
            .await
            .unwrap()
            .condition("SAVE10")
            .is_none()
    );
    let error = cart.remove_code("SAVE10").await.unwrap_err();
    assert_eq!(error.status(), StatusCode::NOT_FOUND);
    assert_eq!(error.code(), "condition_not_found");

    // A condition that is not a code is not removed through one.
    cart.add_tax("VAT", "+20%").await.unwrap();
    let error = cart.remove_code("VAT").await.unwrap_err();
    assert_eq!(error.code(), "condition_not_found");
    assert!(
        shop.cart()
            .contents()
            .await
            .unwrap()
            .condition("VAT")
            .is_some()
    );
}

#[tokio::test]
async fn a_code_is_checked_against_the_repriced_cart() {
    let shop = Shop::new(|config| config);
    shop.cart()
        .add_product(AddItem::new("cap", 3))
        .await
        .unwrap(); // 42.00
    shop.set_price("cap", "17.00"); // 51.00 now
    shop.cart().apply_code("TENOFF").await.unwrap();
    let view = shop.cart().view().await.unwrap();
    assert_eq!(view.subtotal, "41.00");
}

#[tokio::test]
async fn a_change_beyond_the_instance_limit_is_refused_and_stores_nothing() {
    let storage = CountingInstances::default();
    let manager = CartManager::new(
        CartConfig::new()
            .with_storage(storage.clone())
            .with_max_instances(2),
    );
    let pen = || CartItem::new("pen", "Brass pen", usd("0.99"), 1);
    manager
        .cart("user:1", "default")
        .unwrap()
        .add_priced(pen())
        .await
        .unwrap();
    // Read first (cached version 0), then write.
    let wishlist = manager.cart("user:1", "wishlist").unwrap();
    assert_eq!(wishlist.version().await.unwrap(), 0);
    wishlist.add_priced(pen()).await.unwrap();
    assert_eq!(storage.instances.load(Ordering::SeqCst), 2);

    // A third instance, written without a read and after a read.
    for read_first in [false, true] {
        let saved = manager.cart("user:1", "saved").unwrap();
        if read_first {
            saved.view().await.unwrap();
        }
        let error = saved.add_priced(pen()).await.unwrap_err();
        assert!(
            matches!(error.domain(), Some(cart::Error::LimitExceeded { field, max: 2, actual: 3 }) if field == "instances"),
            "{error:?}"
        );
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error.field(), Some("instances"));
        let mut instances = storage.inner.instances("user:1").await.unwrap();
        instances.sort();
        assert_eq!(instances, ["default", "wishlist"]);
    }

    // Existing carts pay nothing: no instances call for their writes.
    let before = storage.instances.load(Ordering::SeqCst);
    manager
        .cart("user:1", "default")
        .unwrap()
        .set_quantity("pen", 3)
        .await
        .unwrap();
    let wishlist = manager.cart("user:1", "wishlist").unwrap();
    wishlist.view().await.unwrap();
    wishlist.set_metadata("note", json!("later")).await.unwrap();
    assert_eq!(storage.instances.load(Ordering::SeqCst), before);

    // Another identifier has its own count; a deleted instance frees its place.
    manager
        .cart("user:2", "saved")
        .unwrap()
        .add_priced(pen())
        .await
        .unwrap();
    manager
        .cart("user:1", "wishlist")
        .unwrap()
        .clear()
        .await
        .unwrap();
    manager
        .cart("user:1", "saved")
        .unwrap()
        .add_priced(pen())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_default_instance_limit_is_sixteen() {
    let manager = CartManager::new(CartConfig::new().with_storage(MemoryStorage::new()));
    for n in 0..16 {
        manager
            .cart("user:1", &format!("i{n}"))
            .unwrap()
            .set_metadata("n", json!(n))
            .await
            .unwrap();
    }
    let error = manager
        .cart("user:1", "i16")
        .unwrap()
        .set_metadata("n", json!(16))
        .await
        .unwrap_err();
    assert_eq!(error.field(), Some("instances"));
}

#[test]
fn client_input_carries_no_price_and_no_name() {
    for body in [
        json!({"id": "tee", "price": "0.01"}),
        json!({"id": "tee", "name": "TV"}),
    ] {
        let error = serde_json::from_value::<AddItem>(body).unwrap_err();
        assert!(error.to_string().starts_with("unknown field"), "{error}");
    }
    let input: AddItem = serde_json::from_value(json!({"id": "tee"})).unwrap();
    assert_eq!(input.quantity, 1);
    for body in [
        json!({"quantity": 2, "price": "0.01"}),
        json!({"name": "TV"}),
    ] {
        assert!(serde_json::from_value::<axum_cart::ItemUpdateInput>(body).is_err());
    }
}

#[tokio::test]
async fn a_trusted_price_update_is_not_moved_back_by_the_catalogue() {
    let shop = Shop::new(|config| config.with_max_price_age(Duration::ZERO));
    shop.cart()
        .add_product(AddItem::new("lamp", 1))
        .await
        .unwrap();
    let update = axum_cart::cart::ItemUpdate {
        price: Some(usd("99.00")),
        ..Default::default()
    };
    let line = shop.cart().update("lamp", update).await.unwrap().unwrap();
    assert_eq!((line.price_source(), line.priced_at()), (None, None));
    let view = shop.cart().view().await.unwrap();
    assert_eq!(view.items[0].price, "99.00");
    assert!(view.notices.is_empty());
}
