//! The stored JSON document of a cart: its versioned layout, (de)serialization and size checks.
//!
//! The document is `{"schema": 1, "currency": "USD", "rounding": "half_up", "items": [...],
//! "conditions": [...], "metadata": {...}}` with prices as decimal strings in the cart's currency.
//! Limits are configuration and are not stored.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::condition::Condition;
use super::contents::CartContents;
use super::currency::Currency;
use super::error::Error;
use super::item::CartItem;
use super::money::{Money, RoundingMode};
use super::timestamp;
use super::writes::{KeyRecord, MergeRecord, WriteLog};

/// The version of the JSON document layout that drivers store.
pub const SCHEMA_VERSION: u32 = 1;

impl CartContents {
    /// Returns the size in bytes of the stored JSON document, without building it.
    ///
    /// # Errors
    ///
    /// [`Error::LimitExceeded`] for `cart_size` when the document is over `max_cart_bytes`;
    /// [`Error::Validation`] for `cart` when it cannot be serialized.
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
        if bytes > self.limits().max_cart_bytes {
            return Err(Error::limit(
                "cart_size",
                self.limits().max_cart_bytes as u64,
                bytes as u64,
            ));
        }
        Ok(())
    }

    /// Serializes the stored JSON document and refuses it when it is over `max_cart_bytes`: for
    /// drivers that store the bytes anyway, this checks the size without serializing twice.
    ///
    /// # Errors
    ///
    /// As [`CartContents::check_size`].
    pub fn to_json_checked(&self) -> Result<Vec<u8>, Error> {
        let bytes = self.to_json()?;
        self.within_size(bytes.len())?;
        Ok(bytes)
    }

    /// Serializes the stored JSON document, whatever its size.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] for `cart` when the cart cannot be serialized.
    pub fn to_json(&self) -> Result<Vec<u8>, Error> {
        // About what a line without attributes or conditions takes, so that a cart of plain
        // lines is written without growing the buffer again and again.
        let mut bytes = Vec::with_capacity(256 + 160 * self.items().len());
        serde_json::to_writer(&mut bytes, self)
            .map_err(|e| Error::validation("cart", e.to_string()))?;
        Ok(bytes)
    }

    /// Reads a stored JSON document (any version this crate knows); the cart gets the default
    /// limits.
    ///
    /// # Errors
    ///
    /// A [`serde_json::Error`] when the bytes are not a document of a known [`SCHEMA_VERSION`],
    /// or hold a price that is not an amount in the document's currency.
    pub fn from_json(bytes: &[u8]) -> Result<CartContents, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// A line as stored, borrowed from the cart for writing.
#[derive(Serialize)]
struct ItemOut<'a> {
    id: &'a str,
    name: &'a str,
    #[serde(serialize_with = "serialize_display")]
    price: Money,
    quantity: u32,
    /// Left out when empty, as conditions are: most lines have none, and every byte is stored,
    /// sent and parsed again.
    #[serde(skip_serializing_if = "Map::is_empty")]
    attributes: &'a Map<String, Value>,
    #[serde(skip_serializing_if = "<[Condition]>::is_empty")]
    conditions: &'a [Condition],
    /// Absent for lines priced by trusted code, and in documents older than price provenance.
    #[serde(skip_serializing_if = "Option::is_none")]
    price_source: Option<&'a str>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "timestamp::serialize_option"
    )]
    priced_at: Option<OffsetDateTime>,
}

fn serialize_display<S: Serializer>(value: &Money, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// The lines of a cart, serialized in place.
struct ItemsOut<'a>(&'a [CartItem]);

impl Serialize for ItemsOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|item| ItemOut {
            id: &item.id,
            name: &item.name,
            price: item.price,
            quantity: item.quantity,
            attributes: &item.attributes,
            conditions: &item.conditions,
            price_source: item.price_source.as_deref(),
            priced_at: item.priced_at,
        }))
    }
}

/// The document as stored, borrowed from the cart for writing: nothing is copied to serialize.
#[derive(Serialize)]
struct CartOut<'a> {
    schema: u32,
    currency: Currency,
    rounding: RoundingMode,
    items: ItemsOut<'a>,
    conditions: &'a [Condition],
    metadata: &'a Map<String, Value>,
    #[serde(skip_serializing_if = "<[Arc<str>]>::is_empty")]
    writes: &'a [Arc<str>],
    #[serde(skip_serializing_if = "<[MergeRecord]>::is_empty")]
    merged: &'a [MergeRecord],
    /// The idempotency keys of the requests that changed the cart, kept in the document so that
    /// they are written by the same atomic write as the change.
    #[serde(skip_serializing_if = "<[KeyRecord]>::is_empty")]
    idempotency: &'a [KeyRecord],
}

/// A line as read: the id and the price borrow from the document's text where they can.
#[derive(Deserialize)]
struct ItemIn<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    price: Cow<'a, str>,
    quantity: u32,
    #[serde(default)]
    attributes: Map<String, Value>,
    #[serde(default)]
    conditions: Vec<Condition>,
    #[serde(default, borrow)]
    price_source: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "timestamp::deserialize_option")]
    priced_at: Option<OffsetDateTime>,
}

#[derive(Deserialize)]
struct CartIn<'a> {
    schema: u32,
    currency: Currency,
    #[serde(default)]
    rounding: RoundingMode,
    #[serde(default, borrow)]
    items: Vec<ItemIn<'a>>,
    #[serde(default)]
    conditions: Vec<Condition>,
    #[serde(default)]
    metadata: Map<String, Value>,
    #[serde(default, borrow)]
    writes: Vec<Cow<'a, str>>,
    #[serde(default)]
    merged: Vec<MergeRecord>,
    #[serde(default)]
    idempotency: Vec<KeyRecord>,
}

/// Writes the document described in the module documentation, at [`SCHEMA_VERSION`].
impl Serialize for CartContents {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        CartOut {
            schema: SCHEMA_VERSION,
            currency: self.currency(),
            rounding: self.rounding(),
            items: ItemsOut(self.items()),
            conditions: self.conditions(),
            metadata: self.metadata(),
            writes: &self.log.writes,
            merged: &self.log.merges,
            idempotency: &self.log.keys,
        }
        .serialize(serializer)
    }
}

/// Reads a document at [`SCHEMA_VERSION`]; the cart gets the default limits.
impl<'de> Deserialize<'de> for CartContents {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = CartIn::deserialize(deserializer)?;
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
                    id: Arc::from(&*item.id),
                    name: Arc::from(&*item.name),
                    price,
                    quantity: item.quantity,
                    attributes: item.attributes,
                    conditions: item.conditions,
                    price_source: item.price_source.as_deref().map(Arc::from),
                    priced_at: item.priced_at,
                    checked: false,
                    repriced: None,
                })
            })
            .collect::<Result<Vec<_>, D::Error>>()?;
        Ok(CartContents::from_parts(
            currency,
            stored.rounding,
            items,
            stored.conditions,
            stored.metadata,
            WriteLog {
                writes: stored.writes.iter().map(|id| Arc::from(&**id)).collect(),
                merges: stored.merged,
                keys: stored.idempotency,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cart::{ConditionTarget, Limits};

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    #[test]
    fn round_trips_through_json() {
        let mut cart = CartContents::new(Currency::USD).with_rounding(RoundingMode::HalfEven);
        let tagged = Condition::new("tag", "discount", ConditionTarget::Item, "-1.00").unwrap();
        cart.add(CartItem::new("a", "Apple", usd("1.20"), 3).with_condition(tagged))
            .unwrap();
        cart.add_discount("spring", "10%").unwrap();
        cart.set_metadata("tier", Value::from("gold")).unwrap();
        let bytes = cart.to_json().unwrap();
        let json: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["schema"], SCHEMA_VERSION);
        assert_eq!(json["items"][0]["price"], "1.20");
        assert_eq!(CartContents::from_json(&bytes).unwrap(), cart);
    }

    #[test]
    fn the_write_log_survives_the_document_and_clear() {
        let mut cart = CartContents::new(Currency::USD);
        cart.record_write("w1");
        cart.record_merge("guest", 2);
        let back = CartContents::from_json(&cart.to_json().unwrap()).unwrap();
        assert_eq!(back, cart);
        assert!(back.has_write("w1") && back.has_merged("guest", 2));
        let mut cleared = back.clone();
        cleared.clear();
        assert!(cleared.has_write("w1"), "clearing the lines keeps the log");
    }

    #[test]
    fn price_provenance_round_trips_and_old_documents_have_none() {
        let at = time::macros::datetime!(2024-05-01 12:30:00.123456789 UTC);
        let mut cart = CartContents::new(Currency::USD);
        let line = CartItem::new("mug", "Enamel mug", usd("8.50"), 1)
            .with_provenance(Some("catalog@v3".into()), Some(at));
        cart.add(line).unwrap();
        let bytes = cart.to_json().unwrap();
        let json: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["items"][0]["price_source"], "catalog@v3");
        assert_eq!(
            json["items"][0]["priced_at"],
            "2024-05-01T12:30:00.123456789Z"
        );
        let back = CartContents::from_json(&bytes).unwrap();
        assert_eq!(back.get("mug").unwrap().priced_at(), Some(at));

        let old = br#"{"schema": 1, "currency": "USD", "items": [{"id": "a", "name": "A", "price": "1.00", "quantity": 1}]}"#;
        let old = CartContents::from_json(old).unwrap();
        assert_eq!(old.get("a").unwrap().price_source(), None);
        assert_eq!(old.get("a").unwrap().priced_at(), None);
    }

    #[test]
    fn unknown_schema_versions_are_refused() {
        let err = CartContents::from_json(br#"{"schema": 2, "currency": "USD"}"#).unwrap_err();
        assert!(err.to_string().contains("schema 2"), "{err}");
    }

    #[test]
    fn size_is_checked_against_the_limit() {
        let mut cart = CartContents::new(Currency::USD);
        cart.add(CartItem::new("a", "Apple", usd("1.20"), 3))
            .unwrap();
        let size = cart.check_size().unwrap();
        assert_eq!(size, cart.to_json().unwrap().len());
        cart.set_limits(Limits {
            max_cart_bytes: size - 1,
            ..Limits::default()
        });
        let expected = Error::limit("cart_size", size as u64 - 1, size as u64);
        assert_eq!(cart.check_size(), Err(expected.clone()));
        assert_eq!(cart.to_json_checked(), Err(expected));
    }
}
