//! Where prices and promotions come from: the shop's [`Catalog`] and [`Promotions`], the
//! [`PricePolicy`] that says what a cart does when a catalogue price moves, and
//! [`MemoryCatalog`], an in-memory implementation of both.
//!
//! A price in a cart comes from the shop, never from a client: lines added with
//! [`Cart::add_product`](crate::Cart::add_product) take their name and unit price from the
//! catalogue and record where the price came from and when.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use time::OffsetDateTime;

use crate::cart::{CartContents, Condition, Money};

/// A product as the shop sells it now.
#[derive(Clone, Debug, PartialEq)]
pub struct Product {
    /// The product id, which is the id of its cart line.
    pub id: String,
    /// The display name.
    pub name: String,
    /// The current unit price.
    pub price: Money,
    /// Where the price comes from, e.g. `"catalog"` or `"catalog@v7"`.
    pub source: String,
}

/// Where prices come from: the shop's catalogue. One call resolves many ids.
///
/// A cart asks for the products of all its catalogue lines at once, at most once per request.
#[async_trait::async_trait]
pub trait Catalog: Send + Sync + 'static {
    /// The current products among `ids`; ids that are not for sale are absent from the map.
    ///
    /// # Errors
    ///
    /// A [`CatalogError`] when the backend fails; the request answers 503.
    async fn products(&self, ids: &[String]) -> Result<HashMap<String, Product>, CatalogError>;
}

/// Discount codes resolved on the server: a code names a condition (with its rules).
#[async_trait::async_trait]
pub trait Promotions: Send + Sync + 'static {
    /// The condition `code` stands for, or `None` for an unknown code.
    ///
    /// # Errors
    ///
    /// A [`CatalogError`] when the backend fails; the request answers 503.
    async fn condition_for(&self, code: &str) -> Result<Option<Condition>, CatalogError>;
}

/// A catalogue or promotions backend failure (answers 503 without its text).
#[derive(Debug, thiserror::Error)]
#[error("catalog unavailable: {0}")]
pub struct CatalogError(pub String);

/// What happens to a line when the catalogue price moves. In settings: `keep_snapshot`,
/// `reprice` or `reprice_with_notice`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PricePolicy {
    /// The price the line was added at stays (until it is older than the maximum price age).
    KeepSnapshot,
    /// The line follows the catalogue.
    Reprice,
    /// The line follows the catalogue and the view carries a `price_changed` notice (default).
    #[default]
    RepriceWithNotice,
}

/// An in-memory catalogue and promotions for tests, examples and small shops.
///
/// Clones share their products and codes, so the clone given to
/// [`CartConfig::with_catalog`](crate::CartConfig::with_catalog) sees the prices changed through
/// another clone. Every [`MemoryCatalog::set_product`] bumps the catalogue version, which the
/// changed product's source names (`catalog@v2`, ...).
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use axum_cart::cart::{Condition, ConditionTarget};
/// use axum_cart::{AddItem, CartConfig, CartManager, Currency, MemoryCatalog, MemoryStorage, Money};
///
/// let usd = |s| Money::parse(s, Currency::USD);
/// let catalog = MemoryCatalog::new()
///     .with_product("mug", "Enamel mug", usd("8.50")?)
///     .with_code("SAVE10", Condition::new("SAVE10", "discount", ConditionTarget::Subtotal, "-10%")?);
/// let config = CartConfig::new()
///     .with_storage(MemoryStorage::new())
///     .with_catalog(catalog.clone())
///     .with_promotions(catalog.clone());
/// let cart = CartManager::new(config).cart("user:7", "default")?;
///
/// let line = cart.add_product(AddItem::new("mug", 2)).await?;
/// assert_eq!((line.name(), line.price().to_string()), ("Enamel mug", "8.50".to_owned()));
/// assert_eq!(line.price_source(), Some("catalog@v1"));
///
/// cart.apply_code("save10").await?;
/// assert_eq!(cart.totals().await?.total.to_string(), "15.30");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryCatalog {
    inner: Arc<RwLock<MemoryInner>>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    /// Bumped by every `set_product`; 0 means nothing was set yet (sources then say `v1`).
    version: u64,
    products: HashMap<String, Product>,
    codes: HashMap<String, Condition>,
}

impl MemoryInner {
    fn source(&self) -> String {
        format!("catalog@v{}", self.version.max(1))
    }
}

impl MemoryCatalog {
    /// An empty catalogue with no codes.
    pub fn new() -> Self {
        Self::default()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, MemoryInner> {
        self.inner
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, MemoryInner> {
        self.inner
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds (or replaces) a product at the current catalogue version.
    pub fn with_product(
        self,
        id: impl Into<String>,
        name: impl Into<String>,
        price: Money,
    ) -> Self {
        {
            let mut inner = self.write();
            let id = id.into();
            let source = inner.source();
            inner.products.insert(
                id.clone(),
                Product {
                    id,
                    name: name.into(),
                    price,
                    source,
                },
            );
        }
        self
    }

    /// Inserts or changes a product; the catalogue version goes up and the product's source
    /// becomes `catalog@v<version>`.
    pub fn set_product(&self, product: Product) {
        let mut inner = self.write();
        inner.version = inner.version.max(1) + 1;
        let source = inner.source();
        inner
            .products
            .insert(product.id.clone(), Product { source, ..product });
    }

    /// The product with this id, if it is for sale.
    pub fn product(&self, id: &str) -> Option<Product> {
        self.read().products.get(id).cloned()
    }

    /// Adds (or replaces) a discount code; codes match whatever their case.
    pub fn with_code(self, code: impl Into<String>, condition: Condition) -> Self {
        self.write()
            .codes
            .insert(code.into().to_uppercase(), condition);
        self
    }
}

#[async_trait::async_trait]
impl Catalog for MemoryCatalog {
    async fn products(&self, ids: &[String]) -> Result<HashMap<String, Product>, CatalogError> {
        let inner = self.read();
        Ok(ids
            .iter()
            .filter_map(|id| inner.products.get(id))
            .map(|product| (product.id.clone(), product.clone()))
            .collect())
    }
}

#[async_trait::async_trait]
impl Promotions for MemoryCatalog {
    async fn condition_for(&self, code: &str) -> Result<Option<Condition>, CatalogError> {
        Ok(self.read().codes.get(&code.to_uppercase()).cloned())
    }
}

/// How lines are priced when a cart is read: the policy and the age past which a snapshot is
/// re-priced whatever the policy.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pricing {
    pub(crate) policy: PricePolicy,
    pub(crate) max_age: Option<Duration>,
}

/// The ids of the catalogue lines this request has not compared with the catalogue yet.
pub(crate) fn unchecked_ids(contents: &CartContents) -> Vec<String> {
    contents
        .items()
        .iter()
        .filter(|item| item.price_source.is_some() && !item.checked)
        .map(|item| item.id().to_owned())
        .collect()
}

impl Pricing {
    /// Whether reading a cart compares its lines with the catalogue: not when snapshots are kept
    /// and never age.
    pub(crate) fn reads_catalog(&self) -> bool {
        self.policy != PricePolicy::KeepSnapshot || self.max_age.is_some()
    }

    /// Compares the catalogue lines of `contents` named in `asked` with the products `found`, and
    /// re-prices them as the policy says, marking each re-priced line with the price it replaces.
    /// Lines added with a trusted price, and products the catalogue no longer sells, keep their
    /// price.
    pub(crate) fn apply(
        &self,
        contents: &mut CartContents,
        asked: &[String],
        found: &HashMap<String, Product>,
        now: OffsetDateTime,
    ) {
        for item in contents.items_mut() {
            if item.checked
                || item.price_source.is_none()
                || !asked.iter().any(|id| id == item.id())
            {
                continue;
            }
            item.checked = true;
            let Some(product) = found.get(item.id()) else {
                continue;
            };
            if product.price.currency() != item.price.currency() || product.price.is_negative() {
                continue;
            }
            let moved = product.price != item.price;
            let aged = match (self.max_age, item.priced_at) {
                (Some(max), Some(at)) => now - at >= max,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if aged || (moved && self.policy != PricePolicy::KeepSnapshot) {
                // A snapshot re-priced for its age is a move the shopper did not expect: told too.
                let notice = moved && self.policy != PricePolicy::Reprice;
                item.reprice(product.price, &product.source, now, notice);
            }
        }
    }
}

/// Carries the re-pricing a read of this request did (`read`) into `stored`, the cart a write is
/// about to change, for the lines that still hold the price the read replaced.
pub(crate) fn carry_repricing(stored: &mut CartContents, read: &CartContents) {
    if !has_marks(read) {
        return;
    }
    for item in stored.items_mut() {
        let Some(line) = read.get(item.id()) else {
            continue;
        };
        if let Some(repriced) = &line.repriced {
            if repriced.previous == item.price && repriced.previous_at == item.priced_at {
                item.price = line.price;
                item.price_source.clone_from(&line.price_source);
                item.priced_at = line.priced_at;
            }
        }
    }
}

/// Whether a read of this request compared any line of `contents` with the catalogue.
fn has_marks(contents: &CartContents) -> bool {
    contents
        .items()
        .iter()
        .any(|item| item.checked || item.repriced.is_some())
}

/// Forgets what this request knows about the lines' prices, before the cart is stored.
pub(crate) fn strip_marks(contents: &mut CartContents) {
    for item in contents.items_mut() {
        item.checked = false;
        item.repriced = None;
    }
}

/// Gives the cart a write committed the marks of the request's read (`read`) for the lines whose
/// price the write kept; the line `fresh` was priced by the write itself.
pub(crate) fn restore_marks(
    committed: &mut CartContents,
    read: Option<&CartContents>,
    fresh: Option<&str>,
) {
    // The read compared no line with the catalogue: only the fresh line was priced now.
    if !read.is_some_and(has_marks) {
        if let Some(item) = committed
            .items_mut()
            .iter_mut()
            .find(|item| Some(item.id()) == fresh)
        {
            item.checked = true;
        }
        return;
    }
    for item in committed.items_mut() {
        let line = read.and_then(|read| read.get(item.id()));
        if fresh == Some(item.id()) {
            item.checked = true;
            item.repriced = line
                .and_then(|line| line.repriced.clone())
                .filter(|_| line.is_some_and(|line| line.price == item.price));
        } else if let Some(line) = line.filter(|line| line.checked && line.same_pricing(item)) {
            item.checked = true;
            item.repriced.clone_from(&line.repriced);
        }
    }
}
