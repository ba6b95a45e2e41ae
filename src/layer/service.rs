//! [`CartService`]: the service [`CartLayer`](super::CartLayer) wraps a router with.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::response::IntoResponse;
use futures_util::StreamExt;
use http::header::{CONTENT_LENGTH, IF_MATCH, IF_NONE_MATCH};
use http::{HeaderName, Method, Request, Response};
use tower_service::Service;

use super::ResponseFuture;
use super::future::finish_replay;
use crate::error::CartError;
use crate::manager::CartManager;
use crate::protocol::{EntityTags, IdempotencyKey, RequestProtocol, fingerprint, parse_key};
use crate::request::RequestCart;

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

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

/// The headers of a request that the configuration honours; `None` when it has none of them.
fn read_headers<B>(
    manager: &CartManager,
    request: &Request<B>,
) -> Result<Option<(RequestProtocol, Option<String>)>, CartError> {
    let config = manager.config();
    let headers = request.headers();
    let (if_match, if_none_match) = if config.conditional_requests {
        (
            EntityTags::parse(headers.get_all(IF_MATCH)),
            EntityTags::parse(headers.get_all(IF_NONE_MATCH)),
        )
    } else {
        (None, None)
    };
    let changes = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let key = match headers.get(IDEMPOTENCY_KEY) {
        Some(value) if config.idempotency_keys && changes => Some(parse_key(value)?),
        _ => None,
    };
    if if_match.is_none() && if_none_match.is_none() && key.is_none() {
        return Ok(None);
    }
    let protocol =
        RequestProtocol::new(if_match, if_none_match, None, config.idempotency_retention);
    Ok(Some((protocol, key)))
}

/// Reads the whole body, refusing more than `limit` bytes.
async fn buffer<B>(body: B, limit: usize) -> Result<Bytes, CartError>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let mut stream = Body::new(body).into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| CartError::BadRequest {
            message: "the request body could not be read".to_owned(),
        })?;
        if bytes.len() + chunk.len() > limit {
            return Err(CartError::PayloadTooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(bytes))
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CartService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: HttpBody<Data = Bytes> + From<Bytes> + Send + 'static,
    ReqBody::Error: Into<axum::BoxError>,
    ResBody: From<Body> + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let config = self.manager.config();
        if !config.conditional_requests && !config.idempotency_keys {
            let state = Arc::new(RequestCart::new(self.manager.clone(), None));
            request.extensions_mut().insert(Arc::clone(&state));
            return ResponseFuture::new(self.inner.call(request), state);
        }
        let (protocol, key) = match read_headers(&self.manager, &request) {
            Ok(Some(found)) => found,
            Ok(None) => {
                let state = Arc::new(RequestCart::new(self.manager.clone(), None));
                request.extensions_mut().insert(Arc::clone(&state));
                return ResponseFuture::new(self.inner.call(request), state);
            }
            Err(error) => return ResponseFuture::ready(error.into_response().map(ResBody::from)),
        };
        let Some(key) = key else {
            let state = Arc::new(RequestCart::new(
                self.manager.clone(),
                Some(Arc::new(protocol)),
            ));
            request.extensions_mut().insert(Arc::clone(&state));
            return ResponseFuture::new(self.inner.call(request), state);
        };
        // The service made ready by `poll_ready` serves this request; the clone stays for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let manager = self.manager.clone();
        let limit = config.limits.max_cart_bytes;
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        ResponseFuture::boxed(async move {
            if declared.is_some_and(|length| length > limit as u64) {
                return Ok(CartError::PayloadTooLarge
                    .into_response()
                    .map(ResBody::from));
            }
            let (parts, body) = request.into_parts();
            let body = match buffer(body, limit).await {
                Ok(body) => body,
                Err(error) => return Ok(error.into_response().map(ResBody::from)),
            };
            let fingerprint = fingerprint(&parts.method, &parts.uri, &body);
            let protocol = protocol.with_idempotency(IdempotencyKey { key, fingerprint });
            let mut request = Request::from_parts(parts, ReqBody::from(body));
            let state = Arc::new(RequestCart::new(manager, Some(Arc::new(protocol))));
            request.extensions_mut().insert(Arc::clone(&state));
            let response = inner.call(request).await?;
            Ok(finish_replay(response, &state).await)
        })
    }
}
