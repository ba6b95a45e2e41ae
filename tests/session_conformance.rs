//! The conformance suite against the session driver, on an in-memory tower-sessions store.

use std::sync::Arc;

use axum_cart::storage::SessionStorage;
use tower_sessions::{MemoryStore, Session};

async fn session_storage() -> SessionStorage {
    let store = Arc::new(MemoryStore::default());
    SessionStorage::new(Session::new(None, store, None), "cart")
}

axum_cart::conformance_tests!(session_storage());
