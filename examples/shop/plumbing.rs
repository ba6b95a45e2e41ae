//! Request plumbing of the shop: JSON bodies whose rejections are problem details naming the
//! field, the cart of the `?instance=` asked for, and the bearer token of trusted callers.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, RequestPartsExt};
use axum_cart::{Cart, CartError, CartResponse};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::Shop;

/// A handler's answer: the cart's answer (the view with its `ETag`, or 304, or an idempotent
/// replay; see [`Cart::respond`]), or an error that is already a response.
pub type ApiResult = Result<CartResponse, Response>;

/// An RFC 9457 problem (`application/problem+json`) for the shop's own errors, shaped like the
/// ones `CartError` answers: `type` (`about:blank`: the status says it all), `title` (the status's
/// reason phrase), `status`, `detail`, and the stable code in `error`.
pub fn problem(status: StatusCode, code: &str, detail: impl Into<String>) -> Value {
    json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail.into(),
        "error": code,
    })
}

/// `body` (a [`problem`], maybe with more members) as an `application/problem+json` answer.
pub fn problem_response(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// A problem with `status`, code `code` and `detail`.
pub fn error_response(status: StatusCode, code: &str, detail: impl Into<String>) -> Response {
    problem_response(status, problem(status, code, detail))
}

/// `Json<T>` whose rejections answer a problem (`error`, `detail`, `field`?) with the
/// rejection's 4xx status. A field the body may not carry (a `price` or a `name` on an item) is
/// named in `field`.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> Response {
    let status = rejection.status();
    // The codes the library has: the same problems `CartError` answers.
    match status {
        StatusCode::BAD_REQUEST => {
            let message = rejection.body_text();
            return CartError::BadRequest { message }.into_response();
        }
        StatusCode::PAYLOAD_TOO_LARGE => return CartError::PayloadTooLarge.into_response(),
        _ => {}
    }
    let code = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        _ => "bad_request",
    };
    let text = rejection.body_text();
    let field = (status == StatusCode::UNPROCESSABLE_ENTITY)
        .then(|| field_of(&text))
        .flatten();
    let detail = match field.as_deref() {
        Some(field @ ("price" | "name" | "conditions")) if text.contains("unknown field") => {
            format!(
                "`{field}` is not accepted: names, prices and conditions come from the shop's \
                 catalogue and codes, never from a client"
            )
        }
        _ => text,
    };
    let mut body = problem(status, code, detail);
    if let Some(field) = field {
        body["field"] = json!(field);
    }
    problem_response(status, body)
}

/// The field a serde error is about: an unknown or missing field, or the first segment of the
/// path of a value of the wrong type (`quantity: invalid type: ...`).
fn field_of(text: &str) -> Option<String> {
    for marker in ["unknown field `", "missing field `"] {
        if let Some(rest) = text.split(marker).nth(1) {
            return rest.split('`').next().map(str::to_owned);
        }
    }
    let detail = text.split("target type: ").nth(1)?;
    let (path, _) = detail.split_once(": ")?;
    let first = path.split(['.', '[']).next()?;
    (!first.is_empty() && !first.contains(' ')).then(|| first.to_owned())
}

/// The query every cart route takes: `?instance=NAME` (default `default`), nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceQuery {
    pub instance: Option<String>,
}

/// The `?instance=` of a request (`None`: the default instance); any other query parameter is
/// a 400 problem.
pub struct Instance(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Instance {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Query(query) = parts.extract::<Query<InstanceQuery>>().await.map_err(
            |rejection: QueryRejection| {
                let message = rejection.body_text();
                CartError::BadRequest { message }.into_response()
            },
        )?;
        Ok(Instance(query.instance))
    }
}

/// The cart of the `?instance=` named in the query (default `default`).
pub struct ShopCart(pub Cart);

impl<S: Send + Sync> FromRequestParts<S> for ShopCart {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Instance(instance) = Instance::from_request_parts(parts, state).await?;
        let cart = Cart::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match instance {
            Some(instance) => cart
                .instance(&instance)
                .map(ShopCart)
                .map_err(IntoResponse::into_response),
            None => Ok(ShopCart(cart)),
        }
    }
}

/// A trusted caller: the request carries `Authorization: Bearer <SHOP_ADMIN_TOKEN>`.
///
/// While the shop has no admin token the trusted routes do not exist (404); with one, a request
/// without it, or with another, answers 401.
pub struct Trusted;

impl FromRequestParts<Shop> for Trusted {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, shop: &Shop) -> Result<Self, Self::Rejection> {
        let Some(token) = shop.admin_token.as_deref() else {
            return Err(error_response(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such route",
            ));
        };
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        match given {
            Some(given) if same_secret(given.trim().as_bytes(), token.as_bytes()) => Ok(Trusted),
            _ => {
                let mut response = error_response(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "this route needs `Authorization: Bearer <SHOP_ADMIN_TOKEN>`",
                );
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                Err(response)
            }
        }
    }
}

/// Compares two secrets in time that depends only on their lengths.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}
