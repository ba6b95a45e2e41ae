//! A shopping cart for axum.
#![deny(missing_docs)]

pub mod cart;
pub mod error;
pub mod storage;

pub use cart::{
    CartContents, CartItem, Condition, ConditionInput, ConditionTarget, ConditionValue, Currency,
    ItemInput, ItemUpdate, ItemUpdateInput, Limits, MergeReport, MergeStrategy, Money,
    QuantityChange, RoundingMode, Rule, Totals, merge,
};
pub use error::{CartError, ConflictInfo};
pub use storage::{
    CartKey, CartStorage, MemoryStorage, Modified, ModifyOptions, SessionStorage, StorageError,
    Versioned,
};
