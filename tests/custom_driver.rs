//! The README's custom driver example passes the conformance suite and serves a cart over HTTP.

// The example is a binary, not a library: its source is compiled in as a module, `main` unused.
#[path = "../examples/custom_driver.rs"]
#[allow(dead_code)]
mod custom_driver;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use custom_driver::FileStorage;
use http_body_util::BodyExt;
use tower::ServiceExt;

/// A fresh directory per test, under cargo's temporary directory for integration tests.
async fn file_storage() -> FileStorage {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("axum-cart-file-driver-{}", uuid::Uuid::new_v4()));
    FileStorage::open(dir)
        .await
        .expect("create the cart directory")
}

axum_cart::conformance_tests!(file_storage());

#[tokio::test]
async fn the_example_app_stores_carts_as_files() {
    let storage = file_storage().await;
    let app = custom_driver::app(storage.clone());
    let response = app
        .clone()
        .oneshot(
            Request::post("/cart/items")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    r#"{"id":"tea","name":"Green tea","price":"4.50","quantity":2}"#,
                ))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .expect("a new guest gets a cookie")
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let response = app
        .oneshot(
            Request::get("/cart")
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let view: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(view["total"], "9.00", "{view}");
    let files: Vec<_> = std::fs::read_dir(storage.dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(files.len(), 1, "one cart, one file");
    std::fs::remove_dir_all(storage.dir()).ok();
}
