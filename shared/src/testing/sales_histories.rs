//! Sales histories (counters per day and product, sub-counters for products in buckets) for the
//! top-5 tests and the popular benchmark:
//! Zipf-distributed, uniform and adversarial, reproducible from a seed, with the brute-force
//! oracle they are checked against.

use std::collections::{BTreeSet, HashMap};

use chrono::{Days, NaiveDate};

use crate::domain::ids::ProductId;
use crate::domain::popular::{rank, shard_of, SalesCounter, SalesEntry, SalesList, SUB_COUNTERS};

/// SplitMix64: a small, seedable generator (the same history on every machine).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n) (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// A product id of the real shape (`prd_` + 32 hex digits).
    pub fn product_id(&mut self) -> ProductId {
        ProductId::from(format!(
            "prd_{:016x}{:016x}",
            self.next_u64(),
            self.next_u64()
        ))
    }
}

/// A history: every counter, possibly on days outside the window (those must not count).
#[derive(Debug, Clone)]
pub struct SalesHistory {
    pub name: String,
    pub counters: Vec<(SalesCounter, i64)>,
}

impl SalesHistory {
    fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            counters: Vec::new(),
        }
    }

    /// Units on a product's main counter.
    fn add(&mut self, day: NaiveDate, product_id: &ProductId, quantity: i64) {
        self.add_on(day, product_id, 0, quantity);
    }

    /// Units on counter `sub` of a product (0: main).
    fn add_on(&mut self, day: NaiveDate, product_id: &ProductId, sub: u32, quantity: i64) {
        if quantity > 0 {
            self.counters.push((
                SalesCounter {
                    day,
                    product_id: product_id.clone(),
                    sub,
                },
                quantity,
            ));
        }
    }

    /// The brute-force answer: every counter of the window summed, ranked, the best 5.
    pub fn oracle(&self, window: &[NaiveDate]) -> Vec<(ProductId, i64)> {
        rank(
            self.counters
                .iter()
                .filter(|(k, _)| window.contains(&k.day))
                .map(|(k, q)| (k.product_id.clone(), *q)),
        )
    }

    /// Distinct products with a counter.
    pub fn products(&self) -> BTreeSet<ProductId> {
        self.counters
            .iter()
            .map(|(k, _)| k.product_id.clone())
            .collect()
    }

    /// The lists of the sales index: (day, shard, tier) -> entries, highest rank first, equal
    /// ranks in an order drawn from `rng` (the index promises no order among them).
    pub fn lists(&self, shards: u32, rng: &mut Rng) -> HashMap<SalesList, Vec<SalesEntry>> {
        // Each entry with a random draw that orders equal ranks.
        type Drawn = Vec<(u64, SalesEntry)>;
        let mut lists: HashMap<SalesList, Drawn> = HashMap::new();
        for (k, q) in &self.counters {
            let entry = SalesEntry {
                product_id: k.product_id.clone(),
                sub: k.sub,
                quantity: *q,
            };
            lists
                .entry(k.list(shards))
                .or_default()
                .push((rng.next_u64(), entry));
        }
        lists
            .into_iter()
            .map(|(list, mut entries)| {
                entries.sort_by(|a, b| b.1.rank().cmp(&a.1.rank()).then(a.0.cmp(&b.0)));
                (list, entries.into_iter().map(|(_, e)| e).collect())
            })
            .collect()
    }
}

fn ids(rng: &mut Rng, n: usize) -> Vec<ProductId> {
    let mut seen = BTreeSet::new();
    while seen.len() < n {
        seen.insert(rng.product_id());
    }
    // Shuffled, so that an id's rank says nothing of its popularity.
    let mut out: Vec<(u64, ProductId)> = seen.into_iter().map(|p| (rng.next_u64(), p)).collect();
    out.sort();
    out.into_iter().map(|(_, p)| p).collect()
}

/// Rounds `x` up or down at random, in proportion (so small expectations still sell sometimes).
fn round_random(rng: &mut Rng, x: f64) -> i64 {
    let floor = x.floor();
    floor as i64 + i64::from(rng.unit() < x - floor)
}

/// `n` products over `window`, the product of rank r selling about `top / r^s` a day (each day
/// drawn between half and one and a half times that); every product sells on at least one day.
pub fn zipf(seed: u64, n: usize, window: &[NaiveDate], s: f64, top: f64) -> SalesHistory {
    let mut rng = Rng::new(seed);
    let mut h = SalesHistory::new(format!("zipf s={s} n={n} seed={seed}"));
    for (r, id) in ids(&mut rng, n).iter().enumerate() {
        let expected = top / ((r + 1) as f64).powf(s);
        let mut sold: Vec<i64> = window
            .iter()
            .map(|_| {
                let spread = 0.5 + rng.unit();
                round_random(&mut rng, expected * spread)
            })
            .collect();
        if let Some(q) = sold.iter().all(|q| *q == 0).then_some(()).and_then(|()| {
            let day = rng.below(window.len() as u64) as usize;
            sold.get_mut(day)
        }) {
            *q = 1;
        }
        for (day, q) in window.iter().zip(sold) {
            h.add(*day, id, q);
        }
    }
    h
}

/// `n` products each selling 0 to `max` a day, uniformly; at least one unit in the window.
pub fn uniform(seed: u64, n: usize, window: &[NaiveDate], max: u64) -> SalesHistory {
    let mut rng = Rng::new(seed);
    let mut h = SalesHistory::new(format!("uniform max={max} n={n} seed={seed}"));
    for id in ids(&mut rng, n) {
        let mut sold: Vec<i64> = window.iter().map(|_| rng.below(max + 1) as i64).collect();
        if let Some(q) = sold.iter().all(|q| *q == 0).then_some(()).and_then(|()| {
            let day = rng.below(window.len() as u64) as usize;
            sold.get_mut(day)
        }) {
            *q = 1;
        }
        for (day, q) in window.iter().zip(sold) {
            h.add(*day, &id, q);
        }
    }
    h
}

/// The day before the oldest day of the window (its counters must not count).
fn day_before(window: &[NaiveDate]) -> Option<NaiveDate> {
    window.iter().min()?.checked_sub_days(Days::new(1))
}

/// Histories built to break a merge, each over `n` products (n >= 20):
/// - every product sells 1 on one day (any, or the same for all): all tie, the top 5 are the
///   5 smallest ids;
/// - ten products tie at the cut, with different day splits (one of them sells on one day only);
/// - single-day spikes fill every head, and the best total hides below them on all three days;
/// - a product sells on the oldest day only, and the best seller of the day before the window
///   (outside it) would top it;
/// - the best sellers all live in one shard (for 4 shards);
/// - quantities from {1, 2, 3}: ties at every level.
pub fn adversarial(seed: u64, n: usize, window: &[NaiveDate]) -> Vec<SalesHistory> {
    let mut rng = Rng::new(seed);
    let days = window.len() as u64;
    let pick_day = |rng: &mut Rng| window[rng.below(days) as usize];
    let mut out = Vec::new();

    let mut h = SalesHistory::new(format!("all tied n={n}"));
    for id in ids(&mut rng, n) {
        let day = pick_day(&mut rng);
        h.add(day, &id, 1);
    }
    out.push(h);

    // The other days are empty: a shard's threshold equals the tie exactly.
    let mut h = SalesHistory::new(format!("all tied on one day n={n}"));
    for id in ids(&mut rng, n) {
        h.add(window[0], &id, 1);
    }
    out.push(h);

    let mut h = SalesHistory::new(format!("tie at the cut n={n}"));
    let all = ids(&mut rng, n);
    for (i, id) in all.iter().enumerate() {
        match i {
            0..=2 => h.add(window[0], id, 100 + i as i64),
            3..=12 => {
                // 30 in total, split differently; product 3 sells on one day only.
                let split: [i64; 3] = match i % 3 {
                    0 => [30, 0, 0],
                    1 => [10, 10, 10],
                    _ => [0, 5, 25],
                };
                for (day, q) in window.iter().zip(split) {
                    h.add(*day, id, q);
                }
            }
            _ => {
                for day in window {
                    h.add(*day, id, rng.below(10) as i64);
                }
            }
        }
    }
    out.push(h);

    let mut h = SalesHistory::new(format!("hidden below spikes n={n}"));
    let all = ids(&mut rng, n);
    for (i, id) in all.iter().enumerate() {
        if i < 5 {
            // 3 x 40 = 120 in total, never in a head: every head is full of 100s.
            for day in window {
                h.add(*day, id, 40);
            }
        } else {
            let day = pick_day(&mut rng);
            h.add(
                day,
                id,
                if i % 2 == 0 {
                    100
                } else {
                    1 + rng.below(39) as i64
                },
            );
        }
    }
    out.push(h);

    let mut h = SalesHistory::new(format!("one-day seller and the day before n={n}"));
    let all = ids(&mut rng, n);
    let oldest = window.iter().min().copied().unwrap_or(window[0]);
    for (i, id) in all.iter().enumerate() {
        match i {
            0 => h.add(oldest, id, 500),
            1 => {
                if let Some(before) = day_before(window) {
                    h.add(before, id, 10_000);
                }
                h.add(window[0], id, 1);
            }
            _ => {
                for day in window {
                    h.add(*day, id, rng.below(60) as i64);
                }
            }
        }
    }
    out.push(h);

    let mut h = SalesHistory::new(format!("best sellers in one shard n={n}"));
    let all = ids(&mut rng, n);
    let (one, other): (Vec<&ProductId>, Vec<&ProductId>) =
        all.iter().partition(|id| shard_of(id, 4) == 0);
    for (i, id) in one.iter().enumerate() {
        for day in window {
            h.add(*day, id, 1_000 - (i as i64).min(999));
        }
    }
    for id in other {
        h.add(pick_day(&mut rng), id, 1 + rng.below(50) as i64);
    }
    out.push(h);

    let mut h = SalesHistory::new(format!("quantities 1 to 3 n={n}"));
    for id in ids(&mut rng, n) {
        for day in window {
            h.add(*day, &id, rng.below(4) as i64);
        }
    }
    out.push(h);

    out.extend(flash_sales(rng.next_u64(), n, window));
    out
}

/// Histories of products in buckets, whose sales spread over sub-counters, among `n` products
/// (n >= 20) selling on their main counters:
/// - a flash sale: one product sells 5,000 over all its sub-counters on one day;
/// - many sales at once: 20 products each spread over a few sub-counters, their totals tied
///   in pairs, on top of Zipf-like main sales;
/// - a hidden spread: each sub-counter of the best seller holds less than most main counters,
///   so its total is found only by summing.
pub fn flash_sales(seed: u64, n: usize, window: &[NaiveDate]) -> Vec<SalesHistory> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let subs = u64::from(SUB_COUNTERS);

    let mut h = SalesHistory::new(format!("flash sale n={n}"));
    let all = ids(&mut rng, n);
    for (i, id) in all.iter().enumerate() {
        if i == 0 {
            for sub in 0..SUB_COUNTERS {
                h.add_on(window[0], id, sub, 5_000 / i64::from(SUB_COUNTERS));
            }
        } else {
            for day in window {
                h.add(*day, id, rng.below(300) as i64);
            }
        }
    }
    out.push(h);

    let mut h = SalesHistory::new(format!("many flash sales n={n}"));
    let all = ids(&mut rng, n);
    for (i, id) in all.iter().enumerate() {
        if i < 20 {
            let day = window[rng.below(window.len() as u64) as usize];
            let total = 400 + (i as i64 / 2) * 10;
            let parts = 1 + rng.below(subs - 1);
            let mut left = total;
            for part in 0..parts {
                let sub = ((part * 7 + i as u64) % subs) as u32;
                let q = if part + 1 == parts { left } else { left / 2 };
                left -= q;
                h.add_on(day, id, sub, q);
            }
        } else {
            for day in window {
                h.add(*day, id, (2_000 / (i as i64)).max(1) + rng.below(3) as i64);
            }
        }
    }
    out.push(h);

    let mut h = SalesHistory::new(format!("hidden spread n={n}"));
    let all = ids(&mut rng, n);
    for (i, id) in all.iter().enumerate() {
        if i == 0 {
            // 3 days x 63 sub-counters x 1 = 189, each ranking 63: below every main spike.
            for day in window {
                for sub in 1..SUB_COUNTERS {
                    h.add_on(*day, id, sub, 1);
                }
            }
        } else {
            h.add(
                window[rng.below(window.len() as u64) as usize],
                id,
                100 + rng.below(60) as i64,
            );
        }
    }
    out.push(h);
    out
}
