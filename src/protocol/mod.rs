//! The HTTP protocol of cart requests: entity tags of cart views and their matching
//! (conditional requests), the per-request state of `If-Match`, `If-None-Match` and
//! `Idempotency-Key`, and [`CartResponse`], the answer that honours them.

mod etag;
mod response;
mod state;

pub(crate) use self::etag::{EntityTags, cart_tag, cart_tag_id};
pub use self::response::CartResponse;
pub(crate) use self::response::add_cart_headers;
pub(crate) use self::state::{IdempotencyKey, KeyLookup, RequestProtocol, fingerprint, parse_key};
