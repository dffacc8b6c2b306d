//! Products: browse, read, create, restock.

use serde::Serialize;

use crate::clock::rfc3339;
use crate::context::AppContext;
use crate::cursor::CursorCodec;
use crate::domain::ids;
use crate::domain::input::{JsonObject, ValidationError};
use crate::domain::money::MAX_PRICE;
use crate::error::{ApiError, ErrorCode};
use crate::store::products::Product;

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

fn cursor_codec(ctx: &AppContext) -> CursorCodec {
    CursorCodec::new(&ctx.config.jwt_secret, "products")
}

pub fn product_not_found(product_id: &str) -> ApiError {
    ApiError::new(ErrorCode::ProductNotFound, "No such product.").with("productId", product_id)
}

pub async fn list(
    ctx: &AppContext,
    limit: i32,
    cursor: Option<&str>,
) -> Result<ProductList, ApiError> {
    let start = cursor
        .map(|c| cursor_codec(ctx).decode(c))
        .transpose()
        .map_err(|_| {
            ApiError::from(ValidationError::new(
                "cursor",
                "is not a cursor this API issued",
            ))
        })?;
    let page = ctx.db.list_products(limit, start.as_deref()).await?;
    Ok(ProductList {
        items: page.items,
        next_cursor: page.last_key.map(|k| cursor_codec(ctx).encode(&k)),
    })
}

/// Any id that names no product, whatever its shape, is 404 (odd shapes never reach DynamoDB).
pub async fn get(ctx: &AppContext, product_id: &str) -> Result<Product, ApiError> {
    if !ids::is_product_id(product_id) {
        return Err(product_not_found(product_id));
    }
    ctx.db
        .get_product(product_id)
        .await?
        .ok_or_else(|| product_not_found(product_id))
}

pub async fn create(ctx: &AppContext, input: NewProduct) -> Result<Product, ApiError> {
    let product = Product {
        product_id: ids::new_product_id(),
        name: input.name,
        price: input.price,
        stock: input.stock,
    };
    ctx.db
        .put_new_product(&product, &rfc3339(ctx.clock.now()))
        .await?;
    Ok(product)
}

pub async fn restock(
    ctx: &AppContext,
    product_id: &str,
    quantity: i64,
) -> Result<Product, ApiError> {
    if !ids::is_product_id(product_id) {
        return Err(product_not_found(product_id));
    }
    ctx.db
        .restock(product_id, quantity)
        .await?
        .ok_or_else(|| product_not_found(product_id))
}
