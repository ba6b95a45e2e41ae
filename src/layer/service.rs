//! [`CartService`]: the service [`CartLayer`](super::CartLayer) wraps a router with.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::ResponseFuture;
use crate::manager::CartManager;
use crate::request::RequestCart;

/// The service [`CartLayer`](super::CartLayer) wraps a router with.
#[derive(Clone, Debug)]
pub struct CartService<S> {
    inner: S,
    manager: CartManager,
}

impl<S> CartService<S> {
    pub(super) fn new(inner: S, manager: CartManager) -> Self {
        CartService { inner, manager }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CartService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let state = Arc::new(RequestCart::new(self.manager.clone()));
        request.extensions_mut().insert(Arc::clone(&state));
        ResponseFuture::new(self.inner.call(request), state)
    }
}
