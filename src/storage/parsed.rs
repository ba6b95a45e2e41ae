//! [`ParsedDocuments`]: the parsed carts of recently read documents, so that a document that did
//! not change since it was last read is not parsed again. Reads far outnumber writes, and
//! parsing the document is most of what reading a cart costs.

use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

use super::key::word_hash;
use super::{CartKey, Versioned};
use crate::cart::CartContents;

/// How many carts are kept parsed unless configured otherwise.
pub(crate) const DEFAULT_PARSED_CARTS: usize = 256;

/// A fixed number of entries in sets of [`WAYS`], each cart in the set its key hashes to, where
/// it takes the place of the entry used longest ago: memory is bounded by the entry count, and a
/// few carts that hash alike do not push each other out. An entry is used only for the same
/// key, version, write time and document (length and a 64-bit hash of the bytes): a cart's key
/// never reaches another cart's entry, and a version that came back with another document (a
/// session saved over by a concurrent request) does not match.
pub(crate) struct ParsedDocuments {
    sets: Box<[Mutex<Set>]>,
}

/// How many entries share a set.
const WAYS: usize = 4;

#[derive(Default)]
struct Set {
    entries: [Option<Entry>; WAYS],
    /// When each entry was last used, on this set's own clock.
    used: [u64; WAYS],
    clock: u64,
}

struct Entry {
    key: CartKey,
    version: u64,
    updated_at: Option<OffsetDateTime>,
    /// The text a session entry stores before the document (`<version>:<updated_at>:`), which
    /// says the version and write time above; empty for other drivers' entries.
    header: Header,
    length: usize,
    hash: u64,
    cart: Arc<Versioned<CartContents>>,
}

/// Room for a session entry's header: two 64-bit numbers, a sign and two colons.
const HEADER_ROOM: usize = 44;

/// A session entry's header, kept inline (no allocation per entry).
struct Header {
    bytes: [u8; HEADER_ROOM],
    length: u8,
}

impl Header {
    /// `text`, or the empty header when it does not fit (such an entry is then found by its
    /// version instead).
    fn of(text: &[u8]) -> Self {
        let mut bytes = [0; HEADER_ROOM];
        let Some(room) = bytes.get_mut(..text.len()) else {
            return Header { bytes, length: 0 };
        };
        room.copy_from_slice(text);
        Header {
            bytes,
            length: text.len() as u8,
        }
    }

    fn text(&self) -> &[u8] {
        &self.bytes[..usize::from(self.length)]
    }
}

impl std::fmt::Debug for ParsedDocuments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedDocuments")
            .field("entries", &(self.sets.len() * WAYS))
            .finish()
    }
}

impl Default for ParsedDocuments {
    fn default() -> Self {
        ParsedDocuments::new(DEFAULT_PARSED_CARTS)
    }
}

/// What identifies a document's bytes here: its length and hash.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fingerprint {
    length: usize,
    hash: u64,
}

impl Fingerprint {
    pub(crate) fn of(document: &[u8]) -> Self {
        Fingerprint {
            length: document.len(),
            hash: document_hash(document),
        }
    }
}

/// A fast 64-bit hash of the document's bytes. Not keyed: it only has to tell two documents of
/// one cart at one version apart, which no client can choose to collide.
fn document_hash(bytes: &[u8]) -> u64 {
    word_hash(0, bytes)
}

impl ParsedDocuments {
    /// Room for about `carts` parsed carts (at least one set of [`WAYS`]).
    pub(crate) fn new(carts: usize) -> Self {
        ParsedDocuments {
            sets: (0..carts.div_ceil(WAYS).max(1))
                .map(|_| Mutex::default())
                .collect(),
        }
    }

    fn set(&self, key: &CartKey) -> std::sync::MutexGuard<'_, Set> {
        let index = (key.table_hash() % self.sets.len() as u64) as usize;
        // An entry is replaced whole: a panic elsewhere cannot leave half of one.
        self.sets[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cart stored as `document` at `version`: parsed once, then shared while the document
    /// stays the same.
    ///
    /// # Errors
    ///
    /// The parse error of a document that is not a cart.
    pub(crate) fn get_or_parse(
        &self,
        key: &CartKey,
        version: u64,
        updated_at: Option<OffsetDateTime>,
        document: &[u8],
    ) -> Result<Arc<Versioned<CartContents>>, serde_json::Error> {
        self.get_or_parse_compact(key, version, updated_at, b"", document)
    }

    /// The cart of a session entry whose `header` (the text before its document) says `version`
    /// and `updated_at`: as [`ParsedDocuments::get_or_parse`], and the entry kept remembers the
    /// header for [`ParsedDocuments::get_compact`].
    pub(crate) fn get_or_parse_compact(
        &self,
        key: &CartKey,
        version: u64,
        updated_at: Option<OffsetDateTime>,
        header: &[u8],
        document: &[u8],
    ) -> Result<Arc<Versioned<CartContents>>, serde_json::Error> {
        let hash = document_hash(document);
        {
            let mut set = self.set(key);
            let found = set.entries.iter().position(|entry| {
                entry.as_ref().is_some_and(|entry| {
                    entry.version == version
                        && entry.length == document.len()
                        && entry.hash == hash
                        && entry.updated_at == updated_at
                        && entry.key == *key
                })
            });
            if let Some(at) = found {
                set.clock += 1;
                set.used[at] = set.clock;
                if let Some(entry) = &set.entries[at] {
                    return Ok(Arc::clone(&entry.cart));
                }
            }
        }
        let cart = Arc::new(Versioned {
            value: CartContents::from_json(document)?,
            version,
            updated_at,
        });
        self.keep(key, header, document.len(), hash, Arc::clone(&cart));
        Ok(cart)
    }

    /// The cart of `key` stored as the session entry `entry` (`<version>:<updated_at>:<document>`)
    /// when the entry kept for `key` came from the same text: its header compared as bytes and
    /// its document by length and hash, so that reading an unchanged cart reads neither the
    /// header's numbers nor the document. `None` sends the caller to
    /// [`ParsedDocuments::get_or_parse_compact`].
    pub(crate) fn get_compact(
        &self,
        key: &CartKey,
        entry: &[u8],
    ) -> Option<Arc<Versioned<CartContents>>> {
        let mut set = self.set(key);
        let at = set.entries.iter().position(|kept| {
            kept.as_ref().is_some_and(|kept| {
                let header = kept.header.text();
                // A header ends with its second colon: the same prefix is the same two numbers.
                !header.is_empty()
                    && entry.starts_with(header)
                    && entry.len() - header.len() == kept.length
                    && kept.key == *key
                    && document_hash(&entry[header.len()..]) == kept.hash
            })
        })?;
        set.clock += 1;
        set.used[at] = set.clock;
        set.entries[at]
            .as_ref()
            .map(|entry| Arc::clone(&entry.cart))
    }

    /// The entry of `key`, if one is kept: a driver that can ask its store whether the cart is
    /// still at this version and write time needs neither the document nor a parse when it is.
    pub(crate) fn latest(&self, key: &CartKey) -> Option<Arc<Versioned<CartContents>>> {
        let mut set = self.set(key);
        let at = set
            .entries
            .iter()
            .position(|entry| entry.as_ref().is_some_and(|entry| entry.key == *key))?;
        set.clock += 1;
        set.used[at] = set.clock;
        set.entries[at]
            .as_ref()
            .map(|entry| Arc::clone(&entry.cart))
    }

    /// Remembers `cart`, which a write just stored at its version and write time, for a store
    /// that answers [`ParsedDocuments::latest`] lookups: the document the store will send back is
    /// not known here, so no read of a document matches the entry.
    pub(crate) fn remember_stored(&self, key: &CartKey, cart: Arc<Versioned<CartContents>>) {
        self.keep(key, b"", usize::MAX, 0, cart);
    }

    /// Remembers `cart`, which a write just stored as the document `written`, so that the next
    /// read of that document does not parse it.
    pub(crate) fn remember(
        &self,
        key: &CartKey,
        written: Fingerprint,
        cart: Versioned<CartContents>,
    ) {
        self.remember_compact(key, b"", written, cart);
    }

    /// Remembers `cart`, which a write just stored in a session entry as `header` and the
    /// document `written`, so that the next read of that entry finds it by
    /// [`ParsedDocuments::get_compact`].
    pub(crate) fn remember_compact(
        &self,
        key: &CartKey,
        header: &[u8],
        written: Fingerprint,
        cart: Versioned<CartContents>,
    ) {
        self.keep(key, header, written.length, written.hash, Arc::new(cart));
    }

    fn keep(
        &self,
        key: &CartKey,
        header: &[u8],
        length: usize,
        hash: u64,
        cart: Arc<Versioned<CartContents>>,
    ) {
        let mut set = self.set(key);
        // The cart's own older entry if it has one, else an empty one, else the least used.
        let at = set
            .entries
            .iter()
            .position(|entry| entry.as_ref().is_some_and(|entry| entry.key == *key))
            .or_else(|| set.entries.iter().position(Option::is_none))
            .unwrap_or_else(|| (0..WAYS).min_by_key(|&at| set.used[at]).unwrap_or_default());
        set.clock += 1;
        set.used[at] = set.clock;
        set.entries[at] = Some(Entry {
            key: key.clone(),
            version: cart.version,
            updated_at: cart.updated_at,
            header: Header::of(header),
            length,
            hash,
            cart,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cart::{CartItem, Currency, Money};

    fn document(units: u32) -> Vec<u8> {
        let mut cart = CartContents::new(Currency::USD);
        let price = Money::parse("1.00", Currency::USD).unwrap();
        cart.add(CartItem::new("a", "A", price, units)).unwrap();
        cart.to_json().unwrap()
    }

    #[test]
    fn an_unchanged_document_is_parsed_once_and_any_change_parses_again() {
        let parsed = ParsedDocuments::new(4);
        let key = CartKey::new("guest", "default");
        let first = parsed.get_or_parse(&key, 7, None, &document(1)).unwrap();
        let again = parsed.get_or_parse(&key, 7, None, &document(1)).unwrap();
        assert!(Arc::ptr_eq(&first, &again), "the same document is shared");

        // The same version with another document (a session saved over by another request).
        let other = parsed.get_or_parse(&key, 7, None, &document(2)).unwrap();
        assert_eq!(other.value.get("a").unwrap().quantity(), 2);
        let later = parsed.get_or_parse(&key, 8, None, &document(2)).unwrap();
        assert_eq!(later.version, 8);
        let elsewhere = CartKey::new("guest", "wishlist");
        let instance = parsed
            .get_or_parse(&elsewhere, 8, None, &document(2))
            .unwrap();
        assert!(!Arc::ptr_eq(&later, &instance), "keys never share an entry");
        assert!(parsed.get_or_parse(&key, 9, None, b"{ not json").is_err());

        // What a write remembers is what the next read of its document gets.
        let written = document(5);
        let at = Some(OffsetDateTime::UNIX_EPOCH);
        let cart = Versioned {
            value: CartContents::from_json(&written).unwrap(),
            version: 10,
            updated_at: at,
        };
        parsed.remember(&key, Fingerprint::of(&written), cart);
        let read = parsed.get_or_parse(&key, 10, at, &written).unwrap();
        assert_eq!(read.value.get("a").unwrap().quantity(), 5);
        let other_time = parsed.get_or_parse(&key, 10, None, &written).unwrap();
        assert!(
            !Arc::ptr_eq(&read, &other_time),
            "the write time is part of the match"
        );
    }

    #[test]
    fn a_session_entry_is_found_by_its_header_and_document() {
        let parsed = ParsedDocuments::new(4);
        let key = CartKey::new("guest", "default");
        let written = document(3);
        let entry = |header: &str, document: &[u8]| {
            let mut entry = header.as_bytes().to_vec();
            entry.extend_from_slice(document);
            entry
        };
        let cart = Versioned {
            value: CartContents::from_json(&written).unwrap(),
            version: 7,
            updated_at: OffsetDateTime::from_unix_timestamp(100).ok(),
        };
        parsed.remember_compact(&key, b"7:100:", Fingerprint::of(&written), cart);
        let found = parsed.get_compact(&key, &entry("7:100:", &written));
        assert_eq!(found.map(|cart| cart.version), Some(7));
        for other in [
            entry("8:100:", &written),
            entry("7:101:", &written),
            entry("7:100:", &document(4)),
            entry("", &written),
            b"7:100:".to_vec(),
        ] {
            assert!(parsed.get_compact(&key, &other).is_none(), "{other:?}");
        }
        let elsewhere = CartKey::new("guest", "wishlist");
        assert!(
            parsed
                .get_compact(&elsewhere, &entry("7:100:", &written))
                .is_none()
        );

        // A read that parsed an entry leaves it to be found by its header as well.
        let read = parsed
            .get_or_parse_compact(&key, 8, None, b"8::", &written)
            .unwrap();
        let again = parsed.get_compact(&key, &entry("8::", &written)).unwrap();
        assert!(Arc::ptr_eq(&read, &again));
        // Other drivers' entries have no header, and are never found by one.
        parsed.remember(&key, Fingerprint::of(&written), (*read).clone());
        assert!(parsed.get_compact(&key, &entry("8::", &written)).is_none());
    }

    #[test]
    fn carts_that_share_a_set_keep_their_entries() {
        let parsed = ParsedDocuments::new(WAYS);
        let text = document(1);
        let keys: Vec<CartKey> = (0..WAYS)
            .map(|n| CartKey::new(format!("g{n}"), "default"))
            .collect();
        let first: Vec<_> = keys
            .iter()
            .map(|key| parsed.get_or_parse(key, 1, None, &text).unwrap())
            .collect();
        for (key, cart) in keys.iter().zip(&first) {
            let again = parsed.get_or_parse(key, 1, None, &text).unwrap();
            assert!(Arc::ptr_eq(cart, &again), "{key:?} kept its entry");
        }
        // One more cart takes the place of the one used longest ago.
        parsed.get_or_parse(&keys[0], 1, None, &text).unwrap();
        let extra = CartKey::new("extra", "default");
        parsed.get_or_parse(&extra, 1, None, &text).unwrap();
        let evicted = parsed.get_or_parse(&keys[1], 1, None, &text).unwrap();
        assert!(
            !Arc::ptr_eq(&first[1], &evicted),
            "the least used entry went"
        );
        let kept = parsed.get_or_parse(&keys[0], 1, None, &text).unwrap();
        assert!(
            Arc::ptr_eq(&first[0], &kept),
            "a recently used entry stayed"
        );
    }

    #[test]
    fn documents_that_differ_hash_apart() {
        let base = document(1);
        let mut seen = std::collections::HashSet::new();
        for at in 0..base.len() {
            let mut changed = base.clone();
            changed[at] ^= 1;
            assert!(seen.insert(document_hash(&changed)), "byte {at}");
        }
        assert!(!seen.contains(&document_hash(&base)));
    }
}
