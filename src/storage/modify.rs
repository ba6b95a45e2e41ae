//! The read-modify-write every cart change goes through: [`ModifyOptions`], the provided
//! optimistic loop and its backoff.

use std::time::Duration;

use super::{CartKey, CartStorage, ModifyError, StorageError, Versioned};
use crate::cart::{self, CartContents, Currency, Limits, RoundingMode};

/// What a read-modify-write needs besides the operation: the shape of a new cart and the retry budget.
#[derive(Clone, Debug)]
pub struct ModifyOptions {
    /// Retries after a conflict before giving up with [`ModifyError::Conflict`] (default 5).
    pub max_retries: u32,
    /// Currency of a cart created by this write.
    pub currency: Currency,
    /// Rounding mode of a cart created by this write.
    pub rounding: RoundingMode,
    /// Limits enforced on the result.
    pub limits: Limits,
}

impl Default for ModifyOptions {
    fn default() -> Self {
        ModifyOptions {
            max_retries: 5,
            currency: Currency::default(),
            rounding: RoundingMode::default(),
            limits: Limits::default(),
        }
    }
}

impl ModifyOptions {
    /// An empty cart with these options.
    pub fn empty_cart(&self) -> CartContents {
        CartContents::new(self.currency)
            .with_rounding(self.rounding)
            .with_limits(self.limits)
    }

    /// Applies `op` to the stored cart (or a new one) and checks the result's size: the pure half
    /// of a read-modify-write, shared by every driver. Returns the new cart and the version it
    /// replaces.
    pub fn apply(
        &self,
        current: Option<Versioned<CartContents>>,
        op: &CartOp<'_>,
    ) -> Result<(CartContents, Option<u64>), cart::Error> {
        let (cart, expected) = self.run(current, op)?;
        cart.check_size()?;
        Ok((cart, expected))
    }

    /// Like [`ModifyOptions::apply`], and also returns the serialized document (whose length was
    /// the size check), for drivers that store the JSON bytes.
    pub fn apply_encoded(
        &self,
        current: Option<Versioned<CartContents>>,
        op: &CartOp<'_>,
    ) -> Result<(CartContents, Vec<u8>, Option<u64>), cart::Error> {
        let (cart, expected) = self.run(current, op)?;
        let document = cart.to_json_checked()?;
        Ok((cart, document, expected))
    }

    fn run(
        &self,
        current: Option<Versioned<CartContents>>,
        op: &CartOp<'_>,
    ) -> Result<(CartContents, Option<u64>), cart::Error> {
        let (mut cart, expected) = match current {
            Some(stored) => (stored.value, Some(stored.version)),
            None => (self.empty_cart(), None),
        };
        cart.set_limits(self.limits);
        op(&mut cart)?;
        Ok((cart, expected))
    }
}

/// A change to a cart: a pure function of the cart, so a retry is always safe.
pub type CartOp<'a> = dyn Fn(&mut CartContents) -> Result<(), cart::Error> + Send + Sync + 'a;

/// The outcome of a committed [`CartStorage::modify`].
#[derive(Clone, Debug)]
pub struct Modified {
    /// The cart as written, with its new version.
    pub cart: Versioned<CartContents>,
    /// The version it replaced (`None`: the write created the cart).
    pub previous_version: Option<u64>,
    /// Conflicts retried before the write went through.
    pub retries: u32,
}

/// The optimistic read-modify-write: load, apply, compare-and-set save, and on a conflict a short
/// random pause and another try, at most `options.max_retries` times. The provided
/// [`CartStorage::modify`]; drivers that override `modify` for a locking mode call it for their
/// optimistic mode.
pub(crate) async fn optimistic_modify<S: CartStorage + ?Sized>(
    storage: &S,
    key: &CartKey,
    options: &ModifyOptions,
    op: &CartOp<'_>,
) -> Result<Modified, ModifyError> {
    let mut retries = 0;
    loop {
        let current = storage.load(key).await?;
        let (cart, expected) = options.apply(current, op)?;
        match storage.save(key, &cart, expected).await {
            Ok(version) => {
                return Ok(Modified {
                    cart: Versioned::new(cart, version),
                    previous_version: expected,
                    retries,
                });
            }
            Err(StorageError::Conflict { current, .. }) => {
                if retries >= options.max_retries {
                    return Err(ModifyError::conflict(key, expected, current, retries));
                }
                retries += 1;
                backoff(retries).await;
            }
            Err(other) => return Err(other.into()),
        }
    }
}

/// A short random pause before retry `attempt`, growing with each attempt, so that writers that
/// collided do not collide again in lockstep.
pub(crate) async fn backoff(attempt: u32) {
    let ceiling_micros = 500u64 << attempt.min(6);
    let pause = rand::random_range(0..=ceiling_micros);
    tokio::time::sleep(Duration::from_micros(pause)).await;
}
