//! Line operations of the [`Cart`] handle.

use super::Cart;
use crate::cart::{self, CartContents, CartItem, ItemUpdate, ItemUpdateInput, PricedItemInput};
use crate::error::CartError;
use crate::event::CartEventKind;

impl Cart {
    /// Adds a line with its price taken as given: for trusted code only (imports, admin tools),
    /// never with a price a client sent. Shoppers add with [`Cart::add_product`], priced by the
    /// catalogue. An existing id gets the new name, price and attributes and the summed quantity,
    /// and is no longer re-priced by the catalogue.
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
    /// cart.add_priced(CartItem::new("tee", "Organic T-shirt", price, 1)).await?;
    /// let line = cart.add_priced(CartItem::new("tee", "Organic T-shirt", price, 2)).await?;
    /// assert_eq!(line.quantity(), 3, "adding an id again adds the quantities");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn add_priced(&self, item: CartItem) -> Result<CartItem, CartError> {
        let id = item.id().to_owned();
        self.commit(
            "add",
            |cart| add_line(cart, &item),
            |_| CartEventKind::ItemAdded { id },
        )
        .await
    }

    /// A quantity a caller sent, checked against the configured maximum before anything else, so
    /// that one beyond 32 bits is told against the limit as every other too large quantity is.
    pub(super) fn check_quantity_input(&self, quantity: i64) -> Result<(), CartError> {
        let max = self.manager.config().limits.max_quantity;
        if quantity > i64::from(max) {
            return Err(
                cart::Error::limit("quantity", u64::from(max), quantity.unsigned_abs()).into(),
            );
        }
        Ok(())
    }

    /// Adds a line from input with a price (a decimal string in the cart's currency): for trusted
    /// code only, as [`Cart::add_priced`].
    ///
    /// # Errors
    ///
    /// A validation error for a price, quantity or condition that does not parse; otherwise as
    /// [`Cart::add_priced`].
    pub async fn add_priced_input(&self, input: PricedItemInput) -> Result<CartItem, CartError> {
        self.check_quantity_input(input.quantity)?;
        let id = input.id.clone();
        // Prices are parsed in the stored cart's currency inside the change itself, so adding
        // costs no read besides the one the write does anyway.
        self.commit(
            "add",
            |cart| {
                let item = input.clone().into_item(cart.currency())?;
                add_line(cart, &item)
            },
            |_| CartEventKind::ItemAdded { id },
        )
        .await
    }

    /// Adds several lines with their prices taken as given (trusted code only): all or none.
    ///
    /// # Errors
    ///
    /// As [`Cart::add_priced`], for the first line refused; nothing is written.
    pub async fn add_many(&self, items: Vec<CartItem>) -> Result<(), CartError> {
        let first = items.first().map(|i| i.id().to_owned()).unwrap_or_default();
        self.commit(
            "add_many",
            |cart| cart.add_many(items.iter().cloned()),
            |_| CartEventKind::ItemAdded { id: first },
        )
        .await
    }

    /// Changes one line; `None` when the change removed it. A new price in `update` is taken as
    /// given (trusted code only) and is no longer re-priced by the catalogue.
    ///
    /// # Errors
    ///
    /// `item_not_found` for an id the cart does not hold; a domain error for a bad quantity, name
    /// or price.
    pub async fn update(
        &self,
        id: &str,
        update: ItemUpdate,
    ) -> Result<Option<CartItem>, CartError> {
        self.commit(
            "update",
            |cart| {
                cart.update(id, update.clone())?;
                let line = cart.items_mut().iter_mut().find(|line| line.id() == id);
                Ok(line.map(|line| {
                    if update.price.is_some() {
                        // A price set by trusted code is not the catalogue's to move back.
                        line.price_source = None;
                        line.priced_at = None;
                    }
                    line.clone()
                }))
            },
            |line: &Option<CartItem>| match line {
                Some(_) => CartEventKind::ItemUpdated { id: id.to_owned() },
                None => CartEventKind::ItemRemoved { id: id.to_owned() },
            },
        )
        .await
    }

    /// Changes one line from client input (`{quantity}` or `{delta}`, attributes).
    ///
    /// # Errors
    ///
    /// A validation error when both `quantity` and `delta` are given; otherwise as
    /// [`Cart::update`].
    pub async fn update_input(
        &self,
        id: &str,
        input: ItemUpdateInput,
    ) -> Result<Option<CartItem>, CartError> {
        self.update(id, input.into_update()?).await
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
    /// # cart.add_priced(CartItem::new("mug", "Enamel mug", Money::parse("8.50", Currency::USD)?, 1)).await?;
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
    ///
    /// # Errors
    ///
    /// As [`Cart::set_quantity`].
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
    /// # cart.add_priced(CartItem::new("pen", "Brass pen", Money::parse("0.99", Currency::USD)?, 1)).await?;
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

/// Adds `item` and gives the line the item's price provenance: a catalogue price records its
/// source and time, a trusted price clears those of an earlier catalogue price.
pub(super) fn add_line(cart: &mut CartContents, item: &CartItem) -> Result<CartItem, cart::Error> {
    cart.add(item.clone())?;
    let line = cart
        .items_mut()
        .iter_mut()
        .find(|line| line.id() == item.id())
        .ok_or_else(|| cart::Error::ItemNotFound {
            id: item.id().to_owned(),
        })?;
    line.price_source.clone_from(&item.price_source);
    line.priced_at = item.priced_at;
    Ok(line.clone())
}
