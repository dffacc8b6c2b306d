//! Orders: the order commit (stock, balance, sales, the idempotency record and the cart in one
//! all-or-nothing step, which a stalled server can hold), reads, and fences.

use async_trait::async_trait;
use chrono::NaiveDate;

use super::{owner_holds, settled, Deferred, MemoryStore, OrderSlot, State};
use crate::domain::idempotency::{LeaseToken, RecordKey, RecordStatus};
use crate::domain::ids::{OrderId, ProductId, UserId};
use crate::domain::order::Order;
use crate::domain::popular::SalesCounter;
use crate::ports::{
    FenceOutcome, OrderPage, OrderPlacement, OrderStore, PlaceOutcome, StoreResult,
};
use crate::retry::Safety;

/// An order commit held by a stalled server.
struct OwnedPlacement {
    order: Order,
    request_hash: String,
    lines: Vec<crate::domain::order::PricedLine>,
    draws: Vec<crate::ports::LineDraws>,
    cart_lines: Option<Vec<(ProductId, i64)>>,
    owner: Option<(RecordKey, LeaseToken)>,
    stored_outcome: String,
    sales_day: NaiveDate,
    commit_token: String,
}

impl OwnedPlacement {
    fn of(p: &OrderPlacement<'_>) -> Self {
        Self {
            order: p.order.clone(),
            request_hash: p.request_hash.to_owned(),
            lines: p.lines.to_vec(),
            draws: p.draws.to_vec(),
            cart_lines: p.cart_lines.map(<[_]>::to_vec),
            owner: p
                .owner
                .as_ref()
                .map(|o| (o.pk.to_owned(), o.token.to_owned())),
            stored_outcome: p.stored_outcome.to_owned(),
            sales_day: p.sales_day,
            commit_token: p.commit_token.to_owned(),
        }
    }

    fn placement(&self) -> OrderPlacement<'_> {
        OrderPlacement {
            order: &self.order,
            request_hash: &self.request_hash,
            lines: &self.lines,
            draws: &self.draws,
            cart_lines: self.cart_lines.as_deref(),
            owner: self
                .owner
                .as_ref()
                .map(|(pk, token)| crate::ports::Owner { pk, token }),
            stored_outcome: &self.stored_outcome,
            sales_day: self.sales_day,
            commit_token: &self.commit_token,
        }
    }
}

fn place_in(st: &mut State, p: &OrderPlacement<'_>) -> StoreResult<PlaceOutcome> {
    let key = (p.order.user_id.clone(), p.order.order_id.clone());
    // Conditions first (all or nothing), in the DynamoDB adapter's order of precedence.
    match st.orders.get(&key) {
        Some(OrderSlot::Placed {
            order,
            request_hash,
        }) if *request_hash == p.request_hash => {
            return Ok(PlaceOutcome::AlreadyPlaced(order.clone()))
        }
        Some(_) => return Ok(PlaceOutcome::IdTaken),
        None => {}
    }
    if let Some(owner) = &p.owner {
        if !st
            .records
            .get(owner.pk)
            .is_some_and(|r| owner_holds(r, owner.token))
        {
            return Ok(PlaceOutcome::KeyTaken);
        }
    }
    let mut price_changed = false;
    for (i, (line, plan)) in p.lines.iter().zip(p.draws).enumerate() {
        let Some(prod) = st.products.get(&line.product_id) else {
            return Ok(PlaceOutcome::ProductGone { line: i });
        };
        for draw in &plan.draws {
            match prod.buckets.get(draw.bucket as usize) {
                None => return Ok(PlaceOutcome::ProductGone { line: i }),
                Some(held) if *held < plan.taken_from(draw.bucket) => {
                    return Ok(PlaceOutcome::BucketShort {
                        line: i,
                        bucket: draw.bucket,
                        available: *held,
                    })
                }
                Some(_) => {}
            }
        }
        if plan
            .carry
            .is_some_and(|c| prod.buckets.get(c.to as usize).is_none())
        {
            return Ok(PlaceOutcome::ProductGone { line: i });
        }
        if prod.product.price != line.unit_price || prod.product.name != line.name {
            price_changed = true
        }
    }
    if price_changed {
        return Ok(PlaceOutcome::PriceChanged);
    }
    match st.profiles.get(&p.order.user_id) {
        None => return Ok(PlaceOutcome::NoUser),
        Some(u) if u.balance < p.order.total_amount => {
            return Ok(PlaceOutcome::ShortOfMoney { balance: u.balance })
        }
        Some(_) => {}
    }
    if let Some(cart_lines) = p.cart_lines {
        let lines = st.carts.get(&p.order.user_id).map(|(l, _)| l);
        let unchanged = cart_lines.iter().all(|(id, q)| {
            lines
                .and_then(|l| l.get(id))
                .is_some_and(|l| l.quantity == *q)
        });
        if !unchanged {
            return Ok(PlaceOutcome::CartChanged);
        }
    }
    // Apply.
    for (line, plan) in p.lines.iter().zip(p.draws) {
        if let Some(prod) = st.products.get_mut(&line.product_id) {
            for draw in &plan.draws {
                prod.buckets[draw.bucket as usize] -= draw.quantity;
            }
            if let Some(c) = plan.carry {
                prod.buckets[c.from as usize] -= c.units;
                prod.buckets[c.to as usize] += c.units;
            }
            prod.product.stock -= line.quantity;
        }
        let counter = SalesCounter {
            day: p.sales_day,
            product_id: line.product_id.clone(),
            sub: plan.sales_counter(),
        };
        *st.sales.entry(counter).or_insert(0) += line.quantity;
    }
    if let Some(u) = st.profiles.get_mut(&p.order.user_id) {
        u.balance -= p.order.total_amount;
    }
    st.orders.insert(
        key,
        OrderSlot::Placed {
            order: p.order.clone(),
            request_hash: p.request_hash.to_owned(),
        },
    );
    if let Some(owner) = &p.owner {
        if let Some(r) = st.records.get_mut(owner.pk) {
            r.status = RecordStatus::Completed;
            r.outcome = Some(p.stored_outcome.to_owned());
            settled(r);
        }
    }
    if let Some(cart_lines) = p.cart_lines {
        if let Some((lines, _)) = st.carts.get_mut(&p.order.user_id) {
            for (id, _) in cart_lines {
                lines.remove(id);
            }
        }
    }
    Ok(PlaceOutcome::Placed)
}

#[async_trait]
impl OrderStore for MemoryStore {
    async fn place(&self, p: &OrderPlacement<'_>) -> StoreResult<PlaceOutcome> {
        let hold = || -> Deferred {
            let store = self.clone();
            let owned = OwnedPlacement::of(p);
            Box::new(move || {
                let _ = place_in(&mut store.state(), &owned.placement());
            })
        };
        self.call_holdable("place_order", Safety::Resend, |st| place_in(st, p), hold)
            .await
    }

    async fn get(&self, user_id: &UserId, order_id: &OrderId) -> StoreResult<Option<Order>> {
        self.call("get_order", Safety::Idempotent, |st| {
            Ok(
                match st.orders.get(&(user_id.to_owned(), order_id.to_owned())) {
                    Some(OrderSlot::Placed { order, .. }) => Some(order.clone()),
                    _ => None,
                },
            )
        })
        .await
    }

    async fn list(
        &self,
        user_id: &UserId,
        limit: usize,
        start_after: Option<&str>,
    ) -> StoreResult<OrderPage> {
        self.call("list_orders", Safety::Idempotent, |st| {
            let items: Vec<Order> = st
                .orders
                .iter()
                .rev()
                .filter(|((u, id), _)| u == user_id && start_after.is_none_or(|s| id.as_str() < s))
                .filter_map(|(_, slot)| match slot {
                    OrderSlot::Placed { order, .. } => Some(order.clone()),
                    OrderSlot::Fence => None,
                })
                .take(limit)
                .collect();
            let last_key = (items.len() == limit)
                .then(|| items.last().map(|o| o.order_id.to_string()))
                .flatten();
            Ok(OrderPage { items, last_key })
        })
        .await
    }

    async fn fence(
        &self,
        user_id: &UserId,
        order_id: &OrderId,
        _expires_at: i64,
    ) -> StoreResult<FenceOutcome> {
        self.call("fence_order", Safety::Idempotent, |st| {
            let key = (user_id.to_owned(), order_id.to_owned());
            Ok(match st.orders.get(&key) {
                Some(OrderSlot::Placed { order, .. }) => FenceOutcome::Exists(order.clone()),
                Some(OrderSlot::Fence) => FenceOutcome::Fenced,
                None => {
                    st.orders.insert(key, OrderSlot::Fence);
                    FenceOutcome::Fenced
                }
            })
        })
        .await
    }
}
