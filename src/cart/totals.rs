//! Totals, with a step-by-step breakdown of how they were reached.

use std::sync::Arc;

use serde::Serialize;
use time::OffsetDateTime;

use super::condition::{Condition, ConditionValue, RuleContext, in_application_order};
use super::contents::CartContents;
use super::money::{Money, serialize_decimal};
use crate::cart::ConditionTarget;
use super::error::Error;

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
    /// `subtotal_without_conditions - total`, never below zero.
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

fn apply_step(
    condition: &Condition,
    stage: Stage,
    base: Money,
    cart: &CartContents,
    steps: &mut Vec<Step>,
) -> Result<Money, Error> {
    let result = condition.value().apply(base, cart.rounding())?;
    steps.push(Step {
        stage,
        condition: condition.name().to_owned(),
        kind: condition.kind().to_owned(),
        value: condition.value(),
        base,
        change: result.checked_sub(base)?,
        result,
    });
    Ok(result)
}

impl Totals {
    pub(crate) fn compute(cart: &CartContents, now: OffsetDateTime) -> Result<Totals, Error> {
        let currency = cart.currency();
        let mut subtotal_without_conditions = Money::zero(currency);
        let mut count = 0u64;
        for item in cart.items() {
            subtotal_without_conditions = subtotal_without_conditions
                .checked_add(item.price.checked_mul(i64::from(item.quantity))?)?;
            count += u64::from(item.quantity);
        }
        let cx = RuleContext {
            items: cart.items(),
            quantity: count,
            subtotal_without_conditions,
            metadata: cart.metadata(),
            now,
        };

        let mut steps = Vec::new();
        let mut line_totals = Vec::with_capacity(cart.items().len());
        let mut items_subtotal = Money::zero(currency);
        for item in cart.items() {
            let mut unit = item.price;
            if !item.conditions.is_empty() {
                let ordered = in_application_order(item.conditions.iter());
                for condition in ordered.filter(|c| c.applies(&cx, Some(item))) {
                    let stage = Stage::Item {
                        id: item.id.clone(),
                    };
                    unit = apply_step(condition, stage, unit, cart, &mut steps)?;
                }
            }
            let line_total = unit.checked_mul(i64::from(item.quantity))?;
            items_subtotal = items_subtotal.checked_add(line_total)?;
            line_totals.push(LineTotal {
                id: item.id.clone(),
                quantity: item.quantity,
                unit_price: item.price,
                unit_price_with_conditions: unit,
                line_total,
            });
        }

        let cart_stage = |target: ConditionTarget| {
            in_application_order(
                cart.conditions()
                    .iter()
                    .filter(move |c| c.target() == target),
            )
        };
        let mut subtotal = items_subtotal;
        for condition in cart_stage(ConditionTarget::Subtotal) {
            if condition.applies(&cx, None) {
                subtotal = apply_step(condition, Stage::Subtotal, subtotal, cart, &mut steps)?;
            }
        }
        let mut total = subtotal;
        for condition in cart_stage(ConditionTarget::Total) {
            if condition.applies(&cx, None) {
                total = apply_step(condition, Stage::Total, total, cart, &mut steps)?;
            }
        }
        let savings = subtotal_without_conditions
            .checked_sub(total)?
            .at_least_zero();
        Ok(Totals {
            subtotal_without_conditions,
            items_subtotal,
            subtotal,
            total,
            savings,
            count,
            lines: cart.items().len(),
            line_totals,
            steps,
        })
    }

    /// The line total of item `id`.
    pub fn line_total(&self, id: &str) -> Option<Money> {
        self.line_totals
            .iter()
            .find(|line| &*line.id == id)
            .map(|line| line.line_total)
    }
}
