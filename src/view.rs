//! `CartView`: the JSON shape of a cart with its totals, as the example shop answers it.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::cart;
use crate::cart::{CartContents, Condition, Step, Totals};
use crate::protocol::cart_tag;

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

/// Something the shopper should be told about the cart, e.g.
/// `{"kind": "price_changed", "id": "tee", "old": "19.90", "new": "21.00"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Notice {
    /// The catalogue price of a line moved and the line follows it.
    PriceChanged {
        /// The item id.
        id: String,
        /// The unit price before, decimal string.
        old: String,
        /// The unit price now, decimal string.
        new: String,
    },
}

/// A cart with its totals, money as decimal strings:
/// `{identifier, instance, version, currency, items, conditions, metadata, count, lines,
/// subtotal_without_conditions, subtotal, total, savings, breakdown, notices}`.
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
    /// What the shopper should be told (a moved price, ...).
    pub notices: Vec<Notice>,
}

impl CartView {
    /// The view's strong entity tag, quotes included: `"<id>.<version>.<pricing>"`, where `<id>`
    /// is a short hash of the identifier and instance, `<version>` the stored version and
    /// `<pricing>` a short hash of the line prices, the totals and the notices, so that a
    /// catalogue price move changes the tag although the stored cart did not change.
    pub fn etag(&self) -> String {
        let lines: Vec<(&str, &str, &str)> = self
            .items
            .iter()
            .map(|line| {
                (
                    line.id.as_str(),
                    line.price.as_str(),
                    line.line_total.as_str(),
                )
            })
            .collect();
        let pricing = serde_json::to_vec(&(
            lines,
            &self.subtotal,
            &self.total,
            &self.savings,
            &self.notices,
        ))
        // Strings and a derived enum always serialize; an empty input still gives a tag.
        .unwrap_or_default();
        cart_tag(&self.identifier, &self.instance, self.version, &pricing)
    }

    /// Builds the view of `contents` at `version`, with a `price_changed` notice for every line a
    /// read re-priced under a policy that tells.
    ///
    /// # Errors
    ///
    /// [`cart::Error::Overflow`] when the totals overflow.
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
        let notices = contents
            .items()
            .iter()
            .filter_map(|item| match item.repriced_from() {
                Some((old, true)) if old != item.price() => Some(Notice::PriceChanged {
                    id: item.id().to_owned(),
                    old: old.to_string(),
                    new: item.price().to_string(),
                }),
                _ => None,
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
            notices,
        })
    }
}
