//! Helpers shared by the HTTP integration tests: the real example shop, a client that drives a
//! router with `oneshot` and carries cookies by hand, a real bound server, a storage driver that
//! counts its calls (and can be told to lose every compare-and-set), and an event recorder.
#![allow(dead_code)]

#[path = "../../examples/shop.rs"]
#[allow(dead_code)]
pub mod shop;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum_cart::{
    CartConfig, CartContents, CartEvent, CartEventKind, CartKey, CartStorage, CookieConfig,
    MemoryStorage, StorageError, Versioned,
};
use http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use tower_sessions::MemoryStore;

// ----- apps --------------------------------------------------------------------------------------

/// The example shop with its defaults: carts and guest identifiers in an in-memory session.
pub fn session_shop() -> Router {
    shop::app(CartConfig::new(), MemoryStore::default())
}

/// A cookie-mode configuration on `storage` (signed `cart_id` cookie, not Secure: tests speak HTTP).
pub fn cookie_config(storage: impl CartStorage) -> CartConfig {
    CartConfig::new()
        .with_storage(storage)
        .with_cookie_identifier(CookieConfig::new(cookie::Key::generate()).with_secure(false))
}

/// The example shop in cookie mode on `storage`.
pub fn cookie_shop(storage: impl CartStorage) -> Router {
    shop::app(cookie_config(storage), MemoryStore::default())
}

// ----- a oneshot client that carries cookies by hand ----------------------------------------------

/// One answer: status, headers and the body (parsed as JSON when it is JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Answer {
    /// The `Set-Cookie` headers of this answer.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The `Set-Cookie` header setting `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    /// Asserts a 200 and returns the JSON body.
    #[track_caller]
    pub fn ok(self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text);
        self.json
    }

    /// Asserts a 4xx answer with a JSON `{error, message}` body and returns the body.
    #[track_caller]
    pub fn client_error(self) -> Value {
        assert!(
            self.status.is_client_error(),
            "expected a 4xx, got {}: {}",
            self.status,
            self.text
        );
        assert_json_error(&self.json, &self.text);
        self.json
    }

    /// Asserts `status` with a JSON `{error, message}` body and returns the body.
    #[track_caller]
    pub fn error(self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        assert_json_error(&self.json, &self.text);
        self.json
    }
}

#[track_caller]
pub fn assert_json_error(body: &Value, text: &str) {
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "no `error` code in {text}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "no `message` in {text}"
    );
}

/// Drives a router with `oneshot`, keeping the cookies it sets like a browser would.
#[derive(Clone)]
pub struct Client {
    app: Router,
    pub cookies: BTreeMap<String, String>,
}

impl Client {
    pub fn new(app: Router) -> Self {
        Client {
            app,
            cookies: BTreeMap::new(),
        }
    }

    /// Another visitor of the same app, without cookies.
    pub fn stranger(&self) -> Client {
        Client::new(self.app.clone())
    }

    /// The `Cookie` header this client sends.
    pub fn cookie_header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// Sends a request with a raw body and an optional content type.
    pub async fn send_raw(
        &mut self,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        if let Some(cookies) = self.cookie_header() {
            request = request.header(COOKIE, cookies);
        }
        let request = request.body(Body::from(body)).unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        for set in parts.headers.get_all(SET_COOKIE) {
            self.store_cookie(set.to_str().unwrap());
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status: parts.status,
            headers: parts.headers,
            text,
            json,
        }
    }

    fn store_cookie(&mut self, set_cookie: &str) {
        let pair = set_cookie.split(';').next().unwrap().trim();
        let (name, value) = pair.split_once('=').unwrap();
        let lower = set_cookie.to_ascii_lowercase();
        let removal = value.is_empty()
            || lower.contains("max-age=0")
            || lower.contains("expires=thu, 01 jan 1970");
        if removal {
            self.cookies.remove(name);
        } else {
            self.cookies.insert(name.to_owned(), value.to_owned());
        }
    }

    pub async fn send(&mut self, method: Method, uri: &str, body: Option<Value>) -> Answer {
        match body {
            Some(body) => {
                self.send_raw(
                    method,
                    uri,
                    Some("application/json"),
                    serde_json::to_vec(&body).unwrap(),
                )
                .await
            }
            None => self.send_raw(method, uri, None, Vec::new()).await,
        }
    }

    pub async fn get(&mut self, uri: &str) -> Answer {
        self.send(Method::GET, uri, None).await
    }

    pub async fn post(&mut self, uri: &str, body: Value) -> Answer {
        self.send(Method::POST, uri, Some(body)).await
    }

    pub async fn patch(&mut self, uri: &str, body: Value) -> Answer {
        self.send(Method::PATCH, uri, Some(body)).await
    }

    pub async fn put(&mut self, uri: &str, body: Value) -> Answer {
        self.send(Method::PUT, uri, Some(body)).await
    }

    pub async fn delete(&mut self, uri: &str) -> Answer {
        self.send(Method::DELETE, uri, None).await
    }

    /// `GET /cart` (or `/cart?instance=...`), asserting 200.
    pub async fn cart(&mut self) -> Value {
        self.get("/cart").await.ok()
    }

    /// `POST /cart/items`, asserting 200.
    pub async fn add(&mut self, id: &str, price: &str, quantity: i64) -> Value {
        self.post(
            "/cart/items",
            serde_json::json!({"id": id, "name": format!("Item {id}"), "price": price, "quantity": quantity}),
        )
        .await
        .ok()
    }
}

/// The quantity of line `id` in a cart view (`None`: no such line).
pub fn quantity(view: &Value, id: &str) -> Option<u64> {
    view["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|line| line["id"] == id)
        .map(|line| line["quantity"].as_u64().unwrap())
}

/// `(id, quantity)` of every line, in cart order.
pub fn lines(view: &Value) -> Vec<(String, u64)> {
    view["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            (
                line["id"].as_str().unwrap().to_owned(),
                line["quantity"].as_u64().unwrap(),
            )
        })
        .collect()
}

// ----- a real server -----------------------------------------------------------------------------

/// Serves `app` on 127.0.0.1 on a free port; returns its base URL. The listener is bound before
/// this returns, so requests can be sent at once (the OS queues connections until `serve` accepts).
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{address}")
}

/// A reqwest client that keeps cookies like a browser.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap()
}

// ----- a storage driver that counts its calls ----------------------------------------------------

/// Calls per `CartStorage` method.
#[derive(Debug, Default)]
pub struct Calls {
    pub load: AtomicU64,
    pub save: AtomicU64,
    pub delete: AtomicU64,
    pub instances: AtomicU64,
    pub swap_identifier: AtomicU64,
    /// Saves that failed with a version conflict.
    pub conflicts: AtomicU64,
}

impl Calls {
    pub fn load(&self) -> u64 {
        self.load.load(Ordering::SeqCst)
    }
    pub fn save(&self) -> u64 {
        self.save.load(Ordering::SeqCst)
    }
    pub fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::SeqCst)
    }
    pub fn total(&self) -> u64 {
        self.load.load(Ordering::SeqCst)
            + self.save.load(Ordering::SeqCst)
            + self.delete.load(Ordering::SeqCst)
            + self.instances.load(Ordering::SeqCst)
            + self.swap_identifier.load(Ordering::SeqCst)
    }
    /// `(load, save, delete, instances, swap_identifier)`, for messages.
    pub fn snapshot(&self) -> (u64, u64, u64, u64, u64) {
        (
            self.load.load(Ordering::SeqCst),
            self.save.load(Ordering::SeqCst),
            self.delete.load(Ordering::SeqCst),
            self.instances.load(Ordering::SeqCst),
            self.swap_identifier.load(Ordering::SeqCst),
        )
    }
}

/// [`MemoryStorage`] with a counter per method. It keeps the trait's provided `modify`, so a
/// change is counted as the loads and saves it really makes.
///
/// - `yield_after_load`: yields to the scheduler between reading and returning a cart, so that
///   concurrent writers really interleave between their read and their write (no sleeping).
/// - `always_conflict`: while set, every `save` fails with a version conflict whose current
///   version is one ahead of the expected one, as if another writer always got there first.
#[derive(Clone, Default)]
pub struct CountingStorage {
    pub inner: MemoryStorage,
    pub calls: Arc<Calls>,
    pub yield_after_load: bool,
    pub always_conflict: Arc<AtomicBool>,
}

impl CountingStorage {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn yielding() -> Self {
        CountingStorage {
            yield_after_load: true,
            ..Self::default()
        }
    }
}

#[async_trait]
impl CartStorage for CountingStorage {
    fn driver(&self) -> &'static str {
        "counting-memory"
    }

    async fn load(&self, key: &CartKey) -> Result<Option<Versioned<CartContents>>, StorageError> {
        self.calls.load.fetch_add(1, Ordering::SeqCst);
        let loaded = self.inner.load(key).await;
        if self.yield_after_load {
            tokio::task::yield_now().await;
        }
        loaded
    }

    async fn save(
        &self,
        key: &CartKey,
        cart: &CartContents,
        expected: Option<u64>,
    ) -> Result<u64, StorageError> {
        self.calls.save.fetch_add(1, Ordering::SeqCst);
        if self.always_conflict.load(Ordering::SeqCst) {
            self.calls.conflicts.fetch_add(1, Ordering::SeqCst);
            return Err(StorageError::Conflict {
                key: key.clone(),
                expected,
                current: Some(expected.map_or(1, |v| v + 1)),
            });
        }
        let saved = self.inner.save(key, cart, expected).await;
        if matches!(saved, Err(StorageError::Conflict { .. })) {
            self.calls.conflicts.fetch_add(1, Ordering::SeqCst);
        }
        saved
    }

    async fn delete(&self, key: &CartKey) -> Result<bool, StorageError> {
        self.calls.delete.fetch_add(1, Ordering::SeqCst);
        self.inner.delete(key).await
    }

    async fn instances(&self, identifier: &str) -> Result<Vec<String>, StorageError> {
        self.calls.instances.fetch_add(1, Ordering::SeqCst);
        self.inner.instances(identifier).await
    }

    async fn swap_identifier(
        &self,
        from: &str,
        to: &str,
        instance: &str,
    ) -> Result<bool, StorageError> {
        self.calls.swap_identifier.fetch_add(1, Ordering::SeqCst);
        self.inner.swap_identifier(from, to, instance).await
    }
}

// ----- events ------------------------------------------------------------------------------------

pub type Events = Arc<Mutex<Vec<CartEvent>>>;

/// `config` with a listener that records every event.
pub fn recording(config: CartConfig) -> (CartConfig, Events) {
    let events: Events = Arc::default();
    let sink = Arc::clone(&events);
    let config = config.on_event(move |event| sink.lock().unwrap().push(event.clone()));
    (config, events)
}

/// Takes the events recorded so far.
pub fn take(events: &Events) -> Vec<CartEvent> {
    std::mem::take(&mut *events.lock().unwrap())
}

/// Just the kinds.
pub fn kinds(events: &[CartEvent]) -> Vec<CartEventKind> {
    events.iter().map(|e| e.kind.clone()).collect()
}
