//! [`CartResponse`]: a cart view as an HTTP answer, with its entity tag, a 304 when the client's
//! copy is current, and the marks of a replayed idempotent request.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, ETAG, VARY};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::view::CartView;

/// The header that marks the answer of a repeated idempotent request.
const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Marks a cart answer as private to its visitor and never to be stored: a cart changes with
/// every request and belongs to the cookie or session that reached it.
pub(crate) fn add_cart_headers(headers: &mut HeaderMap) {
    // One pass over the few headers an answer has, then appends: cheaper than a hashed lookup
    // per header followed by a hashed insert, and every cart answer passes here.
    let (mut cached, mut varies) = (false, false);
    for (name, value) in headers.iter() {
        if *name == CACHE_CONTROL {
            cached = true;
        } else if *name == VARY && !varies {
            varies = value.to_str().is_ok_and(|text| {
                text.split(',')
                    .any(|name| name.trim().eq_ignore_ascii_case("cookie") || name.trim() == "*")
            });
        }
    }
    if !cached {
        headers.append(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if !varies {
        headers.append(VARY, HeaderValue::from_static("Cookie"));
    }
}

/// A cart view as an answer, from [`Cart::respond`](crate::Cart::respond): 200 with the view as
/// JSON and its `ETag`, or 304 without a body when the request's `If-None-Match` names that tag;
/// `Cache-Control: no-store` and `Vary: Cookie` either way, and `Idempotent-Replayed: true` when
/// the request repeated an earlier one.
#[derive(Clone, Debug)]
pub struct CartResponse {
    view: CartView,
    etag: String,
    not_modified: bool,
    replayed: bool,
}

impl CartResponse {
    pub(crate) fn new(view: CartView, etag: String, not_modified: bool, replayed: bool) -> Self {
        CartResponse {
            view,
            etag,
            not_modified,
            replayed,
        }
    }

    /// The view answered (also when the answer is a 304).
    pub fn view(&self) -> &CartView {
        &self.view
    }

    /// The view's entity tag, quotes included.
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// Whether the answer is 304 Not Modified.
    pub fn is_not_modified(&self) -> bool {
        self.not_modified
    }

    /// Whether the request repeated an earlier one with the same `Idempotency-Key`.
    pub fn is_replayed(&self) -> bool {
        self.replayed
    }

    /// The view, for a handler that answers something else.
    pub fn into_view(self) -> CartView {
        self.view
    }
}

impl IntoResponse for CartResponse {
    fn into_response(self) -> Response {
        let mut response = if self.not_modified {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            Json(self.view).into_response()
        };
        let headers = response.headers_mut();
        if let Ok(etag) = HeaderValue::from_str(&self.etag) {
            headers.insert(ETAG, etag);
        }
        add_cart_headers(headers);
        if self.replayed {
            headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(HeaderName, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(name.clone(), HeaderValue::from_static(value));
        }
        headers
    }

    fn values(headers: &HeaderMap, name: HeaderName) -> Vec<&str> {
        headers
            .get_all(name)
            .iter()
            .map(|value| value.to_str().unwrap())
            .collect()
    }

    #[test]
    fn cart_headers_keep_what_the_handler_set_and_add_what_is_missing() {
        let mut plain = headers(&[(http::header::CONTENT_TYPE, "application/json")]);
        add_cart_headers(&mut plain);
        assert_eq!(values(&plain, CACHE_CONTROL), ["no-store"]);
        assert_eq!(values(&plain, VARY), ["Cookie"]);

        let mut own = headers(&[
            (CACHE_CONTROL, "private, max-age=0"),
            (VARY, "Accept-Encoding"),
            (VARY, "Origin, Accept"),
        ]);
        add_cart_headers(&mut own);
        assert_eq!(values(&own, CACHE_CONTROL), ["private, max-age=0"]);
        assert_eq!(
            values(&own, VARY),
            ["Accept-Encoding", "Origin, Accept", "Cookie"]
        );

        for vary in ["Accept, COOKIE", "*", "origin", "cookie"] {
            let mut varied = headers(&[(VARY, "Origin"), (VARY, vary)]);
            add_cart_headers(&mut varied);
            let expected: &[&str] = if vary == "origin" {
                &["Origin", "origin", "Cookie"]
            } else {
                &["Origin", vary]
            };
            assert_eq!(values(&varied, VARY), expected, "{vary}");
        }
    }
}
