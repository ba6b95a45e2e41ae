//! `SCAN` over every primary. A single Redis is scanned as it is. On a Redis Cluster each primary
//! holds its own slots' keys and `SCAN` walks one node, so the pages walk the primaries one after
//! the other, in the order of the first slot each serves; the cursor names that slot and the
//! node's own cursor (`<slot>:<cursor>`). A slot, not an address: after a failover the replica
//! that took the slots over goes on with the walk. (A node's cursor on the node that replaced it
//! may skip or repeat keys that were rehashed meanwhile; copying carts twice changes nothing,
//! and a copy run again after a failover catches what was skipped.)

use std::collections::BTreeMap;

use fred::interfaces::{ClientLike, ClusterInterface, KeysInterface};
use fred::types::config::Server;
use fred::types::scan::ScanType;

use super::client::{Client, DRIVER};
use crate::storage::StorageError;

/// Raw keys of one page and the cursor of the next, if any.
pub(super) struct RawPage {
    pub(super) keys: Vec<String>,
    pub(super) next: Option<String>,
}

/// One page of the keys matching `pattern`, of type `kind` when one is given.
pub(super) async fn page(
    client: &Client,
    pattern: &str,
    kind: Option<ScanType>,
    cursor: Option<String>,
    batch: usize,
) -> Result<RawPage, StorageError> {
    let count = Some(batch.clamp(1, u32::MAX as usize) as u32);
    let connection = client.pool.next();
    if !connection.is_clustered() {
        let cursor = cursor.unwrap_or_else(|| "0".to_owned());
        let (next, keys): (String, Vec<String>) = client
            .timed(connection.scan_page(cursor, pattern.to_owned(), count, kind))
            .await?;
        return Ok(RawPage {
            keys,
            next: (next != "0").then_some(next),
        });
    }
    let primaries = primaries(connection)?;
    let (slot, node_cursor) = match cursor {
        None => match primaries.keys().next() {
            Some(first) => (*first, "0".to_owned()),
            None => return Err(unknown_topology()),
        },
        Some(cursor) => parse_cursor(&cursor)?,
    };
    let server = primaries
        .get(&slot)
        .cloned()
        .ok_or_else(|| StorageError::Backend {
            driver: DRIVER,
            message: format!("scan cursor names slot {slot}, where no primary's slots begin"),
        })?;
    let (next, keys): (String, Vec<String>) = client
        .timed(connection.with_cluster_node(server).scan_page(
            node_cursor,
            pattern.to_owned(),
            count,
            kind,
        ))
        .await?;
    let next = if next != "0" {
        Some(format!("{slot}:{next}"))
    } else {
        // This primary is done: on to the next one.
        primaries
            .range(slot.saturating_add(1)..)
            .next()
            .map(|(first, _)| format!("{first}:0"))
    };
    Ok(RawPage { keys, next })
}

/// Each primary of the cluster, by the first slot it serves.
fn primaries(connection: &fred::clients::Client) -> Result<BTreeMap<u16, Server>, StorageError> {
    let routing = connection
        .cached_cluster_state()
        .ok_or_else(unknown_topology)?;
    let mut first_slots: BTreeMap<Server, u16> = BTreeMap::new();
    for range in routing.slots() {
        first_slots
            .entry(range.primary.clone())
            .and_modify(|first| *first = (*first).min(range.start))
            .or_insert(range.start);
    }
    if first_slots.is_empty() {
        return Err(unknown_topology());
    }
    Ok(first_slots
        .into_iter()
        .map(|(server, first)| (first, server))
        .collect())
}

fn parse_cursor(cursor: &str) -> Result<(u16, String), StorageError> {
    let invalid = || StorageError::Backend {
        driver: DRIVER,
        message: format!("not a cluster scan cursor: {cursor:?}"),
    };
    let (slot, node_cursor) = cursor.split_once(':').ok_or_else(invalid)?;
    let slot = slot.parse::<u16>().map_err(|_| invalid())?;
    if node_cursor.is_empty() || !node_cursor.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    Ok((slot, node_cursor.to_owned()))
}

fn unknown_topology() -> StorageError {
    StorageError::Unavailable {
        driver: DRIVER,
        message: "the cluster's slots are not known yet".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    #[test]
    fn cursors_are_a_slot_and_a_node_cursor() {
        assert_eq!(parse_cursor("5461:17").unwrap(), (5461, "17".to_owned()));
        for bad in ["", "17", "x:1", "70000:1", "1:", "1:-3", "1:2:3"] {
            assert!(parse_cursor(bad).is_err(), "{bad}");
        }
    }
}
