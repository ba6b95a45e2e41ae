//! The driver's Lua scripts and how they are called.
//!
//! Each multi-key operation is one script so it is atomic and costs one round trip. Scripts are
//! called by SHA (`EVALSHA`), loading them on first use; when Redis has forgotten them (a
//! `SCRIPT FLUSH`, a restart, a failover) the call answers `NOSCRIPT` and the script is loaded
//! again and the call repeated once.

use fred::interfaces::LuaInterface;
use fred::types::Value;
use tokio::sync::OnceCell;

use super::client::{Client, storage_error};
use crate::storage::StorageError;

/// A Lua script known by its SHA once loaded.
pub(super) struct Script {
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

    /// Runs the script by SHA, loading it first, and again after a `SCRIPT FLUSH` (NOSCRIPT).
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when Redis does not answer within the command timeout or
    /// cannot be reached, [`StorageError::Backend`] when the script fails.
    pub(super) async fn run(
        &self,
        client: &Client,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<Value, StorageError> {
        let pool = &client.pool;
        let load = || client.timed(pool.next().script_load::<String, _>(self.source));
        let sha = self.sha.get_or_try_init(load).await?.clone();
        // Not `timed`: a NOSCRIPT answer must stay a fred error to be told apart.
        let first = tokio::time::timeout(
            client.command_timeout,
            pool.evalsha::<Value, _, _, _>(sha, keys.clone(), args.clone()),
        )
        .await;
        match first {
            Ok(Err(error)) if error.details().starts_with("NOSCRIPT") => {
                let sha = load().await?;
                client
                    .timed(pool.evalsha::<Value, _, _, _>(sha, keys, args))
                    .await
            }
            Ok(other) => other.map_err(storage_error),
            Err(_) => Err(client.no_answer()),
        }
    }
}

/// One of each script, shared by the clones of a storage so each is loaded once.
pub(super) struct Scripts {
    pub(super) save: Script,
    pub(super) load_and_touch: Script,
    pub(super) delete: Script,
    pub(super) delete_at: Script,
    pub(super) instances: Script,
    pub(super) swap: Script,
    pub(super) forget: Script,
    pub(super) unlock: Script,
}

impl Scripts {
    pub(super) const fn new() -> Self {
        Scripts {
            save: Script::new(include_str!("scripts/save.lua")),
            load_and_touch: Script::new(include_str!("scripts/load_and_touch.lua")),
            delete: Script::new(include_str!("scripts/delete.lua")),
            delete_at: Script::new(include_str!("scripts/delete_at.lua")),
            instances: Script::new(include_str!("scripts/instances.lua")),
            swap: Script::new(include_str!("scripts/swap.lua")),
            forget: Script::new(include_str!("scripts/forget.lua")),
            unlock: Script::new(include_str!("scripts/unlock.lua")),
        }
    }
}
