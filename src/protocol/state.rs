//! What the headers of one request ask of its changes (`If-Match`, `If-None-Match`,
//! `Idempotency-Key`), and what became of its idempotency key.

use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Method, Uri};
use sha2::{Digest, Sha256};

use super::etag::EntityTags;
use crate::error::CartError;

/// The longest `Idempotency-Key` accepted: keys are stored in the cart document, and clients
/// send UUIDs.
const MAX_KEY_LENGTH: usize = 255;

/// The key of an idempotent request and the fingerprint of the request it was sent with.
#[derive(Clone, Debug)]
pub(crate) struct IdempotencyKey {
    pub(crate) key: String,
    pub(crate) fingerprint: String,
}

/// Reads an `Idempotency-Key` value: a structured-field string (`"..."`, as the IETF draft has
/// it) or the bare text, 1 to 255 visible ASCII characters.
///
/// # Errors
///
/// [`CartError::BadRequest`] for any other value.
pub(crate) fn parse_key(value: &http::HeaderValue) -> Result<String, CartError> {
    let invalid = || CartError::BadRequest {
        message: "the Idempotency-Key header must be 1 to 255 visible ASCII characters".to_owned(),
    };
    let text = value.to_str().map_err(|_| invalid())?.trim();
    let text = text
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(text);
    if text.is_empty()
        || text.len() > MAX_KEY_LENGTH
        || !text.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    {
        return Err(invalid());
    }
    Ok(text.to_owned())
}

/// SHA-256 of the method, the target (path and query) and the body: what makes a repeat the
/// same request.
pub(crate) fn fingerprint(method: &Method, uri: &Uri, body: &[u8]) -> String {
    let target = uri.path_and_query().map_or("/", |target| target.as_str());
    let mut hasher = Sha256::new();
    for part in [method.as_str().as_bytes(), target.as_bytes()] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.update(body);
    URL_SAFE_NO_PAD.encode(hasher.finalize())
}

/// What the first change of a request found of its idempotency key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeyLookup {
    /// No change of the request has looked the key up yet.
    Open,
    /// The key was recorded with a change of this request: later changes skip the lookup.
    Recorded,
    /// The key was already recorded by an earlier request: this one changes nothing, and its
    /// answer is the cart of this instance as it is now.
    Replayed { instance: String },
}

/// The conditional and idempotency headers of one request, when the configuration honours them
/// and the request has one.
#[derive(Debug)]
pub(crate) struct RequestProtocol {
    pub(crate) if_match: Option<EntityTags>,
    pub(crate) if_none_match: Option<EntityTags>,
    pub(crate) idempotency: Option<IdempotencyKey>,
    pub(crate) retention: Duration,
    lookup: Mutex<KeyLookup>,
    /// The (instance, version) pairs this request wrote: a later change of the request is based
    /// on its own earlier write, whatever version `If-Match` named.
    written: Mutex<Vec<(String, u64)>>,
}

impl RequestProtocol {
    pub(crate) fn new(
        if_match: Option<EntityTags>,
        if_none_match: Option<EntityTags>,
        idempotency: Option<IdempotencyKey>,
        retention: Duration,
    ) -> Self {
        RequestProtocol {
            if_match,
            if_none_match,
            idempotency,
            retention,
            lookup: Mutex::new(KeyLookup::Open),
            written: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn with_idempotency(self, key: IdempotencyKey) -> Self {
        RequestProtocol {
            idempotency: Some(key),
            ..self
        }
    }

    pub(crate) fn lookup(&self) -> KeyLookup {
        self.lookup
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub(crate) fn set_lookup(&self, lookup: KeyLookup) {
        *self
            .lookup
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = lookup;
    }

    /// The instance whose cart answers a replayed request.
    pub(crate) fn replayed(&self) -> Option<String> {
        match self.lookup() {
            KeyLookup::Replayed { instance } => Some(instance),
            _ => None,
        }
    }

    /// The key a change of this request still has to look up, if any.
    pub(crate) fn open_key(&self) -> Option<&IdempotencyKey> {
        self.idempotency
            .as_ref()
            .filter(|_| self.lookup() == KeyLookup::Open)
    }

    pub(crate) fn note_written(&self, instance: &str, version: u64) {
        let mut written = self
            .written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        written.retain(|(kept, _)| kept != instance);
        written.push((instance.to_owned(), version));
    }

    pub(crate) fn wrote(&self, instance: &str, version: u64) -> bool {
        self.written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .any(|(kept, at)| kept == instance && *at == version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn keys_are_structured_strings_or_bare_text() {
        let key = |text: &str| parse_key(&HeaderValue::from_str(text).unwrap()).ok();
        assert_eq!(key("\"8e03978e\"").as_deref(), Some("8e03978e"));
        assert_eq!(key("abc-1").as_deref(), Some("abc-1"));
        assert_eq!(key("\"\""), None);
        assert_eq!(key(&"k".repeat(256)), None);
    }

    #[test]
    fn the_fingerprint_covers_method_target_and_body() {
        let uri: Uri = "/cart/items?instance=a".parse().unwrap();
        let base = fingerprint(&Method::POST, &uri, b"{}");
        assert_eq!(base, fingerprint(&Method::POST, &uri, b"{}"));
        assert_ne!(base, fingerprint(&Method::PUT, &uri, b"{}"));
        assert_ne!(
            base,
            fingerprint(&Method::POST, &"/cart/items".parse().unwrap(), b"{}")
        );
        assert_ne!(base, fingerprint(&Method::POST, &uri, b"{ }"));
    }
}
