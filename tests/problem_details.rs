//! Every error answers RFC 9457 problem details (`application/problem+json`, `type`, `title`,
//! `status`, `detail`, the stable `error` code and the members of its kind), and a backend's own
//! error text never reaches a client: it is in the log line, which carries the body's
//! `request_id`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use axum_cart::storage::{CartKey, CartStorage, StorageError, Versioned};
use axum_cart::{
    AddItem, Cart, CartConfig, CartContents, CartError, CartLayer, CartView, Catalog, CatalogError,
    CookieConfig, Currency, MemoryCatalog, MemoryStorage, Money, Product, RedisStorage,
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// What a driver's error says; no body may contain it.
const DRIVER_TEXT: &str = "pg_hba.conf rejects connection for host 10.0.0.7 on table carts_v2";
/// What a decoder's error says about a stored cart; no body may contain it either.
const SERDE_TEXT: &str = "invalid type: map, expected a string at line 1 column 42";

async fn show(cart: Cart) -> Result<Json<CartView>, CartError> {
    Ok(Json(cart.view().await?))
}

async fn add(cart: Cart, Json(item): Json<AddItem>) -> Result<Json<CartView>, CartError> {
    cart.add_product(item).await?;
    Ok(Json(cart.view().await?))
}

async fn remove(
    cart: Cart,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<CartView>, CartError> {
    cart.remove(&id).await?;
    Ok(Json(cart.view().await?))
}

async fn apply_code(
    cart: Cart,
    axum::extract::Path(code): axum::extract::Path<String>,
) -> Result<Json<CartView>, CartError> {
    cart.apply_code(&code).await?;
    Ok(Json(cart.view().await?))
}

async fn remove_condition(
    cart: Cart,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<Json<CartView>, CartError> {
    cart.remove_condition(&name).await?;
    Ok(Json(cart.view().await?))
}

/// An app's own parse failure, answered through the crate's error.
async fn unparsable() -> Result<Json<CartView>, CartError> {
    Err(CartError::BadRequest {
        message: "the body is not JSON".to_owned(),
    })
}

fn routes() -> Router {
    Router::new()
        .route("/cart", get(show))
        .route("/cart/items", post(add))
        .route("/cart/items/{id}", delete(remove))
        .route("/cart/codes/{code}", post(apply_code))
        .route("/cart/conditions/{name}", delete(remove_condition))
        .route("/unparsable", post(unparsable))
}

fn usd(amount: &str) -> Money {
    Money::parse(amount, Currency::default()).unwrap()
}

fn catalog() -> MemoryCatalog {
    MemoryCatalog::new().with_product("mug", "Mug", usd("12.00"))
}

fn cookie_config(storage: impl CartStorage) -> CartConfig {
    CartConfig::new()
        .with_storage(storage)
        .with_cookie_identifier(CookieConfig::new(cookie::Key::generate()).with_secure(false))
}

fn app(config: CartConfig) -> Router {
    routes().layer(CartLayer::new(config))
}

fn memory_app() -> Router {
    let catalog = catalog();
    app(cookie_config(MemoryStorage::new())
        .with_catalog(catalog.clone())
        .with_promotions(catalog))
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: Value,
    text: String,
}

async fn send(app: &Router, method: Method, uri: &str, body: Option<Value>) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    let body = match body {
        Some(json) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        content_type,
        body,
        text,
    }
}

/// The answer is a problem with this status and code, and the members every problem has.
#[track_caller]
fn assert_problem(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(
        answer.content_type, "application/problem+json",
        "{}",
        answer.text
    );
    let body = &answer.body;
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert_eq!(
        body["type"],
        format!("https://docs.rs/axum-cart/latest/axum_cart/enum.CartError.html#{code}"),
        "{body}"
    );
    for member in ["title", "detail"] {
        assert!(
            body[member].as_str().is_some_and(|text| !text.is_empty()),
            "no {member}: {body}"
        );
    }
    assert!(body.get("message").is_none(), "{body}");
}

#[tokio::test]
async fn client_errors_are_problems_with_their_code_status_and_field() {
    let app = memory_app();
    let answer = send(
        &app,
        Method::POST,
        "/cart/items",
        Some(json!({"id": "mug", "quantity": 0})),
    )
    .await;
    assert_problem(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
    );
    assert_eq!(answer.body["field"], "quantity");
    assert_eq!(answer.body["title"], "Invalid input");

    let answer = send(
        &app,
        Method::POST,
        "/cart/items",
        Some(json!({"id": "mug", "quantity": 1_000_000})),
    )
    .await;
    assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded");
    assert_eq!(answer.body["field"], "quantity");

    let answer = send(
        &app,
        Method::POST,
        "/cart/items",
        Some(json!({"id": "moon-rock"})),
    )
    .await;
    assert_problem(&answer, StatusCode::NOT_FOUND, "product_not_found");
    assert_eq!(
        answer.body["detail"],
        "no product `moon-rock` in the catalogue"
    );
    assert!(answer.body.get("field").is_none(), "{}", answer.text);

    let answer = send(&app, Method::DELETE, "/cart/items/mug", None).await;
    assert_problem(&answer, StatusCode::NOT_FOUND, "item_not_found");
    assert_eq!(answer.body["title"], "Item not found");

    let answer = send(&app, Method::DELETE, "/cart/conditions/SALE", None).await;
    assert_problem(&answer, StatusCode::NOT_FOUND, "condition_not_found");

    let answer = send(&app, Method::POST, "/cart/codes/NOPE", None).await;
    assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_code");

    let answer = send(&app, Method::POST, "/unparsable", None).await;
    assert_problem(&answer, StatusCode::BAD_REQUEST, "bad_request");

    // Client errors are the client's to fix: nothing for the log, so no request id.
    assert!(answer.body.get("request_id").is_none(), "{}", answer.text);
}

#[tokio::test]
async fn a_missing_part_is_a_500_problem_naming_the_fix() {
    let answer = send(&routes(), Method::GET, "/cart", None).await;
    assert_problem(
        &answer,
        StatusCode::INTERNAL_SERVER_ERROR,
        "missing_cart_layer",
    );
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("CartLayer::new"),
        "{}",
        answer.text
    );

    let session_config = app(CartConfig::new().with_storage(MemoryStorage::new()));
    let answer = send(&session_config, Method::GET, "/cart", None).await;
    assert_problem(
        &answer,
        StatusCode::INTERNAL_SERVER_ERROR,
        "missing_session_layer",
    );
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("SessionManagerLayer"),
        "{}",
        answer.text
    );

    let no_catalog = app(cookie_config(MemoryStorage::new()));
    let answer = send(
        &no_catalog,
        Method::POST,
        "/cart/items",
        Some(json!({"id": "mug"})),
    )
    .await;
    assert_problem(&answer, StatusCode::INTERNAL_SERVER_ERROR, "unsupported");
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("CartConfig::with_catalog"),
        "{}",
        answer.text
    );
}

/// A store whose every call fails with `failure()`; a load finds `stored` first, if any.
#[derive(Clone)]
struct Failing {
    failure: fn() -> StorageError,
    stored: Option<u64>,
}

#[async_trait]
impl CartStorage for Failing {
    fn driver(&self) -> &'static str {
        "failing"
    }

    async fn load(&self, _: &CartKey) -> Result<Option<Versioned<CartContents>>, StorageError> {
        match self.stored {
            Some(version) => Ok(Some(Versioned::new(CartContents::default(), version))),
            None => Err((self.failure)()),
        }
    }

    async fn save(
        &self,
        _: &CartKey,
        _: &CartContents,
        _: Option<u64>,
    ) -> Result<u64, StorageError> {
        Err((self.failure)())
    }

    async fn delete(&self, _: &CartKey) -> Result<bool, StorageError> {
        Err((self.failure)())
    }

    async fn instances(&self, _: &str) -> Result<Vec<String>, StorageError> {
        Err((self.failure)())
    }

    async fn swap_identifier(&self, _: &str, _: &str, _: &str) -> Result<bool, StorageError> {
        Err((self.failure)())
    }
}

/// A new visitor's first read needs no store, so failures are driven by a write.
async fn add_mug(app: &Router) -> Answer {
    send(app, Method::POST, "/cart/items", Some(json!({"id": "mug"}))).await
}

fn failing_app(failure: fn() -> StorageError) -> Router {
    app(cookie_config(Failing {
        failure,
        stored: None,
    })
    .with_catalog(catalog()))
}

fn unavailable() -> StorageError {
    StorageError::Unavailable {
        driver: "postgres",
        message: DRIVER_TEXT.to_owned(),
    }
}

fn corrupt() -> StorageError {
    StorageError::Corrupt {
        driver: "postgres",
        key: CartKey::new("guest:1", "default"),
        message: SERDE_TEXT.to_owned(),
    }
}

fn backend() -> StorageError {
    StorageError::Backend {
        driver: "postgres",
        message: DRIVER_TEXT.to_owned(),
    }
}

/// A catalogue that is down, with a backend's message.
struct DownCatalog;

#[async_trait]
impl Catalog for DownCatalog {
    async fn products(&self, _: &[String]) -> Result<HashMap<String, Product>, CatalogError> {
        Err(CatalogError(DRIVER_TEXT.to_owned()))
    }
}

/// Log lines written while the subscriber is the default, as text.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Runs `future` on a current-thread runtime with its logs captured: every event is emitted on
/// this thread, so the thread-local default subscriber sees all of them.
fn logged<T>(future: impl Future<Output = T>) -> (T, String) {
    let logs = Logs::default();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_writer(logs.clone())
            .with_ansi(false),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let output = {
        let _default = tracing::subscriber::set_default(subscriber);
        runtime.block_on(future)
    };
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    (output, text)
}

/// The answer is an unavailability problem that holds none of `hidden` and whose `request_id` is
/// on the log line that holds `hidden`.
#[track_caller]
fn assert_hidden_and_logged(answer: &Answer, logs: &str, code: &str, detail: &str, hidden: &str) {
    assert_problem(answer, StatusCode::SERVICE_UNAVAILABLE, code);
    assert_eq!(answer.body["detail"], detail, "{}", answer.text);
    assert!(!answer.text.contains(hidden), "{}", answer.text);
    let request_id = answer.body["request_id"].as_str().unwrap();
    assert_eq!(request_id.len(), 32, "{}", answer.text);
    let line = logs
        .lines()
        .find(|line| line.contains(request_id))
        .unwrap_or_else(|| panic!("no log line with {request_id} in:\n{logs}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains(hidden), "{line}");
}

#[test]
fn a_storage_failure_hides_the_driver_text_and_logs_it_with_the_request_id() {
    for failure in [unavailable, backend] {
        let app = failing_app(failure);
        let (answer, logs) = logged(add_mug(&app));
        assert_hidden_and_logged(
            &answer,
            &logs,
            "storage_unavailable",
            "the cart store is unavailable",
            DRIVER_TEXT,
        );
    }
}

#[test]
fn a_corrupt_stored_cart_hides_the_decoding_error() {
    let app = failing_app(corrupt);
    let (answer, logs) = logged(add_mug(&app));
    assert_hidden_and_logged(
        &answer,
        &logs,
        "storage_unavailable",
        "the cart store is unavailable",
        SERDE_TEXT,
    );
    assert!(!answer.text.contains("guest:1"), "{}", answer.text);
}

#[test]
fn each_failure_gets_its_own_request_id() {
    let app = failing_app(unavailable);
    let ((first, second), logs) = logged(async { (add_mug(&app).await, add_mug(&app).await) });
    let first = first.body["request_id"].as_str().unwrap();
    let second = second.body["request_id"].as_str().unwrap();
    assert_ne!(first, second);
    assert_eq!(logs.matches(first).count(), 1, "{logs}");
    assert_eq!(logs.matches(second).count(), 1, "{logs}");
}

#[test]
fn a_catalogue_failure_hides_the_backend_text() {
    let app = app(cookie_config(MemoryStorage::new()).with_catalog(DownCatalog));
    let (answer, logs) = logged(send(
        &app,
        Method::POST,
        "/cart/items",
        Some(json!({"id": "mug"})),
    ));
    assert_hidden_and_logged(
        &answer,
        &logs,
        "catalog_unavailable",
        "the catalogue is unavailable",
        DRIVER_TEXT,
    );
}

/// Always finds the cart at version 7, and always finds version 8 when it writes.
fn lost_race() -> StorageError {
    StorageError::Conflict {
        key: CartKey::new("guest:1", "default"),
        expected: Some(7),
        current: Some(8),
    }
}

#[test]
fn a_conflict_tells_the_versions_and_keeps_tuning_advice_in_the_log() {
    let app = app(cookie_config(Failing {
        failure: lost_race,
        stored: Some(7),
    })
    .with_catalog(catalog())
    .with_retry_budget(Duration::ZERO));
    let (answer, logs) = logged(send(
        &app,
        Method::POST,
        "/cart/items",
        Some(json!({"id": "mug"})),
    ));
    assert_problem(&answer, StatusCode::CONFLICT, "conflict");
    assert_eq!(answer.body["attempted_version"], 7, "{}", answer.text);
    assert_eq!(answer.body["current_version"], 8, "{}", answer.text);
    for advice in ["suggestions", "minor", "retries", "version_difference"] {
        assert!(answer.body.get(advice).is_none(), "{}", answer.text);
    }
    assert!(!answer.text.contains("locking"), "{}", answer.text);
    assert!(answer.body.get("request_id").is_none(), "{}", answer.text);
    let line = logs
        .lines()
        .find(|line| line.contains("concurrent changes"))
        .unwrap_or_else(|| panic!("no conflict line in:\n{logs}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("version_difference=1"), "{line}");
    assert!(
        line.contains("reload the cart and retry the change"),
        "{line}"
    );
}

#[test]
fn an_unreachable_redis_answers_503_without_the_clients_text() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (answer, logs) = logged(async move {
        let config = fred::prelude::Config::from_url(&format!("redis://127.0.0.1:{port}")).unwrap();
        let pool = fred::types::Builder::from_config(config)
            .with_connection_config(|connection| {
                connection.connection_timeout = Duration::from_millis(300);
            })
            // The client gives up before the storage's own timeout, so its text is what fails.
            .with_performance_config(|performance| {
                performance.default_command_timeout = Duration::from_millis(300);
            })
            .build_pool(1)
            .unwrap();
        let _ = fred::interfaces::ClientLike::init(&pool).await;
        let storage = RedisStorage::new(pool).with_command_timeout(Duration::from_secs(5));
        add_mug(&app(cookie_config(storage).with_catalog(catalog()))).await
    });
    assert_problem(
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "storage_unavailable",
    );
    assert_eq!(answer.body["detail"], "the cart store is unavailable");
    let request_id = answer.body["request_id"].as_str().unwrap();
    let line = logs
        .lines()
        .find(|line| line.contains(request_id))
        .unwrap_or_else(|| panic!("no log line with {request_id} in:\n{logs}"));
    // What the driver said, as logged: `... redis is unavailable: <the client's text>`.
    let said = line
        .split("redis is unavailable: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no driver text in {line}"))
        .trim();
    println!("redis said: {said}");
    assert!(!said.is_empty(), "{line}");
    assert!(!answer.text.contains(said), "{}", answer.text);
    assert!(
        !answer.text.to_lowercase().contains("redis"),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn conditional_and_idempotent_refusals_are_problems() {
    let app = Router::new()
        .route(
            "/stale",
            post(|| async {
                Err::<(), _>(CartError::PreconditionFailed {
                    current_version: Some(9),
                })
            }),
        )
        .route(
            "/gone",
            post(|| async {
                Err::<(), _>(CartError::PreconditionFailed {
                    current_version: None,
                })
            }),
        )
        .route(
            "/reused",
            post(|| async { Err::<(), _>(CartError::IdempotencyKeyReused) }),
        )
        .route(
            "/large",
            post(|| async { Err::<(), _>(CartError::PayloadTooLarge) }),
        );
    let answer = send(&app, Method::POST, "/stale", None).await;
    assert_problem(
        &answer,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
    );
    assert_eq!(answer.body["current_version"], 9, "{}", answer.text);
    let answer = send(&app, Method::POST, "/gone", None).await;
    assert_problem(
        &answer,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
    );
    assert_eq!(
        answer.body["current_version"],
        Value::Null,
        "{}",
        answer.text
    );
    assert!(
        answer
            .body
            .as_object()
            .unwrap()
            .contains_key("current_version")
    );
    let answer = send(&app, Method::POST, "/reused", None).await;
    assert_problem(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    );
    let answer = send(&app, Method::POST, "/large", None).await;
    assert_problem(&answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}
