//! Cart lines.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::condition::{self, Condition, ConditionInput, ConditionTarget};
use super::currency::Currency;
use super::error::Error;
use super::money::Money;

/// One line of a cart: an item id, its name, unit price, quantity, free-form attributes and its
/// own conditions.
///
/// ```
/// use axum_cart::cart::{CartItem, Currency, Money};
/// let shirt = CartItem::new("sku-1", "T-shirt", Money::parse("19.90", Currency::USD).unwrap(), 2)
///     .with_attribute("size", "M");
/// assert_eq!(shirt.quantity(), 2);
/// assert_eq!(shirt.attributes()["size"], "M");
/// ```
#[derive(Clone, Debug)]
pub struct CartItem {
    // Shared, so that totals and steps can name their line without copying the id.
    pub(crate) id: Arc<str>,
    pub(crate) name: Arc<str>,
    pub(crate) price: Money,
    pub(crate) quantity: u32,
    pub(crate) attributes: Map<String, Value>,
    pub(crate) conditions: Vec<Condition>,
    /// Where a catalogue price came from; `None` for a price trusted code gave.
    pub(crate) price_source: Option<Arc<str>>,
    /// When the catalogue price was taken.
    pub(crate) priced_at: Option<OffsetDateTime>,
    /// Whether this request already compared the line with the catalogue; never stored.
    pub(crate) checked: bool,
    /// Set by a read that re-priced the line from the catalogue; never stored.
    pub(crate) repriced: Option<Repriced>,
}

/// What a read's re-pricing replaced, so that a later write of the same request stores the new
/// price only where the stored line still has the old one, and the view can tell the shopper.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Repriced {
    pub(crate) previous: Money,
    pub(crate) previous_at: Option<OffsetDateTime>,
    /// Whether the view carries a `price_changed` notice for it.
    pub(crate) notice: bool,
}

/// Equal lines hold the same data; a read's re-pricing marker is not data.
impl PartialEq for CartItem {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.name == other.name
            && self.price == other.price
            && self.quantity == other.quantity
            && self.attributes == other.attributes
            && self.conditions == other.conditions
            && self.price_source == other.price_source
            && self.priced_at == other.priced_at
    }
}

impl CartItem {
    /// Creates a line with no attributes and no item conditions.
    ///
    /// Nothing is checked here: the id, name, price and quantity are validated against the cart's
    /// currency and limits when the line is added with [`CartContents::add`](super::CartContents::add).
    ///
    /// # Examples
    ///
    /// ```
    /// use axum_cart::cart::{CartItem, Condition, ConditionTarget, Currency, Money};
    ///
    /// let price = Money::parse("100.00", Currency::USD)?;
    /// let lamp = CartItem::new("lamp", "Desk lamp", price, 1)
    ///     .with_attribute("colour", "black")
    ///     .with_condition(Condition::new("clearance", "discount", ConditionTarget::Item, "-5.00")?);
    /// assert_eq!(lamp.id(), "lamp");
    /// assert_eq!(lamp.price().to_string(), "100.00");
    /// assert_eq!(lamp.quantity(), 1);
    /// assert_eq!(lamp.attributes()["colour"], "black");
    /// assert_eq!(lamp.conditions()[0].name(), "clearance");
    /// # Ok::<(), axum_cart::cart::Error>(())
    /// ```
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        price: Money,
        quantity: u32,
    ) -> Self {
        CartItem {
            id: Arc::from(id.into()),
            name: Arc::from(name.into()),
            price,
            quantity,
            attributes: Map::new(),
            conditions: Vec::new(),
            price_source: None,
            priced_at: None,
            checked: false,
            repriced: None,
        }
    }

    /// Records that the price came from the catalogue `source` at `at`.
    pub(crate) fn with_provenance(
        mut self,
        source: Option<String>,
        at: Option<OffsetDateTime>,
    ) -> Self {
        self.price_source = source.map(Arc::from);
        self.priced_at = at;
        self
    }

    /// Takes the catalogue price `price` from `source` at `now`, remembering the price it replaces.
    pub(crate) fn reprice(
        &mut self,
        price: Money,
        source: &str,
        now: OffsetDateTime,
        notice: bool,
    ) {
        self.repriced = Some(Repriced {
            previous: self.price,
            previous_at: self.priced_at,
            notice,
        });
        self.price = price;
        self.price_source = Some(Arc::from(source));
        self.priced_at = Some(now);
    }

    /// Whether both lines hold the same price with the same provenance.
    pub(crate) fn same_pricing(&self, other: &CartItem) -> bool {
        self.price == other.price
            && self.price_source == other.price_source
            && self.priced_at == other.priced_at
    }

    /// Sets one attribute (size, colour, ...), replacing any earlier value of `key`.
    pub fn with_attribute(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.attributes.insert(key.into(), value.into());
        self
    }

    /// Replaces all attributes with `attributes`.
    pub fn with_attributes(mut self, attributes: Map<String, Value>) -> Self {
        self.attributes = attributes;
        self
    }

    /// Adds an item condition (its target becomes `item`); one of the same name is replaced.
    pub fn with_condition(mut self, mut condition: Condition) -> Self {
        condition.set_target(ConditionTarget::Item);
        condition::upsert(&mut self.conditions, condition);
        self
    }

    /// Returns the item id, which is unique in the cart.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Returns the display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the unit price before item conditions.
    pub fn price(&self) -> Money {
        self.price
    }

    /// Returns how many units the line holds.
    pub fn quantity(&self) -> u32 {
        self.quantity
    }

    /// Returns the free-form attributes.
    pub fn attributes(&self) -> &Map<String, Value> {
        &self.attributes
    }

    /// Returns the item conditions, in insertion order.
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// Where the price came from (`catalog@v7`, ...) for a line added through the catalogue;
    /// `None` for a line added with a price trusted code gave.
    pub fn price_source(&self) -> Option<&str> {
        self.price_source.as_deref()
    }

    /// When the catalogue price was taken; `None` for a line added with a trusted price.
    pub fn priced_at(&self) -> Option<OffsetDateTime> {
        self.priced_at
    }

    /// The price a read of this request replaced with the catalogue's, when it did.
    pub(crate) fn repriced_from(&self) -> Option<(Money, bool)> {
        self.repriced.as_ref().map(|r| (r.previous, r.notice))
    }
}

/// A product as a client adds it: `{id, quantity?, attributes?}`. The name and the unit price come
/// from the shop's [`Catalog`](crate::Catalog); a `price` or `name` field is refused.
///
/// Quantities are signed here so that `0` and `-3` reach validation and get a typed error naming
/// `quantity` instead of a bare parse failure.
///
/// ```
/// use axum_cart::AddItem;
///
/// let input: AddItem = serde_json::from_str(r#"{"id": "mug", "quantity": 2}"#).unwrap();
/// assert_eq!((input.id.as_str(), input.quantity), ("mug", 2));
/// let priced = serde_json::from_str::<AddItem>(r#"{"id": "mug", "price": "0.01"}"#);
/// assert!(priced.unwrap_err().to_string().contains("unknown field `price`"));
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    /// The product id in the catalogue.
    pub id: String,
    /// How many, at least 1 (default 1).
    #[serde(default = "one")]
    pub quantity: i64,
    /// Free-form attributes (size, colour, ...).
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

impl AddItem {
    /// `quantity` of product `id`, with no attributes.
    pub fn new(id: impl Into<String>, quantity: i64) -> Self {
        AddItem {
            id: id.into(),
            quantity,
            attributes: Map::new(),
        }
    }

    /// Sets one attribute, replacing any earlier value of `key`.
    pub fn with_attribute(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.attributes.insert(key.into(), value.into());
        self
    }

    /// The line for this input, named and priced by `name` and `price` from the catalogue.
    pub(crate) fn into_item(self, name: &str, price: Money) -> Result<CartItem, Error> {
        let quantity = quantity_from(self.quantity)?;
        Ok(CartItem::new(self.id, name, price, quantity).with_attributes(self.attributes))
    }
}

/// An item with its price, for trusted code only (an import, an admin tool): `{id, name, price,
/// quantity, attributes?, conditions?}`, with the price as a decimal string in the cart's
/// currency. Never deserialize it from a client's request: clients send [`AddItem`], priced by the
/// catalogue.
///
/// Quantities are signed here so that `0` and `-3` reach validation and get a typed error naming
/// `quantity` instead of a bare parse failure.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricedItemInput {
    /// The item id.
    pub id: String,
    /// The display name.
    pub name: String,
    /// The unit price, e.g. `"10.99"`.
    pub price: String,
    /// How many, at least 1.
    #[serde(default = "one")]
    pub quantity: i64,
    /// Free-form attributes.
    #[serde(default)]
    pub attributes: Map<String, Value>,
    /// Item conditions.
    #[serde(default)]
    pub conditions: Vec<ConditionInput>,
}

fn one() -> i64 {
    1
}

impl PricedItemInput {
    /// Parses the price and quantity into a line of a cart in `currency`; every condition becomes
    /// an item condition.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] naming `price` when the price is not an amount in `currency`,
    /// `quantity` when the quantity is below 1, or the field of a condition that does not parse;
    /// [`Error::LimitExceeded`] when the quantity does not fit in 32 bits.
    pub fn into_item(self, currency: Currency) -> Result<CartItem, Error> {
        let price = Money::parse_field(&self.price, currency, "price")?;
        let quantity = quantity_from(self.quantity)?;
        let mut item =
            CartItem::new(self.id, self.name, price, quantity).with_attributes(self.attributes);
        for input in self.conditions {
            let mut input = input;
            input.target = Some(ConditionTarget::Item);
            item = item.with_condition(Condition::try_from(input)?);
        }
        Ok(item)
    }
}

/// A quantity from a signed client value: below 1 is a validation error, beyond `u32` a limit error.
fn quantity_from(value: i64) -> Result<u32, Error> {
    if value < 1 {
        return Err(Error::validation(
            "quantity",
            format!("{value} is not a positive quantity"),
        ));
    }
    u32::try_from(value).map_err(|_| Error::limit("quantity", u64::from(u32::MAX), value as u64))
}

/// How `update` changes a quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantityChange {
    /// Set the quantity; 0 or less removes the line.
    Set(i64),
    /// Add (or with a negative number, take away); a result of 0 or less removes the line.
    By(i64),
}

/// A change to one line: any combination of quantity, name, price and attributes, applied atomically.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemUpdate {
    /// A quantity change.
    pub quantity: Option<QuantityChange>,
    /// A new name.
    pub name: Option<String>,
    /// A new unit price.
    pub price: Option<Money>,
    /// New attributes (replacing the old ones).
    pub attributes: Option<Map<String, Value>>,
}

impl ItemUpdate {
    /// Creates an update that sets the quantity to `quantity`; 0 or less removes the line.
    pub fn set_quantity(quantity: i64) -> Self {
        ItemUpdate {
            quantity: Some(QuantityChange::Set(quantity)),
            ..ItemUpdate::default()
        }
    }

    /// Creates an update that changes the quantity by `delta`; a result of 0 or less removes the
    /// line.
    pub fn change_quantity(delta: i64) -> Self {
        ItemUpdate {
            quantity: Some(QuantityChange::By(delta)),
            ..ItemUpdate::default()
        }
    }
}

/// An update as a client sends it: `{quantity}` (absolute) or `{delta}` (relative), and
/// optionally `attributes`. A client changes neither a name nor a price: a `name` or `price` field
/// is refused.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemUpdateInput {
    /// Absolute quantity.
    pub quantity: Option<i64>,
    /// Relative quantity.
    pub delta: Option<i64>,
    /// New attributes.
    pub attributes: Option<Map<String, Value>>,
}

impl ItemUpdateInput {
    /// Validates the shape.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] naming `quantity` when both `quantity` and `delta` are given.
    pub fn into_update(self) -> Result<ItemUpdate, Error> {
        let quantity = match (self.quantity, self.delta) {
            (Some(_), Some(_)) => {
                return Err(Error::validation(
                    "quantity",
                    "send either quantity (absolute) or delta (relative), not both",
                ));
            }
            (Some(q), None) => Some(QuantityChange::Set(q)),
            (None, Some(d)) => Some(QuantityChange::By(d)),
            (None, None) => None,
        };
        Ok(ItemUpdate {
            quantity,
            attributes: self.attributes,
            ..ItemUpdate::default()
        })
    }
}
