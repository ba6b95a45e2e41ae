//! Moving a cart to an identifier whose keys live in another hash slot (Redis Cluster), where no
//! one script may touch both. Three steps, each one script in one slot:
//!
//! 1. `move_out` marks the source cart as moving to the target (in its head) and reads it. A
//!    marked cart is frozen: saves and swaps refuse it, so the copy is its last state.
//! 2. `move_in` writes the copy into the target and, beside it, a record of the move (the source
//!    key and the version moved, kept for the cart TTL); a target whose record is this one
//!    already is left alone.
//! 3. `move_done` deletes the source, only while it is that frozen version.
//!
//! A process that dies after step 1 or 2 leaves a frozen source. The next attempt of the same
//! move finds the mark and goes on from where it stopped (step 1 answers the frozen cart again,
//! step 2 sees its record), and so does any writer of the source (the save script answers that
//! the cart is moving, and the writer finishes the move before it tries again on the now-empty
//! source): the cart is never in neither place, nor, once a step 3 ran, in both. Versions keep
//! their rule: the copy's is above the moved, the replaced and the server's clock.

use std::time::Duration;

use fred::types::Value;
use time::OffsetDateTime;

use super::client::{Client, DRIVER, as_string};
use super::events;
use super::keys::Keys;
use super::scripts::Scripts;
use crate::storage::{CartKey, StorageError};

/// What a move needs of the store.
pub(super) struct Mover<'a> {
    pub(super) client: &'a Client,
    pub(super) keys: &'a Keys,
    pub(super) scripts: &'a Scripts,
    pub(super) ttl: Duration,
    /// Whether the copy and the delete log events (see `events.rs`).
    pub(super) event_log: bool,
}

/// The source cart as step 1 found it.
enum Source {
    Missing,
    /// Frozen by a move to another identifier, which goes first.
    MovingTo(String),
    Frozen {
        version: String,
        document: String,
    },
}

impl Mover<'_> {
    /// Moves the `instance` cart of `from` to `to` (whose keys are in another slot), replacing
    /// the target's cart. `false` when `from` has no such cart, or its cart was on its way to
    /// another identifier (that move is finished instead).
    pub(super) async fn swap(
        &self,
        from: &str,
        to: &str,
        instance: &str,
    ) -> Result<bool, StorageError> {
        match self.freeze(from, to, instance).await? {
            Source::Missing => Ok(false),
            Source::MovingTo(other) => {
                self.finish(from, &other, instance).await?;
                Ok(false)
            }
            Source::Frozen { version, document } => {
                self.copy_and_delete(from, to, instance, version, document)
                    .await?;
                Ok(true)
            }
        }
    }

    /// Finishes a move of `from`'s cart to `to` that an earlier attempt began.
    pub(super) async fn finish(
        &self,
        from: &str,
        to: &str,
        instance: &str,
    ) -> Result<(), StorageError> {
        if let Source::Frozen { version, document } = self.freeze(from, to, instance).await? {
            self.copy_and_delete(from, to, instance, version, document)
                .await?;
        }
        Ok(())
    }

    /// Step 1.
    async fn freeze(&self, from: &str, to: &str, instance: &str) -> Result<Source, StorageError> {
        let source = CartKey::new(from, instance);
        let answer = self
            .scripts
            .move_out
            .run(
                self.client,
                vec![self.keys.cart(&source)],
                vec![to.to_owned()],
            )
            .await?;
        let fields: Vec<Option<String>> = match answer {
            Value::Array(values) => values.iter().map(as_string).collect(),
            _ => Vec::new(),
        };
        match fields.as_slice() {
            [Some(code)] if code == "0" => Ok(Source::Missing),
            [Some(code), Some(other)] if code == "2" => Ok(Source::MovingTo(other.clone())),
            [Some(code), Some(version), Some(document), _] if code == "1" => Ok(Source::Frozen {
                version: version.clone(),
                document: document.clone(),
            }),
            other => Err(StorageError::Backend {
                driver: DRIVER,
                message: format!("unexpected answer from the move_out script: {other:?}"),
            }),
        }
    }

    /// Steps 2 and 3.
    async fn copy_and_delete(
        &self,
        from: &str,
        to: &str,
        instance: &str,
        version: String,
        document: String,
    ) -> Result<(), StorageError> {
        failpoint("redis-move-frozen");
        let (source, target) = (CartKey::new(from, instance), CartKey::new(to, instance));
        let record = format!("{}@{version}", self.keys.cart(&source));
        let (mut keys, mut args) = (
            vec![
                self.keys.cart(&target),
                self.keys.set(to),
                self.keys.move_record(&target),
            ],
            vec![
                record,
                version.clone(),
                document,
                self.ttl.as_millis().to_string(),
                self.keys.instance(instance),
                OffsetDateTime::now_utc().unix_timestamp().to_string(),
            ],
        );
        if self.event_log {
            events::declare(self.client, self.keys, &target, None, &mut keys, &mut args);
        }
        self.scripts.move_in.run(self.client, keys, args).await?;
        failpoint("redis-move-copied");
        let (mut keys, mut args) = (
            vec![self.keys.cart(&source), self.keys.set(from)],
            vec![version, to.to_owned(), self.keys.instance(instance)],
        );
        if self.event_log {
            events::declare(self.client, self.keys, &source, None, &mut keys, &mut args);
        }
        self.scripts.move_done.run(self.client, keys, args).await?;
        Ok(())
    }
}

/// With the `test-util` feature, `AXUM_CART_FAILPOINT=<name>` ends the process at the point of
/// that name, so a test can check what the next attempt makes of a move cut short there.
#[cfg(feature = "test-util")]
fn failpoint(name: &str) {
    if std::env::var("AXUM_CART_FAILPOINT").is_ok_and(|wanted| wanted == name) {
        eprintln!("axum-cart: failpoint {name}: exiting");
        std::process::exit(86);
    }
}

#[cfg(not(feature = "test-util"))]
fn failpoint(_name: &str) {}
