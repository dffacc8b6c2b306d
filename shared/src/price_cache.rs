//! A per-instance cache of what an order needs to price a line and pick a bucket: the product's
//! name, price and bucket count.
//!
//! Correctness never depends on it. The order transaction conditions every line on
//! `price = :price AND #name = :name` (and `stock >= :q`), so a stale entry costs one cancelled
//! transaction, after which the order re-reads its products, refreshes the entries and retries.
//! Stock is never cached: every answer that needs a number (`available`, `balance`) comes from a
//! fresh read. A stale bucket count is harmless too: an order draws from a bucket that exists
//! (counts only shrink through a restock, and a draw from a dropped bucket fails its condition).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::domain::ids::ProductId;
use crate::domain::product::Stocked;

/// How long an entry serves orders. A price change is seen at the latest by the first order
/// that commits against it (its condition fails), so this only bounds the memory of idle entries.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
/// Past this many entries the expired ones go; if none has, the cache starts over.
const MAX_ENTRIES: usize = 10_000;

/// A product's name, unit price and bucket count as last read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedPrice {
    pub name: String,
    pub unit_price: i64,
    pub buckets: u32,
}

#[derive(Debug)]
pub struct PriceCache {
    ttl: Duration,
    entries: Mutex<HashMap<ProductId, (Instant, CachedPrice)>>,
}

impl Default for PriceCache {
    fn default() -> Self {
        Self::new(DEFAULT_TTL)
    }
}

impl PriceCache {
    /// A zero `ttl` disables the cache (every order reads its products).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The entries of all `ids` in their order, or `None` if any is missing or expired.
    pub fn get_all(&self, ids: &[ProductId]) -> Option<Vec<CachedPrice>> {
        if self.ttl.is_zero() {
            return None;
        }
        let now = Instant::now();
        let entries = self.lock();
        ids.iter()
            .map(|id| match entries.get(id) {
                Some((at, price)) if now.duration_since(*at) < self.ttl => Some(price.clone()),
                _ => None,
            })
            .collect()
    }

    /// Records products as just read.
    pub fn remember<'a>(&self, products: impl IntoIterator<Item = &'a Stocked>) {
        if self.ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut entries = self.lock();
        for s in products {
            let p = &s.product;
            if entries.len() >= MAX_ENTRIES && !entries.contains_key(&p.product_id) {
                entries.retain(|_, (at, _)| now.duration_since(*at) < self.ttl);
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
            }
            let price = CachedPrice {
                name: p.name.clone(),
                unit_price: p.price,
                buckets: s.count(),
            };
            entries.insert(p.product_id.clone(), (now, price));
        }
    }

    /// Drops the entries of `ids` (after a commit said one of them is stale).
    pub fn forget(&self, ids: &[ProductId]) {
        let mut entries = self.lock();
        for id in ids {
            entries.remove(id);
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ProductId, (Instant, CachedPrice)>> {
        // The map stays consistent whatever panicked while holding it: each call is one insert
        // or remove at a time.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::product::Product;

    fn product(id: &str, price: i64) -> Stocked {
        let p = Product {
            product_id: id.into(),
            name: format!("name of {id}"),
            price,
            stock: 5,
        };
        Stocked::new(p, vec![2, 3])
    }

    fn ids(v: &[&str]) -> Vec<ProductId> {
        v.iter().map(|s| ProductId::from(*s)).collect()
    }

    #[test]
    fn answers_only_when_every_id_is_fresh() {
        let cache = PriceCache::new(Duration::from_secs(60));
        assert_eq!(cache.get_all(&ids(&["a"])), None);
        cache.remember([&product("a", 100), &product("b", 200)]);
        let got = cache.get_all(&ids(&["b", "a"])).expect("both cached");
        assert_eq!(got[0].unit_price, 200);
        assert_eq!(got[1].name, "name of a");
        assert_eq!(got[1].buckets, 2);
        assert_eq!(cache.get_all(&ids(&["a", "c"])), None);
        cache.forget(&ids(&["a"]));
        assert_eq!(cache.get_all(&ids(&["a", "b"])), None);
        assert!(cache.get_all(&ids(&["b"])).is_some());
    }

    #[test]
    fn entries_expire_and_a_zero_ttl_disables() {
        let cache = PriceCache::new(Duration::from_millis(1));
        cache.remember([&product("a", 1)]);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(cache.get_all(&ids(&["a"])), None);
        let off = PriceCache::new(Duration::ZERO);
        off.remember([&product("a", 1)]);
        assert_eq!(off.get_all(&ids(&["a"])), None);
    }

    #[test]
    fn stays_bounded() {
        let cache = PriceCache::new(Duration::from_secs(60));
        for i in 0..(MAX_ENTRIES + 10) {
            cache.remember([&product(&format!("p{i}"), 1)]);
        }
        assert!(cache.lock().len() <= MAX_ENTRIES);
        assert!(cache
            .get_all(&ids(&[&format!("p{}", MAX_ENTRIES + 9)]))
            .is_some());
    }
}
