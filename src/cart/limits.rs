//! `Limits`: configurable bounds on what a cart may hold, and the checks that enforce them.

use serde::{Deserialize, Serialize};

use super::error::Error;

/// Configurable bounds on what a cart may hold. Over a limit: a typed error, nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Distinct lines per cart (default 1 000).
    pub max_lines: usize,
    /// Quantity per line (default 10 000).
    pub max_quantity: u32,
    /// Characters in an item id, metadata key or instance name (default 255).
    pub max_id_length: usize,
    /// Characters in an item or condition name (default 255).
    pub max_name_length: usize,
    /// Cart conditions per cart and item conditions per item (default 100).
    pub max_conditions: usize,
    /// Bytes of the serialized cart (default 1 MiB).
    pub max_cart_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_lines: 1_000,
            max_quantity: 10_000,
            max_id_length: 255,
            max_name_length: 255,
            max_conditions: 100,
            max_cart_bytes: 1024 * 1024,
        }
    }
}

impl Limits {
    /// Checks that `value` is not empty and has at most `max` characters, naming `field`.
    pub(crate) fn check_length(field: &str, value: &str, max: usize) -> Result<(), Error> {
        if value.is_empty() {
            return Err(Error::validation(
                field,
                format!("{field} must not be empty"),
            ));
        }
        let length = value.chars().count();
        if length > max {
            return Err(Error::limit(field, max as u64, length as u64));
        }
        Ok(())
    }

    /// Checks a quantity against `max_quantity` and returns it as a `u32`.
    pub(crate) fn check_quantity(&self, quantity: u64) -> Result<u32, Error> {
        if quantity > u64::from(self.max_quantity) {
            return Err(Error::limit(
                "quantity",
                u64::from(self.max_quantity),
                quantity,
            ));
        }
        u32::try_from(quantity).map_err(|_| Error::limit("quantity", u64::from(u32::MAX), quantity))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_count_characters_not_bytes() {
        assert!(Limits::check_length("id", "é".repeat(3).as_str(), 3).is_ok());
        let over = Limits::check_length("id", "abcd", 3).unwrap_err();
        assert_eq!(over, Error::limit("id", 3, 4));
        assert_eq!(
            Limits::check_length("key", "", 3).unwrap_err().field(),
            Some("key")
        );
    }

    #[test]
    fn quantities_stay_within_the_limit() {
        let limits = Limits {
            max_quantity: 10,
            ..Limits::default()
        };
        assert_eq!(limits.check_quantity(10), Ok(10));
        assert_eq!(
            limits.check_quantity(11),
            Err(Error::limit("quantity", 10, 11))
        );
    }
}
