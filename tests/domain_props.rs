//! Properties of the cart domain over generated carts and operations.

use axum_cart::cart::Error;
use axum_cart::cart::PricedItemInput;
use axum_cart::cart::{Rule, merge};
use axum_cart::storage::{ModifyOptions, Versioned};
use axum_cart::{
    CartContents, CartItem, Condition, ConditionTarget, Currency, Limits, MergeStrategy, Money,
    RoundingMode,
};
use proptest::prelude::*;
use serde_json::json;

fn usd_minor(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

fn rounding() -> impl Strategy<Value = RoundingMode> {
    prop_oneof![
        Just(RoundingMode::HalfUp),
        Just(RoundingMode::HalfEven),
        Just(RoundingMode::Down),
        Just(RoundingMode::Up),
    ]
}

/// A condition value: signed percentages, signed amounts, multipliers and divisors.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        (-1000i64..=1000).prop_map(|p| format!(
            "{}{}.{}%",
            if p < 0 { "-" } else { "+" },
            p.abs() / 10,
            p.abs() % 10
        )),
        (-50_000i64..=50_000).prop_map(|a| format!(
            "{}{}.{:02}",
            if a < 0 { "-" } else { "+" },
            a.abs() / 100,
            a.abs() % 100
        )),
        (1u32..=300).prop_map(|m| format!("*{}.{:02}", m / 100, m % 100)),
        (1u32..=300).prop_map(|d| format!("/{}.{:02}", d / 100, d % 100)),
    ]
}

fn target() -> impl Strategy<Value = ConditionTarget> {
    prop_oneof![
        Just(ConditionTarget::Subtotal),
        Just(ConditionTarget::Total)
    ]
}

fn rule() -> impl Strategy<Value = Option<Rule>> {
    prop_oneof![
        Just(None),
        (0u64..6).prop_map(|value| Some(Rule::MinQuantity { value })),
        (0u64..4).prop_map(|value| Some(Rule::MaxLines { value })),
        "[a-e]".prop_map(|id| Some(Rule::HasItem { id })),
    ]
}

#[derive(Clone, Debug)]
struct Line {
    id: String,
    price: i64,
    quantity: u32,
    conditions: Vec<(String, i32)>,
}

fn line() -> impl Strategy<Value = Line> {
    (
        "[a-e]",
        0i64..200_000,
        1u32..40,
        prop::collection::vec((value(), -2i32..3), 0..3),
    )
        .prop_map(|(id, price, quantity, conditions)| Line {
            id,
            price,
            quantity,
            conditions,
        })
}

fn build(
    lines: &[Line],
    conditions: &[(String, ConditionTarget, i32, Option<Rule>)],
    mode: RoundingMode,
) -> CartContents {
    let mut cart = CartContents::new(Currency::USD).with_rounding(mode);
    for line in lines {
        let mut item = CartItem::new(
            &line.id,
            format!("Item {}", line.id),
            usd_minor(line.price),
            line.quantity,
        )
        .with_attribute("n", line.quantity);
        for (i, (value, order)) in line.conditions.iter().enumerate() {
            let condition = Condition::new(format!("ic{i}"), "test", ConditionTarget::Item, value)
                .unwrap()
                .with_order(*order);
            item = item.with_condition(condition);
        }
        cart.add(item).unwrap();
    }
    for (i, (value, target, order, rule)) in conditions.iter().enumerate() {
        let mut condition = Condition::new(format!("c{i}"), "test", *target, value)
            .unwrap()
            .with_order(*order);
        if let Some(rule) = rule {
            condition = condition.with_rule(rule.clone());
        }
        cart.add_condition(condition).unwrap();
    }
    cart
}

fn cart() -> impl Strategy<Value = CartContents> {
    (
        prop::collection::vec(line(), 0..6),
        prop::collection::vec((value(), target(), -2i32..3, rule()), 0..5),
        rounding(),
        prop::option::of("[a-z]{1,8}"),
    )
        .prop_map(|(lines, conditions, mode, note)| {
            let mut cart = build(&lines, &conditions, mode);
            if let Some(note) = note {
                cart.set_metadata("note", json!({ "text": note, "n": [1, 2] }))
                    .unwrap();
            }
            cart
        })
}

/// Operations with arguments that are sometimes valid, sometimes not.
#[derive(Clone, Debug)]
enum Op {
    Add {
        id: String,
        price: String,
        quantity: i64,
    },
    SetQuantity {
        id: String,
        quantity: i64,
    },
    ChangeQuantity {
        id: String,
        delta: i64,
    },
    Remove {
        id: String,
    },
    AddCondition {
        name: String,
        value: String,
        target: ConditionTarget,
    },
    AddItemCondition {
        id: String,
        name: String,
        value: String,
    },
    AddDiscount {
        name: String,
        value: String,
    },
    AddShipping {
        name: String,
        value: String,
    },
    RemoveCondition {
        name: String,
    },
    SetMetadata {
        key: String,
    },
    /// A line as trusted code adds it: any price, any text, any attributes.
    AddPriced {
        id: String,
        name: String,
        price: i64,
        quantity: u32,
        attributes: serde_json::Value,
    },
    /// A cart condition that applies only from a date far ahead.
    AddLater {
        name: String,
        value: String,
    },
    SetMetadataValue {
        key: String,
        value: serde_json::Value,
    },
}

fn messy_id() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[a-e]", 1 => Just(String::new()), 1 => "[a-z]{256,260}"]
}

fn messy_amount() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "-?[0-9]{1,4}(\\.[0-9]{1,3})?",
        1 => prop::sample::select(vec!["NaN", "inf", "-inf", "abc", "", "1e3", "99999999999999999999"]).prop_map(String::from),
    ]
}

fn messy_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => value(),
        1 => prop::sample::select(vec!["NaN", "inf%", "/0", "/0.0", "*", "++1", "1.001", "x%"]).prop_map(String::from),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (messy_id(), messy_amount(), -3i64..30).prop_map(|(id, price, quantity)| Op::Add {
            id,
            price,
            quantity
        }),
        (messy_id(), -3i64..30).prop_map(|(id, quantity)| Op::SetQuantity { id, quantity }),
        (messy_id(), -30i64..30).prop_map(|(id, delta)| Op::ChangeQuantity { id, delta }),
        messy_id().prop_map(|id| Op::Remove { id }),
        (
            messy_id(),
            messy_value(),
            prop_oneof![Just(ConditionTarget::Item), target()]
        )
            .prop_map(|(name, value, target)| Op::AddCondition {
                name,
                value,
                target
            }),
        (messy_id(), messy_id(), messy_value())
            .prop_map(|(id, name, value)| Op::AddItemCondition { id, name, value }),
        (messy_id(), messy_value()).prop_map(|(name, value)| Op::AddDiscount { name, value }),
        (messy_id(), messy_value()).prop_map(|(name, value)| Op::AddShipping { name, value }),
        messy_id().prop_map(|name| Op::RemoveCondition { name }),
        messy_id().prop_map(|key| Op::SetMetadata { key }),
    ]
}

fn apply(cart: &mut CartContents, op: &Op) -> Result<(), Error> {
    match op {
        Op::Add {
            id,
            price,
            quantity,
        } => {
            let input: PricedItemInput = serde_json::from_value(json!({
                "id": id, "name": format!("n{id}"), "price": price, "quantity": quantity
            }))
            .unwrap();
            cart.add(input.into_item(cart.currency())?).map(|_| ())
        }
        Op::SetQuantity { id, quantity } => cart.set_quantity(id, *quantity).map(|_| ()),
        Op::ChangeQuantity { id, delta } => cart.change_quantity(id, *delta).map(|_| ()),
        Op::Remove { id } => cart.remove(id).map(|_| ()),
        Op::AddCondition {
            name,
            value,
            target,
        } => cart.add_condition(Condition::new(name.as_str(), "test", *target, value)?),
        Op::AddItemCondition { id, name, value } => cart.add_item_condition(
            id,
            Condition::new(name.as_str(), "test", ConditionTarget::Item, value)?,
        ),
        Op::AddDiscount { name, value } => cart.add_discount(name, value),
        Op::AddShipping { name, value } => cart.add_shipping(name, value),
        Op::RemoveCondition { name } => cart.remove_condition(name).map(|_| ()),
        Op::SetMetadata { key } => cart.set_metadata(key, json!(key.len())),
        Op::AddPriced {
            id,
            name,
            price,
            quantity,
            attributes,
        } => {
            let attributes = json!({ "a": attributes }).as_object().unwrap().clone();
            let line =
                CartItem::new(id, name, usd_minor(*price), *quantity).with_attributes(attributes);
            cart.add(line).map(|_| ())
        }
        Op::AddLater { name, value } => {
            let window = Rule::DateWindow {
                from: Some(time::macros::datetime!(2999-01-01 0:00 UTC)),
                until: None,
            };
            let condition =
                Condition::new(name.as_str(), "discount", ConditionTarget::Total, value)?;
            cart.add_condition(condition.with_rule(window))
        }
        Op::SetMetadataValue { key, value } => cart.set_metadata(key, value.clone()),
    }
}

/// Text that is sometimes fine and sometimes holds a control character.
fn dirty_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-e]",
        1 => prop::sample::select(vec!["b\0", "c\n", "d\u{7f}", "e\u{85}", "\u{1b}[31m"])
            .prop_map(String::from),
    ]
}

/// JSON nested 0 to 40 levels around a string that may hold a control character.
fn dirty_json() -> impl Strategy<Value = serde_json::Value> {
    (dirty_text(), prop::collection::vec(any::<bool>(), 0..40)).prop_map(|(leaf, levels)| {
        levels.into_iter().fold(json!(leaf), |inner, array| {
            if array {
                json!([inner])
            } else {
                json!({ "k": inner })
            }
        })
    })
}

/// Amounts up to the largest that fit, and values that multiply them out of range.
fn huge_value() -> impl Strategy<Value = String> {
    prop_oneof![
        value(),
        prop::sample::select(vec![
            "*1000000000",
            "/0.000001",
            "+90000000000000000.00",
            "-90000000000000000.00",
            "+1000%",
            "-100%"
        ])
        .prop_map(String::from),
    ]
}

/// Everything [`op`] does, and input meant to break a stored cart: control characters, deep
/// nesting, prices and values that overflow, conditions that switch on only later.
fn wild_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => op(),
        2 => (dirty_text(), dirty_text(), prop_oneof![0i64..200_000, (i64::MAX / 4)..=i64::MAX], 1u32..3, dirty_json())
            .prop_map(|(id, name, price, quantity, attributes)| Op::AddPriced { id, name, price, quantity, attributes }),
        1 => (dirty_text(), huge_value(), prop_oneof![Just(ConditionTarget::Item), target()])
            .prop_map(|(name, value, target)| Op::AddCondition { name, value, target }),
        1 => (messy_id(), dirty_text(), huge_value())
            .prop_map(|(id, name, value)| Op::AddItemCondition { id, name, value }),
        1 => (dirty_text(), huge_value()).prop_map(|(name, value)| Op::AddLater { name, value }),
        1 => (dirty_text(), dirty_json()).prop_map(|(key, value)| Op::SetMetadataValue { key, value }),
    ]
}

/// Whether a JSON document holds a control character in any key or string.
fn holds_control(value: &serde_json::Value) -> bool {
    let dirty = |s: &str| s.chars().any(char::is_control);
    match value {
        serde_json::Value::String(s) => dirty(s),
        serde_json::Value::Array(values) => values.iter().any(holds_control),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| dirty(k) || holds_control(v)),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn totals_are_never_negative(cart in cart()) {
        let t = cart.totals().unwrap();
        for money in [t.subtotal_without_conditions, t.items_subtotal, t.subtotal, t.total, t.savings] {
            prop_assert!(!money.is_negative(), "{money:?} in {t:?}");
        }
        for line in &t.line_totals {
            prop_assert!(!line.line_total.is_negative());
            prop_assert!(!line.unit_price_with_conditions.is_negative());
        }
        for step in &t.steps {
            prop_assert!(!step.result.is_negative());
        }
    }

    #[test]
    fn line_totals_sum_to_the_items_subtotal(cart in cart()) {
        let t = cart.totals().unwrap();
        let sum: i64 = t.line_totals.iter().map(|l| l.line_total.minor_units()).sum();
        prop_assert_eq!(sum, t.items_subtotal.minor_units());
        prop_assert_eq!(t.lines, cart.lines());
        prop_assert_eq!(t.count, cart.count());
    }

    #[test]
    fn without_conditions_insertion_order_does_not_matter(
        lines in prop::collection::vec((0i64..1_000_000, 1u32..100), 1..8).prop_shuffle(),
        mode in rounding(),
    ) {
        let items: Vec<CartItem> = lines
            .iter()
            .enumerate()
            .map(|(i, (price, quantity))| CartItem::new(format!("id{i}"), "x", usd_minor(*price), *quantity))
            .collect();
        let mut forward = CartContents::new(Currency::USD).with_rounding(mode);
        forward.add_many(items.clone()).unwrap();
        let mut backward = CartContents::new(Currency::USD).with_rounding(mode);
        backward.add_many(items.into_iter().rev()).unwrap();
        let (f, b) = (forward.totals().unwrap(), backward.totals().unwrap());
        prop_assert_eq!(f.subtotal, b.subtotal);
        prop_assert_eq!(f.total, b.total);
        prop_assert_eq!(f.count, b.count);
        let expected: i64 = lines.iter().map(|(p, q)| p * i64::from(*q)).sum();
        prop_assert_eq!(f.total.minor_units(), expected);
    }

    #[test]
    fn json_round_trip_keeps_the_cart_and_its_totals(cart in cart()) {
        let bytes = cart.to_json().unwrap();
        let back = CartContents::from_json(&bytes).unwrap();
        prop_assert_eq!(&back, &cart);
        prop_assert_eq!(back.totals().unwrap(), cart.totals().unwrap());
        prop_assert_eq!(back.to_json().unwrap(), bytes);
    }

    #[test]
    fn keep_highest_merge_is_idempotent(user in cart(), guest in cart()) {
        let mut merged = user.clone();
        merge(&mut merged, &guest, MergeStrategy::KeepHighestQuantity);
        let once = merged.clone();
        let report = merge(&mut merged, &guest, MergeStrategy::KeepHighestQuantity);
        prop_assert_eq!(&merged, &once);
        prop_assert!(report.is_noop(), "{:?}", report);
    }

    #[test]
    fn whatever_a_write_stored_can_be_read_and_totalled(
        start in cart(),
        ops in prop::collection::vec(wild_op(), 1..16),
    ) {
        let options = ModifyOptions::default();
        let later = time::macros::datetime!(3000-01-01 0:00 UTC);
        let mut stored = start;
        for (i, op) in ops.iter().enumerate() {
            let current = Some(Versioned::new(stored.clone(), i as u64 + 1));
            let change = |cart: &mut CartContents| apply(cart, op);
            if let Ok((cart, _)) = options.apply(current, &change, &format!("w{i}")) {
                stored = cart;
            }
            let totals = stored.totals();
            prop_assert!(totals.is_ok(), "after {:?}: {:?}", op, totals);
            prop_assert!(stored.totals_at(later).is_ok(), "after {:?}, once the window opens", op);
            let bytes = stored.to_json().unwrap();
            let document: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            prop_assert!(!holds_control(&document), "after {:?}: {}", op, document);
            let back = CartContents::from_json(&bytes).unwrap();
            prop_assert_eq!(&back, &stored);
            prop_assert_eq!(back.totals().unwrap(), totals.unwrap());
        }
    }

    #[test]
    fn a_failed_operation_leaves_the_cart_as_it_was(
        start in cart(),
        ops in prop::collection::vec(op(), 1..12),
    ) {
        let mut cart = start.with_limits(Limits {
            max_lines: 4,
            max_quantity: 25,
            max_conditions: 4,
            ..Limits::default()
        });
        for op in &ops {
            let before = cart.clone();
            if let Err(err) = apply(&mut cart, op) {
                prop_assert_eq!(&cart, &before, "{:?} failed with {} and changed the cart", op, err);
            }
            // Whatever happened, totals still compute.
            prop_assert!(cart.totals().is_ok());
        }
    }
}
