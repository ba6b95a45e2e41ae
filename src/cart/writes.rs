//! What a cart remembers of its own writes, so that a change is applied once: the ids of its
//! last writes, the guest carts already merged into it, and the idempotency keys of the HTTP
//! requests that changed it. Both travel inside the stored
//! document, so every driver keeps them with the cart in the same atomic write.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// How many write ids a cart remembers: enough to recognise its own write after a few others
/// landed on top of it.
pub const REMEMBERED_WRITES: usize = 16;
/// How many merged guest carts a cart remembers.
pub const REMEMBERED_MERGES: usize = 16;

/// How many idempotency keys a cart remembers: a client retries its last few changes, not
/// older ones, and every key costs document bytes.
pub(crate) const REMEMBERED_KEYS: usize = 32;

/// The idempotency key of a request that changed the cart, with the fingerprint of that request
/// (method, target and body) and when it committed (Unix seconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    pub(crate) key: String,
    pub(crate) fingerprint: String,
    pub(crate) at: i64,
}

/// A guest cart merged into this one: the guest identifier and instance version merged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeRecord {
    /// The guest identifier.
    pub guest: String,
    /// The version of the guest cart that was merged.
    pub version: u64,
}

/// The bookkeeping kept with a cart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct WriteLog {
    pub(crate) writes: Vec<Arc<str>>,
    pub(crate) merges: Vec<MergeRecord>,
    pub(crate) keys: Vec<KeyRecord>,
}

fn push_bounded<T>(list: &mut Vec<T>, value: T, max: usize) {
    list.push(value);
    if list.len() > max {
        list.drain(..list.len() - max);
    }
}

impl WriteLog {
    pub(crate) fn has_write(&self, write_id: &str) -> bool {
        self.writes.iter().any(|id| **id == *write_id)
    }

    pub(crate) fn record_write(&mut self, write_id: Arc<str>) {
        push_bounded(&mut self.writes, write_id, REMEMBERED_WRITES);
    }

    pub(crate) fn has_merged(&self, guest: &str, version: u64) -> bool {
        self.merges
            .iter()
            .any(|merge| merge.guest == guest && merge.version == version)
    }

    pub(crate) fn record_merge(&mut self, guest: String, version: u64) {
        push_bounded(
            &mut self.merges,
            MergeRecord { guest, version },
            REMEMBERED_MERGES,
        );
    }

    /// The record of `key` if it was stored at or after `oldest`: an expired key is forgotten
    /// even before a write prunes it.
    pub(crate) fn key_record(&self, key: &str, oldest: i64) -> Option<&KeyRecord> {
        self.keys
            .iter()
            .find(|record| record.key == key && record.at >= oldest)
    }

    /// Records `record`, dropping the keys stored before `oldest` and then the oldest keys over
    /// [`REMEMBERED_KEYS`].
    pub(crate) fn record_key(&mut self, record: KeyRecord, oldest: i64) {
        self.keys
            .retain(|kept| kept.at >= oldest && kept.key != record.key);
        push_bounded(&mut self.keys, record, REMEMBERED_KEYS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_writes_and_merges_only() {
        let mut log = WriteLog::default();
        for n in 0..REMEMBERED_WRITES + 3 {
            log.record_write(format!("w{n}").into());
        }
        assert_eq!(log.writes.len(), REMEMBERED_WRITES);
        assert!(!log.has_write("w2"));
        assert!(log.has_write("w3"));
        assert!(log.has_write(&format!("w{}", REMEMBERED_WRITES + 2)));

        log.record_merge("guest".into(), 4);
        assert!(log.has_merged("guest", 4));
        assert!(!log.has_merged("guest", 5));
        assert!(!log.has_merged("other", 4));
    }

    #[test]
    fn keys_are_bounded_and_expire() {
        let record = |n: usize, at: i64| KeyRecord {
            key: format!("k{n}"),
            fingerprint: format!("f{n}"),
            at,
        };
        let mut log = WriteLog::default();
        log.record_key(record(0, 10), 0);
        assert_eq!(
            log.key_record("k0", 10).map(|r| r.fingerprint.as_str()),
            Some("f0")
        );
        assert_eq!(log.key_record("k0", 11), None, "expired keys are not found");
        for n in 1..=REMEMBERED_KEYS {
            log.record_key(record(n, 20), 0);
        }
        assert_eq!(log.keys.len(), REMEMBERED_KEYS);
        assert_eq!(
            log.key_record("k0", 0),
            None,
            "the oldest key is dropped first"
        );
        log.record_key(record(99, 30), 25);
        assert_eq!(
            log.keys.len(),
            1,
            "keys older than the retention are pruned on write"
        );
    }
}
