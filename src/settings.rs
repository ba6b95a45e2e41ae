//! `CartSettings`: the cart's configuration as data, with the seed's keys, loadable from
//! environment variables (`CART_*`) and from a TOML file. An invalid setting is an error naming
//! the key and the values it accepts, so a shop fails at start-up, not at its first customer.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::cart::{Currency, Limits, MergeStrategy, RoundingMode};

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
pub enum StorageKind {
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

impl StorageKind {
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
    /// Redis URL (default: `REDIS_URL`, else `redis://127.0.0.1:6379`).
    pub url: Option<String>,
    /// Key prefix (default `cart`).
    pub prefix: String,
    /// Seconds a cart lives after its last write (default 86 400).
    pub ttl: u64,
    /// Serialize writers with a per-cart lock instead of retrying on conflict.
    pub locking: bool,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            url: None,
            prefix: "cart".to_owned(),
            ttl: 86_400,
            locking: false,
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
    pub lock_for_update: bool,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: None,
            table: "carts".to_owned(),
            lock_for_update: false,
        }
    }
}

/// Where guest identifiers travel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierKind {
    /// In the session.
    #[default]
    Session,
    /// In a signed cookie.
    Cookie,
}

/// `identifier.*` settings.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentifierSettings {
    /// `session` or `cookie`.
    pub mode: IdentifierKind,
    /// The session key of the guest identifier in session mode (default `cart_id`).
    pub session_key: String,
    /// Cookie name (default `cart_id`).
    pub cookie_name: String,
    /// The cookie signing secret: at least 64 bytes, given as text (required in cookie mode).
    pub cookie_key: Option<String>,
    /// The Secure attribute (default true).
    pub cookie_secure: bool,
    /// `lax` (default), `strict` or `none`.
    pub cookie_same_site: String,
    /// Cookie Max-Age in seconds (default 30 days; 0 for a browser-session cookie).
    pub cookie_max_age: u64,
}

impl Default for IdentifierSettings {
    fn default() -> Self {
        IdentifierSettings {
            mode: IdentifierKind::Session,
            session_key: crate::identify::DEFAULT_IDENTIFIER_SESSION_KEY.to_owned(),
            cookie_name: crate::identify::DEFAULT_COOKIE_NAME.to_owned(),
            cookie_key: None,
            cookie_secure: true,
            cookie_same_site: "lax".to_owned(),
            cookie_max_age: 30 * 24 * 3600,
        }
    }
}

/// Every cart setting, with the seed's keys.
///
/// ```
/// use axum_cart::settings::{CartSettings, StorageKind};
/// let settings = CartSettings::from_toml_str(r#"
///     storage = "cache"
///     currency = "EUR"
///     [cache]
///     prefix = "shop-cart"
///     ttl = 3600
///     [limits]
///     max_lines = 200
/// "#).unwrap();
/// assert_eq!(settings.storage, StorageKind::Cache);
/// assert_eq!(settings.limits.max_lines, 200);
///
/// let error = CartSettings::from_toml_str(r#"storage = "floppy""#).unwrap_err();
/// assert_eq!(error.key, "storage");
/// assert!(error.message.contains("session, cache, database, memory"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CartSettings {
    /// `session` (default), `cache`, `database` or `memory`.
    pub storage: StorageKind,
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
    /// Retries after a version conflict (default 5).
    pub max_retries: u32,
    /// Limits.
    pub limits: Limits,
    /// Identifier settings.
    pub identifier: IdentifierSettings,
}

impl Default for CartSettings {
    fn default() -> Self {
        CartSettings {
            storage: StorageKind::default(),
            session: SessionSettings::default(),
            cache: CacheSettings::default(),
            database: DatabaseSettings::default(),
            currency: "USD".to_owned(),
            rounding: RoundingMode::default(),
            merge_strategy: MergeStrategy::default(),
            max_retries: 5,
            limits: Limits::default(),
            identifier: IdentifierSettings::default(),
        }
    }
}

/// The environment variables read by [`CartSettings::from_env`], with their settings keys.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("CART_STORAGE", "storage"),
    ("CART_SESSION_KEY", "session.key"),
    ("CART_CACHE_URL", "cache.url"),
    ("CART_CACHE_PREFIX", "cache.prefix"),
    ("CART_CACHE_TTL", "cache.ttl"),
    ("CART_CACHE_LOCKING", "cache.locking"),
    ("CART_DB_URL", "database.url"),
    ("CART_DB_TABLE", "database.table"),
    ("CART_DB_LOCK_FOR_UPDATE", "database.lock_for_update"),
    ("CART_CURRENCY", "currency"),
    ("CART_ROUNDING", "rounding"),
    ("CART_MERGE_STRATEGY", "merge_strategy"),
    ("CART_MAX_RETRIES", "max_retries"),
    ("CART_MAX_ITEMS", "limits.max_lines"),
    ("CART_MAX_QUANTITY", "limits.max_quantity"),
    ("CART_MAX_ID_LENGTH", "limits.max_id_length"),
    ("CART_MAX_NAME_LENGTH", "limits.max_name_length"),
    ("CART_MAX_CONDITIONS", "limits.max_conditions"),
    ("CART_MAX_CART_BYTES", "limits.max_cart_bytes"),
    ("CART_IDENTIFIER", "identifier.mode"),
    ("CART_IDENTIFIER_SESSION_KEY", "identifier.session_key"),
    ("CART_COOKIE_NAME", "identifier.cookie_name"),
    ("CART_COOKIE_KEY", "identifier.cookie_key"),
    ("CART_COOKIE_SECURE", "identifier.cookie_secure"),
    ("CART_COOKIE_SAME_SITE", "identifier.cookie_same_site"),
    ("CART_COOKIE_MAX_AGE", "identifier.cookie_max_age"),
];

fn parse_number<T: std::str::FromStr>(var: &str, value: &str) -> Result<T, SettingsError> {
    value
        .trim()
        .parse()
        .map_err(|_| SettingsError::new(var, format!("`{value}` is not a whole number in range")))
}

fn parse_bool(var: &str, value: &str) -> Result<bool, SettingsError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(SettingsError::new(
            var,
            format!("`{value}` is not one of true, false, 1, 0, yes, no, on, off"),
        )),
    }
}

fn parse_named<T: for<'de> Deserialize<'de>>(
    var: &str,
    value: &str,
    names: &str,
) -> Result<T, SettingsError> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(value.trim()))
        .map_err(|_| SettingsError::new(var, format!("`{value}` is not one of {names}")))
}

const ROUNDING_NAMES: &str = "half_up, half_even, down, up";

impl CartSettings {
    /// Settings from the process environment (see [`ENV_VARS`]); unset variables keep defaults.
    /// `REDIS_URL` and `DATABASE_URL` serve as the cache and database URLs when the `CART_`
    /// ones are unset.
    pub fn from_env() -> Result<CartSettings, SettingsError> {
        Self::from_env_map(std::env::vars().collect())
    }

    /// Settings from the given variables, as [`CartSettings::from_env`] reads them.
    pub fn from_env_map(vars: HashMap<String, String>) -> Result<CartSettings, SettingsError> {
        let mut settings = CartSettings::default();
        let get = |name: &str| vars.get(name).filter(|v| !v.is_empty());
        for (var, _) in ENV_VARS {
            let Some(value) = get(var) else { continue };
            settings.set_from_env(var, value)?;
        }
        if settings.cache.url.is_none() {
            settings.cache.url = get("REDIS_URL").cloned();
        }
        if settings.database.url.is_none() {
            settings.database.url = get("DATABASE_URL").cloned();
        }
        settings.validate()?;
        Ok(settings)
    }

    fn set_from_env(&mut self, var: &str, value: &str) -> Result<(), SettingsError> {
        match var {
            "CART_STORAGE" => self.storage = parse_named(var, value, StorageKind::NAMES)?,
            "CART_SESSION_KEY" => self.session.key = value.to_owned(),
            "CART_CACHE_URL" => self.cache.url = Some(value.to_owned()),
            "CART_CACHE_PREFIX" => self.cache.prefix = value.to_owned(),
            "CART_CACHE_TTL" => self.cache.ttl = parse_number(var, value)?,
            "CART_CACHE_LOCKING" => self.cache.locking = parse_bool(var, value)?,
            "CART_DB_URL" => self.database.url = Some(value.to_owned()),
            "CART_DB_TABLE" => self.database.table = value.to_owned(),
            "CART_DB_LOCK_FOR_UPDATE" => self.database.lock_for_update = parse_bool(var, value)?,
            "CART_CURRENCY" => self.currency = value.trim().to_owned(),
            "CART_ROUNDING" => self.rounding = parse_named(var, value, ROUNDING_NAMES)?,
            "CART_MERGE_STRATEGY" => {
                self.merge_strategy = parse_named(var, value, MergeStrategy::NAMES)?
            }
            "CART_MAX_RETRIES" => self.max_retries = parse_number(var, value)?,
            "CART_MAX_ITEMS" => self.limits.max_lines = parse_number(var, value)?,
            "CART_MAX_QUANTITY" => self.limits.max_quantity = parse_number(var, value)?,
            "CART_MAX_ID_LENGTH" => self.limits.max_id_length = parse_number(var, value)?,
            "CART_MAX_NAME_LENGTH" => self.limits.max_name_length = parse_number(var, value)?,
            "CART_MAX_CONDITIONS" => self.limits.max_conditions = parse_number(var, value)?,
            "CART_MAX_CART_BYTES" => self.limits.max_cart_bytes = parse_number(var, value)?,
            "CART_IDENTIFIER" => self.identifier.mode = parse_named(var, value, "session, cookie")?,
            "CART_IDENTIFIER_SESSION_KEY" => self.identifier.session_key = value.to_owned(),
            "CART_COOKIE_NAME" => self.identifier.cookie_name = value.to_owned(),
            "CART_COOKIE_KEY" => self.identifier.cookie_key = Some(value.to_owned()),
            "CART_COOKIE_SECURE" => self.identifier.cookie_secure = parse_bool(var, value)?,
            "CART_COOKIE_SAME_SITE" => self.identifier.cookie_same_site = value.trim().to_owned(),
            "CART_COOKIE_MAX_AGE" => self.identifier.cookie_max_age = parse_number(var, value)?,
            _ => {}
        }
        Ok(())
    }

    /// Settings from TOML text with the settings keys.
    pub fn from_toml_str(text: &str) -> Result<CartSettings, SettingsError> {
        let settings: CartSettings = toml::from_str(text).map_err(|error| {
            let message = error.message().to_owned();
            let key = toml_error_key(text, &error).unwrap_or_else(|| "settings".to_owned());
            SettingsError::new(key, explain(&message))
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Settings from a TOML file.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<CartSettings, SettingsError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| SettingsError::new(path.display().to_string(), e.to_string()))?;
        Self::from_toml_str(&text)
    }

    /// Checks what serde cannot: values in range, names well formed, required companions.
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
        if !matches!(
            self.identifier.cookie_same_site.as_str(),
            "lax" | "strict" | "none"
        ) {
            return Err(SettingsError::new(
                "identifier.cookie_same_site",
                format!(
                    "`{}` is not one of lax, strict, none",
                    self.identifier.cookie_same_site
                ),
            ));
        }
        if self.identifier.mode == IdentifierKind::Cookie {
            match &self.identifier.cookie_key {
                None => {
                    return Err(SettingsError::new(
                        "identifier.cookie_key",
                        "cookie mode needs a signing secret of at least 64 bytes",
                    ));
                }
                Some(key) if key.len() < 64 => {
                    return Err(SettingsError::new(
                        "identifier.cookie_key",
                        format!("the secret has {} bytes; at least 64 are needed", key.len()),
                    ));
                }
                Some(_) => {}
            }
        }
        if self.identifier.mode == IdentifierKind::Cookie && self.identifier.cookie_name.is_empty()
        {
            return Err(SettingsError::new(
                "identifier.cookie_name",
                "must not be empty",
            ));
        }
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

    /// The identifier mode these settings describe.
    pub fn identifier_mode(&self) -> Result<crate::identify::IdentifierMode, SettingsError> {
        use crate::identify::{CookieConfig, IdentifierMode};
        Ok(match self.identifier.mode {
            IdentifierKind::Session => IdentifierMode::Session {
                key: self.identifier.session_key.clone(),
            },
            IdentifierKind::Cookie => {
                let secret = self.identifier.cookie_key.clone().unwrap_or_default();
                let same_site = match self.identifier.cookie_same_site.as_str() {
                    "strict" => cookie::SameSite::Strict,
                    "none" => cookie::SameSite::None,
                    _ => cookie::SameSite::Lax,
                };
                let max_age = (self.identifier.cookie_max_age > 0)
                    .then(|| Duration::from_secs(self.identifier.cookie_max_age));
                let key = cookie::Key::try_from(secret.as_bytes()).map_err(|_| {
                    SettingsError::new(
                        "identifier.cookie_key",
                        "cookie mode needs a signing secret of at least 64 bytes",
                    )
                })?;
                IdentifierMode::Cookie(
                    CookieConfig::new(key)
                        .with_name(self.identifier.cookie_name.clone())
                        .with_secure(self.identifier.cookie_secure)
                        .with_same_site(same_site)
                        .with_max_age(max_age),
                )
            }
        })
    }

    /// A [`crate::CartConfig`] with everything but the storage of a shared driver applied (the
    /// session and memory drivers are set; for cache and database, connect the driver and pass
    /// it to `with_storage`, or use [`CartSettings::connect`]).
    pub fn to_config(&self) -> Result<crate::CartConfig, SettingsError> {
        let mut config = crate::CartConfig::new()
            .with_currency(self.currency())
            .with_rounding(self.rounding)
            .with_merge_strategy(self.merge_strategy)
            .with_max_retries(self.max_retries)
            .with_limits(self.limits);
        config.identifier = self.identifier_mode()?;
        Ok(match self.storage {
            StorageKind::Session => config.with_session_storage(self.session.key.as_str()),
            StorageKind::Memory => config.with_storage(crate::MemoryStorage::new()),
            StorageKind::Cache | StorageKind::Database => config,
        })
    }
}

impl CartSettings {
    /// A [`crate::CartConfig`] with every setting applied, connecting the cache or database
    /// driver when the settings name one (and migrating the database).
    pub async fn connect(&self) -> Result<crate::CartConfig, SettingsError> {
        let config = self.to_config()?;
        match self.storage {
            StorageKind::Session | StorageKind::Memory => Ok(config),
            StorageKind::Cache => Ok(config.with_storage(self.connect_cache().await?)),
            StorageKind::Database => Ok(config.with_storage(self.connect_database().await?)),
        }
    }

    /// The Redis driver these settings describe.
    #[cfg(feature = "redis")]
    pub async fn connect_cache(
        &self,
    ) -> Result<crate::storage::RedisStorage, SettingsError> {
        let url = self
            .cache
            .url
            .clone()
            .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
        let storage = crate::storage::RedisStorage::connect(&url)
            .await
            .map_err(|e| {
                SettingsError::new("cache.url", format!("cannot connect to {url}: {e}"))
            })?;
        Ok(storage
            .with_prefix(&self.cache.prefix)
            .with_ttl(self.cache_ttl())
            .with_locking(self.cache.locking))
    }

    /// The cache driver needs the `redis` feature.
    #[cfg(not(feature = "redis"))]
    pub async fn connect_cache(&self) -> Result<crate::MemoryStorage, SettingsError> {
        Err(SettingsError::new(
            "storage",
            "`cache` needs axum-cart's `redis` feature",
        ))
    }

    /// The Postgres driver these settings describe, with the bundled migration applied when the
    /// table is the default `carts`.
    #[cfg(feature = "postgres")]
    pub async fn connect_database(
        &self,
    ) -> Result<crate::storage::PostgresStorage, SettingsError> {
        let url = self.database.url.clone().ok_or_else(|| {
            SettingsError::new("database.url", "the database driver needs DATABASE_URL")
        })?;
        let storage = crate::storage::PostgresStorage::connect(&url)
            .await
            .map_err(|e| SettingsError::new("database.url", format!("cannot connect: {e}")))?
            .with_table(&self.database.table)
            .map_err(|e| SettingsError::new("database.table", e.to_string()))?
            .with_lock_for_update(self.database.lock_for_update);
        if self.database.table == "carts" {
            storage
                .migrate()
                .await
                .map_err(|e| SettingsError::new("database.url", e.to_string()))?;
        }
        Ok(storage)
    }

    /// The database driver needs the `postgres` feature.
    #[cfg(not(feature = "postgres"))]
    pub async fn connect_database(&self) -> Result<crate::MemoryStorage, SettingsError> {
        Err(SettingsError::new(
            "storage",
            "`database` needs axum-cart's `postgres` feature",
        ))
    }
}

/// The dotted key a TOML error is about, from its position in the text.
fn toml_error_key(text: &str, error: &toml::de::Error) -> Option<String> {
    let span = error.span()?;
    let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next()?.trim();
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(['[', ']']).trim().to_owned());
    let key = line.split('=').next()?.trim();
    let key = if key.starts_with('[') {
        key.trim_matches(['[', ']']).trim().to_owned()
    } else {
        match table {
            Some(table) if !key.contains('.') => format!("{table}.{key}"),
            _ => key.to_owned(),
        }
    };
    Some(key)
}

/// serde's messages name the accepted variants as `expected one of \`a\`, \`b\``; keep them.
fn explain(message: &str) -> String {
    message.replace('`', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn env_overrides_defaults() {
        let settings = CartSettings::from_env_map(env(&[
            ("CART_STORAGE", "database"),
            ("CART_DB_TABLE", "shop.carts"),
            ("CART_DB_LOCK_FOR_UPDATE", "true"),
            ("CART_CURRENCY", "JPY"),
            ("CART_MAX_ITEMS", "50"),
            ("DATABASE_URL", "postgres://db/shop"),
        ]))
        .unwrap();
        assert_eq!(settings.storage, StorageKind::Database);
        assert_eq!(settings.database.table, "shop.carts");
        assert!(settings.database.lock_for_update);
        assert_eq!(settings.currency(), Currency::JPY);
        assert_eq!(settings.limits.max_lines, 50);
        assert_eq!(settings.database.url.as_deref(), Some("postgres://db/shop"));
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn every_invalid_setting_names_its_key() {
        let long_secret = "x".repeat(64);
        // (variables, the key the error names, a fragment of the accepted values)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = &[
            (
                &[("CART_STORAGE", "floppy")],
                "CART_STORAGE",
                "session, cache, database, memory",
            ),
            (
                &[("CART_CACHE_TTL", "soon")],
                "CART_CACHE_TTL",
                "whole number",
            ),
            (&[("CART_CACHE_TTL", "0")], "cache.ttl", "at least 1"),
            (
                &[("CART_CACHE_LOCKING", "maybe")],
                "CART_CACHE_LOCKING",
                "true, false",
            ),
            (
                &[("CART_CACHE_PREFIX", "a b")],
                "cache.prefix",
                "without spaces",
            ),
            (
                &[("CART_DB_TABLE", "carts; drop table x")],
                "database.table",
                "plain SQL name",
            ),
            (
                &[("CART_DB_LOCK_FOR_UPDATE", "2")],
                "CART_DB_LOCK_FOR_UPDATE",
                "true, false",
            ),
            (&[("CART_CURRENCY", "DOGE")], "currency", "ISO-4217"),
            (
                &[("CART_ROUNDING", "bankers")],
                "CART_ROUNDING",
                "half_up, half_even, down, up",
            ),
            (
                &[("CART_MERGE_STRATEGY", "union")],
                "CART_MERGE_STRATEGY",
                "add_quantities",
            ),
            (
                &[("CART_MAX_ITEMS", "-1")],
                "CART_MAX_ITEMS",
                "whole number",
            ),
            (&[("CART_MAX_ITEMS", "0")], "limits.max_lines", "at least 1"),
            (
                &[("CART_MAX_QUANTITY", "99999999999")],
                "CART_MAX_QUANTITY",
                "whole number",
            ),
            (
                &[("CART_MAX_RETRIES", "many")],
                "CART_MAX_RETRIES",
                "whole number",
            ),
            (
                &[("CART_IDENTIFIER", "header")],
                "CART_IDENTIFIER",
                "session, cookie",
            ),
            (
                &[("CART_IDENTIFIER", "cookie")],
                "identifier.cookie_key",
                "64 bytes",
            ),
            (
                &[("CART_IDENTIFIER", "cookie"), ("CART_COOKIE_KEY", "short")],
                "identifier.cookie_key",
                "at least 64",
            ),
            (
                &[("CART_COOKIE_SAME_SITE", "sometimes")],
                "identifier.cookie_same_site",
                "lax, strict, none",
            ),
            (
                &[("CART_COOKIE_SECURE", "perhaps")],
                "CART_COOKIE_SECURE",
                "true, false",
            ),
        ];
        for (vars, key, allowed) in cases {
            let error = CartSettings::from_env_map(env(vars)).unwrap_err();
            assert_eq!(&error.key, key, "{vars:?}: {error}");
            assert!(error.message.contains(allowed), "{vars:?}: {error}");
        }
        let ok = CartSettings::from_env_map(env(&[
            ("CART_IDENTIFIER", "cookie"),
            ("CART_COOKIE_KEY", &long_secret),
        ]));
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn toml_errors_name_the_dotted_key() {
        let cases = [
            ("storage = \"floppy\"", "storage", "session"),
            ("[cache]\nttl = \"long\"", "cache.ttl", "expected u64"),
            ("[cache]\nlocking = 3", "cache.locking", "bool"),
            (
                "[database]\ntable = \"Bad-Name\"",
                "database.table",
                "plain SQL name",
            ),
            ("rounding = \"sideways\"", "rounding", "half_up"),
            (
                "merge_strategy = \"union\"",
                "merge_strategy",
                "add_quantities",
            ),
            (
                "[limits]\nmax_lines = -5",
                "limits.max_lines",
                "invalid value",
            ),
            ("[limits]\nmax_pies = 5", "limits.max_pies", "unknown field"),
            ("colour = \"red\"", "colour", "unknown field"),
            ("currency = \"XXX\"", "currency", "ISO-4217"),
        ];
        for (text, key, fragment) in cases {
            let error = CartSettings::from_toml_str(text).unwrap_err();
            assert_eq!(error.key, key, "{text}: {error}");
            assert!(error.message.contains(fragment), "{text}: {error}");
        }
    }
}
