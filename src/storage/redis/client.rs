//! Talking to Redis: every command under the command timeout, fred's errors as
//! [`StorageError`]s, and the few reply shapes the driver reads.

use std::time::Duration;

use fred::clients::Pool;
use fred::types::Value;

use crate::storage::StorageError;

pub(super) const DRIVER: &str = "redis";

/// The pool and the longest one command may take.
#[derive(Clone)]
pub(super) struct Client {
    pub(super) pool: Pool,
    pub(super) command_timeout: Duration,
}

impl Client {
    /// Runs one command with the command timeout.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when Redis does not answer in time or cannot be reached,
    /// [`StorageError::Backend`] when it refuses the command.
    pub(super) async fn timed<T>(
        &self,
        command: impl std::future::Future<Output = Result<T, fred::error::Error>>,
    ) -> Result<T, StorageError> {
        match tokio::time::timeout(self.command_timeout, command).await {
            Ok(result) => result.map_err(storage_error),
            Err(_) => Err(self.no_answer()),
        }
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

pub(super) fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Integer(i) => Some(*i),
        other => as_string(other)?.parse().ok(),
    }
}
