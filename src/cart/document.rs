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
        self.write_document(&mut counter)
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
        self.write_document(&mut bytes)
            .map_err(|e| Error::validation("cart", e.to_string()))?;
        Ok(bytes)
    }

    /// Writes the document: what [`Serialize`] writes, byte for byte (a test holds them to it),
    /// with the lines written by hand. A write serializes every line of the cart, and
    /// serde_json escapes every key and string through its general path; a line's keys are
    /// fixed and its strings almost never need escaping, so they are copied whole.
    fn write_document<W: std::io::Write>(&self, out: &mut W) -> serde_json::Result<()> {
        let io = serde_json::Error::io;
        out.write_all(b"{\"schema\":").map_err(io)?;
        serde_json::to_writer(&mut *out, &SCHEMA_VERSION)?;
        out.write_all(b",\"currency\":").map_err(io)?;
        serde_json::to_writer(&mut *out, &self.currency())?;
        out.write_all(b",\"rounding\":").map_err(io)?;
        serde_json::to_writer(&mut *out, &self.rounding())?;
        out.write_all(b",\"items\":[").map_err(io)?;
        for (at, item) in self.items().iter().enumerate() {
            if at > 0 {
                out.write_all(b",").map_err(io)?;
            }
            write_item(item, out)?;
        }
        out.write_all(b"],\"conditions\":").map_err(io)?;
        serde_json::to_writer(&mut *out, self.conditions())?;
        out.write_all(b",\"metadata\":").map_err(io)?;
        serde_json::to_writer(&mut *out, self.metadata())?;
        if !self.log.writes.is_empty() {
            out.write_all(b",\"writes\":").map_err(io)?;
            serde_json::to_writer(&mut *out, &self.log.writes)?;
        }
        if !self.log.merges.is_empty() {
            out.write_all(b",\"merged\":").map_err(io)?;
            serde_json::to_writer(&mut *out, &self.log.merges)?;
        }
        if !self.log.keys.is_empty() {
            out.write_all(b",\"idempotency\":").map_err(io)?;
            serde_json::to_writer(&mut *out, &self.log.keys)?;
        }
        out.write_all(b"}").map_err(io)
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

/// Writes `text` as a JSON string: copied whole when nothing in it needs escaping (the rule
/// serde_json follows: control characters, `"` and `\\`), through serde_json otherwise.
fn write_str<W: std::io::Write>(text: &str, out: &mut W) -> serde_json::Result<()> {
    if text
        .bytes()
        .all(|byte| byte >= 0x20 && byte != b'"' && byte != b'\\')
    {
        [b"\"", text.as_bytes(), b"\""]
            .iter()
            .try_for_each(|part| out.write_all(part))
            .map_err(serde_json::Error::io)
    } else {
        serde_json::to_writer(out, text)
    }
}

/// One line of the document, as [`ItemOut`] serializes it.
fn write_item<W: std::io::Write>(item: &CartItem, out: &mut W) -> serde_json::Result<()> {
    let io = serde_json::Error::io;
    out.write_all(b"{\"id\":").map_err(io)?;
    write_str(&item.id, out)?;
    out.write_all(b",\"name\":").map_err(io)?;
    write_str(&item.name, out)?;
    out.write_all(b",\"price\":").map_err(io)?;
    // A price is digits, a sign and a point: never escaped, formatted on the stack.
    let mut price = PriceText::default();
    std::fmt::Write::write_fmt(&mut price, format_args!("{}", item.price))
        .map_err(serde::ser::Error::custom)?;
    write_str(price.as_str(), out)?;
    out.write_all(b",\"quantity\":").map_err(io)?;
    serde_json::to_writer(&mut *out, &item.quantity)?;
    if !item.attributes.is_empty() {
        out.write_all(b",\"attributes\":").map_err(io)?;
        serde_json::to_writer(&mut *out, &item.attributes)?;
    }
    if !item.conditions.is_empty() {
        out.write_all(b",\"conditions\":").map_err(io)?;
        serde_json::to_writer(&mut *out, &item.conditions)?;
    }
    if let Some(source) = &item.price_source {
        out.write_all(b",\"price_source\":").map_err(io)?;
        write_str(source, out)?;
    }
    if let Some(at) = item.priced_at {
        out.write_all(b",\"priced_at\":").map_err(io)?;
        let mut buffer = [0u8; timestamp::MAX_LEN];
        let text = timestamp::rfc3339(at, &mut buffer).map_err(serde::ser::Error::custom)?;
        write_str(&text, out)?;
    }
    out.write_all(b"}").map_err(io)
}

/// A price's text on the stack; a longer one (no amount of 64-bit minor units is) fails the
/// write rather than being cut.
struct PriceText {
    bytes: [u8; 48],
    len: usize,
}

impl Default for PriceText {
    fn default() -> Self {
        PriceText {
            bytes: [0; 48],
            len: 0,
        }
    }
}

impl PriceText {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Write for PriceText {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let end = self.len + text.len();
        self.bytes
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
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
    fn the_hand_written_document_is_what_serde_writes() {
        let at = time::macros::datetime!(2024-05-01 12:30:00.123456789 UTC);
        let whole_second = time::macros::datetime!(2024-05-01 12:30:00 UTC);
        let mut carts = vec![CartContents::new(Currency::USD)];
        let mut cart = CartContents::new(Currency::USD).with_rounding(RoundingMode::HalfEven);
        let tagged = Condition::new("tag", "discount", ConditionTarget::Item, "-1.00").unwrap();
        cart.add(CartItem::new("a", "Apple", usd("1.20"), 3).with_condition(tagged))
            .unwrap();
        cart.add(
            CartItem::new(
                "q\"uote\\d",
                "back\\slash, \"quoted\", caf\u{e9} \u{1f6d2}",
                usd("0.05"),
                7,
            )
            .with_attribute("size", "L")
            .with_attribute("note", "a \"quoted\" note"),
        )
        .unwrap();
        cart.add(
            CartItem::new("mug", "Mug", usd("123456789.99"), 9_999)
                .with_provenance(Some("catalog@v3 \"main\"".into()), Some(at)),
        )
        .unwrap();
        cart.add(
            CartItem::new("tee", "Tee", usd("20.00"), 1)
                .with_provenance(Some("catalog@v1".into()), Some(whole_second)),
        )
        .unwrap();
        cart.add_discount("spring", "10%").unwrap();
        cart.set_metadata("tier", Value::from("gold")).unwrap();
        cart.record_write("w1");
        cart.record_write("w\"2");
        cart.record_merge("guest", 2);
        cart.log.record_key(
            KeyRecord {
                key: "k1".into(),
                fingerprint: "f1".into(),
                at: 10,
            },
            0,
        );
        carts.push(cart);
        let mut yen = CartContents::new(Currency::JPY);
        yen.add(CartItem::new(
            "rice",
            "Rice",
            Money::parse("1500", Currency::JPY).unwrap(),
            2,
        ))
        .unwrap();
        carts.push(yen);
        let declared = Currency::new("XTS", 3).unwrap();
        let mut odd = CartContents::new(declared);
        odd.add(CartItem::new(
            "x",
            "X",
            Money::parse("0.125", declared).unwrap(),
            1,
        ))
        .unwrap();
        carts.push(odd);

        // Text that must be escaped (lines are checked for control characters when added, but a
        // document of an older version may still hold them) goes through serde_json.
        for text in ["plain", "line\nbreak\u{1}\ttab", "\"\\", "caf\u{e9}"] {
            let mut written = Vec::new();
            write_str(text, &mut written).unwrap();
            assert_eq!(written, serde_json::to_vec(text).unwrap(), "{text:?}");
        }
        for cart in carts {
            let by_serde = serde_json::to_vec(&cart).unwrap();
            assert_eq!(
                String::from_utf8(cart.to_json().unwrap()).unwrap(),
                String::from_utf8(by_serde.clone()).unwrap()
            );
            assert_eq!(cart.check_size().unwrap(), by_serde.len());
            assert_eq!(CartContents::from_json(&by_serde).unwrap(), cart);
        }
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
