//! The signed identifier cookie over HTTP: its Max-Age is sent again with every write, reads set
//! no cookie, the signing key comes from the whole secret, previous keys still verify (and the
//! next write signs with the current key), unknown keys give a fresh cart, and `SameSite=None`
//! never goes out without `Secure`.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Path;
use axum::routing::{get, put};
use axum::{Json, Router};
use axum_cart::settings::{CartSettings, IdentifierCarrier, cookie_key_from_secret};
use axum_cart::storage::{CartKey, CartStorage};
use axum_cart::{Cart, CartConfig, CartError, CartLayer, CookieConfig, MemoryStorage};
use cookie::{Key, SameSite};
use http::header::{COOKIE, SET_COOKIE};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const MAX_AGE: u64 = 3600;

/// The cart's identifier and its `note` metadata: a read.
async fn show(cart: Cart) -> Result<Json<Value>, CartError> {
    let contents = cart.contents().await?;
    Ok(Json(json!({
        "identifier": cart.identifier(),
        "note": contents.metadata().get("note"),
    })))
}

/// Sets the `note` metadata: a write.
async fn note(cart: Cart, Path(note): Path<String>) -> Result<Json<Value>, CartError> {
    cart.set_metadata("note", Value::String(note)).await?;
    Ok(Json(json!({ "identifier": cart.identifier() })))
}

/// Sets the `count` metadata through `Cart::modify`: another write.
async fn count(cart: Cart, Path(count): Path<u64>) -> Result<Json<Value>, CartError> {
    cart.modify(move |contents| contents.set_metadata("count", count.into()))
        .await?;
    Ok(Json(json!({ "identifier": cart.identifier() })))
}

fn app(cookie: CookieConfig, storage: &MemoryStorage) -> Router {
    let config = CartConfig::new()
        .with_storage(storage.clone())
        .with_cookie_identifier(cookie);
    Router::new()
        .route("/cart", get(show))
        .route("/note/{note}", put(note))
        .route("/count/{count}", put(count))
        .layer(CartLayer::new(config))
}

/// Plain-HTTP cookie settings with a one-hour Max-Age, signed with `key`.
fn cookie(key: Key) -> CookieConfig {
    CookieConfig::new(key)
        .with_secure(false)
        .with_max_age(Some(Duration::from_secs(MAX_AGE)))
}

/// Cookie-mode settings signing with `secret` and verifying with `previous` too.
fn settings_app(secret: &str, previous: &[&str], storage: &MemoryStorage) -> Router {
    let mut settings = CartSettings::default();
    settings.identifier.mode = IdentifierCarrier::Cookie;
    settings.identifier.cookie_key = Some(secret.to_owned());
    settings.identifier.previous_cookie_keys = previous.iter().map(|s| (*s).to_owned()).collect();
    settings.identifier.cookie_secure = false;
    settings.identifier.cookie_max_age = MAX_AGE;
    settings.validate().unwrap();
    let config = settings.to_config().unwrap().with_storage(storage.clone());
    Router::new()
        .route("/cart", get(show))
        .route("/note/{note}", put(note))
        .layer(CartLayer::new(config))
}

struct Answer {
    json: Value,
    set_cookies: Vec<String>,
}

impl Answer {
    /// The one `Set-Cookie` of this answer.
    #[track_caller]
    fn set_cookie(&self) -> &str {
        assert_eq!(self.set_cookies.len(), 1, "{:?}", self.set_cookies);
        &self.set_cookies[0]
    }

    fn identifier(&self) -> &str {
        self.json["identifier"].as_str().unwrap()
    }
}

async fn send(app: &Router, method: Method, uri: &str, cookie: Option<&str>) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let set_cookies = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    Answer {
        json: serde_json::from_slice(&body).unwrap(),
        set_cookies,
    }
}

/// The `name=value` pair of a `Set-Cookie` value, as a browser sends it back.
fn pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap()
}

/// The attributes of a `Set-Cookie` value, sorted.
fn attributes(set_cookie: &str) -> Vec<&str> {
    let mut attributes: Vec<&str> = set_cookie.split("; ").skip(1).collect();
    attributes.sort_unstable();
    attributes
}

#[tokio::test]
async fn every_write_sends_the_cookie_again_with_a_full_max_age() {
    let storage = MemoryStorage::new();
    let app = app(cookie(Key::generate()), &storage);

    let first = send(&app, Method::PUT, "/note/first", None).await;
    let set_first = first.set_cookie().to_owned();
    let expected = vec!["HttpOnly", "Max-Age=3600", "Path=/", "SameSite=Lax"];
    assert_eq!(attributes(&set_first), expected, "{set_first}");

    let read = send(&app, Method::GET, "/cart", Some(pair(&set_first))).await;
    assert_eq!(read.identifier(), first.identifier());
    assert_eq!(read.json["note"], "first");
    assert!(read.set_cookies.is_empty(), "{:?}", read.set_cookies);

    let second = send(&app, Method::PUT, "/note/second", Some(pair(&set_first))).await;
    assert_eq!(second.identifier(), first.identifier());
    let set_second = second.set_cookie().to_owned();
    assert_eq!(attributes(&set_second), expected, "{set_second}");

    let third = send(&app, Method::PUT, "/count/3", Some(pair(&set_second))).await;
    assert_eq!(third.identifier(), first.identifier());
    assert_eq!(attributes(third.set_cookie()), expected);

    let stored = storage
        .load(&CartKey::new(first.identifier(), "default"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.value.metadata()["note"], "second");
    assert_eq!(stored.value.metadata()["count"], 3);
}

#[tokio::test]
async fn reads_set_no_cookie() {
    let storage = MemoryStorage::new();
    let app = app(cookie(Key::generate()), &storage);

    let new_visitor = send(&app, Method::GET, "/cart", None).await;
    assert!(new_visitor.set_cookies.is_empty());
    assert_eq!(new_visitor.json["note"], Value::Null);

    let written = send(&app, Method::PUT, "/note/kept", None).await;
    let cookie = written.set_cookie().to_owned();
    for _ in 0..2 {
        let read = send(&app, Method::GET, "/cart", Some(pair(&cookie))).await;
        assert!(read.set_cookies.is_empty(), "{:?}", read.set_cookies);
        assert_eq!(read.json["note"], "kept");
    }
}

#[tokio::test]
async fn a_cookie_signed_with_a_previous_key_reaches_its_cart_and_is_signed_again() {
    let old_secret = "o".repeat(64);
    let new_secret = "n".repeat(64);
    let storage = MemoryStorage::new();

    let before = settings_app(&old_secret, &[], &storage);
    let written = send(&before, Method::PUT, "/note/before-rotation", None).await;
    let identifier = written.identifier().to_owned();
    let old_cookie = written.set_cookie().to_owned();

    let rotated = settings_app(&new_secret, &[&old_secret], &storage);
    let read = send(&rotated, Method::GET, "/cart", Some(pair(&old_cookie))).await;
    assert_eq!(read.identifier(), identifier);
    assert_eq!(read.json["note"], "before-rotation");
    assert!(read.set_cookies.is_empty(), "{:?}", read.set_cookies);

    let write = send(
        &rotated,
        Method::PUT,
        "/note/after",
        Some(pair(&old_cookie)),
    )
    .await;
    assert_eq!(write.identifier(), identifier);
    let new_cookie = write.set_cookie().to_owned();
    assert_ne!(pair(&new_cookie), pair(&old_cookie));
    assert_eq!(
        attributes(&new_cookie),
        ["HttpOnly", "Max-Age=3600", "Path=/", "SameSite=Lax"]
    );

    // The re-signed cookie needs no previous key; the old key alone no longer verifies it.
    let new_only = settings_app(&new_secret, &[], &storage);
    let read = send(&new_only, Method::GET, "/cart", Some(pair(&new_cookie))).await;
    assert_eq!(read.identifier(), identifier);
    assert_eq!(read.json["note"], "after");
    let old_only = settings_app(&old_secret, &[], &storage);
    let read = send(&old_only, Method::GET, "/cart", Some(pair(&new_cookie))).await;
    assert_ne!(read.identifier(), identifier);
    assert_eq!(read.json["note"], Value::Null);

    // Keys given in code rotate the same way.
    let (old_key, new_key) = (Key::generate(), Key::generate());
    let before = app(cookie(old_key.clone()), &storage);
    let written = send(&before, Method::PUT, "/note/in-code", None).await;
    let rotated = app(cookie(new_key).with_previous_keys([old_key]), &storage);
    let read = send(
        &rotated,
        Method::GET,
        "/cart",
        Some(pair(written.set_cookie())),
    )
    .await;
    assert_eq!(read.identifier(), written.identifier());
    assert_eq!(read.json["note"], "in-code");
}

#[tokio::test]
async fn a_cookie_signed_with_an_unknown_key_gets_a_fresh_cart() {
    let storage = MemoryStorage::new();
    let elsewhere = app(cookie(Key::generate()), &storage);
    let written = send(&elsewhere, Method::PUT, "/note/theirs", None).await;
    let foreign = written.set_cookie().to_owned();

    let app = app(cookie(Key::generate()), &storage);
    let read = send(&app, Method::GET, "/cart", Some(pair(&foreign))).await;
    assert_ne!(read.identifier(), written.identifier());
    assert_eq!(read.json["note"], Value::Null);
    assert!(read.set_cookies.is_empty(), "{:?}", read.set_cookies);

    let write = send(&app, Method::PUT, "/note/mine", Some(pair(&foreign))).await;
    assert_ne!(write.identifier(), written.identifier());
    let theirs = storage
        .load(&CartKey::new(written.identifier(), "default"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(theirs.value.metadata()["note"], "theirs");
}

#[tokio::test]
async fn the_tail_of_a_long_secret_counts() {
    let head = "h".repeat(64);
    let (a, b) = (format!("{head}-tail-a"), format!("{head}-tail-b"));
    assert_ne!(
        cookie_key_from_secret(&a).unwrap().master(),
        cookie_key_from_secret(&b).unwrap().master()
    );

    let storage = MemoryStorage::new();
    let signed_by_a = send(
        &settings_app(&a, &[], &storage),
        Method::PUT,
        "/note/a",
        None,
    )
    .await;
    let app_b = settings_app(&b, &[], &storage);
    let read = send(
        &app_b,
        Method::GET,
        "/cart",
        Some(pair(signed_by_a.set_cookie())),
    )
    .await;
    assert_ne!(read.identifier(), signed_by_a.identifier());
    assert_eq!(read.json["note"], Value::Null);

    let app_a = settings_app(&a, &[], &storage);
    let read = send(
        &app_a,
        Method::GET,
        "/cart",
        Some(pair(signed_by_a.set_cookie())),
    )
    .await;
    assert_eq!(read.identifier(), signed_by_a.identifier());
}

#[tokio::test]
async fn same_site_none_without_secure_is_refused_by_settings_and_secure_in_code() {
    let vars = [
        ("CART_IDENTIFIER", "cookie"),
        ("CART_COOKIE_KEY", &"k".repeat(64)),
        ("CART_COOKIE_SAME_SITE", "none"),
        ("CART_COOKIE_SECURE", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let error = CartSettings::from_env_map(vars).unwrap_err();
    assert_eq!(error.key, "identifier.cookie_same_site");
    assert!(error.message.contains("Secure"), "{error}");

    let text = format!(
        "[identifier]\nmode = \"cookie\"\ncookie_key = \"{}\"\ncookie_same_site = \"none\"\n\
         cookie_secure = false\n",
        "k".repeat(64)
    );
    let error = CartSettings::from_toml_str(&text).unwrap_err();
    assert_eq!(error.key, "identifier.cookie_same_site");

    let secure = text.replace("cookie_secure = false", "cookie_secure = true");
    CartSettings::from_toml_str(&secure).unwrap();

    // In code the combination cannot be built: a SameSite=None cookie goes out Secure.
    let storage = MemoryStorage::new();
    let app = app(
        cookie(Key::generate()).with_same_site(SameSite::None),
        &storage,
    );
    let written = send(&app, Method::PUT, "/note/x", None).await;
    assert_eq!(
        attributes(written.set_cookie()),
        [
            "HttpOnly",
            "Max-Age=3600",
            "Path=/",
            "SameSite=None",
            "Secure"
        ]
    );
}
