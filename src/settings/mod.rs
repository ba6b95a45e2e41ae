//! [`CartSettings`]: the cart's configuration as data, loadable from environment variables
//! (`CART_*`, listed in [`ENV_VARS`]) with [`CartSettings::from_env`] and from TOML with
//! [`CartSettings::from_toml_str`] and [`CartSettings::from_toml_file`]. An invalid setting is
//! a [`SettingsError`] naming the key and the values it accepts, so a shop fails at start-up,
//! not at its first customer.
//!
//! [`CartSettings::to_config`] turns settings into a [`crate::CartConfig`];
//! [`CartSettings::connect`] also connects the Redis or Postgres driver the settings name.
//!
//! # Examples
//!
//! ```
//! use axum_cart::settings::{CartSettings, Driver, IdentifierCarrier};
//!
//! let mut settings = CartSettings {
//!     storage: Driver::Memory,
//!     currency: "EUR".to_owned(),
//!     ..CartSettings::default()
//! };
//! settings.limits.max_lines = 200;
//! settings.validate().unwrap();
//! assert_eq!(settings.currency(), axum_cart::Currency::EUR);
//!
//! let config = settings.to_config().unwrap();
//! assert_eq!(config.limits().max_lines, 200);
//!
//! // Cookie identifiers need a signing secret; the error names the missing key.
//! settings.identifier.mode = IdentifierCarrier::Cookie;
//! let error = settings.validate().unwrap_err();
//! assert_eq!(error.key, "identifier.cookie_key");
//! assert!(error.message.contains("64 bytes"));
//! ```

use std::time::Duration;

use serde::Deserialize;

use crate::cart::{Currency, Limits, MergeStrategy, RoundingMode};
use crate::catalog::PricePolicy;

mod connect;
mod env;
mod file;
mod identifier;

pub use env::ENV_VARS;
pub use identifier::cookie_key_from_secret;

/// A setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cart setting `{key}`: {message}")]
pub struct SettingsError {
    /// The setting (`storage`, `cache.ttl`, or the environment variable `CART_CACHE_TTL`).
    pub key: String,
    /// What is wrong, with the accepted values.
    pub message: String,
}

impl SettingsError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        SettingsError {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Which driver carts live in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Driver {
    /// The tower-sessions session.
    #[default]
    Session,
    /// Redis.
    Cache,
    /// Postgres.
    Database,
    /// In this process (tests, demos).
    Memory,
}

impl Driver {
    const NAMES: &'static str = "session, cache, database, memory";
}

/// `session.*` settings.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionSettings {
    /// The session key carts live under (default `cart`).
    pub key: String,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            key: crate::storage::DEFAULT_SESSION_KEY.to_owned(),
        }
    }
}

/// `cache.*` settings (Redis).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// Redis URL (default: `REDIS_URL`, else `redis://127.0.0.1:6379`); a Redis Cluster is
    /// `redis-cluster://host:port?node=host:port&...`.
    pub url: Option<String>,
    /// Key prefix (default `cart`).
    pub prefix: String,
    /// Seconds a cart lives after its last write (default 86 400).
    pub ttl: u64,
    /// Serialize writers with a per-cart lock instead of retrying on conflict.
    pub locking: bool,
    /// Replicas that must acknowledge every write (default 0: none; see
    /// `RedisStorage::with_replica_acks`).
    pub replica_acks: u32,
    /// Milliseconds a write waits for those acknowledgements (default 500).
    pub replica_ack_timeout_ms: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            url: None,
            prefix: "cart".to_owned(),
            ttl: 86_400,
            locking: false,
            replica_acks: 0,
            replica_ack_timeout_ms: 500,
        }
    }
}

/// `database.*` settings (Postgres).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Postgres URL (default: `DATABASE_URL`).
    pub url: Option<String>,
    /// Table name (default `carts`).
    pub table: String,
    /// Run each change as `SELECT ... FOR UPDATE` + update in one transaction.
    pub locking: bool,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: None,
            table: "carts".to_owned(),
            locking: false,
        }
    }
}

/// Where guest identifiers travel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierCarrier {
    /// In the session.
    #[default]
    Session,
    /// In a signed cookie.
    Cookie,
}

/// `identifier.*` settings. Their `Debug` form never shows the secrets.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentifierSettings {
    /// `session` or `cookie`.
    pub mode: IdentifierCarrier,
    /// The session key of the guest identifier in session mode (default `cart_id`).
    pub session_key: String,
    /// Cookie name (default `cart_id`).
    pub cookie_name: String,
    /// The cookie signing secret: text of at least 64 bytes, all of which count (required in
    /// cookie mode; see [`cookie_key_from_secret`]).
    pub cookie_key: Option<String>,
    /// Secrets signed with before a rotation, each of at least 64 bytes: cookies they signed
    /// still reach their carts and are signed with `cookie_key` again at their next write.
    /// `CART_PREVIOUS_COOKIE_KEYS` takes them comma-separated (so they cannot hold a comma).
    pub previous_cookie_keys: Vec<String>,
    /// The Secure attribute (default true).
    pub cookie_secure: bool,
    /// `lax` (default), `strict` or `none` (which needs `cookie_secure`).
    pub cookie_same_site: String,
    /// Cookie Max-Age in seconds (default 30 days; 0 for a browser-session cookie).
    pub cookie_max_age: u64,
}

impl std::fmt::Debug for IdentifierSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentifierSettings")
            .field("mode", &self.mode)
            .field("session_key", &self.session_key)
            .field("cookie_name", &self.cookie_name)
            .field(
                "cookie_key",
                &self.cookie_key.as_ref().map(|_| "[redacted]"),
            )
            .field("previous_cookie_keys", &self.previous_cookie_keys.len())
            .field("cookie_secure", &self.cookie_secure)
            .field("cookie_same_site", &self.cookie_same_site)
            .field("cookie_max_age", &self.cookie_max_age)
            .finish()
    }
}

impl Default for IdentifierSettings {
    fn default() -> Self {
        IdentifierSettings {
            mode: IdentifierCarrier::Session,
            session_key: crate::identify::DEFAULT_IDENTIFIER_SESSION_KEY.to_owned(),
            cookie_name: crate::identify::DEFAULT_COOKIE_NAME.to_owned(),
            cookie_key: None,
            previous_cookie_keys: Vec::new(),
            cookie_secure: true,
            cookie_same_site: "lax".to_owned(),
            cookie_max_age: 30 * 24 * 3600,
        }
    }
}

/// Every cart setting. The field names are the TOML keys; [`ENV_VARS`] maps the environment
/// variables onto them.
///
/// Load it with [`CartSettings::from_env`], [`CartSettings::from_env_map`],
/// [`CartSettings::from_toml_str`] or [`CartSettings::from_toml_file`], or build it from
/// [`CartSettings::default`] and check it with [`CartSettings::validate`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CartSettings {
    /// `session` (default), `cache`, `database` or `memory`.
    pub storage: Driver,
    /// Session driver settings.
    pub session: SessionSettings,
    /// Cache driver settings.
    pub cache: CacheSettings,
    /// Database driver settings.
    pub database: DatabaseSettings,
    /// ISO-4217 code of new carts (default `USD`).
    pub currency: String,
    /// `half_up` (default), `half_even`, `down`, `up`.
    pub rounding: RoundingMode,
    /// `add_quantities` (default), `keep_highest_quantity`, `keep_user_cart`, `replace_with_guest`.
    pub merge_strategy: MergeStrategy,
    /// Milliseconds a change may retry after conflicts with other processes (default 2000).
    pub retry_budget_ms: u64,
    /// Limits.
    pub limits: Limits,
    /// Most instances (cart, wishlist, ...) one identifier may hold (default 16).
    pub max_instances: usize,
    /// `reprice_with_notice` (default), `reprice` or `keep_snapshot`.
    pub price_policy: PricePolicy,
    /// Seconds after which a line is re-priced even under `keep_snapshot` (0, the default: never).
    pub max_price_age: u64,
    /// `ETag`, `If-None-Match` and `If-Match` on cart answers (default off).
    pub conditional_requests: bool,
    /// `Idempotency-Key` on cart changes (default off).
    pub idempotency_keys: bool,
    /// Seconds an idempotency key is remembered (default 86 400).
    pub idempotency_retention: u64,
    /// Identifier settings.
    pub identifier: IdentifierSettings,
    /// Append every committed change to the durable event log (cache and database drivers only;
    /// default off; see `axum_cart::storage::EventLog`).
    pub event_log: bool,
}

impl Default for CartSettings {
    fn default() -> Self {
        CartSettings {
            storage: Driver::default(),
            session: SessionSettings::default(),
            cache: CacheSettings::default(),
            database: DatabaseSettings::default(),
            currency: "USD".to_owned(),
            rounding: RoundingMode::default(),
            merge_strategy: MergeStrategy::default(),
            retry_budget_ms: 2_000,
            limits: Limits::default(),
            max_instances: 16,
            price_policy: PricePolicy::default(),
            max_price_age: 0,
            conditional_requests: false,
            idempotency_keys: false,
            idempotency_retention: 24 * 3600,
            identifier: IdentifierSettings::default(),
            event_log: false,
        }
    }
}

impl CartSettings {
    /// Checks what serde cannot: values in range, names well formed, required companions.
    ///
    /// # Errors
    ///
    /// The first invalid setting, named by its settings key (`currency`, `cache.ttl`,
    /// `identifier.cookie_key`, ...): an unknown currency, an empty session key, a cache prefix
    /// with spaces or braces, a zero TTL or limit, a table name that is not a plain SQL name, an
    /// unknown `SameSite` value, `SameSite=None` without Secure, a previous cookie secret shorter
    /// than 64 bytes, or cookie mode without a signing secret of at least 64 bytes or without a
    /// cookie name, or the event log on a driver that has none.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let positive = |key: &str, value: u64| {
            if value == 0 {
                Err(SettingsError::new(key, "must be at least 1"))
            } else {
                Ok(())
            }
        };
        Currency::from_code(&self.currency).map_err(|_| {
            SettingsError::new(
                "currency",
                format!(
                    "`{}` is not a known ISO-4217 code (USD, EUR, GBP, MYR, JPY, ...)",
                    self.currency
                ),
            )
        })?;
        if self.session.key.is_empty() {
            return Err(SettingsError::new("session.key", "must not be empty"));
        }
        if self.cache.prefix.is_empty() || self.cache.prefix.contains(['{', '}', ' ']) {
            return Err(SettingsError::new(
                "cache.prefix",
                "must be non-empty, without spaces or braces",
            ));
        }
        positive("cache.ttl", self.cache.ttl)?;
        if self.event_log && matches!(self.storage, Driver::Session | Driver::Memory) {
            return Err(SettingsError::new(
                "event_log",
                "needs the cache or database driver: session and memory carts have in-process events only",
            ));
        }
        let table_ok = crate::storage::is_plain_table_name(&self.database.table);
        if !table_ok {
            return Err(SettingsError::new(
                "database.table",
                format!(
                    "`{}` is not a plain SQL name (lower-case letters, digits, `_`, optionally schema.table)",
                    self.database.table
                ),
            ));
        }
        positive("limits.max_lines", self.limits.max_lines as u64)?;
        positive("limits.max_quantity", u64::from(self.limits.max_quantity))?;
        positive("limits.max_id_length", self.limits.max_id_length as u64)?;
        positive("limits.max_name_length", self.limits.max_name_length as u64)?;
        positive("limits.max_cart_bytes", self.limits.max_cart_bytes as u64)?;
        positive("max_instances", self.max_instances as u64)?;
        positive("idempotency_retention", self.idempotency_retention)?;
        self.identifier.validate()?;
        Ok(())
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        Currency::from_code(&self.currency).unwrap_or_default()
    }

    /// The cache TTL.
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_secs(self.cache.ttl)
    }

    /// A [`crate::CartConfig`] with everything but the storage of a shared driver applied (the
    /// session and memory drivers are set; for cache and database, connect the driver and pass
    /// it to `with_storage`, or use [`CartSettings::connect`]).
    ///
    /// # Errors
    ///
    /// As [`CartSettings::identifier_mode`]: a missing or short cookie signing secret in cookie
    /// mode, or `SameSite=None` without Secure.
    pub fn to_config(&self) -> Result<crate::CartConfig, SettingsError> {
        let mut config = crate::CartConfig::new()
            .with_currency(self.currency())
            .with_rounding(self.rounding)
            .with_merge_strategy(self.merge_strategy)
            .with_retry_budget(Duration::from_millis(self.retry_budget_ms))
            .with_limits(self.limits)
            .with_max_instances(self.max_instances)
            .with_price_policy(self.price_policy)
            .with_conditional_requests(self.conditional_requests)
            .with_idempotency_keys(self.idempotency_keys)
            .with_idempotency_retention(Duration::from_secs(self.idempotency_retention));
        if self.max_price_age > 0 {
            config = config.with_max_price_age(Duration::from_secs(self.max_price_age));
        }
        config.identifier = self.identifier_mode()?;
        Ok(match self.storage {
            Driver::Session => config.with_session_storage(self.session.key.as_str()),
            Driver::Memory => config.with_storage(crate::MemoryStorage::new()),
            Driver::Cache | Driver::Database => config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pricing_instances_and_http_protocol_settings_reach_the_config() {
        let vars = [
            ("CART_MAX_INSTANCES", "4"),
            ("CART_PRICE_POLICY", "keep_snapshot"),
            ("CART_MAX_PRICE_AGE", "3600"),
            ("CART_CONDITIONAL_REQUESTS", "true"),
            ("CART_IDEMPOTENCY_KEYS", "yes"),
            ("CART_IDEMPOTENCY_RETENTION", "600"),
        ];
        let settings = CartSettings::from_env_map(
            vars.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
        .unwrap();
        let from_toml = CartSettings::from_toml_str(
            "max_instances = 4\nprice_policy = \"keep_snapshot\"\nmax_price_age = 3600\n\
             conditional_requests = true\nidempotency_keys = true\nidempotency_retention = 600\n",
        )
        .unwrap();
        assert_eq!(settings, from_toml);
        let config = settings.to_config().unwrap();
        assert_eq!(config.max_instances, 4);
        assert_eq!(config.price_policy, PricePolicy::KeepSnapshot);
        assert_eq!(config.max_price_age, Some(Duration::from_secs(3600)));
        assert!(config.conditional_requests);
        assert!(config.idempotency_keys);
        assert_eq!(config.idempotency_retention, Duration::from_secs(600));

        let defaults = CartSettings::default().to_config().unwrap();
        assert_eq!(defaults.max_instances, 16);
        assert_eq!(defaults.price_policy, PricePolicy::RepriceWithNotice);
        assert_eq!(defaults.max_price_age, None);
        assert!(!defaults.conditional_requests && !defaults.idempotency_keys);

        let refused = CartSettings::from_env_map(
            [("CART_PRICE_POLICY".to_owned(), "haggle".to_owned())].into(),
        )
        .unwrap_err();
        assert_eq!(refused.key, "CART_PRICE_POLICY");
        let zero = CartSettings {
            max_instances: 0,
            ..CartSettings::default()
        };
        assert_eq!(zero.validate().unwrap_err().key, "max_instances");
    }

    #[test]
    fn debug_output_never_shows_cookie_secrets() {
        let mut settings = CartSettings::default();
        settings.identifier.cookie_key = Some("current-secret-".repeat(5));
        settings.identifier.previous_cookie_keys = vec!["previous-secret-".repeat(5)];
        let shown = format!("{settings:?}");
        assert!(!shown.contains("current-secret"), "{shown}");
        assert!(!shown.contains("previous-secret"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn defaults_are_valid() {
        let settings = CartSettings::default();
        settings.validate().unwrap();
        assert_eq!(settings.storage, Driver::Session);
        assert_eq!(settings.currency(), Currency::USD);
        assert_eq!(settings.cache_ttl(), Duration::from_secs(86_400));
        assert_eq!(settings.database.table, "carts");
        assert_eq!(settings.identifier.mode, IdentifierCarrier::Session);
    }

    /// A change that makes settings invalid, the key the error names, and a part of its message.
    type InvalidCase = (fn(&mut CartSettings), &'static str, &'static str);

    #[test]
    fn validation_names_the_settings_key() {
        let cases: [InvalidCase; 9] = [
            (
                |s| s.session.key.clear(),
                "session.key",
                "must not be empty",
            ),
            (
                |s| s.cache.prefix = "{cart}".to_owned(),
                "cache.prefix",
                "braces",
            ),
            (
                |s| s.limits.max_quantity = 0,
                "limits.max_quantity",
                "at least 1",
            ),
            (
                |s| s.limits.max_cart_bytes = 0,
                "limits.max_cart_bytes",
                "at least 1",
            ),
            (
                |s| s.database.table = "Carts".to_owned(),
                "database.table",
                "plain SQL name",
            ),
            (
                |s| {
                    s.identifier.mode = IdentifierCarrier::Cookie;
                    s.identifier.cookie_key = Some("k".repeat(64));
                    s.identifier.cookie_name.clear();
                },
                "identifier.cookie_name",
                "must not be empty",
            ),
            (
                |s| {
                    s.identifier.cookie_same_site = "none".to_owned();
                    s.identifier.cookie_secure = false;
                },
                "identifier.cookie_same_site",
                "needs `identifier.cookie_secure`",
            ),
            (
                |s| s.identifier.previous_cookie_keys = vec!["k".repeat(64), "old".to_owned()],
                "identifier.previous_cookie_keys",
                "the secret has 3 bytes; at least 64",
            ),
            (
                |s| {
                    s.identifier.mode = IdentifierCarrier::Cookie;
                    s.identifier.cookie_key = Some("k".repeat(63));
                },
                "identifier.cookie_key",
                "the secret has 63 bytes; at least 64",
            ),
        ];
        for (change, key, fragment) in cases {
            let mut settings = CartSettings::default();
            change(&mut settings);
            let error = settings.validate().unwrap_err();
            assert_eq!(error.key, key, "{error}");
            assert!(error.message.contains(fragment), "{error}");
        }
    }

    #[test]
    fn to_config_applies_the_settings() {
        let mut settings = CartSettings {
            storage: Driver::Memory,
            merge_strategy: MergeStrategy::KeepHighestQuantity,
            ..CartSettings::default()
        };
        settings.limits.max_lines = 7;
        let config = settings.to_config().unwrap();
        assert_eq!(config.limits().max_lines, 7);
        assert_eq!(config.merge_strategy(), MergeStrategy::KeepHighestQuantity);

        settings.identifier.mode = IdentifierCarrier::Cookie;
        settings.identifier.cookie_key = Some("short".to_owned());
        let error = settings.to_config().unwrap_err();
        assert_eq!(error.key, "identifier.cookie_key");

        settings.identifier.cookie_key = Some("k".repeat(64));
        let config = settings.to_config().unwrap();
        assert!(matches!(
            config.identifier_mode(),
            crate::IdentifierMode::Cookie(_)
        ));

        settings.identifier.cookie_same_site = "none".to_owned();
        settings.identifier.cookie_secure = false;
        let error = settings.to_config().unwrap_err();
        assert_eq!(error.key, "identifier.cookie_same_site");
        settings.identifier.cookie_secure = true;
        settings.to_config().unwrap();
    }
}
