//! The HTTP API of the example shop (`/cart`, its items, conditions and metadata, `/login` and
//! `/logout`), through the real router: with `oneshot` (cookies carried by hand) and with a real
//! server and a cookie-keeping reqwest client.

mod common;

use axum_cart::storage::CartStorage;
use axum_cart::{CartConfig, CartEventKind, MemoryStorage, MergeStrategy};
use common::events::{kinds, recording, take};
use common::requests::{Client, assert_json_error, browser, lines, quantity, serve};
use common::shop::{ADMIN_TOKEN, admin_shop, cookie_config, cookie_shop, session_shop};
use http::StatusCode;
use serde_json::{Value, json};
use tower_sessions::MemoryStore;

/// A line as a client adds it: a catalogue id and a quantity (the shop sets name and price).
fn item(id: &str, quantity: i64) -> Value {
    json!({"id": id, "quantity": quantity})
}

// ----- items, quantities, totals ------------------------------------------------------------------

/// The add / update / remove walk-through, shared by the oneshot and the real-server tests.
async fn items_walkthrough(client: &mut Client) {
    let empty = client.cart().await;
    assert_eq!(empty["count"], 0);
    assert_eq!(empty["version"], 0);

    // The catalogue prices every line: tee 19.90, cap 14.00, mug 8.50, socks 6.25.
    let first = client.add("tee", 2).await["version"].as_u64().unwrap();
    client.add("cap", 3).await;
    let view = client.add("mug", 1).await;
    assert_eq!(view["count"], 6);
    assert_eq!(view["lines"], 3);
    assert_eq!(view["subtotal"], "90.30");
    assert_eq!(view["total"], "90.30");
    assert_eq!(view["currency"], "USD");
    assert_eq!(view["version"], first + 2, "one version per change");
    assert_eq!(
        lines(&view),
        [("tee".into(), 2), ("cap".into(), 3), ("mug".into(), 1)]
    );
    assert_eq!(view["items"][0]["line_total"], "39.80");
    assert_eq!(view["items"][0]["price"], "19.90");
    assert_eq!(view["items"][0]["name"], "Organic T-shirt");

    let view = client.add("socks", 1).await;
    assert_eq!(view["subtotal"], "96.55");
    assert_eq!(view["count"], 7);

    let view = client.delete("/cart/items/cap").await.ok();
    assert_eq!(view["subtotal"], "54.55");
    assert_eq!(view["lines"], 3);
    assert_eq!(quantity(&view, "cap"), None);

    // Adding an existing id adds the quantities, at the catalogue's name and price.
    let view = client.add("tee", 1).await;
    assert_eq!(quantity(&view, "tee"), Some(3));
    assert_eq!(view["items"][0]["name"], "Organic T-shirt");
    assert_eq!(view["items"][0]["line_total"], "59.70");

    // PATCH: absolute, relative, and to zero (removes the line).
    let view = client
        .patch("/cart/items/tee", json!({"quantity": 5}))
        .await
        .ok();
    assert_eq!(quantity(&view, "tee"), Some(5));
    let view = client
        .patch("/cart/items/tee", json!({"delta": -2}))
        .await
        .ok();
    assert_eq!(quantity(&view, "tee"), Some(3));
    let view = client
        .patch("/cart/items/tee", json!({"delta": 4}))
        .await
        .ok();
    assert_eq!(quantity(&view, "tee"), Some(7));
    let view = client
        .patch(
            "/cart/items/mug",
            json!({"quantity": 2, "attributes": {"colour": "blue"}}),
        )
        .await
        .ok();
    let mug = &view["items"][1];
    assert_eq!(
        (mug["name"].as_str(), mug["line_total"].as_str()),
        (Some("Enamel mug"), Some("17.00"))
    );
    assert_eq!(mug["attributes"], json!({"colour": "blue"}));
    // A client renames or re-prices nothing.
    for (field, value) in [("name", "Cherries"), ("price", "0.01")] {
        let body = client
            .patch("/cart/items/mug", json!({"quantity": 1, field: value}))
            .await
            .error(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["field"], field, "{body}");
    }
    let view = client
        .patch("/cart/items/tee", json!({"quantity": 0}))
        .await
        .ok();
    assert_eq!(quantity(&view, "tee"), None);
    let view = client
        .patch("/cart/items/mug", json!({"delta": -2}))
        .await
        .ok();
    assert_eq!(lines(&view), [("socks".into(), 1)]);
    assert_eq!(view["total"], "6.25");

    // Unknown ids: 404 with a JSON error, cart unchanged.
    let before = client.cart().await;
    let body = client
        .patch("/cart/items/nope", json!({"quantity": 1}))
        .await
        .error(StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "item_not_found");
    client
        .delete("/cart/items/nope")
        .await
        .error(StatusCode::NOT_FOUND);
    assert_eq!(client.cart().await, before);
}

#[tokio::test]
async fn items_add_update_remove_with_exact_totals_session_mode() {
    let mut client = Client::new(session_shop());
    items_walkthrough(&mut client).await;
}

#[tokio::test]
async fn items_add_update_remove_with_exact_totals_cookie_mode() {
    let mut client = Client::new(cookie_shop(MemoryStorage::new()));
    items_walkthrough(&mut client).await;
    assert!(
        client.cookies.contains_key("cart_id"),
        "{:?}",
        client.cookies
    );
}

#[tokio::test]
async fn cart_conditions_apply_to_the_subtotal_and_can_be_removed() {
    let mut client = Client::new(session_shop());
    // 10 × cap 14.00 + 5 × poster 12.00 = 200.00.
    client.add("cap", 10).await;
    client.add("poster", 5).await;
    client
        .add_condition(json!({"name": "tax", "type": "tax", "target": "subtotal", "value": "+10%"}))
        .await;
    let view = client
        .add_condition(json!({"name": "handling", "type": "fee", "target": "subtotal", "value": "+5.99", "order": 1}))
        .await;
    assert_eq!(view["subtotal_without_conditions"], "200.00");
    assert_eq!(view["subtotal"], "225.99");
    assert_eq!(view["total"], "225.99");
    assert_eq!(view["savings"], "0.00");
    assert_eq!(view["conditions"].as_array().unwrap().len(), 2);

    // A worked example: 200.00 less 10 % on the subtotal is 180.00; plus 15 % (207.00) and then
    // 9.99 on the total is 216.99.
    client
        .trusted(http::Method::DELETE, "/cart/conditions/tax", None)
        .await
        .ok();
    client
        .trusted(http::Method::DELETE, "/cart/conditions/handling", None)
        .await
        .ok();
    client
        .add_condition(
            json!({"name": "sale", "type": "discount", "target": "subtotal", "value": "-10%"}),
        )
        .await;
    client
        .add_condition(json!({"name": "vat", "type": "tax", "target": "total", "value": "+15%"}))
        .await;
    let view = client
        .add_condition(json!({"name": "ship", "type": "shipping", "target": "total", "value": "+9.99", "order": 5}))
        .await;
    assert_eq!(view["subtotal"], "180.00");
    assert_eq!(view["total"], "216.99");

    // Re-adding a name replaces the condition in place.
    let view = client
        .add_condition(
            json!({"name": "sale", "type": "discount", "target": "subtotal", "value": "-20%"}),
        )
        .await;
    assert_eq!(view["conditions"].as_array().unwrap().len(), 3);
    assert_eq!(view["conditions"][0]["name"], "sale");
    assert_eq!(view["subtotal"], "160.00");

    let body = client
        .trusted(http::Method::DELETE, "/cart/conditions/nope", None)
        .await
        .error(StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "condition_not_found");

    // Without the admin token the condition routes answer 401 and change nothing.
    let before = client.cart().await;
    let body = client
        .delete("/cart/conditions/sale")
        .await
        .error(StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "unauthorized");
    client
        .post(
            "/cart/conditions",
            json!({"name": "free", "type": "discount", "value": "-100%"}),
        )
        .await
        .error(StatusCode::UNAUTHORIZED);
    assert_eq!(client.cart().await, before);
}

#[tokio::test]
async fn item_conditions_apply_in_order_to_the_unit_price() {
    let mut client = Client::new(session_shop());
    // A product at 100.00, created through the admin route.
    client
        .set_product("voucher", "Gift voucher", "100.00")
        .await;
    client.add("voucher", 1).await;
    client
        .trusted(
            http::Method::POST,
            "/cart/items/voucher/conditions",
            Some(json!({"name": "promo", "type": "discount", "value": "-15%"})),
        )
        .await
        .ok();
    let view = client
        .trusted(
            http::Method::POST,
            "/cart/items/voucher/conditions",
            Some(json!({"name": "gift-wrap", "type": "fee", "value": "+20%"})),
        )
        .await
        .ok();
    assert_eq!(view["items"][0]["line_total"], "102.00");
    assert_eq!(view["items"][0]["conditions"].as_array().unwrap().len(), 2);
    assert_eq!(view["subtotal"], "102.00");

    // Two caps at 14.00: -15 % is 11.90, then +20 % is 14.28 a unit.
    client.add("cap", 2).await;
    for condition in [
        json!({"name": "promo", "type": "discount", "value": "-15%"}),
        json!({"name": "wrap", "type": "fee", "value": "+20%"}),
    ] {
        client
            .trusted(
                http::Method::POST,
                "/cart/items/cap/conditions",
                Some(condition),
            )
            .await
            .ok();
    }
    let view = client.cart().await;
    assert_eq!(view["items"][1]["line_total"], "28.56");
    assert_eq!(view["subtotal"], "130.56");
    assert_eq!(view["subtotal_without_conditions"], "128.00");

    client
        .trusted(
            http::Method::POST,
            "/cart/items/nope/conditions",
            Some(json!({"name": "promo", "type": "discount", "value": "-15%"})),
        )
        .await
        .error(StatusCode::NOT_FOUND);
    // Without the token: 401, whether the item exists or not.
    let before = client.cart().await;
    for uri in ["/cart/items/cap/conditions", "/cart/items/nope/conditions"] {
        client
            .post(
                uri,
                json!({"name": "free", "type": "discount", "value": "-100%"}),
            )
            .await
            .error(StatusCode::UNAUTHORIZED);
    }
    assert_eq!(client.cart().await, before);
}

#[tokio::test]
async fn metadata_survives_item_changes_and_clear_empties_everything() {
    let mut client = Client::new(session_shop());
    client.add("pen", 1).await;
    client
        .put("/cart/metadata/note", json!("leave at the door"))
        .await
        .ok();
    let view = client
        .put("/cart/metadata/gift", json!({"to": "Ada", "wrap": true}))
        .await
        .ok();
    assert_eq!(view["metadata"]["note"], "leave at the door");
    assert_eq!(view["metadata"]["gift"]["wrap"], true);

    client.add("mug", 1).await;
    client.delete("/cart/items/pen").await.ok();
    let view = client.cart().await;
    let last = view["version"].as_u64().unwrap();
    assert_eq!(view["metadata"]["gift"]["to"], "Ada");
    assert_eq!(view["metadata"]["note"], "leave at the door");

    client
        .add_condition(json!({"name": "c", "type": "fee", "target": "total", "value": "+1.00"}))
        .await;
    let cleared = client.delete("/cart").await.ok();
    assert_eq!(cleared["items"], json!([]));
    assert_eq!(cleared["conditions"], json!([]));
    assert_eq!(cleared["metadata"], json!({}));
    assert_eq!(cleared["version"], 0);
    assert_eq!(cleared["total"], "0.00");
    assert_eq!(client.cart().await, cleared);

    // The cart works again after a clear, as a new cart whose versions never repeat the old one's
    // (so a writer that read the cleared cart cannot overwrite it).
    let view = client.add("cap", 1).await;
    let again = view["version"].as_u64().unwrap();
    assert!(again > last, "version {again} after a clear, {last} before");
    assert_eq!(view["identifier"], cleared["identifier"]);
    let view = client.add("cap", 1).await;
    assert_eq!(view["version"], again + 1);
}

// ----- persistence and isolation ------------------------------------------------------------------

#[tokio::test]
async fn a_cart_persists_across_requests_and_two_clients_never_share_one() {
    for (mode, app) in [
        ("session", session_shop()),
        ("cookie", cookie_shop(MemoryStorage::new())),
    ] {
        let mut alice = Client::new(app.clone());
        let mut bob = Client::new(app);
        let first = alice.add("pen", 2).await["version"].as_u64().unwrap();
        bob.add("mug", 1).await;
        alice.add("pen", 1).await;

        let a = alice.cart().await;
        let b = bob.cart().await;
        assert_eq!(lines(&a), [("pen".into(), 3)], "{mode}");
        assert_eq!(lines(&b), [("mug".into(), 1)], "{mode}");
        assert_ne!(a["identifier"], b["identifier"], "{mode}");
        assert_eq!(a["version"], first + 1, "{mode}: bob's cart is not alice's");

        // A visitor without cookies is a new visitor.
        let mut stranger = alice.stranger();
        assert_eq!(stranger.cart().await["items"], json!([]), "{mode}");
    }
}

#[tokio::test]
async fn the_cart_cookie_is_signed_httponly_and_lax_and_refreshed_only_by_writes() {
    let mut client = Client::new(cookie_shop(MemoryStorage::new()));
    let first = client.post("/cart/items", item("pen", 1)).await;
    let set = first.set_cookie("cart_id").expect("a cart cookie");
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Lax"), "{set}");
    assert!(!set.contains("Secure"), "{set}");
    assert!(set.contains("Path=/"), "{set}");
    let identifier = first.json["identifier"].as_str().unwrap().to_owned();
    let value = client.cookies["cart_id"].clone();
    assert!(value.ends_with(&identifier), "signed value carries the id");
    assert_ne!(value, identifier, "the value is signed");

    assert!(set.contains("Max-Age=2592000"), "{set}");

    // A read sets nothing; a later write refreshes the cookie's Max-Age, same cart.
    let read = client.get("/cart").await;
    assert_eq!(read.set_cookie("cart_id"), None, "a read sets no cookie");
    let again = client.post("/cart/items", item("mug", 1)).await;
    assert_eq!(again.status, StatusCode::OK);
    let refreshed = again.set_cookie("cart_id").expect("refreshed on a write");
    assert!(refreshed.contains("Max-Age=2592000"), "{refreshed}");
    assert!(refreshed.contains("HttpOnly"), "{refreshed}");
    assert_eq!(again.json["identifier"], identifier.as_str());
    assert!(client.cookies["cart_id"].ends_with(&identifier));
}

fn flip(text: &str, at: usize) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn a_tampered_or_forged_cookie_gets_a_fresh_cart_never_the_victims() {
    let storage = MemoryStorage::new();
    let app = cookie_shop(storage.clone());
    let mut victim = Client::new(app.clone());
    let view = victim.add("lamp", 1).await;
    let victim_id = view["identifier"].as_str().unwrap().to_owned();
    let victim_version = view["version"].as_u64().unwrap();
    let signed = victim.cookies["cart_id"].clone();

    // Another key's signature on the victim's identifier.
    let mut jar = cookie::CookieJar::new();
    jar.signed_mut(&cookie::Key::generate())
        .add(cookie::Cookie::new("cart_id", victim_id.clone()));
    let foreign_value = jar.get("cart_id").unwrap().value().to_owned();

    let forgeries = [
        ("flipped signature char", flip(&signed, 5)),
        ("flipped identifier char", flip(&signed, signed.len() - 3)),
        ("unsigned well-formed id", victim_id.clone()),
        ("another key's signature", foreign_value),
        ("garbage", "%%%not-a-cookie".to_owned()),
        ("empty", String::new()),
        ("truncated", signed[..signed.len() - 1].to_owned()),
    ];
    for (what, value) in forgeries {
        assert_ne!(value, signed, "{what}");
        let mut attacker = Client::new(app.clone());
        attacker.cookies.insert("cart_id".into(), value);
        let view = attacker.get("/cart").await.ok();
        assert_eq!(view["items"], json!([]), "{what}: {view}");
        assert_eq!(view["version"], 0, "{what}");
        assert_ne!(view["identifier"], victim_id.as_str(), "{what}");

        // Writing with the forged cookie makes the attacker their own cart.
        let view = attacker.post("/cart/items", item("lamp", 5)).await.ok();
        assert_eq!(lines(&view), [("lamp".into(), 5)], "{what}");
        assert_ne!(view["identifier"], victim_id.as_str(), "{what}");
        let fresh = attacker.cookies["cart_id"].clone();
        assert_ne!(
            fresh, signed,
            "{what}: a new signed cookie replaced the forged one"
        );
        assert_eq!(attacker.cart().await["identifier"], view["identifier"]);
    }

    // The victim's cart is untouched.
    let view = victim.cart().await;
    assert_eq!(lines(&view), [("lamp".into(), 1)]);
    assert_eq!(view["version"], victim_version);
    assert_eq!(view["identifier"], victim_id.as_str());
    assert_eq!(
        storage.instances(&victim_id).await.unwrap(),
        vec!["default".to_owned()]
    );
}

#[tokio::test]
async fn a_forged_session_cookie_gets_a_fresh_cart() {
    let mut victim = Client::new(session_shop());
    victim.add("pen", 1).await;
    let session_id = victim.cookies["id"].clone();
    for forged in [flip(&session_id, 3), "garbage".to_owned(), String::new()] {
        let mut attacker = victim.clone();
        attacker.cookies.insert("id".into(), forged);
        let view = attacker.cart().await;
        assert_eq!(view["items"], json!([]));
    }
    assert_eq!(lines(&victim.cart().await), [("pen".into(), 1)]);
}

#[tokio::test]
async fn instances_are_independent_carts() {
    for app in [session_shop(), cookie_shop(MemoryStorage::new())] {
        let mut client = Client::new(app);
        client.add("pen", 1).await;
        let wish = client
            .post("/cart/items?instance=wishlist", item("lamp", 2))
            .await
            .ok();
        assert_eq!(wish["instance"], "wishlist");
        assert_eq!(lines(&wish), [("lamp".into(), 2)]);

        let default = client.cart().await;
        assert_eq!(default["instance"], "default");
        assert_eq!(lines(&default), [("pen".into(), 1)]);
        assert_eq!(default["identifier"], wish["identifier"]);

        client
            .put("/cart/metadata/k?instance=wishlist", json!(1))
            .await
            .ok();
        assert_eq!(client.cart().await["metadata"], json!({}));

        let cleared = client.delete("/cart?instance=wishlist").await.ok();
        assert_eq!(cleared["items"], json!([]));
        assert_eq!(lines(&client.cart().await), [("pen".into(), 1)]);
        assert_eq!(
            client.get("/cart?instance=default").await.ok()["items"][0]["id"],
            "pen"
        );
        client
            .delete("/cart/items/lamp?instance=default")
            .await
            .error(StatusCode::NOT_FOUND);
    }
}

// ----- login, merge, logout -----------------------------------------------------------------------

async fn login(client: &mut Client, user: &str) -> Value {
    client.post("/login", json!({"user_id": user})).await.ok()
}

#[tokio::test]
async fn login_merges_the_guest_cart_with_each_strategy() {
    let cases = [
        (
            MergeStrategy::AddQuantities,
            vec![("cap", 4), ("mug", 1), ("tee", 5)],
        ),
        (
            MergeStrategy::KeepHighestQuantity,
            vec![("cap", 4), ("mug", 1), ("tee", 3)],
        ),
        (
            MergeStrategy::KeepUserCart,
            vec![("cap", 4), ("mug", 1), ("tee", 2)],
        ),
        (
            MergeStrategy::ReplaceWithGuest,
            vec![("cap", 4), ("tee", 3)],
        ),
    ];
    for (strategy, expected) in cases {
        let storage = MemoryStorage::new();
        let config = CartConfig::new()
            .with_storage(storage.clone())
            .with_merge_strategy(strategy);
        let app = admin_shop(config);

        // An existing user cart: tee×2, mug×1 (logged in on another device, then logged out).
        let mut device = Client::new(app.clone());
        let user_view = login(&mut device, "alice").await;
        assert_eq!(user_view["identifier"], "user:alice");
        device.add("tee", 2).await;
        device.add("mug", 1).await;
        device.post("/logout", json!({})).await.ok();

        // A guest cart: tee×3, cap×4, plus a wishlist instance.
        let mut guest = Client::new(app.clone());
        let guest_view = guest.add("tee", 3).await;
        guest.add("cap", 4).await;
        guest
            .post("/cart/items?instance=wishlist", item("lamp", 1))
            .await
            .ok();
        let guest_id = guest_view["identifier"].as_str().unwrap().to_owned();
        assert_eq!(
            storage.instances(&guest_id).await.unwrap(),
            ["default", "wishlist"]
        );

        let merged = login(&mut guest, "alice").await;
        let expected: Vec<(String, u64)> = expected
            .iter()
            .map(|(id, q)| (id.to_string(), *q))
            .collect();
        let mut got = lines(&merged);
        got.sort();
        assert_eq!(got, expected, "{strategy}");
        assert_eq!(merged["identifier"], "user:alice", "{strategy}");

        // The guest carts are gone, every instance moved to the user.
        assert!(
            storage.instances(&guest_id).await.unwrap().is_empty(),
            "{strategy}"
        );
        let wish = guest.get("/cart?instance=wishlist").await.ok();
        assert_eq!(lines(&wish), [("lamp".into(), 1)], "{strategy}");
        assert_eq!(wish["identifier"], "user:alice");

        // Later requests see the user cart; a second login merges nothing.
        let now = guest.cart().await;
        assert_eq!(now["identifier"], "user:alice");
        let again = login(&mut guest, "alice").await;
        let mut got_again = lines(&again);
        got_again.sort();
        assert_eq!(got_again, expected, "{strategy}: second login");
        assert_eq!(
            again["version"], now["version"],
            "{strategy}: nothing written"
        );

        // The other device sees the merged cart after logging in again.
        let mut got_device = lines(&login(&mut device, "alice").await);
        got_device.sort();
        assert_eq!(got_device, expected, "{strategy}: other device");
    }
}

#[tokio::test]
async fn login_in_session_mode_keeps_the_guest_items() {
    let mut client = Client::new(session_shop());
    let guest = client.add("tee", 2).await;
    let session_before = client.cookies["id"].clone();
    let user = login(&mut client, "bob").await;
    assert_eq!(user["identifier"], "user:bob");
    assert_eq!(lines(&user), [("tee".into(), 2)]);
    assert_ne!(
        client.cookies["id"], session_before,
        "login rotates the session id"
    );
    let view = client.cart().await;
    assert_eq!(view["identifier"], "user:bob");
    assert_eq!(lines(&view), [("tee".into(), 2)]);
    assert_ne!(view["identifier"], guest["identifier"]);
    // Logging in twice does not double.
    assert_eq!(lines(&login(&mut client, "bob").await), [("tee".into(), 2)]);
    // With the session driver, logout wipes the session and its carts.
    client.post("/logout", json!({})).await.ok();
    assert_eq!(client.cart().await["items"], json!([]));
}

/// Session fixation: whoever holds the session id from before the login (planted in the victim's
/// browser, or read before it) must not ride the logged-in session. Replaying it after the login
/// reaches neither the user's cart nor the guest cart it carried: it is a stranger's new session.
#[tokio::test]
async fn the_session_id_from_before_the_login_reaches_no_cart_after_it() {
    let storage = MemoryStorage::new();
    for (mode, app, stored) in [
        ("session driver", session_shop(), None),
        (
            "memory driver, session identifiers",
            admin_shop(CartConfig::new().with_storage(storage.clone())),
            Some(&storage),
        ),
    ] {
        let mut victim = Client::new(app);
        let guest = victim.add("tee", 2).await;
        let guest_id = guest["identifier"].as_str().unwrap().to_owned();
        let planted = victim.cookies["id"].clone();
        let user = login(&mut victim, "bob").await;
        assert_eq!(user["identifier"], "user:bob", "{mode}");
        assert_ne!(
            victim.cookies["id"], planted,
            "{mode}: login rotates the session id"
        );

        let mut attacker = victim.clone();
        attacker.cookies.insert("id".into(), planted.clone());
        let seen = attacker.cart().await;
        assert_eq!(seen["items"], json!([]), "{mode}: {seen}");
        assert_eq!(seen["version"], 0, "{mode}: {seen}");
        assert_ne!(seen["identifier"], "user:bob", "{mode}: the user's cart");
        assert_ne!(
            seen["identifier"],
            guest_id.as_str(),
            "{mode}: the guest's cart"
        );

        // Writing with the old id makes the attacker a cart of their own, touching neither.
        let written = attacker.add("lamp", 1).await;
        assert_eq!(lines(&written), [("lamp".into(), 1)], "{mode}");
        assert_ne!(written["identifier"], "user:bob", "{mode}");
        assert_ne!(written["identifier"], guest_id.as_str(), "{mode}");
        let mine = victim.cart().await;
        assert_eq!(mine["identifier"], "user:bob", "{mode}");
        assert_eq!(lines(&mine), [("tee".into(), 2)], "{mode}");
        assert_eq!(
            mine["version"], user["version"],
            "{mode}: the user's cart was not written"
        );
        if let Some(storage) = stored {
            assert_eq!(
                storage.instances(&guest_id).await.unwrap(),
                Vec::<String>::new(),
                "{mode}: the merged guest cart stays gone"
            );
            assert_eq!(
                storage.instances("user:bob").await.unwrap(),
                ["default"],
                "{mode}"
            );
        }
    }
}

#[tokio::test]
async fn login_in_cookie_mode_merges_and_drops_the_guest_cookie() {
    let storage = MemoryStorage::new();
    let mut client = Client::new(cookie_shop(storage.clone()));
    let guest = client.add("tee", 2).await;
    let guest_id = guest["identifier"].as_str().unwrap().to_owned();
    assert!(client.cookies.contains_key("cart_id"));

    let answer = client.post("/login", json!({"user_id": "frank"})).await;
    let removal = answer
        .set_cookie("cart_id")
        .expect("the guest cookie is removed");
    assert!(
        removal.to_ascii_lowercase().contains("max-age=0"),
        "{removal}"
    );
    let user = answer.ok();
    assert_eq!(lines(&user), [("tee".into(), 2)]);
    assert!(!client.cookies.contains_key("cart_id"));
    assert!(storage.instances(&guest_id).await.unwrap().is_empty());

    // Replaying the old guest cookie while logged in brings nothing back twice.
    client.cookies.insert(
        "cart_id".into(),
        guest_id.clone(), // unsigned: ignored anyway
    );
    assert_eq!(lines(&client.cart().await), [("tee".into(), 2)]);
}

/// A resolver that trusts an `x-user` header (a stand-in for an auth layer).
fn header_user(parts: &http::request::Parts) -> Option<String> {
    parts
        .headers
        .get("x-user")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[tokio::test]
async fn a_resolver_that_starts_yielding_a_user_merges_the_guest_cart_once() {
    use axum::routing::get;
    use axum_cart::{AddItem, Cart, CartError, CartLayer, CartView};

    async fn show(cart: Cart) -> Result<axum::Json<CartView>, CartError> {
        Ok(axum::Json(cart.view().await?))
    }
    async fn add(
        cart: Cart,
        axum::Json(input): axum::Json<AddItem>,
    ) -> Result<axum::Json<CartView>, CartError> {
        cart.add_product(input).await?;
        Ok(axum::Json(cart.view().await?))
    }

    let storage = MemoryStorage::new();
    let (config, events) = recording(
        cookie_config(storage.clone())
            .with_catalog(common::shop::shop_catalog())
            .with_user_resolver(header_user),
    );
    let app = axum::Router::new()
        .route("/cart", get(show))
        .route("/cart/items", axum::routing::post(add))
        .layer(CartLayer::new(config));

    let mut guest = Client::new(app.clone());
    guest.add("tee", 3).await;
    let guest_id = guest.cart().await["identifier"]
        .as_str()
        .unwrap()
        .to_owned();
    take(&events);

    let request = |client: &Client| {
        let mut builder = http::Request::get("/cart").header("x-user", "gina");
        if let Some(cookies) = client.cookie_header() {
            builder = builder.header(http::header::COOKIE, cookies);
        }
        builder.body(axum::body::Body::empty()).unwrap()
    };
    use tower::ServiceExt;
    let response = app.clone().oneshot(request(&guest)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let removal = response
        .headers()
        .get_all(http::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("cart_id="))
        .expect("guest cookie removed");
    assert!(
        removal.to_ascii_lowercase().contains("max-age=0"),
        "{removal}"
    );
    let got = take(&events);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(matches!(got[1].kind, CartEventKind::Merged { .. }));
    assert!(storage.instances(&guest_id).await.unwrap().is_empty());
    let user = storage
        .load(&axum_cart::storage::CartKey::new("user:gina", "default"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.value.get("tee").unwrap().quantity(), 3);
    // The merge created the user's cart: one write.
    assert_eq!(got[0].kind, CartEventKind::Created);
    assert_eq!(got[0].version, user.version);
    assert_eq!(got[1].version, user.version);
    let merged = user.version;

    // A client that keeps sending the stale guest cookie merges nothing more.
    let response = app.clone().oneshot(request(&guest)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(take(&events).is_empty());
    let user = storage
        .load(&axum_cart::storage::CartKey::new("user:gina", "default"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.value.get("tee").unwrap().quantity(), 3);
    assert_eq!(user.version, merged, "nothing written");
}

#[tokio::test]
async fn logout_then_login_again_gets_the_user_cart_back_with_the_memory_driver() {
    for app in [
        common::shop::app(
            CartConfig::new().with_storage(MemoryStorage::new()),
            MemoryStore::default(),
        ),
        cookie_shop(MemoryStorage::new()),
    ] {
        let mut client = Client::new(app);
        login(&mut client, "carol").await;
        client.add("tee", 2).await;
        client.post("/logout", json!({})).await.ok();

        let guest = client.cart().await;
        assert_eq!(guest["items"], json!([]), "logged out: a new guest cart");
        assert_ne!(guest["identifier"], "user:carol");

        let back = login(&mut client, "carol").await;
        assert_eq!(lines(&back), [("tee".into(), 2)]);
        assert_eq!(client.cart().await["identifier"], "user:carol");
    }
}

#[tokio::test]
async fn login_rejects_bad_user_ids_without_touching_the_cart() {
    let mut client = Client::new(session_shop());
    client.add("pen", 1).await;
    let before = client.cart().await;
    for bad in [
        json!({"user_id": ""}),
        json!({"user_id": "a b"}),
        json!({"user_id": "x".repeat(65)}),
    ] {
        client.post("/login", bad).await.client_error();
    }
    client
        .post("/login", json!({"user": "x"}))
        .await
        .client_error();
    assert_eq!(client.cart().await, before);
}

// ----- events -------------------------------------------------------------------------------------

#[tokio::test]
async fn events_fire_exactly_once_per_committed_change() {
    let (config, events) = recording(CartConfig::new().with_storage(MemoryStorage::new()));
    let mut client = Client::new(admin_shop(config));

    client.cart().await;
    assert!(take(&events).is_empty(), "reading emits nothing");

    let view = client.add("tee", 1).await;
    let id = view["identifier"].as_str().unwrap().to_owned();
    let got = take(&events);
    assert_eq!(
        kinds(&got),
        [
            CartEventKind::Created,
            CartEventKind::ItemAdded { id: "tee".into() }
        ]
    );
    let first = view["version"].as_u64().unwrap();
    assert!(
        got.iter()
            .all(|e| e.identifier == id && e.instance == "default" && e.version == first)
    );

    client.add("tee", 1).await;
    let got = take(&events);
    assert_eq!(kinds(&got), [CartEventKind::ItemAdded { id: "tee".into() }]);
    assert_eq!(got[0].version, first + 1);

    // Failed changes emit nothing.
    client
        .post(
            "/cart/items",
            json!({"id": "mug", "quantity": 1, "price": "0.01"}),
        )
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    client
        .post("/cart/items", item("mug", 0))
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    client
        .post("/cart/items", item("nope", 1))
        .await
        .error(StatusCode::NOT_FOUND);
    client
        .post("/cart/codes", json!({"code": "BOGUS"}))
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    client
        .post(
            "/cart/conditions",
            json!({"name": "d", "type": "discount", "value": "-5%"}),
        )
        .await
        .error(StatusCode::UNAUTHORIZED);
    client
        .patch("/cart/items/zzz", json!({"quantity": 2}))
        .await
        .error(StatusCode::NOT_FOUND);
    client
        .trusted(
            http::Method::POST,
            "/cart/conditions",
            Some(json!({"name": "d", "type": "discount", "value": "/0"})),
        )
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    client
        .send_raw(
            http::Method::POST,
            "/cart/items",
            Some("application/json"),
            b"{".to_vec(),
        )
        .await
        .error(StatusCode::BAD_REQUEST);
    client.cart().await;
    assert!(take(&events).is_empty());

    let view = client
        .patch("/cart/items/tee", json!({"quantity": 3}))
        .await
        .ok();
    let got = take(&events);
    assert_eq!(
        kinds(&got),
        [CartEventKind::ItemUpdated { id: "tee".into() }]
    );
    assert_eq!(got[0].version, view["version"].as_u64().unwrap());

    client
        .add_condition(json!({"name": "d", "type": "discount", "value": "-5%"}))
        .await;
    client.put("/cart/metadata/k", json!(true)).await.ok();
    client
        .trusted(http::Method::DELETE, "/cart/conditions/d", None)
        .await
        .ok();
    client
        .patch("/cart/items/tee", json!({"quantity": 0}))
        .await
        .ok();
    assert_eq!(
        kinds(&take(&events)),
        [
            CartEventKind::ConditionAdded {
                name: "d".into(),
                item: None
            },
            CartEventKind::MetadataChanged {
                keys: vec!["k".into()]
            },
            CartEventKind::ConditionRemoved {
                name: "d".into(),
                item: None
            },
            CartEventKind::ItemRemoved { id: "tee".into() },
        ]
    );

    client.delete("/cart").await.ok();
    assert_eq!(kinds(&take(&events)), [CartEventKind::Cleared]);
    client.delete("/cart").await.ok();
    assert!(
        take(&events).is_empty(),
        "clearing an absent cart changes nothing"
    );

    // A cart created again after a clear is new again.
    client.add("pen", 1).await;
    assert_eq!(
        kinds(&take(&events)),
        [
            CartEventKind::Created,
            CartEventKind::ItemAdded { id: "pen".into() }
        ]
    );

    // Login: the merge is one event on the user's cart (created by it).
    login(&mut client, "dave").await;
    let got = take(&events);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].kind, CartEventKind::Created);
    assert!(
        matches!(got[1].kind, CartEventKind::Merged { .. }),
        "{got:?}"
    );
    assert!(got.iter().all(|e| e.identifier == "user:dave"));
    login(&mut client, "dave").await;
    assert!(take(&events).is_empty(), "a second login merges nothing");
}

#[tokio::test]
async fn events_in_session_mode_too() {
    let (config, events) = recording(CartConfig::new());
    let mut client = Client::new(common::shop::app(config, MemoryStore::default()));
    client.add("tee", 1).await;
    client.add("mug", 1).await;
    client
        .post("/cart/items", json!({"id": "cap", "price": "NaN"}))
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        kinds(&take(&events)),
        [
            CartEventKind::Created,
            CartEventKind::ItemAdded { id: "tee".into() },
            CartEventKind::ItemAdded { id: "mug".into() },
        ]
    );
}

// ----- the same through a real server -------------------------------------------------------------

async fn http_json(response: reqwest::Response) -> (StatusCode, Value) {
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    (status, response.json().await.unwrap())
}

async fn real_server_walkthrough(base: &str) {
    let alice = browser();
    let bob = browser();
    let add = |client: &reqwest::Client, body: Value| {
        client.post(format!("{base}/cart/items")).json(&body).send()
    };

    let (status, view) = http_json(alice.get(format!("{base}/cart")).send().await.unwrap()).await;
    assert_eq!((status, view["count"].as_u64()), (StatusCode::OK, Some(0)));

    for body in [item("tee", 2), item("cap", 3), item("mug", 1)] {
        let (status, _) = http_json(add(&alice, body).await.unwrap()).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, view) = http_json(alice.get(format!("{base}/cart")).send().await.unwrap()).await;
    assert_eq!(view["count"], 6);
    assert_eq!(view["lines"], 3);
    assert_eq!(view["subtotal"], "90.30");

    let (_, view) = http_json(add(&alice, item("socks", 1)).await.unwrap()).await;
    assert_eq!(view["subtotal"], "96.55");
    let (_, view) = http_json(
        alice
            .delete(format!("{base}/cart/items/cap"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(view["subtotal"], "54.55");

    let (_, view) = http_json(
        alice
            .patch(format!("{base}/cart/items/tee"))
            .json(&json!({"delta": 3}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(quantity(&view, "tee"), Some(5));
    let (_, view) = http_json(
        alice
            .patch(format!("{base}/cart/items/tee"))
            .json(&json!({"quantity": 0}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(quantity(&view, "tee"), None);

    // Without the admin token a condition is refused; with it, it applies (mug 8.50 and socks
    // 6.25, plus 4.77 shipping).
    let shipping = json!({"name": "ship", "type": "shipping", "target": "total", "value": "+4.77"});
    let (status, body) = http_json(
        alice
            .post(format!("{base}/cart/conditions"))
            .json(&shipping)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (_, view) = http_json(
        alice
            .post(format!("{base}/cart/conditions"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&shipping)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(view["total"], "19.52");
    let (_, view) = http_json(
        alice
            .put(format!("{base}/cart/metadata/note"))
            .json(&json!("hi"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(view["metadata"]["note"], "hi");

    // Bob is someone else.
    let (_, bob_view) = http_json(add(&bob, item("pen", 1)).await.unwrap()).await;
    assert_eq!(lines(&bob_view), [("pen".into(), 1)]);
    assert_ne!(bob_view["identifier"], view["identifier"]);
    let (_, alice_view) = http_json(alice.get(format!("{base}/cart")).send().await.unwrap()).await;
    assert_eq!(lines(&alice_view), [("mug".into(), 1), ("socks".into(), 1)]);

    let (status, body) = http_json(
        alice
            .delete(format!("{base}/cart/items/nope"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_json_error(&body, &body.to_string());

    let (_, view) = http_json(alice.delete(format!("{base}/cart")).send().await.unwrap()).await;
    assert_eq!(view["items"], json!([]));
    let (_, bob_view) = http_json(bob.get(format!("{base}/cart")).send().await.unwrap()).await;
    assert_eq!(lines(&bob_view), [("pen".into(), 1)]);
}

#[tokio::test]
async fn real_server_session_mode() {
    let base = serve(session_shop()).await;
    real_server_walkthrough(&base).await;
}

#[tokio::test]
async fn real_server_cookie_mode() {
    let base = serve(cookie_shop(MemoryStorage::new())).await;
    real_server_walkthrough(&base).await;
}

#[tokio::test]
async fn real_server_login_merge_and_logout() {
    let storage = MemoryStorage::new();
    let base = serve(common::shop::app(
        CartConfig::new().with_storage(storage.clone()),
        MemoryStore::default(),
    ))
    .await;
    let client = browser();
    let (_, guest) = http_json(
        client
            .post(format!("{base}/cart/items"))
            .json(&item("tee", 2))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let guest_id = guest["identifier"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let (status, user) = http_json(
            client
                .post(format!("{base}/login"))
                .json(&json!({"user_id": "erin"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(lines(&user), [("tee".into(), 2)]);
    }
    assert!(storage.instances(&guest_id).await.unwrap().is_empty());
    client
        .post(format!("{base}/logout"))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let (_, after) = http_json(client.get(format!("{base}/cart")).send().await.unwrap()).await;
    assert_eq!(after["items"], json!([]));
    let (_, back) = http_json(
        client
            .post(format!("{base}/login"))
            .json(&json!({"user_id": "erin"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(lines(&back), [("tee".into(), 2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn real_server_many_parallel_visitors_stay_isolated() {
    for app in [session_shop(), cookie_shop(MemoryStorage::new())] {
        let base = serve(app).await;
        let mut tasks = Vec::new();
        for visitor in 0..16u64 {
            let base = base.clone();
            tasks.push(tokio::spawn(async move {
                let client = browser();
                // Each visitor buys one product, several visitors the same one.
                let id = common::shop::PRODUCTS[visitor as usize % 7].0.to_owned();
                for _ in 0..5 {
                    let response = client
                        .post(format!("{base}/cart/items"))
                        .json(&item(&id, (visitor + 1) as i64))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), reqwest::StatusCode::OK);
                }
                let view: Value = client
                    .get(format!("{base}/cart"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(lines(&view), [(id, 5 * (visitor + 1))]);
                view["identifier"].as_str().unwrap().to_owned()
            }));
        }
        let mut identifiers = Vec::new();
        for task in tasks {
            identifiers.push(task.await.unwrap());
        }
        identifiers.sort();
        identifiers.dedup();
        assert_eq!(identifiers.len(), 16);
    }
}
