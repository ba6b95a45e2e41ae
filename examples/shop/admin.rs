//! The admin routes (behind `SHOP_ADMIN_TOKEN`): changing the catalogue and reading any cart.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_cart::{CartError, Currency, Money, Product, StorageMode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shop;
use super::plumbing::{Body, Instance, Trusted, error_response};

/// Ids and names follow the cart's own limits for lines.
const MAX_TEXT_LENGTH: usize = 255;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    price: String,
    #[serde(default)]
    name: Option<String>,
}

fn check_text(field: &str, text: &str) -> Result<(), CartError> {
    if text.is_empty() || text.chars().count() > MAX_TEXT_LENGTH {
        return Err(CartError::validation(
            field,
            format!("1 to {MAX_TEXT_LENGTH} characters"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(CartError::validation(
            field,
            "control characters are not allowed",
        ));
    }
    Ok(())
}

/// `PUT /admin/catalog/{id}` `{price, name?}`: creates or changes a product. Carts holding it
/// follow the new price by the configured price policy on their next read.
pub async fn put_product(
    _: Trusted,
    State(shop): State<Shop>,
    Path(id): Path<String>,
    Body(input): Body<ProductInput>,
) -> Result<Json<Value>, Response> {
    let fail = |error: CartError| error.into_response();
    check_text("id", &id).map_err(fail)?;
    let price = Money::parse_field(&input.price, Currency::USD, "price")
        .map_err(|e| fail(CartError::from(e)))?;
    if price.minor_units() < 0 {
        return Err(fail(CartError::validation(
            "price",
            "a price is never negative",
        )));
    }
    let current = shop.catalog.product(&id);
    let name = match (input.name, current) {
        (Some(name), _) => name,
        (None, Some(product)) => product.name,
        (None, None) => {
            return Err(fail(CartError::validation(
                "name",
                "a new product needs a name",
            )));
        }
    };
    check_text("name", &name).map_err(fail)?;
    shop.catalog.set_product(Product {
        id: id.clone(),
        name,
        price,
        source: "catalog".to_owned(),
    });
    shop.shelve(&id);
    let Some(product) = shop.catalog.product(&id) else {
        return Err(error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "catalog_unavailable",
            "the product was not kept",
        ));
    };
    Ok(Json(json!({
        "id": product.id,
        "name": product.name,
        "price": product.price.to_string(),
        "source": product.source,
    })))
}

/// `GET /admin/carts/{identifier}?instance=`: any cart, read outside its visitor's request, with
/// the same `ETag` its visitor sees (and `Cache-Control: no-store`).
pub async fn show_cart(
    _: Trusted,
    State(shop): State<Shop>,
    Path(identifier): Path<String>,
    Instance(instance): Instance,
) -> Result<Response, Response> {
    if let StorageMode::Session { .. } = shop.manager.storage() {
        return Err(error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_driver",
            "with the session driver a cart lives in its visitor's session: it is reachable only \
             inside that visitor's request (use the cache or database driver to read carts by \
             identifier)",
        ));
    }
    let instance = instance.as_deref().unwrap_or("default");
    let cart = shop
        .manager
        .cart(&identifier, instance)
        .map_err(IntoResponse::into_response)?;
    let view = cart.view().await.map_err(IntoResponse::into_response)?;
    let etag = HeaderValue::from_str(&view.etag()).map_err(|_| {
        error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "invalid_etag",
            "the cart's entity tag is not a header value",
        )
    })?;
    let headers = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    Ok((headers, Json(view)).into_response())
}
