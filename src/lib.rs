#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod cart;
pub mod error;
pub mod event;
pub mod extract;
pub mod identify;
pub mod layer;
pub mod manager;
pub mod settings;
pub mod storage;
pub mod view;

pub use cart::{
    CartContents, CartItem, Condition, ConditionInput, ConditionTarget, ConditionValue, Currency,
    ItemInput, ItemUpdate, ItemUpdateInput, Limits, MergeReport, MergeStrategy, Money,
    QuantityChange, RoundingMode, Rule, Totals, merge,
};
pub use error::{CartError, ConflictInfo};
pub use event::{CartEvent, CartEventKind};
pub use extract::Cart;
pub use identify::{CookieConfig, IdentifierMode, SessionUserResolver, UserResolver};
pub use layer::{CartConfig, CartLayer, CartService};
pub use manager::{CartManager, StorageChoice};
pub use settings::{CartSettings, SettingsError};
pub use storage::{
    CartKey, CartStorage, DualWriteStorage, MemoryStorage, MigrateOptions, MigrationReport,
    Modified, ModifyOptions, SessionStorage, StorageError, Versioned, migrate, migrate_identifier,
};
pub use view::CartView;

#[cfg(feature = "postgres")]
pub use storage::postgres::PostgresStorage;
#[cfg(feature = "redis")]
pub use storage::redis::RedisStorage;
