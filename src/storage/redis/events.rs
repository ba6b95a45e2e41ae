//! The event log of the Redis driver: which stream a cart's events go to (the writing scripts
//! append to it, see `scripts/log_event.lua`), and reading, acknowledging and pruning them.
//!
//! On a single Redis every event goes to one stream, `{prefix}:events`. On a cluster a script
//! may only touch keys of one slot, so each slot has a stream of its own,
//! `{prefix}:events:{<tag>}` with a tag that hashes to the slot; a reader finds the streams by
//! scanning every primary for them (again at most every [`DISCOVERY_INTERVAL`]: a stream found
//! late is read from its start, so nothing is missed).
//!
//! A consumer's cursor is a hash, `{prefix}:event-cursors:<consumer>`, of stream -> the last
//! entry id it acknowledged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fred::interfaces::{ClientLike, HashesInterface};
use fred::types::scan::ScanType;
use fred::types::{CustomCommand, Value};

use super::client::{Client, DRIVER, as_i64, as_string, slot};
use super::keys::Keys;
use super::scan;
use crate::storage::{
    CartKey, EventRetention, LoggedEvent, LoggedEventKind, Position, StorageError, event_id,
    from_micros, identifier_tag,
};

/// How long a cluster's list of streams is used before the primaries are scanned again.
pub(super) const DISCOVERY_INTERVAL: Duration = Duration::from_secs(2);

/// The streams a reader knows, and when it looked.
#[derive(Default)]
pub(super) struct Streams {
    known: Mutex<Option<(Instant, Vec<String>)>>,
}

/// Declares the cart's event stream as `KEYS[3]` of a writing script and appends the arguments
/// `log_event.lua` reads: the identifier tag, the instance and the write id.
pub(super) fn declare(
    client: &Client,
    keys: &Keys,
    key: &CartKey,
    write_id: Option<&str>,
    script_keys: &mut Vec<String>,
    args: &mut Vec<String>,
) {
    script_keys.push(keys.events(&keys.cart(key), client.clustered()));
    event_args(key, write_id, args);
}

/// The three arguments `log_event.lua` reads for one cart's event.
pub(super) fn event_args(key: &CartKey, write_id: Option<&str>, args: &mut Vec<String>) {
    args.extend([
        identifier_tag(key),
        key.instance().to_owned(),
        write_id.unwrap_or_default().to_owned(),
    ]);
}

fn malformed(message: String) -> StorageError {
    StorageError::Backend {
        driver: DRIVER,
        message,
    }
}

/// Every event stream under the prefix.
async fn streams(
    client: &Client,
    keys: &Keys,
    known: &Streams,
) -> Result<Vec<String>, StorageError> {
    if !client.clustered() {
        return Ok(vec![keys.events("", false)]);
    }
    if let Some((at, streams)) = &*known.known.lock().unwrap_or_else(|e| e.into_inner()) {
        if at.elapsed() < DISCOVERY_INTERVAL {
            return Ok(streams.clone());
        }
    }
    let pattern = keys.events_pattern();
    let mut found = Vec::new();
    let mut cursor = None;
    loop {
        let page = scan::page(client, &pattern, Some(ScanType::Stream), cursor, 1000).await?;
        found.extend(page.keys);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    found.sort();
    found.dedup();
    *known.known.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), found.clone()));
    Ok(found)
}

/// A stream entry id `ms-seq` as a pair.
fn entry_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// Runs one command on the node of `key`'s slot.
async fn on_key(
    client: &Client,
    command: &'static str,
    key: &str,
    args: Vec<Value>,
) -> Result<Value, StorageError> {
    let mut all: Vec<Value> = vec![key.into()];
    all.extend(args);
    client
        .timed(client.pool.next().custom::<Value, _>(
            CustomCommand::new_static(command, Some(slot(key)), false),
            all,
        ))
        .await
}

/// Up to `max` events after the consumer's cursors, oldest first within each stream; the
/// streams take turns from `start`, so a busy one does not keep the others waiting.
pub(super) async fn read(
    client: &Client,
    keys: &Keys,
    known: &Streams,
    consumer: &str,
    max: usize,
    start: usize,
) -> Result<Vec<LoggedEvent>, StorageError> {
    let streams = streams(client, keys, known).await?;
    let cursors: HashMap<String, String> = client
        .timed(client.pool.hgetall(keys.event_cursor(consumer)))
        .await?;
    let mut events = Vec::new();
    let count = streams.len();
    for i in 0..count {
        if events.len() >= max {
            break;
        }
        let stream = &streams[(start + i) % count];
        let from = cursors
            .get(stream)
            .map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        let answer = on_key(
            client,
            "XRANGE",
            stream,
            vec![
                from.into(),
                "+".into(),
                "COUNT".into(),
                ((max - events.len()) as i64).into(),
            ],
        )
        .await?;
        let Value::Array(entries) = answer else {
            continue;
        };
        for entry in entries {
            events.push(parse_entry(stream, entry)?);
        }
    }
    Ok(events)
}

/// One `XRANGE` entry: `[id, [field, value, ...]]`.
fn parse_entry(stream: &str, entry: Value) -> Result<LoggedEvent, StorageError> {
    let Value::Array(mut parts) = entry else {
        return Err(malformed(format!(
            "a stream entry of {stream} is not an array"
        )));
    };
    let (Some(fields), Some(id)) = (parts.pop(), parts.pop()) else {
        return Err(malformed(format!("a short stream entry in {stream}")));
    };
    let id = as_string(&id).unwrap_or_default();
    let offset = entry_id(&id).ok_or_else(|| malformed(format!("entry id `{id}` in {stream}")))?;
    let Value::Array(fields) = fields else {
        return Err(malformed(format!("entry {id} of {stream} has no fields")));
    };
    let mut map: HashMap<String, Value> = HashMap::new();
    let mut fields = fields.into_iter();
    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
        map.insert(as_string(&name).unwrap_or_default(), value);
    }
    let text = |name: &str| map.get(name).and_then(as_string);
    let bad = || malformed(format!("entry {id} of {stream} is not a cart event"));
    let kind = text("k")
        .and_then(|code| LoggedEventKind::from_code(&code))
        .ok_or_else(bad)?;
    let version = map.get("v").and_then(as_i64).ok_or_else(bad)? as u64;
    let tag = text("h").filter(|tag| tag.len() == 16).ok_or_else(bad)?;
    let instance = text("i").ok_or_else(bad)?;
    // The entry id's first part is Redis's clock, in milliseconds, when the event was written.
    let at = from_micros(offset.0.min(i64::MAX as u64 / 1000) as i64 * 1000);
    Ok(LoggedEvent::new(
        event_id(&tag, &instance, version, kind),
        kind,
        tag[..10].to_owned(),
        instance,
        version,
        text("w").filter(|w| !w.is_empty()),
        at,
        Position {
            stream: stream.to_owned(),
            offset,
        },
    ))
}

/// Stores, per stream, the last of `events`' entries as the consumer's cursor (never one below
/// the stored cursor).
pub(super) async fn ack(
    client: &Client,
    keys: &Keys,
    consumer: &str,
    events: &[LoggedEvent],
) -> Result<(), StorageError> {
    let mut last: HashMap<&str, (u64, u64)> = HashMap::new();
    for event in events {
        let position = event.position();
        let entry = last.entry(&position.stream).or_insert(position.offset);
        *entry = (*entry).max(position.offset);
    }
    if last.is_empty() {
        return Ok(());
    }
    let cursor = keys.event_cursor(consumer);
    let stored: HashMap<String, String> = client.timed(client.pool.hgetall(&cursor)).await?;
    let moved: Vec<(String, String)> = last
        .into_iter()
        .filter(|(stream, offset)| {
            stored
                .get(*stream)
                .and_then(|id| entry_id(id))
                .is_none_or(|stored| stored < *offset)
        })
        .map(|(stream, (ms, seq))| (stream.to_owned(), format!("{ms}-{seq}")))
        .collect();
    if moved.is_empty() {
        return Ok(());
    }
    let _: i64 = client.timed(client.pool.hset(&cursor, moved)).await?;
    Ok(())
}

/// Trims every stream by age (`XTRIM MINID`: entry ids are Redis's clock in milliseconds) and by
/// count (`XTRIM MAXLEN`, per stream).
pub(super) async fn prune(
    client: &Client,
    keys: &Keys,
    known: &Streams,
    retention: &EventRetention,
) -> Result<u64, StorageError> {
    let mut trimmed = 0;
    for stream in streams(client, keys, known).await? {
        if let Some(age) = retention.max_age {
            let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
            let min = (now - age.as_millis() as i128).max(0);
            let answer = on_key(
                client,
                "XTRIM",
                &stream,
                vec!["MINID".into(), "=".into(), min.to_string().into()],
            )
            .await?;
            trimmed += as_i64(&answer).unwrap_or(0).max(0) as u64;
        }
        if let Some(count) = retention.max_count {
            let answer = on_key(
                client,
                "XTRIM",
                &stream,
                vec![
                    "MAXLEN".into(),
                    "=".into(),
                    count.min(i64::MAX as u64).to_string().into(),
                ],
            )
            .await?;
            trimmed += as_i64(&answer).unwrap_or(0).max(0) as u64;
        }
    }
    Ok(trimmed)
}

#[cfg(test)]
mod tests {
    use super::entry_id;

    #[test]
    fn entry_ids_order_as_pairs() {
        assert_eq!(entry_id("1700000000000-12"), Some((1_700_000_000_000, 12)));
        assert!(entry_id("9-1") < entry_id("10-0"));
        assert_eq!(entry_id("x"), None);
    }
}
