//! [`CartSnapshot`]: the request's loaded cart, read without copying it.

use std::ops::Deref;
use std::sync::Arc;

use crate::cart::CartContents;
use crate::storage::Versioned;

/// The cart as this request holds it, shared rather than copied: what
/// [`Cart::snapshot`](crate::Cart::snapshot) returns. It derefs to [`CartContents`], so every
/// read of the domain type (`items()`, `totals()`, `count()`, ...) works on it; later changes of
/// the request do not show in a snapshot taken before them. Its `limits()` are the defaults of a
/// parsed document: the configured limits apply where a cart changes (every write sets them) and
/// on the copies [`Cart::contents`](crate::Cart::contents) hands out.
#[derive(Clone, Debug)]
pub struct CartSnapshot {
    cart: Arc<Versioned<CartContents>>,
}

impl CartSnapshot {
    pub(crate) fn new(cart: Arc<Versioned<CartContents>>) -> Self {
        CartSnapshot { cart }
    }

    /// The stored version (0: not stored yet).
    pub fn version(&self) -> u64 {
        self.cart.version
    }
}

impl Deref for CartSnapshot {
    type Target = CartContents;

    fn deref(&self) -> &CartContents {
        &self.cart.value
    }
}
