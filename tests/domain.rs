//! The cart domain through its public API: worked examples with exact totals (lines added and
//! removed; subtotal, total and item conditions; a discount larger than the cart), rounding, bad
//! input, rules, merging, metadata, item conditions, updates and the totals breakdown; input that
//! can't break a cart (control characters, deep nesting, overflowing totals) and savings.

use axum_cart::cart::Error;
use axum_cart::cart::PricedItemInput;
use axum_cart::cart::{ItemUpdate, Rule, merge};
use axum_cart::cart::{Stage, Totals};
use axum_cart::{
    CartContents, CartItem, Condition, ConditionInput, ConditionTarget, Currency, Limits,
    MergeStrategy, Money, RoundingMode,
};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

fn usd(amount: &str) -> Money {
    Money::parse(amount, Currency::USD).unwrap()
}

fn item(id: &str, price: &str, quantity: u32) -> CartItem {
    CartItem::new(id, format!("Item {id}"), usd(price), quantity)
}

fn cart_with(items: &[(&str, &str, u32)]) -> CartContents {
    let mut cart = CartContents::new(Currency::USD);
    for (id, price, quantity) in items {
        cart.add(item(id, price, *quantity)).unwrap();
    }
    cart
}

fn cond(name: &str, target: ConditionTarget, value: &str) -> Condition {
    Condition::new(name, "test", target, value).unwrap()
}

fn totals(cart: &CartContents) -> Totals {
    cart.totals().unwrap()
}

fn total(cart: &CartContents) -> String {
    totals(cart).total.to_string()
}

fn subtotal(cart: &CartContents) -> String {
    totals(cart).subtotal.to_string()
}

// ----- worked examples ---------------------------------------------------------------------------

#[test]
fn three_items_then_a_fourth_then_one_removed() {
    let mut cart = cart_with(&[("a", "10.99", 2), ("b", "15.50", 3), ("c", "8.25", 1)]);
    assert_eq!(cart.count(), 6);
    assert_eq!(cart.lines(), 3);
    let t = totals(&cart);
    assert_eq!((t.count, t.lines), (6, 3));
    assert_eq!(t.subtotal.to_string(), "76.73");
    assert_eq!(t.total.to_string(), "76.73");
    cart.add(item("d", "20.00", 1)).unwrap();
    assert_eq!(subtotal(&cart), "96.73");
    let removed = cart.remove("b").unwrap();
    assert_eq!(removed.quantity(), 3);
    assert_eq!(subtotal(&cart), "50.23");
    assert_eq!(total(&cart), "50.23");
    assert_eq!(
        cart.items().iter().map(CartItem::id).collect::<Vec<_>>(),
        ["a", "c", "d"],
        "lines keep insertion order"
    );
}

#[test]
fn percentage_and_fixed_conditions_on_the_subtotal() {
    let mut cart = cart_with(&[("a", "100.00", 1), ("b", "50.00", 2)]);
    cart.add_condition(cond("tax", ConditionTarget::Subtotal, "+10%"))
        .unwrap();
    cart.add_condition(cond("handling", ConditionTarget::Subtotal, "+5.99"))
        .unwrap();
    let t = totals(&cart);
    assert_eq!(t.subtotal_without_conditions.to_string(), "200.00");
    assert_eq!(t.subtotal.to_string(), "225.99");
    assert_eq!(t.total.to_string(), "225.99");
    assert_eq!(t.savings.to_string(), "0.00");
}

#[test]
fn subtotal_then_total_conditions() {
    let mut cart = cart_with(&[("a", "100.00", 1), ("b", "50.00", 2)]);
    cart.add_condition(cond("sale", ConditionTarget::Subtotal, "-10%"))
        .unwrap();
    cart.add_condition(cond("vat", ConditionTarget::Total, "+15%"))
        .unwrap();
    cart.add_condition(cond("ship", ConditionTarget::Total, "+9.99"))
        .unwrap();
    let t = totals(&cart);
    assert_eq!(t.subtotal.to_string(), "180.00");
    assert_eq!(t.total.to_string(), "216.99");
}

#[test]
fn item_conditions_apply_in_order_to_the_unit_price() {
    let mut cart = CartContents::new(Currency::USD);
    cart.add(
        item("a", "100.00", 1)
            .with_condition(cond("sale", ConditionTarget::Item, "-15%"))
            .with_condition(cond("gift-wrap", ConditionTarget::Item, "+20%")),
    )
    .unwrap();
    let t = totals(&cart);
    assert_eq!(t.line_total("a").unwrap().to_string(), "102.00");
    assert_eq!(t.total.to_string(), "102.00");
}

#[test]
fn a_discount_larger_than_the_cart_stops_at_zero() {
    let mut cart = cart_with(&[("a", "10.00", 1)]);
    cart.add_discount("huge", "-100.00").unwrap();
    let t = totals(&cart);
    assert_eq!(t.total.to_string(), "0.00");
    assert_eq!(t.savings.to_string(), "10.00");
    // add_discount forces the minus sign.
    let mut cart = cart_with(&[("a", "10.00", 1)]);
    cart.add_discount("ten", "10%").unwrap();
    assert_eq!(total(&cart), "9.00");
}

#[test]
fn add_shipping_twice_keeps_only_the_last() {
    let mut cart = cart_with(&[("a", "10.00", 1)]);
    cart.add_shipping("standard", "+4.99").unwrap();
    cart.add_shipping("express", "+14.99").unwrap();
    let shipping: Vec<_> = cart
        .conditions_by_kind("shipping")
        .map(Condition::name)
        .collect();
    assert_eq!(shipping, ["express"]);
    assert_eq!(total(&cart), "24.99");
    // The same name again replaces in place.
    cart.add_shipping("express", "+9.99").unwrap();
    assert_eq!(cart.conditions().len(), 1);
    assert_eq!(total(&cart), "19.99");
    // Shipping targets the total.
    assert_eq!(
        cart.condition("express").unwrap().target(),
        ConditionTarget::Total
    );
}

#[test]
fn adding_an_existing_id_adds_quantities_and_replaces_attributes() {
    let mut cart = CartContents::new(Currency::USD);
    cart.add(
        item("a", "10.00", 2)
            .with_attribute("size", "M")
            .with_attribute("color", "red"),
    )
    .unwrap();
    cart.add(CartItem::new("a", "Renamed", usd("12.00"), 3).with_attribute("size", "L"))
        .unwrap();
    assert_eq!(cart.lines(), 1);
    let line = cart.get("a").unwrap();
    assert_eq!(line.quantity(), 5);
    assert_eq!(line.name(), "Renamed");
    assert_eq!(line.price(), usd("12.00"));
    let mut expected = Map::new();
    expected.insert("size".into(), json!("L"));
    assert_eq!(
        line.attributes(),
        &expected,
        "attributes are replaced, not merged"
    );
}

// ----- rounding ----------------------------------------------------------------------------------

#[test]
fn rounding_modes_on_a_half_cent() {
    for (mode, expected) in [
        (RoundingMode::HalfUp, "5.03"),
        (RoundingMode::HalfEven, "5.02"),
        (RoundingMode::Down, "5.02"),
        (RoundingMode::Up, "5.03"),
    ] {
        let mut cart = CartContents::new(Currency::USD).with_rounding(mode);
        cart.add(item("a", "10.05", 1)).unwrap();
        cart.add_discount("half", "-50%").unwrap();
        assert_eq!(total(&cart), expected, "{mode:?}");
    }
}

#[test]
fn rounding_in_a_currency_without_minor_units() {
    let yen = |s| Money::parse(s, Currency::JPY).unwrap();
    assert_eq!(
        Money::parse("10.5", Currency::JPY).unwrap_err(),
        Error::validation("amount", "`10.5` has more than 0 decimal places for JPY")
    );
    for (mode, expected) in [
        (RoundingMode::HalfUp, "53"),
        (RoundingMode::HalfEven, "52"),
        (RoundingMode::Down, "52"),
        (RoundingMode::Up, "53"),
    ] {
        let mut cart = CartContents::new(Currency::JPY).with_rounding(mode);
        cart.add(CartItem::new("a", "Onigiri", yen("105"), 1))
            .unwrap();
        cart.add_discount("half", "-50%").unwrap();
        assert_eq!(total(&cart), expected, "{mode:?}");
    }
    let mut cart = CartContents::new(Currency::JPY);
    cart.add(CartItem::new("a", "Onigiri", yen("1500"), 2))
        .unwrap();
    cart.add_fee("wrap", "+100").unwrap();
    assert_eq!(total(&cart), "3100");
    // A fixed amount with decimals is not a JPY amount.
    let before = cart.clone();
    let err = cart.add_fee("bad", "+0.50").unwrap_err();
    assert_eq!(err.field(), Some("value"));
    assert_eq!(cart, before);
}

// ----- bad input -------------------------------------------------------------------------------

/// Runs `op` on a copy of `cart`: it must fail with an error naming `field`, leaving the cart equal.
fn refused(
    what: &str,
    cart: &mut CartContents,
    field: &str,
    op: impl FnOnce(&mut CartContents) -> Result<(), Error>,
) -> Error {
    let before = cart.clone();
    let err = match op(cart) {
        Ok(()) => panic!("{what}: accepted"),
        Err(err) => err,
    };
    assert_eq!(err.field(), Some(field), "{what}: {err}");
    assert_eq!(*cart, before, "{what}: the cart changed");
    err
}

fn input(id: &str, name: &str, price: &str, quantity: i64) -> PricedItemInput {
    serde_json::from_value(json!({"id": id, "name": name, "price": price, "quantity": quantity}))
        .unwrap()
}

#[test]
fn bad_prices_are_typed_errors_and_change_nothing() {
    let mut cart = cart_with(&[("a", "1.00", 1)]);
    cart.add_discount("d", "-5%").unwrap();
    cart.set_metadata("k", json!(1)).unwrap();
    for price in [
        "abc", "NaN", "inf", "-inf", "Infinity", "1e3", "10.999", "", "1,00", " 1",
    ] {
        refused(&format!("price {price:?}"), &mut cart, "price", |c| {
            c.add(input("b", "B", price, 1).into_item(Currency::USD)?)
                .map(|_| ())
        });
    }
    refused("negative price", &mut cart, "price", |c| {
        c.add(item("b", "-1.00", 1)).map(|_| ())
    });
    refused("negative price on update", &mut cart, "price", |c| {
        let update = ItemUpdate {
            price: Some(usd("-0.01")),
            ..ItemUpdate::default()
        };
        c.update("a", update).map(|_| ())
    });
}

#[test]
fn bad_quantities_ids_and_names_are_typed_errors_and_change_nothing() {
    let mut cart = cart_with(&[("a", "1.00", 9_999)]);
    refused("quantity 0", &mut cart, "quantity", |c| {
        c.add(item("b", "1.00", 0)).map(|_| ())
    });
    for quantity in [0, -1, -1_000] {
        refused(
            &format!("input quantity {quantity}"),
            &mut cart,
            "quantity",
            |c| {
                c.add(input("b", "B", "1.00", quantity).into_item(Currency::USD)?)
                    .map(|_| ())
            },
        );
    }
    let err = refused("quantity over the limit", &mut cart, "quantity", |c| {
        c.add(item("b", "1.00", 10_001)).map(|_| ())
    });
    assert!(
        matches!(
            err,
            Error::LimitExceeded {
                max: 10_000,
                actual: 10_001,
                ..
            }
        ),
        "{err}"
    );
    refused("adding past the limit", &mut cart, "quantity", |c| {
        c.add(item("a", "1.00", 2)).map(|_| ())
    });
    refused("setting past the limit", &mut cart, "quantity", |c| {
        c.set_quantity("a", 10_001).map(|_| ())
    });
    refused("changing past the limit", &mut cart, "quantity", |c| {
        c.change_quantity("a", 2).map(|_| ())
    });
    refused("huge input quantity", &mut cart, "quantity", |c| {
        c.add(input("b", "B", "1.00", i64::MAX).into_item(Currency::USD)?)
            .map(|_| ())
    });
    refused("empty id", &mut cart, "id", |c| {
        c.add(item("", "1.00", 1)).map(|_| ())
    });
    refused("over-long id", &mut cart, "id", |c| {
        c.add(item(&"x".repeat(256), "1.00", 1)).map(|_| ())
    });
    refused("empty name", &mut cart, "name", |c| {
        c.add(CartItem::new("b", "", usd("1.00"), 1)).map(|_| ())
    });
    refused("over-long name", &mut cart, "name", |c| {
        c.add(CartItem::new("b", "é".repeat(256), usd("1.00"), 1))
            .map(|_| ())
    });
    refused("over-long name on update", &mut cart, "name", |c| {
        let update = ItemUpdate {
            name: Some("n".repeat(256)),
            ..ItemUpdate::default()
        };
        c.update("a", update).map(|_| ())
    });
    // 255 characters (not bytes) are fine.
    cart.add(CartItem::new(
        "é".repeat(255),
        "é".repeat(255),
        usd("1.00"),
        1,
    ))
    .unwrap();
}

#[test]
fn bad_condition_values_are_typed_errors_and_change_nothing() {
    let mut cart = cart_with(&[("a", "10.00", 1)]);
    cart.add_tax("vat", "+20%").unwrap();
    for value in [
        "abc", "NaN", "inf", "-inf", "NaN%", "inf%", "%", "", "+-5", "*", "/", "1e2", "10.999",
        "++1",
    ] {
        refused(&format!("value {value:?}"), &mut cart, "value", |c| {
            c.add_condition(Condition::new("x", "fee", ConditionTarget::Total, value)?)
        });
        refused(&format!("fee {value:?}"), &mut cart, "value", |c| {
            c.add_fee("x", value)
        });
        refused(
            &format!("item condition {value:?}"),
            &mut cart,
            "value",
            |c| {
                c.add_item_condition(
                    "a",
                    Condition::new("x", "fee", ConditionTarget::Item, value)?,
                )
            },
        );
    }
    for value in ["/0", "/0.00", "/00.000"] {
        let err = refused(&format!("division {value:?}"), &mut cart, "value", |c| {
            c.add_fee("x", value)
        });
        assert!(err.to_string().contains("division by zero"), "{err}");
    }
    refused("discount by a multiplier", &mut cart, "value", |c| {
        c.add_discount("x", "*0.5")
    });
    refused("empty condition name", &mut cart, "name", |c| {
        c.add_fee("", "+1")
    });
    refused("over-long condition name", &mut cart, "name", |c| {
        c.add_fee(&"n".repeat(256), "+1")
    });
    refused("empty condition type", &mut cart, "type", |c| {
        c.add_condition(Condition::new("x", "", ConditionTarget::Total, "+1")?)
    });
    refused("an item target on the cart", &mut cart, "target", |c| {
        c.add_condition(cond("x", ConditionTarget::Item, "+1"))
    });
    refused(
        "a rule with an over-precise amount",
        &mut cart,
        "rules",
        |c| {
            c.add_condition(cond("x", ConditionTarget::Subtotal, "-1%").with_rule(
                Rule::SubtotalAtLeast {
                    amount: "1.001".parse().unwrap(),
                },
            ))
        },
    );
    refused("an item rule on the cart", &mut cart, "rules", |c| {
        c.add_condition(
            cond("x", ConditionTarget::Subtotal, "-1%")
                .with_rule(Rule::ItemQuantityAtLeast { value: 1 }),
        )
    });
}

#[test]
fn unknown_rule_kinds_are_refused_when_parsed() {
    let parsed = serde_json::from_value::<ConditionInput>(json!({
        "name": "x", "type": "discount", "value": "-5%",
        "rules": [{"kind": "full_moon"}]
    }));
    let err = parsed.unwrap_err();
    assert!(err.to_string().contains("full_moon"), "{err}");
}

#[test]
fn mixing_currencies_is_a_typed_error() {
    let mut cart = cart_with(&[("a", "1.00", 1)]);
    let euro = Money::parse("1.00", Currency::EUR).unwrap();
    let err = refused("a EUR item in a USD cart", &mut cart, "currency", |c| {
        c.add(CartItem::new("b", "B", euro, 1)).map(|_| ())
    });
    assert!(matches!(err, Error::CurrencyMismatch { .. }), "{err}");
    refused("a EUR price update", &mut cart, "currency", |c| {
        let update = ItemUpdate {
            price: Some(euro),
            ..ItemUpdate::default()
        };
        c.update("a", update).map(|_| ())
    });
}

#[test]
fn limits_on_lines_and_conditions() {
    let limits = Limits {
        max_lines: 2,
        max_conditions: 1,
        ..Limits::default()
    };
    let mut cart = CartContents::new(Currency::USD).with_limits(limits);
    cart.add(item("a", "1.00", 1)).unwrap();
    cart.add(item("b", "1.00", 1)).unwrap();
    refused("a third line", &mut cart, "lines", |c| {
        c.add(item("c", "1.00", 1)).map(|_| ())
    });
    refused(
        "add_many over the limit, all or nothing",
        &mut cart,
        "lines",
        |c| c.add_many([item("a", "1.00", 1), item("c", "1.00", 1)]),
    );
    cart.add_fee("one", "+1").unwrap();
    refused("a second condition", &mut cart, "conditions", |c| {
        c.add_fee("two", "+1")
    });
    cart.add_fee("one", "+2").unwrap();
    assert_eq!(
        total(&cart),
        "4.00",
        "replacing by name is not a new condition"
    );
    refused(
        "shipping past the condition limit",
        &mut cart,
        "conditions",
        |c| c.add_shipping("ship", "+1"),
    );
    // Shipping that replaces another shipping condition is not a new condition.
    let mut cart = cart_with(&[("a", "1.00", 1)]).with_limits(limits);
    cart.add_shipping("standard", "+1").unwrap();
    cart.add_shipping("express", "+2").unwrap();
    assert_eq!(cart.conditions().len(), 1);
}

// ----- rules -----------------------------------------------------------------------------------

/// Whether a `-10%` subtotal condition with `rule` applies to `cart` at `now`.
fn applies_at(cart: &CartContents, rule: Rule, now: OffsetDateTime) -> bool {
    let mut cart = cart.clone();
    cart.add_condition(cond("ruled", ConditionTarget::Subtotal, "-10%").with_rule(rule))
        .unwrap();
    let t = cart.totals_at(now).unwrap();
    let applied = t.subtotal != t.items_subtotal;
    assert_eq!(
        applied,
        t.steps.iter().any(|s| s.condition == "ruled"),
        "the breakdown lists exactly the applied conditions"
    );
    applied
}

fn applies(cart: &CartContents, rule: Rule) -> bool {
    applies_at(cart, rule, OffsetDateTime::now_utc())
}

#[test]
fn each_rule_switches_its_condition_on_and_off() {
    // Two lines, five units, subtotal 50.00.
    let mut cart = cart_with(&[("a", "10.00", 2), ("b", "10.00", 3)]);
    cart.set_metadata("channel", json!("web")).unwrap();
    let amount = |s: &str| s.parse().unwrap();

    assert!(applies(&cart, Rule::MinLines { value: 2 }));
    assert!(!applies(&cart, Rule::MinLines { value: 3 }));
    assert!(applies(&cart, Rule::MaxLines { value: 2 }));
    assert!(!applies(&cart, Rule::MaxLines { value: 1 }));
    assert!(applies(&cart, Rule::MinQuantity { value: 5 }));
    assert!(!applies(&cart, Rule::MinQuantity { value: 6 }));
    assert!(applies(&cart, Rule::MaxQuantity { value: 5 }));
    assert!(!applies(&cart, Rule::MaxQuantity { value: 4 }));
    assert!(applies(
        &cart,
        Rule::SubtotalAtLeast {
            amount: amount("50.00")
        }
    ));
    assert!(!applies(
        &cart,
        Rule::SubtotalAtLeast {
            amount: amount("50.01")
        }
    ));
    assert!(applies(
        &cart,
        Rule::SubtotalBelow {
            amount: amount("50.01")
        }
    ));
    assert!(!applies(
        &cart,
        Rule::SubtotalBelow {
            amount: amount("50.00")
        }
    ));
    assert!(applies(
        &cart,
        Rule::SubtotalBetween {
            min: amount("50"),
            max: amount("50")
        }
    ));
    assert!(!applies(
        &cart,
        Rule::SubtotalBetween {
            min: amount("10"),
            max: amount("49.99")
        }
    ));
    assert!(applies(&cart, Rule::HasItem { id: "a".into() }));
    assert!(!applies(&cart, Rule::HasItem { id: "z".into() }));
    assert!(applies(&cart, Rule::MissingItem { id: "z".into() }));
    assert!(!applies(&cart, Rule::MissingItem { id: "a".into() }));
    assert!(applies(
        &cart,
        Rule::MetadataPresent {
            key: "channel".into()
        }
    ));
    assert!(!applies(
        &cart,
        Rule::MetadataPresent {
            key: "coupon".into()
        }
    ));
    assert!(applies(
        &cart,
        Rule::MetadataEquals {
            key: "channel".into(),
            value: json!("web")
        }
    ));
    assert!(!applies(
        &cart,
        Rule::MetadataEquals {
            key: "channel".into(),
            value: json!("app")
        }
    ));
    assert!(applies(
        &cart,
        Rule::MetadataIn {
            key: "channel".into(),
            values: vec![json!("app"), json!("web")],
        }
    ));
    assert!(!applies(
        &cart,
        Rule::MetadataIn {
            key: "channel".into(),
            values: vec![json!("app")],
        }
    ));

    let window = Rule::DateWindow {
        from: Some(datetime!(2025-01-01 0:00 UTC)),
        until: Some(datetime!(2025-02-01 0:00 UTC)),
    };
    assert!(!applies_at(
        &cart,
        window.clone(),
        datetime!(2024-12-31 23:59:59 UTC)
    ));
    assert!(applies_at(
        &cart,
        window.clone(),
        datetime!(2025-01-01 0:00 UTC)
    ));
    assert!(applies_at(
        &cart,
        window.clone(),
        datetime!(2025-01-31 23:59:59 UTC)
    ));
    assert!(
        !applies_at(&cart, window, datetime!(2025-02-01 0:00 UTC)),
        "until is exclusive"
    );
    let open_ended = Rule::DateWindow {
        from: Some(datetime!(2025-01-01 0:00 UTC)),
        until: None,
    };
    assert!(applies_at(
        &cart,
        open_ended.clone(),
        datetime!(2099-01-01 0:00 UTC)
    ));
    assert!(!applies_at(
        &cart,
        open_ended,
        datetime!(2020-01-01 0:00 UTC)
    ));

    // Rules see the cart as it is when totals are computed.
    let rule = Rule::MinQuantity { value: 6 };
    assert!(!applies(&cart, rule.clone()));
    cart.change_quantity("a", 1).unwrap();
    assert!(applies(&cart, rule));
}

#[test]
fn item_quantity_rule_switches_an_item_condition() {
    let bulk = cond("bulk", ConditionTarget::Item, "-10%")
        .with_rule(Rule::ItemQuantityAtLeast { value: 3 });
    let mut cart = CartContents::new(Currency::USD);
    cart.add(item("a", "10.00", 2).with_condition(bulk))
        .unwrap();
    cart.add(item("b", "10.00", 5)).unwrap();
    assert_eq!(totals(&cart).line_total("a").unwrap().to_string(), "20.00");
    cart.change_quantity("a", 1).unwrap();
    assert_eq!(totals(&cart).line_total("a").unwrap().to_string(), "27.00");
    assert_eq!(totals(&cart).line_total("b").unwrap().to_string(), "50.00");
}

#[test]
fn conditions_apply_in_order_then_insertion_order() {
    let mut cart = cart_with(&[("a", "100.00", 1)]);
    cart.add_condition(cond("plus", ConditionTarget::Subtotal, "+10.00").with_order(2))
        .unwrap();
    cart.add_condition(cond("half", ConditionTarget::Subtotal, "*0.5").with_order(1))
        .unwrap();
    // half first: 50 + 10 = 60 (not (100 + 10) / 2 = 55).
    assert_eq!(subtotal(&cart), "60.00");
    let names: Vec<_> = totals(&cart)
        .steps
        .iter()
        .map(|s| s.condition.clone())
        .collect();
    assert_eq!(names, ["half", "plus"]);
}

// ----- merging ---------------------------------------------------------------------------------

fn user_and_guest() -> (CartContents, CartContents) {
    let mut user = cart_with(&[("a", "1.00", 2), ("b", "2.00", 1)]);
    user.set_metadata("shared", json!("user")).unwrap();
    user.add_fee("user-fee", "+1").unwrap();
    let mut guest = cart_with(&[("a", "1.00", 3), ("c", "3.00", 1)]);
    guest.set_metadata("shared", json!("guest")).unwrap();
    guest.set_metadata("coupon", json!("X")).unwrap();
    guest.add_fee("user-fee", "+100").unwrap();
    guest.add_fee("guest-fee", "+2").unwrap();
    (user, guest)
}

fn quantities(cart: &CartContents) -> Vec<(String, u32)> {
    cart.items()
        .iter()
        .map(|i| (i.id().to_owned(), i.quantity()))
        .collect()
}

fn q(pairs: &[(&str, u32)]) -> Vec<(String, u32)> {
    pairs.iter().map(|(id, n)| ((*id).to_owned(), *n)).collect()
}

#[test]
fn each_merge_strategy() {
    for (strategy, expected, dropped) in [
        (
            MergeStrategy::AddQuantities,
            q(&[("a", 5), ("b", 1), ("c", 1)]),
            vec![],
        ),
        (
            MergeStrategy::KeepHighestQuantity,
            q(&[("a", 3), ("b", 1), ("c", 1)]),
            vec![],
        ),
        (
            MergeStrategy::KeepUserCart,
            q(&[("a", 2), ("b", 1), ("c", 1)]),
            vec![],
        ),
        (
            MergeStrategy::ReplaceWithGuest,
            q(&[("a", 3), ("c", 1)]),
            vec!["b".to_owned()],
        ),
    ] {
        let (mut user, guest) = user_and_guest();
        let guest_before = guest.clone();
        let report = merge(&mut user, &guest, strategy);
        assert_eq!(quantities(&user), expected, "{strategy}");
        assert_eq!(report.dropped, dropped, "{strategy}");
        assert_eq!(report.added, ["c"], "{strategy}");
        assert_eq!(
            guest, guest_before,
            "{strategy}: the guest cart is left alone"
        );
        // The user's conditions and metadata win on a clash; the guest's others are added.
        assert_eq!(user.metadata()["shared"], json!("user"), "{strategy}");
        assert_eq!(user.metadata()["coupon"], json!("X"), "{strategy}");
        assert_eq!(report.metadata_added, ["coupon"], "{strategy}");
        assert_eq!(report.conditions_added, ["guest-fee"], "{strategy}");
        assert_eq!(
            user.condition("user-fee").unwrap().value().to_string(),
            "+1",
            "{strategy}"
        );
    }
}

#[test]
fn merging_clamps_to_the_quantity_limit_and_says_so() {
    let mut user = cart_with(&[("a", "1.00", 9_000)]);
    let guest = cart_with(&[("a", "1.00", 2_000)]);
    let report = merge(&mut user, &guest, MergeStrategy::AddQuantities);
    assert_eq!(user.get("a").unwrap().quantity(), 10_000);
    assert_eq!(report.clamped, ["a"]);
    // A guest line over a smaller user limit is clamped too.
    let mut user = CartContents::new(Currency::USD).with_limits(Limits {
        max_quantity: 5,
        ..Limits::default()
    });
    let report = merge(&mut user, &guest, MergeStrategy::KeepHighestQuantity);
    assert_eq!(user.get("a").unwrap().quantity(), 5);
    assert_eq!(report.clamped, ["a"]);
}

#[test]
fn merging_other_currencies_drops_the_guest_lines() {
    let mut user = cart_with(&[("a", "1.00", 1)]);
    let mut guest = CartContents::new(Currency::EUR);
    guest
        .add(CartItem::new(
            "e",
            "E",
            Money::parse("1.00", Currency::EUR).unwrap(),
            1,
        ))
        .unwrap();
    let report = merge(&mut user, &guest, MergeStrategy::AddQuantities);
    assert_eq!(report.dropped, ["e"]);
    assert_eq!(quantities(&user), q(&[("a", 1)]));
}

#[test]
fn keep_highest_is_idempotent() {
    let (mut user, guest) = user_and_guest();
    merge(&mut user, &guest, MergeStrategy::KeepHighestQuantity);
    let once = user.clone();
    let report = merge(&mut user, &guest, MergeStrategy::KeepHighestQuantity);
    assert_eq!(user, once);
    assert!(report.is_noop(), "{report:?}");
}

// ----- metadata --------------------------------------------------------------------------------

#[test]
fn metadata_operations() {
    let mut cart = cart_with(&[("a", "1.00", 1)]);
    cart.set_metadata("coupon", json!("SAVE10")).unwrap();
    assert_eq!(cart.get_metadata("coupon"), Some(&json!("SAVE10")));
    cart.set_metadata("coupon", json!({"code": "SAVE20"}))
        .unwrap();
    assert_eq!(
        cart.get_metadata("coupon"),
        Some(&json!({"code": "SAVE20"}))
    );
    let mut batch = Map::new();
    batch.insert("a".into(), json!(1));
    batch.insert("b".into(), json!([1, 2]));
    cart.set_metadata_many(batch).unwrap();
    assert_eq!(cart.metadata().len(), 3);
    // A bad key in a batch: nothing is set.
    let mut bad = Map::new();
    bad.insert("ok".into(), json!(1));
    bad.insert(String::new(), json!(2));
    refused("an empty key in a batch", &mut cart, "key", |c| {
        c.set_metadata_many(bad)
    });
    refused("an empty key", &mut cart, "key", |c| {
        c.set_metadata("", json!(1))
    });
    refused("an over-long key", &mut cart, "key", |c| {
        c.set_metadata(&"k".repeat(256), json!(1))
    });
    assert_eq!(cart.remove_metadata("a"), Some(json!(1)));
    assert_eq!(cart.remove_metadata("a"), None);
    // Metadata survives item changes, not clear().
    cart.add(item("b", "1.00", 1)).unwrap();
    cart.remove("a").unwrap();
    cart.set_quantity("b", 0).unwrap();
    assert_eq!(cart.metadata().len(), 2);
    cart.clear_metadata();
    assert!(cart.metadata().is_empty());
    cart.set_metadata("x", Value::Null).unwrap();
    cart.clear();
    assert!(cart.metadata().is_empty());
    assert!(cart.is_empty());
}

// ----- item conditions -------------------------------------------------------------------------

#[test]
fn item_condition_operations() {
    let mut cart = cart_with(&[("a", "10.00", 2), ("b", "5.00", 1)]);
    cart.add_item_condition("a", cond("sale", ConditionTarget::Item, "-10%"))
        .unwrap();
    assert_eq!(totals(&cart).line_total("a").unwrap().to_string(), "18.00");
    // Same name: replaced in place. The target is forced to `item`.
    cart.add_item_condition("a", cond("sale", ConditionTarget::Total, "-50%"))
        .unwrap();
    let line = cart.get("a").unwrap();
    assert_eq!(line.conditions().len(), 1);
    assert_eq!(line.conditions()[0].target(), ConditionTarget::Item);
    assert_eq!(totals(&cart).line_total("a").unwrap().to_string(), "10.00");
    cart.add_item_condition("a", cond("wrap", ConditionTarget::Item, "+1.00"))
        .unwrap();
    assert_eq!(totals(&cart).line_total("a").unwrap().to_string(), "12.00");
    assert_eq!(totals(&cart).line_total("b").unwrap().to_string(), "5.00");

    let removed = cart.remove_item_condition("a", "sale").unwrap();
    assert_eq!(removed.name(), "sale");
    assert!(matches!(
        cart.remove_item_condition("a", "sale"),
        Err(Error::ConditionNotFound { .. })
    ));
    assert!(matches!(
        cart.add_item_condition("zz", cond("x", ConditionTarget::Item, "+1")),
        Err(Error::ItemNotFound { .. })
    ));
    assert!(matches!(
        cart.remove_item_condition("zz", "wrap"),
        Err(Error::ItemNotFound { .. })
    ));
    cart.clear_item_conditions("a").unwrap();
    assert!(cart.get("a").unwrap().conditions().is_empty());
    assert_eq!(totals(&cart).line_total("a").unwrap().to_string(), "20.00");
    // Re-adding the line without conditions keeps the ones it has.
    cart.add_item_condition("a", cond("sale", ConditionTarget::Item, "-10%"))
        .unwrap();
    cart.add(item("a", "10.00", 1)).unwrap();
    assert_eq!(cart.get("a").unwrap().conditions().len(), 1);
}

#[test]
fn cart_condition_operations() {
    let mut cart = cart_with(&[("a", "10.00", 1)]);
    cart.add_tax("vat", "+20%").unwrap();
    cart.add_fee("service", "+1.00").unwrap();
    cart.add_discount("promo", "5%").unwrap();
    assert_eq!(cart.conditions_by_kind("tax").count(), 1);
    assert_eq!(cart.remove_conditions_by_kind("fee"), 1);
    assert_eq!(cart.remove_condition("promo").unwrap().name(), "promo");
    assert!(matches!(
        cart.remove_condition("promo"),
        Err(Error::ConditionNotFound { .. })
    ));
    assert_eq!(total(&cart), "12.00");
    cart.clear_conditions();
    assert_eq!(total(&cart), "10.00");
}

// ----- updates ---------------------------------------------------------------------------------

#[test]
fn update_sets_changes_and_removes_at_zero() {
    let mut cart = cart_with(&[("a", "1.00", 5), ("b", "2.00", 1)]);
    assert_eq!(cart.set_quantity("a", 3).unwrap().unwrap().quantity(), 3);
    assert_eq!(cart.change_quantity("a", 4).unwrap().unwrap().quantity(), 7);
    assert_eq!(
        cart.change_quantity("a", -2).unwrap().unwrap().quantity(),
        5
    );
    assert!(
        cart.change_quantity("a", -5).unwrap().is_none(),
        "0 removes the line"
    );
    assert!(!cart.has("a"));
    cart.add(item("a", "1.00", 1)).unwrap();
    assert!(cart.set_quantity("a", 0).unwrap().is_none());
    cart.add(item("a", "1.00", 1)).unwrap();
    assert!(
        cart.set_quantity("a", -3).unwrap().is_none(),
        "negative removes too"
    );
    assert!(cart.change_quantity("b", -10).unwrap().is_none());
    assert_eq!(cart.lines(), 0);

    let mut cart = cart_with(&[("a", "1.00", 2)]);
    let mut attributes = Map::new();
    attributes.insert("color".into(), json!("blue"));
    let line = cart
        .update(
            "a",
            ItemUpdate {
                name: Some("Renamed".into()),
                price: Some(usd("3.00")),
                attributes: Some(attributes.clone()),
                ..ItemUpdate::default()
            },
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        (line.name(), line.price(), line.quantity()),
        ("Renamed", usd("3.00"), 2)
    );
    assert_eq!(line.attributes(), &attributes);
    assert_eq!(total(&cart), "6.00");
}

#[test]
fn unknown_ids_are_item_not_found() {
    let mut cart = cart_with(&[("a", "1.00", 1)]);
    let before = cart.clone();
    for result in [
        cart.clone().set_quantity("zz", 1).map(|_| ()),
        cart.clone().change_quantity("zz", 1).map(|_| ()),
        cart.clone().update("zz", ItemUpdate::default()).map(|_| ()),
        cart.clone().remove("zz").map(|_| ()),
        cart.clone().clear_item_conditions("zz"),
    ] {
        match result {
            Err(Error::ItemNotFound { id }) => assert_eq!(id, "zz"),
            other => panic!("expected ItemNotFound, got {other:?}"),
        }
    }
    assert!(cart.get("zz").is_none());
    assert_eq!(
        cart.remove("zz").map(|_| ()),
        Err(Error::ItemNotFound { id: "zz".into() })
    );
    assert_eq!(cart, before);
}

// ----- breakdown -------------------------------------------------------------------------------

#[test]
fn steps_list_each_applied_condition() {
    let mut cart = CartContents::new(Currency::USD);
    cart.add(item("a", "100.00", 2).with_condition(cond("sale", ConditionTarget::Item, "-15%")))
        .unwrap();
    cart.add(item("b", "10.00", 1)).unwrap();
    cart.add_discount("welcome", "-10.00").unwrap();
    cart.add_tax("vat", "+10%").unwrap();
    cart.add_shipping("ship", "+5.00").unwrap();
    // Off: its rule does not hold, so it is not a step.
    cart.add_fee("never", "+1").unwrap();
    cart.add_condition(
        cond("off", ConditionTarget::Total, "+1").with_rule(Rule::HasItem { id: "zz".into() }),
    )
    .unwrap();
    cart.remove_condition("never").unwrap();

    let t = totals(&cart);
    let steps: Vec<_> = t
        .steps
        .iter()
        .map(|s| {
            (
                s.stage.clone(),
                s.condition.as_str(),
                s.kind.as_str(),
                s.base.to_string(),
                s.change.to_string(),
                s.result.to_string(),
            )
        })
        .collect();
    let step = |stage, name, kind, base: &str, change: &str, result: &str| {
        (
            stage,
            name,
            kind,
            base.to_owned(),
            change.to_owned(),
            result.to_owned(),
        )
    };
    assert_eq!(
        steps,
        vec![
            step(
                Stage::Item { id: "a".into() },
                "sale",
                "test",
                "100.00",
                "-15.00",
                "85.00"
            ),
            step(
                Stage::Subtotal,
                "welcome",
                "discount",
                "180.00",
                "-10.00",
                "170.00"
            ),
            step(Stage::Subtotal, "vat", "tax", "170.00", "17.00", "187.00"),
            step(Stage::Total, "ship", "shipping", "187.00", "5.00", "192.00"),
        ]
    );
    assert_eq!(t.items_subtotal.to_string(), "180.00");
    assert_eq!(t.subtotal.to_string(), "187.00");
    assert_eq!(t.total.to_string(), "192.00");
    assert_eq!(t.subtotal_without_conditions.to_string(), "210.00");
    // Only `welcome` is of kind `discount`: the item's `sale` (kind `test`) is not a saving.
    assert_eq!(t.savings.to_string(), "10.00");
    assert_eq!(t.steps[0].value.to_string(), "-15%");
    // Each step starts where the previous one of its stage ended.
    for pair in t.steps.windows(2).skip(1) {
        assert_eq!(pair[0].result, pair[1].base);
    }
}

// ----- hygiene ---------------------------------------------------------------------------------

/// A cart with a line, a condition and metadata, so that a refused change has something to spoil.
fn stocked_cart() -> CartContents {
    let mut cart = cart_with(&[("a", "10.00", 2)]);
    cart.add_discount("welcome", "-1.00").unwrap();
    cart.set_metadata("tier", json!({"level": "gold"})).unwrap();
    cart
}

/// `change` is refused with a validation error naming `field`, and the cart stays as it was.
fn refuses(field: &str, change: impl FnOnce(&mut CartContents) -> Result<(), Error>) {
    let mut cart = stocked_cart();
    let before = cart.clone();
    let error = change(&mut cart).expect_err("the change should be refused");
    assert!(
        matches!(error, Error::Validation { .. }),
        "{field}: {error:?}"
    );
    assert_eq!(error.field(), Some(field), "{error}");
    assert_eq!(cart, before, "a refused change ({error}) changed the cart");
    assert_eq!(cart.totals().unwrap().total.to_string(), "19.00");
}

/// An object `levels` deep, counting itself: `{"a": {"a": ... {}}}`.
fn nested(levels: usize) -> Map<String, Value> {
    let mut value = json!({});
    for _ in 1..levels {
        value = json!({ "a": value });
    }
    value.as_object().unwrap().clone()
}

#[test]
fn control_characters_are_refused_in_ids_and_names() {
    refuses("id", |c| c.add(item("b\0", "1.00", 1)).map(|_| ()));
    refuses("id", |c| c.add(item("b\u{7f}", "1.00", 1)).map(|_| ()));
    refuses("name", |c| {
        c.add(CartItem::new("b", "Lamp\u{7}", usd("1.00"), 1))
            .map(|_| ())
    });
    // An existing line: neither the name nor the quantity changes.
    refuses("name", |c| {
        c.add(CartItem::new("a", "A\nB", usd("1.00"), 1))
            .map(|_| ())
    });
    refuses("name", |c| {
        let update = ItemUpdate {
            name: Some("new\0name".into()),
            ..ItemUpdate::set_quantity(5)
        };
        c.update("a", update).map(|_| ())
    });
}

#[test]
fn control_characters_are_refused_in_condition_names() {
    let bad = |target| Condition::new("spring\0", "discount", target, "-5%").unwrap();
    refuses("condition.name", |c| {
        c.add_condition(bad(ConditionTarget::Subtotal))
    });
    refuses("condition.name", |c| {
        c.add_item_condition("a", bad(ConditionTarget::Item))
    });
    refuses("condition.name", |c| {
        c.add(item("b", "1.00", 1).with_condition(bad(ConditionTarget::Item)))
            .map(|_| ())
    });
    refuses("condition.name", |c| c.add_discount("x\r", "-1.00"));
    refuses("condition.name", |c| c.add_tax("vat\t", "+8%"));
    refuses("condition.name", |c| c.add_fee("fee\u{1b}", "+1.00"));
    refuses("condition.name", |c| c.add_shipping("ship\0", "+4.99"));
}

#[test]
fn control_characters_are_refused_in_attributes() {
    let with = |attributes: Value| {
        item("a", "1.00", 1).with_attributes(attributes.as_object().unwrap().clone())
    };
    refuses("attributes", |c| {
        c.add(with(json!({"size\0": "M"}))).map(|_| ())
    });
    refuses("attributes", |c| {
        c.add(with(json!({"size": "M\0"}))).map(|_| ())
    });
    refuses("attributes", |c| {
        c.add(with(json!({"print": {"lines": ["ok", "\u{0}"]}})))
            .map(|_| ())
    });
    refuses("attributes", |c| {
        let update = ItemUpdate {
            attributes: Some(
                json!({"deep": [{"k\u{1}": 1}]})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
            ..ItemUpdate::default()
        };
        c.update("a", update).map(|_| ())
    });
}

#[test]
fn control_characters_are_refused_in_metadata() {
    refuses("metadata", |c| c.set_metadata("coupon\0", json!("SPRING")));
    refuses("metadata", |c| c.set_metadata("coupon", json!("SPR\0NG")));
    refuses("metadata", |c| {
        c.set_metadata("gift", json!({"note": ["happy", {"to\n": "you"}]}))
    });
    // A batch with one bad value sets none of its values.
    refuses("metadata", |c| {
        let values = json!({"a": 1, "b": {"c": "\u{0}"}, "d": 2});
        c.set_metadata_many(values.as_object().unwrap().clone())
    });
}

#[test]
fn attributes_and_metadata_nest_at_most_32_levels() {
    assert_eq!(axum_cart::cart::MAX_JSON_DEPTH, 32);
    let mut cart = stocked_cart();
    cart.add(item("b", "1.00", 1).with_attributes(nested(32)))
        .unwrap();
    assert_eq!(cart.get("b").unwrap().attributes(), &nested(32));
    refuses("attributes", |c| {
        c.add(item("c", "1.00", 1).with_attributes(nested(33)))
            .map(|_| ())
    });
    refuses("attributes", |c| {
        let update = ItemUpdate {
            attributes: Some(nested(33)),
            ..ItemUpdate::default()
        };
        c.update("a", update).map(|_| ())
    });
    // The metadata object is the first level: a value under one of its keys has 31 more.
    cart.set_metadata("ok", Value::Object(nested(31))).unwrap();
    refuses("metadata", |c| {
        c.set_metadata("deep", Value::Object(nested(32)))
    });
    let mut array = json!(1);
    for _ in 0..32 {
        array = json!([array]);
    }
    refuses("metadata", |c| c.set_metadata("deep", array));
    // What was accepted is stored and read back.
    let back = CartContents::from_json(&cart.to_json().unwrap()).unwrap();
    assert_eq!(back, cart);
}

#[test]
fn a_write_whose_totals_would_overflow_is_refused() {
    use axum_cart::storage::ModifyOptions;
    let options = ModifyOptions::default();
    let big = Money::parse("50000000000000000.00", Currency::USD).unwrap();
    let (stored, _) = options
        .apply(
            None,
            &|cart: &mut CartContents| {
                cart.add(CartItem::new("yacht", "Yacht", big, 1))
                    .map(|_| ())
            },
            "w1",
        )
        .unwrap();
    assert_eq!(
        stored.totals().unwrap().total.to_string(),
        "50000000000000000.00"
    );
    let current = || Some(axum_cart::storage::Versioned::new(stored.clone(), 1));

    // A second yacht: each operation alone is valid, the sum does not fit in 64 bits.
    let error = options
        .apply(
            current(),
            &|cart: &mut CartContents| {
                cart.add(CartItem::new("yacht", "Yacht", big, 1))
                    .map(|_| ())
            },
            "w2",
        )
        .unwrap_err();
    assert_eq!(error, Error::overflow("amount"), "{error}");
    // A condition that would overflow the total.
    let double = |cart: &mut CartContents| {
        cart.add_condition(Condition::new("x", "fee", ConditionTarget::Total, "*2").unwrap())
    };
    assert_eq!(
        options.apply(current(), &double, "w3").unwrap_err().code(),
        "overflow"
    );
    // One that would overflow only once its date window opens: refused now all the same.
    let later = |cart: &mut CartContents| {
        let window = Rule::DateWindow {
            from: Some(datetime!(2999-01-01 0:00 UTC)),
            until: None,
        };
        cart.add_condition(
            Condition::new("x", "fee", ConditionTarget::Total, "*2")
                .unwrap()
                .with_rule(window),
        )
    };
    let mut alone = stored.clone();
    later(&mut alone).unwrap();
    assert_eq!(
        alone.totals().unwrap().total.to_string(),
        "50000000000000000.00",
        "the window is not open yet"
    );
    assert_eq!(
        options.apply(current(), &later, "w4").unwrap_err().code(),
        "overflow"
    );
    // Savings overflow too: a discount and a fee taking turns on a line.
    let seesaw = |cart: &mut CartContents| {
        let mut line = CartItem::new(
            "seesaw",
            "Seesaw",
            Money::parse("40000000000000000.00", Currency::USD).unwrap(),
            1,
        );
        for i in 0..4 {
            line = line
                .with_condition(
                    Condition::new(
                        format!("off{i}"),
                        "discount",
                        ConditionTarget::Item,
                        "-100%",
                    )
                    .unwrap()
                    .with_order(2 * i),
                )
                .with_condition(
                    Condition::new(
                        format!("on{i}"),
                        "fee",
                        ConditionTarget::Item,
                        "+40000000000000000.00",
                    )
                    .unwrap()
                    .with_order(2 * i + 1),
                );
        }
        cart.add(line).map(|_| ())
    };
    let mut empty = CartContents::new(Currency::USD);
    seesaw(&mut empty).unwrap();
    assert_eq!(empty.totals().unwrap_err(), Error::overflow("savings"));
    assert_eq!(
        options.apply(None, &seesaw, "w5").unwrap_err(),
        Error::overflow("savings")
    );
    // The stored cart was never touched, and still totals.
    assert_eq!(
        stored.totals().unwrap().total.to_string(),
        "50000000000000000.00"
    );
}

#[tokio::test]
async fn storage_keeps_the_cart_when_a_write_would_overflow() {
    use axum_cart::storage::{CartKey, CartStorage, ModifyError, ModifyOptions};
    let storage = axum_cart::MemoryStorage::new();
    let key = CartKey::new("visitor", "default");
    let options = ModifyOptions::default();
    let big = Money::parse("90000000000000000.00", Currency::USD).unwrap();
    let add = |cart: &mut CartContents| {
        cart.add(CartItem::new("yacht", "Yacht", big, 1))
            .map(|_| ())
    };
    storage.modify(&key, &options, &add).await.unwrap();
    let before = storage.load(&key).await.unwrap().unwrap();
    let error = storage.modify(&key, &options, &add).await.unwrap_err();
    assert!(
        matches!(&error, ModifyError::Rejected(e) if e.code() == "overflow"),
        "{error:?}"
    );
    let after = storage.load(&key).await.unwrap().unwrap();
    assert_eq!(after.version, before.version);
    assert_eq!(after.value, before.value);
    assert_eq!(
        after.value.totals().unwrap().total.to_string(),
        "90000000000000000.00"
    );
}

// ----- savings ---------------------------------------------------------------------------------

#[test]
fn savings_count_the_discounts_not_the_taxes() {
    let mut cart = cart_with(&[("a", "19.99", 3)]);
    cart.add_discount("spring", "-10%").unwrap();
    cart.add_condition(Condition::new("tax", "tax", ConditionTarget::Total, "+8.25%").unwrap())
        .unwrap();
    let t = totals(&cart);
    assert_eq!(t.subtotal_without_conditions.to_string(), "59.97");
    assert_eq!(t.subtotal.to_string(), "53.97");
    assert_eq!(t.total.to_string(), "58.42");
    assert_eq!(t.savings.to_string(), "6.00");

    cart.add_shipping("standard", "+20.00").unwrap();
    let t = totals(&cart);
    assert_eq!(t.total.to_string(), "78.42");
    assert_eq!(
        t.savings.to_string(),
        "6.00",
        "shipping never shrinks the savings"
    );
    cart.add_fee("handling", "+2.50").unwrap();
    assert_eq!(totals(&cart).savings.to_string(), "6.00");
}

#[test]
fn savings_add_item_and_cart_discounts_by_kind() {
    let mut cart = CartContents::new(Currency::USD);
    // An item discount counts once per unit: 3 × 1.50.
    cart.add(item("a", "10.00", 3).with_condition(
        Condition::new("bulk", "discount", ConditionTarget::Item, "-1.50").unwrap(),
    ))
    .unwrap();
    // Lowers the price, but is not a discount: not a saving.
    cart.add(item("b", "20.00", 1).with_condition(
        Condition::new("trade-in", "credit", ConditionTarget::Item, "-5.00").unwrap(),
    ))
    .unwrap();
    cart.add_discount("welcome", "-2.00").unwrap();
    // Of kind discount, yet it raises the amount: it saves nothing.
    cart.add_condition(Condition::new("odd", "discount", ConditionTarget::Total, "+1.00").unwrap())
        .unwrap();
    let t = totals(&cart);
    assert_eq!(t.items_subtotal.to_string(), "40.50");
    assert_eq!(t.subtotal.to_string(), "38.50");
    assert_eq!(t.total.to_string(), "39.50");
    assert_eq!(t.savings.to_string(), "6.50");
    // A discount larger than what it applies to saves what there was.
    cart.add_discount("huge", "-1000.00").unwrap();
    let t = totals(&cart);
    assert_eq!(t.total.to_string(), "1.00");
    assert_eq!(t.savings.to_string(), "45.00");
}

#[test]
fn a_line_without_attributes_stores_none_and_older_documents_still_read() {
    let mut cart = CartContents::new(Currency::USD);
    cart.add(CartItem::new("a", "Apple", usd("1.00"), 2))
        .unwrap();
    let shirt = CartItem::new("s", "Shirt", usd("9.00"), 1).with_attribute("size", "M");
    cart.add(shirt).unwrap();
    let stored: Value = serde_json::from_slice(&cart.to_json().unwrap()).unwrap();
    assert!(stored["items"][0].get("attributes").is_none(), "{stored}");
    assert_eq!(stored["items"][1]["attributes"]["size"], "M");
    assert_eq!(
        CartContents::from_json(&cart.to_json().unwrap()).unwrap(),
        cart
    );

    // Documents written before empty attributes were left out.
    let mut older = stored.clone();
    older["items"][0]["attributes"] = json!({});
    let read = CartContents::from_json(older.to_string().as_bytes()).unwrap();
    assert_eq!(read, cart);
}
