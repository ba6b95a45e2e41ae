//! `CartContents`: one cart's data, its accessors and its totals.
//!
//! Each operation validates first and changes the cart only when it succeeds, so a failed
//! operation leaves the cart exactly as it was. The operations on lines are in `lines.rs`, those
//! on conditions in `adjustments.rs`, those on metadata in `metadata.rs`, and the stored JSON
//! document in `document.rs`.

use std::sync::Arc;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::condition::Condition;
use super::currency::Currency;
use super::error::Error;
use super::item::CartItem;
use super::limits::Limits;
use super::money::RoundingMode;
use super::totals::{Totals, TotalsInput};
use super::writes::{KeyRecord, MergeRecord, WriteLog};

/// One cart: its currency, lines, cart conditions and metadata. Pure data, no I/O.
///
/// ```
/// use axum_cart::cart::{CartContents, CartItem, Currency, Money};
/// let usd = |s| Money::parse(s, Currency::USD).unwrap();
/// let mut cart = CartContents::new(Currency::USD);
/// cart.add(CartItem::new("a", "Apple", usd("1.20"), 3)).unwrap();
/// cart.add_discount("welcome", "10%").unwrap();
/// let totals = cart.totals().unwrap();
/// assert_eq!(totals.subtotal_without_conditions.to_string(), "3.60");
/// assert_eq!(totals.total.to_string(), "3.24");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CartContents {
    currency: Currency,
    rounding: RoundingMode,
    items: Vec<CartItem>,
    conditions: Vec<Condition>,
    metadata: Map<String, Value>,
    limits: Limits,
    pub(super) log: WriteLog,
}

impl Default for CartContents {
    fn default() -> Self {
        CartContents::new(Currency::default())
    }
}

impl CartContents {
    /// Creates an empty cart in `currency` that rounds half up and has the default limits.
    pub fn new(currency: Currency) -> Self {
        CartContents {
            currency,
            rounding: RoundingMode::default(),
            items: Vec::new(),
            conditions: Vec::new(),
            metadata: Map::new(),
            limits: Limits::default(),
            log: WriteLog::default(),
        }
    }

    /// A cart from its stored parts, with the default limits.
    pub(super) fn from_parts(
        currency: Currency,
        rounding: RoundingMode,
        items: Vec<CartItem>,
        conditions: Vec<Condition>,
        metadata: Map<String, Value>,
        log: WriteLog,
    ) -> Self {
        CartContents {
            currency,
            rounding,
            items,
            conditions,
            metadata,
            limits: Limits::default(),
            log,
        }
    }

    /// Sets the rounding mode used at each condition step.
    pub fn with_rounding(mut self, rounding: RoundingMode) -> Self {
        self.rounding = rounding;
        self
    }

    /// Sets the limits enforced by later operations.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Replaces the limits (limits are configuration, not stored with the cart).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Returns the cart's currency: every price and fixed amount in the cart is in it.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Returns the rounding mode used at each condition step.
    pub fn rounding(&self) -> RoundingMode {
        self.rounding
    }

    /// Returns the limits enforced by the operations on this cart.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    // ----- items -------------------------------------------------------------------------------

    /// Returns the lines, in insertion order.
    pub fn items(&self) -> &[CartItem] {
        &self.items
    }

    /// Returns the line with item id `id`, or `None` when there is none.
    pub fn get(&self, id: &str) -> Option<&CartItem> {
        self.items.iter().find(|item| &*item.id == id)
    }

    /// Returns `true` when the cart has a line with item id `id`.
    pub fn has(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    /// The index of the line `id`, or [`Error::ItemNotFound`].
    pub(super) fn position(&self, id: &str) -> Result<usize, Error> {
        self.items
            .iter()
            .position(|item| &*item.id == id)
            .ok_or_else(|| Error::ItemNotFound { id: id.to_owned() })
    }

    /// Returns the sum of the quantities of all lines.
    pub fn count(&self) -> u64 {
        self.items.iter().map(|item| u64::from(item.quantity)).sum()
    }

    /// Returns the number of distinct lines.
    pub fn lines(&self) -> usize {
        self.items.len()
    }

    /// Returns `true` when the cart has no lines, no cart conditions and no metadata.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.conditions.is_empty() && self.metadata.is_empty()
    }

    /// Empties the cart: lines, cart conditions and metadata. The currency, rounding mode and
    /// limits stay.
    pub fn clear(&mut self) {
        self.items.clear();
        self.conditions.clear();
        self.metadata.clear();
    }

    // ----- exactly-once bookkeeping ------------------------------------------------------------

    /// The ids of the cart's last writes, oldest first (at most
    /// [`REMEMBERED_WRITES`](super::REMEMBERED_WRITES)).
    pub fn write_ids(&self) -> &[Arc<str>] {
        &self.log.writes
    }

    /// Whether a write with this id is one of the cart's last writes.
    pub fn has_write(&self, write_id: &str) -> bool {
        self.log.has_write(write_id)
    }

    /// Records the id of the write about to store this cart.
    pub fn record_write(&mut self, write_id: impl Into<String>) {
        self.log.record_write(Arc::from(write_id.into()));
    }

    /// The guest carts merged into this cart, oldest first (at most
    /// [`REMEMBERED_MERGES`](super::REMEMBERED_MERGES)).
    pub fn merges(&self) -> &[MergeRecord] {
        &self.log.merges
    }

    /// Whether version `version` of the guest cart `guest` was already merged into this cart.
    pub fn has_merged(&self, guest: &str, version: u64) -> bool {
        self.log.has_merged(guest, version)
    }

    /// Records that version `version` of the guest cart `guest` was merged into this cart.
    pub fn record_merge(&mut self, guest: impl Into<String>, version: u64) {
        self.log.record_merge(guest.into(), version);
    }

    /// The record of the idempotency key `key`, unless it was stored before `oldest` (Unix
    /// seconds).
    pub(crate) fn idempotency_record(&self, key: &str, oldest: i64) -> Option<&KeyRecord> {
        self.log.key_record(key, oldest)
    }

    /// Records that the request with idempotency key `key` and `fingerprint` changed this cart at
    /// `at`, forgetting the keys stored before `oldest`.
    pub(crate) fn record_idempotency_key(
        &mut self,
        key: &str,
        fingerprint: &str,
        at: i64,
        oldest: i64,
    ) {
        let record = KeyRecord {
            key: key.to_owned(),
            fingerprint: fingerprint.to_owned(),
            at,
        };
        self.log.record_key(record, oldest);
    }

    // ----- conditions and metadata -------------------------------------------------------------

    /// Returns the cart conditions, in insertion order.
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// Returns the cart condition named `name`, or `None` when there is none.
    pub fn condition(&self, name: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.name() == name)
    }

    /// Returns the cart conditions of one kind (`discount`, `tax`, ...), in insertion order.
    pub fn conditions_by_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Condition> {
        self.conditions.iter().filter(move |c| c.kind() == kind)
    }

    /// Returns all metadata.
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.metadata
    }

    // ----- totals ------------------------------------------------------------------------------

    /// Computes the totals now: rules with date windows are evaluated against the current time.
    ///
    /// See [`Totals`] for the pipeline: item conditions, then `subtotal` conditions, then `total`
    /// conditions, each step rounded with the cart's rounding mode.
    ///
    /// # Errors
    ///
    /// [`Error::Overflow`] when an amount does not fit in 64-bit minor units.
    ///
    /// # Examples
    ///
    /// Two lines, 10 % off the subtotal, then 15 % tax and 9.99 shipping on the total:
    ///
    /// ```
    /// use axum_cart::cart::{CartContents, CartItem, Condition, ConditionTarget, Currency, Money};
    ///
    /// let usd = |s| Money::parse(s, Currency::USD);
    /// let mut cart = CartContents::new(Currency::USD);
    /// cart.add(CartItem::new("lamp", "Desk lamp", usd("100.00")?, 1))?;
    /// cart.add(CartItem::new("mug", "Mug", usd("50.00")?, 2))?;
    /// cart.add_condition(Condition::new("spring", "discount", ConditionTarget::Subtotal, "-10%")?)?;
    /// cart.add_condition(Condition::new("VAT", "tax", ConditionTarget::Total, "+15%")?)?;
    /// cart.add_condition(Condition::new("standard", "shipping", ConditionTarget::Total, "+9.99")?)?;
    ///
    /// let totals = cart.totals()?;
    /// assert_eq!(totals.subtotal_without_conditions.to_string(), "200.00");
    /// assert_eq!(totals.subtotal.to_string(), "180.00"); // 200.00 - 10 %
    /// assert_eq!(totals.total.to_string(), "216.99"); // 180.00 + 15 % + 9.99
    /// assert_eq!(totals.line_total("mug").unwrap().to_string(), "100.00");
    /// assert_eq!(totals.steps.len(), 3);
    /// # Ok::<(), axum_cart::cart::Error>(())
    /// ```
    pub fn totals(&self) -> Result<Totals, Error> {
        self.totals_at(OffsetDateTime::now_utc())
    }

    /// Computes the totals with date-window rules evaluated at `now`.
    ///
    /// # Errors
    ///
    /// [`Error::Overflow`] when an amount does not fit in 64-bit minor units.
    pub fn totals_at(&self, now: OffsetDateTime) -> Result<Totals, Error> {
        Totals::compute(self.totals_input(now))
    }

    fn totals_input(&self, now: OffsetDateTime) -> TotalsInput<'_> {
        TotalsInput {
            currency: self.currency,
            rounding: self.rounding,
            items: &self.items,
            conditions: &self.conditions,
            metadata: &self.metadata,
            now,
        }
    }

    /// Checks that the cart can be totalled now and at any later time, whichever of its rules
    /// hold then (a date window opens, say): the check a write makes before it stores the cart,
    /// so that a stored cart is never one whose totals fail.
    ///
    /// # Errors
    ///
    /// [`Error::Overflow`] when an amount, now or once other rules hold, would not fit in 64-bit
    /// minor units.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum_cart::cart::{CartContents, CartItem, Condition, ConditionTarget, Currency, Money};
    ///
    /// let mut cart = CartContents::new(Currency::USD);
    /// let price = Money::parse("90000000000000000.00", Currency::USD)?;
    /// cart.add(CartItem::new("yacht", "Yacht", price, 1))?;
    /// assert!(cart.check_totals().is_ok());
    /// cart.add_condition(Condition::new("x", "fee", ConditionTarget::Total, "*2")?)?;
    /// assert_eq!(cart.check_totals().unwrap_err().code(), "overflow");
    /// # Ok::<(), axum_cart::cart::Error>(())
    /// ```
    pub fn check_totals(&self) -> Result<(), Error> {
        let now = OffsetDateTime::now_utc();
        self.totals_at(now)?;
        // Only a condition's rules can make later totals differ from these: without conditions,
        // the totals now are the ceiling.
        if self.conditions.is_empty() && self.items.iter().all(|item| item.conditions.is_empty()) {
            return Ok(());
        }
        Totals::check_ceiling(self.totals_input(now))
    }

    // ----- for the other files of the domain ---------------------------------------------------

    /// Replaces every line, unchecked (a merge has already applied the limits).
    pub(crate) fn replace_items(&mut self, items: Vec<CartItem>) {
        self.items = items;
    }

    /// The lines, for changes that keep them valid.
    pub(crate) fn items_mut(&mut self) -> &mut Vec<CartItem> {
        &mut self.items
    }

    /// The cart conditions, for changes that keep them valid.
    pub(crate) fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        &mut self.conditions
    }

    /// The metadata, for changes that keep its keys valid.
    pub(crate) fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.metadata
    }
}
