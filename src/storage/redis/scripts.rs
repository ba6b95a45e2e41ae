//! The driver's Lua scripts and how they are called.
//!
//! Each multi-key operation is one script so it is atomic and costs one round trip. Scripts are
//! called by SHA (`EVALSHA`), loading them on first use on the node that runs them (on Redis
//! Cluster each primary has a script cache of its own); when a node has forgotten them (a
//! `SCRIPT FLUSH`, a restart, a failover) the call answers `NOSCRIPT` and the script is loaded
//! there again and the call repeated once. Scripts that write wait for replica acknowledgements
//! on the same connection when the storage asks for them ([`Client::replicated`]).

use fred::bytes::Bytes;
use fred::interfaces::{ClientLike, KeysInterface, LuaInterface};
use fred::types::{CustomCommand, Expiration, Key, Value};
use tokio::sync::OnceCell;

use super::client::{Client, slot, storage_error};
use crate::storage::StorageError;

/// A Lua script known by its SHA once loaded.
pub(super) struct Script {
    source: &'static str,
    /// Whether its writes must reach the replicas the storage asks for before it answers.
    durable: bool,
    sha: OnceCell<String>,
}

impl Script {
    const fn new(source: &'static str, durable: bool) -> Self {
        Script {
            source,
            durable,
            sha: OnceCell::const_new(),
        }
    }

    /// Runs the script by SHA, loading it first, and again after a `SCRIPT FLUSH` (NOSCRIPT);
    /// a durable script then waits for the replica acknowledgements the storage asks for.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when Redis does not answer within the command timeout or
    /// cannot be reached, or too few replicas acknowledged a durable script's writes;
    /// [`StorageError::Backend`] when the script fails.
    pub(super) async fn run(
        &self,
        client: &Client,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<Value, StorageError> {
        self.run_after(client, None, keys, args).await
    }

    /// [`Script::run`], with `SET key value PX ttl` of `staged` sent just before the call, on the
    /// connection that runs the script: one round trip, and a value the script moves into place
    /// without it ever being a script argument.
    ///
    /// # Errors
    /// As [`Script::run`]; when the `SET` fails, its error.
    pub(super) async fn run_staged(
        &self,
        client: &Client,
        staged: Staged,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<Value, StorageError> {
        self.run_after(client, Some(staged), keys, args).await
    }

    async fn run_after(
        &self,
        client: &Client,
        staged: Option<Staged>,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<Value, StorageError> {
        // One connection for the load, the staged value, the call and the WAIT: WAIT counts the
        // writes of the connection it is sent on, and the call must come after the value.
        let connection = client.pool.next();
        // The node serving the first key's slot runs the script, so it is loaded there.
        let hash = keys.first().map(|key| slot(key));
        let load = || {
            client.timed(connection.custom::<String, _>(
                CustomCommand::new_static("SCRIPT", hash, false),
                vec!["LOAD", self.source],
            ))
        };
        let sha = self.sha.get_or_try_init(load).await?.clone();
        let durable_key = keys.first().filter(|_| self.durable).cloned();
        // Kept for a second call after NOSCRIPT: as fred's shared buffers, taken over from the
        // strings without a copy, so that keeping them copies nothing.
        let keys: Vec<Key> = keys.into_iter().map(Key::from).collect();
        let args: Vec<Value> = args.into_iter().map(Value::from).collect();
        // Not `timed`: a NOSCRIPT answer must stay a fred error to be told apart. Boxed, as
        // `timed` boxes its commands.
        let first = match staged {
            None => {
                tokio::time::timeout(
                    client.command_timeout,
                    Box::pin(connection.evalsha::<Value, _, _, _>(sha, keys.clone(), args.clone())),
                )
                .await
            }
            Some(staged) => {
                // Two commands sent together, not a fred pipeline: a pipeline flushes the socket
                // after each of its commands, a write (and a read on the server) each, while two
                // commands queued before the connection's task takes the first go out in one.
                let expiry = Some(Expiration::PX(staged.ttl_millis));
                let set = Box::pin(connection.set::<(), _, _>(
                    staged.key,
                    staged.value,
                    expiry,
                    None,
                    false,
                ));
                let call =
                    Box::pin(connection.evalsha::<Value, _, _, _>(sha, keys.clone(), args.clone()));
                tokio::time::timeout(client.command_timeout, async {
                    let (set, call) = tokio::join!(set, call);
                    set.and(call)
                })
                .await
            }
        };
        let answer = match first {
            Ok(Err(error)) if error.details().starts_with("NOSCRIPT") => {
                let sha = load().await?;
                client
                    .timed(connection.evalsha::<Value, _, _, _>(sha, keys, args))
                    .await?
            }
            Ok(other) => other.map_err(storage_error)?,
            Err(_) => return Err(client.no_answer()),
        };
        if let Some(key) = durable_key {
            client.replicated(connection, &key).await?;
        }
        Ok(answer)
    }
}

/// A value a script finds under `key`, sent with a TTL of `ttl_millis` (see [`Script::run_staged`]).
pub(super) struct Staged {
    pub(super) key: String,
    pub(super) value: Bytes,
    pub(super) ttl_millis: i64,
}

/// One of each script, shared by the clones of a storage so each is loaded once.
pub(super) struct Scripts {
    pub(super) save: Script,
    pub(super) delete: Script,
    pub(super) delete_at: Script,
    pub(super) instances: Script,
    pub(super) swap: Script,
    pub(super) forget: Script,
    pub(super) unlock: Script,
    pub(super) move_out: Script,
    pub(super) move_in: Script,
    pub(super) move_done: Script,
}

impl Scripts {
    pub(super) const fn new() -> Self {
        Scripts {
            save: Script::new(
                concat!(
                    include_str!("scripts/log_event.lua"),
                    include_str!("scripts/cart_head.lua"),
                    include_str!("scripts/save.lua")
                ),
                true,
            ),
            delete: Script::new(
                concat!(
                    include_str!("scripts/log_event.lua"),
                    include_str!("scripts/cart_head.lua"),
                    include_str!("scripts/delete.lua")
                ),
                true,
            ),
            delete_at: Script::new(
                concat!(
                    include_str!("scripts/log_event.lua"),
                    include_str!("scripts/cart_head.lua"),
                    include_str!("scripts/delete_at.lua")
                ),
                true,
            ),
            instances: Script::new(
                concat!(
                    include_str!("scripts/expected_members.lua"),
                    include_str!("scripts/instances.lua")
                ),
                false,
            ),
            swap: Script::new(
                concat!(
                    include_str!("scripts/log_event.lua"),
                    include_str!("scripts/cart_head.lua"),
                    include_str!("scripts/swap.lua")
                ),
                true,
            ),
            forget: Script::new(
                concat!(
                    include_str!("scripts/expected_members.lua"),
                    include_str!("scripts/forget.lua")
                ),
                true,
            ),
            unlock: Script::new(include_str!("scripts/unlock.lua"), false),
            move_out: Script::new(include_str!("scripts/move_out.lua"), true),
            move_in: Script::new(
                concat!(
                    include_str!("scripts/log_event.lua"),
                    include_str!("scripts/cart_head.lua"),
                    include_str!("scripts/move_in.lua")
                ),
                true,
            ),
            move_done: Script::new(
                concat!(
                    include_str!("scripts/log_event.lua"),
                    include_str!("scripts/cart_head.lua"),
                    include_str!("scripts/move_done.lua")
                ),
                true,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Scripts;

    /// Redis Cluster runs a script on the node of its declared keys and refuses, or silently
    /// misroutes, keys it was not told of: every key a script touches must come from `KEYS`.
    #[test]
    fn every_script_touches_only_declared_keys() {
        let scripts = Scripts::new();
        let all = [
            &scripts.save,
            &scripts.delete,
            &scripts.delete_at,
            &scripts.instances,
            &scripts.swap,
            &scripts.forget,
            &scripts.unlock,
            &scripts.move_out,
            &scripts.move_in,
            &scripts.move_done,
        ];
        // Commands whose first argument is not a key.
        let keyless = ["TIME"];
        let mut calls = 0;
        for script in all {
            for call in script.source.split("redis.call(").skip(1) {
                // `redis.call('NAME', first argument, ...)`
                let (command, rest) = call
                    .strip_prefix('\'')
                    .and_then(|call| call.split_once('\''))
                    .unwrap_or_else(|| panic!("a command name in quotes: redis.call({call}"));
                if keyless.contains(&command) {
                    continue;
                }
                calls += 1;
                assert!(
                    rest.trim_start_matches([',', ' ']).starts_with("KEYS["),
                    "`{command}` on an undeclared key in:\n{}",
                    script.source
                );
            }
        }
        assert!(
            calls > 30,
            "only {calls} calls found: is the parsing right?"
        );
    }
}
