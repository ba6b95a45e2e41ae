//! Sending requests to a router: a `oneshot` client that carries cookies by hand and reads the
//! cart views it gets back, and a real bound server with a cookie-keeping reqwest client.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Body;
use http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

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

    /// The header `name` as text (`None`: absent).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// Asserts a 4xx answer with a problem details body and returns the body.
    #[track_caller]
    pub fn client_error(self) -> Value {
        assert!(
            self.status.is_client_error(),
            "expected a 4xx, got {}: {}",
            self.status,
            self.text
        );
        assert_problem(&self.headers, &self.json, self.status, &self.text);
        self.json
    }

    /// Asserts `status` with a problem details body and returns the body.
    #[track_caller]
    pub fn error(self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        assert_problem(&self.headers, &self.json, self.status, &self.text);
        self.json
    }

    /// Asserts `status` with a problem details body whose `error` is `code`; returns the body.
    #[track_caller]
    pub fn problem(self, status: StatusCode, code: &str) -> Value {
        let body = self.error(status);
        assert_eq!(body["error"], code, "{body}");
        body
    }
}

/// Asserts an RFC 9457 problem: `application/problem+json`, and `type`, `title`, `status`,
/// `detail` and a stable `error` code in the body.
#[track_caller]
pub fn assert_problem(headers: &HeaderMap, body: &Value, status: StatusCode, text: &str) {
    let content_type = headers.get(CONTENT_TYPE).map(|v| v.to_str().unwrap());
    assert_eq!(
        content_type,
        Some("application/problem+json"),
        "not a problem: {text}"
    );
    assert_json_error(body, text);
    assert_eq!(body["status"], status.as_u16(), "{text}");
}

/// Asserts the members of a problem details body: `type`, `title`, `detail`, `error`.
#[track_caller]
pub fn assert_json_error(body: &Value, text: &str) {
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "no `error` code in {text}"
    );
    for member in ["type", "title", "detail"] {
        assert!(
            body[member].as_str().is_some_and(|m| !m.is_empty()),
            "no `{member}` in {text}"
        );
    }
    assert!(body["status"].is_u64(), "no `status` in {text}");
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
        self.send_as(None, method, uri, content_type, body).await
    }

    /// Sends a request with a raw body, an optional content type and an optional bearer token.
    pub async fn send_as(
        &mut self,
        token: Option<&str>,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        self.send_with(token, &[], method, uri, content_type, body)
            .await
    }

    /// A JSON request (or one without a body) with extra `headers` (`If-Match`,
    /// `Idempotency-Key`, ...).
    pub async fn send_headers(
        &mut self,
        headers: &[(&str, &str)],
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> Answer {
        match body {
            Some(body) => {
                let body = serde_json::to_vec(&body).unwrap();
                self.send_with(None, headers, method, uri, Some("application/json"), body)
                    .await
            }
            None => {
                self.send_with(None, headers, method, uri, None, Vec::new())
                    .await
            }
        }
    }

    /// Sends a request with a raw body, an optional content type, an optional bearer token and
    /// extra `headers`.
    pub async fn send_with(
        &mut self,
        token: Option<&str>,
        headers: &[(&str, &str)],
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
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

    /// A JSON request (or one without a body) carrying the shop's admin token, on this client's
    /// cookies: the trusted routes act on this visitor's cart.
    pub async fn trusted(&mut self, method: Method, uri: &str, body: Option<Value>) -> Answer {
        let token = Some(super::shop::ADMIN_TOKEN);
        match body {
            Some(body) => {
                let body = serde_json::to_vec(&body).unwrap();
                self.send_as(token, method, uri, Some("application/json"), body)
                    .await
            }
            None => self.send_as(token, method, uri, None, Vec::new()).await,
        }
    }

    /// `POST /cart/conditions` with the admin token, asserting 200.
    pub async fn add_condition(&mut self, condition: Value) -> Value {
        self.trusted(Method::POST, "/cart/conditions", Some(condition))
            .await
            .ok()
    }

    /// `PUT /admin/catalog/{id}` `{price, name}` with the admin token, asserting 200.
    pub async fn set_product(&mut self, id: &str, name: &str, price: &str) -> Value {
        let uri = format!("/admin/catalog/{}", percent_encode(id));
        self.trusted(
            Method::PUT,
            &uri,
            Some(serde_json::json!({"name": name, "price": price})),
        )
        .await
        .ok()
    }

    /// `GET /cart` (or `/cart?instance=...`), asserting 200.
    pub async fn cart(&mut self) -> Value {
        self.get("/cart").await.ok()
    }

    /// `POST /cart/items` `{id, quantity}` (priced by the shop's catalogue), asserting 200.
    pub async fn add(&mut self, id: &str, quantity: i64) -> Value {
        self.post(
            "/cart/items",
            serde_json::json!({"id": id, "quantity": quantity}),
        )
        .await
        .ok()
    }
}

/// `text` percent-encoded for a path segment.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
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
