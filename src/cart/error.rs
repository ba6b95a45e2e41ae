//! The domain's own error: what a cart operation refuses, with no HTTP attached.

/// Why the domain refused an operation: bad input, a limit, an unknown line or condition.
///
/// The HTTP layer wraps it in [`CartError`](crate::CartError), which decides the status code;
/// code that works on [`CartContents`](super::CartContents) directly sees only this type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input that breaks a rule of the domain (a bad price, an empty id, a division by zero).
    #[error("invalid {field}: {message}")]
    Validation {
        /// The offending field (`price`, `quantity`, `id`, `value`, ...).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A configured limit would be exceeded.
    #[error("limit exceeded for {field}: {actual} is over the maximum of {max}")]
    LimitExceeded {
        /// The limited field (`lines`, `quantity`, `id`, `name`, `cart_size`).
        field: String,
        /// The configured maximum.
        max: u64,
        /// What the operation asked for.
        actual: u64,
    },
    /// An amount would not fit in 64-bit minor units.
    #[error("invalid {field}: the amount is too large")]
    Overflow {
        /// The field whose value overflowed.
        field: String,
    },
    /// Two amounts of different currencies met.
    #[error("invalid currency: the cart is in {expected}, got {found}")]
    CurrencyMismatch {
        /// The cart's currency.
        expected: String,
        /// The currency that was offered.
        found: String,
    },
    /// No item with this id in the cart.
    #[error("no item `{id}` in the cart")]
    ItemNotFound {
        /// The id asked for.
        id: String,
    },
    /// No condition with this name.
    #[error("no condition `{name}`")]
    ConditionNotFound {
        /// The name asked for.
        name: String,
    },
}

impl Error {
    /// Creates an [`Error::Validation`] about `field`, saying what is wrong with it.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum_cart::cart::Error;
    ///
    /// let error = Error::validation("quantity", "must be at least 1");
    /// assert_eq!(error.field(), Some("quantity"));
    /// assert_eq!(error.to_string(), "invalid quantity: must be at least 1");
    /// ```
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Creates an [`Error::LimitExceeded`]: `field` asked for `actual` where at most `max` is allowed.
    pub fn limit(field: impl Into<String>, max: u64, actual: u64) -> Error {
        Error::LimitExceeded {
            field: field.into(),
            max,
            actual,
        }
    }

    /// Creates an [`Error::Overflow`] for `field`.
    pub fn overflow(field: impl Into<String>) -> Error {
        Error::Overflow {
            field: field.into(),
        }
    }

    /// Returns the input field the error is about, or `None` for an unknown line or condition.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Validation { field, .. }
            | Error::LimitExceeded { field, .. }
            | Error::Overflow { field } => Some(field),
            Error::CurrencyMismatch { .. } => Some("currency"),
            Error::ItemNotFound { .. } | Error::ConditionNotFound { .. } => None,
        }
    }

    /// Returns a stable, machine-readable code (`validation_error`, `limit_exceeded`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Validation { .. } => "validation_error",
            Error::LimitExceeded { .. } => "limit_exceeded",
            Error::Overflow { .. } => "overflow",
            Error::CurrencyMismatch { .. } => "currency_mismatch",
            Error::ItemNotFound { .. } => "item_not_found",
            Error::ConditionNotFound { .. } => "condition_not_found",
        }
    }

    /// Returns `true` when the error names something that is not in the cart (rather than bad
    /// input).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Error::ItemNotFound { .. } | Error::ConditionNotFound { .. }
        )
    }
}
