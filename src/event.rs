//! Events: what happened to a cart, told to listeners after each committed change.

use serde::Serialize;

use crate::cart::MergeReport;

/// What changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CartEventKind {
    /// The cart was stored for the first time (sent before the event of the change that created it).
    Created,
    /// An item was added (or its quantity grown by adding it again).
    ItemAdded {
        /// The item id.
        id: String,
    },
    /// An item was changed.
    ItemUpdated {
        /// The item id.
        id: String,
    },
    /// An item was removed (also by an update to quantity 0).
    ItemRemoved {
        /// The item id.
        id: String,
    },
    /// A cart or item condition was added or replaced.
    ConditionAdded {
        /// The condition's name.
        name: String,
        /// The item, for an item condition.
        item: Option<String>,
    },
    /// A cart or item condition was removed.
    ConditionRemoved {
        /// The condition's name (`*` for clearing all).
        name: String,
        /// The item, for an item condition.
        item: Option<String>,
    },
    /// Metadata was set or removed.
    MetadataChanged {
        /// The keys touched (empty for clearing all).
        keys: Vec<String>,
    },
    /// The cart was emptied and deleted.
    Cleared,
    /// A guest cart was merged into this (the user's) cart.
    Merged {
        /// What the merge did.
        report: MergeReport,
    },
    /// A guest cart could not be merged into this (the user's) cart; the guest cart is kept and
    /// the visitor goes on with the user's cart. Told once per failed attempt.
    MergeFailed {
        /// The error's code (`limit_exceeded`, `storage_unavailable`, ...).
        error: String,
    },
    /// A change made through [`crate::Cart::modify`].
    Modified,
}

/// One committed change of one cart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CartEvent {
    /// What changed.
    #[serde(flatten)]
    pub kind: CartEventKind,
    /// The cart identifier.
    pub identifier: String,
    /// The instance.
    pub instance: String,
    /// The version after the change (0 after `Cleared`: the cart no longer exists).
    pub version: u64,
}
