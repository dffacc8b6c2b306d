//! Carts: one per user, its lines and its expiry.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::MemoryStore;
use crate::domain::cart::{CartLine, LineWrite, MAX_CART_LINES};
use crate::domain::ids::{ProductId, UserId};
use crate::ports::{CartStore, StoreResult, StoredCart};
use crate::retry::Safety;

#[async_trait]
impl CartStore for MemoryStore {
    async fn get(&self, user_id: &UserId, now: i64) -> StoreResult<StoredCart> {
        self.call("get_cart", Safety::Idempotent, |st| {
            Ok(match st.carts.get(user_id) {
                Some((lines, exp)) if *exp > now => StoredCart {
                    exists: true,
                    lines: lines.values().cloned().collect(),
                },
                _ => StoredCart::default(),
            })
        })
        .await
    }

    async fn write_line(
        &self,
        user_id: &UserId,
        product_id: &ProductId,
        write: &LineWrite,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<bool> {
        self.call("write_cart_line", Safety::NotApplied, |st| {
            let live = st.carts.get(user_id).is_some_and(|(_, e)| *e > now);
            let line = |q| CartLine {
                product_id: product_id.to_owned(),
                quantity: q,
                added_at: now,
            };
            match write {
                LineWrite::CreateCart { quantity } => {
                    if live {
                        return Ok(false);
                    }
                    st.carts.insert(
                        user_id.to_owned(),
                        (
                            BTreeMap::from([(product_id.to_owned(), line(*quantity))]),
                            expires_at,
                        ),
                    );
                }
                LineWrite::AddLine { quantity } => {
                    let Some((lines, exp)) = st.carts.get_mut(user_id).filter(|_| live) else {
                        return Ok(false);
                    };
                    if lines.contains_key(product_id) || lines.len() >= MAX_CART_LINES {
                        return Ok(false);
                    }
                    lines.insert(product_id.to_owned(), line(*quantity));
                    *exp = expires_at;
                }
                LineWrite::SetQuantity { from, to } => {
                    let Some((lines, exp)) = st.carts.get_mut(user_id).filter(|_| live) else {
                        return Ok(false);
                    };
                    match lines.get_mut(product_id) {
                        Some(l) if l.quantity == *from => l.quantity = *to,
                        _ => return Ok(false),
                    }
                    *exp = expires_at;
                }
            }
            Ok(true)
        })
        .await
    }

    async fn remove_line(
        &self,
        user_id: &UserId,
        product_id: &ProductId,
        now: i64,
    ) -> StoreResult<bool> {
        self.call("remove_cart_line", Safety::NotApplied, |st| {
            Ok(match st.carts.get_mut(user_id) {
                Some((lines, exp)) if *exp > now => lines.remove(product_id).is_some(),
                _ => false,
            })
        })
        .await
    }
}
