//! The cart: add (reserves nothing, but never more than the stock now), list, remove.

use chrono::Duration;

use crate::context::AppContext;
use crate::domain::cart::{AddToCartInput, CartLine, CartView, CART_TTL_DAYS, MAX_CART_LINES};
use crate::domain::ids;
use crate::error::{ApiError, ErrorCode};
use crate::services::catalog::product_not_found;
use crate::store::carts::LineWrite;

/// Optimistic writes retried this often before answering 503 (only under heavy contention on one cart).
const MAX_ATTEMPTS: u32 = 16;

pub fn insufficient_stock(product_id: &str, available: i64) -> ApiError {
    ApiError::new(
        ErrorCode::InsufficientStock,
        format!("Only {available} left in stock."),
    )
    .with("productId", product_id)
    .with("available", available)
}

/// The cart at today's names and prices.
pub async fn view(ctx: &AppContext, user_id: &str) -> Result<CartView, ApiError> {
    let cart = ctx
        .db
        .get_cart(user_id, ctx.clock.now().timestamp())
        .await?;
    price(ctx, cart.lines).await
}

async fn price(ctx: &AppContext, lines: Vec<CartLine>) -> Result<CartView, ApiError> {
    let ids: Vec<String> = lines.iter().map(|l| l.product_id.clone()).collect();
    let products = ctx.db.get_products(&ids).await?;
    let priced = lines
        .into_iter()
        .filter_map(|l| {
            let p = products.get(&l.product_id)?;
            Some((l, p.name.clone(), p.price))
        })
        .collect();
    CartView::price(priced).map_err(|_| ApiError::internal())
}

pub async fn add(
    ctx: &AppContext,
    user_id: &str,
    input: AddToCartInput,
) -> Result<CartView, ApiError> {
    if !ids::is_product_id(&input.product_id) {
        return Err(product_not_found(&input.product_id));
    }
    let product = ctx
        .db
        .get_product(&input.product_id)
        .await?
        .ok_or_else(|| product_not_found(&input.product_id))?;
    for attempt in 0..MAX_ATTEMPTS {
        let now = ctx.clock.now();
        let expires_at = (now + Duration::days(CART_TTL_DAYS)).timestamp();
        let cart = ctx.db.get_cart(user_id, now.timestamp()).await?;
        let current = cart.line(&input.product_id).map_or(0, |l| l.quantity);
        let wanted = current
            .checked_add(input.quantity)
            .ok_or_else(ApiError::internal)?;
        if wanted > product.stock {
            return Err(insufficient_stock(&product.product_id, product.stock));
        }
        let write = if !cart.exists {
            LineWrite::CreateCart { quantity: wanted }
        } else if current == 0 {
            if cart.lines.len() >= MAX_CART_LINES {
                return Err(ApiError::new(
                    ErrorCode::CartFull,
                    format!("A cart holds at most {MAX_CART_LINES} different products."),
                ));
            }
            LineWrite::AddLine { quantity: wanted }
        } else {
            LineWrite::SetQuantity {
                from: current,
                to: wanted,
            }
        };
        if ctx
            .db
            .write_cart_line(
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
        tokio::time::sleep(crate::store::backoff(attempt)).await;
    }
    let mut busy = ApiError::new(
        ErrorCode::ServiceUnavailable,
        "The cart is busy; retry shortly.",
    );
    busy.retry_after = Some(1);
    Err(busy)
}

pub async fn remove(ctx: &AppContext, user_id: &str, product_id: &str) -> Result<(), ApiError> {
    // A nonsense id is certainly not in the cart (and never reaches DynamoDB as a map key).
    let removed = ids::is_product_id(product_id)
        && ctx
            .db
            .remove_cart_line(user_id, product_id, ctx.clock.now().timestamp())
            .await?;
    if removed {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::CartItemNotFound,
            "The cart does not hold this product.",
        )
        .with("productId", product_id))
    }
}
