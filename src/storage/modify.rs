//! The read-modify-write every cart change goes through: [`ModifyOptions`], the provided
//! optimistic loop, its backoff, and the write ids that make a change count once.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::time::Instant;

use super::{CartKey, CartStorage, ModifyError, StorageError, Versioned};
use crate::cart::{self, CartContents, Currency, Limits, RoundingMode};

/// The default time a change may spend retrying conflicts with other processes.
pub const DEFAULT_RETRY_BUDGET: Duration = Duration::from_secs(2);

/// What a read-modify-write needs besides the operation: the shape of a new cart and the retry budget.
#[derive(Clone, Debug)]
pub struct ModifyOptions {
    /// How long a change may keep retrying after conflicts before giving up with
    /// [`ModifyError::Conflict`] (default 2 s).
    pub retry_budget: Duration,
    /// Currency of a cart created by this write.
    pub currency: Currency,
    /// Rounding mode of a cart created by this write.
    pub rounding: RoundingMode,
    /// Limits enforced on the result.
    pub limits: Limits,
    /// The cart as the caller last read it (version 0: not stored), when nothing in this process
    /// wrote it since: a driver may start the first attempt from it instead of loading the cart
    /// again. Only a hint: the compare-and-set at its version refuses it when the cart moved on,
    /// and the next attempt reads the stored cart.
    pub basis: Option<Arc<Versioned<CartContents>>>,
}

impl Default for ModifyOptions {
    fn default() -> Self {
        ModifyOptions {
            retry_budget: DEFAULT_RETRY_BUDGET,
            currency: Currency::default(),
            rounding: RoundingMode::default(),
            limits: Limits::default(),
            basis: None,
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

    /// Applies `op` to the stored cart (or a new one), records `write_id` in it and checks the
    /// result's size: the pure half of a read-modify-write, shared by every driver. Returns the
    /// new cart and the version it replaces.
    ///
    /// # Errors
    ///
    /// The error `op` returns; [`cart::Error::Overflow`] when the result's totals would not fit in
    /// 64-bit minor units (now, or once other rules of its conditions hold); a limit error when
    /// the result is too large.
    pub fn apply(
        &self,
        current: Option<Versioned<CartContents>>,
        op: &CartOp<'_>,
        write_id: &str,
    ) -> Result<(CartContents, Option<u64>), cart::Error> {
        let (cart, expected) = self.run(current, op, write_id)?;
        cart.check_size()?;
        Ok((cart, expected))
    }

    /// Like [`ModifyOptions::apply`], and also returns the serialized document (whose length was
    /// the size check), for drivers that store the JSON bytes.
    ///
    /// # Errors
    ///
    /// As [`ModifyOptions::apply`].
    pub fn apply_encoded(
        &self,
        current: Option<Versioned<CartContents>>,
        op: &CartOp<'_>,
        write_id: &str,
    ) -> Result<(CartContents, Vec<u8>, Option<u64>), cart::Error> {
        let (cart, expected) = self.run(current, op, write_id)?;
        let document = cart.to_json_checked()?;
        Ok((cart, document, expected))
    }

    fn run(
        &self,
        current: Option<Versioned<CartContents>>,
        op: &CartOp<'_>,
        write_id: &str,
    ) -> Result<(CartContents, Option<u64>), cart::Error> {
        let (mut cart, expected) = match current {
            Some(stored) => (stored.value, Some(stored.version)),
            None => (self.empty_cart(), None),
        };
        cart.set_limits(self.limits);
        op(&mut cart)?;
        // A cart whose totals fail could be stored but never shown again: refuse the change.
        cart.check_totals()?;
        cart.record_write(write_id);
        Ok((cart, expected))
    }

    /// What the first attempt of a read-modify-write starts from when there is a
    /// [`basis`](ModifyOptions::basis): `Some(None)` when the basis says the cart is not stored,
    /// `Some(Some(cart))` for a copy of the basis; `None` without a basis (load the cart).
    pub fn basis_cart(&self) -> Option<Option<Versioned<CartContents>>> {
        self.basis
            .as_ref()
            .map(|basis| (basis.version > 0).then(|| Versioned::clone(basis)))
    }

    /// When a change that starts now must stop retrying.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.retry_budget
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

/// A fresh write id: 128 random bits, URL-safe base64. Every attempt of a change stores its own
/// in the cart (see [`CartContents::record_write`]), so that a write whose answer was lost can be
/// recognised as committed.
pub fn new_write_id() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

/// The first version of a cart created now: the clock in microseconds, so that a cart deleted
/// (or expired) and created again starts above every version its earlier life reached, and a
/// writer that read the earlier cart cannot overwrite the new one.
///
/// Drivers with a server of their own use the server's clock instead (one clock for every
/// writer); this is for drivers that live in the process.
pub fn initial_version() -> u64 {
    let micros = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000;
    u64::try_from(micros).unwrap_or(1).max(1)
}

/// After a save that failed ambiguously (a conflict, or an error that may have come after the
/// backend committed): the stored cart, if it holds one of this change's writes.
pub(crate) async fn committed_write<S: CartStorage + ?Sized>(
    storage: &S,
    key: &CartKey,
    write_ids: &[String],
) -> Option<Versioned<CartContents>> {
    let stored = storage.load(key).await.ok()??;
    write_ids
        .iter()
        .any(|id| stored.value.has_write(id))
        .then_some(stored)
}

/// What one compare-and-set of a read-modify-write answered.
// Moved out once per attempt: boxing the cart would cost every write an allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Attempt {
    /// The write went through: the cart as stored.
    Committed(Versioned<CartContents>),
    /// The stored version was not the expected one; the current one, when known.
    Conflict(Option<u64>),
}

/// The optimistic read-modify-write: load, apply, compare-and-set save, and on a conflict a short
/// random pause and another try, until `options.retry_budget` is spent. A save answered by a
/// conflict or an error is checked against the stored cart's write ids first: when it committed
/// after all, it counts, and the change is not applied again. The provided
/// [`CartStorage::modify`]; drivers that override `modify` for a locking mode call it for their
/// optimistic mode.
pub(crate) async fn optimistic_modify<S: CartStorage + ?Sized>(
    storage: &S,
    key: &CartKey,
    options: &ModifyOptions,
    op: &CartOp<'_>,
) -> Result<Modified, ModifyError> {
    // The document is not stored here, only its size checked: counted, not collected.
    modify_loop(
        storage,
        key,
        options,
        op,
        false,
        |cart, _document, expected| async move {
            match storage.save(key, &cart, expected).await {
                Ok(version) => Ok(Attempt::Committed(Versioned::new(cart, version))),
                Err(StorageError::Conflict { current, .. }) => Ok(Attempt::Conflict(current)),
                Err(error) => Err(error),
            }
        },
    )
    .await
}

/// [`optimistic_modify`] with the driver's own compare-and-set: `save` gets the changed cart, the
/// document the size check serialized (so a driver that stores JSON serializes a change once)
/// and the expected version.
pub(crate) async fn modify_with<S, Save, Saving>(
    storage: &S,
    key: &CartKey,
    options: &ModifyOptions,
    op: &CartOp<'_>,
    save: Save,
) -> Result<Modified, ModifyError>
where
    S: CartStorage + ?Sized,
    Save: Fn(CartContents, Vec<u8>, Option<u64>) -> Saving,
    Saving: Future<Output = Result<Attempt, StorageError>>,
{
    modify_loop(storage, key, options, op, true, save).await
}

/// The loop of [`optimistic_modify`] and [`modify_with`]; `save` gets an empty document unless
/// `encoded`.
async fn modify_loop<S, Save, Saving>(
    storage: &S,
    key: &CartKey,
    options: &ModifyOptions,
    op: &CartOp<'_>,
    encoded: bool,
    save: Save,
) -> Result<Modified, ModifyError>
where
    S: CartStorage + ?Sized,
    Save: Fn(CartContents, Vec<u8>, Option<u64>) -> Saving,
    Saving: Future<Output = Result<Attempt, StorageError>>,
{
    let deadline = options.deadline();
    let mut write_ids = Vec::new();
    let mut retries = 0;
    let mut basis = options.basis_cart();
    loop {
        let from_basis = basis.is_some();
        let current = match basis.take() {
            Some(current) => current,
            None => storage.load(key).await?,
        };
        let write_id = new_write_id();
        let (cart, document, expected) = if encoded {
            options.apply_encoded(current, op, &write_id)?
        } else {
            let (cart, expected) = options.apply(current, op, &write_id)?;
            (cart, Vec::new(), expected)
        };
        write_ids.push(write_id);
        let committed = |stored| Modified {
            cart: stored,
            previous_version: expected,
            retries,
        };
        match save(cart, document, expected).await {
            Ok(Attempt::Committed(stored)) => return Ok(committed(stored)),
            Ok(Attempt::Conflict(current)) => {
                if let Some(stored) = committed_write(storage, key, &write_ids).await {
                    return Ok(committed(stored));
                }
                // A basis the cart moved on from met no writer in flight: read and go again,
                // whatever the budget, without counting a retry.
                if from_basis {
                    continue;
                }
                if Instant::now() >= deadline {
                    return Err(ModifyError::conflict(key, expected, current, retries));
                }
                retries += 1;
                backoff(retries).await;
            }
            Err(error) => {
                return match committed_write(storage, key, &write_ids).await {
                    Some(stored) => Ok(committed(stored)),
                    None => Err(error.into()),
                };
            }
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
