//! What the per-cart write queue costs a writer that never waits for it: one cart, one writer,
//! `add` and `change_quantity` through `CartManager` on `MemoryStorage`, with the queue on (the
//! default) and off, side by side in one run. Any difference is the queue's bookkeeping (taking
//! and dropping a cart's turn), since with a single writer nobody ever waits.

use std::hint::black_box;

use axum_cart::{CartConfig, CartItem, CartManager, Currency, Limits, MemoryStorage, Money};
use criterion::{Criterion, criterion_group, criterion_main};

const LINES: u64 = 10;
const CART: &str = "user:bench";

/// A manager on its own memory store holding one 10-line cart, written enough times that the
/// write ids it remembers are at their steady-state count.
fn manager(runtime: &tokio::runtime::Runtime, write_queue: bool) -> CartManager {
    let manager = CartManager::new(
        CartConfig::new()
            .with_storage(MemoryStorage::new())
            // The adds below grow one line's quantity by 1 per iteration, for as many
            // iterations as a run takes.
            .with_limits(Limits {
                max_quantity: u32::MAX,
                ..Limits::default()
            })
            .with_write_queue(write_queue),
    );
    runtime.block_on(async {
        let cart = manager.cart(CART, "default").unwrap();
        for _ in 0..4 {
            for line in 0..LINES {
                cart.add_priced(item(line)).await.unwrap();
            }
        }
    });
    manager
}

fn item(line: u64) -> CartItem {
    CartItem::new(
        format!("sku-{line}"),
        format!("Product {line}"),
        Money::parse("10.99", Currency::USD).unwrap(),
        1,
    )
}

fn uncontended_writes(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();

    let mut group = c.benchmark_group("uncontended_write");
    let sides = [("queue_on", true), ("queue_off", false)];
    // Each pair measured back to back, so that both sides see the same machine.
    for (name, write_queue) in sides {
        // Adds cycle over the 10 lines, so the cart keeps its size.
        let manager = manager(&runtime, write_queue);
        let mut n = 0u64;
        group.bench_function(format!("add/{name}"), |b| {
            b.to_async(&runtime).iter(|| {
                n += 1;
                let (manager, item) = (&manager, item(n % LINES));
                async move {
                    // A fresh handle per change, as a request or a worker has.
                    let cart = manager.cart(CART, "default").unwrap();
                    black_box(cart.add_priced(item).await.unwrap())
                }
            })
        });
    }
    for (name, write_queue) in sides {
        // +1 then -1 on one line: the cart is the same from one pair of changes to the next.
        let manager = manager(&runtime, write_queue);
        let mut n = 0u64;
        group.bench_function(format!("change_quantity/{name}"), |b| {
            b.to_async(&runtime).iter(|| {
                n += 1;
                let (manager, delta) = (&manager, if n % 2 == 0 { -1 } else { 1 });
                async move {
                    let cart = manager.cart(CART, "default").unwrap();
                    black_box(cart.change_quantity("sku-0", delta).await.unwrap())
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, uncontended_writes);
criterion_main!(benches);
