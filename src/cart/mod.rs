//! The cart domain: money, items, conditions, totals and merging. Pure data and functions, no I/O.

pub mod condition;
pub mod contents;
pub mod item;
pub mod merge;
pub mod money;
pub mod totals;

pub use condition::{Condition, ConditionInput, ConditionTarget, ConditionValue, Rule};
pub use contents::{CartContents, Limits, SCHEMA_VERSION};
pub use item::{CartItem, ItemInput, ItemUpdate, ItemUpdateInput, QuantityChange};
pub use merge::{MergeReport, MergeStrategy, merge};
pub use money::{Currency, Money, RoundingMode};
pub use totals::{LineTotal, Stage, Step, Totals};
