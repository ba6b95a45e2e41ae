//! [`CartError`]: every way a cart request can fail, and how it answers over HTTP. The only error
//! type of the crate that knows HTTP.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::cart;
use crate::catalog::CatalogError;
use crate::storage::{ConflictInfo, ModifyError, StorageError};

/// What went wrong with a cart operation.
///
/// It wraps the domain's [`cart::Error`] and the storage's [`StorageError`], and adds what only
/// a request can get wrong. Every variant maps to one HTTP status and a JSON body
/// `{"error": "<code>", "message": "..."}` (see [`CartError::status`] and [`CartError::code`]),
/// so a handler can return it with `?`.
///
/// # Examples
///
/// ```
/// use axum::http::StatusCode;
/// use axum_cart::{CartError, cart};
///
/// let error = CartError::from(cart::Error::ItemNotFound { id: "mug".into() });
/// assert_eq!(error.status(), StatusCode::NOT_FOUND);
/// assert_eq!(error.code(), "item_not_found");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CartError {
    /// The domain refused the operation (bad input, a limit, an unknown line or condition).
    #[error(transparent)]
    Domain(#[from] cart::Error),
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
    /// The operation needs a request (a session-driver cart opened from a background worker),
    /// or a part the configuration lacks (a catalogue, promotions).
    #[error("{0}")]
    Unsupported(String),
    /// The catalogue does not sell this product.
    #[error("no product `{id}` in the catalogue")]
    ProductNotFound {
        /// The product id asked for.
        id: String,
    },
    /// A discount code that is unknown, or whose rules do not hold for the cart now.
    #[error("the code `{code}` is not valid for this cart")]
    InvalidCode {
        /// The code as sent.
        code: String,
    },
    /// The catalogue or promotions backend failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl CartError {
    /// A [`cart::Error::Validation`] for `field`, as a `CartError`.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> CartError {
        CartError::Domain(cart::Error::validation(field, message))
    }

    /// The domain error inside, if this is one.
    pub fn domain(&self) -> Option<&cart::Error> {
        match self {
            CartError::Domain(error) => Some(error),
            _ => None,
        }
    }

    /// The field an input error is about, if any.
    pub fn field(&self) -> Option<&str> {
        self.domain().and_then(cart::Error::field)
    }

    /// The machine-readable code in the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            CartError::Domain(error) => error.code(),
            CartError::BadRequest { .. } => "bad_request",
            CartError::Conflict(_) => "conflict",
            CartError::Storage(_) => "storage_unavailable",
            CartError::MissingLayer => "missing_cart_layer",
            CartError::MissingSession => "missing_session_layer",
            CartError::Unsupported(_) => "unsupported",
            CartError::ProductNotFound { .. } => "product_not_found",
            CartError::InvalidCode { .. } => "invalid_code",
            CartError::Catalog(_) => "catalog_unavailable",
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            CartError::Domain(error) if error.is_not_found() => StatusCode::NOT_FOUND,
            CartError::Domain(_) => StatusCode::UNPROCESSABLE_ENTITY,
            CartError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            CartError::Conflict(_) => StatusCode::CONFLICT,
            CartError::Storage(_) | CartError::Catalog(_) => StatusCode::SERVICE_UNAVAILABLE,
            CartError::ProductNotFound { .. } => StatusCode::NOT_FOUND,
            CartError::InvalidCode { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            CartError::MissingLayer | CartError::MissingSession | CartError::Unsupported(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The JSON body this error answers with.
    pub fn body(&self) -> Value {
        let message = match self {
            // The backend's text is for the log line, not for the client.
            CartError::Catalog(_) => "the catalogue is unavailable".to_owned(),
            _ => self.to_string(),
        };
        let mut body = json!({ "error": self.code(), "message": message });
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
        ModifyError::from(error).into()
    }
}

impl From<ModifyError> for CartError {
    fn from(error: ModifyError) -> Self {
        match error {
            ModifyError::Rejected(error) => CartError::Domain(error),
            ModifyError::Conflict(info) => CartError::Conflict(info),
            ModifyError::Storage(error) => CartError::Storage(error),
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
