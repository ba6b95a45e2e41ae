//! Connecting the drivers the settings name: [`CartSettings::connect`],
//! [`CartSettings::connect_cache`] (Redis, with the `redis` feature) and
//! [`CartSettings::connect_database`] (Postgres, with the `postgres` feature). Without a
//! driver's feature, its `connect_*` method is still there and returns an error saying which
//! feature to enable.

use super::{CartSettings, Driver, SettingsError};

impl CartSettings {
    /// A [`crate::CartConfig`] with every setting applied, connecting the cache or database
    /// driver when the settings name one (and migrating the database).
    ///
    /// # Errors
    ///
    /// The errors of [`CartSettings::to_config`], and for the cache and database drivers those
    /// of [`CartSettings::connect_cache`] and [`CartSettings::connect_database`].
    pub async fn connect(&self) -> Result<crate::CartConfig, SettingsError> {
        let config = self.to_config()?;
        match self.storage {
            Driver::Session | Driver::Memory => Ok(config),
            Driver::Cache => Ok(config.with_storage(self.connect_cache().await?)),
            Driver::Database => Ok(config.with_storage(self.connect_database().await?)),
        }
    }

    /// The Redis driver these settings describe: the cache URL (`redis://127.0.0.1:6379` when
    /// unset; a `redis-cluster://` URL for a Redis Cluster), prefix, TTL, locking, replica
    /// acknowledgements and the event log.
    ///
    /// # Errors
    ///
    /// An error on `cache.url` when Redis cannot be reached at the URL.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub async fn connect_cache(&self) -> Result<crate::storage::RedisStorage, SettingsError> {
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
            .with_locking(self.cache.locking)
            .with_replica_acks(
                self.cache.replica_acks,
                std::time::Duration::from_millis(self.cache.replica_ack_timeout_ms),
            )
            .with_event_log(self.event_log))
    }

    /// The cache driver needs the `redis` feature.
    ///
    /// # Errors
    ///
    /// Always: an error on `storage` saying that the `redis` feature is needed.
    #[cfg(not(feature = "redis"))]
    #[cfg_attr(docsrs, doc(cfg(not(feature = "redis"))))]
    pub async fn connect_cache(&self) -> Result<crate::MemoryStorage, SettingsError> {
        Err(SettingsError::new(
            "storage",
            "`cache` needs axum-cart's `redis` feature",
        ))
    }

    /// The Postgres driver these settings describe, with the bundled migration applied when the
    /// table is the default `carts`.
    ///
    /// # Errors
    ///
    /// An error on `database.url` when no URL is set, when Postgres cannot be reached, or when
    /// the migration fails; an error on `database.table` when the table name is refused.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub async fn connect_database(&self) -> Result<crate::storage::PostgresStorage, SettingsError> {
        let url = self.database.url.clone().ok_or_else(|| {
            SettingsError::new("database.url", "the database driver needs DATABASE_URL")
        })?;
        let storage = crate::storage::PostgresStorage::connect(&url)
            .await
            .map_err(|e| SettingsError::new("database.url", format!("cannot connect: {e}")))?
            .with_table(&self.database.table)
            .map_err(|e| SettingsError::new("database.table", e.to_string()))?
            .with_locking(self.database.locking)
            .with_event_log(self.event_log);
        if self.database.table == "carts" {
            storage
                .migrate()
                .await
                .map_err(|e| SettingsError::new("database.url", e.to_string()))?;
        }
        Ok(storage)
    }

    /// The database driver needs the `postgres` feature.
    ///
    /// # Errors
    ///
    /// Always: an error on `storage` saying that the `postgres` feature is needed.
    #[cfg(not(feature = "postgres"))]
    #[cfg_attr(docsrs, doc(cfg(not(feature = "postgres"))))]
    pub async fn connect_database(&self) -> Result<crate::MemoryStorage, SettingsError> {
        Err(SettingsError::new(
            "storage",
            "`database` needs axum-cart's `postgres` feature",
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::{CartSettings, Driver};

    #[tokio::test]
    async fn session_and_memory_need_no_connection() {
        for storage in [Driver::Session, Driver::Memory] {
            let settings = CartSettings {
                storage,
                ..CartSettings::default()
            };
            let config = settings.connect().await.unwrap();
            assert_eq!(config.limits(), &settings.limits);
        }
    }

    #[cfg(feature = "postgres")]
    #[tokio::test]
    async fn database_without_url_names_the_url() {
        let settings = CartSettings {
            storage: Driver::Database,
            ..CartSettings::default()
        };
        let error = settings.connect().await.unwrap_err();
        assert_eq!(error.key, "database.url");
        assert!(error.message.contains("DATABASE_URL"), "{error}");
    }
}
