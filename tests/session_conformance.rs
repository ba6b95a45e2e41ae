//! The conformance suite against the session driver, on an in-memory tower-sessions store.
//!
//! A session cannot enumerate the carts of other sessions, so the scan checks are opted out.

use std::sync::Arc;

use axum_cart::storage::{CartKey, SessionStorage};
use serde_json::Value;
use tower_sessions::{MemoryStore, Session};

/// The session key the carts live under in these tests.
const SESSION_KEY: &str = "cart";

async fn session_storage() -> SessionStorage {
    let store = Arc::new(MemoryStore::default());
    SessionStorage::new(Session::new(None, store, None), SESSION_KEY)
}

/// Replaces the document of an existing cart in the session with text that is not a cart,
/// keeping its version.
async fn corrupt_session_cart(storage: &SessionStorage, key: &CartKey) {
    let session = storage.session();
    let mut all: Value = session
        .get_value(SESSION_KEY)
        .await
        .expect("read the session")
        .expect("the cart was saved into the session");
    let entry = all
        .get_mut(key.identifier())
        .and_then(|instances| instances.get_mut(key.instance()))
        .expect("the saved cart's entry");
    // `<version>:<updated_at>:<document>`: the document goes, the version and time stay.
    let text = entry.as_str().expect("a compact entry");
    let header = &text[..text.match_indices(':').nth(1).expect("two colons").0 + 1];
    *entry = Value::String(format!("{header}{{ this is not a cart"));
    session
        .insert_value(SESSION_KEY, all)
        .await
        .expect("write the session");
}

axum_cart::conformance_tests!(
    session,
    session_storage(),
    corrupt = corrupt_session_cart,
    no_scan
);

/// Carts written by earlier versions of the driver, each an object `{version, updated_at, cart}`
/// with the document as text or as a JSON tree, still read, change and move; a change writes the
/// compact form, and the other carts of the session are left as they were.
#[tokio::test]
async fn carts_in_the_earlier_session_layout_still_read_change_and_move() {
    use axum_cart::cart::{CartContents, CartItem, Currency, Money};
    use axum_cart::storage::CartStorage;

    let storage = session_storage().await;
    let price = Money::parse("2.50", Currency::USD).unwrap();
    let mut cart = CartContents::new(Currency::USD);
    cart.add(CartItem::new("tee", "T-shirt", price, 3)).unwrap();
    let text = String::from_utf8(cart.to_json().unwrap()).unwrap();
    let tree: Value = serde_json::from_str(&text).unwrap();
    let earlier = serde_json::json!({
        "guest": {
            "default": {"version": 7, "updated_at": 1_764_300_000, "cart": text},
            "wishlist": {"version": 4, "updated_at": 1_764_300_000, "cart": tree},
        }
    });
    storage
        .session()
        .insert_value(SESSION_KEY, earlier.clone())
        .await
        .unwrap();

    for (instance, version) in [("default", 7), ("wishlist", 4)] {
        let key = CartKey::new("guest", instance);
        let loaded = storage
            .load(&key)
            .await
            .unwrap()
            .expect("an earlier cart reads");
        assert_eq!(loaded.version, version, "{instance}");
        assert_eq!(loaded.value.get("tee").map(CartItem::quantity), Some(3));
        assert_eq!(
            loaded.updated_at.map(|at| at.unix_timestamp()),
            Some(1_764_300_000)
        );
    }

    let key = CartKey::new("guest", "default");
    let mut changed = storage.load(&key).await.unwrap().unwrap().value;
    changed.set_quantity("tee", 5).unwrap();
    let version = storage.save(&key, &changed, Some(7)).await.unwrap();
    assert_eq!(version, 8);
    let reread = storage.load(&key).await.unwrap().unwrap();
    assert_eq!(reread.version, 8);
    assert_eq!(reread.value.get("tee").map(CartItem::quantity), Some(5));
    let all = storage
        .session()
        .get_value(SESSION_KEY)
        .await
        .unwrap()
        .unwrap();
    assert!(
        all["guest"]["default"].is_string(),
        "a change writes the compact form"
    );
    assert_eq!(
        all["guest"]["wishlist"], earlier["guest"]["wishlist"],
        "the other cart is untouched"
    );

    // Moving the tree-form cart to another identifier keeps its lines and raises its version.
    assert!(
        storage
            .swap_identifier("guest", "user:1", "wishlist")
            .await
            .unwrap()
    );
    let moved = storage
        .load(&CartKey::new("user:1", "wishlist"))
        .await
        .unwrap()
        .expect("the moved cart");
    assert!(moved.version > 4);
    assert_eq!(moved.value.get("tee").map(CartItem::quantity), Some(3));
    assert!(
        storage
            .load(&CartKey::new("guest", "wishlist"))
            .await
            .unwrap()
            .is_none()
    );
}
