//! Durable cart events: an event log written in the same atomic write as each change, read by
//! workers in other processes from a cursor.
//!
//! In-process listeners ([`crate::CartEvent`]) hear a change after its commit, in the process
//! that made it: a crash in between loses the event, and other machines never hear it. With the
//! event log on, the cache and database drivers also append every committed change to a log in
//! the very write that commits it, so a change and its event exist together or not at all:
//!
//! - **Postgres** ([`crate::PostgresStorage::with_event_log`]): a row of the outbox table
//!   `<carts table>_events`, inserted by the statement (or transaction) that writes the cart;
//! - **Redis** ([`crate::RedisStorage::with_event_log`]): an entry of a stream, appended by the
//!   script that writes the cart (one stream on a single Redis, one per hash slot on a cluster).
//!
//! The session and memory drivers have no event log: their events are the in-process ones only.
//!
//! A worker reads with [`EventLog::read_events`] under a consumer name of its own, handles the
//! events, and acknowledges them with [`EventLog::ack_events`], which stores the consumer's
//! cursor in the database or Redis. Delivery is at least once: what was read and not
//! acknowledged is read again, by the same process or after a restart, and nothing acknowledged
//! comes back. An event's [`LoggedEvent::id`] is the same on every delivery, for de-duplication.
//! [`EventLog::prune_events`] applies retention by age and count.
//!
//! An event names the change, not the cart's contents: its kind, a hash of the identifier (never
//! the identifier, which may be a user id), the instance, the version it produced (or removed)
//! and the write id. A change that loses its compare-and-set, or fails, logs nothing. Moves
//! between identifiers log the source deleted and the target created or updated.
//!
//! # Examples
//! ```no_run
//! use axum_cart::storage::{EventLog, EventRetention, StorageError};
//! use axum_cart::RedisStorage;
//!
//! # async fn worker() -> Result<(), StorageError> {
//! let log = RedisStorage::connect("redis://127.0.0.1:6379")
//!     .await?
//!     .with_event_log(true);
//! loop {
//!     let events = log.read_events("mailer", 100).await?;
//!     for event in &events {
//!         println!("{} {:?} v{}", event.id, event.kind, event.version);
//!     }
//!     log.ack_events("mailer", &events).await?;
//!     # break;
//! }
//! log.prune_events(&EventRetention::new().with_max_count(100_000)).await?;
//! # Ok(())
//! # }
//! ```

// Without a driver that logs, only the public types are used.
#![cfg_attr(not(any(feature = "redis", feature = "postgres")), allow(dead_code))]

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{CartKey, StorageError};

/// What a logged change did to its cart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LoggedEventKind {
    /// The cart was stored for the first time (or again after a delete).
    Created,
    /// A stored cart was changed.
    Updated,
    /// The cart was deleted (cleared, merged away, forgotten). The event's version is the one
    /// the deleted cart had.
    Deleted,
}

impl LoggedEventKind {
    /// The one-letter code the logs store (`c`, `u`, `d`), also the last part of an event id.
    pub(crate) fn code(self) -> &'static str {
        match self {
            LoggedEventKind::Created => "c",
            LoggedEventKind::Updated => "u",
            LoggedEventKind::Deleted => "d",
        }
    }

    pub(crate) fn from_code(code: &str) -> Option<Self> {
        match code {
            "c" | "created" => Some(LoggedEventKind::Created),
            "u" | "updated" => Some(LoggedEventKind::Updated),
            "d" | "deleted" => Some(LoggedEventKind::Deleted),
            _ => None,
        }
    }
}

/// One committed change, as the event log holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LoggedEvent {
    /// Stable across deliveries: `<identifier tag>:<instance>:<version>:<c|u|d>`, unique per
    /// change since versions never repeat for a cart.
    pub id: String,
    /// What the change did.
    pub kind: LoggedEventKind,
    /// A short hash of the cart identifier ([`CartKey::identifier_hash`]), never the identifier.
    pub identifier_hash: String,
    /// The cart instance.
    pub instance: String,
    /// The version the change produced (for [`LoggedEventKind::Deleted`]: the deleted one).
    pub version: u64,
    /// The id of the last write recorded in the document: with
    /// [`CartStorage::modify`](super::CartStorage::modify), the change's own. `None` for deletes.
    pub write_id: Option<String>,
    /// When the change was written, by the store's clock.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Where it is in the log, for acknowledging it.
    #[serde(skip)]
    position: Position,
}

/// A place in one log: the stream (Redis; empty on Postgres) and an offset ordered as a pair
/// (a stream entry id `ms-seq`; a Postgres `(transaction id, sequence)`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) stream: String,
    pub(crate) offset: (u64, u64),
}

impl LoggedEvent {
    /// An event read back from a driver's log at `position`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: String,
        kind: LoggedEventKind,
        identifier_hash: String,
        instance: String,
        version: u64,
        write_id: Option<String>,
        at: OffsetDateTime,
        position: Position,
    ) -> Self {
        LoggedEvent {
            id,
            kind,
            identifier_hash,
            instance,
            version,
            write_id,
            at,
            position,
        }
    }

    pub(crate) fn position(&self) -> &Position {
        &self.position
    }
}

/// What [`EventLog::prune_events`] keeps: events younger than `max_age`, and at most
/// `max_count` of the newest (on a Redis Cluster: per stream, that is per hash slot).
/// Both unset keeps everything.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use axum_cart::storage::EventRetention;
///
/// let week = EventRetention::new()
///     .with_max_age(Duration::from_secs(7 * 86_400))
///     .with_max_count(1_000_000);
/// assert_eq!(week.max_count, Some(1_000_000));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventRetention {
    /// Events older than this go.
    pub max_age: Option<Duration>,
    /// Only this many of the newest events stay.
    pub max_count: Option<u64>,
}

impl EventRetention {
    /// Keeps everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops events older than `max_age`.
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Keeps only the newest `max_count` events.
    pub fn with_max_count(mut self, max_count: u64) -> Self {
        self.max_count = Some(max_count);
        self
    }
}

/// A driver's event log, read by consumers with cursors of their own.
///
/// One process at a time per consumer name: two processes reading as one consumer both get
/// the same events.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Up to `max` events after `consumer`'s acknowledged cursor (from the start of the log for a
    /// new consumer), oldest first. Reading does not move the cursor: the same events come again
    /// until they are acknowledged.
    ///
    /// # Errors
    /// [`StorageError::Backend`] for an empty consumer name, or one with control characters or
    /// over 200 bytes; [`StorageError::Unavailable`] when the store cannot be reached.
    async fn read_events(
        &self,
        consumer: &str,
        max: usize,
    ) -> Result<Vec<LoggedEvent>, StorageError>;

    /// Moves `consumer`'s cursor past `events` (as [`EventLog::read_events`] returned them; an
    /// acknowledgement never moves a cursor back), durably: a restarted consumer goes on from
    /// there.
    ///
    /// # Errors
    /// As [`EventLog::read_events`].
    async fn ack_events(&self, consumer: &str, events: &[LoggedEvent]) -> Result<(), StorageError>;

    /// Deletes the events `retention` does not keep; returns how many went. Consumers that had
    /// not read them miss them.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when the store cannot be reached.
    async fn prune_events(&self, retention: &EventRetention) -> Result<u64, StorageError>;
}

/// The 64-bit tag of an identifier that starts every event id of its carts; its first ten
/// characters are [`CartKey::identifier_hash`].
pub(crate) fn identifier_tag(key: &CartKey) -> String {
    use std::hash::{Hash, Hasher};
    // The hasher of `identifier_hash`, so that the tag starts with that hash.
    #[allow(deprecated)]
    let mut hasher = std::hash::SipHasher::new();
    key.identifier().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// An event's id: `<identifier tag>:<instance>:<version>:<c|u|d>` (the Postgres driver builds the
/// same in SQL).
pub(crate) fn event_id(tag: &str, instance: &str, version: u64, kind: LoggedEventKind) -> String {
    format!("{tag}:{instance}:{version}:{}", kind.code())
}

/// Checks a consumer name (it becomes part of a Redis key or a primary key).
pub(crate) fn check_consumer(driver: &'static str, consumer: &str) -> Result<(), StorageError> {
    if consumer.is_empty() || consumer.len() > 200 || consumer.chars().any(char::is_control) {
        return Err(StorageError::Backend {
            driver,
            message: format!(
                "`{}` is not a consumer name (1 to 200 bytes, no control characters)",
                consumer.escape_debug()
            ),
        });
    }
    Ok(())
}

/// Unix microseconds as a time (the epoch for nonsense).
pub(crate) fn from_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_starts_with_the_identifier_hash() {
        let key = CartKey::new("guest-1", "default");
        let tag = identifier_tag(&key);
        assert_eq!(tag.len(), 16);
        assert!(tag.starts_with(&key.identifier_hash()));
    }

    #[test]
    fn kinds_have_codes() {
        for kind in [
            LoggedEventKind::Created,
            LoggedEventKind::Updated,
            LoggedEventKind::Deleted,
        ] {
            assert_eq!(LoggedEventKind::from_code(kind.code()), Some(kind));
        }
        assert!(check_consumer("redis", "").is_err());
        assert!(check_consumer("redis", "a\nb").is_err());
        assert!(check_consumer("redis", "mailer").is_ok());
    }
}
