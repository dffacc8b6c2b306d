//! The cart: add (reserves nothing, but never more than the stock now), list, remove.

use chrono::Duration;
use thiserror::Error;

use crate::domain::cart::{
    AddToCartInput, CartLine, CartView, LineWrite, CART_TTL_DAYS, MAX_CART_LINES,
};
use crate::domain::ids::{self, ProductId, UserId};
use crate::domain::order::MAX_LINE_QUANTITY;
use std::sync::Arc;

use crate::ports::{CartStore, ProductStore, StoreError};
use crate::retry::Attempts;
use crate::wiring::{Env, Ports};

/// What viewing and adding to the cart use.
#[derive(Clone)]
pub struct CartPorts {
    pub env: Env,
    pub carts: Arc<dyn CartStore>,
    pub products: Arc<dyn ProductStore>,
}

impl CartPorts {
    pub fn wire(p: &impl Ports) -> Self {
        Self {
            env: p.env(),
            carts: p.carts(),
            products: p.products(),
        }
    }
}

/// What removing a line uses.
#[derive(Clone)]
pub struct CartLinePorts {
    pub env: Env,
    pub carts: Arc<dyn CartStore>,
}

impl CartLinePorts {
    pub fn wire(p: &impl Ports) -> Self {
        Self {
            env: p.env(),
            carts: p.carts(),
        }
    }
}

/// Optimistic writes tried this often (only heavy contention on one cart exhausts them).
const MAX_ATTEMPTS: usize = 16;

#[derive(Debug, Error)]
pub enum CartError {
    #[error("no product {0}")]
    ProductNotFound(ProductId),
    #[error("only {available} of {product_id} in stock")]
    InsufficientStock {
        product_id: ProductId,
        available: i64,
    },
    #[error("the cart holds {MAX_CART_LINES} products")]
    CartFull,
    /// The line would pass [`MAX_LINE_QUANTITY`] units (what one order line may hold).
    #[error("a cart line holds at most {MAX_LINE_QUANTITY} units (this one holds {holds})")]
    LineTooLarge { holds: i64 },
    #[error("the cart does not hold {0}")]
    ItemNotFound(ProductId),
    /// Contention on the cart outlasted the attempts; nothing changed.
    #[error("the cart is busy")]
    Busy,
    #[error("a total does not fit the money type")]
    Overflow,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The cart at today's names and prices.
pub async fn view(ctx: &CartPorts, user_id: &UserId) -> Result<CartView, CartError> {
    let cart = ctx
        .carts
        .get(user_id, ctx.env.clock.now().timestamp())
        .await?;
    price(ctx, cart.lines).await
}

async fn price(ctx: &CartPorts, lines: Vec<CartLine>) -> Result<CartView, CartError> {
    let ids: Vec<ProductId> = lines.iter().map(|l| l.product_id.clone()).collect();
    let products = ctx.products.get_many(&ids).await?;
    let priced = lines
        .into_iter()
        .filter_map(|l| {
            let p = products.get(&l.product_id)?;
            Some((l, p.name.clone(), p.price))
        })
        .collect();
    CartView::price(priced).map_err(|_| CartError::Overflow)
}

pub async fn add(
    ctx: &CartPorts,
    user_id: &UserId,
    input: AddToCartInput,
) -> Result<CartView, CartError> {
    if !ids::is_product_id(&input.product_id) {
        return Err(CartError::ProductNotFound(input.product_id));
    }
    let product = ctx
        .products
        .get(&input.product_id)
        .await?
        .ok_or_else(|| CartError::ProductNotFound(input.product_id.clone()))?;
    let mut attempts = Attempts::new(MAX_ATTEMPTS);
    while attempts.next().await {
        let now = ctx.env.clock.now();
        let expires_at = (now + Duration::days(CART_TTL_DAYS)).timestamp();
        let cart = ctx.carts.get(user_id, now.timestamp()).await?;
        let current = cart.line(&input.product_id).map_or(0, |l| l.quantity);
        let wanted = current
            .checked_add(input.quantity)
            .ok_or(CartError::Overflow)?;
        if wanted > MAX_LINE_QUANTITY {
            return Err(CartError::LineTooLarge { holds: current });
        }
        if wanted > product.stock {
            // The buckets were read one by one: refuse only on a snapshot of all of them.
            let now = ctx
                .products
                .snapshot(&product.product_id, 1)
                .await?
                .ok_or_else(|| CartError::ProductNotFound(input.product_id.clone()))?;
            if wanted > now.product.stock {
                return Err(CartError::InsufficientStock {
                    product_id: product.product_id,
                    available: now.product.stock,
                });
            }
        }
        let write = if !cart.exists {
            LineWrite::CreateCart { quantity: wanted }
        } else if current == 0 {
            if cart.lines.len() >= MAX_CART_LINES {
                return Err(CartError::CartFull);
            }
            LineWrite::AddLine { quantity: wanted }
        } else {
            LineWrite::SetQuantity {
                from: current,
                to: wanted,
            }
        };
        if ctx
            .carts
            .write_line(
                user_id,
                &input.product_id,
                &write,
                now.timestamp(),
                expires_at,
            )
            .await?
        {
            return view(ctx, user_id).await;
        }
    }
    Err(CartError::Busy)
}

pub async fn remove(
    ctx: &CartLinePorts,
    user_id: &UserId,
    product_id: &ProductId,
) -> Result<(), CartError> {
    // A nonsense id is certainly not in the cart (and never reaches the store as a map key).
    let removed = ids::is_product_id(product_id)
        && ctx
            .carts
            .remove_line(user_id, product_id, ctx.env.clock.now().timestamp())
            .await?;
    if removed {
        Ok(())
    } else {
        Err(CartError::ItemNotFound(product_id.to_owned()))
    }
}
