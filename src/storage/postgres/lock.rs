//! The locking read-modify-write of [`PostgresStorage::with_locking`](super::PostgresStorage::with_locking):
//! `SELECT ... FOR UPDATE`, the change and the compare-and-set write in one transaction, so the
//! writers of one cart wait for each other instead of retrying.

use std::sync::Arc;

use sqlx::{Postgres, Transaction};

use super::PostgresStorage;
use super::rows::{current_version, load_row, storage_error, write};
use crate::storage::{
    CartKey, CartOp, Modified, ModifyError, ModifyOptions, backoff, committed_write, new_write_id,
};

pub(super) async fn locked_modify(
    storage: &PostgresStorage,
    key: &CartKey,
    options: &ModifyOptions,
    op: &CartOp<'_>,
) -> Result<Modified, ModifyError> {
    let (pool, table) = (&storage.pool, &*storage.table);
    let deadline = options.deadline();
    let mut write_ids = Vec::new();
    let mut retries = 0;
    // A basis needs no lock: its compare-and-set is one statement, and it either lands on the
    // version read or changes nothing, after which the change runs locked.
    if let Some(current) = options.basis_cart() {
        let write_id = new_write_id();
        let (cart, document, expected) = options.apply_encoded(current, op, &write_id)?;
        write_ids.push(write_id);
        let logged = storage.logged(&cart);
        match write(pool, table, key, &document, expected, logged).await {
            Ok(Some(stored)) => {
                return Ok(Modified {
                    cart: storage.remember(key, cart, stored),
                    previous_version: expected,
                    retries,
                });
            }
            // The cart moved on from the basis: the locked read below goes again.
            Ok(None) => {}
            Err(error) => {
                return match committed_write(storage, key, &write_ids).await {
                    Some(stored) => Ok(Modified {
                        cart: stored,
                        previous_version: expected,
                        retries,
                    }),
                    None => Err(error.into()),
                };
            }
        }
    }
    loop {
        let mut tx: Transaction<'_, Postgres> = pool.begin().await.map_err(storage_error)?;
        let current = load_row(&mut *tx, table, " FOR UPDATE", &storage.parsed, key)
            .await?
            .map(Arc::unwrap_or_clone);
        let write_id = new_write_id();
        // On an error the transaction is dropped, which rolls it back.
        let (cart, document, expected) = options.apply_encoded(current, op, &write_id)?;
        write_ids.push(write_id);
        let logged = storage.logged(&cart);
        match write(&mut *tx, table, key, &document, expected, logged).await? {
            Some(stored) => {
                if let Err(error) = tx.commit().await {
                    // The server may have committed and the answer been lost on the way back:
                    // the stored cart says which.
                    return match committed_write(storage, key, &write_ids).await {
                        Some(stored) => Ok(Modified {
                            cart: stored,
                            previous_version: expected,
                            retries,
                        }),
                        None => Err(storage_error(error).into()),
                    };
                }
                return Ok(Modified {
                    cart: storage.remember(key, cart, stored),
                    previous_version: expected,
                    retries,
                });
            }
            None => {
                // Only a creation can lose while locked: another writer inserted the row
                // first. Start over on the row that now exists.
                tx.rollback().await.map_err(storage_error)?;
                if tokio::time::Instant::now() >= deadline {
                    let current = current_version(pool, table, key).await?;
                    return Err(ModifyError::conflict(key, expected, current, retries));
                }
                retries += 1;
                backoff(retries).await;
            }
        }
    }
}
