//! Settings from environment variables: [`ENV_VARS`], [`CartSettings::from_env`] and
//! [`CartSettings::from_env_map`], with the parsers for numbers, booleans and names.

use std::collections::HashMap;

use serde::Deserialize;

use super::{CartSettings, Driver, SettingsError};
use crate::cart::MergeStrategy;

/// The environment variables read by [`CartSettings::from_env`], with their settings keys.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("CART_STORAGE", "storage"),
    ("CART_SESSION_KEY", "session.key"),
    ("CART_CACHE_URL", "cache.url"),
    ("CART_CACHE_PREFIX", "cache.prefix"),
    ("CART_CACHE_TTL", "cache.ttl"),
    ("CART_CACHE_LOCKING", "cache.locking"),
    ("CART_CACHE_REPLICA_ACKS", "cache.replica_acks"),
    (
        "CART_CACHE_REPLICA_ACK_TIMEOUT_MS",
        "cache.replica_ack_timeout_ms",
    ),
    ("CART_DB_URL", "database.url"),
    ("CART_DB_TABLE", "database.table"),
    ("CART_DB_LOCKING", "database.locking"),
    ("CART_CURRENCY", "currency"),
    ("CART_ROUNDING", "rounding"),
    ("CART_MERGE_STRATEGY", "merge_strategy"),
    ("CART_RETRY_BUDGET_MS", "retry_budget_ms"),
    ("CART_MAX_INSTANCES", "max_instances"),
    ("CART_PRICE_POLICY", "price_policy"),
    ("CART_MAX_PRICE_AGE", "max_price_age"),
    ("CART_CONDITIONAL_REQUESTS", "conditional_requests"),
    ("CART_IDEMPOTENCY_KEYS", "idempotency_keys"),
    ("CART_IDEMPOTENCY_RETENTION", "idempotency_retention"),
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
    (
        "CART_PREVIOUS_COOKIE_KEYS",
        "identifier.previous_cookie_keys",
    ),
    ("CART_COOKIE_SECURE", "identifier.cookie_secure"),
    ("CART_COOKIE_SAME_SITE", "identifier.cookie_same_site"),
    ("CART_COOKIE_MAX_AGE", "identifier.cookie_max_age"),
    ("CART_EVENT_LOG", "event_log"),
];

const ROUNDING_NAMES: &str = "half_up, half_even, down, up";
const PRICE_POLICY_NAMES: &str = "reprice_with_notice, reprice, keep_snapshot";

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

impl CartSettings {
    /// Settings from the process environment (see [`ENV_VARS`]); unset variables keep defaults.
    /// `REDIS_URL` and `DATABASE_URL` serve as the cache and database URLs when the `CART_`
    /// ones are unset.
    ///
    /// # Errors
    ///
    /// As [`CartSettings::from_env_map`]: a variable that does not parse, named by the variable,
    /// or a setting that fails [`CartSettings::validate`], named by its settings key.
    pub fn from_env() -> Result<CartSettings, SettingsError> {
        Self::from_env_map(std::env::vars().collect())
    }

    /// Settings from the given variables, as [`CartSettings::from_env`] reads them: the
    /// variables of [`ENV_VARS`] override the defaults, empty values count as unset, and
    /// `REDIS_URL` / `DATABASE_URL` fill in the cache and database URLs.
    ///
    /// # Errors
    ///
    /// A value that does not parse (a number out of range, a boolean other than
    /// `true`/`false`/`1`/`0`/`yes`/`no`/`on`/`off`, an unknown driver, rounding, merge strategy
    /// or identifier name) is an error whose key is the variable, such as `CART_CACHE_TTL`.
    /// Parsed settings that fail [`CartSettings::validate`] are an error whose key is the
    /// settings key, such as `cache.ttl`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use axum_cart::settings::{CartSettings, Driver};
    ///
    /// let vars: HashMap<String, String> = [
    ///     ("CART_STORAGE", "cache"),
    ///     ("CART_CACHE_TTL", "3600"),
    ///     ("CART_CACHE_LOCKING", "yes"),
    ///     ("CART_MAX_ITEMS", "50"),
    ///     ("REDIS_URL", "redis://cache:6379"),
    /// ]
    /// .into_iter()
    /// .map(|(k, v)| (k.to_owned(), v.to_owned()))
    /// .collect();
    /// let settings = CartSettings::from_env_map(vars).unwrap();
    /// assert_eq!(settings.storage, Driver::Cache);
    /// assert_eq!(settings.cache.ttl, 3600);
    /// assert!(settings.cache.locking);
    /// assert_eq!(settings.limits.max_lines, 50);
    /// assert_eq!(settings.cache.url.as_deref(), Some("redis://cache:6379"));
    /// assert_eq!(settings.currency, "USD");
    ///
    /// let vars = HashMap::from([("CART_CACHE_TTL".to_owned(), "soon".to_owned())]);
    /// let error = CartSettings::from_env_map(vars).unwrap_err();
    /// assert_eq!(error.key, "CART_CACHE_TTL");
    /// assert!(error.message.contains("whole number"));
    /// ```
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
            "CART_STORAGE" => self.storage = parse_named(var, value, Driver::NAMES)?,
            "CART_SESSION_KEY" => self.session.key = value.to_owned(),
            "CART_CACHE_URL" => self.cache.url = Some(value.to_owned()),
            "CART_CACHE_PREFIX" => self.cache.prefix = value.to_owned(),
            "CART_CACHE_TTL" => self.cache.ttl = parse_number(var, value)?,
            "CART_CACHE_LOCKING" => self.cache.locking = parse_bool(var, value)?,
            "CART_CACHE_REPLICA_ACKS" => self.cache.replica_acks = parse_number(var, value)?,
            "CART_CACHE_REPLICA_ACK_TIMEOUT_MS" => {
                self.cache.replica_ack_timeout_ms = parse_number(var, value)?
            }
            "CART_DB_URL" => self.database.url = Some(value.to_owned()),
            "CART_DB_TABLE" => self.database.table = value.to_owned(),
            "CART_DB_LOCKING" => self.database.locking = parse_bool(var, value)?,
            "CART_CURRENCY" => self.currency = value.trim().to_owned(),
            "CART_ROUNDING" => self.rounding = parse_named(var, value, ROUNDING_NAMES)?,
            "CART_MERGE_STRATEGY" => {
                self.merge_strategy = parse_named(var, value, MergeStrategy::NAMES)?
            }
            "CART_RETRY_BUDGET_MS" => self.retry_budget_ms = parse_number(var, value)?,
            "CART_MAX_INSTANCES" => self.max_instances = parse_number(var, value)?,
            "CART_PRICE_POLICY" => self.price_policy = parse_named(var, value, PRICE_POLICY_NAMES)?,
            "CART_MAX_PRICE_AGE" => self.max_price_age = parse_number(var, value)?,
            "CART_CONDITIONAL_REQUESTS" => self.conditional_requests = parse_bool(var, value)?,
            "CART_IDEMPOTENCY_KEYS" => self.idempotency_keys = parse_bool(var, value)?,
            "CART_EVENT_LOG" => self.event_log = parse_bool(var, value)?,
            "CART_IDEMPOTENCY_RETENTION" => self.idempotency_retention = parse_number(var, value)?,
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
            "CART_PREVIOUS_COOKIE_KEYS" => {
                self.identifier.previous_cookie_keys = value
                    .split(',')
                    .map(str::trim)
                    .filter(|secret| !secret.is_empty())
                    .map(str::to_owned)
                    .collect()
            }
            "CART_COOKIE_SECURE" => self.identifier.cookie_secure = parse_bool(var, value)?,
            "CART_COOKIE_SAME_SITE" => self.identifier.cookie_same_site = value.trim().to_owned(),
            "CART_COOKIE_MAX_AGE" => self.identifier.cookie_max_age = parse_number(var, value)?,
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::cart::Currency;
    use crate::settings::{CartSettings, Driver, ENV_VARS, IdentifierCarrier};

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
            ("CART_DB_LOCKING", "true"),
            ("CART_CURRENCY", "JPY"),
            ("CART_MAX_ITEMS", "50"),
            ("DATABASE_URL", "postgres://db/shop"),
        ]))
        .unwrap();
        assert_eq!(settings.storage, Driver::Database);
        assert_eq!(settings.database.table, "shop.carts");
        assert!(settings.database.locking);
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
                &[("CART_DB_LOCKING", "2")],
                "CART_DB_LOCKING",
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
                &[("CART_RETRY_BUDGET_MS", "many")],
                "CART_RETRY_BUDGET_MS",
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
                &[
                    ("CART_COOKIE_SAME_SITE", "none"),
                    ("CART_COOKIE_SECURE", "false"),
                ],
                "identifier.cookie_same_site",
                "needs `identifier.cookie_secure`",
            ),
            (
                &[("CART_PREVIOUS_COOKIE_KEYS", "too-short")],
                "identifier.previous_cookie_keys",
                "at least 64",
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
        // The cookie mode with a long enough secret is valid, and is what was asked for.
        let ok = CartSettings::from_env_map(env(&[
            ("CART_IDENTIFIER", "cookie"),
            ("CART_COOKIE_KEY", &long_secret),
        ]))
        .unwrap();
        let mut expected = CartSettings::default();
        expected.identifier.mode = IdentifierCarrier::Cookie;
        expected.identifier.cookie_key = Some(long_secret);
        assert_eq!(ok, expected);
    }

    #[test]
    fn previous_cookie_keys_are_comma_separated() {
        let (a, b) = ("a".repeat(64), "b".repeat(70));
        let settings = CartSettings::from_env_map(env(&[
            ("CART_IDENTIFIER", "cookie"),
            ("CART_COOKIE_KEY", &"c".repeat(64)),
            ("CART_PREVIOUS_COOKIE_KEYS", &format!(" {a} ,{b},")),
        ]))
        .unwrap();
        assert_eq!(settings.identifier.previous_cookie_keys, vec![a, b]);
        settings.to_config().unwrap();
    }

    #[test]
    fn empty_values_are_unset_and_cart_urls_win() {
        let settings = CartSettings::from_env_map(env(&[
            ("CART_CURRENCY", ""),
            ("CART_CACHE_URL", "redis://cart:6379"),
            ("REDIS_URL", "redis://other:6379"),
            ("CART_DB_URL", ""),
            ("DATABASE_URL", "postgres://db/shop"),
        ]))
        .unwrap();
        assert_eq!(settings.currency, "USD");
        assert_eq!(settings.cache.url.as_deref(), Some("redis://cart:6379"));
        assert_eq!(settings.database.url.as_deref(), Some("postgres://db/shop"));
    }

    #[test]
    fn booleans_and_names_accept_their_spellings() {
        for (value, expected) in [("1", true), ("YES", true), (" on ", true), ("Off", false)] {
            let settings =
                CartSettings::from_env_map(env(&[("CART_COOKIE_SECURE", value)])).unwrap();
            assert_eq!(settings.identifier.cookie_secure, expected, "{value}");
        }
        let settings = CartSettings::from_env_map(env(&[
            ("CART_STORAGE", " memory "),
            ("CART_ROUNDING", "half_even"),
            ("CART_RETRY_BUDGET_MS", " 9 "),
        ]))
        .unwrap();
        assert_eq!(settings.storage, Driver::Memory);
        assert_eq!(settings.rounding, crate::cart::RoundingMode::HalfEven);
        assert_eq!(settings.retry_budget_ms, 9);
    }

    #[test]
    fn every_variable_names_a_settings_key() {
        for (var, key) in ENV_VARS {
            assert!(var.starts_with("CART_"), "{var}");
            assert!(!key.is_empty(), "{var}");
        }
        let mut vars: Vec<_> = ENV_VARS.iter().map(|(var, _)| var).collect();
        vars.sort();
        vars.dedup();
        assert_eq!(vars.len(), ENV_VARS.len());
    }
}
