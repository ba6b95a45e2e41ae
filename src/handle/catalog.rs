//! The operations of the [`Cart`] handle that the shop's catalogue and promotions answer: adding a
//! product by id, and discount codes.

use super::Cart;
use super::items::add_line;
use crate::cart::{self, AddItem, CartItem, Condition, now_to_the_second};
use crate::catalog::Promotions;
use crate::error::CartError;
use crate::event::CartEventKind;

impl Cart {
    /// Adds `input.quantity` of the catalogue product `input.id`: name and unit price come from the
    /// configured [`Catalog`](crate::Catalog) (one batched call, which also covers the cart's
    /// other lines for this request), and the line records the price's source and time. Adding an
    /// id the cart holds adds the quantities and takes the current price.
    ///
    /// # Errors
    ///
    /// [`CartError::ProductNotFound`] when the catalogue does not sell the product;
    /// [`CartError::Unsupported`] without a catalogue in the configuration;
    /// [`CartError::Catalog`] when the catalogue fails; a domain error for a bad quantity or a
    /// limit. Nothing is written then.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use axum_cart::{AddItem, CartConfig, CartError, CartManager, Currency, MemoryCatalog, MemoryStorage, Money};
    ///
    /// let catalog = MemoryCatalog::new()
    ///     .with_product("tee", "Organic T-shirt", Money::parse("19.90", Currency::USD)?);
    /// let config = CartConfig::new().with_storage(MemoryStorage::new()).with_catalog(catalog);
    /// let cart = CartManager::new(config).cart("user:7", "default")?;
    ///
    /// let line = cart.add_product(AddItem::new("tee", 2).with_attribute("size", "M")).await?;
    /// assert_eq!(line.name(), "Organic T-shirt");
    /// assert_eq!(line.price().to_string(), "19.90");
    /// assert!(line.priced_at().is_some());
    ///
    /// let unknown = cart.add_product(AddItem::new("yacht", 1)).await.unwrap_err();
    /// assert!(matches!(unknown, CartError::ProductNotFound { .. }));
    /// assert_eq!(cart.items().await?.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn add_product(&self, input: AddItem) -> Result<CartItem, CartError> {
        if self.manager.config().catalog.is_none() {
            return Err(CartError::Unsupported(
                "adding a product needs a catalogue: CartConfig::with_catalog".to_owned(),
            ));
        }
        self.check_quantity_input(input.quantity)?;
        let Some(product) = self.product_to_add(&input.id).await? else {
            return Err(CartError::ProductNotFound { id: input.id });
        };
        let item = input
            .into_item(&product.name, product.price)?
            .with_provenance(Some(product.source), Some(now_to_the_second()));
        let id = item.id().to_owned();
        self.commit_priced(
            "add_product",
            Some(&id),
            |cart| add_line(cart, &item),
            |_| CartEventKind::ItemAdded { id: id.clone() },
        )
        .await
    }

    fn promotions(&self) -> Result<&dyn Promotions, CartError> {
        self.manager.config().promotions.as_deref().ok_or_else(|| {
            CartError::Unsupported(
                "discount codes need promotions: CartConfig::with_promotions".to_owned(),
            )
        })
    }

    /// Applies a discount code: adds the condition the configured
    /// [`Promotions`](crate::Promotions) give for it, named after the code in upper case (so a
    /// code applied twice is there once, and [`Cart::remove_code`] finds it). Codes match
    /// whatever their case.
    ///
    /// # Errors
    ///
    /// [`CartError::InvalidCode`] for an unknown code, or one whose rules do not hold for the
    /// cart now (as the shopper sees it, after re-pricing); [`CartError::Unsupported`] without
    /// promotions in the configuration; [`CartError::Catalog`] when the promotions fail. Nothing
    /// is written then.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use axum_cart::cart::{Condition, ConditionTarget, Rule};
    /// use axum_cart::{AddItem, CartConfig, CartError, CartManager, Currency, MemoryCatalog, MemoryStorage, Money};
    ///
    /// let usd = |s| Money::parse(s, Currency::USD);
    /// let tenoff = Condition::new("TENOFF", "discount", ConditionTarget::Subtotal, "-10.00")?
    ///     .with_rule(Rule::SubtotalAtLeast { amount: "50.00".parse()? });
    /// let catalog = MemoryCatalog::new()
    ///     .with_product("cap", "Canvas cap", usd("14.00")?)
    ///     .with_code("TENOFF", tenoff);
    /// let config = CartConfig::new()
    ///     .with_storage(MemoryStorage::new())
    ///     .with_catalog(catalog.clone())
    ///     .with_promotions(catalog);
    /// let cart = CartManager::new(config).cart("user:7", "default")?;
    ///
    /// cart.add_product(AddItem::new("cap", 2)).await?;
    /// let early = cart.apply_code("tenoff").await.unwrap_err();
    /// assert!(matches!(early, CartError::InvalidCode { .. }), "28.00 is below 50.00");
    ///
    /// cart.add_product(AddItem::new("cap", 2)).await?;
    /// cart.apply_code("tenoff").await?;
    /// assert_eq!(cart.totals().await?.total.to_string(), "46.00");
    /// assert!(cart.apply_code("FREESTUFF").await.is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn apply_code(&self, code: &str) -> Result<(), CartError> {
        let invalid = || CartError::InvalidCode {
            code: code.to_owned(),
        };
        let promotions = self.promotions()?;
        let name = code.to_uppercase();
        if name.is_empty() {
            return Err(invalid());
        }
        let Some(condition) = promotions.condition_for(code).await? else {
            return Err(invalid());
        };
        let condition = named(condition, &name)?;
        let read = self.load_cached().await?;
        let mut trial = read.value.clone();
        trial.add_condition(condition.clone())?;
        if !trial
            .totals()?
            .steps
            .iter()
            .any(|step| step.condition == name)
        {
            return Err(invalid());
        }
        self.commit(
            "apply_code",
            |cart| cart.add_condition(condition.clone()),
            |_| CartEventKind::ConditionAdded {
                name: name.clone(),
                item: None,
            },
        )
        .await
    }

    /// Removes a discount code applied with [`Cart::apply_code`].
    ///
    /// # Errors
    ///
    /// `condition_not_found` (404) when the code is not a promotion's or the cart does not hold
    /// it: other conditions (a tax, shipping) are never removed through a code.
    pub async fn remove_code(&self, code: &str) -> Result<(), CartError> {
        let promotions = self.promotions()?;
        let name = code.to_uppercase();
        let not_found = || cart::Error::ConditionNotFound { name: name.clone() };
        if name.is_empty() || promotions.condition_for(code).await?.is_none() {
            return Err(not_found().into());
        }
        self.commit(
            "remove_code",
            |cart| cart.remove_condition(&name).map(|_| ()),
            |_| CartEventKind::ConditionRemoved {
                name: name.clone(),
                item: None,
            },
        )
        .await
    }
}

/// `condition` under the name `name`.
fn named(condition: Condition, name: &str) -> Result<Condition, cart::Error> {
    if condition.name() == name {
        return Ok(condition);
    }
    // Conditions have no setter for their name; their JSON form is their full description.
    let mut json = serde_json::to_value(&condition)
        .map_err(|error| cart::Error::validation("code", error.to_string()))?;
    json["name"] = serde_json::Value::from(name);
    serde_json::from_value(json).map_err(|error| cart::Error::validation("code", error.to_string()))
}
