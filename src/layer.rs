//! `CartLayer` and `CartService`: put a lazy per-request cart context into the request, and on
//! the way out set the identifier cookie when a new guest cart was stored.
//!
//! The layer does no I/O of its own: the [`crate::Cart`] extractor resolves the identifier and
//! loads the cart on first use, so a route that never takes `Cart` costs one small allocation.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::header::SET_COOKIE;
use http::{HeaderValue, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

pub use crate::manager::CartConfig;
use crate::manager::CartManager;

/// Adds carts to a router.
///
/// With the default (session) configuration, a tower-sessions `SessionManagerLayer` must wrap it,
/// i.e. be added after it:
///
/// ```
/// use axum::{Json, Router, routing::post};
/// use axum_cart::{Cart, CartConfig, CartError, CartLayer, CartView, ItemInput};
/// use tower_sessions::{MemoryStore, SessionManagerLayer};
///
/// async fn add(cart: Cart, Json(item): Json<ItemInput>) -> Result<Json<CartView>, CartError> {
///     cart.add_input(item).await?;
///     Ok(Json(cart.view().await?))
/// }
///
/// let app: Router = Router::new()
///     .route("/cart/items", post(add))
///     .layer(CartLayer::new(CartConfig::new()))
///     .layer(SessionManagerLayer::new(MemoryStore::default()));
/// ```
#[derive(Clone, Debug)]
pub struct CartLayer {
    manager: CartManager,
}

impl CartLayer {
    /// A layer with a new [`CartManager`] for `config`.
    pub fn new(config: CartConfig) -> Self {
        CartLayer {
            manager: CartManager::new(config),
        }
    }

    /// A layer on an existing manager (shared with workers, or with other routers).
    pub fn from_manager(manager: CartManager) -> Self {
        CartLayer { manager }
    }

    /// The manager this layer serves carts from.
    pub fn manager(&self) -> &CartManager {
        &self.manager
    }
}

impl<S> Layer<S> for CartLayer {
    type Service = CartService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CartService {
            inner,
            manager: self.manager.clone(),
        }
    }
}

/// The per-request state the layer shares with the extractor.
pub(crate) struct RequestCart {
    pub(crate) manager: CartManager,
    /// A `Set-Cookie` value to add to the response (a newly stored guest cart, or a removal).
    pub(crate) set_cookie: Mutex<Option<String>>,
    /// The identity resolved by the first `Cart` extraction of this request.
    pub(crate) identity: tokio::sync::OnceCell<Arc<crate::extract::Identity>>,
}

impl RequestCart {
    pub(crate) fn set_cookie(&self, value: String) {
        *self
            .set_cookie
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(value);
    }
}

/// The service [`CartLayer`] wraps a router with.
#[derive(Clone, Debug)]
pub struct CartService<S> {
    inner: S,
    manager: CartManager,
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
        let state = Arc::new(RequestCart {
            manager: self.manager.clone(),
            set_cookie: Mutex::new(None),
            identity: tokio::sync::OnceCell::new(),
        });
        request.extensions_mut().insert(Arc::clone(&state));
        ResponseFuture {
            inner: self.inner.call(request),
            state,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`CartService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        state: Arc<RequestCart>,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        let cookie = this
            .state
            .set_cookie
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().append(SET_COOKIE, value);
        }
        Poll::Ready(Ok(response))
    }
}
