//! Line operations of the [`Cart`] handle.

use super::Cart;
use crate::cart::{self, CartItem, Currency, ItemInput, ItemUpdate, ItemUpdateInput};
use crate::error::CartError;
use crate::event::CartEventKind;

impl Cart {
    /// Adds a line (an existing id gets the new name, price and attributes and the summed quantity).
    ///
    /// # Errors
    ///
    /// A domain error when the item breaks a limit (quantity, lines, sizes) or the cart's currency;
    /// nothing is written. A conflict or storage error from the write.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use axum_cart::{CartConfig, CartManager, MemoryStorage};
    /// # let cart = CartManager::new(CartConfig::new().with_storage(MemoryStorage::new())).cart("user:7", "default")?;
    /// use axum_cart::{CartItem, Currency, Money};
    ///
    /// let price = Money::parse("19.90", Currency::USD)?;
    /// cart.add(CartItem::new("tee", "Organic T-shirt", price, 1)).await?;
    /// let line = cart.add(CartItem::new("tee", "Organic T-shirt", price, 2)).await?;
    /// assert_eq!(line.quantity(), 3, "adding an id again adds the quantities");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn add(&self, item: CartItem) -> Result<CartItem, CartError> {
        let id = item.id().to_owned();
        self.commit(
            "add",
            |cart| cart.add(item.clone()).cloned(),
            |_| CartEventKind::ItemAdded { id },
        )
        .await
    }

    /// Adds a line from client input (price as a decimal string in the cart's currency).
    pub async fn add_input(&self, input: ItemInput) -> Result<CartItem, CartError> {
        // Checked here too, so that a quantity beyond 32 bits is told against the configured
        // limit, as every other over-the-limit quantity is.
        let max = self.manager.config().limits.max_quantity;
        if input.quantity > i64::from(max) {
            return Err(cart::Error::limit(
                "quantity",
                u64::from(max),
                input.quantity.unsigned_abs(),
            )
            .into());
        }
        let id = input.id.clone();
        // Prices are parsed in the stored cart's currency inside the change itself, so adding
        // costs no read besides the one the write does anyway.
        self.commit(
            "add",
            |cart| {
                let item = input.clone().into_item(cart.currency())?;
                cart.add(item).cloned()
            },
            |_| CartEventKind::ItemAdded { id },
        )
        .await
    }

    /// Adds several lines: all or none.
    pub async fn add_many(&self, items: Vec<CartItem>) -> Result<(), CartError> {
        let first = items.first().map(|i| i.id().to_owned()).unwrap_or_default();
        self.commit(
            "add_many",
            |cart| cart.add_many(items.iter().cloned()),
            |_| CartEventKind::ItemAdded { id: first },
        )
        .await
    }

    /// Changes one line; `None` when the change removed it.
    pub async fn update(
        &self,
        id: &str,
        update: ItemUpdate,
    ) -> Result<Option<CartItem>, CartError> {
        self.update_with(id, |_| Ok(update.clone())).await
    }

    /// `update` with the change built from the stored cart's currency.
    async fn update_with(
        &self,
        id: &str,
        update: impl Fn(Currency) -> Result<ItemUpdate, cart::Error> + Send + Sync,
    ) -> Result<Option<CartItem>, CartError> {
        self.commit(
            "update",
            |cart| Ok(cart.update(id, update(cart.currency())?)?.cloned()),
            |line: &Option<CartItem>| match line {
                Some(_) => CartEventKind::ItemUpdated { id: id.to_owned() },
                None => CartEventKind::ItemRemoved { id: id.to_owned() },
            },
        )
        .await
    }

    /// Changes one line from client input (`{quantity}` or `{delta}`, name, price, attributes).
    pub async fn update_input(
        &self,
        id: &str,
        input: ItemUpdateInput,
    ) -> Result<Option<CartItem>, CartError> {
        self.update_with(id, |currency| input.clone().into_update(currency))
            .await
    }

    /// Sets the quantity of a line; 0 or less removes it.
    ///
    /// # Errors
    ///
    /// `item_not_found` for an id the cart does not hold; a limit error over the maximum quantity.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use axum_cart::{CartConfig, CartManager, MemoryStorage};
    /// # let cart = CartManager::new(CartConfig::new().with_storage(MemoryStorage::new())).cart("user:7", "default")?;
    /// # use axum_cart::{CartItem, Currency, Money};
    /// # cart.add(CartItem::new("mug", "Enamel mug", Money::parse("8.50", Currency::USD)?, 1)).await?;
    /// let line = cart.set_quantity("mug", 4).await?;
    /// assert_eq!(line.map(|line| line.quantity()), Some(4));
    /// assert_eq!(cart.set_quantity("mug", 0).await?, None, "0 removes the line");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn set_quantity(
        &self,
        id: &str,
        quantity: i64,
    ) -> Result<Option<CartItem>, CartError> {
        self.update(id, ItemUpdate::set_quantity(quantity)).await
    }

    /// Changes the quantity of a line by `delta`; a result of 0 or less removes it.
    pub async fn change_quantity(
        &self,
        id: &str,
        delta: i64,
    ) -> Result<Option<CartItem>, CartError> {
        self.update(id, ItemUpdate::change_quantity(delta)).await
    }

    /// Removes a line.
    ///
    /// # Errors
    ///
    /// `item_not_found` for an id the cart does not hold.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use axum_cart::{CartConfig, CartManager, MemoryStorage};
    /// # let cart = CartManager::new(CartConfig::new().with_storage(MemoryStorage::new())).cart("user:7", "default")?;
    /// # use axum_cart::{CartItem, Currency, Money};
    /// # cart.add(CartItem::new("pen", "Brass pen", Money::parse("0.99", Currency::USD)?, 1)).await?;
    /// let removed = cart.remove("pen").await?;
    /// assert_eq!(removed.id(), "pen");
    /// assert!(cart.remove("pen").await.is_err(), "a second remove finds nothing");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn remove(&self, id: &str) -> Result<CartItem, CartError> {
        self.commit(
            "remove",
            |cart| cart.remove(id),
            |_| CartEventKind::ItemRemoved { id: id.to_owned() },
        )
        .await
    }
}
