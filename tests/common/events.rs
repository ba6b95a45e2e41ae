//! Recording the cart events a configuration fires.

use std::sync::{Arc, Mutex};

use axum_cart::{CartConfig, CartEvent, CartEventKind};

pub type Events = Arc<Mutex<Vec<CartEvent>>>;

/// `config` with a listener that records every event.
pub fn recording(config: CartConfig) -> (CartConfig, Events) {
    let events: Events = Arc::default();
    let sink = Arc::clone(&events);
    let config = config.with_event_listener(move |event| sink.lock().unwrap().push(event.clone()));
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
