//! `GET /products/popular`: top 5 by units sold today and the two days before (shop time zone).
//!
//! Reads 3 days x N shards counter partitions (cost grows with distinct products sold, not with
//! orders), sums, ranks, and joins live product data. No cache: an order counts the moment it succeeds.

use serde::Serialize;

use std::sync::Arc;

use crate::domain::ids::ProductId;
use crate::domain::popular::{rank, window, WINDOW_DAYS};
use crate::ports::{ProductStore, SalesStore, StoreError};
use crate::wiring::{Env, Ports};

/// What the top-5 uses.
#[derive(Clone)]
pub struct PopularPorts {
    pub env: Env,
    pub sales: Arc<dyn SalesStore>,
    pub products: Arc<dyn ProductStore>,
}

impl PopularPorts {
    pub fn wire(p: &impl Ports) -> Self {
        Self {
            env: p.env(),
            sales: p.sales(),
            products: p.products(),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PopularProduct {
    pub product_id: ProductId,
    pub name: String,
    pub price: i64,
    pub stock: i64,
    pub rank: u32,
    pub sold_quantity: i64,
}

#[derive(Debug, Serialize)]
pub struct PopularList {
    pub items: Vec<PopularProduct>,
    pub days: u64,
}

pub async fn top(ctx: &PopularPorts) -> Result<PopularList, StoreError> {
    let days = window(ctx.env.clock.now(), ctx.env.config.time_zone);
    let counters = ctx.sales.sales_on(&days).await?;
    let ranked = rank(counters);
    let ids: Vec<ProductId> = ranked.iter().map(|(p, _)| p.clone()).collect();
    let products = ctx.products.get_many(&ids).await?;
    let items = ranked
        .into_iter()
        .filter_map(|(id, sold)| products.get(&id).map(|p| (p.clone(), sold)))
        .zip(1u32..)
        .map(|((p, sold), rank)| PopularProduct {
            product_id: p.product_id,
            name: p.name,
            price: p.price,
            stock: p.stock,
            rank,
            sold_quantity: sold,
        })
        .collect();
    Ok(PopularList {
        items,
        days: WINDOW_DAYS,
    })
}
