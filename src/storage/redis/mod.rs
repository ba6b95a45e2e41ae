//! `RedisStorage`: carts in Redis through fred, the client tower-sessions-redis-store uses, so
//! one pool can serve sessions and carts.
//!
//! # Keys
//! - `{prefix}:{<identifier>}:<instance>`: a string, the cart: a 41-byte head (the version in 20
//!   digits, a state byte, the last write in unix seconds in 20 digits) and the cart document as
//!   JSON. While a move to another slot freezes the cart, the state byte is `m` and the target
//!   identifier follows the head. The braces are a cluster hash tag: every key of one identifier
//!   lives in one slot.
//! - `{prefix}:{<identifier>}:<instance>:next:<16 hex digits>`: a write's new value, for the
//!   instant between its `SET` and the save script that renames it over the cart.
//! - `{prefix}:{<identifier>}:<instance>:moved`: the record of the cross-slot move that wrote the
//!   cart, kept for the cart TTL.
//! - `{prefix}:{<identifier>}`: the set of the identifier's instances.
//! - `{prefix}:{<identifier>}:<instance>:lock`: the per-cart lock of locking mode.
//! - with [`RedisStorage::with_event_log`]: the event streams, `{prefix}:events` (one Redis) or
//!   `{prefix}:events:{<tag>}` (one per cluster slot), and each consumer's cursor,
//!   `{prefix}:event-cursors:<consumer>`.
//!
//! In identifiers and instances, `%`, `:`, `{` and `}` are percent-encoded, so no identifier or
//! instance can make its keys collide with another cart's.
//!
//! # One round trip each
//! A load is one `GET`. A compare-and-set save is a `SET` of the new value (its head already at
//! version + 1) under a key of its own, and one Lua script sent right behind it on the same
//! connection, in the same write to the socket (`EVALSHA`; after a `SCRIPT FLUSH` the script is
//! loaded again and the call repeated), that checks the version, renames the new value over the
//! cart, which carries the TTL along, and records the instance. The document never passes
//! through Lua, which would copy it in and out. `delete`, `delete_at`, `swap_identifier`,
//! `forget` and `instances` are scripts too, so each is atomic.
//!
//! # Redis Cluster
//! Connect with a cluster URL, `redis-cluster://host:port?node=host2:port2&node=...` (see
//! [`RedisStorage::pool`]). Every key of one identifier carries the identifier as its hash tag,
//! so a cart, its lock and its identifier's instance set share a slot, and every script declares
//! every key it touches (the scripts that walk an instance set are told the members' keys, and
//! called again when the set changed meanwhile). [`CartStorage::scan`] walks every primary in
//! turn. `swap_identifier` between identifiers in two slots, which no script may touch together,
//! is a three-step move that a process dying between its steps cannot lose or duplicate: the
//! next attempt, or the next writer of the source cart, finishes it (see `moving.rs`).
//! [`RedisStorage::with_replica_acks`] makes writes wait for replicas, so that a failover keeps
//! every write that was answered.
//!
//! # Versions
//! A new cart starts at the Redis server's clock in microseconds (`TIME`), not at 1, and each
//! write adds one. A cart created again after a delete or an expiry therefore starts above every
//! version its earlier life reached, and a writer that read the earlier cart conflicts instead of
//! overwriting the new one. The server's clock, not the process's: every process writing a cart
//! counts on the same clock. A swap gives the moved cart a version above the moved one, the
//! replaced one and the clock.
//!
//! # Exactly once
//! The pool re-sends a command once after a dropped connection, so a save may reach Redis twice.
//! The second copy conflicts (the first one bumped the version), and the write id the first one
//! stored in the cart tells `modify`, optimistic or locking, that the change is already in.
//!
//! # TTL
//! Every write sets the cart's TTL (default one day); [`RedisStorage::with_ttl_refresh_on_read`] makes
//! reads refresh it too (the load becomes `GETEX` and the instance set's `PEXPIRE`, sent together).
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
//!
//! # Layout
//! `mod.rs` (this type) uses `lock.rs` (locking mode) and `write.rs` (the read-modify-write of
//! both modes), which use `store.rs` (one call per cart operation), which uses `moving.rs` (the
//! cross-slot move), `events.rs` (the event log's streams, reader and retention), `scan.rs`
//! (scanning every primary), `scripts.rs` (the Lua scripts in `scripts/`), `keys.rs` (key names)
//! and `client.rs` (timeouts, errors, replica acknowledgements). No file uses one above it.

mod client;
mod events;
mod keys;
mod lock;
mod moving;
mod scan;
mod scripts;
mod store;
mod write;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use fred::clients::Pool;
use fred::interfaces::ClientLike;
use fred::types::config::{Config, ReconnectPolicy};

use self::client::{Client, DRIVER, ReplicaAcks, storage_error};
use self::events::Streams;
use self::keys::Keys;
use self::lock::Lock;
use self::scripts::Scripts;
use self::store::Store;
use super::{
    CartKey, CartOp, CartStorage, EventLog, EventRetention, LoggedEvent, Modified, ModifyError,
    ModifyOptions, ScanPage, StorageError, Versioned, check_consumer,
};
use crate::cart::CartContents;

/// Carts in Redis. Cheap to clone; clones share the pool.
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
#[derive(Clone)]
pub struct RedisStorage {
    store: Store,
    locking: bool,
    lock: Lock,
    /// The event streams a reader knows, and whose turn it is to be read first.
    streams: Arc<Streams>,
    turn: Arc<AtomicUsize>,
}

impl std::fmt::Debug for RedisStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStorage")
            .field("prefix", &self.store.keys.prefix())
            .field("ttl", &self.store.ttl)
            .field("refresh_ttl_on_read", &self.store.refresh_ttl_on_read)
            .field("locking", &self.locking)
            .field("replica_acks", &self.store.client.replica_acks)
            .field("event_log", &self.store.event_log)
            .finish()
    }
}

impl RedisStorage {
    /// Carts in Redis through `pool` (it may be the pool of a tower-sessions `RedisStore`), with
    /// the prefix `cart`, a one-day TTL and optimistic writers.
    ///
    /// Configure the pool with a command timeout so an outage fails fast; see
    /// [`RedisStorage::pool`] for the settings [`RedisStorage::connect`] uses.
    pub fn new(pool: Pool) -> Self {
        RedisStorage {
            store: Store {
                client: Client {
                    pool,
                    command_timeout: Duration::from_secs(2),
                    replica_acks: None,
                },
                keys: Keys::new("cart"),
                scripts: Arc::new(Scripts::new()),
                ttl: Duration::from_secs(86_400),
                refresh_ttl_on_read: false,
                parsed: Arc::default(),
                event_log: false,
            },
            locking: false,
            lock: Lock {
                timeout: Duration::from_secs(5),
                wait: Duration::from_secs(2),
            },
            streams: Arc::default(),
            turn: Arc::default(),
        }
    }

    /// A pool of `size` connections (at least one) to `url`, with a 2 s command and connection
    /// timeout, reconnecting every 200 ms while Redis is away: what [`RedisStorage::connect`]
    /// uses, for sharing with a session store.
    ///
    /// `redis://host:port` names a single Redis; `redis-cluster://host:port?node=host:port&...`
    /// (`rediss-cluster://` with TLS) a Redis Cluster, by any of its nodes: the rest are found
    /// from them, and naming several lets the pool start while one is down.
    ///
    /// # Errors
    /// [`StorageError::Backend`] when `url` is not a Redis URL, [`StorageError::Unavailable`]
    /// when Redis cannot be reached.
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

    /// Connects a pool of 8 to `url` (see [`RedisStorage::pool`]) and stores carts through it
    /// with the defaults of [`RedisStorage::new`].
    ///
    /// # Errors
    /// [`StorageError::Backend`] when `url` is not a Redis URL, [`StorageError::Unavailable`]
    /// when Redis cannot be reached.
    ///
    /// # Examples
    /// ```no_run
    /// use axum_cart::storage::StorageError;
    /// use axum_cart::{CartConfig, RedisStorage};
    ///
    /// async fn cart_config() -> Result<CartConfig, StorageError> {
    ///     Ok(CartConfig::new().with_storage(
    ///         RedisStorage::connect("redis://127.0.0.1:6379")
    ///             .await?
    ///             .with_prefix("shop")
    ///             .with_locking(true),
    ///     ))
    /// }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        Ok(Self::new(Self::pool(url, 8).await?))
    }

    /// The key prefix (default `cart`). Stores with different prefixes on one server never see
    /// each other's carts.
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.store.keys = Keys::new(prefix);
        self
    }

    /// How long a cart lives after its last write (default one day; at least 1 ms).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.store.ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// Also refresh the TTL on every read (default off), so carts that are only looked at do
    /// not expire.
    pub fn with_ttl_refresh_on_read(mut self, refresh: bool) -> Self {
        self.store.refresh_ttl_on_read = refresh;
        self
    }

    /// Serialize the writers of one cart with a lock instead of retrying on conflict (default
    /// off).
    pub fn with_locking(mut self, locking: bool) -> Self {
        self.locking = locking;
        self
    }

    /// How long a lock lives if its holder dies (default 5 s).
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock.timeout = timeout;
        self
    }

    /// How long a writer waits for a lock (default 2 s).
    pub fn with_lock_wait(mut self, wait: Duration) -> Self {
        self.lock.wait = wait;
        self
    }

    /// The longest any one command may take before it fails with [`StorageError::Unavailable`]
    /// (default 2 s). Enforced here as well as in the pool, because fred does not apply its
    /// command timeout to script calls.
    pub fn with_command_timeout(mut self, timeout: Duration) -> Self {
        self.store.client.command_timeout = timeout;
        self
    }

    /// Makes every write wait until `replicas` replicas of the primary it went to acknowledged
    /// it (`WAIT`), for at most `timeout` (default: no waiting). A write they do not all
    /// acknowledge in time fails with [`StorageError::Unavailable`] (a 503), although the primary
    /// holds it: a change that was answered as committed then survives the primary's loss, since
    /// Redis Cluster promotes a replica that holds it (Redis replicates asynchronously, so
    /// without this a failover may drop writes acknowledged just before it). `replicas` 0 turns
    /// it off. Keep `timeout` below the command timeout of the pool.
    ///
    /// On a cluster a write then fails while its primary has no live replica (after a failover,
    /// until the old primary is back as a replica): durability is bought with availability.
    ///
    /// # Examples
    /// ```no_run
    /// use std::time::Duration;
    /// use axum_cart::RedisStorage;
    /// # async fn storage() -> Result<RedisStorage, axum_cart::storage::StorageError> {
    /// let url = "redis-cluster://10.0.0.1:6379?node=10.0.0.2:6379&node=10.0.0.3:6379";
    /// Ok(RedisStorage::connect(url)
    ///     .await?
    ///     .with_replica_acks(1, Duration::from_millis(500)))
    /// # }
    /// ```
    pub fn with_replica_acks(mut self, replicas: u32, timeout: Duration) -> Self {
        self.store.client.replica_acks =
            (replicas > 0).then_some(ReplicaAcks { replicas, timeout });
        self
    }

    /// Appends every committed change to the event log, in the script that commits it (default
    /// off; see [`EventLog`]): saves that win their compare-and-set log `created` or `updated`,
    /// and deletes that remove a cart (`delete`, `delete_at`, so a clear or a merged guest cart)
    /// log `deleted`. `swap_identifier` logs the source `deleted` and the target `created` or
    /// `updated` (a cross-slot move logs each in the step that makes it, in its own slot);
    /// `forget` deletes instance by instance, each logged. A conflict, a frozen cart, a failed
    /// write log nothing. Not logged: a cart that expires (its TTL).
    ///
    /// The log is a stream, `{prefix}:events`, on a single Redis, and one stream per hash slot,
    /// `{prefix}:events:{<tag>}`, on a cluster, so each script stays in its cart's slot. Streams
    /// have no TTL: prune them with [`EventLog::prune_events`].
    ///
    /// # Examples
    /// ```no_run
    /// use axum_cart::storage::StorageError;
    /// use axum_cart::{CartConfig, RedisStorage};
    ///
    /// # async fn config() -> Result<CartConfig, StorageError> {
    /// let storage = RedisStorage::connect("redis://127.0.0.1:6379").await?;
    /// Ok(CartConfig::new().with_storage(storage.with_event_log(true)))
    /// # }
    /// ```
    pub fn with_event_log(mut self, on: bool) -> Self {
        self.store.event_log = on;
        self
    }

    /// The pool.
    pub fn client(&self) -> &Pool {
        &self.store.client.pool
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        self.store.keys.prefix()
    }

    /// The Redis key of a cart.
    pub fn cart_key(&self, key: &CartKey) -> String {
        self.store.keys.cart(key)
    }
}

/// Reads the streams [`RedisStorage::with_event_log`] writes (whether or not this storage writes
/// them itself).
#[async_trait]
impl EventLog for RedisStorage {
    async fn read_events(
        &self,
        consumer: &str,
        max: usize,
    ) -> Result<Vec<LoggedEvent>, StorageError> {
        check_consumer(DRIVER, consumer)?;
        let start = self.turn.fetch_add(1, Ordering::Relaxed);
        let store = &self.store;
        events::read(
            &store.client,
            &store.keys,
            &self.streams,
            consumer,
            max,
            start,
        )
        .await
    }

    async fn ack_events(&self, consumer: &str, events: &[LoggedEvent]) -> Result<(), StorageError> {
        check_consumer(DRIVER, consumer)?;
        events::ack(&self.store.client, &self.store.keys, consumer, events).await
    }

    async fn prune_events(&self, retention: &EventRetention) -> Result<u64, StorageError> {
        let store = &self.store;
        events::prune(&store.client, &store.keys, &self.streams, retention).await
    }
}

#[async_trait]
impl CartStorage for RedisStorage {
    fn driver(&self) -> &'static str {
        DRIVER
    }

    fn recent(&self, key: &CartKey) -> Option<Arc<Versioned<CartContents>>> {
        self.store.parsed.latest(key)
    }

    async fn load(&self, key: &CartKey) -> Result<Option<Versioned<CartContents>>, StorageError> {
        self.store.load(key).await
    }

    async fn load_shared(
        &self,
        key: &CartKey,
    ) -> Result<Option<Arc<Versioned<CartContents>>>, StorageError> {
        self.store.load_shared(key).await
    }

    async fn save(
        &self,
        key: &CartKey,
        cart: &CartContents,
        expected: Option<u64>,
    ) -> Result<u64, StorageError> {
        self.store.save(key, cart, expected).await
    }

    async fn delete(&self, key: &CartKey) -> Result<bool, StorageError> {
        self.store.delete(key).await
    }

    async fn delete_at(&self, key: &CartKey, version: u64) -> Result<bool, StorageError> {
        self.store.delete_at(key, version).await
    }

    async fn instances(&self, identifier: &str) -> Result<Vec<String>, StorageError> {
        self.store.instances(identifier).await
    }

    async fn swap_identifier(
        &self,
        from: &str,
        to: &str,
        instance: &str,
    ) -> Result<bool, StorageError> {
        self.store.swap_identifier(from, to, instance).await
    }

    async fn forget(&self, identifier: &str) -> Result<usize, StorageError> {
        self.store.forget(identifier).await
    }

    async fn scan(&self, cursor: Option<String>, batch: usize) -> Result<ScanPage, StorageError> {
        self.store.scan(cursor, batch).await
    }

    async fn modify(
        &self,
        key: &CartKey,
        options: &ModifyOptions,
        op: &CartOp<'_>,
    ) -> Result<Modified, ModifyError> {
        if self.locking {
            self.lock.modify(&self.store, self, key, options, op).await
        } else {
            write::modify(&self.store, self, key, options, op).await
        }
    }
}
