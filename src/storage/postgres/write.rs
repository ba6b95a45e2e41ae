//! The optimistic read-modify-write of the database driver: one compare-and-set statement per
//! attempt storing the document the size check serialized; the committed cart is kept parsed
//! with the version and write time the statement returned, so the next read of the unchanged
//! row gets neither a document nor a parse.

use std::sync::Arc;

use super::PostgresStorage;
use super::rows::{Stored, current_version, write};
use crate::cart::CartContents;
use crate::storage::{
    Attempt, CartKey, CartOp, Modified, ModifyError, ModifyOptions, Versioned, modify_with,
};

pub(super) async fn optimistic_modify(
    storage: &PostgresStorage,
    key: &CartKey,
    options: &ModifyOptions,
    op: &CartOp<'_>,
) -> Result<Modified, ModifyError> {
    modify_with(
        storage,
        key,
        options,
        op,
        |cart, document, expected| async move {
            let (pool, table) = (&storage.pool, &*storage.table);
            let logged = storage.logged(&cart);
            let stored = write(pool, table, key, &document, expected, logged).await?;
            Ok(match stored {
                Some(stored) => Attempt::Committed(storage.remember(key, cart, stored)),
                None => Attempt::Conflict(current_version(pool, table, key).await?),
            })
        },
    )
    .await
}

impl PostgresStorage {
    /// Keeps the cart a write just committed parsed, and returns it as written.
    pub(super) fn remember(
        &self,
        key: &CartKey,
        cart: CartContents,
        stored: Stored,
    ) -> Versioned<CartContents> {
        let written = Versioned {
            value: cart,
            version: stored.version,
            updated_at: Some(stored.updated_at),
        };
        self.parsed.remember_stored(key, Arc::new(written.clone()));
        written
    }
}
