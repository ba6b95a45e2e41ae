//! The operations on the lines of a cart: adding, updating and removing items.
//!
//! Each validates first and changes the cart only when it succeeds: a refused line, name, price
//! or quantity leaves the cart exactly as it was.

use std::sync::Arc;

use super::condition::ConditionTarget;
use super::contents::CartContents;
use super::error::Error;
use super::hygiene;
use super::item::{CartItem, ItemUpdate, QuantityChange};
use super::limits::Limits;
use super::money::Money;

impl CartContents {
    /// A unit price must be in the cart's currency and not below zero.
    fn check_price(&self, price: Money) -> Result<(), Error> {
        if price.currency() != self.currency() {
            return Err(Error::CurrencyMismatch {
                expected: self.currency().code().to_owned(),
                found: price.currency().code().to_owned(),
            });
        }
        if price.is_negative() {
            return Err(Error::validation("price", "a price must not be negative"));
        }
        Ok(())
    }

    /// Checks a line against the cart's currency and limits before it is added.
    fn validate_item(&self, item: &CartItem) -> Result<(), Error> {
        Limits::check_length("id", &item.id, self.limits().max_id_length)?;
        Limits::check_length("name", &item.name, self.limits().max_name_length)?;
        hygiene::check_text("id", &item.id)?;
        hygiene::check_text("name", &item.name)?;
        hygiene::check_object("attributes", &item.attributes)?;
        self.check_price(item.price)?;
        if item.quantity == 0 {
            return Err(Error::validation(
                "quantity",
                "0 is not a positive quantity",
            ));
        }
        self.limits().check_quantity(u64::from(item.quantity))?;
        if item.conditions.len() > self.limits().max_conditions {
            return Err(Error::limit(
                "conditions",
                self.limits().max_conditions as u64,
                item.conditions.len() as u64,
            ));
        }
        for condition in &item.conditions {
            condition.validate(self.currency(), self.limits().max_name_length)?;
        }
        Ok(())
    }

    /// Adds a line and returns it. An id already in the cart gets the new name, price and
    /// attributes (and the new item conditions, when any are given) and the sum of both
    /// quantities. The item's conditions all get the target `item`.
    ///
    /// # Errors
    ///
    /// - [`Error::Validation`] when the id or name is empty, the price is negative, the quantity
    ///   is 0, an item condition does not fit the cart's currency, the id, name, a condition name
    ///   or an attribute key or string holds a control character, or the attributes nest deeper
    ///   than [`MAX_JSON_DEPTH`](super::MAX_JSON_DEPTH) levels;
    /// - [`Error::CurrencyMismatch`] when the price is in another currency;
    /// - [`Error::LimitExceeded`] when the id or name is too long, the (summed) quantity is over
    ///   `max_quantity`, the item has more than `max_conditions` conditions, or a new line would
    ///   make more than `max_lines`.
    ///
    /// The cart is unchanged when an error is returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum_cart::cart::{CartContents, CartItem, Currency, Money};
    ///
    /// let usd = |s| Money::parse(s, Currency::USD);
    /// let mut cart = CartContents::new(Currency::USD);
    /// cart.add(CartItem::new("lamp", "Desk lamp", usd("100.00")?, 1))?;
    /// let mugs = cart.add(CartItem::new("mug", "Mug", usd("50.00")?, 1))?;
    /// assert_eq!(mugs.quantity(), 1);
    ///
    /// // The same id again: the quantities add up.
    /// let mugs = cart.add(CartItem::new("mug", "Mug", usd("50.00")?, 1))?;
    /// assert_eq!(mugs.quantity(), 2);
    /// assert_eq!(cart.lines(), 2);
    /// assert_eq!(cart.count(), 3);
    ///
    /// // A zero quantity is refused and changes nothing.
    /// let err = cart.add(CartItem::new("pen", "Pen", usd("1.00")?, 0)).unwrap_err();
    /// assert_eq!(err.field(), Some("quantity"));
    /// assert!(!cart.has("pen"));
    /// # Ok::<(), axum_cart::cart::Error>(())
    /// ```
    pub fn add(&mut self, item: CartItem) -> Result<&CartItem, Error> {
        let mut item = item;
        for condition in &mut item.conditions {
            condition.set_target(ConditionTarget::Item);
        }
        self.validate_item(&item)?;
        match self.items().iter().position(|line| line.id == item.id) {
            Some(index) => {
                let existing = &self.items()[index];
                let quantity = self
                    .limits()
                    .check_quantity(u64::from(existing.quantity) + u64::from(item.quantity))?;
                let line = &mut self.items_mut()[index];
                line.name = item.name;
                line.price = item.price;
                line.attributes = item.attributes;
                if !item.conditions.is_empty() {
                    line.conditions = item.conditions;
                }
                line.quantity = quantity;
                Ok(&self.items()[index])
            }
            None => {
                if self.items().len() >= self.limits().max_lines {
                    return Err(Error::limit(
                        "lines",
                        self.limits().max_lines as u64,
                        self.items().len() as u64 + 1,
                    ));
                }
                self.items_mut().push(item);
                Ok(&self.items()[self.items().len() - 1])
            }
        }
    }

    /// Adds several lines as [`CartContents::add`] does: all of them or, on the first error, none.
    ///
    /// # Errors
    ///
    /// The first error [`CartContents::add`] returns; the cart is then unchanged.
    pub fn add_many(&mut self, items: impl IntoIterator<Item = CartItem>) -> Result<(), Error> {
        let mut staged = self.clone();
        for item in items {
            staged.add(item)?;
        }
        *self = staged;
        Ok(())
    }

    /// Applies `update` to the line `id` atomically. Returns the line, or `None` when the quantity
    /// change removed it.
    ///
    /// # Errors
    ///
    /// [`Error::ItemNotFound`] when there is no line `id`; otherwise the errors of
    /// [`CartContents::add`] for a bad name, price, quantity or attributes. The cart is then
    /// unchanged.
    pub fn update(&mut self, id: &str, update: ItemUpdate) -> Result<Option<&CartItem>, Error> {
        let index = self.position(id)?;
        let line = &self.items()[index];
        let quantity = match update.quantity {
            None => i128::from(line.quantity),
            Some(QuantityChange::Set(q)) => i128::from(q),
            Some(QuantityChange::By(delta)) => i128::from(line.quantity) + i128::from(delta),
        };
        if let Some(name) = &update.name {
            Limits::check_length("name", name, self.limits().max_name_length)?;
            hygiene::check_text("name", name)?;
        }
        if let Some(attributes) = &update.attributes {
            hygiene::check_object("attributes", attributes)?;
        }
        if let Some(price) = update.price {
            self.check_price(price)?;
        }
        if quantity <= 0 {
            self.items_mut().remove(index);
            return Ok(None);
        }
        let quantity = self
            .limits()
            .check_quantity(u64::try_from(quantity).unwrap_or(u64::MAX))?;
        let line = &mut self.items_mut()[index];
        line.quantity = quantity;
        if let Some(name) = update.name {
            line.name = Arc::from(name);
        }
        if let Some(price) = update.price {
            line.price = price;
        }
        if let Some(attributes) = update.attributes {
            line.attributes = attributes;
        }
        Ok(Some(&self.items()[index]))
    }

    /// Sets the quantity of the line `id`; 0 or less removes the line.
    ///
    /// # Errors
    ///
    /// As [`CartContents::update`].
    pub fn set_quantity(&mut self, id: &str, quantity: i64) -> Result<Option<&CartItem>, Error> {
        self.update(id, ItemUpdate::set_quantity(quantity))
    }

    /// Changes the quantity of the line `id` by `delta`; a result of 0 or less removes the line.
    ///
    /// # Errors
    ///
    /// As [`CartContents::update`].
    pub fn change_quantity(&mut self, id: &str, delta: i64) -> Result<Option<&CartItem>, Error> {
        self.update(id, ItemUpdate::change_quantity(delta))
    }

    /// Removes the line `id` and returns it.
    ///
    /// # Errors
    ///
    /// [`Error::ItemNotFound`] when there is no line `id`.
    pub fn remove(&mut self, id: &str) -> Result<CartItem, Error> {
        let index = self.position(id)?;
        Ok(self.items_mut().remove(index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cart::Currency;

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    #[test]
    fn a_failed_batch_adds_nothing() {
        let mut cart = CartContents::new(Currency::USD);
        let items = [
            CartItem::new("a", "Apple", usd("1.00"), 1),
            CartItem::new("b", "Bread", usd("-1.00"), 1),
        ];
        assert_eq!(cart.add_many(items).unwrap_err().field(), Some("price"));
        assert!(cart.is_empty());
    }

    #[test]
    fn updates_apply_together_or_not_at_all() {
        let mut cart = CartContents::new(Currency::USD);
        cart.add(CartItem::new("a", "Apple", usd("1.00"), 2))
            .unwrap();
        let update = ItemUpdate {
            name: Some("Green apple".into()),
            price: Some(Money::parse("1.00", Currency::EUR).unwrap()),
            ..ItemUpdate::set_quantity(5)
        };
        assert!(matches!(
            cart.update("a", update),
            Err(Error::CurrencyMismatch { .. })
        ));
        assert_eq!(cart.get("a").unwrap().quantity(), 2);
        assert_eq!(cart.change_quantity("a", 3).unwrap().unwrap().quantity(), 5);
        assert!(cart.set_quantity("a", 0).unwrap().is_none());
        assert!(matches!(cart.remove("a"), Err(Error::ItemNotFound { .. })));
    }
}
