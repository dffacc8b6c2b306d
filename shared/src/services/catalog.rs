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

use crate::ports::{ProductStore, StoreError};
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
}

impl NewProduct {
    pub fn from_json(body: &JsonObject) -> Result<Self, ValidationError> {
        Ok(Self {
            name: body.string("name", 1, 200)?,
            price: body.int("price", 1, MAX_PRICE)?,
            stock: body.int("stock", 0, MAX_STOCK)?,
        })
    }
}

pub fn restock_quantity(body: &JsonObject) -> Result<i64, ValidationError> {
    body.int("quantity", 1, MAX_RESTOCK)
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
        .create(&product, &rfc3339(ctx.env.clock.now()))
        .await?;
    Ok(product)
}

pub async fn restock(
    ctx: &CatalogPorts,
    product_id: &ProductId,
    quantity: i64,
) -> Result<Product, CatalogError> {
    if !ids::is_product_id(product_id) {
        return Err(CatalogError::ProductNotFound(product_id.to_owned()));
    }
    ctx.products
        .restock(product_id, quantity)
        .await?
        .ok_or_else(|| CatalogError::ProductNotFound(product_id.to_owned()))
}
