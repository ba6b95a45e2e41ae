//! The metadata of a cart: free-form JSON values under string keys (a coupon code, a customer
//! tier, ...), which rules can test.

use serde_json::{Map, Value};

use super::contents::CartContents;
use super::error::Error;
use super::hygiene;
use super::limits::Limits;

impl CartContents {
    /// Returns the metadata value under `key`, if any.
    pub fn get_metadata(&self, key: &str) -> Option<&Value> {
        self.metadata().get(key)
    }

    /// Sets the metadata value under `key`, replacing any earlier one.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] naming `key` when `key` is empty, or `metadata` when the key or a
    /// key or string inside `value` holds a control character or `value` nests deeper than
    /// [`MAX_JSON_DEPTH`](super::MAX_JSON_DEPTH) levels (the metadata object being the first);
    /// [`Error::LimitExceeded`] when `key` is longer than `max_id_length`.
    pub fn set_metadata(&mut self, key: &str, value: Value) -> Result<(), Error> {
        Limits::check_length("key", key, self.limits().max_id_length)?;
        hygiene::check_entry("metadata", key, &value)?;
        self.metadata_mut().insert(key.to_owned(), value);
        Ok(())
    }

    /// Sets several metadata values: all of them or, when a key is refused, none.
    ///
    /// # Errors
    ///
    /// As [`CartContents::set_metadata`], for the first key that is refused.
    pub fn set_metadata_many(&mut self, values: Map<String, Value>) -> Result<(), Error> {
        for (key, value) in &values {
            Limits::check_length("key", key, self.limits().max_id_length)?;
            hygiene::check_entry("metadata", key, value)?;
        }
        self.metadata_mut().extend(values);
        Ok(())
    }

    /// Removes the metadata value under `key` and returns it.
    pub fn remove_metadata(&mut self, key: &str) -> Option<Value> {
        self.metadata_mut().remove(key)
    }

    /// Removes all metadata; lines and conditions stay.
    pub fn clear_metadata(&mut self) {
        self.metadata_mut().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cart::Currency;

    #[test]
    fn set_many_is_all_or_nothing() {
        let mut cart = CartContents::new(Currency::USD);
        cart.set_metadata("tier", Value::from("gold")).unwrap();
        let mut values = Map::new();
        values.insert("coupon".into(), Value::from("SPRING"));
        values.insert(String::new(), Value::from(1));
        assert_eq!(
            cart.set_metadata_many(values).unwrap_err().field(),
            Some("key")
        );
        assert_eq!(cart.metadata().len(), 1);
        assert_eq!(cart.get_metadata("tier"), Some(&Value::from("gold")));
        assert_eq!(cart.remove_metadata("tier"), Some(Value::from("gold")));
        assert!(cart.is_empty());
    }
}
