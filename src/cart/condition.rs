//! Conditions (discounts, taxes, fees, shipping, ...): what they apply to, their validation, and
//! the order they apply in.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::currency::Currency;
use super::error::Error;
use super::hygiene;
use super::money::truncate_for_message;
use super::rule::{Rule, RuleContext};
use super::value::ConditionValue;

/// Longest accepted `type` word of a condition.
const MAX_KIND_LENGTH: usize = 64;
/// Most rules one condition may carry.
const MAX_RULES: usize = 32;

/// What a condition applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionTarget {
    /// The unit price of one item (an item condition).
    Item,
    /// The items subtotal (the sum of the line totals); gives the cart subtotal.
    Subtotal,
    /// The cart subtotal, after every `subtotal` condition has applied; gives the cart total.
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

/// A named adjustment of an item price, the subtotal or the total.
///
/// Cart conditions apply in two stages: `subtotal` conditions to the sum of the line totals, then
/// `total` conditions to the resulting subtotal. Within a stage, lower `order` applies first.
///
/// ```
/// use axum_cart::cart::{Condition, ConditionTarget};
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
    /// Creates a condition named `name` of kind `kind` (`discount`, `tax`, ...) that applies
    /// `value` to `target`, with order 0 and no rules.
    ///
    /// Fixed amounts are checked against the cart's currency when the condition is added to a cart.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] naming `name` when the name is empty, `type` when the kind is empty
    /// or over 64 characters, and `value` when the value does not parse (see [`ConditionValue`]).
    ///
    /// # Examples
    ///
    /// The conditions of a cart that takes 10 % off the subtotal, then adds 15 % tax and 9.99
    /// shipping to the total:
    ///
    /// ```
    /// use axum_cart::cart::{Condition, ConditionTarget};
    ///
    /// let spring = Condition::new("spring", "discount", ConditionTarget::Subtotal, "-10%")?;
    /// let vat = Condition::new("VAT", "tax", ConditionTarget::Total, "+15%")?;
    /// let shipping = Condition::new("standard", "shipping", ConditionTarget::Total, "+9.99")?;
    /// assert_eq!(spring.value().to_string(), "-10%");
    /// assert!(spring.value().is_reduction());
    /// assert_eq!(vat.target(), ConditionTarget::Total);
    /// assert_eq!(shipping.kind(), "shipping");
    /// assert_eq!(shipping.order(), 0);
    ///
    /// // An empty name or a value that does not parse is refused.
    /// let empty = Condition::new("", "fee", ConditionTarget::Total, "+1").unwrap_err();
    /// assert_eq!(empty.field(), Some("name"));
    /// let by_zero = Condition::new("half", "fee", ConditionTarget::Total, "/0").unwrap_err();
    /// assert_eq!(by_zero.field(), Some("value"));
    /// # Ok::<(), axum_cart::cart::Error>(())
    /// ```
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

    /// Returns the name, which is unique within its cart or item.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the kind: `discount`, `tax`, `fee`, `shipping` or another word.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Returns what the condition applies to: an item's unit price, the subtotal or the total.
    pub fn target(&self) -> ConditionTarget {
        self.target
    }

    /// Returns the parsed value, e.g. `-10%`.
    pub fn value(&self) -> ConditionValue {
        self.value
    }

    /// Returns the order: lower applies first within its stage.
    pub fn order(&self) -> i32 {
        self.order
    }

    /// Returns the rules that must all hold for the condition to apply.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub(crate) fn set_target(&mut self, target: ConditionTarget) {
        self.target = target;
    }

    pub(crate) fn set_value(&mut self, value: ConditionValue) {
        self.value = value;
    }

    /// Checks the condition against the cart's currency and limits, and that its text can be
    /// stored. Not done by [`Condition::new`] or when reading a stored cart: only a condition
    /// entering a cart is refused.
    pub(crate) fn validate(&self, currency: Currency, max_name: usize) -> Result<(), Error> {
        let length = self.name.chars().count();
        if length > max_name {
            return Err(Error::limit("name", max_name as u64, length as u64));
        }
        hygiene::check_text("condition.name", &self.name)?;
        hygiene::check_text("type", &self.kind)?;
        self.value.check_currency(currency, "value")?;
        if self.rules.len() > MAX_RULES {
            return Err(Error::limit(
                "rules",
                MAX_RULES as u64,
                self.rules.len() as u64,
            ));
        }
        for rule in &self.rules {
            if rule.is_item_only() && self.target != ConditionTarget::Item {
                return Err(Error::validation(
                    "rules",
                    "item_quantity_at_least applies only to item conditions",
                ));
            }
            rule.validate(currency)?;
        }
        Ok(())
    }

    /// Whether every rule holds; `item_quantity` is the quantity of the line an item condition
    /// belongs to, `None` for a cart condition.
    pub(crate) fn applies(&self, cx: &RuleContext<'_>, item_quantity: Option<u32>) -> bool {
        self.rules.iter().all(|rule| rule.holds(cx, item_quantity))
    }
}

/// Inserts `condition` into `list`, replacing one of the same name in place.
pub(crate) fn upsert(list: &mut Vec<Condition>, condition: Condition) {
    match list.iter_mut().find(|c| c.name == condition.name) {
        Some(existing) => *existing = condition,
        None => list.push(condition),
    }
}

/// Removes the condition named `name` from `list` and returns it.
pub(crate) fn remove_named(list: &mut Vec<Condition>, name: &str) -> Result<Condition, Error> {
    let at = list
        .iter()
        .position(|c| c.name == name)
        .ok_or_else(|| Error::ConditionNotFound {
            name: name.to_owned(),
        })?;
    Ok(list.remove(at))
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

    #[test]
    fn fixed_amounts_must_fit_the_currency() {
        let c = Condition::new("x", "fee", ConditionTarget::Total, "+0.001").unwrap();
        assert!(c.validate(Currency::USD, 255).is_err());
        assert!(c.validate(Currency::new("KWD", 3).unwrap(), 255).is_ok());
    }

    #[test]
    fn item_rules_only_on_item_conditions() {
        let rule = Rule::ItemQuantityAtLeast { value: 2 };
        let cart = Condition::new("x", "discount", ConditionTarget::Subtotal, "-5%")
            .unwrap()
            .with_rule(rule.clone());
        assert_eq!(
            cart.validate(Currency::USD, 255).unwrap_err().field(),
            Some("rules")
        );
        let item = Condition::new("x", "discount", ConditionTarget::Item, "-5%")
            .unwrap()
            .with_rule(rule);
        assert!(item.validate(Currency::USD, 255).is_ok());
    }

    #[test]
    fn application_order_is_by_order_then_insertion() {
        let c = |name: &str, order| {
            Condition::new(name, "fee", ConditionTarget::Total, "+1")
                .unwrap()
                .with_order(order)
        };
        let mut list = vec![c("a", 0), c("b", 0)];
        upsert(&mut list, c("a", 5));
        upsert(&mut list, c("d", -1));
        let names: Vec<&str> = in_application_order(list.iter())
            .map(Condition::name)
            .collect();
        assert_eq!(names, ["d", "b", "a"]);
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
