//! What a cart remembers of its own writes, so that a change is applied once: the ids of its
//! last writes, and the guest carts already merged into it. Both travel inside the stored
//! document, so every driver keeps them with the cart in the same atomic write.

use serde::{Deserialize, Serialize};

/// How many write ids a cart remembers: enough to recognise its own write after a few others
/// landed on top of it.
pub const REMEMBERED_WRITES: usize = 16;
/// How many merged guest carts a cart remembers.
pub const REMEMBERED_MERGES: usize = 16;

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
    pub(crate) writes: Vec<String>,
    pub(crate) merges: Vec<MergeRecord>,
}

fn push_bounded<T>(list: &mut Vec<T>, value: T, max: usize) {
    list.push(value);
    if list.len() > max {
        list.drain(..list.len() - max);
    }
}

impl WriteLog {
    pub(crate) fn has_write(&self, write_id: &str) -> bool {
        self.writes.iter().any(|id| id == write_id)
    }

    pub(crate) fn record_write(&mut self, write_id: String) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_writes_and_merges_only() {
        let mut log = WriteLog::default();
        for n in 0..REMEMBERED_WRITES + 3 {
            log.record_write(format!("w{n}"));
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
}
