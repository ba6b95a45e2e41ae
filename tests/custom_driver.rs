//! The README's custom driver example passes the conformance suite and serves a cart over HTTP.

// The example is a binary, not a library: its source is compiled in as a module, `main` unused.
#[path = "../examples/custom_driver.rs"]
#[allow(dead_code)]
mod custom_driver;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum_cart::storage::{CartKey, CartStorage};
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

/// Overwrites the file of an existing cart with bytes that are not JSON.
async fn corrupt_file(storage: &FileStorage, key: &CartKey) {
    let path = storage.file_of(key);
    assert!(
        path.exists(),
        "the cart's file exists before it is corrupted"
    );
    tokio::fs::write(path, b"{ \"version\": 3, this is not json")
        .await
        .expect("overwrite the cart's file");
}

axum_cart::conformance_tests!(file, file_storage(), corrupt = corrupt_file);

/// A cart created after a delete starts above the deleted cart's version even in a store opened
/// again (a restart) when that version is ahead of the clock: the versions found in the directory
/// count too.
#[tokio::test]
async fn versions_survive_reopening_the_directory() {
    let storage = file_storage().await;
    let key = CartKey::new("visitor", "default");
    let cart = axum_cart::CartContents::new(axum_cart::Currency::USD);
    storage.save(&key, &cart, None).await.unwrap();
    // A version far ahead of the clock in microseconds, written as the driver writes files.
    let ahead: u64 = 4_000_000_000_000_000;
    let file = serde_json::json!({"version": ahead, "updated_at": 0, "cart": cart});
    std::fs::write(storage.file_of(&key), file.to_string()).unwrap();

    let reopened = FileStorage::open(storage.dir()).await.unwrap();
    assert_eq!(reopened.load(&key).await.unwrap().unwrap().version, ahead);
    assert!(reopened.delete_at(&key, ahead).await.unwrap());
    let again = reopened.save(&key, &cart, None).await.unwrap();
    assert!(again > ahead, "v{again} after v{ahead}");
    std::fs::remove_dir_all(storage.dir()).ok();
}

#[tokio::test]
async fn the_example_app_stores_carts_as_files() {
    let storage = file_storage().await;
    let app = custom_driver::app(storage.clone());
    let response = app
        .clone()
        .oneshot(
            Request::post("/cart/items")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"id":"tea","quantity":2}"#))
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
