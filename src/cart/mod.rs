//! The cart domain: money, items, conditions, totals and merging. Pure data and functions: no
//! I/O, no HTTP. Operations that refuse their input return [`Error`].
//!
//! Driver authors meet [`CartContents`] (the stored document) here; handler authors mostly use
//! the [`Cart`](crate::Cart) handle, which wraps these operations in atomic writes.

mod condition;
mod contents;
mod error;
mod item;
mod merge;
mod money;
mod totals;

pub use condition::{Condition, ConditionInput, ConditionTarget, ConditionValue, Rule};
pub use contents::{CartContents, Limits, SCHEMA_VERSION};
pub use error::Error;
pub use item::{CartItem, ItemInput, ItemUpdate, ItemUpdateInput, QuantityChange};
pub use merge::{MergeReport, MergeStrategy, merge};
pub use money::{Currency, Money, RoundingMode};
pub use totals::{LineTotal, Stage, Step, Totals};
