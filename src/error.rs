//! One error type for every cart operation, and how it answers over HTTP.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::storage::StorageError;

/// What went wrong with a cart operation.
///
/// Every variant maps to one HTTP status and a JSON body `{"error": "<code>", "message": "..."}`
/// (see [`CartError::status`] and [`CartError::code`]), so a handler can return it with `?`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CartError {
    /// Input that breaks a rule of the domain (a bad price, an empty id, a division by zero).
    #[error("invalid {field}: {message}")]
    Validation {
        /// The offending field (`price`, `quantity`, `id`, `value`, ...).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A configured limit would be exceeded.
    #[error("limit exceeded for {field}: {actual} is over the maximum of {max}")]
    LimitExceeded {
        /// The limited field (`lines`, `quantity`, `id`, `name`, `cart_size`).
        field: String,
        /// The configured maximum.
        max: u64,
        /// What the operation asked for.
        actual: u64,
    },
    /// An amount would not fit in 64-bit minor units.
    #[error("invalid {field}: the amount is too large")]
    Overflow {
        /// The field whose value overflowed.
        field: String,
    },
    /// Two amounts of different currencies met.
    #[error("invalid currency: the cart is in {expected}, got {found}")]
    CurrencyMismatch {
        /// The cart's currency.
        expected: String,
        /// The currency that was offered.
        found: String,
    },
    /// No item with this id in the cart.
    #[error("no item `{id}` in the cart")]
    ItemNotFound {
        /// The id asked for.
        id: String,
    },
    /// No condition with this name.
    #[error("no condition `{name}`")]
    ConditionNotFound {
        /// The name asked for.
        name: String,
    },
    /// A request body that could not be parsed at all.
    #[error("bad request: {message}")]
    BadRequest {
        /// What could not be parsed.
        message: String,
    },
    /// The cart changed under us more often than the retry budget allows.
    #[error(
        "the cart `{}` changed concurrently: attempted version {}, current version {}",
        .0.instance, .0.attempted_version, .0.current_version.map_or_else(|| "none".to_owned(), |v| v.to_string())
    )]
    Conflict(Box<ConflictInfo>),
    /// The storage backend failed or could not be reached.
    #[error("cart storage unavailable: {0}")]
    Storage(#[source] StorageError),
    /// The handler asked for a `Cart` but the router has no `CartLayer`.
    #[error(
        "the Cart extractor needs CartLayer: add `.layer(CartLayer::new(config))` to the Router"
    )]
    MissingLayer,
    /// The configuration needs a tower-sessions session but the request has none.
    #[error(
        "this cart configuration needs a tower-sessions Session: add a SessionManagerLayer outside (after) the CartLayer"
    )]
    MissingSession,
    /// The operation needs a request (a session-driver cart opened from a background worker).
    #[error("{0}")]
    Unsupported(String),
}

/// Everything known about a write that lost a race.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConflictInfo {
    /// The cart identifier (hashed when shown in logs; shown to the client, which owns it).
    pub identifier: String,
    /// The cart instance.
    pub instance: String,
    /// The version the write expected to replace.
    pub attempted_version: u64,
    /// The version actually stored (`None`: the cart was deleted meanwhile).
    pub current_version: Option<u64>,
    /// Retries spent before giving up.
    pub retries: u32,
}

impl ConflictInfo {
    /// `current - attempted` (0 when the cart no longer exists).
    pub fn version_difference(&self) -> u64 {
        self.current_version
            .map_or(0, |current| current.saturating_sub(self.attempted_version))
    }

    /// A conflict with exactly one other write in between: a reload and retry will almost surely work.
    pub fn is_minor(&self) -> bool {
        self.version_difference() == 1
    }

    /// What the caller can do about it.
    pub fn suggestions(&self) -> Vec<&'static str> {
        let mut hints = vec!["reload the cart and retry the change"];
        if !self.is_minor() {
            hints.push("the cart is written by many clients at once; consider lock_for_update or cache locking");
        }
        hints
    }
}

impl CartError {
    /// A [`CartError::Validation`] for `field`.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> CartError {
        CartError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A [`CartError::LimitExceeded`].
    pub fn limit(field: impl Into<String>, max: u64, actual: u64) -> CartError {
        CartError::LimitExceeded {
            field: field.into(),
            max,
            actual,
        }
    }

    /// A [`CartError::Overflow`].
    pub fn overflow(field: impl Into<String>) -> CartError {
        CartError::Overflow {
            field: field.into(),
        }
    }

    /// The field an input error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            CartError::Validation { field, .. }
            | CartError::LimitExceeded { field, .. }
            | CartError::Overflow { field } => Some(field),
            CartError::CurrencyMismatch { .. } => Some("currency"),
            _ => None,
        }
    }

    /// The machine-readable code in the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            CartError::Validation { .. } => "validation_error",
            CartError::LimitExceeded { .. } => "limit_exceeded",
            CartError::Overflow { .. } => "overflow",
            CartError::CurrencyMismatch { .. } => "currency_mismatch",
            CartError::ItemNotFound { .. } => "item_not_found",
            CartError::ConditionNotFound { .. } => "condition_not_found",
            CartError::BadRequest { .. } => "bad_request",
            CartError::Conflict(_) => "conflict",
            CartError::Storage(_) => "storage_unavailable",
            CartError::MissingLayer => "missing_cart_layer",
            CartError::MissingSession => "missing_session_layer",
            CartError::Unsupported(_) => "unsupported",
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            CartError::Validation { .. }
            | CartError::LimitExceeded { .. }
            | CartError::Overflow { .. }
            | CartError::CurrencyMismatch { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            CartError::ItemNotFound { .. } | CartError::ConditionNotFound { .. } => {
                StatusCode::NOT_FOUND
            }
            CartError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            CartError::Conflict(_) => StatusCode::CONFLICT,
            CartError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            CartError::MissingLayer | CartError::MissingSession | CartError::Unsupported(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The JSON body this error answers with.
    pub fn body(&self) -> Value {
        let mut body = json!({ "error": self.code(), "message": self.to_string() });
        if let Some(field) = self.field() {
            body["field"] = json!(field);
        }
        if let CartError::Conflict(info) = self {
            body["identifier"] = json!(info.identifier);
            body["instance"] = json!(info.instance);
            body["attempted_version"] = json!(info.attempted_version);
            body["current_version"] = json!(info.current_version);
            body["version_difference"] = json!(info.version_difference());
            body["minor"] = json!(info.is_minor());
            body["retries"] = json!(info.retries);
            body["suggestions"] = json!(info.suggestions());
        }
        body
    }
}

impl From<StorageError> for CartError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Conflict {
                key,
                expected,
                current,
            } => crate::storage::conflict_error(&key, expected, current, 0),
            other => CartError::Storage(other),
        }
    }
}

impl IntoResponse for CartError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "cart request failed");
        }
        (status, Json(self.body())).into_response()
    }
}
