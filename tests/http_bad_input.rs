//! Hostile and broken input over HTTP, on every driver (session, memory, Redis, Postgres): every
//! answer is a 4xx with a problem details body (`application/problem+json`), never a 500; the
//! server keeps serving; and the stored cart is exactly as it was, and still readable.
//!
//! Needs `REDIS_URL` and `DATABASE_URL` (defaults: the local servers).

mod common;

use std::sync::Arc;

use axum_cart::{CartConfig, MemoryStorage};
use common::requests::{Client, assert_problem, lines, percent_encode, quantity};
use common::shop::{admin_shop, session_shop};
use common::{pg, redis};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const MIB: usize = 1024 * 1024;

/// The shop on every driver: carts in the session, or in memory, Redis or Postgres with guest
/// identifiers in the session; each with the admin token.
async fn apps() -> Vec<(&'static str, axum::Router)> {
    let shared = |storage| admin_shop(CartConfig::new().with_shared_storage(storage));
    vec![
        ("session", session_shop()),
        ("memory", shared(Arc::new(MemoryStorage::new()))),
        ("redis", shared(Arc::new(redis::fresh_storage().await))),
        ("postgres", shared(Arc::new(pg::fresh_storage().await))),
    ]
}

/// A client with a stored cart: one line (tee 19.90 × 2), one condition, one metadata key
/// (three changes).
async fn client_with_cart(app: axum::Router) -> (Client, Value) {
    let mut client = Client::new(app);
    let first = client.add("tee", 2).await["version"].as_u64().unwrap();
    client
        .add_condition(json!({"name": "tax", "type": "tax", "target": "subtotal", "value": "+10%"}))
        .await;
    client.put("/cart/metadata/note", json!("hi")).await.ok();
    let before = client.cart().await;
    assert_eq!(before["version"], first + 2);
    (client, before)
}

/// One bad request: method, URI, raw body (`None`: no body and no content type), and whether it
/// carries the admin token (the trusted condition routes and the admin routes).
struct Bad {
    what: String,
    method: Method,
    uri: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    trusted: bool,
}

fn json_req(what: impl Into<String>, method: Method, uri: &str, body: Value) -> Bad {
    Bad {
        what: what.into(),
        method,
        uri: uri.to_owned(),
        content_type: Some("application/json"),
        body: serde_json::to_vec(&body).unwrap(),
        trusted: false,
    }
}

/// The same request with the admin token.
fn trusted(bad: Bad) -> Bad {
    Bad {
        trusted: true,
        ..bad
    }
}

fn raw(
    what: impl Into<String>,
    method: Method,
    uri: &str,
    content_type: Option<&'static str>,
    body: &[u8],
) -> Bad {
    Bad {
        what: what.into(),
        method,
        uri: uri.to_owned(),
        content_type,
        body: body.to_vec(),
        trusted: false,
    }
}

fn add_item(what: &str, body: Value) -> Bad {
    json_req(what, Method::POST, "/cart/items", body)
}

/// A valid item body (a mug) with `field` set to `value`.
fn item_with(field: &str, value: Value) -> Value {
    let mut item = json!({"id": "mug", "quantity": 1});
    item[field] = value;
    item
}

/// Sends every bad request and checks the answer and that the cart did not move.
async fn check_all(client: &mut Client, before: &Value, cases: Vec<Bad>) -> Vec<(String, Value)> {
    let mut answers = Vec::new();
    for bad in cases {
        let token = bad.trusted.then_some(common::shop::ADMIN_TOKEN);
        let answer = client
            .send_as(token, bad.method, &bad.uri, bad.content_type, bad.body)
            .await;
        assert!(
            answer.status.is_client_error(),
            "{}: expected a 4xx, got {}: {}",
            bad.what,
            answer.status,
            answer.text
        );
        let text = format!("{}: {}", bad.what, answer.text);
        assert_problem(&answer.headers, &answer.json, answer.status, &text);
        assert_eq!(
            &client.cart().await,
            before,
            "{}: the cart changed after {}",
            bad.what,
            answer.text
        );
        answers.push((bad.what, answer.json));
    }
    // Still serving.
    assert_eq!(client.get("/health").await.text, "ok");
    answers
}

fn status_of(answers: &[(String, Value)], what: &str) -> Value {
    answers
        .iter()
        .find(|(w, _)| w == what)
        .unwrap_or_else(|| panic!("no case {what}"))
        .1
        .clone()
}

#[tokio::test]
async fn malformed_and_mistyped_bodies() {
    for (driver, app) in apps().await {
        let (mut client, before) = client_with_cart(app).await;
        let json_ct = Some("application/json");
        let cases = vec![
            raw(
                "malformed json",
                Method::POST,
                "/cart/items",
                json_ct,
                b"{\"id\": \"b\",",
            ),
            raw("empty body", Method::POST, "/cart/items", json_ct, b""),
            raw(
                "not json at all",
                Method::POST,
                "/cart/items",
                json_ct,
                b"id=b&name=B",
            ),
            raw(
                "no content type",
                Method::POST,
                "/cart/items",
                None,
                br#"{"id":"mug","quantity":1}"#,
            ),
            raw(
                "text content type",
                Method::POST,
                "/cart/items",
                Some("text/plain"),
                br#"{"id":"mug","quantity":1}"#,
            ),
            raw(
                "invalid utf-8",
                Method::POST,
                "/cart/items",
                json_ct,
                b"{\"id\": \"\xff\xfe\", \"quantity\": 1}",
            ),
            add_item("null body", Value::Null),
            add_item("array body", json!([1, 2])),
            add_item("missing id", json!({"quantity": 1})),
            add_item("a price", item_with("price", json!("0.01"))),
            add_item("a name", item_with("name", json!("TV"))),
            add_item("price as number", item_with("price", json!(1.5))),
            add_item("unknown field", item_with("colour", json!("red"))),
            add_item("quantity as string", item_with("quantity", json!("2"))),
            add_item("quantity as float", item_with("quantity", json!(1.5))),
            add_item("id as number", item_with("id", json!(7))),
            add_item("attributes as array", item_with("attributes", json!(["x"]))),
            add_item(
                "conditions with the item",
                item_with(
                    "conditions",
                    json!([{"name": "free", "type": "discount", "value": "-100%"}]),
                ),
            ),
            json_req(
                "patch unknown field",
                Method::PATCH,
                "/cart/items/tee",
                json!({"qty": 2}),
            ),
            json_req(
                "patch quantity and delta",
                Method::PATCH,
                "/cart/items/tee",
                json!({"quantity": 2, "delta": 1}),
            ),
            json_req(
                "patch quantity as string",
                Method::PATCH,
                "/cart/items/tee",
                json!({"quantity": "2"}),
            ),
            raw(
                "patch malformed",
                Method::PATCH,
                "/cart/items/tee",
                json_ct,
                b"{",
            ),
            raw(
                "metadata malformed",
                Method::PUT,
                "/cart/metadata/x",
                json_ct,
                b"{\"a\":",
            ),
            trusted(json_req(
                "condition missing value",
                Method::POST,
                "/cart/conditions",
                json!({"name": "x", "type": "fee"}),
            )),
            trusted(json_req(
                "condition unknown field",
                Method::POST,
                "/cart/conditions",
                json!({"name": "x", "type": "fee", "value": "+1", "amount": 1}),
            )),
            trusted(json_req(
                "condition unknown target",
                Method::POST,
                "/cart/conditions",
                json!({"name": "x", "type": "fee", "value": "+1", "target": "shipping"}),
            )),
            trusted(json_req(
                "condition order too big",
                Method::POST,
                "/cart/conditions",
                json!({"name": "x", "type": "fee", "value": "+1", "order": 1u64 << 40}),
            )),
            json_req(
                "condition without the token",
                Method::POST,
                "/cart/conditions",
                json!({"name": "x", "type": "discount", "value": "-100%"}),
            ),
            json_req("code missing", Method::POST, "/cart/codes", json!({})),
            json_req(
                "code unknown field",
                Method::POST,
                "/cart/codes",
                json!({"code": "SAVE10", "value": "-100%"}),
            ),
            json_req(
                "login unknown field",
                Method::POST,
                "/login",
                json!({"user_id": "u", "password": "p"}),
            ),
            json_req("login missing field", Method::POST, "/login", json!({})),
            raw(
                "unknown query parameter",
                Method::GET,
                "/cart?colour=red",
                None,
                b"",
            ),
            raw(
                "unknown query parameter on write",
                Method::POST,
                "/cart/items?x=1",
                json_ct,
                br#"{"id":"mug","quantity":1}"#,
            ),
        ];
        let answers = check_all(&mut client, &before, cases).await;
        let body = status_of(&answers, "missing id");
        assert_eq!(body["error"], "invalid_body", "{driver}: {body}");
        assert_eq!(body["field"], "id", "{driver}: {body}");
        for (what, field) in [
            ("a price", "price"),
            ("a name", "name"),
            ("price as number", "price"),
            ("unknown field", "colour"),
            ("conditions with the item", "conditions"),
            ("quantity as string", "quantity"),
            ("patch unknown field", "qty"),
        ] {
            let body = status_of(&answers, what);
            assert_eq!(body["field"], field, "{driver} {what}: {body}");
        }
        assert_eq!(
            status_of(&answers, "condition without the token")["error"],
            "unauthorized",
            "{driver}"
        );
        assert_eq!(
            status_of(&answers, "malformed json")["error"],
            "bad_request",
            "{driver}"
        );
        assert_eq!(
            status_of(&answers, "no content type")["error"],
            "unsupported_media_type",
            "{driver}"
        );
        assert_eq!(
            status_of(&answers, "patch quantity and delta")["field"],
            "quantity",
            "{driver}"
        );
    }
}

#[tokio::test]
async fn quantities_out_of_range() {
    for (driver, app) in apps().await {
        let (mut client, before) = client_with_cart(app).await;
        let huge = "1000000000000000000000000000000"; // 10^30
        let cases = vec![
            add_item("negative quantity", item_with("quantity", json!(-3))),
            add_item("zero quantity", item_with("quantity", json!(0))),
            add_item("quantity i64::MAX", item_with("quantity", json!(i64::MAX))),
            add_item("quantity i64::MIN", item_with("quantity", json!(i64::MIN))),
            add_item("quantity u64::MAX", item_with("quantity", json!(u64::MAX))),
            add_item(
                "quantity over the limit",
                item_with("quantity", json!(10_001)),
            ),
            add_item(
                "quantity over u32",
                item_with("quantity", json!(1u64 << 33)),
            ),
            // Adding to the existing line would pass the per-line limit.
            add_item(
                "sum over the limit",
                json!({"id": "tee", "quantity": 9_999}),
            ),
            raw(
                "quantity 10^30",
                Method::POST,
                "/cart/items",
                Some("application/json"),
                format!(r#"{{"id":"mug","quantity":{huge}}}"#).as_bytes(),
            ),
            raw(
                "delta 10^30",
                Method::PATCH,
                "/cart/items/tee",
                Some("application/json"),
                format!(r#"{{"delta":{huge}}}"#).as_bytes(),
            ),
            json_req(
                "patch quantity i64::MAX",
                Method::PATCH,
                "/cart/items/tee",
                json!({"quantity": i64::MAX}),
            ),
            json_req(
                "patch delta i64::MAX",
                Method::PATCH,
                "/cart/items/tee",
                json!({"delta": i64::MAX}),
            ),
            json_req(
                "patch quantity over the limit",
                Method::PATCH,
                "/cart/items/tee",
                json!({"quantity": 10_001}),
            ),
        ];
        let answers = check_all(&mut client, &before, cases).await;
        for what in ["negative quantity", "zero quantity"] {
            let body = status_of(&answers, what);
            assert_eq!(body["error"], "validation_error", "{driver} {what}");
            assert_eq!(body["field"], "quantity", "{driver} {what}");
        }
        for what in [
            "quantity i64::MAX",
            "quantity over the limit",
            "sum over the limit",
            "patch quantity i64::MAX",
            "patch delta i64::MAX",
        ] {
            let body = status_of(&answers, what);
            assert_eq!(body["field"], "quantity", "{driver} {what}: {body}");
            assert_eq!(body["error"], "limit_exceeded", "{driver} {what}: {body}");
            // The limit told is the configured one, whichever way the quantity came in.
            assert!(
                body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("maximum of 10000"),
                "{driver} {what}: {body}"
            );
        }
    }
}

/// A client sends no price at all: any `price` field is refused, whatever it holds. Prices enter
/// through the admin route, which takes exact money only (and changes nothing otherwise).
#[tokio::test]
async fn prices_from_clients_are_refused_and_admin_prices_are_exact_money() {
    for (driver, app) in apps().await {
        let (mut client, before) = client_with_cart(app).await;
        let mut cases = Vec::new();
        for (what, price) in [
            ("40 digits", "1234567890123456789012345678901234567890"),
            (
                "40 digits with decimals",
                "12345678901234567890123456789012345678.90",
            ),
            ("too big for i64 minor units", "999999999999999999.99"),
            ("NaN", "NaN"),
            ("inf", "inf"),
            ("exponent", "1e3"),
            ("three decimals", "10.999"),
            ("negative", "-1.00"),
            ("empty", ""),
            ("spaces", " 1.00"),
            ("comma", "1,00"),
            ("two dots", "1.0.0"),
            ("hex", "0x10"),
            ("currency object string", "USD 1.00"),
        ] {
            cases.push(add_item(
                &format!("price {what}"),
                item_with("price", json!(price)),
            ));
            cases.push(json_req(
                format!("patch price {what}"),
                Method::PATCH,
                "/cart/items/tee",
                json!({"price": price}),
            ));
            cases.push(trusted(json_req(
                format!("admin price {what}"),
                Method::PUT,
                "/admin/catalog/tee",
                json!({"price": price}),
            )));
        }
        // Even a fine price is refused from a client.
        cases.push(add_item("a fine price", item_with("price", json!("8.50"))));
        // And the admin route needs the token.
        cases.push(json_req(
            "admin price without the token",
            Method::PUT,
            "/admin/catalog/tee",
            json!({"price": "0.01"}),
        ));
        let answers = check_all(&mut client, &before, cases).await;
        for (what, body) in &answers {
            if what == "admin price without the token" {
                assert_eq!(body["error"], "unauthorized", "{driver}: {body}");
                continue;
            }
            assert_eq!(body["field"], "price", "{driver} {what}: {body}");
            assert!(
                body["detail"].as_str().unwrap().len() < 400,
                "{driver} {what}: messages stay short"
            );
        }
        // The catalogue did not move: a new tee still costs 19.90.
        let view = client.add("tee", 1).await;
        assert_eq!(view["items"][0]["price"], "19.90", "{driver}");
        assert_eq!(view["notices"], json!([]), "{driver}");
    }
}

#[tokio::test]
async fn oversized_attributes_and_bodies() {
    for (driver, app) in apps().await {
        let (mut client, before) = client_with_cart(app).await;
        let blob = |bytes: usize| "x".repeat(bytes);
        let cases = vec![
            add_item(
                "attributes over 1 MiB",
                item_with("attributes", json!({"blob": blob(MIB + MIB / 4)})),
            ),
            json_req(
                "patch attributes over 1 MiB",
                Method::PATCH,
                "/cart/items/tee",
                json!({"attributes": {"blob": blob(MIB + MIB / 4)}}),
            ),
            json_req(
                "metadata over 1 MiB",
                Method::PUT,
                "/cart/metadata/blob",
                json!(blob(MIB + MIB / 4)),
            ),
            add_item(
                "body over 2 MiB",
                item_with("attributes", json!({"blob": blob(2 * MIB + 10)})),
            ),
            json_req(
                "metadata body over 2 MiB",
                Method::PUT,
                "/cart/metadata/blob",
                json!(blob(3 * MIB)),
            ),
        ];
        let answers = check_all(&mut client, &before, cases).await;
        for what in [
            "attributes over 1 MiB",
            "patch attributes over 1 MiB",
            "metadata over 1 MiB",
        ] {
            let body = status_of(&answers, what);
            assert_eq!(body["error"], "limit_exceeded", "{driver} {what}: {body}");
            assert_eq!(body["field"], "cart_size", "{driver} {what}");
        }
        for what in ["body over 2 MiB", "metadata body over 2 MiB"] {
            let body = status_of(&answers, what);
            assert_eq!(
                body["error"], "payload_too_large",
                "{driver} {what}: {body}"
            );
        }
        // The status codes themselves.
        let answer = client
            .post(
                "/cart/items",
                item_with("attributes", json!({"blob": blob(MIB + MIB / 4)})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
        let answer = client
            .post(
                "/cart/items",
                item_with("attributes", json!({"blob": blob(2 * MIB + 10)})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(client.cart().await, before);
    }
}

#[tokio::test]
async fn instance_names_outside_the_safe_set() {
    for (driver, app) in apps().await {
        let (mut client, before) = client_with_cart(app).await;
        let long = "a".repeat(65);
        let mut cases = Vec::new();
        for (what, instance) in [
            ("dot dot slash", "../x"),
            ("encoded slash", "..%2Fdefault"),
            ("space", "wish%20list"),
            ("65 chars", long.as_str()),
            ("unicode", "%C3%A9t%C3%A9"),
            ("emoji", "%F0%9F%9B%92"),
            ("empty", ""),
            ("colon", "a:b"),
            ("nul", "a%00b"),
            ("newline", "a%0Ab"),
            ("star", "*"),
        ] {
            cases.push(raw(
                format!("get {what}"),
                Method::GET,
                &format!("/cart?instance={instance}"),
                None,
                b"",
            ));
            cases.push(json_req(
                format!("add {what}"),
                Method::POST,
                &format!("/cart/items?instance={instance}"),
                item_with("id", json!("pen")),
            ));
            cases.push(raw(
                format!("clear {what}"),
                Method::DELETE,
                &format!("/cart?instance={instance}"),
                None,
                b"",
            ));
        }
        cases.push(raw(
            "instance given twice",
            Method::GET,
            "/cart?instance=a&instance=b",
            None,
            b"",
        ));
        let answers = check_all(&mut client, &before, cases).await;
        let body = status_of(&answers, "add 65 chars");
        assert_eq!(body["field"], "instance", "{driver}: {body}");
        assert_eq!(body["error"], "limit_exceeded", "{driver}: {body}");
        let body = status_of(&answers, "add dot dot slash");
        assert_eq!(body["field"], "instance", "{driver}: {body}");
        // 64 characters is fine, and is a cart of its own.
        let ok = "b".repeat(64);
        let view = client
            .post(
                &format!("/cart/items?instance={ok}"),
                item_with("id", json!("pen")),
            )
            .await
            .ok();
        assert_eq!(view["instance"], ok.as_str());
        assert_eq!(client.cart().await, before);
    }
}

#[tokio::test]
async fn over_long_ids_and_names_name_the_field() {
    for (driver, app) in apps().await {
        let (mut client, before) = client_with_cart(app).await;
        let long = "x".repeat(256);
        let long_unicode = "é".repeat(256);
        let cases = vec![
            add_item("id 256", item_with("id", json!(long))),
            add_item("unicode id 256", item_with("id", json!(long_unicode))),
            add_item("empty id", item_with("id", json!(""))),
            add_item("name 256", item_with("name", json!(long))),
            add_item("empty name", item_with("name", json!(""))),
            json_req(
                "patch name 256",
                Method::PATCH,
                "/cart/items/tee",
                json!({"name": long}),
            ),
            trusted(json_req(
                "condition name 256",
                Method::POST,
                "/cart/conditions",
                json!({"name": long, "type": "fee", "value": "+1"}),
            )),
            trusted(json_req(
                "item condition name 256",
                Method::POST,
                "/cart/items/tee/conditions",
                json!({"name": long, "type": "fee", "value": "+1"}),
            )),
            trusted(json_req(
                "condition type 65",
                Method::POST,
                "/cart/conditions",
                json!({"name": "x", "type": "t".repeat(65), "value": "+1"}),
            )),
            trusted(json_req(
                "empty condition name",
                Method::POST,
                "/cart/conditions",
                json!({"name": "", "type": "fee", "value": "+1"}),
            )),
            trusted(json_req(
                "product id 256",
                Method::PUT,
                &format!("/admin/catalog/{long}"),
                json!({"price": "1.00", "name": "Long"}),
            )),
            trusted(json_req(
                "product name 256",
                Method::PUT,
                "/admin/catalog/tee",
                json!({"price": "1.00", "name": long}),
            )),
            trusted(json_req(
                "new product without a name",
                Method::PUT,
                "/admin/catalog/new",
                json!({"price": "1.00"}),
            )),
            json_req(
                "metadata key 256",
                Method::PUT,
                &format!("/cart/metadata/{long}"),
                json!(1),
            ),
        ];
        let answers = check_all(&mut client, &before, cases).await;
        // A client names products, the catalogue has them or not.
        for what in ["id 256", "unicode id 256", "empty id"] {
            let body = status_of(&answers, what);
            assert_eq!(
                body["error"], "product_not_found",
                "{driver} {what}: {body}"
            );
        }
        for (what, field) in [
            ("name 256", "name"),
            ("empty name", "name"),
            ("patch name 256", "name"),
            ("condition name 256", "name"),
            ("item condition name 256", "name"),
            ("condition type 65", "type"),
            ("metadata key 256", "key"),
            ("product id 256", "id"),
            ("product name 256", "name"),
            ("new product without a name", "name"),
        ] {
            let body = status_of(&answers, what);
            assert_eq!(body["field"], field, "{driver} {what}: {body}");
        }
        let body = status_of(&answers, "product id 256");
        assert_eq!(body["error"], "validation_error", "{driver}: {body}");
        assert!(body["detail"].as_str().unwrap().contains("255"), "{body}");
    }
}

#[tokio::test]
async fn bad_conditions_and_rules() {
    for (driver, app) in apps().await {
        let (mut client, before) = client_with_cart(app).await;
        let condition = |what: &str, value: Value| {
            trusted(json_req(
                format!("cart {what}"),
                Method::POST,
                "/cart/conditions",
                value,
            ))
        };
        let item_condition = |what: &str, value: Value| {
            trusted(json_req(
                format!("item {what}"),
                Method::POST,
                "/cart/items/tee/conditions",
                value,
            ))
        };
        let mut cases = Vec::new();
        for (what, body) in [
            (
                "division by zero",
                json!({"name": "d", "type": "fee", "value": "/0"}),
            ),
            (
                "division by 0.00",
                json!({"name": "d", "type": "fee", "value": "/0.00"}),
            ),
            (
                "NaN value",
                json!({"name": "d", "type": "fee", "value": "NaN"}),
            ),
            (
                "inf percent",
                json!({"name": "d", "type": "fee", "value": "inf%"}),
            ),
            (
                "empty value",
                json!({"name": "d", "type": "fee", "value": ""}),
            ),
            (
                "two operators",
                json!({"name": "d", "type": "fee", "value": "+-3"}),
            ),
            (
                "three decimals",
                json!({"name": "d", "type": "fee", "value": "+0.001"}),
            ),
            (
                "40 digit value",
                json!({"name": "d", "type": "fee", "value": format!("+{}", "9".repeat(40))}),
            ),
            (
                "unknown rule kind",
                json!({"name": "d", "type": "discount", "value": "-5%", "rules": [{"kind": "moon_phase", "value": 3}]}),
            ),
            (
                "rule with unknown field",
                json!({"name": "d", "type": "discount", "value": "-5%", "rules": [{"kind": "min_lines", "value": 3, "extra": 1}]}),
            ),
            (
                "rule amount not a number",
                json!({"name": "d", "type": "discount", "value": "-5%", "rules": [{"kind": "subtotal_at_least", "amount": "lots"}]}),
            ),
            (
                "rule min over max",
                json!({"name": "d", "type": "discount", "value": "-5%", "rules": [{"kind": "subtotal_between", "min": "10.00", "max": "1.00"}]}),
            ),
            (
                "too many rules",
                json!({"name": "d", "type": "discount", "value": "-5%", "rules": vec![json!({"kind": "min_lines", "value": 1}); 33]}),
            ),
        ] {
            cases.push(condition(what, body.clone()));
            cases.push(item_condition(what, body));
        }
        cases.push(condition(
            "item target on the cart",
            json!({"name": "d", "type": "fee", "value": "+1", "target": "item"}),
        ));
        cases.push(condition(
            "item rule on a cart condition",
            json!({"name": "d", "type": "fee", "value": "+1", "rules": [{"kind": "item_quantity_at_least", "value": 2}]}),
        ));
        cases.push(trusted(json_req(
            "condition on an unknown item",
            Method::POST,
            "/cart/items/nope/conditions",
            json!({"name": "d", "type": "fee", "value": "+1"}),
        )));
        cases.push(trusted(raw(
            "remove unknown condition",
            Method::DELETE,
            "/cart/conditions/nope",
            None,
            b"",
        )));
        // Codes: unknown, inapplicable (TENOFF needs a subtotal of 50.00; the cart has 39.80),
        // and removing one the cart does not hold.
        for (what, code) in [
            ("unknown code", "BOGUS"),
            ("inapplicable code", "TENOFF"),
            ("empty code", ""),
        ] {
            cases.push(json_req(
                what,
                Method::POST,
                "/cart/codes",
                json!({ "code": code }),
            ));
        }
        cases.push(raw(
            "remove a code not applied",
            Method::DELETE,
            "/cart/codes/SAVE10",
            None,
            b"",
        ));
        let answers = check_all(&mut client, &before, cases).await;
        for what in ["cart division by zero", "item division by zero"] {
            let body = status_of(&answers, what);
            assert_eq!(body["field"], "value", "{driver} {what}: {body}");
            assert!(
                body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("division by zero")
            );
        }
        for what in ["unknown code", "inapplicable code"] {
            let body = status_of(&answers, what);
            assert_eq!(body["error"], "invalid_code", "{driver} {what}: {body}");
        }
        let body = status_of(&answers, "remove a code not applied");
        assert_eq!(body["error"], "condition_not_found", "{driver}: {body}");
        let body = status_of(&answers, "cart unknown rule kind");
        assert!(
            body["detail"].as_str().unwrap().contains("moon_phase"),
            "{driver}: {body}"
        );
    }
}

#[tokio::test]
async fn unicode_ids_within_limits_round_trip() {
    for (driver, app) in apps().await {
        let mut client = Client::new(app);
        let ids = [
            "café-☕".to_owned(),
            "商品/42".to_owned(),
            "a b?c#d".to_owned(),
            "é".repeat(255),
            "🛒".repeat(255),
        ];
        for (n, id) in ids.iter().enumerate() {
            // The admin puts the product in the catalogue (its id percent-encoded in the path);
            // the shopper adds it by id.
            let name = format!("Crème brûlée 🍮 {n}");
            let product = client.set_product(id, &name, "1.00").await;
            assert_eq!(product["id"], id.as_str(), "{driver}");
            assert_eq!(product["name"], name.as_str(), "{driver}");
            let view = client
                .post(
                    "/cart/items",
                    json!({"id": id, "quantity": 1, "attributes": {"größe": "M"}}),
                )
                .await
                .ok();
            let line = view["items"].as_array().unwrap().last().unwrap().clone();
            assert_eq!(line["id"], id.as_str(), "{driver}");
            assert_eq!(line["name"], name.as_str(), "{driver}");
            assert_eq!(line["attributes"]["größe"], "M", "{driver}");
        }
        let view = client.cart().await;
        let stored: Vec<String> = lines(&view).into_iter().map(|(id, _)| id).collect();
        assert_eq!(stored, ids, "{driver}");

        // Path segments address them (percent-encoded).
        for id in &ids {
            let encoded = percent_encode(id);
            let view = client
                .patch(&format!("/cart/items/{encoded}"), json!({"quantity": 3}))
                .await
                .ok();
            assert_eq!(quantity(&view, id), Some(3), "{driver} {id}");
        }
        for id in &ids {
            let encoded = percent_encode(id);
            client.delete(&format!("/cart/items/{encoded}")).await.ok();
        }
        assert_eq!(client.cart().await["items"], json!([]), "{driver}");

        // Unicode metadata keys and values too.
        let view = client
            .put(
                &format!("/cart/metadata/{}", percent_encode("clé")),
                json!("värde ✓"),
            )
            .await
            .ok();
        assert_eq!(view["metadata"]["clé"], "värde ✓");
    }
}

#[tokio::test]
async fn the_html_form_routes_survive_bad_input_too() {
    for (driver, app) in apps().await {
        let (mut client, before) = client_with_cart(app).await;
        let long = format!("id={}", "x".repeat(300));
        for body in [
            "id=nope",
            "id=nope&name=B&price=0.01&quantity=1",
            "id=",
            "id=%00",
            long.as_str(),
        ] {
            let answer = client
                .send_raw(
                    Method::POST,
                    "/ui/add",
                    Some("application/x-www-form-urlencoded"),
                    body.as_bytes().to_vec(),
                )
                .await;
            assert_eq!(answer.status, StatusCode::SEE_OTHER, "{driver} {body}");
            let location = answer.headers["location"].to_str().unwrap();
            assert!(
                location.starts_with("/?error="),
                "{driver} {body}: {location}"
            );
            assert_eq!(client.cart().await, before, "{driver} {body}");
        }
        let page = client
            .get("/?error=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
            .await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.text.contains("<script>"), "the error is escaped");
        assert!(page.text.contains("&lt;script&gt;"));
    }
}

/// `{"k": {"k": ... 1}}` nested `levels` objects deep (the outer object is level 1).
fn nested(levels: usize) -> Value {
    (1..levels).fold(json!({"k": 1}), |inner, _| json!({ "k": inner }))
}

/// Input that every driver could not store alike, totals that would overflow, and too many
/// instances: 422, the cart unchanged and still readable, on every driver.
#[tokio::test]
async fn control_characters_deep_nesting_overflow_and_instances() {
    for (driver, app) in apps().await {
        let (mut client, before) = client_with_cart(app).await;
        // A product whose price fits in 64-bit minor units, but not twice, nor with a 10 % tax.
        client
            .set_product("vault", "Vault", "90000000000000000.00")
            .await;
        let mut cases = Vec::new();
        for (what, text) in [("nul", "a\u{0}b"), ("bell", "a\u{7}b"), ("newline", "a\nb")] {
            cases.push(add_item(
                &format!("attribute value {what}"),
                item_with("attributes", json!({ "note": text })),
            ));
            cases.push(add_item(
                &format!("attribute key {what}"),
                item_with("attributes", json!({ text: 1 })),
            ));
            cases.push(json_req(
                format!("patch attribute {what}"),
                Method::PATCH,
                "/cart/items/tee",
                json!({"attributes": {"note": text}}),
            ));
            cases.push(json_req(
                format!("metadata value {what}"),
                Method::PUT,
                "/cart/metadata/note",
                json!({ "inner": text }),
            ));
            cases.push(raw(
                format!("metadata key {what}"),
                Method::PUT,
                &format!("/cart/metadata/{}", percent_encode(text)),
                Some("application/json"),
                b"1",
            ));
            cases.push(trusted(json_req(
                format!("condition name {what}"),
                Method::POST,
                "/cart/conditions",
                json!({"name": text, "type": "fee", "value": "+1"}),
            )));
            cases.push(trusted(json_req(
                format!("item condition name {what}"),
                Method::POST,
                "/cart/items/tee/conditions",
                json!({"name": text, "type": "fee", "value": "+1"}),
            )));
            cases.push(trusted(json_req(
                format!("product name {what}"),
                Method::PUT,
                "/admin/catalog/tee",
                json!({"price": "1.00", "name": text}),
            )));
            cases.push(trusted(json_req(
                format!("product id {what}"),
                Method::PUT,
                &format!("/admin/catalog/{}", percent_encode(text)),
                json!({"price": "1.00", "name": "Fine"}),
            )));
        }
        cases.push(add_item(
            "attributes 33 levels deep",
            item_with("attributes", nested(33)),
        ));
        cases.push(json_req(
            "patch attributes 33 levels deep",
            Method::PATCH,
            "/cart/items/tee",
            json!({ "attributes": nested(33) }),
        ));
        cases.push(json_req(
            "metadata 33 levels deep",
            Method::PUT,
            "/cart/metadata/deep",
            nested(32),
        ));
        cases.push(add_item(
            "totals overflow with the tax",
            json!({"id": "vault", "quantity": 1}),
        ));
        cases.push(add_item(
            "line total overflow",
            json!({"id": "vault", "quantity": 2}),
        ));
        let answers = check_all(&mut client, &before, cases).await;
        for (what, body) in &answers {
            if what.contains("overflow") {
                continue;
            }
            assert!(body["field"].is_string(), "{driver} {what}: {body}");
            if what.starts_with("attribute") || what.starts_with("patch attribute") {
                assert_eq!(body["field"], "attributes", "{driver} {what}: {body}");
            }
            if what.starts_with("metadata") {
                assert_eq!(body["field"], "metadata", "{driver} {what}: {body}");
            }
        }
        for what in ["totals overflow with the tax", "line total overflow"] {
            let body = status_of(&answers, what);
            assert_eq!(body["error"], "overflow", "{driver} {what}: {body}");
        }

        // 32 levels is fine.
        client.put("/cart/metadata/deep", nested(31)).await.ok();

        // Sixteen instances per identifier; the seventeenth is refused, nothing stored.
        for n in 1..16 {
            client
                .post(&format!("/cart/items?instance=i{n}"), json!({"id": "pen"}))
                .await
                .ok();
        }
        let body = client
            .post("/cart/items?instance=i16", json!({"id": "pen"}))
            .await
            .error(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"], "limit_exceeded", "{driver}: {body}");
        assert_eq!(body["field"], "instances", "{driver}: {body}");
        let empty = client.get("/cart?instance=i16").await.ok();
        assert_eq!(empty["version"], 0, "{driver}");
        // Every stored instance reads back and totals.
        for n in 1..16 {
            let view = client.get(&format!("/cart?instance=i{n}")).await.ok();
            assert_eq!(view["total"], "0.99", "{driver}");
        }
        let view = client.cart().await;
        assert_eq!(view["items"], before["items"], "{driver}");
        assert_eq!(view["total"], before["total"], "{driver}");
    }
}
