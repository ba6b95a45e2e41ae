//! The cart commands: each cart operation as the one Redis call it is.
//!
//! A cart is one string: a head of [`HEAD`] bytes with its version and last write, then its
//! document (see `scripts/cart_head.lua`), so a read is one `GET` and a write moves its new value
//! into place without handing the document to Lua. Every write refreshes the TTL of the cart and
//! of its identifier's instance set.

use std::sync::Arc;
use std::time::Duration;

use fred::bytes::Bytes;
use fred::interfaces::{ClientLike, KeysInterface};
use fred::types::{CustomCommand, Value};
use time::OffsetDateTime;

use super::client::{Client, DRIVER, as_i64, as_string, slot};
use super::events;
use super::keys::Keys;
use super::moving::Mover;
use super::scan;
use super::scripts::{Script, Scripts, Staged};
use crate::cart::CartContents;
use crate::storage::{CartKey, ParsedDocuments, ScanPage, StorageError, Versioned};

/// The bytes of a stored cart before its document: the version in 20 digits, a state byte (`-`,
/// or `m` while a move to another slot freezes the cart, see `moving.rs`) and the last write's
/// time, unix seconds in 20 digits. A frozen cart's target identifier follows, as its length in
/// 10 digits and the identifier, before the document.
const HEAD: usize = 41;

/// Everything a cart command needs.
#[derive(Clone)]
pub(super) struct Store {
    pub(super) client: Client,
    pub(super) keys: Keys,
    pub(super) scripts: Arc<Scripts>,
    pub(super) ttl: Duration,
    pub(super) refresh_ttl_on_read: bool,
    pub(super) parsed: Arc<ParsedDocuments>,
    /// Whether writes append to the event log (see `events.rs`).
    pub(super) event_log: bool,
}

/// The write time stored with a cart, Unix seconds.
pub(super) fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

impl Store {
    /// The TTL in milliseconds, as Redis takes it.
    fn ttl_millis(&self) -> i64 {
        self.ttl.as_millis().min(i64::MAX as u128) as i64
    }

    /// The keys and arguments of a writing script, with the cart's event stream and the event's
    /// arguments when the event log is on.
    fn logged(
        &self,
        key: &CartKey,
        write_id: Option<&str>,
        mut keys: Vec<String>,
        mut args: Vec<String>,
    ) -> (Vec<String>, Vec<String>) {
        if self.event_log {
            events::declare(
                &self.client,
                &self.keys,
                key,
                write_id,
                &mut keys,
                &mut args,
            );
        }
        (keys, args)
    }

    fn mover(&self) -> Mover<'_> {
        Mover {
            client: &self.client,
            keys: &self.keys,
            scripts: &self.scripts,
            ttl: self.ttl,
            event_log: self.event_log,
        }
    }

    /// After a save whose answer was lost, or too few replicas acknowledged, turned out to be
    /// stored: when the storage waits for replicas, waits until they hold it too.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when too few replicas acknowledge within the timeout.
    pub(super) async fn confirm_replicated(&self, key: &CartKey) -> Result<(), StorageError> {
        if self.client.replica_acks.is_none() {
            return Ok(());
        }
        let cart = self.keys.cart(key);
        let connection = self.client.pool.next();
        // Replication keeps the primary's order: replicas that acknowledge this write (the TTL
        // every write sets anyway) hold every write before it, the one found included.
        let _: i64 = self
            .client
            .timed(connection.pexpire(&cart, self.ttl_millis(), None))
            .await?;
        // Its instance set's after it, as every write sets them, so that the set outlives it.
        let _: i64 = self
            .client
            .timed(connection.pexpire(self.keys.set(key.identifier()), self.ttl_millis(), None))
            .await?;
        self.client.replicated(connection, &cart).await
    }

    /// A cart to change: [`Store::load_shared`], copied.
    pub(super) async fn load(
        &self,
        key: &CartKey,
    ) -> Result<Option<Versioned<CartContents>>, StorageError> {
        Ok(self.load_shared(key).await?.map(Arc::unwrap_or_clone))
    }

    /// One `GET`; when reads refresh the TTL, `GETEX` and the instance set's `PEXPIRE`, sent
    /// together.
    pub(super) async fn load_shared(
        &self,
        key: &CartKey,
    ) -> Result<Option<Arc<Versioned<CartContents>>>, StorageError> {
        let cart = self.keys.cart(key);
        let stored: Value = if self.refresh_ttl_on_read {
            let connection = self.client.pool.next();
            let ttl = self.ttl_millis();
            let getex = CustomCommand::new_static("GETEX", Some(slot(&cart)), false);
            let (stored, _) = tokio::try_join!(
                self.client.timed(
                    connection
                        .custom::<Value, Value>(getex, vec![cart.into(), "PX".into(), ttl.into()])
                ),
                self.client.timed(connection.pexpire::<i64, _>(
                    self.keys.set(key.identifier()),
                    ttl,
                    None
                )),
            )?;
            stored
        } else {
            self.client.timed(self.client.pool.get(cart)).await?
        };
        decode(&self.parsed, key, &stored)
    }

    pub(super) async fn save(
        &self,
        key: &CartKey,
        cart: &CartContents,
        expected: Option<u64>,
    ) -> Result<u64, StorageError> {
        let document = cart.to_json().map_err(|e| StorageError::Corrupt {
            driver: DRIVER,
            key: key.clone(),
            message: e.to_string(),
        })?;
        let write_id = cart.write_ids().last().map(|id| id.to_string());
        self.save_document(key, document, expected, now(), write_id.as_deref())
            .await
    }

    /// The compare-and-set write of an encoded document, written `now` (Unix seconds) by the
    /// write `write_id` (for the event log).
    pub(super) async fn save_document(
        &self,
        key: &CartKey,
        document: Vec<u8>,
        expected: Option<u64>,
        now: i64,
        write_id: Option<&str>,
    ) -> Result<u64, StorageError> {
        let cart = self.keys.cart(key);
        let staged = Staged {
            key: self.keys.staged(&cart),
            value: Bytes::from(staged_value(&document, expected.map_or(0, |v| v + 1), now)),
            ttl_millis: self.ttl_millis(),
        };
        let (keys, args) = self.logged(
            key,
            write_id,
            vec![cart, self.keys.set(key.identifier()), staged.key.clone()],
            vec![
                expected.map(|v| v.to_string()).unwrap_or_default(),
                self.ttl_millis().to_string(),
                self.keys.instance(key.instance()),
            ],
        );
        let answer = self
            .scripts
            .save
            .run_staged(&self.client, staged, keys, args)
            .await?;
        let values = match answer {
            Value::Array(values) => values,
            other => {
                return Err(StorageError::Backend {
                    driver: DRIVER,
                    message: format!("unexpected answer from the save script: {other:?}"),
                });
            }
        };
        let numbers: Vec<Option<i64>> = values.iter().map(as_i64).collect();
        match numbers.as_slice() {
            [Some(1), Some(version)] => Ok(*version as u64),
            [Some(0), Some(current)] => Err(StorageError::Conflict {
                key: key.clone(),
                expected,
                current: (*current >= 0).then_some(*current as u64),
            }),
            // The cart is frozen by a move that did not finish: finish it, after which the cart
            // lives under the target and the source is empty.
            [Some(2), _, _] => {
                let to = as_string(&values[2]).unwrap_or_default();
                self.mover()
                    .finish(key.identifier(), &to, key.instance())
                    .await?;
                Err(StorageError::Conflict {
                    key: key.clone(),
                    expected,
                    current: None,
                })
            }
            other => Err(StorageError::Backend {
                driver: DRIVER,
                message: format!("unexpected answer from the save script: {other:?}"),
            }),
        }
    }

    pub(super) async fn delete(&self, key: &CartKey) -> Result<bool, StorageError> {
        let (keys, args) = self.logged(
            key,
            None,
            vec![self.keys.cart(key), self.keys.set(key.identifier())],
            vec![self.keys.instance(key.instance())],
        );
        let deleted = self.scripts.delete.run(&self.client, keys, args).await?;
        Ok(as_i64(&deleted).unwrap_or(0) > 0)
    }

    /// Deletes the cart only while it is at `version`, in one script.
    pub(super) async fn delete_at(
        &self,
        key: &CartKey,
        version: u64,
    ) -> Result<bool, StorageError> {
        let (keys, args) = self.logged(
            key,
            None,
            vec![self.keys.cart(key), self.keys.set(key.identifier())],
            vec![version.to_string(), self.keys.instance(key.instance())],
        );
        let deleted = self.scripts.delete_at.run(&self.client, keys, args).await?;
        Ok(as_i64(&deleted).unwrap_or(0) > 0)
    }

    pub(super) async fn instances(&self, identifier: &str) -> Result<Vec<String>, StorageError> {
        let live = self
            .members_script(&self.scripts.instances, identifier)
            .await?;
        let mut instances: Vec<String> = live
            .iter()
            .filter_map(as_string)
            .map(|encoded| self.keys.decode_instance(&encoded))
            .collect();
        instances.sort();
        Ok(instances)
    }

    /// Runs a script that walks the instance set of `identifier` (see `expected_members.lua`):
    /// first expecting no members, then the members the set answered, until the set holds what
    /// the call declared. Returns the script's answer after its leading 1.
    async fn members_script(
        &self,
        script: &Script,
        identifier: &str,
    ) -> Result<Vec<Value>, StorageError> {
        let set = self.keys.set(identifier);
        let mut members: Vec<String> = Vec::new();
        // The set changes only when an instance of this identifier is created or deleted, so a
        // few rounds settle; instances created nonstop get the command timeout to pause.
        let deadline = tokio::time::Instant::now() + self.client.command_timeout;
        while tokio::time::Instant::now() < deadline {
            let mut keys = vec![set.clone()];
            keys.extend(members.iter().map(|member| {
                let instance = self.keys.decode_instance(member);
                self.keys.cart(&CartKey::new(identifier, instance))
            }));
            let answer = match script.run(&self.client, keys, members.clone()).await? {
                Value::Array(values) => values,
                other => {
                    return Err(StorageError::Backend {
                        driver: DRIVER,
                        message: format!(
                            "unexpected answer from an instance-set script: {other:?}"
                        ),
                    });
                }
            };
            let (head, rest) = answer.split_first().ok_or_else(|| StorageError::Backend {
                driver: DRIVER,
                message: "empty answer from an instance-set script".to_owned(),
            })?;
            if as_i64(head) == Some(1) {
                return Ok(rest.to_vec());
            }
            members = rest.iter().filter_map(as_string).collect();
        }
        Err(StorageError::Unavailable {
            driver: DRIVER,
            message: format!("the instance set of {identifier} kept changing"),
        })
    }

    /// One script when both identifiers' keys share a slot (always, on a single Redis); on a
    /// Redis Cluster with the identifiers in different slots, the move protocol of `moving.rs`.
    pub(super) async fn swap_identifier(
        &self,
        from: &str,
        to: &str,
        instance: &str,
    ) -> Result<bool, StorageError> {
        let (source, target) = (
            self.keys.cart(&CartKey::new(from, instance)),
            self.keys.cart(&CartKey::new(to, instance)),
        );
        if slot(&source) != slot(&target) && self.client.clustered() {
            return self.mover().swap(from, to, instance).await;
        }
        let mut keys = vec![source, self.keys.set(from), target, self.keys.set(to)];
        let mut args = vec![
            self.keys.instance(instance),
            self.ttl_millis().to_string(),
            now().to_string(),
        ];
        if self.event_log {
            // Both carts share the slot, so one stream (KEYS[5]) takes both events.
            let (from_key, to_key) = (CartKey::new(from, instance), CartKey::new(to, instance));
            events::declare(
                &self.client,
                &self.keys,
                &from_key,
                None,
                &mut keys,
                &mut args,
            );
            events::event_args(&to_key, None, &mut args);
        }
        let moved = self.scripts.swap.run(&self.client, keys, args).await?;
        match moved {
            // Frozen by an unfinished cross-slot move: that move goes first and takes the cart.
            Value::Array(values) => {
                let other = values.get(1).and_then(as_string).unwrap_or_default();
                self.mover().finish(from, &other, instance).await?;
                Ok(false)
            }
            moved => Ok(as_i64(&moved) == Some(1)),
        }
    }

    pub(super) async fn forget(&self, identifier: &str) -> Result<usize, StorageError> {
        if self.event_log {
            // The forget script declares a cart key per instance and no room for a stream:
            // with the event log on, each instance goes by the delete script, which logs it.
            let mut deleted = 0;
            for instance in self.instances(identifier).await? {
                deleted += usize::from(self.delete(&CartKey::new(identifier, instance)).await?);
            }
            return Ok(deleted);
        }
        let deleted = self
            .members_script(&self.scripts.forget, identifier)
            .await?;
        Ok(deleted.first().and_then(as_i64).unwrap_or(0) as usize)
    }

    /// One `SCAN` page of one node (see `scan.rs`); a page may hold no cart at all (only sets
    /// and locks) and still not be the last.
    pub(super) async fn scan(
        &self,
        cursor: Option<String>,
        batch: usize,
    ) -> Result<ScanPage, StorageError> {
        let page = scan::page(&self.client, &self.keys.scan_pattern(), None, cursor, batch).await?;
        let mut found: Vec<CartKey> = page
            .keys
            .iter()
            .filter_map(|raw| self.keys.parse_cart(raw))
            .collect();
        found.sort();
        found.dedup();
        Ok(ScanPage {
            keys: found,
            next: page.next,
        })
    }
}

/// A write's new value: the head at `version` (0 for a new cart, whose first version the save
/// script writes), then the document.
fn staged_value(document: &[u8], version: u64, written: i64) -> Vec<u8> {
    use std::io::Write;
    let mut value = Vec::with_capacity(HEAD + document.len());
    let _ = write!(value, "{version:020}-{:020}", written.max(0));
    value.extend_from_slice(document);
    value
}

/// A stored cart's version, last write and document; `None` when the value has no cart's head.
fn split(stored: &[u8]) -> Option<(u64, Option<OffsetDateTime>, &[u8])> {
    let digits = |from: usize, to: usize| -> Option<u64> {
        std::str::from_utf8(stored.get(from..to)?)
            .ok()?
            .parse()
            .ok()
    };
    let version = digits(0, 20)?;
    let written = i64::try_from(digits(21, HEAD)?).ok()?;
    let document = match stored.get(20)? {
        b'-' => stored.get(HEAD..)?,
        b'm' => stored.get(HEAD + 10 + usize::try_from(digits(HEAD, HEAD + 10)?).ok()?..)?,
        _ => return None,
    };
    Some((
        version,
        OffsetDateTime::from_unix_timestamp(written).ok(),
        document,
    ))
}

/// A cart from its stored value; no value means no cart.
fn decode(
    parsed: &ParsedDocuments,
    key: &CartKey,
    stored: &Value,
) -> Result<Option<Arc<Versioned<CartContents>>>, StorageError> {
    let corrupt = |message: &str| StorageError::Corrupt {
        driver: DRIVER,
        key: key.clone(),
        message: message.to_owned(),
    };
    let stored: &[u8] = match stored {
        Value::Null => return Ok(None),
        Value::String(text) => text.as_bytes(),
        Value::Bytes(bytes) => bytes,
        _ => return Err(corrupt("a cart key that holds no string")),
    };
    let (version, updated_at, document) =
        split(stored).ok_or_else(|| corrupt("a stored value without a cart's head"))?;
    parsed
        .get_or_parse(key, version, updated_at, document)
        .map(Some)
        .map_err(|e| corrupt(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head a write sends is read back from the same places, for carts that are moving too.
    #[test]
    fn a_stored_value_splits_into_version_time_and_document() {
        let document = br#"{"items":{}}"#;
        let value = staged_value(document, 1_765_000_000_123_456, 1_765_000_000);
        assert_eq!(value.len(), HEAD + document.len());
        let (version, written, found) = split(&value).unwrap();
        assert_eq!(version, 1_765_000_000_123_456);
        assert_eq!(written.map(|t| t.unix_timestamp()), Some(1_765_000_000));
        assert_eq!(found, document);

        let mut frozen = value[..HEAD].to_vec();
        frozen[20] = b'm';
        frozen.extend_from_slice(b"0000000007user:42");
        frozen.extend_from_slice(document);
        assert_eq!(split(&frozen).unwrap().2, document);

        for broken in [&b""[..], b"12", &value[..HEAD - 1], b"{\"items\":{}}"] {
            assert!(
                split(broken).is_none(),
                "{:?}",
                String::from_utf8_lossy(broken)
            );
        }
    }
}
