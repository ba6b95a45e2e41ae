//! `CartView`: the JSON shape of a cart with its totals, as the example shop answers it.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::cart;
use crate::cart::{CartContents, Condition, Step, Totals};

/// One line of a [`CartView`].
#[derive(Clone, Debug, Serialize)]
pub struct LineView {
    /// Item id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Unit price, decimal string.
    pub price: String,
    /// Quantity.
    pub quantity: u32,
    /// Attributes.
    pub attributes: Map<String, Value>,
    /// Item conditions.
    pub conditions: Vec<Condition>,
    /// Unit price after item conditions × quantity, decimal string.
    pub line_total: String,
}

/// A cart with its totals, money as decimal strings:
/// `{identifier, instance, version, currency, items, conditions, metadata, count, lines,
/// subtotal_without_conditions, subtotal, total, savings, breakdown}`.
#[derive(Clone, Debug, Serialize)]
pub struct CartView {
    /// The cart identifier.
    pub identifier: String,
    /// The instance.
    pub instance: String,
    /// The stored version (0: not stored yet).
    pub version: u64,
    /// Currency code.
    pub currency: String,
    /// Lines.
    pub items: Vec<LineView>,
    /// Cart conditions.
    pub conditions: Vec<Condition>,
    /// Metadata.
    pub metadata: Map<String, Value>,
    /// Sum of quantities.
    pub count: u64,
    /// Distinct lines.
    pub lines: usize,
    /// Σ price × quantity.
    pub subtotal_without_conditions: String,
    /// After subtotal conditions.
    pub subtotal: String,
    /// After total conditions.
    pub total: String,
    /// What the conditions took off, never negative.
    pub savings: String,
    /// Every applied condition step.
    pub breakdown: Vec<Step>,
}

impl CartView {
    /// Builds the view of `contents` at `version`.
    pub fn new(
        identifier: &str,
        instance: &str,
        version: u64,
        contents: &CartContents,
    ) -> Result<CartView, cart::Error> {
        let totals: Totals = contents.totals()?;
        let items = contents
            .items()
            .iter()
            .zip(&totals.line_totals)
            .map(|(item, line)| LineView {
                id: item.id().to_owned(),
                name: item.name().to_owned(),
                price: item.price().to_string(),
                quantity: item.quantity(),
                attributes: item.attributes().clone(),
                conditions: item.conditions().to_vec(),
                line_total: line.line_total.to_string(),
            })
            .collect();
        Ok(CartView {
            identifier: identifier.to_owned(),
            instance: instance.to_owned(),
            version,
            currency: contents.currency().code().to_owned(),
            items,
            conditions: contents.conditions().to_vec(),
            metadata: contents.metadata().clone(),
            count: totals.count,
            lines: totals.lines,
            subtotal_without_conditions: totals.subtotal_without_conditions.to_string(),
            subtotal: totals.subtotal.to_string(),
            total: totals.total.to_string(),
            savings: totals.savings.to_string(),
            breakdown: totals.steps,
        })
    }
}
