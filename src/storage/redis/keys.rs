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

    /// `{prefix}:{<identifier>}:<instance>`: the string holding one cart.
    pub(super) fn cart(&self, key: &CartKey) -> String {
        // Built in one buffer: every cart command names a key, and a read is little else.
        let (identifier, instance) = (key.identifier(), key.instance());
        let mut out =
            String::with_capacity(self.prefix.len() + identifier.len() + instance.len() + 4);
        out.push_str(&self.prefix);
        out.push_str(":{");
        push_encoded(&mut out, identifier);
        out.push_str("}:");
        push_encoded(&mut out, instance);
        out
    }

    /// `{prefix}:{<identifier>}`: the set of an identifier's instances.
    pub(super) fn set(&self, identifier: &str) -> String {
        let mut out = String::with_capacity(self.prefix.len() + identifier.len() + 3);
        out.push_str(&self.prefix);
        out.push_str(":{");
        push_encoded(&mut out, identifier);
        out.push('}');
        out
    }

    /// An instance as the instance set stores it.
    pub(super) fn instance(&self, instance: &str) -> String {
        encode_part(instance)
    }

    /// `<cart key>:next:<16 hex digits>`: the new value of one write, sent beside the cart and
    /// renamed over it by the save script. Random, so that writers racing on one cart each
    /// rename their own.
    pub(super) fn staged(&self, cart: &str) -> String {
        format!("{cart}:next:{:016x}", rand::random::<u64>())
    }

    /// `{prefix}:{<identifier>}:<instance>:moved`: the record of the cross-slot move that wrote
    /// this cart (see `moving.rs`).
    pub(super) fn move_record(&self, key: &CartKey) -> String {
        format!("{}:moved", self.cart(key))
    }

    /// `{prefix}:{<identifier>}:<instance>:lock`: the lock of one cart in locking mode.
    pub(super) fn lock(&self, key: &CartKey) -> String {
        format!("{}:lock", self.cart(key))
    }

    /// The event stream of a cart whose key is `cart`: `{prefix}:events` on a single Redis; on a
    /// cluster `{prefix}:events:{<tag>}`, where `<tag>` hashes to the cart's slot, so the save
    /// script that appends to it stays in one slot.
    pub(super) fn events(&self, cart: &str, clustered: bool) -> String {
        if clustered {
            let tag = &slot_tags()[usize::from(fred::util::redis_keyslot(cart.as_bytes()))];
            format!("{}:events:{{{tag}}}", self.prefix)
        } else {
            format!("{}:events", self.prefix)
        }
    }

    /// `SCAN ... MATCH` pattern of the per-slot event streams of a cluster.
    pub(super) fn events_pattern(&self) -> String {
        format!("{}:events:{{*", escape_glob(&self.prefix))
    }

    /// `{prefix}:event-cursors:<consumer>`: a hash of stream -> last acknowledged entry id.
    pub(super) fn event_cursor(&self, consumer: &str) -> String {
        format!("{}:event-cursors:{}", self.prefix, encode_part(consumer))
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

    /// The cart a scanned key names, if it is a cart key (not an instance set, a lock, a move
    /// record or a write's new value).
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

/// For each of the 16 384 cluster slots, a short string that hashes to it: the hash tag of that
/// slot's event stream. Found once by trying numbers in base 36 (about 170 000 of them).
fn slot_tags() -> &'static [String] {
    static TAGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    TAGS.get_or_init(|| {
        const SLOTS: usize = 16_384;
        let mut tags = vec![String::new(); SLOTS];
        let mut missing = SLOTS;
        let mut n: u64 = 0;
        while missing > 0 {
            let tag = base36(n);
            let slot = usize::from(fred::util::redis_keyslot(tag.as_bytes()));
            if tags[slot].is_empty() {
                tags[slot] = tag;
                missing -= 1;
            }
            n += 1;
        }
        tags
    })
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Percent-encodes the characters that structure keys.
fn encode_part(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    push_encoded(&mut out, part);
    out
}

/// Appends `part` percent-encoded where it holds `%`, `:`, `{` or `}`; most parts hold none and
/// are copied whole.
fn push_encoded(out: &mut String, part: &str) {
    if !part.contains(['%', ':', '{', '}']) {
        out.push_str(part);
        return;
    }
    for c in part.chars() {
        match c {
            '%' => out.push_str("%25"),
            ':' => out.push_str("%3A"),
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            c => out.push(c),
        }
    }
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
    fn every_cart_has_an_event_stream_in_its_slot() {
        let keys = Keys::new("cart");
        for identifier in ["a", "guest-1", "user:42", "ü{x}"] {
            let cart = keys.cart(&CartKey::new(identifier, "default"));
            let stream = keys.events(&cart, true);
            assert_eq!(
                fred::util::redis_keyslot(stream.as_bytes()),
                fred::util::redis_keyslot(cart.as_bytes()),
                "{stream} and {cart}"
            );
            assert!(keys.parse_cart(&stream).is_none());
        }
        assert_eq!(keys.events("cart:{a}:default", false), "cart:events");
    }

    /// A scan finds carts by their keys: a write's new value and a move's record live beside
    /// the cart, in its slot, and must never be taken for carts themselves.
    #[test]
    fn the_keys_beside_a_cart_share_its_slot_and_are_not_carts() {
        let keys = Keys::new("cart");
        for identifier in ["a", "guest-1", "user:42", "ü{x}"] {
            let key = CartKey::new(identifier, "default");
            let cart = keys.cart(&key);
            assert_eq!(keys.parse_cart(&cart), Some(key.clone()));
            let (first, second) = (keys.staged(&cart), keys.staged(&cart));
            assert_ne!(first, second, "two writes of one cart stage under one key");
            for beside in [first, second, keys.move_record(&key), keys.lock(&key)] {
                assert_eq!(
                    fred::util::redis_keyslot(beside.as_bytes()),
                    fred::util::redis_keyslot(cart.as_bytes()),
                    "{beside} and {cart}"
                );
                assert!(
                    keys.parse_cart(&beside).is_none(),
                    "{beside} taken for a cart"
                );
            }
        }
    }

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
