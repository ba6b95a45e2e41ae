//! Totals, with a step-by-step breakdown of how they were reached.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::condition::{Condition, ConditionTarget, in_application_order};
use super::currency::Currency;
use super::error::Error;
use super::item::CartItem;
use super::money::{Money, RoundingMode, serialize_decimal};
use super::rule::RuleContext;
use super::value::ConditionValue;

/// Where in the pipeline a step happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    /// An item condition on the unit price of the line `id`.
    Item {
        /// The line's item id.
        id: Arc<str>,
    },
    /// A cart condition on the subtotal.
    Subtotal,
    /// A cart condition on the total.
    Total,
}

/// One applied condition: what it was applied to, what it changed, what came out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Where it happened.
    #[serde(flatten)]
    pub stage: Stage,
    /// The condition's name.
    pub condition: String,
    /// The condition's kind.
    #[serde(rename = "type")]
    pub kind: String,
    /// The condition's value (serialized as written, `-10%`).
    pub value: ConditionValue,
    /// The amount before the step.
    #[serde(serialize_with = "serialize_decimal")]
    pub base: Money,
    /// `result - base`.
    #[serde(serialize_with = "serialize_decimal")]
    pub change: Money,
    /// The amount after the step.
    #[serde(serialize_with = "serialize_decimal")]
    pub result: Money,
}

/// The totals of one line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineTotal {
    /// The item id.
    pub id: Arc<str>,
    /// The quantity.
    pub quantity: u32,
    /// The unit price before item conditions.
    #[serde(serialize_with = "serialize_decimal")]
    pub unit_price: Money,
    /// The unit price after item conditions.
    #[serde(serialize_with = "serialize_decimal")]
    pub unit_price_with_conditions: Money,
    /// `unit_price_with_conditions × quantity`.
    #[serde(serialize_with = "serialize_decimal")]
    pub line_total: Money,
}

/// Every total of a cart, and the steps that led to them. Serialized, amounts are decimal strings
/// in the cart's currency.
///
/// The pipeline: (1) each item's conditions apply to its unit price, × quantity = line total;
/// (2) Σ line totals = items subtotal; (3) `subtotal` cart conditions in (`order`, insertion) order
/// = subtotal; (4) `total` cart conditions in the same order = total. Each step's result is rounded
/// with the cart's rounding mode and clamped at zero. Conditions whose rules do not hold are skipped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Σ unit price × quantity, before any condition.
    #[serde(serialize_with = "serialize_decimal")]
    pub subtotal_without_conditions: Money,
    /// Σ line totals (after item conditions).
    #[serde(serialize_with = "serialize_decimal")]
    pub items_subtotal: Money,
    /// After the `subtotal` conditions.
    #[serde(serialize_with = "serialize_decimal")]
    pub subtotal: Money,
    /// After the `total` conditions.
    #[serde(serialize_with = "serialize_decimal")]
    pub total: Money,
    /// What the discounts took off: the sum of the reductions made by the steps of conditions of
    /// kind `discount` (item steps × the line's quantity, and cart steps), so a tax, a fee or
    /// shipping never shrinks it. The kind decides, not the value: a `discount` that raises an
    /// amount saves nothing, and a condition of another kind that lowers one is not a saving.
    #[serde(serialize_with = "serialize_decimal")]
    pub savings: Money,
    /// Sum of quantities.
    pub count: u64,
    /// Distinct lines.
    pub lines: usize,
    /// Per-line totals, in cart order.
    pub line_totals: Vec<LineTotal>,
    /// Every applied condition, in application order.
    pub steps: Vec<Step>,
}

/// The kind whose steps count as savings.
const DISCOUNT: &str = "discount";

/// Which conditions a computation applies, and how.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// The totals now: the conditions whose rules hold.
    Now,
    /// A ceiling over every moment and every state of the rules: a condition with rules may
    /// apply or not, so its step passes on the larger of its base and its result; one without
    /// rules applies as usual. Each step is monotone in its base, so no choice of rules (a date
    /// window opening later, say) can reach beyond the ceiling.
    Ceiling,
}

/// Applies one condition to `base`. Returns the amount passed on to the next step and the
/// reduction it counts as savings (per unit, for an item step).
fn apply_step(
    condition: &Condition,
    stage: Stage,
    base: Money,
    rounding: RoundingMode,
    pass: Pass,
    steps: &mut Vec<Step>,
) -> Result<(Money, i128), Error> {
    let mut result = condition.value().apply(base, rounding)?;
    let discount = condition.kind() == DISCOUNT;
    let lowered = i128::from(base.minor_units()) - i128::from(result.minor_units());
    let mut saved = if discount { lowered.max(0) } else { 0 };
    if pass == Pass::Ceiling {
        if lowered > 0 && !condition.rules().is_empty() {
            result = base;
        }
        // From a lower base, rounding can make a reduction one minor unit larger.
        if discount {
            saved += 1;
        }
    }
    steps.push(Step {
        stage,
        condition: condition.name().to_owned(),
        kind: condition.kind().to_owned(),
        value: condition.value(),
        base,
        change: result.checked_sub(base)?,
        result,
    });
    Ok((result, saved))
}

/// The parts of a cart that its totals are computed from.
pub(crate) struct TotalsInput<'a> {
    /// The cart's currency.
    pub(crate) currency: Currency,
    /// The rounding mode used at each condition step.
    pub(crate) rounding: RoundingMode,
    /// The lines, in cart order.
    pub(crate) items: &'a [CartItem],
    /// The cart conditions, in insertion order.
    pub(crate) conditions: &'a [Condition],
    /// The cart's metadata, for rules.
    pub(crate) metadata: &'a Map<String, Value>,
    /// The time date-window rules are evaluated at.
    pub(crate) now: OffsetDateTime,
}

impl Totals {
    /// Runs the pipeline described on [`Totals`] over the parts of one cart.
    pub(crate) fn compute(input: TotalsInput<'_>) -> Result<Totals, Error> {
        Totals::run(input, Pass::Now)
    }

    /// Checks that the totals fit in 64-bit minor units whichever rules hold, now or at any
    /// later time: a cart that passes can be totalled whenever it is read.
    pub(crate) fn check_ceiling(input: TotalsInput<'_>) -> Result<(), Error> {
        Totals::run(input, Pass::Ceiling).map(|_| ())
    }

    fn run(input: TotalsInput<'_>, pass: Pass) -> Result<Totals, Error> {
        let TotalsInput {
            currency,
            rounding,
            items,
            conditions,
            metadata,
            now,
        } = input;
        let mut subtotal_without_conditions = Money::zero(currency);
        let mut count = 0u64;
        for item in items {
            subtotal_without_conditions = subtotal_without_conditions
                .checked_add(item.price.checked_mul(i64::from(item.quantity))?)?;
            count += u64::from(item.quantity);
        }
        let has_item = |id: &str| items.iter().any(|item| *item.id == *id);
        let cx = RuleContext {
            lines: items.len(),
            quantity: count,
            subtotal_without_conditions,
            metadata,
            now,
            has_item: &has_item,
        };
        let applies = |condition: &Condition, item_quantity: Option<u32>| {
            pass == Pass::Ceiling || condition.applies(&cx, item_quantity)
        };

        let mut steps = Vec::new();
        let mut saved = 0i128;
        let mut line_totals = Vec::with_capacity(items.len());
        let mut items_subtotal = Money::zero(currency);
        for item in items {
            let mut unit = item.price;
            if !item.conditions.is_empty() {
                let ordered = in_application_order(item.conditions.iter());
                for condition in ordered.filter(|c| applies(c, Some(item.quantity))) {
                    let stage = Stage::Item {
                        id: item.id.clone(),
                    };
                    let (next, per_unit) =
                        apply_step(condition, stage, unit, rounding, pass, &mut steps)?;
                    unit = next;
                    saved = saved.saturating_add(per_unit * i128::from(item.quantity));
                }
            }
            let line_total = unit.checked_mul(i64::from(item.quantity))?;
            items_subtotal = items_subtotal.checked_add(line_total)?;
            if pass == Pass::Ceiling {
                // The ceiling's totals are checked, never shown.
                continue;
            }
            line_totals.push(LineTotal {
                id: item.id.clone(),
                quantity: item.quantity,
                unit_price: item.price,
                unit_price_with_conditions: unit,
                line_total,
            });
        }

        let cart_stage = |target: ConditionTarget| {
            in_application_order(conditions.iter().filter(move |c| c.target() == target))
        };
        let mut subtotal = items_subtotal;
        for condition in cart_stage(ConditionTarget::Subtotal) {
            if applies(condition, None) {
                let (next, cut) = apply_step(
                    condition,
                    Stage::Subtotal,
                    subtotal,
                    rounding,
                    pass,
                    &mut steps,
                )?;
                subtotal = next;
                saved = saved.saturating_add(cut);
            }
        }
        let mut total = subtotal;
        for condition in cart_stage(ConditionTarget::Total) {
            if applies(condition, None) {
                let (next, cut) =
                    apply_step(condition, Stage::Total, total, rounding, pass, &mut steps)?;
                total = next;
                saved = saved.saturating_add(cut);
            }
        }
        let savings = i64::try_from(saved)
            .map(|minor| Money::from_minor(minor, currency))
            .map_err(|_| Error::overflow("savings"))?;
        Ok(Totals {
            subtotal_without_conditions,
            items_subtotal,
            subtotal,
            total,
            savings,
            count,
            lines: items.len(),
            line_totals,
            steps,
        })
    }

    /// Returns the line total of item `id`, or `None` when the cart has no such line.
    pub fn line_total(&self, id: &str) -> Option<Money> {
        self.line_totals
            .iter()
            .find(|line| &*line.id == id)
            .map(|line| line.line_total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cart::Rule;

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    fn condition(name: &str, target: ConditionTarget, value: &str) -> Condition {
        Condition::new(name, "test", target, value).unwrap()
    }

    fn compute(items: &[CartItem], conditions: &[Condition]) -> Totals {
        Totals::compute(TotalsInput {
            currency: Currency::USD,
            rounding: RoundingMode::HalfUp,
            items,
            conditions,
            metadata: &Map::new(),
            now: OffsetDateTime::UNIX_EPOCH,
        })
        .unwrap()
    }

    #[test]
    fn subtotal_conditions_then_total_conditions() {
        let items = [
            CartItem::new("lamp", "Desk lamp", usd("100.00"), 1),
            CartItem::new("mug", "Mug", usd("50.00"), 2),
        ];
        // Listed total-first: the stage decides, not the list order.
        let conditions = [
            condition("shipping", ConditionTarget::Total, "+9.99"),
            condition("spring", ConditionTarget::Subtotal, "-10%"),
            condition("vat", ConditionTarget::Total, "+15%").with_order(-1),
        ];
        let totals = compute(&items, &conditions);
        assert_eq!(totals.subtotal_without_conditions, usd("200.00"));
        assert_eq!(totals.items_subtotal, usd("200.00"));
        assert_eq!(totals.subtotal, usd("180.00"));
        assert_eq!(totals.total, usd("216.99"));
        assert_eq!(totals.savings, usd("0.00"));
        assert_eq!((totals.count, totals.lines), (3, 2));
        let steps: Vec<(&str, Money)> = totals
            .steps
            .iter()
            .map(|s| (s.condition.as_str(), s.result))
            .collect();
        assert_eq!(
            steps,
            [
                ("spring", usd("180.00")),
                ("vat", usd("207.00")),
                ("shipping", usd("216.99"))
            ]
        );
    }

    #[test]
    fn item_conditions_see_their_own_quantity() {
        let bulk = condition("bulk", ConditionTarget::Item, "-10%")
            .with_rule(Rule::ItemQuantityAtLeast { value: 2 });
        let items = [
            CartItem::new("a", "A", usd("10.00"), 1).with_condition(bulk.clone()),
            CartItem::new("b", "B", usd("10.00"), 2).with_condition(bulk),
        ];
        let only_with_b = condition("b-bonus", ConditionTarget::Subtotal, "-1.00")
            .with_rule(Rule::HasItem { id: "b".into() });
        let totals = compute(&items, &[only_with_b]);
        assert_eq!(totals.line_total("a"), Some(usd("10.00")));
        assert_eq!(totals.line_total("b"), Some(usd("18.00")));
        assert_eq!(totals.subtotal, usd("27.00"));
        assert_eq!(totals.line_total("c"), None);
    }
}
