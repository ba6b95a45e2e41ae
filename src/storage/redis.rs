//! `RedisStorage`: carts in Redis through fred, the client tower-sessions-redis-store uses, so
//! one pool can serve sessions and carts.
//!
//! # Keys
//! - `{prefix}:{<identifier>}:<instance>`: a hash with `v` (version), `d` (the cart document as
//!   JSON) and `t` (last write, unix seconds). The braces are a cluster hash tag: every key of one
//!   identifier lives in one slot.
//! - `{prefix}:{<identifier>}`: the set of the identifier's instances.
//! - `{prefix}:{<identifier>}:<instance>:lock`: the per-cart lock of locking mode.
//!
//! In identifiers and instances, `%`, `:`, `{` and `}` are percent-encoded, so no identifier or
//! instance can make its keys collide with another cart's.
//!
//! # One round trip each
//! A load is one `HMGET`. A compare-and-set save is one Lua script (`EVALSHA`; after a
//! `SCRIPT FLUSH` the script is loaded again and the call repeated) that checks the version,
//! writes the document with version + 1, refreshes the TTL and records the instance. `delete`,
//! `swap_identifier`, `forget` and `instances` are scripts too, so each is atomic. On Redis
//! Cluster, `swap_identifier` between two identifiers touches two slots and is refused
//! (`CROSSSLOT`); everything else works there.
//!
//! # TTL
//! Every write sets the cart's TTL (default one day); [`RedisStorage::refresh_ttl_on_read`] makes
//! reads refresh it too (the load becomes a one-call script).
//!
//! # Locking
//! By default writers are optimistic: a conflict is retried. [`RedisStorage::with_locking`]
//! serializes the writers of one cart instead: `modify` takes `SET lock token NX PX`, waits at
//! most the lock wait (then fails with [`StorageError::Unavailable`], "lock wait exceeded"), and
//! releases the lock with a compare-and-delete script, so an expired lock taken over by another
//! writer is never released by the old holder.
//!
//! # Failures
//! Commands time out after the command timeout (2 s by default), so a dead Redis answers 503
//! instead of hanging; the pool reconnects by itself when Redis is back.
//!
//! # tower-sessions-redis-store and nil values
//! tower-sessions-redis-store 0.16 fails to save a session whose key expired ("Could not convert
//! to bool") unless fred's `default-nil-types` feature is on. This crate does not force that
//! feature on you; an application that keeps its sessions in Redis should enable it:
//! `fred = { version = "10", features = ["default-nil-types"] }`. The example shop does.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fred::clients::Pool;
use fred::interfaces::{ClientLike, HashesInterface, KeysInterface, LuaInterface};
use fred::types::config::{Config, ReconnectPolicy};
use fred::types::{Expiration, SetOptions, Value};
use time::OffsetDateTime;
use tokio::sync::OnceCell;

use super::{
    CartKey, CartOp, CartStorage, Modified, ModifyError, ModifyOptions, ScanPage, StorageError, Versioned,
    backoff, optimistic_modify,
};
use crate::cart::CartContents;


const DRIVER: &str = "redis";

const SAVE: &str = r#"
local current = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == '' then
  if current then return {0, tonumber(current)} end
elseif current ~= ARGV[1] then
  return {0, tonumber(current) or -1}
end
local version = (tonumber(current) or 0) + 1
redis.call('HSET', KEYS[1], 'v', version, 'd', ARGV[2], 't', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {1, version}
"#;

const LOAD_AND_TOUCH: &str = r#"
local found = redis.call('HMGET', KEYS[1], 'v', 'd', 't')
if found[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
return found
"#;

const DELETE: &str = r#"
local deleted = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return deleted
"#;

const INSTANCES: &str = r#"
local live = {}
for _, instance in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. instance) == 1 then
    table.insert(live, instance)
  else
    redis.call('SREM', KEYS[1], instance)
  end
end
return live
"#;

const SWAP: &str = r#"
local moved = redis.call('HMGET', KEYS[1], 'v', 'd')
if not moved[1] then return 0 end
if KEYS[1] == KEYS[3] then
  redis.call('HINCRBY', KEYS[1], 'v', 1)
  redis.call('HSET', KEYS[1], 't', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
local replaced = tonumber(redis.call('HGET', KEYS[3], 'v')) or 0
local version = math.max(tonumber(moved[1]), replaced) + 1
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'v', version, 'd', moved[2], 't', ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('PEXPIRE', KEYS[4], ARGV[2])
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return 1
"#;

const FORGET: &str = r#"
local deleted = 0
for _, instance in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  deleted = deleted + redis.call('DEL', ARGV[1] .. instance)
end
redis.call('DEL', KEYS[1])
return deleted
"#;

const UNLOCK: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

/// A Lua script known by its SHA once loaded.
struct Script {
    source: &'static str,
    sha: OnceCell<String>,
}

impl Script {
    const fn new(source: &'static str) -> Self {
        Script {
            source,
            sha: OnceCell::const_new(),
        }
    }
}

struct Scripts {
    save: Script,
    load_and_touch: Script,
    delete: Script,
    instances: Script,
    swap: Script,
    forget: Script,
    unlock: Script,
}

/// Carts in Redis. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct RedisStorage {
    pool: Pool,
    prefix: Arc<str>,
    ttl: Duration,
    refresh_ttl_on_read: bool,
    locking: bool,
    lock_timeout: Duration,
    lock_wait: Duration,
    command_timeout: Duration,
    scripts: Arc<Scripts>,
}

impl std::fmt::Debug for RedisStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStorage")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .field("refresh_ttl_on_read", &self.refresh_ttl_on_read)
            .field("locking", &self.locking)
            .finish()
    }
}

fn storage_error(error: fred::error::Error) -> StorageError {
    use fred::error::ErrorKind;
    match error.kind() {
        ErrorKind::IO
        | ErrorKind::Timeout
        | ErrorKind::Canceled
        | ErrorKind::Routing
        | ErrorKind::Backpressure
        | ErrorKind::Cluster => StorageError::Unavailable {
            driver: DRIVER,
            message: error.to_string(),
        },
        _ => StorageError::Backend {
            driver: DRIVER,
            message: error.to_string(),
        },
    }
}

/// Percent-encodes the characters that structure keys.
fn encode_part(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for c in part.chars() {
        match c {
            '%' => out.push_str("%25"),
            ':' => out.push_str("%3A"),
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            c => out.push(c),
        }
    }
    out
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

fn as_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.to_string()),
        Value::Bytes(b) => String::from_utf8(b.to_vec()).ok(),
        Value::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Integer(i) => Some(*i),
        other => as_string(other)?.parse().ok(),
    }
}

impl RedisStorage {
    /// Carts in Redis through `pool` (it may be the pool of a tower-sessions `RedisStore`).
    /// Configure the pool with a command timeout so an outage fails fast; see
    /// [`RedisStorage::connect`] for the settings it uses.
    pub fn new(pool: Pool) -> Self {
        RedisStorage {
            pool,
            prefix: Arc::from("cart"),
            ttl: Duration::from_secs(86_400),
            refresh_ttl_on_read: false,
            locking: false,
            lock_timeout: Duration::from_secs(5),
            lock_wait: Duration::from_secs(2),
            command_timeout: Duration::from_secs(2),
            scripts: Arc::new(Scripts {
                save: Script::new(SAVE),
                load_and_touch: Script::new(LOAD_AND_TOUCH),
                delete: Script::new(DELETE),
                instances: Script::new(INSTANCES),
                swap: Script::new(SWAP),
                forget: Script::new(FORGET),
                unlock: Script::new(UNLOCK),
            }),
        }
    }

    /// A pool for `url` with a 2 s command and connection timeout, reconnecting every 200 ms
    /// while Redis is away: what [`RedisStorage::connect`] uses, for sharing with a session store.
    pub async fn pool(url: &str, size: usize) -> Result<Pool, StorageError> {
        let config = Config::from_url(url).map_err(storage_error)?;
        let pool = fred::types::Builder::from_config(config)
            .with_performance_config(|performance| {
                performance.default_command_timeout = Duration::from_secs(2);
            })
            .with_connection_config(|connection| {
                connection.connection_timeout = Duration::from_secs(2);
                connection.internal_command_timeout = Duration::from_secs(2);
                connection.max_command_attempts = 2;
            })
            .set_policy(ReconnectPolicy::new_constant(0, 200))
            .build_pool(size.max(1))
            .map_err(storage_error)?;
        pool.init().await.map_err(storage_error)?;
        Ok(pool)
    }

    /// Connects a pool of 8 to `url` (see [`RedisStorage::pool`]).
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        Ok(Self::new(Self::pool(url, 8).await?))
    }

    /// The key prefix (default `cart`).
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = Arc::from(prefix);
        self
    }

    /// How long a cart lives after its last write (default one day).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// Also refresh the TTL on every read.
    pub fn refresh_ttl_on_read(mut self, refresh: bool) -> Self {
        self.refresh_ttl_on_read = refresh;
        self
    }

    /// Serialize the writers of one cart with a lock instead of retrying on conflict.
    pub fn with_locking(mut self, locking: bool) -> Self {
        self.locking = locking;
        self
    }

    /// How long a lock lives if its holder dies (default 5 s).
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// How long a writer waits for a lock (default 2 s).
    pub fn with_lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// The longest any one command may take before it fails with [`StorageError::Unavailable`]
    /// (default 2 s). Enforced here as well as in the pool, because fred does not apply its
    /// command timeout to script calls.
    pub fn with_command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// Runs one command with the command timeout.
    async fn timed<T>(
        &self,
        command: impl std::future::Future<Output = Result<T, fred::error::Error>>,
    ) -> Result<T, StorageError> {
        match tokio::time::timeout(self.command_timeout, command).await {
            Ok(result) => result.map_err(storage_error),
            Err(_) => Err(StorageError::Unavailable {
                driver: DRIVER,
                message: format!("no answer from Redis within {:?}", self.command_timeout),
            }),
        }
    }

    /// The pool.
    pub fn client(&self) -> &Pool {
        &self.pool
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The Redis key of a cart.
    pub fn cart_key(&self, key: &CartKey) -> String {
        format!(
            "{}:{{{}}}:{}",
            self.prefix,
            encode_part(key.identifier()),
            encode_part(key.instance())
        )
    }

    /// The Redis key of an identifier's instance set.
    fn set_key(&self, identifier: &str) -> String {
        format!("{}:{{{}}}", self.prefix, encode_part(identifier))
    }

    /// What precedes the instance in the cart keys of `identifier`.
    fn instance_prefix(&self, identifier: &str) -> String {
        format!("{}:{{{}}}:", self.prefix, encode_part(identifier))
    }

    fn ttl_millis(&self) -> String {
        self.ttl.as_millis().to_string()
    }

    /// Runs a script by SHA, loading it first, and again after a `SCRIPT FLUSH` (NOSCRIPT).
    async fn run(
        &self,
        script: &Script,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<Value, StorageError> {
        let pool = &self.pool;
        let load = || self.timed(pool.next().script_load::<String, _>(script.source));
        let sha = script.sha.get_or_try_init(load).await?.clone();
        let first = tokio::time::timeout(
            self.command_timeout,
            pool.evalsha::<Value, _, _, _>(sha, keys.clone(), args.clone()),
        )
        .await;
        match first {
            Ok(Err(error)) if error.details().starts_with("NOSCRIPT") => {
                let sha = load().await?;
                self.timed(pool.evalsha::<Value, _, _, _>(sha, keys, args))
                    .await
            }
            Ok(other) => other.map_err(storage_error),
            Err(_) => Err(StorageError::Unavailable {
                driver: DRIVER,
                message: format!("no answer from Redis within {:?}", self.command_timeout),
            }),
        }
    }

    fn decode(
        key: &CartKey,
        fields: Vec<Value>,
    ) -> Result<Option<Versioned<CartContents>>, StorageError> {
        let corrupt = |message: String| StorageError::Corrupt {
            driver: DRIVER,
            key: key.clone(),
            message,
        };
        let mut fields = fields.into_iter();
        let (Some(version), Some(document), updated) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(corrupt("HMGET answered fewer than three fields".to_owned()));
        };
        let Some(version) = as_i64(&version) else {
            return Ok(None);
        };
        let document = as_string(&document).ok_or_else(|| corrupt("no document".to_owned()))?;
        let cart =
            CartContents::from_json(document.as_bytes()).map_err(|e| corrupt(e.to_string()))?;
        let updated_at = updated
            .as_ref()
            .and_then(as_i64)
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
        Ok(Some(Versioned {
            value: cart,
            version: version as u64,
            updated_at,
        }))
    }

    /// The compare-and-set write of an encoded document.
    async fn save_document(
        &self,
        key: &CartKey,
        document: Vec<u8>,
        expected: Option<u64>,
    ) -> Result<u64, StorageError> {
        let document = String::from_utf8(document).map_err(|e| StorageError::Corrupt {
            driver: DRIVER,
            key: key.clone(),
            message: e.to_string(),
        })?;
        let answer = self
            .run(
                &self.scripts.save,
                vec![self.cart_key(key), self.set_key(key.identifier())],
                vec![
                    expected.map(|v| v.to_string()).unwrap_or_default(),
                    document,
                    self.ttl_millis(),
                    encode_part(key.instance()),
                    OffsetDateTime::now_utc().unix_timestamp().to_string(),
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

    async fn locked_modify(
        &self,
        key: &CartKey,
        options: &ModifyOptions,
        op: &CartOp<'_>,
    ) -> Result<Modified, ModifyError> {
        let lock_key = format!("{}:lock", self.cart_key(key));
        let token = format!("{:032x}", rand::random::<u128>());
        let deadline = tokio::time::Instant::now() + self.lock_wait;
        let mut attempt = 0;
        loop {
            let taken: Value = self
                .timed(self.pool.set(
                    lock_key.as_str(),
                    token.as_str(),
                    Some(Expiration::PX(self.lock_timeout.as_millis() as i64)),
                    Some(SetOptions::NX),
                    false,
                ))
                .await?;
            if !matches!(taken, Value::Null) {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StorageError::Unavailable {
                    driver: DRIVER,
                    message: format!("lock wait exceeded ({:?}) for cart {key}", self.lock_wait),
                }
                .into());
            }
            attempt += 1;
            backoff(attempt.min(3)).await;
        }
        let result = async {
            let current = self.load(key).await?;
            let (cart, document, expected) = options.apply_encoded(current, op)?;
            match self.save_document(key, document, expected).await {
                Ok(version) => Ok(Modified {
                    cart: Versioned::new(cart, version),
                    previous_version: expected,
                    retries: 0,
                }),
                // Only a writer that ignores the lock (a plain save) can get here.
                Err(StorageError::Conflict { current, .. }) => {
                    Err(ModifyError::conflict(key, expected, current, 0))
                }
                Err(other) => Err(other.into()),
            }
        }
        .await;
        let released = self
            .run(&self.scripts.unlock, vec![lock_key], vec![token])
            .await;
        if let Err(error) = released {
            // The lock expires by itself after the lock timeout.
            tracing::warn!(cart = %key, %error, "could not release a cart lock");
        }
        result
    }
}

#[async_trait]
impl CartStorage for RedisStorage {
    fn driver(&self) -> &'static str {
        DRIVER
    }

    async fn load(&self, key: &CartKey) -> Result<Option<Versioned<CartContents>>, StorageError> {
        let fields: Vec<Value> = if self.refresh_ttl_on_read {
            match self
                .run(
                    &self.scripts.load_and_touch,
                    vec![self.cart_key(key), self.set_key(key.identifier())],
                    vec![self.ttl_millis()],
                )
                .await?
            {
                Value::Array(values) => values,
                _ => Vec::new(),
            }
        } else {
            self.timed(self.pool.hmget(self.cart_key(key), vec!["v", "d", "t"]))
                .await?
        };
        Self::decode(key, fields)
    }

    async fn save(
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
        self.save_document(key, document, expected).await
    }

    async fn delete(&self, key: &CartKey) -> Result<bool, StorageError> {
        let deleted = self
            .run(
                &self.scripts.delete,
                vec![self.cart_key(key), self.set_key(key.identifier())],
                vec![encode_part(key.instance())],
            )
            .await?;
        Ok(as_i64(&deleted).unwrap_or(0) > 0)
    }

    async fn instances(&self, identifier: &str) -> Result<Vec<String>, StorageError> {
        let live = self
            .run(
                &self.scripts.instances,
                vec![self.set_key(identifier)],
                vec![self.instance_prefix(identifier)],
            )
            .await?;
        let mut instances: Vec<String> = match live {
            Value::Array(values) => values
                .iter()
                .filter_map(as_string)
                .map(|encoded| decode_part(&encoded))
                .collect(),
            _ => Vec::new(),
        };
        instances.sort();
        Ok(instances)
    }

    async fn swap_identifier(
        &self,
        from: &str,
        to: &str,
        instance: &str,
    ) -> Result<bool, StorageError> {
        let moved = self
            .run(
                &self.scripts.swap,
                vec![
                    self.cart_key(&CartKey::new(from, instance)),
                    self.set_key(from),
                    self.cart_key(&CartKey::new(to, instance)),
                    self.set_key(to),
                ],
                vec![
                    encode_part(instance),
                    self.ttl_millis(),
                    OffsetDateTime::now_utc().unix_timestamp().to_string(),
                ],
            )
            .await?;
        Ok(as_i64(&moved) == Some(1))
    }

    async fn forget(&self, identifier: &str) -> Result<usize, StorageError> {
        let deleted = self
            .run(
                &self.scripts.forget,
                vec![self.set_key(identifier)],
                vec![self.instance_prefix(identifier)],
            )
            .await?;
        Ok(as_i64(&deleted).unwrap_or(0) as usize)
    }

    async fn scan(&self, cursor: Option<String>, batch: usize) -> Result<ScanPage, StorageError> {
        let pattern = format!("{}:{{*", escape_glob(&self.prefix));
        let cursor = cursor.unwrap_or_else(|| "0".to_owned());
        let (next, keys): (String, Vec<String>) = self
            .timed(
                self.pool
                    .next()
                    .scan_page(cursor, pattern, Some(batch.max(1) as u32), None),
            )
            .await?;
        let head = format!("{}:{{", self.prefix);
        let mut found: Vec<CartKey> = keys
            .iter()
            .filter_map(|raw| {
                // `{prefix}:{<identifier>}:<instance>` and nothing else: not sets, not locks.
                let rest = raw.strip_prefix(&head)?;
                let (identifier, instance) = rest.split_once("}:")?;
                if instance.is_empty() || instance.contains(':') || identifier.contains('}') {
                    return None;
                }
                Some(CartKey::new(decode_part(identifier), decode_part(instance)))
            })
            .collect();
        found.sort();
        found.dedup();
        Ok(ScanPage {
            keys: found,
            next: (next != "0").then_some(next),
        })
    }

    async fn modify(
        &self,
        key: &CartKey,
        options: &ModifyOptions,
        op: &CartOp<'_>,
    ) -> Result<Modified, ModifyError> {
        if self.locking {
            self.locked_modify(key, options, op).await
        } else {
            optimistic_modify(self, key, options, op).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
