#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod cart;
mod config;
mod error;
mod event;
mod extract;
mod handle;
mod identify;
mod layer;
mod login;
mod manager;
mod request;
pub mod settings;
pub mod storage;
mod view;

pub use cart::{
    CartContents, CartItem, Condition, ConditionInput, ConditionTarget, ConditionValue, Currency,
    ItemInput, ItemUpdate, ItemUpdateInput, Limits, MergeReport, MergeStrategy, Money,
    QuantityChange, RoundingMode, Rule, Totals, merge,
};
pub use config::{CartConfig, StorageMode};
pub use error::CartError;
pub use event::{CartEvent, CartEventKind};
pub use handle::Cart;
pub use identify::{CookieConfig, IdentifierMode, SessionUserResolver, UserResolver};
pub use layer::{CartLayer, CartService, ResponseFuture};
pub use manager::CartManager;
pub use settings::{CartSettings, SettingsError};
pub use storage::{
    CartKey, CartStorage, ConflictInfo, DualWriteStorage, MemoryStorage, MigrateOptions, MigrationReport,
    Modified, ModifyOptions, SessionStorage, StorageError, Versioned, migrate, migrate_identifier,
};
pub use view::CartView;

#[cfg(feature = "postgres")]
pub use storage::PostgresStorage;
#[cfg(feature = "redis")]
pub use storage::RedisStorage;
