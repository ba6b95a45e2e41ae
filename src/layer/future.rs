//! [`ResponseFuture`]: adds the cart identifier cookie, if one was set, to the response.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::SET_COOKIE;
use http::{HeaderValue, Response};

use crate::request::RequestCart;

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
        let cookie = this.state.take_cookie();
        if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().append(SET_COOKIE, value);
        }
        Poll::Ready(Ok(response))
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, state: Arc<RequestCart>) -> Self {
        ResponseFuture { inner, state }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
