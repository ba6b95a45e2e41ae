//! Many writers on one cart through two storages (two web servers), counting what was lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum_cart::storage::CartStorage;
use axum_cart::storage::ModifyOptions;
use axum_cart::{CartContents, CartItem, Currency, Money};

/// 64 tasks, alternating between `first` and `second`, each adding 1 unit 20 times to one cart.
/// Returns the final quantity and the conflicts retried.
pub async fn hammer<S: CartStorage + Clone>(first: S, second: S) -> (u32, u64) {
    let key = super::guest_key();
    let retries = Arc::new(AtomicU64::new(0));
    // Far longer than the run needs: a writer never gives up, so the count proves nothing lost.
    let options = ModifyOptions {
        retry_budget: Duration::from_secs(120),
        ..ModifyOptions::default()
    };
    let mut tasks = Vec::new();
    for task in 0..64 {
        let storage = if task % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let (key, retries, options) = (key.clone(), Arc::clone(&retries), options.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                let add = |cart: &mut CartContents| {
                    let price = Money::parse("1.00", Currency::USD)?;
                    cart.add(CartItem::new("sku", "Thing", price, 1))
                        .map(|_| ())
                };
                let modified = storage.modify(&key, &options, &add).await.unwrap();
                retries.fetch_add(u64::from(modified.retries), Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let cart = first.load(&key).await.unwrap().unwrap();
    (
        cart.value.get("sku").unwrap().quantity(),
        retries.load(Ordering::Relaxed),
    )
}
