//! Totals of carts with 10, 100 and 1 000 lines and 10 conditions (5 item conditions spread over
//! the lines, 5 cart conditions), against a baseline measured in the same run: summing
//! price × quantity over the same lines with no conditions at all.

use std::hint::black_box;

use axum_cart::cart::Rule;
use axum_cart::{CartContents, CartItem, Condition, ConditionTarget, Currency, Money};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn cart_with(lines: usize) -> CartContents {
    let limits = axum_cart::Limits {
        max_lines: lines.max(1_000),
        ..Default::default()
    };
    let mut cart = CartContents::new(Currency::USD).with_limits(limits);
    for i in 0..lines {
        let price = Money::from_minor(100 + (i as i64 * 37) % 9_000, Currency::USD);
        let mut item = CartItem::new(
            format!("sku-{i}"),
            format!("Product {i}"),
            price,
            1 + (i % 7) as u32,
        );
        if i % 5 == 0 {
            item = item.with_condition(
                Condition::new("member", "discount", ConditionTarget::Item, "-5%").unwrap(),
            );
        }
        cart.add(item).unwrap();
    }
    cart.add_discount("spring", "10%").unwrap();
    cart.add_tax("vat", "+8.25%").unwrap();
    cart.add_condition(
        Condition::new("bulk", "discount", ConditionTarget::Subtotal, "-2%")
            .unwrap()
            .with_rule(Rule::MinQuantity { value: 20 }),
    )
    .unwrap();
    cart.add_fee("handling", "+1.50").unwrap();
    cart.add_shipping("ground", "+9.99").unwrap();
    // Five more item conditions on the first lines, so that 10 conditions are in play.
    for (n, value) in ["-1%", "+0.10", "*1.01", "/1.02", "-0.05"]
        .iter()
        .enumerate()
    {
        let id = format!("sku-{}", n % lines);
        cart.add_item_condition(
            &id,
            Condition::new(
                format!("promo-{n}"),
                "discount",
                ConditionTarget::Item,
                value,
            )
            .unwrap(),
        )
        .unwrap();
    }
    cart
}

fn baseline_sum(cart: &CartContents) -> i64 {
    cart.items()
        .iter()
        .map(|item| item.price().minor_units() * i64::from(item.quantity()))
        .sum()
}

fn totals(c: &mut Criterion) {
    let mut group = c.benchmark_group("totals");
    for lines in [10usize, 100, 1_000] {
        let cart = cart_with(lines);
        group.throughput(Throughput::Elements(lines as u64));
        group.bench_with_input(
            BenchmarkId::new("with_10_conditions", lines),
            &cart,
            |b, cart| b.iter(|| black_box(cart).totals().unwrap()),
        );
        group.bench_with_input(
            BenchmarkId::new("baseline_plain_sum", lines),
            &cart,
            |b, cart| b.iter(|| baseline_sum(black_box(cart))),
        );
    }
    group.finish();
}

fn serialize(c: &mut Criterion) {
    let cart = cart_with(100);
    let json = cart.to_json().unwrap();
    let mut group = c.benchmark_group("document_100_lines");
    group.bench_function("to_json", |b| {
        b.iter(|| black_box(&cart).to_json().unwrap())
    });
    group.bench_function("from_json", |b| {
        b.iter(|| CartContents::from_json(black_box(&json)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, totals, serialize);
criterion_main!(benches);
