//! [`ResponseFuture`]: finishes the answer of a request. A cart answer gets the identifier
//! cookie, if one was set, and `Cache-Control: no-store` with `Vary: Cookie`; the answer of a
//! replayed idempotent request is replaced by the cart as it is now.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::IntoResponse;
use http::header::SET_COOKIE;
use http::{HeaderValue, Response};

use crate::handle::Cart;
use crate::protocol::add_cart_headers;
use crate::request::RequestCart;

type BoxedFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pin_project_lite::pin_project! {
    #[project = StageProjection]
    enum Stage<F, T> {
        // A request without an idempotency key: no allocation beyond the request state.
        Inner {
            #[pin]
            inner: F,
            state: Arc<RequestCart>,
        },
        // A request whose body is buffered first, or whose answer may be replaced.
        Boxed {
            future: BoxedFuture<T>,
        },
        // An answer known before the inner service ran; taken once.
        Ready {
            value: Option<T>,
        },
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`CartService`](super::CartService).
    pub struct ResponseFuture<F>
    where
        F: Future,
    {
        #[pin]
        stage: Stage<F, F::Output>,
    }
}

/// Adds what a request's cart state asks for to its answer.
fn finish<ResBody>(response: &mut Response<ResBody>, state: &RequestCart) {
    let cookie = state.take_cookie();
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    if state.resolved_identity().is_some() {
        add_cart_headers(response.headers_mut());
    }
}

/// Replaces the handler's answer of a replayed request with the cart as it is now, and finishes
/// the answer.
pub(super) async fn finish_replay<ResBody>(
    response: Response<ResBody>,
    state: &RequestCart,
) -> Response<ResBody>
where
    ResBody: From<Body>,
{
    let replayed = state
        .protocol
        .as_ref()
        .and_then(|protocol| protocol.replayed());
    let mut response = match (replayed, state.resolved_identity()) {
        (Some(instance), Some(identity)) => {
            let cart = Cart::for_request(state.manager.clone(), Arc::clone(identity), &instance);
            match cart.respond().await {
                Ok(answer) => answer.into_response(),
                Err(error) => error.into_response(),
            }
            .map(ResBody::from)
        }
        _ => response,
    };
    finish(&mut response, state);
    response
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().stage.project() {
            StageProjection::Inner { inner, state } => {
                let mut response = std::task::ready!(inner.poll(cx))?;
                finish(&mut response, state);
                Poll::Ready(Ok(response))
            }
            StageProjection::Boxed { future } => future.as_mut().poll(cx),
            StageProjection::Ready { value } => Poll::Ready(
                value
                    .take()
                    .expect("ResponseFuture polled after completion"),
            ),
        }
    }
}

impl<F: Future> ResponseFuture<F> {
    pub(super) fn new(inner: F, state: Arc<RequestCart>) -> Self {
        ResponseFuture {
            stage: Stage::Inner { inner, state },
        }
    }

    pub(super) fn boxed(future: impl Future<Output = F::Output> + Send + 'static) -> Self {
        ResponseFuture {
            stage: Stage::Boxed {
                future: Box::pin(future),
            },
        }
    }
}

impl<F, ResBody, E> ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    pub(super) fn ready(response: Response<ResBody>) -> Self {
        ResponseFuture {
            stage: Stage::Ready {
                value: Some(Ok(response)),
            },
        }
    }
}

impl<F: Future> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
