//! `Cart` as a handler argument: the per-request state out of the extensions, or the missing
//! layer named. Extraction never touches cart storage.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use http::request::Parts;

use crate::error::CartError;
use crate::handle::Cart;
use crate::request::RequestCart;
use crate::storage::DEFAULT_INSTANCE;

impl<S: Send + Sync> FromRequestParts<S> for Cart {
    type Rejection = CartError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let state = parts
            .extensions
            .get::<Arc<RequestCart>>()
            .cloned()
            .ok_or(CartError::MissingLayer)?;
        let identity = state.identity(parts).await?;
        Ok(Cart::for_request(
            state.manager.clone(),
            identity,
            DEFAULT_INSTANCE,
        ))
    }
}
