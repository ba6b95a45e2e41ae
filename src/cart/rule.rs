//! Rules: data that switches a condition on or off, and their evaluation against a small context
//! of plain values taken from the cart.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::currency::Currency;
use super::error::Error;
use super::hygiene;
use super::money::Money;

/// A rule that must hold for its condition to apply. Rules are data, so every driver stores them.
///
/// Amounts are decimal strings in major units of the cart's currency. JSON form:
/// `{"kind": "min_lines", "value": 2}`, `{"kind": "subtotal_at_least", "amount": "50.00"}`,
/// `{"kind": "metadata_equals", "key": "tier", "value": "gold"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    /// At least this many distinct lines.
    MinLines {
        /// The bound.
        value: u64,
    },
    /// At most this many distinct lines.
    MaxLines {
        /// The bound.
        value: u64,
    },
    /// At least this total quantity.
    MinQuantity {
        /// The bound.
        value: u64,
    },
    /// At most this total quantity.
    MaxQuantity {
        /// The bound.
        value: u64,
    },
    /// Subtotal before any condition is at least `amount`.
    SubtotalAtLeast {
        /// The bound, in major units.
        #[serde(with = "rust_decimal::serde::str")]
        amount: Decimal,
    },
    /// Subtotal before any condition is below `amount`.
    SubtotalBelow {
        /// The bound, in major units.
        #[serde(with = "rust_decimal::serde::str")]
        amount: Decimal,
    },
    /// Subtotal before any condition is in `[min, max]`.
    SubtotalBetween {
        /// Lower bound, inclusive.
        #[serde(with = "rust_decimal::serde::str")]
        min: Decimal,
        /// Upper bound, inclusive.
        #[serde(with = "rust_decimal::serde::str")]
        max: Decimal,
    },
    /// The cart has an item with this id.
    HasItem {
        /// The item id.
        id: String,
    },
    /// The cart has no item with this id.
    MissingItem {
        /// The item id.
        id: String,
    },
    /// The cart's metadata has this key.
    MetadataPresent {
        /// The metadata key.
        key: String,
    },
    /// The cart's metadata has this key with exactly this value.
    MetadataEquals {
        /// The metadata key.
        key: String,
        /// The expected value.
        value: Value,
    },
    /// The cart's metadata has this key with one of these values.
    MetadataIn {
        /// The metadata key.
        key: String,
        /// The accepted values.
        values: Vec<Value>,
    },
    /// Now is within `[from, until)`; an absent bound is open.
    DateWindow {
        /// Start, RFC 3339.
        #[serde(default, with = "time::serde::rfc3339::option")]
        from: Option<OffsetDateTime>,
        /// End (exclusive), RFC 3339.
        #[serde(default, with = "time::serde::rfc3339::option")]
        until: Option<OffsetDateTime>,
    },
    /// For item conditions: the item's quantity is at least this.
    ItemQuantityAtLeast {
        /// The bound.
        value: u64,
    },
}

/// What rules are evaluated against: plain values taken from the cart when its totals are computed.
pub(crate) struct RuleContext<'a> {
    /// The number of distinct lines.
    pub(crate) lines: usize,
    /// The sum of all quantities.
    pub(crate) quantity: u64,
    /// Σ unit price × quantity, before any condition.
    pub(crate) subtotal_without_conditions: Money,
    /// The cart's metadata.
    pub(crate) metadata: &'a Map<String, Value>,
    /// The time date windows are checked against.
    pub(crate) now: OffsetDateTime,
    /// Whether the cart has a line with this item id.
    pub(crate) has_item: &'a dyn Fn(&str) -> bool,
}

impl Rule {
    /// Checks the rule's bounds against the cart's currency (no more decimals than it has) and
    /// against each other, and that its ids, keys and values can be stored.
    pub(crate) fn validate(&self, currency: Currency) -> Result<(), Error> {
        let amount = |a: &Decimal| Money::from_decimal_exact(*a, currency, "rules").map(|_| ());
        match self {
            Rule::SubtotalAtLeast { amount: a } | Rule::SubtotalBelow { amount: a } => amount(a),
            Rule::SubtotalBetween { min, max } => {
                amount(min)?;
                amount(max)?;
                if min > max {
                    return Err(Error::validation("rules", "subtotal_between has min > max"));
                }
                Ok(())
            }
            Rule::DateWindow {
                from: Some(from),
                until: Some(until),
            } if from >= until => Err(Error::validation(
                "rules",
                "date_window has from at or after until",
            )),
            Rule::HasItem { id } | Rule::MissingItem { id } => hygiene::check_text("rules", id),
            Rule::MetadataPresent { key } => hygiene::check_text("rules", key),
            Rule::MetadataEquals { key, value } => hygiene::check_entry("rules", key, value),
            Rule::MetadataIn { key, values } => {
                hygiene::check_text("rules", key)?;
                values
                    .iter()
                    .try_for_each(|value| hygiene::check_entry("rules", key, value))
            }
            _ => Ok(()),
        }
    }

    /// Whether the rule is meaningful only on an item condition.
    pub(crate) fn is_item_only(&self) -> bool {
        matches!(self, Rule::ItemQuantityAtLeast { .. })
    }

    /// Whether the rule holds; `item_quantity` is the quantity of the line an item condition
    /// belongs to, `None` for a cart condition.
    pub(crate) fn holds(&self, cx: &RuleContext<'_>, item_quantity: Option<u32>) -> bool {
        let currency = cx.subtotal_without_conditions.currency();
        // Bounds were validated against the currency when the condition was added.
        let minor = |a: &Decimal| {
            Money::from_decimal_exact(*a, currency, "rules").map_or(i64::MAX, |m| m.minor_units())
        };
        let subtotal = cx.subtotal_without_conditions.minor_units();
        match self {
            Rule::MinLines { value } => cx.lines as u64 >= *value,
            Rule::MaxLines { value } => cx.lines as u64 <= *value,
            Rule::MinQuantity { value } => cx.quantity >= *value,
            Rule::MaxQuantity { value } => cx.quantity <= *value,
            Rule::SubtotalAtLeast { amount } => subtotal >= minor(amount),
            Rule::SubtotalBelow { amount } => subtotal < minor(amount),
            Rule::SubtotalBetween { min, max } => subtotal >= minor(min) && subtotal <= minor(max),
            Rule::HasItem { id } => (cx.has_item)(id),
            Rule::MissingItem { id } => !(cx.has_item)(id),
            Rule::MetadataPresent { key } => cx.metadata.contains_key(key),
            Rule::MetadataEquals { key, value } => cx.metadata.get(key) == Some(value),
            Rule::MetadataIn { key, values } => {
                cx.metadata.get(key).is_some_and(|v| values.contains(v))
            }
            Rule::DateWindow { from, until } => {
                from.is_none_or(|from| cx.now >= from) && until.is_none_or(|until| cx.now < until)
            }
            Rule::ItemQuantityAtLeast { value } => {
                item_quantity.is_some_and(|quantity| u64::from(quantity) >= *value)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    #[test]
    fn rules_hold_against_plain_values() {
        let mut metadata = Map::new();
        metadata.insert("tier".into(), Value::from("gold"));
        let has_item = |id: &str| id == "a";
        let cx = RuleContext {
            lines: 2,
            quantity: 3,
            subtotal_without_conditions: usd("200.00"),
            metadata: &metadata,
            now: OffsetDateTime::UNIX_EPOCH,
            has_item: &has_item,
        };
        let amount = |s: &str| s.parse::<Decimal>().unwrap();
        assert!(Rule::MinLines { value: 2 }.holds(&cx, None));
        assert!(!Rule::MaxQuantity { value: 2 }.holds(&cx, None));
        assert!(
            Rule::SubtotalAtLeast {
                amount: amount("200.00")
            }
            .holds(&cx, None)
        );
        assert!(
            !Rule::SubtotalBelow {
                amount: amount("200")
            }
            .holds(&cx, None)
        );
        assert!(Rule::HasItem { id: "a".into() }.holds(&cx, None));
        assert!(Rule::MissingItem { id: "b".into() }.holds(&cx, None));
        let gold = Rule::MetadataEquals {
            key: "tier".into(),
            value: Value::from("gold"),
        };
        assert!(gold.holds(&cx, None));
        let item_rule = Rule::ItemQuantityAtLeast { value: 2 };
        assert!(item_rule.holds(&cx, Some(2)));
        assert!(!item_rule.holds(&cx, Some(1)));
        assert!(!item_rule.holds(&cx, None));
    }

    #[test]
    fn bounds_are_validated() {
        let amount = |s: &str| s.parse::<Decimal>().unwrap();
        let over_precise = Rule::SubtotalAtLeast {
            amount: amount("1.001"),
        };
        assert!(over_precise.validate(Currency::USD).is_err());
        let reversed = Rule::SubtotalBetween {
            min: amount("5"),
            max: amount("1"),
        };
        assert!(reversed.validate(Currency::USD).is_err());
        assert!(Rule::ItemQuantityAtLeast { value: 1 }.is_item_only());
        assert!(!Rule::MinLines { value: 1 }.is_item_only());
    }
}
