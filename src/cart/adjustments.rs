//! Adding and removing the conditions of a cart: item conditions on one line, cart conditions on
//! the subtotal or the total, and the shorthands for discounts, taxes, fees and shipping.
//!
//! Like every operation on [`CartContents`], each validates first and changes the cart only when it
//! succeeds.

use super::condition::{self, Condition, ConditionTarget};
use super::contents::CartContents;
use super::error::Error;

impl CartContents {
    // ----- item conditions ---------------------------------------------------------------------

    /// Adds a condition to the line `id` (its target becomes `item`), replacing one of the same
    /// name in place.
    ///
    /// # Errors
    ///
    /// [`Error::ItemNotFound`] when there is no line `id`, [`Error::Validation`] when the condition
    /// does not fit the cart's currency, and [`Error::LimitExceeded`] when the name is too long or
    /// the line already has `max_conditions` conditions.
    pub fn add_item_condition(&mut self, id: &str, condition: Condition) -> Result<(), Error> {
        let limits = *self.limits();
        let mut condition = condition;
        condition.set_target(ConditionTarget::Item);
        condition.validate(self.currency(), limits.max_name_length)?;
        let index = self.position(id)?;
        let line = &mut self.items_mut()[index];
        let replaces = line.conditions.iter().any(|c| c.name() == condition.name());
        if !replaces && line.conditions.len() >= limits.max_conditions {
            return Err(Error::limit(
                "conditions",
                limits.max_conditions as u64,
                line.conditions.len() as u64 + 1,
            ));
        }
        condition::upsert(&mut line.conditions, condition);
        Ok(())
    }

    /// Removes the condition `name` from the line `id` and returns it.
    ///
    /// # Errors
    ///
    /// [`Error::ItemNotFound`] when there is no line `id`, [`Error::ConditionNotFound`] when the
    /// line has no condition `name`.
    pub fn remove_item_condition(&mut self, id: &str, name: &str) -> Result<Condition, Error> {
        let index = self.position(id)?;
        condition::remove_named(&mut self.items_mut()[index].conditions, name)
    }

    /// Removes every condition of the line `id`.
    ///
    /// # Errors
    ///
    /// [`Error::ItemNotFound`] when there is no line `id`.
    pub fn clear_item_conditions(&mut self, id: &str) -> Result<(), Error> {
        let index = self.position(id)?;
        self.items_mut()[index].conditions.clear();
        Ok(())
    }

    // ----- cart conditions ---------------------------------------------------------------------

    /// Adds a cart condition (target `subtotal` or `total`), replacing one of the same name in
    /// place.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] when the target is `item` or the condition does not fit the cart's
    /// currency, and [`Error::LimitExceeded`] when the name is too long or the cart already has
    /// `max_conditions` conditions.
    pub fn add_condition(&mut self, condition: Condition) -> Result<(), Error> {
        if condition.target() == ConditionTarget::Item {
            return Err(Error::validation(
                "target",
                "an item condition belongs to an item; add it with add_item_condition",
            ));
        }
        let limits = *self.limits();
        condition.validate(self.currency(), limits.max_name_length)?;
        let replaces = self.condition(condition.name()).is_some();
        let count = self.conditions().len();
        if !replaces && count >= limits.max_conditions {
            return Err(Error::limit(
                "conditions",
                limits.max_conditions as u64,
                count as u64 + 1,
            ));
        }
        condition::upsert(self.conditions_mut(), condition);
        Ok(())
    }

    /// Removes the cart condition `name` and returns it.
    ///
    /// # Errors
    ///
    /// [`Error::ConditionNotFound`] when the cart has no condition `name`.
    pub fn remove_condition(&mut self, name: &str) -> Result<Condition, Error> {
        condition::remove_named(self.conditions_mut(), name)
    }

    /// Removes every cart condition of one kind and returns how many were removed.
    pub fn remove_conditions_by_kind(&mut self, kind: &str) -> usize {
        let conditions = self.conditions_mut();
        let before = conditions.len();
        conditions.retain(|c| c.kind() != kind);
        before - conditions.len()
    }

    /// Removes every cart condition; item conditions stay.
    pub fn clear_conditions(&mut self) {
        self.conditions_mut().clear();
    }

    /// Adds a discount on the subtotal; the value always lowers it (`10%` and `-10%` both take
    /// 10 % off).
    ///
    /// # Errors
    ///
    /// As [`CartContents::add_condition`], and [`Error::Validation`] naming `value` when the value
    /// is a multiplier or a divisor rather than a percentage or an amount.
    pub fn add_discount(&mut self, name: &str, value: &str) -> Result<(), Error> {
        let mut discount = Condition::new(name, "discount", ConditionTarget::Subtotal, value)?;
        let reduction = discount.value().as_reduction("value")?;
        discount.set_value(reduction);
        self.add_condition(discount)
    }

    /// Adds a tax (kind `tax`) on the subtotal.
    ///
    /// # Errors
    ///
    /// As [`Condition::new`] and [`CartContents::add_condition`].
    pub fn add_tax(&mut self, name: &str, value: &str) -> Result<(), Error> {
        self.add_condition(Condition::new(
            name,
            "tax",
            ConditionTarget::Subtotal,
            value,
        )?)
    }

    /// Adds a fee (kind `fee`) on the total.
    ///
    /// # Errors
    ///
    /// As [`Condition::new`] and [`CartContents::add_condition`].
    pub fn add_fee(&mut self, name: &str, value: &str) -> Result<(), Error> {
        self.add_condition(Condition::new(name, "fee", ConditionTarget::Total, value)?)
    }

    /// Adds shipping (kind `shipping`) on the total, replacing any other shipping condition.
    ///
    /// # Errors
    ///
    /// As [`Condition::new`] and [`CartContents::add_condition`].
    pub fn add_shipping(&mut self, name: &str, value: &str) -> Result<(), Error> {
        let limits = *self.limits();
        let shipping = Condition::new(name, "shipping", ConditionTarget::Total, value)?;
        shipping.validate(self.currency(), limits.max_name_length)?;
        let mut staged = self.conditions().to_vec();
        staged.retain(|c| c.kind() != "shipping" || c.name() == name);
        condition::upsert(&mut staged, shipping);
        // Like add_condition: only a condition that grows the list can break the limit.
        if staged.len() > self.conditions().len() && staged.len() > limits.max_conditions {
            return Err(Error::limit(
                "conditions",
                limits.max_conditions as u64,
                staged.len() as u64,
            ));
        }
        *self.conditions_mut() = staged;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cart::{CartItem, Currency, Money};

    #[test]
    fn discounts_always_lower_and_refuse_multipliers() {
        let mut cart = CartContents::new(Currency::USD);
        cart.add_discount("a", "10%").unwrap();
        cart.add_discount("b", "-2.00").unwrap();
        assert_eq!(cart.condition("a").unwrap().value().to_string(), "-10%");
        assert_eq!(cart.condition("b").unwrap().value().to_string(), "-2.00");
        assert_eq!(
            cart.add_discount("c", "*0.5").unwrap_err().field(),
            Some("value")
        );
        assert!(cart.condition("c").is_none());
    }

    #[test]
    fn one_shipping_condition_at_a_time() {
        let mut cart = CartContents::new(Currency::USD);
        cart.add_shipping("standard", "+4.99").unwrap();
        cart.add_fee("handling", "+1.00").unwrap();
        cart.add_shipping("express", "+9.99").unwrap();
        let names: Vec<&str> = cart.conditions().iter().map(Condition::name).collect();
        assert_eq!(names, ["handling", "express"]);
        assert_eq!(cart.remove_conditions_by_kind("shipping"), 1);
    }

    #[test]
    fn item_conditions_belong_to_their_line() {
        let mut cart = CartContents::new(Currency::USD);
        let price = Money::parse("10.00", Currency::USD).unwrap();
        cart.add(CartItem::new("a", "Apple", price, 1)).unwrap();
        let half = Condition::new("half", "discount", ConditionTarget::Subtotal, "-50%").unwrap();
        assert!(cart.add_condition(half.clone().with_order(1)).is_ok());
        cart.add_item_condition("a", half).unwrap();
        assert_eq!(
            cart.get("a").unwrap().conditions()[0].target(),
            ConditionTarget::Item
        );
        let item_only = Condition::new("x", "fee", ConditionTarget::Item, "+1").unwrap();
        assert_eq!(
            cart.add_condition(item_only).unwrap_err().field(),
            Some("target")
        );
        assert!(matches!(
            cart.remove_item_condition("a", "nope"),
            Err(Error::ConditionNotFound { .. })
        ));
        cart.clear_item_conditions("a").unwrap();
        assert!(cart.get("a").unwrap().conditions().is_empty());
    }
}
