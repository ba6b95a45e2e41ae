//! Only the shop sets prices, over HTTP on every driver (session, memory, Redis, a Redis Cluster,
//! Postgres): a price, a name or a condition a client sends never changes a total; an admin price
//! change shows a `price_changed` notice and re-prices by the price policy; discount codes apply, stack and are
//! refused when they do not hold; the trusted routes need the admin token.
//!
//! Needs `REDIS_URL` and `DATABASE_URL` (defaults: the local servers).

mod common;

use std::sync::Arc;

use axum::Router;
use axum_cart::storage::CartStorage;
use axum_cart::{CartConfig, MemoryCatalog, MemoryStorage, PricePolicy};
use common::requests::{Client, lines};
use common::shop::shop_with;
use common::{cluster, pg, redis};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use tower_sessions::MemoryStore;

/// The configuration of each driver the shop runs on, guest identifiers in the session.
async fn configs() -> Vec<(&'static str, CartConfig)> {
    let shared = |storage: Arc<dyn CartStorage>| CartConfig::new().with_shared_storage(storage);
    vec![
        ("session", CartConfig::new()),
        ("memory", shared(Arc::new(MemoryStorage::new()))),
        ("redis", shared(Arc::new(redis::fresh_storage().await))),
        (
            "redis-cluster",
            shared(Arc::new(cluster::fresh_storage().await)),
        ),
        ("postgres", shared(Arc::new(pg::fresh_storage().await))),
    ]
}

/// The shop on every driver with the admin token, and its catalogue.
async fn shops() -> Vec<(&'static str, Router, MemoryCatalog)> {
    configs()
        .await
        .into_iter()
        .map(|(driver, config)| {
            let (app, catalog) = shop_with(config);
            (driver, app, catalog)
        })
        .collect()
}

fn notice(id: &str, old: &str, new: &str) -> Value {
    json!({"kind": "price_changed", "id": id, "old": old, "new": new})
}

fn condition_names(view: &Value) -> Vec<String> {
    view["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_client_sent_price_name_or_condition_never_changes_a_total() {
    for (driver, app, _) in shops().await {
        let mut client = Client::new(app);
        let view = client.add("tee", 1).await;
        assert_eq!(view["total"], "19.90", "{driver}");

        // Fields a client may not send: 422 naming the field.
        for (field, value) in [
            ("price", json!("0.01")),
            ("name", json!("TV")),
            (
                "conditions",
                json!([{"name": "free", "type": "discount", "value": "-100%"}]),
            ),
        ] {
            let mut body = json!({"id": "lamp", "quantity": 1});
            body[field] = value.clone();
            let answer = client
                .post("/cart/items", body)
                .await
                .error(StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(answer["field"], field, "{driver}: {answer}");
            let answer = client
                .patch("/cart/items/tee", json!({"quantity": 2, field: value}))
                .await
                .error(StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(answer["field"], field, "{driver}: {answer}");
        }

        // Conditions without the token, or with another one: 401.
        let free = json!({"name": "FREE", "type": "discount", "target": "total", "value": "-100%"});
        client
            .post("/cart/conditions", free.clone())
            .await
            .error(StatusCode::UNAUTHORIZED);
        let answer = client
            .send_as(
                Some("not-the-token"),
                Method::POST,
                "/cart/conditions",
                Some("application/json"),
                serde_json::to_vec(&free).unwrap(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{driver}");
        assert_eq!(answer.headers["www-authenticate"], "Bearer");
        client
            .post("/cart/items/tee/conditions", free.clone())
            .await
            .error(StatusCode::UNAUTHORIZED);
        // A code the shop does not know is no way in either.
        let answer = client
            .post("/cart/codes", json!({"code": "FREE"}))
            .await
            .error(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(answer["error"], "invalid_code", "{driver}");
        // Nor is the admin route without the token.
        client
            .put("/admin/catalog/tee", json!({"price": "0.01"}))
            .await
            .error(StatusCode::UNAUTHORIZED);

        // The storefront form sends an id; whatever else it carries is not read.
        let answer = client
            .send_raw(
                Method::POST,
                "/ui/add",
                Some("application/x-www-form-urlencoded"),
                b"id=tee&price=0.01&name=TV".to_vec(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{driver}");

        let view = client.cart().await;
        assert_eq!(lines(&view), [("tee".into(), 2)], "{driver}");
        assert_eq!(view["items"][0]["name"], "Organic T-shirt", "{driver}");
        assert_eq!(view["items"][0]["price"], "19.90", "{driver}");
        assert_eq!(view["conditions"], json!([]), "{driver}");
        assert_eq!(view["total"], "39.80", "{driver}");
    }
}

#[tokio::test]
async fn without_an_admin_token_the_trusted_routes_do_not_exist() {
    let app = common::shop::app(CartConfig::new(), MemoryStore::default());
    let mut client = Client::new(app);
    client.add("tee", 1).await;
    for (method, uri, body) in [
        (
            Method::POST,
            "/cart/conditions",
            Some(json!({"name": "x", "type": "fee", "value": "+1"})),
        ),
        (Method::DELETE, "/cart/conditions/x", None),
        (
            Method::POST,
            "/cart/items/tee/conditions",
            Some(json!({"name": "x", "type": "fee", "value": "+1"})),
        ),
        (
            Method::PUT,
            "/admin/catalog/tee",
            Some(json!({"price": "0.01"})),
        ),
        (Method::GET, "/admin/carts/anyone", None),
    ] {
        // Not even with a token: the shop has none to compare it with.
        let answer = client.trusted(method, uri, body).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{uri}: {}",
            answer.text
        );
    }
    assert_eq!(client.cart().await["total"], "19.90");
}

#[tokio::test]
async fn an_admin_price_change_shows_a_notice_and_reprices() {
    for (driver, app, _) in shops().await {
        let mut client = Client::new(app);
        client.add("tee", 2).await;
        let view = client.add("mug", 1).await;
        assert_eq!(view["total"], "48.30", "{driver}");
        assert_eq!(view["notices"], json!([]), "{driver}");

        let product = client
            .trusted(
                Method::PUT,
                "/admin/catalog/tee",
                Some(json!({"price": "21.00"})),
            )
            .await
            .ok();
        assert_eq!(
            product,
            json!({"id": "tee", "name": "Organic T-shirt", "price": "21.00", "source": "catalog@v2"}),
            "{driver}"
        );

        // Every read tells, until a write stores the new price.
        for _ in 0..2 {
            let view = client.cart().await;
            assert_eq!(
                view["notices"],
                json!([notice("tee", "19.90", "21.00")]),
                "{driver}"
            );
            assert_eq!(view["items"][0]["price"], "21.00", "{driver}");
            assert_eq!(view["items"][0]["line_total"], "42.00", "{driver}");
            assert_eq!(view["total"], "50.50", "{driver}");
        }
        let page = client.get("/").await;
        assert!(
            page.text.contains("class=price-changed data-id=\"tee\""),
            "{driver}: {}",
            page.text
        );
        assert!(
            page.text.contains("<span class=new>21.00</span>"),
            "{driver}"
        );

        client.add("mug", 1).await;
        let view = client.cart().await;
        assert_eq!(
            view["notices"],
            json!([]),
            "{driver}: stored at the new price"
        );
        assert_eq!(view["items"][0]["price"], "21.00", "{driver}");
        assert_eq!(view["total"], "59.00", "{driver}");

        // A new visitor simply pays the new price.
        let mut other = client.stranger();
        let view = other.add("tee", 1).await;
        assert_eq!(view["total"], "21.00", "{driver}");
        assert_eq!(view["notices"], json!([]), "{driver}");

        // A product the admin creates is on sale at once, and on the storefront.
        let created = client
            .trusted(
                Method::PUT,
                "/admin/catalog/kettle",
                Some(json!({"price": "35.50", "name": "Kettle"})),
            )
            .await
            .ok();
        assert_eq!(created["price"], "35.50");
        let view = other.add("kettle", 2).await;
        assert_eq!(view["items"][1]["name"], "Kettle", "{driver}");
        assert_eq!(view["total"], "92.00", "{driver}");
        assert!(other.get("/").await.text.contains("id=\"add-kettle\""));
    }
}

#[tokio::test]
async fn each_price_policy_over_http() {
    for (driver, config) in configs().await {
        for policy in [
            PricePolicy::KeepSnapshot,
            PricePolicy::Reprice,
            PricePolicy::RepriceWithNotice,
        ] {
            let config = config.clone().with_price_policy(policy);
            let (app, catalog) = shop_with(config);
            let mut client = Client::new(app);
            client.add("cap", 2).await;
            // Behind the shop's back this time: the catalogue the shop prices from.
            let mut cap = catalog.product("cap").unwrap();
            cap.price = common::usd("12.50");
            catalog.set_product(cap);

            let view = client.cart().await;
            let (price, total, notices) = match policy {
                PricePolicy::KeepSnapshot => ("14.00", "28.00", json!([])),
                PricePolicy::Reprice => ("12.50", "25.00", json!([])),
                _ => ("12.50", "25.00", json!([notice("cap", "14.00", "12.50")])),
            };
            assert_eq!(view["items"][0]["price"], price, "{driver} {policy:?}");
            assert_eq!(view["total"], total, "{driver} {policy:?}");
            assert_eq!(view["notices"], notices, "{driver} {policy:?}");

            // Adding the product again takes the current price, whatever the policy.
            let view = client.add("cap", 1).await;
            assert_eq!(view["items"][0]["price"], "12.50", "{driver} {policy:?}");
            assert_eq!(view["total"], "37.50", "{driver} {policy:?}");
        }
    }
}

#[tokio::test]
async fn codes_apply_stack_and_are_refused_when_they_do_not_hold() {
    for (driver, app, _) in shops().await {
        let mut client = Client::new(app);
        let before = client.add("tee", 2).await;

        // 39.80 is below TENOFF's 50.00: refused, nothing written.
        let answer = client
            .post("/cart/codes", json!({"code": "TENOFF"}))
            .await
            .error(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(answer["error"], "invalid_code", "{driver}");
        assert_eq!(client.cart().await, before, "{driver}");

        // Codes match whatever their case; the condition is named by the code.
        let view = client
            .post("/cart/codes", json!({"code": "save10"}))
            .await
            .ok();
        assert_eq!(condition_names(&view), ["SAVE10"], "{driver}");
        assert_eq!(view["total"], "35.82", "{driver}");
        // Applying it again changes nothing in the totals.
        let view = client
            .post("/cart/codes", json!({"code": "SAVE10"}))
            .await
            .ok();
        assert_eq!(condition_names(&view), ["SAVE10"], "{driver}");
        assert_eq!(view["total"], "35.82", "{driver}");

        // 39.80 + 2 × 8.50 = 56.80; less 10 % is 51.12; less 10.00 is 41.12.
        client.add("mug", 2).await;
        let view = client
            .post("/cart/codes", json!({"code": "TENOFF"}))
            .await
            .ok();
        assert_eq!(condition_names(&view), ["SAVE10", "TENOFF"], "{driver}");
        assert_eq!(view["subtotal_without_conditions"], "56.80", "{driver}");
        assert_eq!(view["subtotal"], "41.12", "{driver}");
        assert_eq!(view["total"], "41.12", "{driver}");
        assert_eq!(view["savings"], "15.68", "{driver}");

        // Below 50.00 again, TENOFF stays in the cart but no longer applies.
        let view = client.delete("/cart/items/mug").await.ok();
        assert_eq!(condition_names(&view), ["SAVE10", "TENOFF"], "{driver}");
        assert_eq!(view["total"], "35.82", "{driver}");
        let steps: Vec<&str> = view["breakdown"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["condition"].as_str().unwrap())
            .collect();
        assert_eq!(steps, ["SAVE10"], "{driver}");

        // Removing codes; a condition that is not a code is not removed through this route.
        client
            .add_condition(
                json!({"name": "tax", "type": "tax", "target": "total", "value": "+10%"}),
            )
            .await;
        let view = client.delete("/cart/codes/tenoff").await.ok();
        assert_eq!(condition_names(&view), ["SAVE10", "tax"], "{driver}");
        let answer = client
            .delete("/cart/codes/TENOFF")
            .await
            .error(StatusCode::NOT_FOUND);
        assert_eq!(answer["error"], "condition_not_found", "{driver}");
        client
            .delete("/cart/codes/tax")
            .await
            .error(StatusCode::NOT_FOUND);
        let view = client.delete("/cart/codes/SAVE10").await.ok();
        assert_eq!(condition_names(&view), ["tax"], "{driver}");
        assert_eq!(view["total"], "43.78", "{driver}");

        // Codes belong to one instance.
        client.add("lamp", 1).await;
        client
            .post("/cart/items?instance=gifts", json!({"id": "lamp"}))
            .await
            .ok();
        let gifts = client
            .post("/cart/codes?instance=gifts", json!({"code": "TENOFF"}))
            .await
            .ok();
        assert_eq!(gifts["total"], "139.00", "{driver}");
        assert_eq!(condition_names(&client.cart().await), ["tax"], "{driver}");

        // The storefront lists the codes a cart holds.
        client
            .post("/cart/codes", json!({"code": "SAVE10"}))
            .await
            .ok();
        let page = client.get("/").await.text;
        assert!(page.contains("data-code=\"SAVE10\""), "{driver}: {page}");
        assert!(!page.contains("data-code=\"tax\""), "{driver}");
    }
}

#[tokio::test]
async fn admin_reads_carts_by_identifier_outside_the_visitors_request() {
    for (driver, app, _) in shops().await {
        let mut client = Client::new(app.clone());
        let view = client.add("poster", 3).await;
        client
            .post(
                "/cart/items?instance=wishlist",
                json!({"id": "lamp", "quantity": 1}),
            )
            .await
            .ok();
        let identifier = view["identifier"].as_str().unwrap().to_owned();

        // Another client, no cookie of the visitor's: the admin token is what lets it in.
        let mut admin = Client::new(app);
        let uri = format!("/admin/carts/{identifier}");
        admin.get(&uri).await.error(StatusCode::UNAUTHORIZED);
        let answer = admin.trusted(Method::GET, &uri, None).await;
        if driver == "session" {
            let body = answer.error(StatusCode::UNPROCESSABLE_ENTITY);
            assert!(
                body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("only inside that visitor's request"),
                "{body}"
            );
            continue;
        }
        let seen = answer.ok();
        assert_eq!(seen, client.cart().await, "{driver}");
        assert_eq!(seen["total"], "36.00", "{driver}");
        let wish = admin
            .trusted(Method::GET, &format!("{uri}?instance=wishlist"), None)
            .await
            .ok();
        assert_eq!(lines(&wish), [("lamp".into(), 1)], "{driver}");
        // An identifier nobody uses is an empty cart.
        let empty = admin
            .trusted(Method::GET, "/admin/carts/nobody", None)
            .await
            .ok();
        assert_eq!(empty["version"], 0, "{driver}");
    }
}

#[tokio::test]
async fn savings_count_discounts_only_never_taxes_fees_or_shipping() {
    for (driver, app, _) in shops().await {
        let mut client = Client::new(app);
        client.set_product("scarf", "Silk scarf", "19.99").await;
        client.add("scarf", 3).await;
        client
            .add_condition(json!({"name": "TENPCT", "type": "discount", "target": "subtotal", "value": "-10%"}))
            .await;
        let view = client
            .add_condition(
                json!({"name": "VAT", "type": "tax", "target": "total", "value": "+8.25%"}),
            )
            .await;
        // 59.97 - 10 % = 53.97 (6.00 saved); + 8.25 % tax = 58.42.
        assert_eq!(view["subtotal"], "53.97", "{driver}");
        assert_eq!(view["total"], "58.42", "{driver}");
        assert_eq!(view["savings"], "6.00", "{driver}");

        let view = client
            .add_condition(json!({"name": "Shipping", "type": "shipping", "target": "total", "value": "+20.00"}))
            .await;
        assert_eq!(view["total"], "78.42", "{driver}");
        assert_eq!(
            view["savings"], "6.00",
            "{driver}: shipping saves nothing and takes nothing"
        );
    }
}
