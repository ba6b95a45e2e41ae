//! How a [`CartError`] answers over HTTP: RFC 9457 problem details, with nothing of a backend's
//! own text in them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::CartError;

/// The media type of RFC 9457 problem details.
pub(super) const PROBLEM_JSON: &str = "application/problem+json";

/// Where each code is documented: the `type` of its problems is this plus `#<code>`.
const TYPE_BASE: &str = "https://docs.rs/axum-cart/latest/axum_cart/enum.CartError.html";

/// The summary of a kind of problem: the same for every occurrence, so clients may show it.
fn title(code: &str, status: StatusCode) -> &'static str {
    match code {
        "validation_error" => "Invalid input",
        "limit_exceeded" => "Limit exceeded",
        "overflow" => "Amount too large",
        "currency_mismatch" => "Currency mismatch",
        "item_not_found" => "Item not found",
        "condition_not_found" => "Condition not found",
        "bad_request" => "Bad request",
        "conflict" => "Concurrent change",
        "precondition_failed" => "Precondition failed",
        "idempotency_key_reused" => "Idempotency key reused",
        "payload_too_large" => "Payload too large",
        "storage_unavailable" => "Cart store unavailable",
        "catalog_unavailable" => "Catalogue unavailable",
        "missing_cart_layer" => "CartLayer missing",
        "missing_session_layer" => "Session layer missing",
        "unsupported" => "Unsupported operation",
        "product_not_found" => "Product not found",
        "invalid_code" => "Invalid code",
        _ => status.canonical_reason().unwrap_or("Error"),
    }
}

impl CartError {
    /// The human-readable explanation a client sees: the error's own text, except for backend
    /// failures, whose text (driver messages, table names, decoding positions) stays in the log.
    pub fn detail(&self) -> String {
        match self {
            CartError::Storage(_) => "the cart store is unavailable".to_owned(),
            CartError::Catalog(_) => "the catalogue is unavailable".to_owned(),
            other => other.to_string(),
        }
    }

    /// The problem details body, `request_id` aside.
    pub(super) fn problem(&self) -> Value {
        let status = self.status();
        let code = self.code();
        let mut body = Map::new();
        body.insert("type".into(), json!(format!("{TYPE_BASE}#{code}")));
        body.insert("title".into(), json!(title(code, status)));
        body.insert("status".into(), json!(status.as_u16()));
        body.insert("detail".into(), json!(self.detail()));
        body.insert("error".into(), json!(code));
        if let Some(field) = self.field() {
            body.insert("field".into(), json!(field));
        }
        self.kind_members(&mut body);
        Value::Object(body)
    }

    /// Answers the problem; a server error gets a fresh `request_id`, in the body and in the log
    /// line that holds the real error, so a client's report leads to it.
    pub(super) fn respond(self) -> Response {
        let status = self.status();
        let mut body = self.problem();
        if status.is_server_error() {
            let request_id = uuid::Uuid::new_v4().simple().to_string();
            tracing::error!(%request_id, error = %self, "cart request failed");
            body["request_id"] = json!(request_id);
        } else if let CartError::Conflict(info) = &self {
            // Tuning hints are for the operator, not for the client.
            tracing::warn!(
                instance = %info.instance,
                attempted_version = info.attempted_version,
                current_version = ?info.current_version,
                version_difference = info.version_difference(),
                minor = info.is_minor(),
                retries = info.retries,
                suggestions = ?info.suggestions(),
                "cart write gave up after concurrent changes"
            );
        }
        let mut response = (status, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

impl CartError {
    /// The members only some kinds of problem have.
    fn kind_members(&self, body: &mut Map<String, Value>) {
        if let CartError::Conflict(info) = self {
            // The client's own cart: naming it tells nothing about the server.
            body.insert("identifier".into(), json!(info.identifier));
            body.insert("instance".into(), json!(info.instance));
            body.insert("attempted_version".into(), json!(info.attempted_version));
            body.insert("current_version".into(), json!(info.current_version));
        }
        if let CartError::PreconditionFailed { current_version } = self {
            body.insert("current_version".into(), json!(current_version));
        }
    }
}
