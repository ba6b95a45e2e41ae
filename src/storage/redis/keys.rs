//! How the driver names its keys.
//!
//! Every key of one identifier carries the identifier between braces, a cluster hash tag, so all
//! of them live in one slot and the scripts may touch them together. Identifiers and instances
//! are percent-encoded where they contain `%`, `:`, `{` or `}`, so no identifier or instance can
//! make its keys collide with another cart's or break out of the hash tag.

use std::sync::Arc;

use crate::storage::CartKey;

/// The key names under one prefix.
#[derive(Clone, Debug)]
pub(super) struct Keys {
    prefix: Arc<str>,
}

impl Keys {
    pub(super) fn new(prefix: &str) -> Self {
        Keys {
            prefix: Arc::from(prefix),
        }
    }

    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{prefix}:{<identifier>}:<instance>`: the hash holding one cart.
    pub(super) fn cart(&self, key: &CartKey) -> String {
        format!(
            "{}:{{{}}}:{}",
            self.prefix,
            encode_part(key.identifier()),
            encode_part(key.instance())
        )
    }

    /// `{prefix}:{<identifier>}`: the set of an identifier's instances.
    pub(super) fn set(&self, identifier: &str) -> String {
        format!("{}:{{{}}}", self.prefix, encode_part(identifier))
    }

    /// An instance as the instance set stores it.
    pub(super) fn instance(&self, instance: &str) -> String {
        encode_part(instance)
    }

    /// `{prefix}:{<identifier>}:<instance>:lock`: the lock of one cart in locking mode.
    pub(super) fn lock(&self, key: &CartKey) -> String {
        format!("{}:lock", self.cart(key))
    }

    /// An instance set member back as the instance it stands for.
    pub(super) fn decode_instance(&self, encoded: &str) -> String {
        decode_part(encoded)
    }

    /// The `SCAN ... MATCH` pattern for every key under the prefix that carries a hash tag; the
    /// prefix is escaped so glob characters in it match only themselves.
    pub(super) fn scan_pattern(&self) -> String {
        format!("{}:{{*", escape_glob(&self.prefix))
    }

    /// The cart a scanned key names, if it is a cart key (not an instance set, not a lock).
    pub(super) fn parse_cart(&self, raw: &str) -> Option<CartKey> {
        let head = format!("{}:{{", self.prefix);
        let rest = raw.strip_prefix(&head)?;
        let (identifier, instance) = rest.split_once("}:")?;
        if instance.is_empty() || instance.contains(':') || identifier.contains('}') {
            return None;
        }
        Some(CartKey::new(decode_part(identifier), decode_part(instance)))
    }
}

/// Percent-encodes the characters that structure keys.
fn encode_part(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for c in part.chars() {
        match c {
            '%' => out.push_str("%25"),
            ':' => out.push_str("%3A"),
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            c => out.push(c),
        }
    }
    out
}

fn decode_part(part: &str) -> String {
    part.replace("%3A", ":")
        .replace("%7B", "{")
        .replace("%7D", "}")
        .replace("%25", "%")
}

/// Escapes glob characters for `SCAN ... MATCH`.
fn escape_glob(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_parts_cannot_collide() {
        for part in ["a:b", "a}b", "{a}", "100%", "plain", "ü:{}%"] {
            assert_eq!(decode_part(&encode_part(part)), part);
            let encoded = encode_part(part);
            assert!(!encoded.contains([':', '{', '}']), "{encoded}");
        }
        assert_ne!(encode_part("a:b"), encode_part("a%3Ab"));
    }
}
