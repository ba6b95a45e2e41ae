//! In-process request costs (no network, no load generator): the session routes `bench/load.sh`
//! drives, through axum-cart and through the lean hand-written cart, measured in the same run.
//! See `examples/bench_server.rs`.

#[path = "../examples/bench_server.rs"]
#[allow(dead_code)]
mod server;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use criterion::{Criterion, criterion_group};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// Counts the heap allocations of this process, so that the bench can say how many each request
/// makes on either side.
struct Counting;

static ALLOCATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from `alloc` above, which is the system allocator's.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: as for `dealloc`.
        unsafe { std::alloc::System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Allocations per request of `request()` on `app`, averaged over 1 000 requests.
async fn allocations(app: &Router, request: impl Fn() -> Request<Body>) -> f64 {
    let before = ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed);
    for _ in 0..1_000 {
        send(app, request()).await;
    }
    (ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed) - before) as f64 / 1_000.0
}

/// Sends `request`; the session cookie it set, and the body.
async fn send(app: &Router, request: Request<Body>) -> (Option<String>, axum::body::Bytes) {
    let response = app.clone().oneshot(request).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (cookie, body)
}

fn add(path: &str, cookie: Option<&str>, id: &str) -> Request<Body> {
    let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request
        .body(Body::from(format!(r#"{{"id":"{id}","quantity":1}}"#)))
        .unwrap()
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::empty()).unwrap()
}

/// A session holding a 10-line cart on `app` under the driver `prefix` (`/session`, ...); the
/// two sides must answer alike.
async fn seeded(app: &Router, prefix: &str) -> (String, axum::body::Bytes) {
    let items = format!("{prefix}/cart/items");
    let (cookie, _) = send(app, add(&items, None, "sku-0")).await;
    let cookie = cookie.expect("a session cookie");
    for i in 1..10 {
        send(app, add(&items, Some(&cookie), &format!("sku-{i}"))).await;
    }
    let (_, body) = send(app, get(&format!("{prefix}/cart"), Some(&cookie))).await;
    (cookie, body)
}

fn requests(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let library = server::library_app(server::Backends::default());
    let hand_written = server::hand_written_app(server::Backends::default());
    // Each side's 10-line cart, and a 1-line one (the read bench/load.sh makes).
    let [
        (library_cookie, library_one),
        (hand_written_cookie, hand_written_one),
    ] = runtime.block_on(async {
        let (library_cookie, library_body) = seeded(&library, "/session").await;
        let (hand_written_cookie, hand_written_body) = seeded(&hand_written, "/session").await;
        assert_eq!(
            library_body, hand_written_body,
            "both sides answer the same body"
        );
        let mut ones = Vec::new();
        for (side, app, cookie) in [
            ("hand-written", &hand_written, &hand_written_cookie),
            ("library", &library, &library_cookie),
        ] {
            let ping = allocations(app, || get("/ping", None)).await;
            let read = allocations(app, || get("/session/cart", Some(cookie))).await;
            let (one, _) = send(app, add("/session/cart/items", None, "sku-0")).await;
            let one = one.expect("a session cookie");
            let read_one = allocations(app, || get("/session/cart", Some(&one))).await;
            let add_one =
                allocations(app, || add("/session/cart/items", Some(&one), "sku-0")).await;
            eprintln!(
                "allocations per request, {side}: ping {ping}, read of 10 lines {read}, \
                 read of 1 line {read_one}, add to 1 line {add_one}"
            );
            ones.push(one);
        }
        let [hand_written_one, library_one] = <[String; 2]>::try_from(ones).unwrap();
        [
            (library_cookie, library_one),
            (hand_written_cookie, hand_written_one),
        ]
    });

    let mut group = c.benchmark_group("request");
    for (side, app) in [("hand_written", &hand_written), ("library", &library)] {
        group.bench_function(format!("ping_{side}"), |b| {
            b.to_async(&runtime).iter(|| send(app, get("/ping", None)))
        });
    }
    for (side, app, cookie, one) in [
        (
            "hand_written",
            &hand_written,
            &hand_written_cookie,
            &hand_written_one,
        ),
        ("library", &library, &library_cookie, &library_one),
    ] {
        group.bench_function(format!("read_{side}"), |b| {
            b.to_async(&runtime)
                .iter(|| send(app, get("/session/cart", Some(cookie))))
        });
        // A cart of one line, where the cost of a request's own work shows most.
        group.bench_function(format!("read_one_line_{side}"), |b| {
            b.to_async(&runtime)
                .iter(|| send(app, get("/session/cart", Some(one))))
        });
        // Adds cycle over the cart's 10 ids so that it keeps its size.
        let mut n = 0u64;
        group.bench_function(format!("add_{side}"), |b| {
            b.to_async(&runtime).iter(|| {
                n += 1;
                send(
                    app,
                    add(
                        "/session/cart/items",
                        Some(cookie),
                        &format!("sku-{}", n % 10),
                    ),
                )
            })
        });
    }
    group.bench_function("read_library_view", |b| {
        b.to_async(&runtime)
            .iter(|| send(&library, get("/session/view", Some(&library_cookie))))
    });
    group.finish();
}

/// `LAYER_BENCH_COUNT="<scenario> <requests>"`: instead of timing, sends that many requests of
/// one scenario and exits. A scenario is `[cache_|database_]<route>_<side>`: the driver (the
/// session by default; the cache and database need `REDIS_URL` and `DATABASE_URL`), the route
/// (`ping`, `read`, `read_one_line` or `add`) and the side (`library` or `hand_written`). It runs
/// on a single-threaded runtime, so that every instruction of the server's side, its Redis and
/// Postgres clients included, is on one thread. `bench/instructions.sh` runs it under callgrind
/// twice, with N and 2N requests, so that the difference is the instructions of N requests
/// alone: a count that the machine's neighbours cannot move.
fn count(spec: &str) {
    let (scenario, requests) = spec.rsplit_once(' ').expect("\"<scenario> <requests>\"");
    let requests: u64 = requests.parse().expect("a number of requests");
    let (driver, scenario) = match scenario.split_once('_') {
        Some((driver @ ("cache" | "database"), rest)) => (driver, rest),
        _ => ("session", scenario),
    };
    let (route, side) = match scenario.strip_suffix("_hand_written") {
        Some(route) => (route, "hand_written"),
        None => (
            scenario.strip_suffix("_library").expect("<route>_<side>"),
            "library",
        ),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let backends = match driver {
            "session" => server::Backends::default(),
            _ => server::Backends::from_env().await,
        };
        let app = server::app(side.replace('_', "-").as_str(), backends).await;
        let cart = format!("/{driver}/cart");
        let items = format!("/{driver}/cart/items");
        let (cookie, _) = seeded(&app, &format!("/{driver}")).await;
        let (one, _) = send(&app, add(&items, None, "sku-0")).await;
        let one = one.expect("a session cookie");
        for n in 0..requests {
            let request = match route {
                "ping" => get("/ping", None),
                "read" => get(&cart, Some(&cookie)),
                "read_one_line" => get(&cart, Some(&one)),
                "add" => add(&items, Some(&cookie), &format!("sku-{}", n % 10)),
                other => panic!("no route {other:?}"),
            };
            send(&app, request).await;
        }
    });
}

criterion_group!(benches, requests);

fn main() {
    if let Ok(spec) = std::env::var("LAYER_BENCH_COUNT") {
        count(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
