//! In-process request costs (no network, no load generator): the same routes `bench/load.sh`
//! drives, each compared with its baseline in the same run. See `examples/bench_server.rs`.

#[path = "../examples/bench_server.rs"]
#[allow(dead_code)]
mod server;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn send(app: &Router, request: Request<Body>) -> (Option<String>, usize) {
    let response = app.clone().oneshot(request).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (cookie, body.len())
}

fn add(prefix: &str, cookie: Option<&str>, id: &str) -> Request<Body> {
    let mut request = Request::post(format!("{prefix}/cart/items"))
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request
        .body(Body::from(format!(
            r#"{{"id":"{id}","name":"Item {id}","price":"10.99","quantity":1}}"#
        )))
        .unwrap()
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::empty()).unwrap()
}

fn requests(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let app = server::app();
    // One session per side, with a 10-line cart in it.
    let (lib_cookie, manual_cookie) = runtime.block_on(async {
        let (lib, _) = send(&app, add("/lib", None, "seed")).await;
        let (manual, _) = send(&app, add("/manual", None, "seed")).await;
        for i in 0..9 {
            send(&app, add("/lib", lib.as_deref(), &format!("sku-{i}"))).await;
            send(&app, add("/manual", manual.as_deref(), &format!("sku-{i}"))).await;
        }
        (lib.unwrap(), manual.unwrap())
    });

    let mut group = c.benchmark_group("request");
    group.bench_function("ping_without_layer", |b| {
        b.to_async(&runtime)
            .iter(|| send(&app, get("/plain/ping", None)))
    });
    group.bench_function("ping_with_layer", |b| {
        b.to_async(&runtime)
            .iter(|| send(&app, get("/layered/ping", None)))
    });
    group.bench_function("read_manual", |b| {
        b.to_async(&runtime)
            .iter(|| send(&app, get("/manual/cart", Some(&manual_cookie))))
    });
    group.bench_function("read_cart", |b| {
        b.to_async(&runtime)
            .iter(|| send(&app, get("/lib/cart", Some(&lib_cookie))))
    });
    // Adds cycle over the 10 ids so that the cart keeps its size.
    let mut n = 0u64;
    group.bench_function("add_manual", |b| {
        b.to_async(&runtime).iter(|| {
            n += 1;
            send(
                &app,
                add("/manual", Some(&manual_cookie), &format!("sku-{}", n % 9)),
            )
        })
    });
    group.bench_function("add_cart", |b| {
        b.to_async(&runtime).iter(|| {
            n += 1;
            send(
                &app,
                add("/lib", Some(&lib_cookie), &format!("sku-{}", n % 9)),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, requests);
criterion_main!(benches);
