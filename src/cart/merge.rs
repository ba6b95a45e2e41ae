//! Merging a guest cart into a user's cart at login.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::condition;
use super::contents::CartContents;
use super::error::Error;

/// How lines present in both carts are combined. Lines only in the guest cart are always added
/// (while the line limit allows); cart conditions and metadata keys already in the user's cart win.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeStrategy {
    /// Sum both quantities (clamped to the quantity limit).
    #[default]
    AddQuantities,
    /// Keep the higher of both quantities.
    KeepHighestQuantity,
    /// Keep the user's line as it is.
    KeepUserCart,
    /// The guest's lines replace the user's: shared lines take the guest's line, and user-only
    /// lines are dropped.
    ReplaceWithGuest,
}

impl MergeStrategy {
    /// The names accepted in configuration.
    pub const NAMES: &'static str =
        "add_quantities, keep_highest_quantity, keep_user_cart, replace_with_guest";
}

impl FromStr for MergeStrategy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "add_quantities" => Ok(MergeStrategy::AddQuantities),
            "keep_highest_quantity" => Ok(MergeStrategy::KeepHighestQuantity),
            "keep_user_cart" => Ok(MergeStrategy::KeepUserCart),
            "replace_with_guest" => Ok(MergeStrategy::ReplaceWithGuest),
            other => Err(Error::validation(
                "merge_strategy",
                format!("`{other}` is not one of {}", MergeStrategy::NAMES),
            )),
        }
    }
}

impl fmt::Display for MergeStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MergeStrategy::AddQuantities => "add_quantities",
            MergeStrategy::KeepHighestQuantity => "keep_highest_quantity",
            MergeStrategy::KeepUserCart => "keep_user_cart",
            MergeStrategy::ReplaceWithGuest => "replace_with_guest",
        })
    }
}

/// What a merge did, line by line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MergeReport {
    /// Guest lines added to the user's cart.
    pub added: Vec<String>,
    /// Lines in both carts, combined by the strategy.
    pub combined: Vec<String>,
    /// Lines whose quantity was cut to the quantity limit.
    pub clamped: Vec<String>,
    /// Lines left out: over the line limit, in another currency, or user lines replaced away.
    pub dropped: Vec<String>,
    /// Guest cart conditions added (the user's win on a name clash).
    pub conditions_added: Vec<String>,
    /// Guest metadata keys added (the user's win on a clash).
    pub metadata_added: Vec<String>,
}

impl MergeReport {
    /// Returns `true` when the merge changed nothing.
    pub fn is_noop(&self) -> bool {
        self.added.is_empty()
            && self.clamped.is_empty()
            && self.dropped.is_empty()
            && self.conditions_added.is_empty()
            && self.metadata_added.is_empty()
            && self.combined.is_empty()
    }
}

/// Merges `source` (the guest's cart) into `target` (the user's) with `strategy`, within the
/// target's limits. Pure: no I/O, and the source is left alone.
///
/// ```
/// use axum_cart::cart::{CartContents, CartItem, Currency, Money, MergeStrategy, merge};
/// let usd = |s| Money::parse(s, Currency::USD).unwrap();
/// let mut user = CartContents::new(Currency::USD);
/// user.add(CartItem::new("a", "Apple", usd("1.00"), 2)).unwrap();
/// let mut guest = CartContents::new(Currency::USD);
/// guest.add(CartItem::new("a", "Apple", usd("1.00"), 3)).unwrap();
/// guest.add(CartItem::new("b", "Bread", usd("2.50"), 1)).unwrap();
/// let report = merge(&mut user, &guest, MergeStrategy::AddQuantities);
/// assert_eq!(user.get("a").unwrap().quantity(), 5);
/// assert_eq!(report.added, vec!["b".to_string()]);
/// ```
pub fn merge(
    target: &mut CartContents,
    source: &CartContents,
    strategy: MergeStrategy,
) -> MergeReport {
    let mut report = MergeReport::default();
    let limits = *target.limits();
    let max_quantity = limits.max_quantity;
    let same_currency = target.currency() == source.currency();

    if strategy == MergeStrategy::ReplaceWithGuest && same_currency {
        let guest_ids: Vec<&str> = source.items().iter().map(|i| i.id()).collect();
        let dropped: Vec<String> = target
            .items()
            .iter()
            .filter(|i| !guest_ids.contains(&i.id()))
            .map(|i| i.id().to_owned())
            .collect();
        report.dropped.extend(dropped);
        let guest_items = source.items().to_vec();
        let kept: Vec<_> = guest_items.into_iter().take(limits.max_lines).collect();
        for item in &kept {
            if target.has(item.id()) {
                report.combined.push(item.id().to_owned());
            } else {
                report.added.push(item.id().to_owned());
            }
        }
        report.dropped.extend(
            source
                .items()
                .iter()
                .skip(limits.max_lines)
                .map(|i| i.id().to_owned()),
        );
        let mut kept = kept;
        for item in &mut kept {
            if item.quantity > max_quantity {
                item.quantity = max_quantity;
                report.clamped.push(item.id.to_string());
            }
        }
        target.replace_items(kept);
    } else {
        for guest in source.items() {
            if !same_currency {
                report.dropped.push(guest.id().to_owned());
                continue;
            }
            let lines = target.items().len();
            match target
                .items_mut()
                .iter_mut()
                .find(|line| line.id == guest.id)
            {
                Some(line) => {
                    let wanted = match strategy {
                        MergeStrategy::AddQuantities => {
                            u64::from(line.quantity) + u64::from(guest.quantity)
                        }
                        MergeStrategy::KeepHighestQuantity => {
                            u64::from(line.quantity.max(guest.quantity))
                        }
                        MergeStrategy::KeepUserCart | MergeStrategy::ReplaceWithGuest => {
                            u64::from(line.quantity)
                        }
                    };
                    let quantity = wanted.min(u64::from(max_quantity)) as u32;
                    if wanted > u64::from(max_quantity) {
                        report.clamped.push(line.id.to_string());
                    }
                    if quantity != line.quantity {
                        line.quantity = quantity;
                        report.combined.push(line.id.to_string());
                    }
                }
                None if lines >= limits.max_lines => report.dropped.push(guest.id().to_owned()),
                None => {
                    let mut item = guest.clone();
                    if item.quantity > max_quantity {
                        item.quantity = max_quantity;
                        report.clamped.push(item.id.to_string());
                    }
                    report.added.push(item.id.to_string());
                    target.items_mut().push(item);
                }
            }
        }
    }

    if same_currency {
        for guest in source.conditions() {
            let present = target.condition(guest.name()).is_some();
            if !present && target.conditions().len() < limits.max_conditions {
                condition::upsert(target.conditions_mut(), guest.clone());
                report.conditions_added.push(guest.name().to_owned());
            }
        }
    }
    for (key, value) in source.metadata() {
        if !target.metadata().contains_key(key) {
            target.metadata_mut().insert(key.clone(), value.clone());
            report.metadata_added.push(key.clone());
        }
    }
    report
}
