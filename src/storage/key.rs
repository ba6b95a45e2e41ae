//! [`CartKey`]: which cart, and how it shows in logs.

use std::fmt;
use std::sync::{Arc, OnceLock};

/// The instance used when none is named.
pub const DEFAULT_INSTANCE: &str = "default";

/// Names one cart: a cart identifier and an instance (`default`, `wishlist`, ...). Cheap to
/// clone: both parts are shared.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CartKey {
    identifier: Arc<str>,
    instance: Arc<str>,
}

/// A fast 64-bit hash of `bytes`, a word at a time, continuing from `seed`; its low bits, which
/// tables take, depend on every byte. For tables of this process only: it is not keyed.
pub(crate) fn word_hash(seed: u64, bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut hash = seed ^ (bytes.len() as u64 ^ K).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        hash = (hash ^ word).wrapping_mul(K).rotate_left(29);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    hash = (hash ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    hash ^ (hash >> 32)
}

/// The shared text of an instance name: the default one is made once.
pub(crate) fn instance_text(instance: &str) -> Arc<str> {
    static DEFAULT: OnceLock<Arc<str>> = OnceLock::new();
    if instance == DEFAULT_INSTANCE {
        Arc::clone(DEFAULT.get_or_init(|| Arc::from(DEFAULT_INSTANCE)))
    } else {
        Arc::from(instance)
    }
}

impl CartKey {
    /// The cart `instance` of `identifier`.
    pub fn new(identifier: impl Into<String>, instance: impl Into<String>) -> CartKey {
        CartKey {
            identifier: Arc::from(identifier.into()),
            instance: instance_text(&instance.into()),
        }
    }

    /// The cart `instance` of a shared `identifier`, copying neither.
    pub(crate) fn shared(identifier: Arc<str>, instance: &str) -> CartKey {
        CartKey {
            identifier,
            instance: instance_text(instance),
        }
    }

    /// The cart identifier (a guest id or a user id).
    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    /// The instance name.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// A fast hash of the whole key for spreading carts over a fixed table in this process.
    /// Not keyed: a collision only costs the table's user one extra read.
    pub(crate) fn table_hash(&self) -> u64 {
        word_hash(
            word_hash(0, self.identifier.as_bytes()),
            self.instance.as_bytes(),
        )
    }

    /// A short, stable hash of the identifier for logs, so identifiers never appear in clear.
    pub fn identifier_hash(&self) -> String {
        identifier_hash(&self.identifier)
    }
}

/// Whether `name` is a plain SQL table name: lower-case letters, digits and `_`, optionally
/// `schema.table`. Table names are spliced into SQL, so nothing else may pass.
pub(crate) fn is_plain_table_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() <= 2
        && parts.iter().all(|part| {
            !part.is_empty()
                && part.len() <= 63
                && part.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// A short, stable, non-reversible tag of an identifier for logs.
pub(crate) fn identifier_hash(identifier: &str) -> String {
    use std::hash::{Hash, Hasher};
    // SipHash with fixed keys: stable across processes, and 64 bits reveal nothing useful about a
    // 128-bit random identifier.
    #[allow(deprecated)]
    let mut hasher = std::hash::SipHasher::new();
    identifier.hash(&mut hasher);
    format!("{:016x}", hasher.finish())[..10].to_owned()
}

impl fmt::Debug for CartKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CartKey({}…/{})", self.identifier_hash(), self.instance)
    }
}

impl fmt::Display for CartKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…/{}", self.identifier_hash(), self.instance)
    }
}
