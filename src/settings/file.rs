//! Settings from TOML: [`CartSettings::from_toml_str`] and [`CartSettings::from_toml_file`].
//! Errors name the dotted key they are about (`cache.ttl`), found from the error's position in
//! the text.

use std::path::Path;

use super::{CartSettings, SettingsError};

impl CartSettings {
    /// Settings from TOML text whose keys are the field names of [`CartSettings`], with the
    /// driver settings in the `[session]`, `[cache]`, `[database]`, `[limits]` and
    /// `[identifier]` tables. Missing keys keep their defaults.
    ///
    /// # Errors
    ///
    /// Text that is not TOML, an unknown key, or a value of the wrong type or not among the
    /// accepted names is an error whose key is the dotted settings key (`cache.ttl`) and whose
    /// message lists the accepted values where there is a fixed set. Parsed settings that fail
    /// [`CartSettings::validate`] are an error on the settings key as well.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum_cart::settings::{CartSettings, Driver};
    ///
    /// let settings = CartSettings::from_toml_str(r#"
    ///     storage = "cache"
    ///     currency = "EUR"
    ///     [cache]
    ///     prefix = "shop-cart"
    ///     ttl = 3600
    ///     [limits]
    ///     max_lines = 200
    /// "#).unwrap();
    /// assert_eq!(settings.storage, Driver::Cache);
    /// assert_eq!(settings.currency, "EUR");
    /// assert_eq!(settings.cache.prefix, "shop-cart");
    /// assert_eq!(settings.cache.ttl, 3600);
    /// assert_eq!(settings.limits.max_lines, 200);
    /// assert_eq!(settings.database.table, "carts");
    ///
    /// let error = CartSettings::from_toml_str(r#"storage = "floppy""#).unwrap_err();
    /// assert_eq!(error.key, "storage");
    /// assert!(error.message.contains("session, cache, database, memory"));
    ///
    /// let error = CartSettings::from_toml_str("[cache]\nttl = 0").unwrap_err();
    /// assert_eq!(error.key, "cache.ttl");
    /// ```
    pub fn from_toml_str(text: &str) -> Result<CartSettings, SettingsError> {
        let settings: CartSettings = toml::from_str(text).map_err(|error| {
            let message = error.message().to_owned();
            let key = toml_error_key(text, &error).unwrap_or_else(|| "settings".to_owned());
            SettingsError::new(key, explain(&message))
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Settings from a TOML file, as [`CartSettings::from_toml_str`] reads its text.
    ///
    /// # Errors
    ///
    /// A file that cannot be read is an error whose key is the path; otherwise the errors of
    /// [`CartSettings::from_toml_str`].
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<CartSettings, SettingsError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| SettingsError::new(path.display().to_string(), e.to_string()))?;
        Self::from_toml_str(&text)
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
    use crate::cart::{Limits, MergeStrategy, RoundingMode};
    use crate::catalog::PricePolicy;
    use crate::settings::{
        CacheSettings, CartSettings, DatabaseSettings, Driver, IdentifierCarrier,
        IdentifierSettings, SessionSettings,
    };

    /// Every key set to a value other than its default: each one must land in its own field.
    #[test]
    fn toml_sets_every_key() {
        let key = "k".repeat(64);
        let old = "o".repeat(70);
        let text = format!(
            r#"
            storage = "database"
            currency = "EUR"
            rounding = "half_even"
            merge_strategy = "keep_user_cart"
            retry_budget_ms = 750
            max_instances = 5
            price_policy = "reprice"
            max_price_age = 900
            conditional_requests = true
            idempotency_keys = true
            idempotency_retention = 7200
            event_log = true
            [session]
            key = "basket"
            [cache]
            url = "redis://cache:6380/2"
            prefix = "shop-cart"
            ttl = 3600
            locking = true
            replica_acks = 1
            replica_ack_timeout_ms = 250
            [database]
            url = "postgres://db/shop"
            table = "shop.carts"
            locking = true
            [limits]
            max_lines = 200
            max_quantity = 99
            max_id_length = 40
            max_name_length = 80
            max_conditions = 7
            max_cart_bytes = 65536
            [identifier]
            mode = "cookie"
            session_key = "guest"
            cookie_name = "basket_id"
            cookie_key = "{key}"
            previous_cookie_keys = ["{old}"]
            cookie_secure = false
            cookie_same_site = "strict"
            cookie_max_age = 600
            "#
        );
        let expected = CartSettings {
            storage: Driver::Database,
            session: SessionSettings {
                key: "basket".to_owned(),
            },
            cache: CacheSettings {
                url: Some("redis://cache:6380/2".to_owned()),
                prefix: "shop-cart".to_owned(),
                ttl: 3600,
                locking: true,
                replica_acks: 1,
                replica_ack_timeout_ms: 250,
            },
            database: DatabaseSettings {
                url: Some("postgres://db/shop".to_owned()),
                table: "shop.carts".to_owned(),
                locking: true,
            },
            currency: "EUR".to_owned(),
            rounding: RoundingMode::HalfEven,
            merge_strategy: MergeStrategy::KeepUserCart,
            retry_budget_ms: 750,
            limits: Limits {
                max_lines: 200,
                max_quantity: 99,
                max_id_length: 40,
                max_name_length: 80,
                max_conditions: 7,
                max_cart_bytes: 65_536,
            },
            max_instances: 5,
            price_policy: PricePolicy::Reprice,
            max_price_age: 900,
            conditional_requests: true,
            idempotency_keys: true,
            idempotency_retention: 7200,
            identifier: IdentifierSettings {
                mode: IdentifierCarrier::Cookie,
                session_key: "guest".to_owned(),
                cookie_name: "basket_id".to_owned(),
                cookie_key: Some(key.clone()),
                previous_cookie_keys: vec![old.clone()],
                cookie_secure: false,
                cookie_same_site: "strict".to_owned(),
                cookie_max_age: 600,
            },
            event_log: true,
        };
        assert_ne!(expected, CartSettings::default());
        assert_eq!(CartSettings::from_toml_str(&text).unwrap(), expected);
        // Empty text is every default.
        assert_eq!(
            CartSettings::from_toml_str("").unwrap(),
            CartSettings::default()
        );
    }

    /// A file is read as its text is.
    #[test]
    fn toml_file_reads_like_its_text() {
        let path = std::env::temp_dir().join(format!(
            "axum-cart-settings-{}-{}.toml",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        let text = "storage = \"memory\"\n[cache]\nttl = 90\n";
        std::fs::write(&path, text).unwrap();
        let from_file = CartSettings::from_toml_file(&path);
        std::fs::remove_file(&path).unwrap();
        let settings = from_file.unwrap();
        assert_eq!(settings, CartSettings::from_toml_str(text).unwrap());
        assert_eq!(settings.storage, Driver::Memory);
        assert_eq!(settings.cache.ttl, 90);
        let missing = CartSettings::from_toml_file(&path).unwrap_err();
        assert_eq!(missing.key, path.display().to_string());
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
