//! `CartContents`: the stored cart document and every operation on it.
//!
//! Each operation validates first and changes the cart only when it succeeds, so a failed
//! operation leaves the cart exactly as it was.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::condition::{self, Condition, ConditionTarget};
use super::item::{CartItem, ItemUpdate, QuantityChange};
use super::money::{Currency, Money, RoundingMode};
use super::totals::Totals;
use super::error::Error;

/// The version of the JSON document layout that drivers store.
pub const SCHEMA_VERSION: u32 = 1;

/// Configurable bounds on what a cart may hold. Over a limit: a typed error, nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Distinct lines per cart (default 1 000).
    pub max_lines: usize,
    /// Quantity per line (default 10 000).
    pub max_quantity: u32,
    /// Characters in an item id, metadata key or instance name (default 255).
    pub max_id_length: usize,
    /// Characters in an item or condition name (default 255).
    pub max_name_length: usize,
    /// Cart conditions per cart and item conditions per item (default 100).
    pub max_conditions: usize,
    /// Bytes of the serialized cart (default 1 MiB).
    pub max_cart_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_lines: 1_000,
            max_quantity: 10_000,
            max_id_length: 255,
            max_name_length: 255,
            max_conditions: 100,
            max_cart_bytes: 1024 * 1024,
        }
    }
}

impl Limits {
    fn check_length(field: &str, value: &str, max: usize) -> Result<(), Error> {
        if value.is_empty() {
            return Err(Error::validation(
                field,
                format!("{field} must not be empty"),
            ));
        }
        let length = value.chars().count();
        if length > max {
            return Err(Error::limit(field, max as u64, length as u64));
        }
        Ok(())
    }

    fn check_quantity(&self, quantity: u64) -> Result<u32, Error> {
        if quantity > u64::from(self.max_quantity) {
            return Err(Error::limit(
                "quantity",
                u64::from(self.max_quantity),
                quantity,
            ));
        }
        u32::try_from(quantity)
            .map_err(|_| Error::limit("quantity", u64::from(u32::MAX), quantity))
    }
}

/// One cart: its currency, lines, cart conditions and metadata. Pure data, no I/O.
///
/// ```
/// use axum_cart::{CartContents, CartItem, Currency, Money};
/// let usd = |s| Money::parse(s, Currency::USD).unwrap();
/// let mut cart = CartContents::new(Currency::USD);
/// cart.add(CartItem::new("a", "Apple", usd("1.20"), 3)).unwrap();
/// cart.add_discount("welcome", "10%").unwrap();
/// let totals = cart.totals().unwrap();
/// assert_eq!(totals.subtotal_without_conditions.to_string(), "3.60");
/// assert_eq!(totals.total.to_string(), "3.24");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CartContents {
    currency: Currency,
    rounding: RoundingMode,
    items: Vec<CartItem>,
    conditions: Vec<Condition>,
    metadata: Map<String, Value>,
    limits: Limits,
}

impl Default for CartContents {
    fn default() -> Self {
        CartContents::new(Currency::default())
    }
}

impl CartContents {
    /// An empty cart in `currency`, rounding half up, with default limits.
    pub fn new(currency: Currency) -> Self {
        CartContents {
            currency,
            rounding: RoundingMode::default(),
            items: Vec::new(),
            conditions: Vec::new(),
            metadata: Map::new(),
            limits: Limits::default(),
        }
    }

    /// Sets the rounding mode used at each condition step.
    pub fn with_rounding(mut self, rounding: RoundingMode) -> Self {
        self.rounding = rounding;
        self
    }

    /// Sets the limits enforced by later operations.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Replaces the limits (limits are configuration, not stored with the cart).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The cart's currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The rounding mode.
    pub fn rounding(&self) -> RoundingMode {
        self.rounding
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    // ----- items -------------------------------------------------------------------------------

    /// The lines, in insertion order.
    pub fn items(&self) -> &[CartItem] {
        &self.items
    }

    /// The line with this id.
    pub fn get(&self, id: &str) -> Option<&CartItem> {
        self.items.iter().find(|item| &*item.id == id)
    }

    /// Whether a line with this id exists.
    pub fn has(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    fn position(&self, id: &str) -> Result<usize, Error> {
        self.items
            .iter()
            .position(|item| &*item.id == id)
            .ok_or_else(|| Error::ItemNotFound { id: id.to_owned() })
    }

    /// The sum of all quantities.
    pub fn count(&self) -> u64 {
        self.items.iter().map(|item| u64::from(item.quantity)).sum()
    }

    /// The number of distinct lines.
    pub fn lines(&self) -> usize {
        self.items.len()
    }

    /// No lines, no conditions, no metadata.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.conditions.is_empty() && self.metadata.is_empty()
    }

    /// A unit price must be in the cart's currency and not below zero.
    fn check_price(&self, price: Money) -> Result<(), Error> {
        if price.currency() != self.currency {
            return Err(Error::CurrencyMismatch {
                expected: self.currency.code().to_owned(),
                found: price.currency().code().to_owned(),
            });
        }
        if price.is_negative() {
            return Err(Error::validation(
                "price",
                "a price must not be negative",
            ));
        }
        Ok(())
    }

    fn validate_item(&self, item: &CartItem) -> Result<(), Error> {
        Limits::check_length("id", &item.id, self.limits.max_id_length)?;
        Limits::check_length("name", &item.name, self.limits.max_name_length)?;
        self.check_price(item.price)?;
        if item.quantity == 0 {
            return Err(Error::validation(
                "quantity",
                "0 is not a positive quantity",
            ));
        }
        self.limits.check_quantity(u64::from(item.quantity))?;
        if item.conditions.len() > self.limits.max_conditions {
            return Err(Error::limit(
                "conditions",
                self.limits.max_conditions as u64,
                item.conditions.len() as u64,
            ));
        }
        for condition in &item.conditions {
            condition.validate(self.currency, self.limits.max_name_length)?;
        }
        Ok(())
    }

    /// Adds a line. An id already in the cart gets the new name, price and attributes (and the new
    /// item conditions, when any are given) and the sum of both quantities.
    pub fn add(&mut self, item: CartItem) -> Result<&CartItem, Error> {
        let mut item = item;
        for condition in &mut item.conditions {
            condition.set_target(ConditionTarget::Item);
        }
        self.validate_item(&item)?;
        match self.items.iter().position(|line| line.id == item.id) {
            Some(index) => {
                let existing = &self.items[index];
                let quantity = self
                    .limits
                    .check_quantity(u64::from(existing.quantity) + u64::from(item.quantity))?;
                let line = &mut self.items[index];
                line.name = item.name;
                line.price = item.price;
                line.attributes = item.attributes;
                if !item.conditions.is_empty() {
                    line.conditions = item.conditions;
                }
                line.quantity = quantity;
                Ok(&self.items[index])
            }
            None => {
                if self.items.len() >= self.limits.max_lines {
                    return Err(Error::limit(
                        "lines",
                        self.limits.max_lines as u64,
                        self.items.len() as u64 + 1,
                    ));
                }
                self.items.push(item);
                Ok(&self.items[self.items.len() - 1])
            }
        }
    }

    /// Adds several lines: all of them or, on the first error, none.
    pub fn add_many(&mut self, items: impl IntoIterator<Item = CartItem>) -> Result<(), Error> {
        let mut staged = self.clone();
        for item in items {
            staged.add(item)?;
        }
        *self = staged;
        Ok(())
    }

    /// Applies `update` to the line `id` atomically. Returns the line, or `None` when the quantity
    /// change removed it.
    pub fn update(&mut self, id: &str, update: ItemUpdate) -> Result<Option<&CartItem>, Error> {
        let index = self.position(id)?;
        let line = &self.items[index];
        let quantity = match update.quantity {
            None => i128::from(line.quantity),
            Some(QuantityChange::Set(q)) => i128::from(q),
            Some(QuantityChange::By(delta)) => i128::from(line.quantity) + i128::from(delta),
        };
        if let Some(name) = &update.name {
            Limits::check_length("name", name, self.limits.max_name_length)?;
        }
        if let Some(price) = update.price {
            self.check_price(price)?;
        }
        if quantity <= 0 {
            self.items.remove(index);
            return Ok(None);
        }
        let quantity = self
            .limits
            .check_quantity(u64::try_from(quantity).unwrap_or(u64::MAX))?;
        let line = &mut self.items[index];
        line.quantity = quantity;
        if let Some(name) = update.name {
            line.name = name;
        }
        if let Some(price) = update.price {
            line.price = price;
        }
        if let Some(attributes) = update.attributes {
            line.attributes = attributes;
        }
        Ok(Some(&self.items[index]))
    }

    /// Sets the quantity of `id`; 0 or less removes the line.
    pub fn set_quantity(
        &mut self,
        id: &str,
        quantity: i64,
    ) -> Result<Option<&CartItem>, Error> {
        self.update(id, ItemUpdate::set_quantity(quantity))
    }

    /// Changes the quantity of `id` by `delta`; a result of 0 or less removes the line.
    pub fn change_quantity(
        &mut self,
        id: &str,
        delta: i64,
    ) -> Result<Option<&CartItem>, Error> {
        self.update(id, ItemUpdate::change_quantity(delta))
    }

    /// Removes the line `id` and returns it.
    pub fn remove(&mut self, id: &str) -> Result<CartItem, Error> {
        let index = self.position(id)?;
        Ok(self.items.remove(index))
    }

    /// Empties the cart: lines, conditions and metadata.
    pub fn clear(&mut self) {
        self.items.clear();
        self.conditions.clear();
        self.metadata.clear();
    }

    // ----- item conditions ---------------------------------------------------------------------

    /// Adds a condition to one line (its target becomes `item`); one of the same name is replaced.
    pub fn add_item_condition(&mut self, id: &str, condition: Condition) -> Result<(), Error> {
        let mut condition = condition;
        condition.set_target(ConditionTarget::Item);
        condition.validate(self.currency, self.limits.max_name_length)?;
        let index = self.position(id)?;
        let line = &mut self.items[index];
        let replaces = line.conditions.iter().any(|c| c.name() == condition.name());
        if !replaces && line.conditions.len() >= self.limits.max_conditions {
            return Err(Error::limit(
                "conditions",
                self.limits.max_conditions as u64,
                line.conditions.len() as u64 + 1,
            ));
        }
        condition::upsert(&mut line.conditions, condition);
        Ok(())
    }

    /// Removes the condition `name` from line `id`.
    pub fn remove_item_condition(&mut self, id: &str, name: &str) -> Result<Condition, Error> {
        let index = self.position(id)?;
        let conditions = &mut self.items[index].conditions;
        let at = conditions
            .iter()
            .position(|c| c.name() == name)
            .ok_or_else(|| Error::ConditionNotFound {
                name: name.to_owned(),
            })?;
        Ok(conditions.remove(at))
    }

    /// Removes every condition of line `id`.
    pub fn clear_item_conditions(&mut self, id: &str) -> Result<(), Error> {
        let index = self.position(id)?;
        self.items[index].conditions.clear();
        Ok(())
    }

    // ----- cart conditions ---------------------------------------------------------------------

    /// The cart conditions, in insertion order.
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// The cart condition `name`.
    pub fn condition(&self, name: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.name() == name)
    }

    /// The cart conditions of one kind (`discount`, `tax`, ...).
    pub fn conditions_by_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Condition> {
        self.conditions.iter().filter(move |c| c.kind() == kind)
    }

    /// Adds a cart condition (target `subtotal` or `total`); one of the same name is replaced in place.
    pub fn add_condition(&mut self, condition: Condition) -> Result<(), Error> {
        if condition.target() == ConditionTarget::Item {
            return Err(Error::validation(
                "target",
                "an item condition belongs to an item; add it with add_item_condition",
            ));
        }
        condition.validate(self.currency, self.limits.max_name_length)?;
        let replaces = self.condition(condition.name()).is_some();
        if !replaces && self.conditions.len() >= self.limits.max_conditions {
            return Err(Error::limit(
                "conditions",
                self.limits.max_conditions as u64,
                self.conditions.len() as u64 + 1,
            ));
        }
        condition::upsert(&mut self.conditions, condition);
        Ok(())
    }

    /// Removes the cart condition `name`.
    pub fn remove_condition(&mut self, name: &str) -> Result<Condition, Error> {
        let at = self
            .conditions
            .iter()
            .position(|c| c.name() == name)
            .ok_or_else(|| Error::ConditionNotFound {
                name: name.to_owned(),
            })?;
        Ok(self.conditions.remove(at))
    }

    /// Removes every cart condition of one kind and says how many went.
    pub fn remove_conditions_by_kind(&mut self, kind: &str) -> usize {
        let before = self.conditions.len();
        self.conditions.retain(|c| c.kind() != kind);
        before - self.conditions.len()
    }

    /// Removes every cart condition.
    pub fn clear_conditions(&mut self) {
        self.conditions.clear();
    }

    /// A discount on the subtotal; the value always lowers it (`10%` and `-10%` both take 10 % off).
    pub fn add_discount(&mut self, name: &str, value: &str) -> Result<(), Error> {
        let mut discount = Condition::new(name, "discount", ConditionTarget::Subtotal, value)?;
        let reduction = discount.value().as_reduction("value")?;
        discount.set_value(reduction);
        self.add_condition(discount)
    }

    /// A tax on the subtotal.
    pub fn add_tax(&mut self, name: &str, value: &str) -> Result<(), Error> {
        self.add_condition(Condition::new(
            name,
            "tax",
            ConditionTarget::Subtotal,
            value,
        )?)
    }

    /// A fee on the total.
    pub fn add_fee(&mut self, name: &str, value: &str) -> Result<(), Error> {
        self.add_condition(Condition::new(name, "fee", ConditionTarget::Total, value)?)
    }

    /// Shipping on the total; replaces any other shipping condition.
    pub fn add_shipping(&mut self, name: &str, value: &str) -> Result<(), Error> {
        let mut shipping = Condition::new(name, "shipping", ConditionTarget::Total, value)?;
        shipping.set_kind("shipping");
        shipping.validate(self.currency, self.limits.max_name_length)?;
        let mut staged = self.conditions.clone();
        staged.retain(|c| c.kind() != "shipping" || c.name() == name);
        condition::upsert(&mut staged, shipping);
        // Like add_condition: only a condition that grows the list can break the limit.
        if staged.len() > self.conditions.len() && staged.len() > self.limits.max_conditions {
            return Err(Error::limit(
                "conditions",
                self.limits.max_conditions as u64,
                staged.len() as u64,
            ));
        }
        self.conditions = staged;
        Ok(())
    }

    // ----- metadata ----------------------------------------------------------------------------

    /// All metadata.
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.metadata
    }

    /// One metadata value.
    pub fn get_metadata(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// Sets one metadata value.
    pub fn set_metadata(&mut self, key: &str, value: Value) -> Result<(), Error> {
        Limits::check_length("key", key, self.limits.max_id_length)?;
        self.metadata.insert(key.to_owned(), value);
        Ok(())
    }

    /// Sets several metadata values: all or none.
    pub fn set_metadata_many(&mut self, values: Map<String, Value>) -> Result<(), Error> {
        for key in values.keys() {
            Limits::check_length("key", key, self.limits.max_id_length)?;
        }
        self.metadata.extend(values);
        Ok(())
    }

    /// Removes one metadata value and returns it.
    pub fn remove_metadata(&mut self, key: &str) -> Option<Value> {
        self.metadata.remove(key)
    }

    /// Removes all metadata.
    pub fn clear_metadata(&mut self) {
        self.metadata.clear();
    }

    // ----- totals, size, serialization ---------------------------------------------------------

    /// The totals now (rules with date windows are evaluated against the current time).
    pub fn totals(&self) -> Result<Totals, Error> {
        self.totals_at(OffsetDateTime::now_utc())
    }

    /// The totals at `now`.
    pub fn totals_at(&self, now: OffsetDateTime) -> Result<Totals, Error> {
        Totals::compute(self, now)
    }

    /// The serialized size in bytes; an error when it is over `max_cart_bytes`.
    pub fn check_size(&self) -> Result<usize, Error> {
        // Counting instead of collecting: the size is all that is needed here.
        struct Counter(usize);
        impl std::io::Write for Counter {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0 += buf.len();
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut counter = Counter(0);
        serde_json::to_writer(&mut counter, self)
            .map_err(|e| Error::validation("cart", e.to_string()))?;
        self.within_size(counter.0)?;
        Ok(counter.0)
    }

    /// A serialized size of `bytes` must not be over `max_cart_bytes`.
    fn within_size(&self, bytes: usize) -> Result<(), Error> {
        if bytes > self.limits.max_cart_bytes {
            return Err(Error::limit(
                "cart_size",
                self.limits.max_cart_bytes as u64,
                bytes as u64,
            ));
        }
        Ok(())
    }

    /// The stored JSON document, refused when it is over `max_cart_bytes`: for drivers that store
    /// the bytes anyway, this checks the size without serializing twice.
    pub fn to_json_checked(&self) -> Result<Vec<u8>, Error> {
        let bytes = self.to_json()?;
        self.within_size(bytes.len())?;
        Ok(bytes)
    }

    /// The stored JSON document.
    pub fn to_json(&self) -> Result<Vec<u8>, Error> {
        serde_json::to_vec(self).map_err(|e| Error::validation("cart", e.to_string()))
    }

    /// Reads a stored JSON document (any version this crate knows).
    pub fn from_json(bytes: &[u8]) -> Result<CartContents, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    pub(crate) fn replace_items(&mut self, items: Vec<CartItem>) {
        self.items = items;
    }

    pub(crate) fn items_mut(&mut self) -> &mut Vec<CartItem> {
        &mut self.items
    }

    pub(crate) fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        &mut self.conditions
    }

    pub(crate) fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.metadata
    }
}

// ----- the stored document ---------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct StoredItem {
    id: String,
    name: String,
    price: String,
    quantity: u32,
    #[serde(default)]
    attributes: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    conditions: Vec<Condition>,
}

#[derive(Serialize, Deserialize)]
struct StoredCart {
    schema: u32,
    currency: Currency,
    #[serde(default)]
    rounding: RoundingMode,
    #[serde(default)]
    items: Vec<StoredItem>,
    #[serde(default)]
    conditions: Vec<Condition>,
    #[serde(default)]
    metadata: Map<String, Value>,
}

/// The document: `{"schema": 1, "currency": "USD", "rounding": "half_up", "items": [...],
/// "conditions": [...], "metadata": {...}}` with prices as decimal strings in the cart's currency.
impl Serialize for CartContents {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StoredCart {
            schema: SCHEMA_VERSION,
            currency: self.currency,
            rounding: self.rounding,
            items: self
                .items
                .iter()
                .map(|item| StoredItem {
                    id: item.id.to_string(),
                    name: item.name.clone(),
                    price: item.price.to_string(),
                    quantity: item.quantity,
                    attributes: item.attributes.clone(),
                    conditions: item.conditions.clone(),
                })
                .collect(),
            conditions: self.conditions.clone(),
            metadata: self.metadata.clone(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CartContents {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = StoredCart::deserialize(deserializer)?;
        if stored.schema != SCHEMA_VERSION {
            return Err(serde::de::Error::custom(format!(
                "cart document schema {} is not supported (expected {SCHEMA_VERSION})",
                stored.schema
            )));
        }
        let currency = stored.currency;
        let items = stored
            .items
            .into_iter()
            .map(|item| {
                let price = Money::parse_field(&item.price, currency, "price")
                    .map_err(serde::de::Error::custom)?;
                Ok(CartItem {
                    id: item.id.into(),
                    name: item.name,
                    price,
                    quantity: item.quantity,
                    attributes: item.attributes,
                    conditions: item.conditions,
                })
            })
            .collect::<Result<Vec<_>, D::Error>>()?;
        Ok(CartContents {
            currency,
            rounding: stored.rounding,
            items,
            conditions: stored.conditions,
            metadata: stored.metadata,
            limits: Limits::default(),
        })
    }
}
