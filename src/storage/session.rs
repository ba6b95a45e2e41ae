//! `SessionStorage`: carts inside the visitor's tower-sessions session.
//!
//! The carts live in the session record under one key (default `cart`), nested by identifier
//! and instance: `{"<identifier>": {"<instance>": "<version>:<updated_at>:<the cart document as
//! JSON text>"}}`, `updated_at` in Unix seconds. Each cart is one string because a session value
//! is copied on every read: copying one string is far cheaper than copying a JSON tree, or an
//! object of three fields. Entries written by earlier versions, `{"version": 3, "updated_at":
//! 1764300000, "cart": "<document>"}`, are read as well, and written back in the compact form.
//!
//! **Its one weakness:** tower-sessions loads a whole session record at the start of a request and
//! saves the whole record at the end. Two requests of the same session that change the cart at the
//! same time each save their own copy, and the later save wins: one change is lost. Versions make
//! writes within one request safe, not writes across concurrent requests. Shops whose visitors can
//! fire parallel cart requests (several tabs, fast double clicks, scripts) should use the cache or
//! database driver, which do not have this limit.

use std::fmt::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use tower_sessions::Session;

use super::{
    CartKey, CartOp, CartStorage, Fingerprint, Modified, ModifyError, ModifyOptions,
    ParsedDocuments, StorageError, Versioned, initial_version, new_write_id,
};
use crate::cart::CartContents;

/// The session key carts are stored under unless configured otherwise.
pub const DEFAULT_SESSION_KEY: &str = "cart";

/// Carts stored in one request's [`Session`]. Built per request by the layer.
#[derive(Clone)]
pub struct SessionStorage {
    session: Session,
    key: Arc<str>,
    // Serializes read-check-write within this request; see the module docs for what it cannot do.
    guard: Arc<tokio::sync::Mutex<()>>,
    // Shared by the requests of one layer, so that a session's cart is parsed once per change
    // (none for a storage built on its own: it lives for one request).
    parsed: Option<Arc<ParsedDocuments>>,
}

impl std::fmt::Debug for SessionStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStorage")
            .field("key", &self.key)
            .finish()
    }
}

/// The write time stored with a cart, Unix seconds.
fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn unavailable(error: tower_sessions::session::Error) -> StorageError {
    StorageError::Unavailable {
        driver: "session",
        message: error.to_string(),
    }
}

impl SessionStorage {
    /// Carts in `session` under `key`.
    pub fn new(session: Session, key: impl Into<Arc<str>>) -> Self {
        SessionStorage {
            session,
            key: key.into(),
            guard: Arc::default(),
            parsed: None,
        }
    }

    /// Shares the parsed carts of other requests' sessions.
    pub(crate) fn with_parsed(mut self, parsed: Arc<ParsedDocuments>) -> Self {
        self.parsed = Some(parsed);
        self
    }

    /// The session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The whole cart map of the session: one copy out of the session record.
    async fn read_all(&self) -> Result<Map<String, Value>, StorageError> {
        match self
            .session
            .get_value(&self.key)
            .await
            .map_err(unavailable)?
        {
            Some(Value::Object(all)) => Ok(all),
            _ => Ok(Map::new()),
        }
    }

    /// Puts the map back (moved in, not copied); an empty map removes the key.
    async fn write_all(&self, all: Map<String, Value>) -> Result<(), StorageError> {
        if all.is_empty() {
            self.session
                .remove_value(&self.key)
                .await
                .map_err(unavailable)?;
        } else {
            self.session
                .insert_value(&self.key, Value::Object(all))
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    fn entry<'a>(all: &'a Map<String, Value>, key: &CartKey) -> Option<&'a Value> {
        all.get(key.identifier())?.get(key.instance())
    }

    fn version_of(entry: Option<&Value>) -> Option<u64> {
        entry.and_then(|entry| Stored::of(entry)?.version)
    }

    fn corrupt(key: &CartKey, message: impl ToString) -> StorageError {
        StorageError::Corrupt {
            driver: "session",
            key: key.clone(),
            message: message.to_string(),
        }
    }

    /// Takes the cart of `key` out of the map (the map is a copy, so taking costs nothing).
    fn take_cart(
        all: &mut Map<String, Value>,
        key: &CartKey,
    ) -> Result<Option<Versioned<CartContents>>, StorageError> {
        let Some(entry) = all
            .get_mut(key.identifier())
            .and_then(|instances| instances.get_mut(key.instance()))
        else {
            return Ok(None);
        };
        let stored = Stored::of(entry).ok_or_else(|| Self::corrupt(key, "not a cart entry"))?;
        let version = stored
            .version
            .ok_or_else(|| Self::corrupt(key, "no version"))?;
        let updated_at = stored.updated_at;
        let cart = match stored.document {
            Some(Document::Text(text)) => CartContents::from_json(text.as_bytes()),
            Some(Document::Tree) => match entry.get_mut("cart").map(Value::take) {
                Some(tree) => serde_json::from_value(tree),
                None => return Err(Self::corrupt(key, "no cart")),
            },
            None => return Err(Self::corrupt(key, "no cart")),
        }
        .map_err(|e| Self::corrupt(key, e))?;
        Ok(Some(Versioned {
            value: cart,
            version,
            updated_at,
        }))
    }

    /// The cart of `key` in the session's cart map: the parsed copy shared by the layer's
    /// requests while its document is unchanged, else parsed here.
    fn shared_cart(
        &self,
        all: &mut Map<String, Value>,
        key: &CartKey,
    ) -> Result<Option<Arc<Versioned<CartContents>>>, StorageError> {
        let entry = Self::entry(all, key);
        let compact = match entry {
            Some(Value::String(text)) => Some(text.as_bytes()),
            _ => None,
        };
        if let (Some(parsed), Some(text)) = (&self.parsed, compact) {
            if let Some(cart) = parsed.get_compact(key, text) {
                return Ok(Some(cart));
            }
        }
        match (&self.parsed, entry.and_then(Stored::of)) {
            (
                Some(parsed),
                Some(Stored {
                    version: Some(version),
                    updated_at,
                    document: Some(Document::Text(document)),
                }),
            ) => {
                let header = compact.map_or(&b""[..], |text| &text[..text.len() - document.len()]);
                parsed
                    .get_or_parse_compact(key, version, updated_at, header, document.as_bytes())
                    .map(Some)
                    .map_err(|e| Self::corrupt(key, e))
            }
            _ => Ok(Self::take_cart(all, key)?.map(Arc::new)),
        }
    }

    /// Writes the serialized cart at `version`, written `now` (Unix seconds), into the map.
    fn put_cart(
        all: &mut Map<String, Value>,
        key: &CartKey,
        document: Vec<u8>,
        version: u64,
        now: i64,
    ) -> Result<(), StorageError> {
        let document = std::str::from_utf8(&document).map_err(|e| Self::corrupt(key, e))?;
        Self::instances_mut(all, key.identifier()).insert(
            key.instance().to_owned(),
            Value::String(compact_entry(version, Some(now), document)),
        );
        Ok(())
    }

    /// The instances of `identifier`, made an empty object when missing or not an object.
    fn instances_mut<'a>(
        all: &'a mut Map<String, Value>,
        identifier: &str,
    ) -> &'a mut Map<String, Value> {
        let instances = all
            .entry(identifier.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !instances.is_object() {
            *instances = Value::Object(Map::new());
        }
        match instances {
            Value::Object(map) => map,
            _ => unreachable!("made an object above"),
        }
    }
}

/// A cart entry of the session as stored: compact (one string) or as earlier versions wrote it
/// (an object).
struct Stored<'a> {
    version: Option<u64>,
    updated_at: Option<OffsetDateTime>,
    document: Option<Document<'a>>,
}

enum Document<'a> {
    Text(&'a str),
    /// An early object entry whose `cart` is the document as a JSON tree.
    Tree,
}

impl<'a> Stored<'a> {
    fn of(entry: &'a Value) -> Option<Self> {
        match entry {
            Value::String(text) => {
                // The header is two numbers: found by a short scan, not a search of the document.
                let colon = |from: usize| {
                    text.as_bytes()[from..]
                        .iter()
                        .take(21)
                        .position(|&byte| byte == b':')
                        .map(|at| from + at)
                };
                let first = colon(0)?;
                let second = colon(first + 1)?;
                Some(Stored {
                    version: text[..first].parse().ok(),
                    updated_at: unix_time(text[first + 1..second].parse().ok()),
                    document: Some(Document::Text(&text[second + 1..])),
                })
            }
            Value::Object(fields) => Some(Stored {
                version: fields.get("version").and_then(Value::as_u64),
                updated_at: unix_time(fields.get("updated_at").and_then(Value::as_i64)),
                document: match fields.get("cart") {
                    Some(Value::String(text)) => Some(Document::Text(text)),
                    Some(Value::Object(_)) => Some(Document::Tree),
                    _ => None,
                },
            }),
            _ => None,
        }
    }
}

fn unix_time(seconds: Option<i64>) -> Option<OffsetDateTime> {
    seconds.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
}

/// A cart entry in the compact form: `<version>:<updated_at>:<document>`.
fn compact_entry(version: u64, updated_at: Option<i64>, document: &str) -> String {
    let mut entry = String::with_capacity(document.len() + 32);
    let _ = write!(entry, "{version}:");
    if let Some(updated_at) = updated_at {
        let _ = write!(entry, "{updated_at}");
    }
    entry.push(':');
    entry.push_str(document);
    entry
}

#[async_trait]
impl CartStorage for SessionStorage {
    fn driver(&self) -> &'static str {
        "session"
    }

    async fn load(&self, key: &CartKey) -> Result<Option<Versioned<CartContents>>, StorageError> {
        Ok(self.load_shared(key).await?.map(Arc::unwrap_or_clone))
    }

    async fn load_shared(
        &self,
        key: &CartKey,
    ) -> Result<Option<Arc<Versioned<CartContents>>>, StorageError> {
        let mut all = self.read_all().await?;
        self.shared_cart(&mut all, key)
    }

    async fn save(
        &self,
        key: &CartKey,
        cart: &CartContents,
        expected: Option<u64>,
    ) -> Result<u64, StorageError> {
        let _guard = self.guard.lock().await;
        let mut all = self.read_all().await?;
        let current = Self::version_of(Self::entry(&all, key));
        if current != expected {
            return Err(StorageError::Conflict {
                key: key.clone(),
                expected,
                current,
            });
        }
        let version = current.map_or_else(initial_version, |v| v + 1);
        let document = cart.to_json().map_err(|e| Self::corrupt(key, e))?;
        Self::put_cart(&mut all, key, document, version, now())?;
        self.write_all(all).await?;
        Ok(version)
    }

    /// One read of the session and one write, under the request's guard: no conflict can occur
    /// within a request, so no retry is needed.
    async fn modify(
        &self,
        key: &CartKey,
        options: &ModifyOptions,
        op: &CartOp<'_>,
    ) -> Result<Modified, ModifyError> {
        let _guard = self.guard.lock().await;
        let mut all = self.read_all().await?;
        // The caller's read is the stored cart when the versions agree; without one, the copy
        // the layer's requests share while the document is unchanged: no parse either way.
        let stored_version = Self::version_of(Self::entry(&all, key));
        let current = match options.basis_cart() {
            Some(basis) if basis.as_ref().map(|b| b.version) == stored_version => basis,
            _ => self.shared_cart(&mut all, key)?.map(Arc::unwrap_or_clone),
        };
        let (cart, document, expected) = options.apply_encoded(current, op, &new_write_id())?;
        let version = expected.map_or_else(initial_version, |v| v + 1);
        let now = now();
        let text = std::str::from_utf8(&document).map_err(|e| Self::corrupt(key, e))?;
        let entry = compact_entry(version, Some(now), text);
        // The next request reads this entry: it need not parse it.
        if let Some(parsed) = &self.parsed {
            let written = Versioned {
                value: cart.clone(),
                version,
                updated_at: OffsetDateTime::from_unix_timestamp(now).ok(),
            };
            let header = &entry.as_bytes()[..entry.len() - document.len()];
            parsed.remember_compact(key, header, Fingerprint::of(&document), written);
        }
        Self::instances_mut(&mut all, key.identifier())
            .insert(key.instance().to_owned(), Value::String(entry));
        self.write_all(all).await?;
        Ok(Modified {
            cart: Versioned::new(cart, version),
            previous_version: expected,
            retries: 0,
        })
    }

    async fn delete(&self, key: &CartKey) -> Result<bool, StorageError> {
        let _guard = self.guard.lock().await;
        let mut all = self.read_all().await?;
        let Some(instances) = all.get_mut(key.identifier()).and_then(Value::as_object_mut) else {
            return Ok(false);
        };
        let removed = instances.remove(key.instance()).is_some();
        if instances.is_empty() {
            all.remove(key.identifier());
        }
        if removed {
            self.write_all(all).await?;
        }
        Ok(removed)
    }

    async fn delete_at(&self, key: &CartKey, version: u64) -> Result<bool, StorageError> {
        let _guard = self.guard.lock().await;
        let mut all = self.read_all().await?;
        if Self::version_of(Self::entry(&all, key)) != Some(version) {
            return Ok(false);
        }
        if let Some(instances) = all.get_mut(key.identifier()).and_then(Value::as_object_mut) {
            instances.remove(key.instance());
            if instances.is_empty() {
                all.remove(key.identifier());
            }
        }
        self.write_all(all).await?;
        Ok(true)
    }

    async fn instances(&self, identifier: &str) -> Result<Vec<String>, StorageError> {
        let all = self.read_all().await?;
        let mut names: Vec<String> = all
            .get(identifier)
            .and_then(Value::as_object)
            .map(|instances| instances.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        Ok(names)
    }

    async fn swap_identifier(
        &self,
        from: &str,
        to: &str,
        instance: &str,
    ) -> Result<bool, StorageError> {
        let _guard = self.guard.lock().await;
        let mut all = self.read_all().await?;
        let Some(mut moved) = all
            .get_mut(from)
            .and_then(Value::as_object_mut)
            .and_then(|instances| instances.remove(instance))
        else {
            return Ok(false);
        };
        if all
            .get(from)
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
        {
            all.remove(from);
        }
        let replaced = Self::version_of(all.get(to).and_then(|i| i.get(instance))).unwrap_or(0);
        let moved_version = Self::version_of(Some(&moved)).unwrap_or(0);
        let version = (moved_version.max(replaced) + 1).max(initial_version());
        match Stored::of(&moved) {
            Some(Stored {
                updated_at,
                document: Some(Document::Text(text)),
                ..
            }) => {
                let updated_at = updated_at.map(OffsetDateTime::unix_timestamp);
                moved = Value::String(compact_entry(version, updated_at, text));
            }
            // An early entry holding its document as a tree keeps its form.
            _ => {
                if let Some(fields) = moved.as_object_mut() {
                    fields.insert("version".to_owned(), Value::from(version));
                }
            }
        }
        Self::instances_mut(&mut all, to).insert(instance.to_owned(), moved);
        self.write_all(all).await?;
        Ok(true)
    }
}
