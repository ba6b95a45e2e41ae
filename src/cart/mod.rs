//! The cart domain: money, items, conditions, totals and merging. Pure data and functions: no
//! I/O, no HTTP. Operations that refuse their input return [`Error`].
//!
//! Driver authors meet [`CartContents`] (the stored document) here; handler authors mostly use
//! the [`Cart`](crate::Cart) handle, which wraps these operations in atomic writes.
//!
//! Files and their imports point one way: `error` ← `currency` ← `money` ← `value`, `rule` ←
//! `condition` ← `item` ← `totals` ← `contents` ← `lines`, `adjustments`, `metadata`,
//! `document`, `merge`. `limits` and `hygiene` depend on `error` alone; `limits` is used from
//! `contents` on, `hygiene` from `rule` on.

mod adjustments;
mod condition;
mod contents;
mod currency;
mod document;
mod error;
mod hygiene;
mod item;
mod limits;
mod lines;
mod merge;
mod metadata;
mod minor_units;
mod money;
mod rule;
mod timestamp;
mod totals;
mod value;
mod writes;

pub use condition::{Condition, ConditionInput, ConditionTarget};
pub use contents::CartContents;
pub use currency::Currency;
pub use document::SCHEMA_VERSION;
pub use error::Error;
pub use hygiene::MAX_JSON_DEPTH;
pub use item::{AddItem, CartItem, ItemUpdate, ItemUpdateInput, PricedItemInput, QuantityChange};
pub use limits::Limits;
pub use merge::{MergeReport, MergeStrategy, merge};
pub use money::{Money, RoundingMode};
pub use rule::Rule;
pub(crate) use timestamp::now_to_the_second;
pub use totals::{LineTotal, Stage, Step, Totals};
pub use value::ConditionValue;
pub use writes::{MergeRecord, REMEMBERED_MERGES, REMEMBERED_WRITES};
