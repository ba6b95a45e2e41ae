//! Condition and metadata operations of the [`Cart`] handle.

use serde_json::{Map, Value};

use super::Cart;
use crate::cart::{self, CartContents, Condition, ConditionInput, ConditionTarget};
use crate::error::CartError;
use crate::event::CartEventKind;

impl Cart {
    /// Adds (or replaces) a cart condition.
    ///
    /// # Errors
    ///
    /// A domain error when the condition breaks a limit or names another currency.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use axum_cart::{CartConfig, CartManager, MemoryStorage};
    /// # let cart = CartManager::new(CartConfig::new().with_storage(MemoryStorage::new())).cart("user:7", "default")?;
    /// # use axum_cart::{CartItem, Currency, Money};
    /// use axum_cart::{Condition, ConditionTarget};
    ///
    /// # cart.add_priced(CartItem::new("lamp", "Desk lamp", Money::parse("149.00", Currency::USD)?, 1)).await?;
    /// let vat = Condition::new("VAT", "tax", ConditionTarget::Subtotal, "+20%")?;
    /// cart.add_condition(vat).await?;
    /// assert_eq!(cart.totals().await?.total.to_string(), "178.80");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn add_condition(&self, condition: Condition) -> Result<(), CartError> {
        let name = condition.name().to_owned();
        self.commit(
            "add_condition",
            |cart| cart.add_condition(condition.clone()),
            |_| CartEventKind::ConditionAdded { name, item: None },
        )
        .await
    }

    /// Adds a cart condition from client input.
    pub async fn add_condition_input(&self, input: ConditionInput) -> Result<(), CartError> {
        self.add_condition(Condition::try_from(input)?).await
    }

    /// Removes a cart condition.
    pub async fn remove_condition(&self, name: &str) -> Result<(), CartError> {
        self.commit(
            "remove_condition",
            |cart| cart.remove_condition(name).map(|_| ()),
            |_| CartEventKind::ConditionRemoved {
                name: name.to_owned(),
                item: None,
            },
        )
        .await
    }

    /// Removes every cart condition.
    pub async fn clear_conditions(&self) -> Result<(), CartError> {
        self.commit(
            "clear_conditions",
            |cart| {
                cart.clear_conditions();
                Ok(())
            },
            |_| CartEventKind::ConditionRemoved {
                name: "*".to_owned(),
                item: None,
            },
        )
        .await
    }

    /// Adds (or replaces) a condition on one line.
    pub async fn add_item_condition(
        &self,
        id: &str,
        condition: Condition,
    ) -> Result<(), CartError> {
        let name = condition.name().to_owned();
        self.commit(
            "add_item_condition",
            |cart| cart.add_item_condition(id, condition.clone()),
            |_| CartEventKind::ConditionAdded {
                name,
                item: Some(id.to_owned()),
            },
        )
        .await
    }

    /// Adds a condition on one line from client input.
    pub async fn add_item_condition_input(
        &self,
        id: &str,
        input: ConditionInput,
    ) -> Result<(), CartError> {
        let mut input = input;
        input.target = Some(ConditionTarget::Item);
        self.add_item_condition(id, Condition::try_from(input)?)
            .await
    }

    /// Removes a condition from one line.
    pub async fn remove_item_condition(&self, id: &str, name: &str) -> Result<(), CartError> {
        self.commit(
            "remove_item_condition",
            |cart| cart.remove_item_condition(id, name).map(|_| ()),
            |_| CartEventKind::ConditionRemoved {
                name: name.to_owned(),
                item: Some(id.to_owned()),
            },
        )
        .await
    }

    async fn add_named(
        &self,
        op: &'static str,
        name: &str,
        value: &str,
        add: fn(&mut CartContents, &str, &str) -> Result<(), cart::Error>,
    ) -> Result<(), CartError> {
        self.commit(
            op,
            |cart| add(cart, name, value),
            |_| CartEventKind::ConditionAdded {
                name: name.to_owned(),
                item: None,
            },
        )
        .await
    }

    /// A discount on the subtotal (always a reduction).
    ///
    /// # Errors
    ///
    /// A validation error for a value that is not a percentage or an amount.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use axum_cart::{CartConfig, CartManager, MemoryStorage};
    /// # let cart = CartManager::new(CartConfig::new().with_storage(MemoryStorage::new())).cart("user:7", "default")?;
    /// # use axum_cart::{CartItem, Currency, Money};
    /// # cart.add_priced(CartItem::new("cap", "Canvas cap", Money::parse("14.00", Currency::USD)?, 2)).await?;
    /// cart.add_discount("SAVE10", "10%").await?; // a discount always takes off: 10% means -10%
    /// assert_eq!(cart.totals().await?.total.to_string(), "25.20");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn add_discount(&self, name: &str, value: &str) -> Result<(), CartError> {
        self.add_named("add_discount", name, value, CartContents::add_discount)
            .await
    }

    /// A tax on the subtotal.
    pub async fn add_tax(&self, name: &str, value: &str) -> Result<(), CartError> {
        self.add_named("add_tax", name, value, CartContents::add_tax)
            .await
    }

    /// A fee on the total.
    pub async fn add_fee(&self, name: &str, value: &str) -> Result<(), CartError> {
        self.add_named("add_fee", name, value, CartContents::add_fee)
            .await
    }

    /// Shipping on the total, replacing any other shipping condition.
    pub async fn add_shipping(&self, name: &str, value: &str) -> Result<(), CartError> {
        self.add_named("add_shipping", name, value, CartContents::add_shipping)
            .await
    }

    /// Sets one metadata value.
    ///
    /// # Errors
    ///
    /// A domain error when the key or value breaks a limit.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use axum_cart::{CartConfig, CartManager, MemoryStorage};
    /// # let cart = CartManager::new(CartConfig::new().with_storage(MemoryStorage::new())).cart("user:7", "default")?;
    /// cart.set_metadata("gift_note", "Happy birthday!".into()).await?;
    /// let contents = cart.contents().await?;
    /// assert_eq!(contents.metadata()["gift_note"], "Happy birthday!");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn set_metadata(&self, key: &str, value: Value) -> Result<(), CartError> {
        self.commit(
            "set_metadata",
            |cart| cart.set_metadata(key, value.clone()),
            |_| CartEventKind::MetadataChanged {
                keys: vec![key.to_owned()],
            },
        )
        .await
    }

    /// Sets several metadata values at once.
    pub async fn set_metadata_many(&self, values: Map<String, Value>) -> Result<(), CartError> {
        let keys = values.keys().cloned().collect();
        self.commit(
            "set_metadata_many",
            |cart| cart.set_metadata_many(values.clone()),
            |_| CartEventKind::MetadataChanged { keys },
        )
        .await
    }

    /// Removes one metadata value and returns it.
    pub async fn remove_metadata(&self, key: &str) -> Result<Option<Value>, CartError> {
        self.commit(
            "remove_metadata",
            |cart| Ok(cart.remove_metadata(key)),
            |_| CartEventKind::MetadataChanged {
                keys: vec![key.to_owned()],
            },
        )
        .await
    }

    /// Removes all metadata.
    pub async fn clear_metadata(&self) -> Result<(), CartError> {
        self.commit(
            "clear_metadata",
            |cart| {
                cart.clear_metadata();
                Ok(())
            },
            |_| CartEventKind::MetadataChanged { keys: Vec::new() },
        )
        .await
    }
}
