//! Talking to Redis: every command under the command timeout, fred's errors as
//! [`StorageError`]s, replica acknowledgements, and the few reply shapes the driver reads.

use std::time::Duration;

use fred::clients::Pool;
use fred::interfaces::ClientLike;
use fred::types::config::Options;
use fred::types::{CustomCommand, Value};

use crate::storage::StorageError;

pub(super) const DRIVER: &str = "redis";

/// The pool, the longest one command may take, and the replica acknowledgements writes wait for.
#[derive(Clone)]
pub(super) struct Client {
    pub(super) pool: Pool,
    pub(super) command_timeout: Duration,
    pub(super) replica_acks: Option<ReplicaAcks>,
}

/// `WAIT replicas timeout` after every write.
#[derive(Clone, Copy, Debug)]
pub(super) struct ReplicaAcks {
    pub(super) replicas: u32,
    pub(super) timeout: Duration,
}

/// The cluster hash slot of a key (its hash tag's when it has one).
pub(super) fn slot(key: &str) -> u16 {
    fred::util::redis_keyslot(key.as_bytes())
}

impl Client {
    /// Runs one command with the command timeout.
    ///
    /// The command's future goes to the heap at once: a fred command future is several
    /// kilobytes, and every future that awaits it inline grows by as much and is copied whole
    /// each time it moves (into the boxed future of a trait method, for one), which cost more
    /// than the command's own work.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when Redis does not answer in time or cannot be reached,
    /// [`StorageError::Backend`] when it refuses the command.
    pub(super) fn timed<'a, T: 'a>(
        &'a self,
        command: impl std::future::Future<Output = Result<T, fred::error::Error>> + Send + 'a,
    ) -> impl std::future::Future<Output = Result<T, StorageError>> + Send + 'a {
        let command = Box::pin(command);
        async move {
            match tokio::time::timeout(self.command_timeout, command).await {
                Ok(result) => result.map_err(storage_error),
                Err(_) => Err(self.no_answer()),
            }
        }
    }

    /// Whether the pool talks to a Redis Cluster.
    pub(super) fn clustered(&self) -> bool {
        self.pool.next().is_clustered()
    }

    /// Waits until the replicas asked for acknowledged every write `connection` sent to the
    /// node serving `key`, when the storage asks for acknowledgements.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when fewer replicas acknowledged within the timeout: the
    /// write is on the primary but could be lost if it failed now.
    pub(super) async fn replicated(
        &self,
        connection: &fred::clients::Client,
        key: &str,
    ) -> Result<(), StorageError> {
        let Some(acks) = self.replica_acks else {
            return Ok(());
        };
        // A blocking command with the key's slot: fred sends it on this client's connection to
        // that node and sends nothing else on it meanwhile.
        let wait = CustomCommand::new_static("WAIT", Some(slot(key)), true);
        let limit = acks.timeout + self.command_timeout;
        let options = Options {
            timeout: Some(limit),
            ..Options::default()
        };
        let args = vec![
            i64::from(acks.replicas),
            acks.timeout.as_millis().min(i64::MAX as u128) as i64,
        ];
        // Boxed as in `timed`.
        let with_options = connection.with_options(&options);
        let command = Box::pin(with_options.custom(wait, args));
        let acked: i64 = match tokio::time::timeout(limit, command).await {
            Ok(result) => result.map_err(storage_error)?,
            Err(_) => return Err(self.no_answer()),
        };
        if acked < i64::from(acks.replicas) {
            return Err(StorageError::Unavailable {
                driver: DRIVER,
                message: format!(
                    "a write reached {acked} of {} replicas within {:?}",
                    acks.replicas, acks.timeout
                ),
            });
        }
        Ok(())
    }

    /// The error of a command that outlived the command timeout.
    pub(super) fn no_answer(&self) -> StorageError {
        StorageError::Unavailable {
            driver: DRIVER,
            message: format!("no answer from Redis within {:?}", self.command_timeout),
        }
    }
}

/// Failures that go away when Redis is back are [`StorageError::Unavailable`] (a 503); the rest
/// are [`StorageError::Backend`].
pub(super) fn storage_error(error: fred::error::Error) -> StorageError {
    use fred::error::ErrorKind;
    match error.kind() {
        ErrorKind::IO
        | ErrorKind::Timeout
        | ErrorKind::Canceled
        | ErrorKind::Routing
        | ErrorKind::Backpressure
        | ErrorKind::Cluster => StorageError::Unavailable {
            driver: DRIVER,
            message: error.to_string(),
        },
        _ => StorageError::Backend {
            driver: DRIVER,
            message: error.to_string(),
        },
    }
}

pub(super) fn as_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.to_string()),
        Value::Bytes(b) => String::from_utf8(b.to_vec()).ok(),
        Value::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

/// Read from the answer in place: every cart read reads a version and a time this way.
pub(super) fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Integer(i) => Some(*i),
        Value::String(s) => s.parse().ok(),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}
