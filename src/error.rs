//! [`CartError`]: every way a cart request can fail, and how it answers over HTTP. The only error
//! type of the crate that knows HTTP.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::cart;
use crate::catalog::CatalogError;
use crate::storage::{ConflictInfo, ModifyError, StorageError};

mod problem;

/// What went wrong with a cart operation.
///
/// It wraps the domain's [`cart::Error`] and the storage's [`StorageError`], and adds what only
/// a request can get wrong. Every variant maps to one HTTP status and an RFC 9457 problem
/// details body (`application/problem+json`, see [`CartError::body`]) whose `error` member is a
/// stable code (see [`CartError::status`] and [`CartError::code`]), so a handler can return it
/// with `?`. A backend's own error text never reaches the body: it is logged with the
/// `request_id` the body carries.
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
    /// The request's `If-Match` names no version of the cart as stored (or `*` and there is no
    /// cart): nothing was changed.
    #[error(
        "the cart is not at the version the request's If-Match names (current version {})",
        .current_version.map_or_else(|| "none".to_owned(), |v| v.to_string())
    )]
    PreconditionFailed {
        /// The version of the cart as stored (`None`: there is no cart).
        current_version: Option<u64>,
    },
    /// The request's `Idempotency-Key` was already used by a request with another method, target
    /// or body.
    #[error("this Idempotency-Key was already used for another request")]
    IdempotencyKeyReused,
    /// The request body is over the limit the layer buffers to fingerprint an idempotent request.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// The request repeats one that already changed the cart (same `Idempotency-Key`, same
    /// request): nothing was changed, and [`CartLayer`](crate::CartLayer) answers with the cart
    /// as it is now instead of the handler's answer. Handlers pass it on with `?`.
    #[error("this request was already applied; the answer is replayed")]
    Replayed,
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
            CartError::PreconditionFailed { .. } => "precondition_failed",
            CartError::IdempotencyKeyReused => "idempotency_key_reused",
            CartError::PayloadTooLarge => "payload_too_large",
            CartError::Replayed => "replayed",
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
            CartError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            CartError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            CartError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            CartError::Replayed => StatusCode::OK,
        }
    }

    /// The problem details body this error answers with (RFC 9457): `type`, `title`, `status`,
    /// `detail`, `error` (the code) and the members of its kind (`field`; a conflict's
    /// `attempted_version` and `current_version`). The `request_id` of a server error is added
    /// by [`IntoResponse`], which also logs it with the real error.
    pub fn body(&self) -> Value {
        self.problem()
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
        self.respond()
    }
}
