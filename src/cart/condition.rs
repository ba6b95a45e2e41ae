//! Conditions (discounts, taxes, fees, shipping, ...): parsing their values, applying them, and
//! the rules that switch them on and off.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::item::CartItem;
use super::money::{Currency, Money, RoundingMode, parse_plain_decimal, truncate_for_message};
use super::error::Error;

/// Longest accepted `type` word of a condition.
const MAX_KIND_LENGTH: usize = 64;
/// Most rules one condition may carry.
pub(crate) const MAX_RULES: usize = 32;

/// What a condition applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionTarget {
    /// The unit price of one item (an item condition).
    Item,
    /// The items subtotal; gives the cart subtotal.
    Subtotal,
    /// The subtotal; gives the cart total.
    Total,
}

impl FromStr for ConditionTarget {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "item" => Ok(ConditionTarget::Item),
            "subtotal" => Ok(ConditionTarget::Subtotal),
            "total" => Ok(ConditionTarget::Total),
            other => Err(Error::validation(
                "target",
                format!(
                    "`{}` is not one of item, subtotal, total",
                    truncate_for_message(other)
                ),
            )),
        }
    }
}

/// A parsed condition value.
///
/// Syntax: a trailing `%` is a signed percentage (`-10%`, `+12.5%`, `10%` = +10%); otherwise a
/// leading `+`, `-`, `*` or `/` is the operator and no operator means `+`. Fixed amounts are in
/// major units (`+5.00` is five dollars in a USD cart).
///
/// ```
/// use axum_cart::ConditionValue;
/// let v: ConditionValue = "-10%".parse().unwrap();
/// assert_eq!(v.to_string(), "-10%");
/// assert!("/0".parse::<ConditionValue>().is_err());
/// assert!("NaN".parse::<ConditionValue>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionValue {
    /// Add this signed percentage of the base.
    Percent(Decimal),
    /// Add this signed fixed amount, in major units.
    Amount(Decimal),
    /// Multiply the base.
    Multiply(Decimal),
    /// Divide the base (never by zero).
    Divide(Decimal),
}

impl ConditionValue {
    /// Parses a value, naming `field` in errors.
    pub fn parse_field(input: &str, field: &str) -> Result<ConditionValue, Error> {
        if let Some(percent) = input.strip_suffix('%') {
            return Ok(ConditionValue::Percent(parse_plain_decimal(
                percent, field,
            )?));
        }
        let unsigned_operand = |rest: &str| {
            if rest.starts_with(['+', '-']) {
                Err(Error::validation(
                    field,
                    format!("`{}` has two operators", truncate_for_message(input)),
                ))
            } else {
                parse_plain_decimal(rest, field)
            }
        };
        if let Some(rest) = input.strip_prefix('*') {
            return Ok(ConditionValue::Multiply(unsigned_operand(rest)?));
        }
        if let Some(rest) = input.strip_prefix('/') {
            let divisor = unsigned_operand(rest)?;
            if divisor.is_zero() {
                return Err(Error::validation(field, "division by zero"));
            }
            return Ok(ConditionValue::Divide(divisor));
        }
        Ok(ConditionValue::Amount(parse_plain_decimal(input, field)?))
    }

    /// `true` when the value lowers the amount it applies to (a discount).
    pub fn is_reduction(&self) -> bool {
        match *self {
            ConditionValue::Percent(p) | ConditionValue::Amount(p) => p.is_sign_negative(),
            ConditionValue::Multiply(m) => m < Decimal::ONE,
            ConditionValue::Divide(d) => d > Decimal::ONE,
        }
    }

    /// The same value with a minus sign forced on it (for discounts).
    pub(crate) fn as_reduction(self, field: &str) -> Result<ConditionValue, Error> {
        match self {
            ConditionValue::Percent(p) => Ok(ConditionValue::Percent(-p.abs())),
            ConditionValue::Amount(a) => Ok(ConditionValue::Amount(-a.abs())),
            ConditionValue::Multiply(_) | ConditionValue::Divide(_) => Err(Error::validation(
                field,
                "a discount is a percentage or an amount, not a multiplier",
            )),
        }
    }

    /// Checks a fixed amount against the cart's currency (no more decimals than it has).
    pub(crate) fn check_currency(&self, currency: Currency, field: &str) -> Result<(), Error> {
        if let ConditionValue::Amount(amount) = self {
            Money::from_decimal_exact(*amount, currency, field)?;
        }
        Ok(())
    }

    /// Applies the value to `base`; the result is rounded with `mode` and never below zero.
    pub fn apply(&self, base: Money, mode: RoundingMode) -> Result<Money, Error> {
        let currency = base.currency();
        if let ConditionValue::Amount(amount) = *self {
            let amount = Money::from_decimal_exact(amount, currency, "value")?;
            return Ok(base.checked_add(amount)?.at_least_zero());
        }
        let result = match self.apply_integer(base.minor_units(), mode) {
            Some(minor) => {
                let minor = i64::try_from(minor).map_err(|_| Error::overflow("value"))?;
                Money::from_minor(minor, currency)
            }
            None => self.apply_decimal(base, mode)?,
        };
        Ok(result.at_least_zero())
    }

    /// The exact result as `numerator / denominator` in minor units, rounded once. Integer
    /// arithmetic on i128 is exact and much cheaper than decimal arithmetic; `None` when an
    /// intermediate value does not fit, and then [`Self::apply_decimal`] takes over.
    fn apply_integer(&self, minor: i64, mode: RoundingMode) -> Option<i128> {
        let minor = i128::from(minor);
        let parts = |d: Decimal| (d.mantissa(), 10i128.checked_pow(d.scale()));
        let (numerator, denominator) = match *self {
            ConditionValue::Percent(percent) => {
                let (mantissa, scale) = parts(percent);
                let scale = scale?;
                let factor = scale.checked_mul(100)?.checked_add(mantissa)?;
                (minor.checked_mul(factor)?, scale.checked_mul(100)?)
            }
            ConditionValue::Multiply(factor) => {
                let (mantissa, scale) = parts(factor);
                (minor.checked_mul(mantissa)?, scale?)
            }
            ConditionValue::Divide(divisor) => {
                let (mantissa, scale) = parts(divisor);
                (minor.checked_mul(scale?)?, mantissa)
            }
            ConditionValue::Amount(_) => return None,
        };
        divide_rounded(numerator, denominator, mode)
    }

    fn apply_decimal(&self, base: Money, mode: RoundingMode) -> Result<Money, Error> {
        let currency = base.currency();
        let minor = Decimal::from(base.minor_units());
        let overflow = || Error::overflow("value");
        let exact = match *self {
            ConditionValue::Percent(percent) => {
                let factor = Decimal::ONE_HUNDRED
                    .checked_add(percent)
                    .ok_or_else(overflow)?;
                minor
                    .checked_mul(factor)
                    .and_then(|m| m.checked_div(Decimal::ONE_HUNDRED))
                    .ok_or_else(overflow)?
            }
            ConditionValue::Multiply(factor) => minor.checked_mul(factor).ok_or_else(overflow)?,
            ConditionValue::Divide(divisor) => minor.checked_div(divisor).ok_or_else(overflow)?,
            ConditionValue::Amount(_) => unreachable_amount()?,
        };
        Money::from_minor_decimal(exact, currency, mode, "value")
    }
}

fn unreachable_amount() -> Result<Decimal, Error> {
    Err(Error::validation(
        "value",
        "a fixed amount is added, not scaled",
    ))
}

/// `numerator / denominator` rounded to a whole number with `mode`; `None` for a zero denominator.
fn divide_rounded(numerator: i128, denominator: i128, mode: RoundingMode) -> Option<i128> {
    if denominator == 0 {
        return None;
    }
    let (numerator, denominator) = if denominator < 0 {
        (numerator.checked_neg()?, denominator.checked_neg()?)
    } else {
        (numerator, denominator)
    };
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    if remainder == 0 {
        return Some(quotient);
    }
    // Away from zero is the direction of the numerator's sign.
    let away = if numerator < 0 {
        quotient - 1
    } else {
        quotient + 1
    };
    let twice = remainder.unsigned_abs() * 2;
    let half = twice.cmp(&denominator.unsigned_abs());
    Some(match mode {
        RoundingMode::Down => quotient,
        RoundingMode::Up => away,
        RoundingMode::HalfUp => {
            if half.is_lt() {
                quotient
            } else {
                away
            }
        }
        RoundingMode::HalfEven => match half {
            std::cmp::Ordering::Less => quotient,
            std::cmp::Ordering::Greater => away,
            std::cmp::Ordering::Equal => {
                if quotient % 2 == 0 {
                    quotient
                } else {
                    away
                }
            }
        },
    })
}

impl FromStr for ConditionValue {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConditionValue::parse_field(s, "value")
    }
}

impl fmt::Display for ConditionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signed = |d: Decimal| {
            if d.is_sign_negative() {
                format!("-{}", d.abs())
            } else {
                format!("+{d}")
            }
        };
        match *self {
            ConditionValue::Percent(p) => write!(f, "{}%", signed(p)),
            ConditionValue::Amount(a) => f.write_str(&signed(a)),
            ConditionValue::Multiply(m) => write!(f, "*{m}"),
            ConditionValue::Divide(d) => write!(f, "/{d}"),
        }
    }
}

impl Serialize for ConditionValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ConditionValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

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

/// What rules are evaluated against.
pub(crate) struct RuleContext<'a> {
    pub items: &'a [CartItem],
    pub quantity: u64,
    pub subtotal_without_conditions: Money,
    pub metadata: &'a Map<String, Value>,
    pub now: OffsetDateTime,
}

impl Rule {
    fn validate(&self, target: ConditionTarget, currency: Currency) -> Result<(), Error> {
        let amount = |a: &Decimal| Money::from_decimal_exact(*a, currency, "rules").map(|_| ());
        match self {
            Rule::SubtotalAtLeast { amount: a } | Rule::SubtotalBelow { amount: a } => amount(a),
            Rule::SubtotalBetween { min, max } => {
                amount(min)?;
                amount(max)?;
                if min > max {
                    return Err(Error::validation(
                        "rules",
                        "subtotal_between has min > max",
                    ));
                }
                Ok(())
            }
            Rule::ItemQuantityAtLeast { .. } if target != ConditionTarget::Item => {
                Err(Error::validation(
                    "rules",
                    "item_quantity_at_least applies only to item conditions",
                ))
            }
            Rule::DateWindow {
                from: Some(from),
                until: Some(until),
            } if from >= until => Err(Error::validation(
                "rules",
                "date_window has from at or after until",
            )),
            _ => Ok(()),
        }
    }

    /// Whether the rule holds; `item` is the item an item condition belongs to.
    pub(crate) fn holds(&self, cx: &RuleContext<'_>, item: Option<&CartItem>) -> bool {
        let currency = cx.subtotal_without_conditions.currency();
        // Bounds were validated against the currency when the condition was added.
        let minor = |a: &Decimal| {
            Money::from_decimal_exact(*a, currency, "rules").map_or(i64::MAX, |m| m.minor_units())
        };
        let subtotal = cx.subtotal_without_conditions.minor_units();
        match self {
            Rule::MinLines { value } => cx.items.len() as u64 >= *value,
            Rule::MaxLines { value } => cx.items.len() as u64 <= *value,
            Rule::MinQuantity { value } => cx.quantity >= *value,
            Rule::MaxQuantity { value } => cx.quantity <= *value,
            Rule::SubtotalAtLeast { amount } => subtotal >= minor(amount),
            Rule::SubtotalBelow { amount } => subtotal < minor(amount),
            Rule::SubtotalBetween { min, max } => subtotal >= minor(min) && subtotal <= minor(max),
            Rule::HasItem { id } => cx.items.iter().any(|i| *i.id == **id),
            Rule::MissingItem { id } => !cx.items.iter().any(|i| *i.id == **id),
            Rule::MetadataPresent { key } => cx.metadata.contains_key(key),
            Rule::MetadataEquals { key, value } => cx.metadata.get(key) == Some(value),
            Rule::MetadataIn { key, values } => {
                cx.metadata.get(key).is_some_and(|v| values.contains(v))
            }
            Rule::DateWindow { from, until } => {
                from.is_none_or(|from| cx.now >= from) && until.is_none_or(|until| cx.now < until)
            }
            Rule::ItemQuantityAtLeast { value } => {
                item.is_some_and(|item| u64::from(item.quantity) >= *value)
            }
        }
    }
}

/// A named adjustment of an item price, the subtotal or the total.
///
/// ```
/// use axum_cart::{Condition, ConditionTarget};
/// let vat = Condition::new("VAT", "tax", ConditionTarget::Subtotal, "+8%").unwrap();
/// assert_eq!(vat.value().to_string(), "+8%");
/// let late = Condition::new("late-fee", "fee", ConditionTarget::Total, "+2.50").unwrap().with_order(10);
/// assert_eq!(late.order(), 10);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ConditionInput")]
pub struct Condition {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    target: ConditionTarget,
    value: ConditionValue,
    order: i32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rules: Vec<Rule>,
}

/// The JSON shape of a condition, before validation: `{name, type, target, value, order?, rules?}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionInput {
    /// Unique per cart (or per item).
    pub name: String,
    /// `discount`, `tax`, `fee`, `shipping` or any other word.
    #[serde(rename = "type")]
    pub kind: String,
    /// `item`, `subtotal` or `total`; defaults to `subtotal` (`item` for item conditions).
    #[serde(default)]
    pub target: Option<ConditionTarget>,
    /// The value, e.g. `-10%`, `+5.00`, `*1.5`, `/2`.
    pub value: String,
    /// Lower applies first; ties keep insertion order.
    #[serde(default)]
    pub order: i32,
    /// Rules that must all hold.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

impl TryFrom<ConditionInput> for Condition {
    type Error = Error;
    fn try_from(input: ConditionInput) -> Result<Self, Self::Error> {
        let target = input.target.unwrap_or(ConditionTarget::Subtotal);
        let mut condition = Condition::new(input.name, input.kind, target, &input.value)?;
        condition.order = input.order;
        condition.rules = input.rules;
        Ok(condition)
    }
}

impl Condition {
    /// A condition; the name and kind must be non-empty and the value must parse.
    pub fn new(
        name: impl Into<String>,
        kind: impl Into<String>,
        target: ConditionTarget,
        value: &str,
    ) -> Result<Condition, Error> {
        let name = name.into();
        let kind = kind.into();
        if name.is_empty() {
            return Err(Error::validation(
                "name",
                "a condition name must not be empty",
            ));
        }
        if kind.is_empty() || kind.chars().count() > MAX_KIND_LENGTH {
            return Err(Error::validation(
                "type",
                format!("a condition type must be 1 to {MAX_KIND_LENGTH} characters"),
            ));
        }
        Ok(Condition {
            name,
            kind,
            target,
            value: ConditionValue::parse_field(value, "value")?,
            order: 0,
            rules: Vec::new(),
        })
    }

    /// Sets the order: lower applies first, ties keep insertion order.
    pub fn with_order(mut self, order: i32) -> Condition {
        self.order = order;
        self
    }

    /// Adds a rule that must hold for the condition to apply.
    pub fn with_rule(mut self, rule: Rule) -> Condition {
        self.rules.push(rule);
        self
    }

    /// The name, unique within its cart or item.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The kind: `discount`, `tax`, `fee`, `shipping` or another word.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// What it applies to.
    pub fn target(&self) -> ConditionTarget {
        self.target
    }

    /// The value.
    pub fn value(&self) -> ConditionValue {
        self.value
    }

    /// The order.
    pub fn order(&self) -> i32 {
        self.order
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub(crate) fn set_target(&mut self, target: ConditionTarget) {
        self.target = target;
    }

    pub(crate) fn set_kind(&mut self, kind: &str) {
        kind.clone_into(&mut self.kind);
    }

    pub(crate) fn set_value(&mut self, value: ConditionValue) {
        self.value = value;
    }

    /// Checks the condition against the cart's currency and limits.
    pub(crate) fn validate(&self, currency: Currency, max_name: usize) -> Result<(), Error> {
        let length = self.name.chars().count();
        if length > max_name {
            return Err(Error::limit("name", max_name as u64, length as u64));
        }
        self.value.check_currency(currency, "value")?;
        if self.rules.len() > MAX_RULES {
            return Err(Error::limit(
                "rules",
                MAX_RULES as u64,
                self.rules.len() as u64,
            ));
        }
        for rule in &self.rules {
            rule.validate(self.target, currency)?;
        }
        Ok(())
    }

    /// Whether every rule holds.
    pub(crate) fn applies(&self, cx: &RuleContext<'_>, item: Option<&CartItem>) -> bool {
        self.rules.iter().all(|rule| rule.holds(cx, item))
    }
}

/// Inserts `condition` into `list`, replacing one of the same name in place.
pub(crate) fn upsert(list: &mut Vec<Condition>, condition: Condition) {
    match list.iter_mut().find(|c| c.name == condition.name) {
        Some(existing) => *existing = condition,
        None => list.push(condition),
    }
}

/// The conditions in application order: by `order`, ties in insertion order.
pub(crate) fn in_application_order<'a>(
    list: impl Iterator<Item = &'a Condition> + Clone,
) -> impl Iterator<Item = &'a Condition> {
    let sorted = list.clone().map(|c| c.order).is_sorted();
    let mut reordered: Vec<&Condition> = Vec::new();
    if !sorted {
        reordered = list.clone().collect();
        // A stable sort keeps insertion order among equal `order`s.
        reordered.sort_by_key(|c| c.order);
    }
    // Most carts never set `order`: then the list is already in order and nothing is allocated.
    let in_place = sorted.then_some(list).into_iter().flatten();
    in_place.chain(reordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    fn apply(value: &str, base: &str) -> String {
        let v: ConditionValue = value.parse().unwrap();
        v.apply(usd(base), RoundingMode::HalfUp)
            .unwrap()
            .to_string()
    }

    #[test]
    fn value_syntax() {
        assert_eq!(apply("-10%", "200.00"), "180.00");
        assert_eq!(apply("10%", "200.00"), "220.00");
        assert_eq!(apply("+12.5%", "100.00"), "112.50");
        assert_eq!(apply("+5.00", "1.00"), "6.00");
        assert_eq!(apply("5", "1.00"), "6.00");
        assert_eq!(apply("-5", "1.00"), "0.00");
        assert_eq!(apply("*1.5", "10.00"), "15.00");
        assert_eq!(apply("/2", "10.01"), "5.01");
        assert_eq!(apply("/3", "10.00"), "3.33");
    }

    #[test]
    fn bad_values_are_typed_errors() {
        for bad in [
            "", "%", "abc", "NaN", "inf", "-inf%", "1e3", "/0", "/0.00", "*-2", "+-3", "10%%",
            "1,5",
        ] {
            let err = ConditionValue::parse_field(bad, "value").unwrap_err();
            assert_eq!(err.field(), Some("value"), "{bad:?}: {err}");
        }
        let c = Condition::new("x", "fee", ConditionTarget::Total, "+0.001").unwrap();
        assert!(c.validate(Currency::USD, 255).is_err());
        assert!(c.validate(Currency::new("KWD", 3).unwrap(), 255).is_ok());
    }

    #[test]
    fn integer_and_decimal_paths_agree() {
        let values = [
            "-10%", "+12.5%", "-33.333%", "*1.5", "*0.333", "/3", "/7.5", "+0.01%", "-99.99%",
        ];
        let modes = [
            RoundingMode::HalfUp,
            RoundingMode::HalfEven,
            RoundingMode::Down,
            RoundingMode::Up,
        ];
        for value in values {
            let v: ConditionValue = value.parse().unwrap();
            for minor in [0i64, 1, 5, 15, 25, 1005, 99_999, 123_456_789] {
                for mode in modes {
                    let base = Money::from_minor(minor, Currency::USD);
                    let fast = v
                        .apply_integer(minor, mode)
                        .map(|m| Money::from_minor(m as i64, Currency::USD).at_least_zero());
                    let slow = v.apply_decimal(base, mode).unwrap().at_least_zero();
                    assert_eq!(fast, Some(slow), "{value} on {minor} with {mode:?}");
                }
            }
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["-10%", "+12.5%", "+5.00", "-3", "*1.5", "/2"] {
            let v: ConditionValue = text.parse().unwrap();
            assert_eq!(v.to_string(), text);
            assert_eq!(v.to_string().parse::<ConditionValue>().unwrap(), v);
        }
        assert_eq!("10%".parse::<ConditionValue>().unwrap().to_string(), "+10%");
    }

    #[test]
    fn unknown_rule_kinds_are_rejected_at_parse_time() {
        let json = r#"{"name":"x","type":"discount","target":"subtotal","value":"-5%","rules":[{"kind":"moon_phase","value":3}]}"#;
        let err = serde_json::from_str::<Condition>(json).unwrap_err();
        assert!(err.to_string().contains("moon_phase"), "{err}");
        let ok = r#"{"name":"x","type":"discount","target":"subtotal","value":"-5%","rules":[{"kind":"min_lines","value":3}]}"#;
        let c: Condition = serde_json::from_str(ok).unwrap();
        assert_eq!(c.rules(), &[Rule::MinLines { value: 3 }]);
    }
}
