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
    entry["cart"] = Value::String("{ this is not a cart".to_owned());
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
