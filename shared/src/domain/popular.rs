//! Popular products: per-day sales counters in the shop's time zone, a 3-day window, top 5.

use crate::domain::ids::ProductId;
use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};

pub const WINDOW_DAYS: u64 = 3;
pub const TOP_N: usize = 5;
/// Counters outlive their day by this many days before TTL removes them.
pub const SALES_TTL_DAYS_AFTER: u64 = 4;

/// One day's counters of one shard: a list sorted by units sold (the sales table's `sold` index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SalesList {
    pub day: NaiveDate,
    pub shard: u32,
}

/// One counter: a product's units sold on a day.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SalesKey {
    pub day: NaiveDate,
    pub product_id: ProductId,
}

/// The head of a [`SalesList`]: its first entries, most sold first (equal quantities in any
/// order); `complete` when the list holds nothing below them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SalesHead {
    pub entries: Vec<(ProductId, i64)>,
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
