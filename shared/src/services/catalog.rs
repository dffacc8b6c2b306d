//! Products: browse, read, create, restock.

use serde::Serialize;
use thiserror::Error;

use crate::clock::rfc3339;
use crate::cursor::CursorCodec;
use crate::domain::ids::{self, ProductId};
use crate::domain::input::{JsonObject, ValidationError};
use crate::domain::money::MAX_PRICE;
use crate::domain::product::Product;
use std::sync::Arc;

use crate::domain::stock::{self, MAX_BUCKETS};
use crate::ports::{NotApplied, ProductStore, ReshapeOutcome, StoreError};
use crate::retry::{Attempts, CYCLE_ATTEMPTS};
use crate::wiring::{Env, Ports, WireError};

/// What the catalog uses (reading, creating and restocking one product).
#[derive(Clone)]
pub struct CatalogPorts {
    pub env: Env,
    pub products: Arc<dyn ProductStore>,
}

impl CatalogPorts {
    pub fn wire(p: &impl Ports) -> Self {
        Self {
            env: p.env(),
            products: p.products(),
        }
    }
}

/// What listing the catalog uses: the products and the codec its cursors are signed with.
#[derive(Clone)]
pub struct ProductListPorts {
    pub products: Arc<dyn ProductStore>,
    pub cursors: CursorCodec,
}

impl ProductListPorts {
    pub async fn wire(p: &impl Ports) -> Result<Self, WireError> {
        Ok(Self {
            products: p.products(),
            cursors: p.cursor_key().await?.codec("products"),
        })
    }
}

pub const MAX_STOCK: i64 = 1_000_000;
pub const MAX_RESTOCK: i64 = 1_000_000;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductList {
    pub items: Vec<Product>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub name: String,
    pub price: i64,
    pub stock: i64,
    /// How many buckets the stock is spread over (1 unless a sale is planned).
    pub buckets: u32,
}

impl NewProduct {
    pub fn from_json(body: &JsonObject) -> Result<Self, ValidationError> {
        Ok(Self {
            name: body.string("name", 1, 200)?,
            price: body.int("price", 1, MAX_PRICE)?,
            stock: body.int("stock", 0, MAX_STOCK)?,
            buckets: buckets(body)?.unwrap_or(1),
        })
    }
}

/// A restock: units to add and, optionally, the bucket count to leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restock {
    pub quantity: i64,
    pub buckets: Option<u32>,
}

impl Restock {
    pub fn from_json(body: &JsonObject) -> Result<Self, ValidationError> {
        Ok(Self {
            quantity: body.int("quantity", 1, MAX_RESTOCK)?,
            buckets: buckets(body)?,
        })
    }
}

/// The optional `buckets` field (1 to [`MAX_BUCKETS`]).
fn buckets(body: &JsonObject) -> Result<Option<u32>, ValidationError> {
    if !body.has("buckets") {
        return Ok(None);
    }
    let n = body.int("buckets", 1, i64::from(MAX_BUCKETS))?;
    Ok(Some(n as u32))
}

#[derive(Debug, Error)]
pub enum CatalogError {
    #[error("no product {0}")]
    ProductNotFound(ProductId),
    #[error("the cursor is not one this API issued")]
    BadCursor,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn list(
    ctx: &ProductListPorts,
    limit: usize,
    cursor: Option<&str>,
) -> Result<ProductList, CatalogError> {
    let start = cursor
        .map(|c| ctx.cursors.decode(c))
        .transpose()
        .map_err(|_| CatalogError::BadCursor)?;
    let page = ctx.products.list(limit, start.as_deref()).await?;
    Ok(ProductList {
        items: page.items,
        next_cursor: page.last_key.map(|k| ctx.cursors.encode(&k)),
    })
}

/// Any id that names no product, whatever its shape, is not found (odd shapes never reach the store).
pub async fn get(ctx: &CatalogPorts, product_id: &ProductId) -> Result<Product, CatalogError> {
    if !ids::is_product_id(product_id) {
        return Err(CatalogError::ProductNotFound(product_id.to_owned()));
    }
    ctx.products
        .get(product_id)
        .await?
        .ok_or_else(|| CatalogError::ProductNotFound(product_id.to_owned()))
}

pub async fn create(ctx: &CatalogPorts, input: NewProduct) -> Result<Product, CatalogError> {
    let product = Product {
        product_id: ids::new_product_id(),
        name: input.name,
        price: input.price,
        stock: input.stock,
    };
    ctx.products
        .create(&product, input.buckets, &rfc3339(ctx.env.clock.now()))
        .await?;
    Ok(product)
}

/// Adds `quantity` units over the product's buckets (the emptiest first), leaving `buckets`
/// of them when given (dropped buckets hand their units to the others), in one conditioned
/// transaction; re-read and re-planned when the buckets changed meanwhile. An outcome left
/// unknown is not retried (it would add twice): that error reaches the admin, who checks the
/// stock.
pub async fn restock(
    ctx: &CatalogPorts,
    product_id: &ProductId,
    input: Restock,
) -> Result<Product, CatalogError> {
    if !ids::is_product_id(product_id) {
        return Err(CatalogError::ProductNotFound(product_id.to_owned()));
    }
    let not_found = || CatalogError::ProductNotFound(product_id.to_owned());
    let mut attempts = Attempts::new(CYCLE_ATTEMPTS);
    let mut last = StoreError::NotApplied(NotApplied::Conflict);
    while attempts.next().await {
        let read = ctx
            .products
            .stocked(std::slice::from_ref(product_id))
            .await?;
        let stocked = read.get(product_id).ok_or_else(not_found)?;
        let to = input.buckets.unwrap_or(stocked.count());
        let change = stock::restock(&stocked.buckets, input.quantity, to);
        match ctx.products.reshape(&stocked.product, &change).await {
            Ok(ReshapeOutcome::Applied { total: Some(stock) }) => {
                return Ok(Product {
                    stock,
                    ..stocked.product.clone()
                })
            }
            // Several buckets: the stock now (it may include what others did since).
            Ok(ReshapeOutcome::Applied { total: None }) => {
                return ctx.products.get(product_id).await?.ok_or_else(not_found)
            }
            Ok(ReshapeOutcome::NotFound) => return Err(not_found()),
            Ok(ReshapeOutcome::Changed) => {}
            Err(StoreError::NotApplied(n)) if n.is_transient() => last = StoreError::NotApplied(n),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last.into())
}
