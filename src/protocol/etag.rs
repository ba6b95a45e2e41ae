//! Entity tags of cart views, `"<id>.<version>.<pricing>"`, and the `If-Match` /
//! `If-None-Match` lists they are compared with (RFC 9110, section 13.1).
//!
//! `<id>` names the cart (identifier and instance) without revealing the identifier, `<version>`
//! is the stored version, and `<pricing>` covers what a view can change without a write (a
//! catalogue price move, a condition whose date rule starts to hold), so that a 304 never hides
//! a new price. A change is based on a tag when the id and the version match: a write based on a
//! view is still right when only the prices it showed moved since, because every change re-prices.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderValue;
use http::header::GetAll;
use sha2::{Digest, Sha256};

/// A short, URL-safe hash: 72 bits is plenty to tell carts and price lists apart, and keeps the
/// tag short.
fn short_hash(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        // Length-prefixed, so that ("ab", "c") and ("a", "bc") hash apart.
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    URL_SAFE_NO_PAD.encode(&hasher.finalize()[..9])
}

/// The `<id>` part of the tags of cart (`identifier`, `instance`).
pub(crate) fn cart_tag_id(identifier: &str, instance: &str) -> String {
    short_hash(&[identifier.as_bytes(), instance.as_bytes()])
}

/// The strong entity tag, quotes included, of a view of cart (`identifier`, `instance`) at
/// `version` whose prices and notices serialize to `pricing`.
pub(crate) fn cart_tag(identifier: &str, instance: &str, version: u64, pricing: &[u8]) -> String {
    format!(
        "\"{}.{version}.{}\"",
        cart_tag_id(identifier, instance),
        short_hash(&[pricing])
    )
}

/// One tag of a list: whether it is weak, and its opaque part without quotes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Tag {
    weak: bool,
    opaque: String,
}

/// The value of an `If-Match` or `If-None-Match` header: `*`, or a list of tags. Members that are
/// not entity tags are dropped, so they match nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EntityTags {
    any: bool,
    tags: Vec<Tag>,
}

impl EntityTags {
    /// Reads every field line of one header; `None` when the header is absent.
    pub(crate) fn parse(values: GetAll<'_, HeaderValue>) -> Option<EntityTags> {
        let mut found = false;
        let mut list = EntityTags {
            any: false,
            tags: Vec::new(),
        };
        for value in values {
            found = true;
            let Ok(text) = value.to_str() else { continue };
            list.read(text);
        }
        found.then_some(list)
    }

    fn read(&mut self, mut text: &str) {
        loop {
            text = text.trim_start_matches([' ', '\t', ',']);
            if text.is_empty() {
                return;
            }
            if let Some(rest) = text.strip_prefix('*') {
                self.any = true;
                text = rest;
                continue;
            }
            let (weak, rest) = match text.strip_prefix("W/") {
                Some(rest) => (true, rest),
                None => (false, text),
            };
            let Some(quoted) = rest.strip_prefix('"') else {
                // Not a tag: skip to the next member.
                text = rest.split_once(',').map_or("", |(_, next)| next);
                continue;
            };
            let Some((opaque, next)) = quoted.split_once('"') else {
                return;
            };
            self.tags.push(Tag {
                weak,
                opaque: opaque.to_owned(),
            });
            text = next;
        }
    }

    /// Whether the list is `*`.
    pub(crate) fn is_any(&self) -> bool {
        self.any
    }

    /// `If-Match`: whether a strong tag of the list names cart `id` at `version` (the pricing part
    /// is not compared).
    pub(crate) fn names_version(&self, id: &str, version: u64) -> bool {
        self.tags.iter().filter(|tag| !tag.weak).any(|tag| {
            let mut parts = tag.opaque.splitn(3, '.');
            parts.next() == Some(id)
                && parts.next().and_then(|v| v.parse::<u64>().ok()) == Some(version)
                && parts.next().is_some()
        })
    }

    /// `If-None-Match`: whether the list is `*` or holds `etag` (weak comparison, as RFC 9110
    /// asks for this header).
    pub(crate) fn matches(&self, etag: &str) -> bool {
        let opaque = etag.trim_matches('"');
        self.any || self.tags.iter().any(|tag| tag.opaque == opaque)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;
    use http::header::IF_MATCH;

    fn parse(values: &[&str]) -> Option<EntityTags> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(IF_MATCH, HeaderValue::from_str(value).unwrap());
        }
        EntityTags::parse(headers.get_all(IF_MATCH))
    }

    #[test]
    fn tags_name_the_cart_the_version_and_the_prices() {
        let tag = cart_tag("guest", "default", 7, b"prices");
        let id = cart_tag_id("guest", "default");
        assert_eq!(tag, format!("\"{id}.7.{}\"", short_hash(&[b"prices"])));
        assert_ne!(cart_tag_id("guest", "wishlist"), id);
        assert_ne!(cart_tag("guest", "default", 7, b"other prices"), tag);
    }

    #[test]
    fn if_match_compares_id_and_version_strongly() {
        let id = cart_tag_id("guest", "default");
        let list = parse(&[
            &format!("\"nope\", \"{id}.7.whatever\""),
            "junk, W/\"x.8.y\"",
        ])
        .unwrap();
        assert!(list.names_version(&id, 7));
        assert!(!list.names_version(&id, 8));
        assert!(!list.names_version("other", 7));
        assert!(!list.is_any());
        let weak = parse(&[&format!("W/\"{id}.7.p\"")]).unwrap();
        assert!(
            !weak.names_version(&id, 7),
            "If-Match never matches a weak tag"
        );
        assert!(parse(&["*"]).unwrap().is_any());
        assert_eq!(parse(&[]), None);
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let list = parse(&["W/\"a.1.b\", \"c.2.d\""]).unwrap();
        assert!(list.matches("\"a.1.b\""));
        assert!(list.matches("\"c.2.d\""));
        assert!(!list.matches("\"c.2.e\""));
        assert!(parse(&["*"]).unwrap().matches("\"anything\""));
    }
}
