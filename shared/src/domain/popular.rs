//! Popular products: per-day sales counters in the shop's time zone, a 3-day window, top 5.

use crate::domain::ids::ProductId;
use crate::domain::stock::MAX_BUCKETS;
use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};

pub const WINDOW_DAYS: u64 = 3;
pub const TOP_N: usize = 5;
/// Counters outlive their day by this many days before TTL removes them.
pub const SALES_TTL_DAYS_AFTER: u64 = 4;

/// Counters a product may count on per day: its main counter (sub 0) and `SUB_COUNTERS - 1`
/// sub-counters, one per stock bucket. A product whose stock is in one bucket counts on its main
/// counter only; a line of a product in buckets counts on the counter of the bucket it draws from
/// first, so a flash sale spreads the product's sales over as many items as its stock instead of
/// one hot item.
pub const SUB_COUNTERS: u32 = MAX_BUCKETS;

/// The counter an order line counts on: 0 (main) for a product in one bucket, else
/// `first_bucket` (the bucket its first draw takes from) mod [`SUB_COUNTERS`].
pub fn sub_counter_for(buckets: u32, first_bucket: u32) -> u32 {
    if buckets > 1 {
        first_bucket % SUB_COUNTERS
    } else {
        0
    }
}

/// Which lists a counter is in: main counters (one per product and day, in the product's shard)
/// or the sub-counters of products in buckets (spread over the day's shards).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    Main,
    Spread,
}

/// One day's counters of one shard and tier: a list sorted by rank (the sales table's `sold`
/// index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SalesList {
    pub day: NaiveDate,
    pub shard: u32,
    pub tier: Tier,
}

impl SalesList {
    /// Its partition key: `2026-11-24#03` (main), `2026-11-24#03#s` (spread).
    pub fn partition_key(&self) -> String {
        match self.tier {
            Tier::Main => day_key(self.day, self.shard),
            Tier::Spread => format!("{}#s", day_key(self.day, self.shard)),
        }
    }

    /// Every list of `days` x `shards` x both tiers.
    pub fn all(days: &[NaiveDate], shards: u32) -> Vec<SalesList> {
        let mut lists = Vec::new();
        for tier in [Tier::Main, Tier::Spread] {
            for day in days {
                for shard in 0..shards.max(1) {
                    lists.push(SalesList {
                        day: *day,
                        shard,
                        tier,
                    });
                }
            }
        }
        lists
    }
}

/// A product's main counter on a day (what a read by key returns).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SalesKey {
    pub day: NaiveDate,
    pub product_id: ProductId,
}

/// One counter: counter `sub` (0: main) of a product's units sold on a day.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SalesCounter {
    pub day: NaiveDate,
    pub product_id: ProductId,
    pub sub: u32,
}

impl SalesCounter {
    /// A product's main counter.
    pub fn main(day: NaiveDate, product_id: ProductId) -> Self {
        Self {
            day,
            product_id,
            sub: 0,
        }
    }

    pub fn key(&self) -> SalesKey {
        SalesKey {
            day: self.day,
            product_id: self.product_id.clone(),
        }
    }

    /// The list it is in: main in the product's shard; sub-counter `j` in the spread list `j`
    /// shards past it.
    pub fn list(&self, shards: u32) -> SalesList {
        let shards = shards.max(1);
        let own = shard_of(&self.product_id, shards);
        match self.sub {
            0 => SalesList {
                day: self.day,
                shard: own,
                tier: Tier::Main,
            },
            j => SalesList {
                day: self.day,
                shard: (own + j % shards) % shards,
                tier: Tier::Spread,
            },
        }
    }

    /// Its sort key in its list's partition: the product id, then `#sub` for a sub-counter.
    pub fn sort_key(&self) -> String {
        match self.sub {
            0 => self.product_id.to_string(),
            j => format!("{}#{j}", self.product_id),
        }
    }

    /// The counter of a sort key read in a partition of `day` (the inverse of [`Self::sort_key`]).
    pub fn from_sort_key(day: NaiveDate, sk: &str) -> Self {
        let (product_id, sub) = match sk.rsplit_once('#') {
            Some((product, sub)) => match sub.parse::<u32>() {
                Ok(sub) if sub > 0 => (ProductId::from(product), sub),
                _ => (ProductId::from(sk), 0),
            },
            None => (ProductId::from(sk), 0),
        };
        Self {
            day,
            product_id,
            sub,
        }
    }
}

/// What a counter sorts by in its list: its units for a main counter, `SUB_COUNTERS - 1` times
/// its units for a sub-counter. A product has at most `SUB_COUNTERS - 1` sub-counters a day, so
/// where every sub-counter not read ranks at most `b`, those it has sum to at most `b`
/// ([`spread_unread_at_most`]), however they fall across the spread lists.
pub fn rank_of(sub: u32, quantity: i64) -> i64 {
    if sub == 0 {
        quantity
    } else {
        quantity.saturating_mul(i64::from(SUB_COUNTERS - 1))
    }
}

/// The units of a counter of rank `rank` (the inverse of [`rank_of`]).
pub fn quantity_of(sub: u32, rank: i64) -> i64 {
    if sub == 0 {
        rank
    } else {
        rank / i64::from(SUB_COUNTERS - 1)
    }
}

/// The most one product's sub-counters not read may hold on a day, when every one of them ranks
/// at most `bound`.
pub fn spread_unread_at_most(bound: i64) -> i64 {
    let subs = i64::from(SUB_COUNTERS - 1);
    bound / subs * subs
}

/// One entry of a [`SalesList`]: a counter and its units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesEntry {
    pub product_id: ProductId,
    pub sub: u32,
    pub quantity: i64,
}

impl SalesEntry {
    pub fn rank(&self) -> i64 {
        rank_of(self.sub, self.quantity)
    }
}

/// The head of a [`SalesList`]: its first entries, highest rank first (equal ranks in any
/// order); `complete` when the list holds nothing below them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SalesHead {
    pub entries: Vec<SalesEntry>,
    pub complete: bool,
}

/// The calendar day of `at` in the shop's time zone.
pub fn sales_day(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// Today and the two days before, newest first.
pub fn window(now: DateTime<Utc>, tz: Tz) -> Vec<NaiveDate> {
    let today = sales_day(now, tz);
    (0..WINDOW_DAYS)
        .filter_map(|d| today.checked_sub_days(Days::new(d)))
        .collect()
}

/// Shard of a product within a day: a stable hash, so one product has one counter per day.
pub fn shard_of(product_id: &str, shards: u32) -> u32 {
    let digest = Sha256::digest(product_id.as_bytes());
    let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    n % shards.max(1)
}

/// Partition key of a day's shard: `2026-11-24#03`.
pub fn day_key(day: NaiveDate, shard: u32) -> String {
    format!("{}#{shard:02}", day.format("%Y-%m-%d"))
}

/// Epoch seconds at which a day's counters may expire.
pub fn counter_expiry(day: NaiveDate, tz: Tz) -> i64 {
    let end = day
        .checked_add_days(Days::new(1 + SALES_TTL_DAYS_AFTER))
        .unwrap_or(day);
    end.and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(tz).earliest())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// Sums the counters read, sorts by quantity desc then product id asc, keeps the top [`TOP_N`].
pub fn rank(counters: impl IntoIterator<Item = (ProductId, i64)>) -> Vec<(ProductId, i64)> {
    let mut sums: HashMap<ProductId, i64> = HashMap::new();
    for (product, qty) in counters {
        let e = sums.entry(product).or_insert(0);
        *e = e.saturating_add(qty);
    }
    let mut all: Vec<(ProductId, i64)> = sums.into_iter().filter(|(_, q)| *q > 0).collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    all.truncate(TOP_N);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SEOUL: Tz = chrono_tz::Asia::Seoul;

    #[test]
    fn day_boundaries_follow_seoul_not_utc() {
        // 2026-11-23T15:00Z is 2026-11-24 00:00 in Seoul.
        let before = Utc
            .with_ymd_and_hms(2026, 11, 23, 14, 59, 59)
            .single()
            .expect("t");
        let after = Utc
            .with_ymd_and_hms(2026, 11, 23, 15, 0, 0)
            .single()
            .expect("t");
        assert_eq!(sales_day(before, SEOUL).to_string(), "2026-11-23");
        assert_eq!(sales_day(after, SEOUL).to_string(), "2026-11-24");
    }

    #[test]
    fn window_is_today_and_two_days_before() {
        let now = Utc
            .with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
            .single()
            .expect("t"); // 09:00 Seoul
        let w: Vec<String> = window(now, SEOUL).iter().map(|d| d.to_string()).collect();
        assert_eq!(w, ["2026-03-01", "2026-02-28", "2026-02-27"]);
    }

    #[test]
    fn ranking_sorts_by_quantity_then_id_and_keeps_five() {
        let r = rank([
            (ProductId::from("b"), 5),
            (ProductId::from("a"), 5),
            (ProductId::from("c"), 9),
            (ProductId::from("c"), 1),
            (ProductId::from("d"), 1),
            (ProductId::from("e"), 2),
            (ProductId::from("f"), 3),
            (ProductId::from("z"), 0),
        ]);
        let ids: Vec<&str> = r.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(ids, ["c", "a", "b", "f", "e"]);
        assert_eq!(r[0].1, 10);
    }

    #[test]
    fn shards_are_stable_and_in_range() {
        for p in ["a", "prd_1", "x"] {
            assert_eq!(shard_of(p, 4), shard_of(p, 4));
            assert!(shard_of(p, 4) < 4);
        }
        assert_eq!(
            day_key(NaiveDate::from_ymd_opt(2026, 1, 2).expect("d"), 3),
            "2026-01-02#03"
        );
    }

    #[test]
    fn sub_counters_spread_and_rank_so_that_unread_ones_stay_below_the_bound() {
        assert_eq!(sub_counter_for(1, 7), 0);
        assert_eq!(sub_counter_for(4, 3), 3);
        assert_eq!(sub_counter_for(64, 17), 17);
        assert_eq!(sub_counter_for(64, 63), 63);
        assert_eq!(rank_of(0, 5), 5);
        assert_eq!(rank_of(3, 5), 315);
        assert_eq!(quantity_of(3, 315), 5);
        // Below rank 127 each of 63 sub-counters holds at most 2 units.
        assert_eq!(spread_unread_at_most(127), 126);
        assert_eq!(spread_unread_at_most(62), 0);
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).expect("d");
        let p = ProductId::from("prd_ab");
        let main = SalesCounter::main(day, p.clone());
        assert_eq!(main.list(4).tier, Tier::Main);
        assert_eq!(main.list(4).shard, shard_of(&p, 4));
        let own = shard_of(&p, 4);
        for sub in 1..SUB_COUNTERS {
            let c = SalesCounter {
                sub,
                ..main.clone()
            };
            assert_eq!(SalesCounter::from_sort_key(day, &c.sort_key()), c);
            assert_eq!(c.list(4).tier, Tier::Spread);
            assert_eq!(c.list(4).shard, (own + sub) % 4);
        }
        assert_eq!(
            SalesCounter::from_sort_key(day, "a#b").product_id.as_str(),
            "a#b"
        );
        assert_eq!(main.list(4).partition_key(), format!("2026-11-24#{own:02}"));
        assert_eq!(
            SalesCounter { sub: 1, ..main }.list(4).partition_key(),
            format!("2026-11-24#{:02}#s", (own + 1) % 4)
        );
    }

    #[test]
    fn counters_expire_days_after_their_day() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 24).expect("d");
        let exp = counter_expiry(d, SEOUL);
        // 2026-11-29 00:00 Seoul = 2026-11-28T15:00Z
        assert_eq!(
            exp,
            Utc.with_ymd_and_hms(2026, 11, 28, 15, 0, 0)
                .single()
                .expect("t")
                .timestamp()
        );
    }
}
