//! The cart commands: each cart operation as the one Redis call it is.
//!
//! A cart is a hash with `v` (version), `d` (the cart document as JSON) and `t` (last write, unix
//! seconds). Every write refreshes the TTL of the cart and of its identifier's instance set.

use std::sync::Arc;
use std::time::Duration;

use fred::interfaces::{HashesInterface, KeysInterface};
use fred::types::Value;
use time::OffsetDateTime;

use super::client::{Client, DRIVER, as_i64, as_string};
use super::keys::Keys;
use super::scripts::Scripts;
use crate::cart::CartContents;
use crate::storage::{CartKey, ParsedDocuments, ScanPage, StorageError, Versioned};

/// Everything a cart command needs.
#[derive(Clone)]
pub(super) struct Store {
    pub(super) client: Client,
    pub(super) keys: Keys,
    pub(super) scripts: Arc<Scripts>,
    pub(super) ttl: Duration,
    pub(super) refresh_ttl_on_read: bool,
    pub(super) parsed: Arc<ParsedDocuments>,
}

/// The write time stored with a cart, Unix seconds.
pub(super) fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

impl Store {
    fn ttl_millis(&self) -> String {
        self.ttl.as_millis().to_string()
    }

    /// A cart to change: [`Store::load_shared`], copied.
    pub(super) async fn load(
        &self,
        key: &CartKey,
    ) -> Result<Option<Versioned<CartContents>>, StorageError> {
        Ok(self.load_shared(key).await?.map(Arc::unwrap_or_clone))
    }

    /// One `HMGET`, or one script when reads refresh the TTL.
    pub(super) async fn load_shared(
        &self,
        key: &CartKey,
    ) -> Result<Option<Arc<Versioned<CartContents>>>, StorageError> {
        let fields: Vec<Value> = if self.refresh_ttl_on_read {
            match self
                .scripts
                .load_and_touch
                .run(
                    &self.client,
                    vec![self.keys.cart(key), self.keys.set(key.identifier())],
                    vec![self.ttl_millis()],
                )
                .await?
            {
                Value::Array(values) => values,
                _ => Vec::new(),
            }
        } else {
            self.client
                .timed(
                    self.client
                        .pool
                        .hmget(self.keys.cart(key), vec!["v", "d", "t"]),
                )
                .await?
        };
        decode(&self.parsed, key, fields)
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
        self.save_document(key, document, expected, now()).await
    }

    /// The compare-and-set write of an encoded document, written `now` (Unix seconds).
    pub(super) async fn save_document(
        &self,
        key: &CartKey,
        document: Vec<u8>,
        expected: Option<u64>,
        now: i64,
    ) -> Result<u64, StorageError> {
        let document = String::from_utf8(document).map_err(|e| StorageError::Corrupt {
            driver: DRIVER,
            key: key.clone(),
            message: e.to_string(),
        })?;
        let answer = self
            .scripts
            .save
            .run(
                &self.client,
                vec![self.keys.cart(key), self.keys.set(key.identifier())],
                vec![
                    expected.map(|v| v.to_string()).unwrap_or_default(),
                    document,
                    self.ttl_millis(),
                    self.keys.instance(key.instance()),
                    now.to_string(),
                ],
            )
            .await?;
        let answer: Vec<i64> = match answer {
            Value::Array(values) => values.iter().filter_map(as_i64).collect(),
            other => {
                return Err(StorageError::Backend {
                    driver: DRIVER,
                    message: format!("unexpected answer from the save script: {other:?}"),
                });
            }
        };
        match answer.as_slice() {
            [1, version] => Ok(*version as u64),
            [0, current] => Err(StorageError::Conflict {
                key: key.clone(),
                expected,
                current: (*current >= 0).then_some(*current as u64),
            }),
            other => Err(StorageError::Backend {
                driver: DRIVER,
                message: format!("unexpected answer from the save script: {other:?}"),
            }),
        }
    }

    pub(super) async fn delete(&self, key: &CartKey) -> Result<bool, StorageError> {
        let deleted = self
            .scripts
            .delete
            .run(
                &self.client,
                vec![self.keys.cart(key), self.keys.set(key.identifier())],
                vec![self.keys.instance(key.instance())],
            )
            .await?;
        Ok(as_i64(&deleted).unwrap_or(0) > 0)
    }

    /// Deletes the cart only while it is at `version`, in one script.
    pub(super) async fn delete_at(
        &self,
        key: &CartKey,
        version: u64,
    ) -> Result<bool, StorageError> {
        let deleted = self
            .scripts
            .delete_at
            .run(
                &self.client,
                vec![self.keys.cart(key), self.keys.set(key.identifier())],
                vec![version.to_string(), self.keys.instance(key.instance())],
            )
            .await?;
        Ok(as_i64(&deleted).unwrap_or(0) > 0)
    }

    pub(super) async fn instances(&self, identifier: &str) -> Result<Vec<String>, StorageError> {
        let live = self
            .scripts
            .instances
            .run(
                &self.client,
                vec![self.keys.set(identifier)],
                vec![self.keys.instance_prefix(identifier)],
            )
            .await?;
        let mut instances: Vec<String> = match live {
            Value::Array(values) => values
                .iter()
                .filter_map(as_string)
                .map(|encoded| self.keys.decode_instance(&encoded))
                .collect(),
            _ => Vec::new(),
        };
        instances.sort();
        Ok(instances)
    }

    /// Touches the slots of both identifiers, so Redis Cluster refuses it (`CROSSSLOT`) unless
    /// they share one.
    pub(super) async fn swap_identifier(
        &self,
        from: &str,
        to: &str,
        instance: &str,
    ) -> Result<bool, StorageError> {
        let moved = self
            .scripts
            .swap
            .run(
                &self.client,
                vec![
                    self.keys.cart(&CartKey::new(from, instance)),
                    self.keys.set(from),
                    self.keys.cart(&CartKey::new(to, instance)),
                    self.keys.set(to),
                ],
                vec![
                    self.keys.instance(instance),
                    self.ttl_millis(),
                    now().to_string(),
                ],
            )
            .await?;
        Ok(as_i64(&moved) == Some(1))
    }

    pub(super) async fn forget(&self, identifier: &str) -> Result<usize, StorageError> {
        let deleted = self
            .scripts
            .forget
            .run(
                &self.client,
                vec![self.keys.set(identifier)],
                vec![self.keys.instance_prefix(identifier)],
            )
            .await?;
        Ok(as_i64(&deleted).unwrap_or(0) as usize)
    }

    /// One `SCAN` page; a page may hold no cart at all (only sets and locks) and still not be
    /// the last.
    pub(super) async fn scan(
        &self,
        cursor: Option<String>,
        batch: usize,
    ) -> Result<ScanPage, StorageError> {
        let cursor = cursor.unwrap_or_else(|| "0".to_owned());
        let (next, keys): (String, Vec<String>) = self
            .client
            .timed(self.client.pool.next().scan_page(
                cursor,
                self.keys.scan_pattern(),
                Some(batch.max(1) as u32),
                None,
            ))
            .await?;
        let mut found: Vec<CartKey> = keys
            .iter()
            .filter_map(|raw| self.keys.parse_cart(raw))
            .collect();
        found.sort();
        found.dedup();
        Ok(ScanPage {
            keys: found,
            next: (next != "0").then_some(next),
        })
    }
}

/// A cart from its `v`, `d` and `t` fields; no version means no cart.
fn decode(
    parsed: &ParsedDocuments,
    key: &CartKey,
    fields: Vec<Value>,
) -> Result<Option<Arc<Versioned<CartContents>>>, StorageError> {
    let corrupt = |message: String| StorageError::Corrupt {
        driver: DRIVER,
        key: key.clone(),
        message,
    };
    let mut fields = fields.into_iter();
    let (Some(version), Some(document), updated) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(corrupt("HMGET answered fewer than three fields".to_owned()));
    };
    let Some(version) = as_i64(&version) else {
        return Ok(None);
    };
    let document: &[u8] = match &document {
        Value::String(text) => text.as_bytes(),
        Value::Bytes(bytes) => bytes,
        _ => return Err(corrupt("no document".to_owned())),
    };
    let updated_at = updated
        .as_ref()
        .and_then(as_i64)
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
    parsed
        .get_or_parse(key, version as u64, updated_at, document)
        .map(Some)
        .map_err(|e| corrupt(e.to_string()))
}
