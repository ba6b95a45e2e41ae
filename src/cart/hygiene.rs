//! Text and JSON that every driver can store: no control characters, bounded nesting.
//!
//! Postgres `jsonb` refuses a NUL where the session and Redis drivers keep it, and control
//! characters in names end up in pages and logs; a cart must look the same on every driver, so
//! such input is refused where it enters a cart. Deep nesting is bounded well below the depth at
//! which the stored document could no longer be read back.

use serde_json::{Map, Value};

use super::error::Error;

/// How deeply attributes and metadata may nest: the object itself is level 1.
pub const MAX_JSON_DEPTH: usize = 32;

/// Checks that `value` holds no control character (NUL included), naming `field`.
pub(crate) fn check_text(field: &str, value: &str) -> Result<(), Error> {
    match value.chars().find(|c| c.is_control()) {
        Some(c) => Err(Error::validation(
            field,
            format!(
                "must not contain control characters (found U+{:04X})",
                u32::from(c)
            ),
        )),
        None => Ok(()),
    }
}

/// Checks the keys and string values of an attributes or metadata object, at any depth, and its
/// nesting, naming `field`.
pub(crate) fn check_object(field: &str, object: &Map<String, Value>) -> Result<(), Error> {
    check_entries(field, object, 1)
}

/// Checks one value stored under a key of an object at level 1 (a metadata value), as
/// [`check_object`] would check it there.
pub(crate) fn check_entry(field: &str, key: &str, value: &Value) -> Result<(), Error> {
    check_text(field, key)?;
    check_value(field, value, 2)
}

fn check_entries(field: &str, object: &Map<String, Value>, depth: usize) -> Result<(), Error> {
    if depth > MAX_JSON_DEPTH {
        return Err(too_deep(field));
    }
    for (key, value) in object {
        check_text(field, key)?;
        check_value(field, value, depth + 1)?;
    }
    Ok(())
}

/// `depth` is the level `value` would occupy if it is an array or an object.
fn check_value(field: &str, value: &Value, depth: usize) -> Result<(), Error> {
    match value {
        Value::String(text) => check_text(field, text),
        Value::Object(object) => check_entries(field, object, depth),
        Value::Array(values) => {
            if depth > MAX_JSON_DEPTH {
                return Err(too_deep(field));
            }
            values
                .iter()
                .try_for_each(|value| check_value(field, value, depth + 1))
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

fn too_deep(field: &str) -> Error {
    Error::validation(
        field,
        format!("must not nest deeper than {MAX_JSON_DEPTH} levels"),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// An object `levels` deep: `{"a": {"a": ... {}}}`.
    fn nested(levels: usize) -> Map<String, Value> {
        let mut value = json!({});
        for _ in 1..levels {
            value = json!({ "a": value });
        }
        match value {
            Value::Object(object) => object,
            _ => unreachable!(),
        }
    }

    #[test]
    fn control_characters_are_refused_anywhere() {
        assert!(check_text("id", "sku-1 é ✓").is_ok());
        let nul = check_text("id", "a\0b").unwrap_err();
        assert_eq!(nul.field(), Some("id"));
        assert!(nul.to_string().contains("U+0000"), "{nul}");
        assert!(check_text("name", "line\nbreak").is_err());
        assert!(check_text("name", "\u{7f}").is_err());
        assert!(check_text("name", "\u{85}").is_err());
        let in_array = json!({"ok": [1, {"deep": ["fine", "bad\u{1b}"]}]});
        let error = check_object("attributes", in_array.as_object().unwrap()).unwrap_err();
        assert_eq!(error.field(), Some("attributes"));
        let in_key = json!({"ok": {"k\u{0}": 1}});
        assert!(check_object("metadata", in_key.as_object().unwrap()).is_err());
        assert!(check_entry("metadata", "tab\t", &json!(1)).is_err());
    }

    #[test]
    fn nesting_stops_at_32_levels() {
        assert!(check_object("attributes", &nested(MAX_JSON_DEPTH)).is_ok());
        let error = check_object("attributes", &nested(MAX_JSON_DEPTH + 1)).unwrap_err();
        assert_eq!(error.field(), Some("attributes"));
        // Arrays count as levels too.
        let mut value = json!(1);
        for _ in 1..MAX_JSON_DEPTH {
            value = json!([value]);
        }
        assert!(check_entry("metadata", "k", &value).is_ok());
        assert!(check_entry("metadata", "k", &json!([value])).is_err());
    }
}
