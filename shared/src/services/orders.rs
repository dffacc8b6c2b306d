//! Placing and reading orders.
//!
//! An order is read once (products in one BatchGetItem, the cart for `fromCart`) and committed
//! in ONE `TransactWriteItems`: per line the stock decrement (conditioned on stock and the price
//! read), the balance decrement (conditioned on the balance), the order put (the outbox record),
//! the idempotency record, per line the sales counter, and for `fromCart` the removal of exactly
//! the cart lines read. No locks, no read-modify-write: the conditions decide.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::clock::rfc3339;
use crate::context::AppContext;
use crate::cursor::CursorCodec;
use crate::domain::ids;
use crate::domain::input::ValidationError;
use crate::domain::order::{
    build_order, request_hash, Order, OrderRequest, PricedLine, RequestedLine,
};
use crate::domain::popular::sales_day;
use crate::error::{ApiError, ErrorCode};
use crate::services::balance::Answer;
use crate::services::cart::insufficient_stock;
use crate::services::catalog::product_not_found;
use crate::services::idempotency::{self, in_progress, Begun};
use crate::store::idempotency::IdemStatus;
use crate::store::orders::{Action, OrderRecord, OrderWrite, PlaceError};
use crate::store::products::Product;
use crate::store::{backoff, get_n, get_s, StoreError};

/// Attempts of the whole read-and-commit cycle before answering 503 `TRY_AGAIN`.
pub const MAX_ATTEMPTS: u32 = 8;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderList {
    pub items: Vec<Order>,
    pub next_cursor: Option<String>,
}

fn try_again() -> ApiError {
    let mut e = ApiError::new(
        ErrorCode::TryAgain,
        "The order could not be committed because of contention; nothing was changed. Retry shortly.",
    );
    e.retry_after = Some(1);
    e
}

fn order_not_found() -> ApiError {
    ApiError::new(ErrorCode::OrderNotFound, "No such order.")
}

/// Places an order. With an Idempotency-Key the first answer is stored and replayed for 24 h.
pub async fn place(
    ctx: &AppContext,
    user_id: &str,
    idempotency_key: Option<&str>,
    raw_body: &[u8],
    request: OrderRequest,
) -> Result<Answer, ApiError> {
    let hash = request_hash(raw_body);
    let Some(key) = idempotency_key else {
        return execute(ctx, user_id, &ids::new_order_id(), &request, &hash, None).await;
    };
    let begun = idempotency::begin(
        ctx,
        "ORDER",
        user_id,
        key,
        hash.clone(),
        ids::new_order_id(),
    )
    .await?;
    let record = match begun {
        Begun::Owner(record) => record,
        Begun::Finished(old) => match (old.response_status, old.response_body) {
            (Some(status), Some(body)) => return Ok(Answer { status, body }),
            _ => return Err(in_progress()),
        },
    };
    let pk = record.pk.clone();
    let result = execute(
        ctx,
        user_id,
        &record.resource_id,
        &request,
        &hash,
        Some(&pk),
    )
    .await;
    match &result {
        Ok(_) => {}
        // Nothing changed and the client may retry: free the key.
        Err(e) if e.status() >= 500 => {
            ctx.db.release_idempotency(&pk).await?;
        }
        // A definite refusal is the first answer: replay it.
        Err(e) => {
            ctx.db
                .finish_idempotency(&pk, IdemStatus::Failed, e.status(), &e.body().to_string())
                .await?
        }
    }
    result
}

/// What to order this attempt: the lines in request order and, for `fromCart`, the cart lines read.
async fn lines_to_order(
    ctx: &AppContext,
    user_id: &str,
    request: &OrderRequest,
    now: DateTime<Utc>,
) -> Result<(Vec<RequestedLine>, Option<Vec<(String, i64)>>), ApiError> {
    match request {
        OrderRequest::Items(lines) => Ok((lines.clone(), None)),
        OrderRequest::FromCart => {
            let mut cart = ctx.db.get_cart(user_id, now.timestamp()).await?;
            if cart.lines.is_empty() {
                return Err(ApiError::new(ErrorCode::CartEmpty, "The cart is empty."));
            }
            cart.lines
                .sort_by(|a, b| (a.added_at, &a.product_id).cmp(&(b.added_at, &b.product_id)));
            let lines = cart
                .lines
                .iter()
                .map(|l| RequestedLine {
                    product_id: l.product_id.clone(),
                    quantity: l.quantity,
                })
                .collect();
            let read = cart
                .lines
                .into_iter()
                .map(|l| (l.product_id, l.quantity))
                .collect();
            Ok((lines, Some(read)))
        }
    }
}

/// The contract's order of refusals over the products as read: unknown product, then the first
/// line (in request order) lacking stock.
fn check_lines(
    lines: &[RequestedLine],
    products: &std::collections::HashMap<String, Product>,
) -> Result<Vec<PricedLine>, ApiError> {
    if let Some(missing) = lines.iter().find(|l| !products.contains_key(&l.product_id)) {
        return Err(product_not_found(&missing.product_id));
    }
    let mut priced = Vec::with_capacity(lines.len());
    for l in lines {
        let p = &products[&l.product_id];
        if p.stock < l.quantity {
            return Err(insufficient_stock(&p.product_id, p.stock));
        }
        priced.push(PricedLine {
            product_id: p.product_id.clone(),
            name: p.name.clone(),
            unit_price: p.price,
            quantity: l.quantity,
        });
    }
    Ok(priced)
}

fn request_token(order_id: &str, attempt: u32) -> String {
    hex::encode(&Sha256::digest(format!("{order_id}:{attempt}").as_bytes())[..16])
}

async fn execute(
    ctx: &AppContext,
    user_id: &str,
    order_id: &str,
    request: &OrderRequest,
    hash: &str,
    idempotency_pk: Option<&str>,
) -> Result<Answer, ApiError> {
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(backoff(attempt)).await;
        }
        let now = ctx.clock.now();
        let (lines, cart_lines) = lines_to_order(ctx, user_id, request, now).await?;
        if let Some(bad) = lines.iter().find(|l| !ids::is_product_id(&l.product_id)) {
            return Err(product_not_found(&bad.product_id));
        }
        let ids: Vec<String> = lines.iter().map(|l| l.product_id.clone()).collect();
        let products = ctx.db.get_products(&ids).await?;
        let priced = check_lines(&lines, &products)?;
        let order = build_order(order_id, user_id, &priced, &rfc3339(now)).map_err(|_| {
            ApiError::from(ValidationError::new(
                "items",
                "the order total is too large",
            ))
        })?;
        let body = serde_json::to_string(&order).map_err(|_| ApiError::internal())?;
        let record = OrderRecord::new(order, hash.to_owned());
        let day = sales_day(now, ctx.config.time_zone);
        let sales = priced
            .iter()
            .map(|l| {
                ctx.db.sales_counter_update(
                    day,
                    ctx.config.time_zone,
                    ctx.config.sales_shards,
                    &l.product_id,
                    l.quantity,
                )
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let write = OrderWrite {
            record: &record,
            lines: &priced,
            cart_lines: cart_lines.as_deref(),
            idempotency: idempotency_pk.map(|pk| (pk, order_id)),
            response_body: &body,
            sales,
            client_request_token: request_token(order_id, attempt),
        };
        let reasons = match ctx.db.place_order(&write).await {
            Ok(()) => return Ok(Answer { status: 201, body }),
            Err(PlaceError::Store(e)) if e.is_transient() => {
                tracing::warn!(error = %e, attempt, "order commit: transient failure, retrying");
                continue;
            }
            Err(PlaceError::Store(e)) => return Err(e.into()),
            Err(PlaceError::Cancelled(reasons)) => reasons,
        };
        let failed = |a: &Action| {
            reasons
                .iter()
                .find(|(x, r)| x == a && r.code == "ConditionalCheckFailed")
                .map(|(_, r)| r)
        };
        if reasons.iter().any(|(_, r)| r.code == "TransactionConflict") {
            tracing::info!(attempt, "order commit: transaction conflict, retrying");
            continue;
        }
        // Our own earlier attempt committed (e.g. a timed-out call that did succeed): success.
        if let Some(existing) = failed(&Action::Order).and_then(|r| r.item.clone()) {
            if get_s(&existing, "requestHash").is_ok_and(|h| h == hash) {
                let stored: OrderRecord =
                    serde_dynamo::from_item(existing).map_err(StoreError::from)?;
                let body =
                    serde_json::to_string(&stored.order).map_err(|_| ApiError::internal())?;
                return Ok(Answer { status: 201, body });
            }
            return Err(ApiError::internal());
        }
        if failed(&Action::Idempotency).is_some() {
            // Another request took over this key and finished it: answer what it stored.
            if let Some(pk) = idempotency_pk {
                if let Some(r) = ctx.db.get_idempotency(pk).await? {
                    if let (Some(status), Some(body)) = (r.response_status, r.response_body) {
                        return Ok(Answer { status, body });
                    }
                }
            }
            return Err(in_progress());
        }
        let product_failed = priced
            .iter()
            .enumerate()
            .any(|(i, _)| failed(&Action::Product(i)).is_some());
        if product_failed {
            // Re-read: report the FIRST line lacking stock in request order (the reasons may not
            // name every failing line); a changed price alone means re-price and retry.
            let fresh = ctx.db.get_products(&ids).await?;
            check_lines(&lines, &fresh)?;
            continue;
        }
        if let Some(r) = failed(&Action::Balance) {
            let balance = r.item.as_ref().and_then(|i| get_n(i, "balance").ok());
            let Some(balance) = balance else {
                return Err(ApiError::new(
                    ErrorCode::Unauthorized,
                    "The token names no user.",
                ));
            };
            if balance < record.order.total_amount {
                return Err(ApiError::new(
                    ErrorCode::InsufficientBalance,
                    "The balance does not cover the order.",
                )
                .with("balance", balance)
                .with("required", record.order.total_amount));
            }
            continue;
        }
        // The cart changed between read and commit: read it again.
        tracing::info!(attempt, ?reasons, "order commit cancelled, retrying");
    }
    Err(try_again())
}

fn cursor_codec(ctx: &AppContext) -> CursorCodec {
    CursorCodec::new(&ctx.config.jwt_secret, "orders")
}

pub async fn get(ctx: &AppContext, user_id: &str, order_id: &str) -> Result<Order, ApiError> {
    if !ids::is_order_id(order_id) {
        return Err(order_not_found());
    }
    ctx.db
        .get_order(user_id, order_id)
        .await?
        .map(|r| r.order)
        .ok_or_else(order_not_found)
}

/// The caller's orders, newest first. The cursor is bound to the caller.
pub async fn list(
    ctx: &AppContext,
    user_id: &str,
    limit: i32,
    cursor: Option<&str>,
) -> Result<OrderList, ApiError> {
    let bad_cursor = || {
        ApiError::from(ValidationError::new(
            "cursor",
            "is not a cursor this API issued",
        ))
    };
    let start = match cursor {
        None => None,
        Some(c) => {
            let payload = cursor_codec(ctx).decode(c).map_err(|_| bad_cursor())?;
            let (owner, sk) = payload.split_once('|').ok_or_else(bad_cursor)?;
            if owner != user_id {
                return Err(bad_cursor());
            }
            Some(sk.to_owned())
        }
    };
    let (records, next) = ctx.db.list_orders(user_id, limit, start.as_deref()).await?;
    Ok(OrderList {
        items: records.into_iter().map(|r| r.order).collect(),
        next_cursor: next.map(|sk| cursor_codec(ctx).encode(&format!("{user_id}|{sk}"))),
    })
}
