//! Writing your own cart storage driver: `FileStorage` keeps one JSON file per cart in a
//! directory, and plugs into an axum app like any built-in driver.
//!
//! ```text
//! cargo run --example custom_driver            # carts in $TMPDIR/axum-cart-files
//! CART_DIR=./carts PORT=3001 cargo run --example custom_driver
//! curl -c jar -b jar -H 'content-type: application/json' \
//!      -d '{"id":"tea","quantity":2}' http://127.0.0.1:3000/cart/items
//! curl -b jar http://127.0.0.1:3000/cart
//! ```
//!
//! What a driver must do (see `axum_cart::storage::CartStorage` and `axum_cart::storage::conformance`):
//! keep a version per cart and write only when the caller's expected version is the stored one
//! (compare-and-set); never repeat a version for a key, so that a writer that read a deleted cart
//! cannot overwrite the one created after it; delete a cart only at the version it names
//! (`delete_at`); list and move instances; report undecodable files as
//! `StorageError::Corrupt`; and (optionally) enumerate carts with `scan` so
//! `axum_cart::storage::copy_carts` can copy them. `tests/custom_driver.rs` runs the conformance
//! suite against this driver with `axum_cart::conformance_tests!`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_cart::storage::ScanPage;
use axum_cart::storage::{CartKey, CartStorage, StorageError, Versioned, initial_version};
use axum_cart::{
    AddItem, Cart, CartConfig, CartContents, CartError, CartLayer, CartView, CookieConfig,
    Currency, MemoryCatalog, Money,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Carts as files: `<dir>/<hex(identifier)>.<hex(instance)>.json`, each holding
/// `{"version": 3, "updated_at": 1764300000, "cart": {...}}`.
///
/// One in-process lock serializes every read-check-write, so compare-and-set is exact within this
/// process (which is all a file store can promise). Files are replaced atomically (write to a
/// temporary file, then rename), so a crash never leaves half a cart.
///
/// Versions never repeat for a key: a new cart starts at the clock in microseconds
/// (`axum_cart::storage::initial_version`) or above the highest version this store has written
/// (or found in the directory when it opened), whichever is higher; so a cart deleted and created
/// again starts above every version its earlier life reached.
#[derive(Clone, Debug)]
pub struct FileStorage {
    dir: Arc<PathBuf>,
    lock: Arc<tokio::sync::Mutex<()>>,
    highest: Arc<AtomicU64>,
}

/// What one file holds.
#[derive(Serialize, Deserialize)]
struct Stored {
    version: u64,
    updated_at: i64,
    cart: CartContents,
}

const DRIVER: &str = "file";

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<String> {
    if text.len() % 2 != 0 {
        return None;
    }
    let bytes = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

fn backend(error: impl std::fmt::Display) -> StorageError {
    StorageError::Backend {
        driver: DRIVER,
        message: error.to_string(),
    }
}

impl FileStorage {
    /// Carts in `dir`, created if missing.
    pub async fn open(dir: impl Into<PathBuf>) -> std::io::Result<FileStorage> {
        let dir = dir.into();
        tokio::fs::create_dir_all(&dir).await?;
        let storage = FileStorage {
            dir: Arc::new(dir),
            lock: Arc::default(),
            highest: Arc::default(),
        };
        // New carts start above every version already in the directory.
        for (_, key) in storage.all_keys().await.map_err(std::io::Error::other)? {
            if let Ok(Some(stored)) = storage.read(&key).await {
                storage.wrote(stored.version);
            }
        }
        Ok(storage)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds the cart of `key` (whether or not it exists).
    pub fn file_of(&self, key: &CartKey) -> PathBuf {
        self.path(key.identifier(), key.instance())
    }

    /// The version of a cart created now: above the clock's and above every version written.
    /// Called under the lock.
    fn fresh_version(&self) -> u64 {
        initial_version().max(self.highest.load(Ordering::SeqCst) + 1)
    }

    fn wrote(&self, version: u64) {
        self.highest.fetch_max(version, Ordering::SeqCst);
    }

    fn file_name(identifier: &str, instance: &str) -> String {
        format!("{}.{}.json", hex(identifier), hex(instance))
    }

    fn path(&self, identifier: &str, instance: &str) -> PathBuf {
        self.dir.join(Self::file_name(identifier, instance))
    }

    /// The cart key a file name stands for (`None` for any other file).
    fn key_of(file_name: &str) -> Option<CartKey> {
        let stem = file_name.strip_suffix(".json")?;
        let (identifier, instance) = stem.split_once('.')?;
        Some(CartKey::new(unhex(identifier)?, unhex(instance)?))
    }

    async fn read(&self, key: &CartKey) -> Result<Option<Stored>, StorageError> {
        let path = self.path(key.identifier(), key.instance());
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StorageError::Corrupt {
                driver: DRIVER,
                key: key.clone(),
                message: e.to_string(),
            })
    }

    async fn write(&self, key: &CartKey, stored: &Stored) -> Result<(), StorageError> {
        let path = self.path(key.identifier(), key.instance());
        let temporary = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
        let bytes = serde_json::to_vec(stored).map_err(backend)?;
        tokio::fs::write(&temporary, bytes).await.map_err(backend)?;
        tokio::fs::rename(&temporary, &path).await.map_err(backend)
    }

    async fn remove(&self, key: &CartKey) -> Result<bool, StorageError> {
        match tokio::fs::remove_file(self.path(key.identifier(), key.instance())).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }

    /// Every cart key in the directory, sorted by file name.
    async fn all_keys(&self) -> Result<Vec<(String, CartKey)>, StorageError> {
        let mut entries = tokio::fs::read_dir(&*self.dir).await.map_err(backend)?;
        let mut keys = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(backend)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(key) = Self::key_of(&name) {
                keys.push((name, key));
            }
        }
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(keys)
    }
}

#[async_trait]
impl CartStorage for FileStorage {
    fn driver(&self) -> &'static str {
        DRIVER
    }

    async fn load(&self, key: &CartKey) -> Result<Option<Versioned<CartContents>>, StorageError> {
        Ok(self.read(key).await?.map(|stored| Versioned {
            value: stored.cart,
            version: stored.version,
            updated_at: OffsetDateTime::from_unix_timestamp(stored.updated_at).ok(),
        }))
    }

    async fn save(
        &self,
        key: &CartKey,
        cart: &CartContents,
        expected: Option<u64>,
    ) -> Result<u64, StorageError> {
        let _guard = self.lock.lock().await;
        let current = self.read(key).await?.map(|stored| stored.version);
        if current != expected {
            return Err(StorageError::Conflict {
                key: key.clone(),
                expected,
                current,
            });
        }
        let version = current.map_or_else(|| self.fresh_version(), |v| v + 1);
        self.wrote(version);
        let stored = Stored {
            version,
            updated_at: OffsetDateTime::now_utc().unix_timestamp(),
            cart: cart.clone(),
        };
        self.write(key, &stored).await?;
        Ok(version)
    }

    async fn delete(&self, key: &CartKey) -> Result<bool, StorageError> {
        let _guard = self.lock.lock().await;
        self.remove(key).await
    }

    /// Compares and deletes under the lock, so no write lands in between.
    async fn delete_at(&self, key: &CartKey, version: u64) -> Result<bool, StorageError> {
        let _guard = self.lock.lock().await;
        match self.read(key).await? {
            Some(stored) if stored.version == version => self.remove(key).await,
            _ => Ok(false),
        }
    }

    async fn instances(&self, identifier: &str) -> Result<Vec<String>, StorageError> {
        let mut instances: Vec<String> = self
            .all_keys()
            .await?
            .into_iter()
            .filter(|(_, key)| key.identifier() == identifier)
            .map(|(_, key)| key.instance().to_owned())
            .collect();
        instances.sort();
        Ok(instances)
    }

    async fn swap_identifier(
        &self,
        from: &str,
        to: &str,
        instance: &str,
    ) -> Result<bool, StorageError> {
        let _guard = self.lock.lock().await;
        let source = CartKey::new(from, instance);
        let Some(mut moved) = self.read(&source).await? else {
            return Ok(false);
        };
        let target = CartKey::new(to, instance);
        // The target's version keeps growing, so a writer holding its old version conflicts.
        let replaced = self.read(&target).await?.map_or(0, |stored| stored.version);
        moved.version = (moved.version.max(replaced) + 1).max(self.fresh_version());
        self.wrote(moved.version);
        moved.updated_at = OffsetDateTime::now_utc().unix_timestamp();
        self.write(&target, &moved).await?;
        if source != target {
            self.remove(&source).await?;
        }
        Ok(true)
    }

    /// Pages in file-name order; the cursor is the last file name of the previous page.
    async fn scan(&self, cursor: Option<String>, batch: usize) -> Result<ScanPage, StorageError> {
        let batch = batch.max(1);
        let mut rest: Vec<(String, CartKey)> = self
            .all_keys()
            .await?
            .into_iter()
            .filter(|(name, _)| cursor.as_ref().is_none_or(|after| name > after))
            .take(batch + 1)
            .collect();
        let next = (rest.len() > batch).then(|| rest[batch - 1].0.clone());
        rest.truncate(batch);
        Ok(ScanPage {
            keys: rest.into_iter().map(|(_, key)| key).collect(),
            next,
        })
    }
}

// ----- a tiny shop on top of it ------------------------------------------------------------------

async fn view(cart: Cart) -> Result<Json<CartView>, CartError> {
    Ok(Json(cart.view().await?))
}

/// Names and prices come from the shop's catalogue; the client sends an id and a quantity.
async fn add(cart: Cart, Json(item): Json<AddItem>) -> Result<Json<CartView>, CartError> {
    cart.add_product(item).await?;
    Ok(Json(cart.view().await?))
}

/// The app: guest carts identified by a signed cookie, stored by `storage`.
pub fn app(storage: FileStorage) -> Router {
    let cookie = CookieConfig::new(cookie::Key::generate()).with_secure(false);
    let tea = Money::parse("4.50", Currency::USD).expect("a valid price");
    let catalog = MemoryCatalog::new().with_product("tea", "Green tea", tea);
    let config = CartConfig::new()
        .with_storage(storage)
        .with_cookie_identifier(cookie)
        .with_catalog(catalog);
    Router::new()
        .route("/cart", get(view))
        .route("/cart/items", post(add))
        .layer(CartLayer::new(config))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::var_os("CART_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("axum-cart-files"));
    let storage = FileStorage::open(&dir).await?;
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let listener = tokio::net::TcpListener::bind(format!("{host}:{port}")).await?;
    println!("carts are stored in {}", dir.display());
    println!(
        "custom driver shop listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app(storage)).await?;
    Ok(())
}
