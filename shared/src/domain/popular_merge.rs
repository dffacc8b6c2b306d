//! The exact top-k of units sold over the window, reading only the top of sorted lists:
//! Fagin's threshold algorithm (TA), with pages instead of single entries.
//!
//! A product's sales on a day are its **main counter**, in the list of its shard
//! ([`shard_of`], the same on every day), plus, for a product whose stock is in buckets, up to
//! `SUB_COUNTERS - 1` **sub-counters** in the day's spread lists ([`SalesCounter::list`]). Every
//! list (day, shard, tier) is sorted by rank ([`rank_of`]): a main counter's units, a
//! sub-counter's units times `SUB_COUNTERS - 1`. The merge reads (sorted access) the top of
//! lists, in one of two ways:
//! - **heads**: the first `limit` entries of each list, one read per list. Anything below a
//!   head ranks at most the head's last rank;
//! - **above a floor**: every entry ranking at least `min`, of many lists in one read.
//!   Anything not read ranks at most `min - 1`.
//!
//! So a product's main counter not read on day `d` holds at most its main list's bound, and its
//! sub-counters not read hold at most the largest bound of the day's spread lists
//! ([`spread_unread_at_most`]). The merge also reads **main counters by key** (random access): a
//! product's main counter on a day whose list did not show it (an absent counter is 0).
//! Sub-counters are never read by key: spread lists hold only the sales of products in buckets,
//! so they are short, usually empty (complete at the first read), and read deeper when needed.
//!
//! It stops when no product, read or not, can rank ahead of the k-th fully known one (quantity
//! descending, then product id ascending); the answer is then exact. How much it reads depends
//! on how far down the lists the k-th total lies, not on how many products sold (flat
//! distributions, where thousands tie at the cut, are the worst case: docs/ERD.md).
//!
//! Reads above a floor need a floor: a caller that knows roughly where the k-th total lies (the
//! last answer, [`TopMerge::next_floor`]) starts with one; a wrong floor costs a second read, never
//! a wrong answer. Without one it starts with heads.
//!
//! A deeper read starts again from the top of the list (twice the limit, or a lower floor)
//! instead of continuing after the last entry: counters only grow, and one read from the top
//! cannot miss a counter that moved up between two reads. Each value used lies between the
//! counter's value when the call began and when it ended, as with a full read.
//!
//! No I/O: [`TopMerge::next`] says what to read, the caller feeds the answers back
//! ([`TopMerge::on_head`], [`TopMerge::on_above`], [`TopMerge::on_counters`]) until it says
//! [`Step::Done`].

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;

use crate::domain::ids::ProductId;
use crate::domain::popular::{
    rank_of, shard_of, spread_unread_at_most, SalesEntry, SalesHead, SalesKey, SalesList, Tier,
};

/// Entries of a first head: one read unit (an index entry, `pk`, `sk` and `soldRank`, is
/// about 70 bytes as DynamoDB counts it; 56 fit in 4 KB). 8 are enough to finish Zipf-like
/// histories (s >= 0.5) in one round; 16 leave a margin, and a shorter answer is faster to
/// parse than 56 entries.
pub const FIRST_HEAD: usize = 16;
/// Bytes of one index entry, rounded up, for the cost of a deeper head.
const ENTRY_BYTES: usize = 72;
const READ_UNIT_BYTES: usize = 4096;
/// Counters by key read at once (one `BatchGetItem`); past that, lists are read deeper.
pub const MAX_KEYS: usize = 100;
const TIERS: [Tier; 2] = [Tier::Main, Tier::Spread];

/// Read units of a head of `entries` entries (a strongly consistent read).
fn head_read_units(entries: usize) -> usize {
    entries
        .saturating_mul(ENTRY_BYTES)
        .div_ceil(READ_UNIT_BYTES)
        .max(1)
}

/// Read the head of `list`: its first `limit` entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadRead {
    pub list: SalesList,
    pub limit: usize,
}

/// Read every entry ranking at least `min` of `lists`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AboveRead {
    pub lists: Vec<SalesList>,
    pub min: i64,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Read these heads (independent: in parallel).
    Heads(Vec<HeadRead>),
    /// Read every entry ranking at least `min` of `lists`, for each group (one read per group
    /// where the store can; groups independent: in parallel).
    Above(Vec<AboveRead>),
    /// Read these main counters by key.
    Counters(Vec<SalesKey>),
    /// The exact top-k, best first: (product, units sold in the window).
    Done(Vec<(ProductId, i64)>),
}

/// How a list was last read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Read {
    #[default]
    Not,
    Head(usize),
    Above(i64),
}

#[derive(Debug, Clone, Copy, Default)]
struct ListState {
    read: Read,
    /// The highest rank any entry not read yet may have (once read).
    bound: i64,
    /// Nothing below what was read.
    complete: bool,
}

impl ListState {
    fn bound(&self) -> i64 {
        match self.read {
            Read::Not => i64::MAX,
            _ if self.complete => 0,
            _ => self.bound,
        }
    }
}

/// What was read of one product on one day.
#[derive(Debug, Clone, Default)]
struct DaySeen {
    /// Its main counter, where read (in its list or by key).
    main: Option<i64>,
    /// Its sub-counters read, by number.
    subs: HashMap<u32, i64>,
}

impl DaySeen {
    fn subs_read(&self) -> i64 {
        self.subs.values().fold(0i64, |s, q| s.saturating_add(*q))
    }
}

#[derive(Debug, Clone)]
struct Seen {
    shard: u32,
    days: Vec<DaySeen>,
}

/// The merge's state: what each list's read showed and what is known of each product read.
#[derive(Debug, Clone)]
pub struct TopMerge {
    days: Vec<NaiveDate>,
    shards: u32,
    k: usize,
    /// The first floor, if any (else heads first).
    start: Option<i64>,
    /// Index `(tier * days + day) * shards + shard`.
    lists: Vec<ListState>,
    seen: HashMap<ProductId, Seen>,
}

impl TopMerge {
    /// A merge over `days` x `shards` x both tiers of lists for the best `k`, starting with every
    /// entry ranking at least `start` when given, else with heads.
    pub fn new(days: Vec<NaiveDate>, shards: u32, k: usize, start: Option<i64>) -> Self {
        let shards = shards.max(1);
        Self {
            lists: vec![ListState::default(); TIERS.len() * days.len() * shards as usize],
            days,
            shards,
            k,
            start: start.map(|m| m.max(1)),
            seen: HashMap::new(),
        }
    }

    fn at(&self, tier: Tier, day: usize, shard: u32) -> usize {
        let t = match tier {
            Tier::Main => 0,
            Tier::Spread => 1,
        };
        (t * self.days.len() + day) * self.shards as usize + shard as usize
    }

    fn list_of(&self, index: usize) -> SalesList {
        let shards = self.shards as usize;
        let per_tier = self.days.len() * shards;
        SalesList {
            day: self.days[(index % per_tier) / shards],
            shard: (index % shards) as u32,
            tier: TIERS[index / per_tier],
        }
    }

    fn index_of(&self, list: &SalesList) -> Option<(usize, usize)> {
        let d = self.days.iter().position(|day| *day == list.day)?;
        (list.shard < self.shards).then(|| (self.at(list.tier, d, list.shard), d))
    }

    fn spread_lists(&self, d: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.shards).map(move |s| self.at(Tier::Spread, d, s))
    }

    /// Every spread list of day `d` read to its end.
    fn spread_complete(&self, d: usize) -> bool {
        self.spread_lists(d).all(|i| self.lists[i].complete)
    }

    /// The most a product's sub-counters not read may hold on day `d`.
    fn spread_unread(&self, d: usize) -> i64 {
        let bound = self
            .spread_lists(d)
            .map(|i| self.lists[i].bound())
            .max()
            .unwrap_or(0);
        spread_unread_at_most(bound)
    }

    /// A product's main counter on day `d`, if known: read, or absent from a complete list.
    fn known_main(&self, p: &Seen, d: usize) -> Option<i64> {
        let day = &p.days[d];
        day.main.or_else(|| {
            self.lists[self.at(Tier::Main, d, p.shard)]
                .complete
                .then_some(0)
        })
    }

    /// Worst and best case of a product's units on day `d`.
    fn day_bounds(&self, p: &Seen, d: usize) -> (i64, i64) {
        let subs = p.days[d].subs_read();
        let (main_lo, main_hi) = match self.known_main(p, d) {
            Some(q) => (q, q),
            None => (0, self.lists[self.at(Tier::Main, d, p.shard)].bound()),
        };
        let spread = if self.spread_complete(d) {
            0
        } else {
            self.spread_unread(d)
        };
        (
            main_lo.saturating_add(subs),
            main_hi.saturating_add(subs).saturating_add(spread),
        )
    }

    /// Worst and best case of a product's window total.
    fn bounds(&self, p: &Seen) -> (i64, i64) {
        (0..self.days.len()).fold((0i64, 0i64), |(lo, hi), d| {
            let (l, h) = self.day_bounds(p, d);
            (lo.saturating_add(l), hi.saturating_add(h))
        })
    }

    /// The most a product not read in any main list of `shard` can have sold.
    fn unread_bound(&self, shard: u32) -> i64 {
        (0..self.days.len()).fold(0i64, |sum, d| {
            sum.saturating_add(self.lists[self.at(Tier::Main, d, shard)].bound())
                .saturating_add(self.spread_unread(d))
        })
    }

    /// The k-th best worst case (quantity, product), if k products were read.
    fn bar(&self) -> Option<(i64, &ProductId)> {
        let mut worst: Vec<(i64, &ProductId)> = self
            .seen
            .iter()
            .map(|(id, p)| (self.bounds(p).0, id))
            .collect();
        worst.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        self.k.checked_sub(1).and_then(|i| worst.get(i)).copied()
    }

    /// A lower floor than `min`: one under which no unread product can reach `bar` (the k-th
    /// worst case: its main counter on each day below the floor, and its sub-counters too while
    /// spread lists are open), or a quarter of `min` while fewer than k products are known.
    fn lower_floor(&self, min: i64, bar: Option<i64>) -> i64 {
        let days = self.days.len().max(1) as i64;
        let spread_open = (0..self.days.len()).any(|d| !self.spread_complete(d));
        let parts = if spread_open { 2 * days + 1 } else { days + 1 };
        let wanted = bar.map_or(min / 4, |q| q / parts);
        wanted.min(min - 1).max(1)
    }

    /// Reads one step deeper of the given lists (complete ones skipped): heads twice as long,
    /// or every entry above a lower floor (`bar` None: every entry).
    fn deeper(&self, lists: impl IntoIterator<Item = usize>, bar: Option<i64>) -> Option<Step> {
        let lists: BTreeSet<usize> = lists
            .into_iter()
            .filter(|&i| !self.lists[i].complete)
            .collect();
        let floors: Vec<i64> = lists
            .iter()
            .filter_map(|&i| match self.lists[i].read {
                Read::Above(min) => Some(min),
                _ => None,
            })
            .collect();
        if let Some(min) = floors.iter().min() {
            return Some(Step::Above(vec![AboveRead {
                lists: lists.iter().map(|&i| self.list_of(i)).collect(),
                min: bar.map_or(1, |_| self.lower_floor(*min, bar)),
            }]));
        }
        let heads: Vec<HeadRead> = lists
            .into_iter()
            .map(|i| HeadRead {
                list: self.list_of(i),
                limit: match self.lists[i].read {
                    Read::Head(limit) => limit.saturating_mul(2),
                    _ => FIRST_HEAD,
                },
            })
            .collect();
        (!heads.is_empty()).then_some(Step::Heads(heads))
    }

    pub fn next(&self) -> Step {
        let unread: Vec<usize> = (0..self.lists.len())
            .filter(|&i| self.lists[i].read == Read::Not)
            .collect();
        if !unread.is_empty() {
            return match self.start {
                // Spread lists whole: short, and read to the end they leave no doubt about the
                // sub-counters of the products above the floor.
                Some(min) => {
                    let (main, spread): (Vec<SalesList>, Vec<SalesList>) = unread
                        .into_iter()
                        .map(|i| self.list_of(i))
                        .partition(|l| l.tier == Tier::Main);
                    Step::Above(
                        [(main, min), (spread, 1)]
                            .into_iter()
                            .filter(|(lists, _)| !lists.is_empty())
                            .map(|(lists, min)| AboveRead { lists, min })
                            .collect(),
                    )
                }
                None => Step::Heads(
                    unread
                        .into_iter()
                        .map(|i| HeadRead {
                            list: self.list_of(i),
                            limit: FIRST_HEAD,
                        })
                        .collect(),
                ),
            };
        }
        // The bar: the k-th best worst case. A product whose best case ranks behind it has k
        // products surely ahead of it.
        let bar = self.bar();
        let bar_quantity = bar.map(|(q, _)| q);
        // `id` None: a product not read yet, whose id may be anything.
        let may_rank = |best: i64, id: Option<&ProductId>| {
            best > 0
                && bar.is_none_or(|(q, bar_id)| {
                    best > q || (best == q && id.is_none_or(|id| id <= bar_id))
                })
        };

        // Products not read yet may still rank: read deeper in their shard's main lists, and
        // in the spread lists of every day.
        let shallow: Vec<usize> = (0..self.shards)
            .filter(|&s| may_rank(self.unread_bound(s), None))
            .flat_map(|s| (0..self.days.len()).map(move |d| (d, s)))
            .flat_map(|(d, s)| {
                std::iter::once(self.at(Tier::Main, d, s)).chain(self.spread_lists(d))
            })
            .collect();
        if let Some(step) = self.deeper(shallow, bar_quantity) {
            return step;
        }

        // Products read that may rank.
        let live: Vec<(&ProductId, &Seen)> = self
            .seen
            .iter()
            .filter(|(id, p)| may_rank(self.bounds(p).1, Some(id)))
            .collect();
        // Their sub-counters are known only once the day's spread lists are read to the end (or
        // down to where a sub-counter would hold nothing): short lists, read to the end at once.
        let spread_open: Vec<usize> = live
            .iter()
            .flat_map(|_| {
                (0..self.days.len())
                    .filter(|&d| !self.spread_complete(d) && self.spread_unread(d) > 0)
            })
            .collect::<BTreeSet<usize>>()
            .into_iter()
            .flat_map(|d| self.spread_lists(d))
            .collect();
        if let Some(step) = self.deeper(spread_open, None) {
            return step;
        }
        // Their main counters still unknown.
        let missing: Vec<(SalesKey, usize)> = live
            .iter()
            .flat_map(|(id, p)| {
                (0..self.days.len())
                    .filter(|&d| self.known_main(p, d).is_none())
                    .map(|d| {
                        let key = SalesKey {
                            day: self.days[d],
                            product_id: (*id).clone(),
                        };
                        (key, self.at(Tier::Main, d, p.shard))
                    })
            })
            .collect();
        if missing.is_empty() {
            let mut top: Vec<(ProductId, i64)> = live
                .into_iter()
                .map(|(id, p)| (id.clone(), self.bounds(p).0))
                .filter(|(_, q)| *q > 0)
                .collect();
            top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            top.truncate(self.k);
            return Step::Done(top);
        }
        // A key costs a read unit; a deeper head of the lists holding them costs its size (and
        // may prove them out of reach instead). The cheaper wins, keys on a tie. Past a floor
        // the size of a deeper read is unknown: keys, up to one batch of them.
        let lists: BTreeSet<usize> = missing.iter().map(|(_, l)| *l).collect();
        let deeper_units: usize = lists
            .iter()
            .map(|&l| match self.lists[l].read {
                Read::Head(limit) => head_read_units(limit.saturating_mul(2)),
                _ => MAX_KEYS,
            })
            .sum();
        if missing.len() <= deeper_units.min(MAX_KEYS) {
            let mut keys: Vec<SalesKey> = missing.into_iter().map(|(k, _)| k).collect();
            keys.sort();
            return Step::Counters(keys);
        }
        self.deeper(lists, bar_quantity).unwrap_or_else(|| {
            // Unreachable (a missing counter's list is never complete); keys are always right.
            Step::Counters(missing.into_iter().map(|(k, _)| k).collect())
        })
    }

    /// The floor to start the next merge over these lists with (None before [`Step::Done`]): half
    /// of the lower of a share of the k-th total under which no unread product could reach it,
    /// and the lowest rank of the answer's counters read. Were nothing to change, a read above it
    /// would decide at once, the answer's counters all in it; the half is room for change.
    pub fn next_floor(&self) -> Option<i64> {
        let Step::Done(top) = self.next() else {
            return None;
        };
        let Some((_, kth)) = top.get(self.k.saturating_sub(1)) else {
            // Fewer than k products sold: every entry.
            return Some(1);
        };
        let days = self.days.len().max(1) as i64;
        let smallest = top
            .iter()
            .filter_map(|(id, _)| self.seen.get(id))
            .flat_map(|p| p.days.iter())
            .flat_map(|d| {
                d.main
                    .into_iter()
                    .chain(d.subs.iter().map(|(sub, q)| rank_of(*sub, *q)))
            })
            .filter(|r| *r > 0)
            .min()
            .unwrap_or(1);
        // The next merge reads spread lists whole: only main counters lie below its floor.
        Some((smallest.min(kth / (days + 1)) / 2).max(1))
    }

    fn note(&mut self, d: usize, entry: SalesEntry) {
        let shards = self.shards;
        let days = self.days.len();
        let p = self
            .seen
            .entry(entry.product_id)
            .or_insert_with_key(|id| Seen {
                shard: shard_of(id, shards),
                days: vec![DaySeen::default(); days],
            });
        // Counters only grow: the larger of two reads is the later one.
        let day = &mut p.days[d];
        let q = entry.quantity;
        match entry.sub {
            0 => day.main = Some(day.main.map_or(q, |m| m.max(q))),
            sub => {
                let e = day.subs.entry(sub).or_insert(q);
                *e = (*e).max(q);
            }
        }
    }

    /// What a head read showed. A head shorter than its limit is the whole list.
    pub fn on_head(&mut self, read: &HeadRead, head: SalesHead) {
        let Some((i, d)) = self.index_of(&read.list) else {
            return;
        };
        self.lists[i] = ListState {
            read: Read::Head(read.limit.max(1)),
            bound: head.entries.iter().map(SalesEntry::rank).min().unwrap_or(0),
            complete: head.complete || head.entries.len() < read.limit,
        };
        for entry in head.entries {
            self.note(d, entry);
        }
    }

    /// What a read above `min` of `lists` showed: their entries ranking at least `min`, by list.
    pub fn on_above(
        &mut self,
        lists: &[SalesList],
        min: i64,
        entries: Vec<(SalesList, Vec<SalesEntry>)>,
    ) {
        for list in lists {
            if let Some((i, _)) = self.index_of(list) {
                self.lists[i] = ListState {
                    read: Read::Above(min),
                    bound: min.saturating_sub(1).max(0),
                    complete: min <= 1,
                };
            }
        }
        for (list, found) in entries {
            let Some((_, d)) = self.index_of(&list) else {
                continue;
            };
            for entry in found {
                self.note(d, entry);
            }
        }
    }

    /// What main counters by key showed: `found` holds those that exist; the other `asked` are 0.
    pub fn on_counters(&mut self, asked: &[SalesKey], found: &[(SalesKey, i64)]) {
        let found: HashMap<&SalesKey, i64> = found.iter().map(|(k, q)| (k, *q)).collect();
        for key in asked {
            if let Some(d) = self.days.iter().position(|day| *day == key.day) {
                let quantity = found.get(key).copied().unwrap_or(0);
                self.note(
                    d,
                    SalesEntry {
                        product_id: key.product_id.clone(),
                        sub: 0,
                        quantity,
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::popular::{window, TOP_N};
    use crate::testing::sales_histories::{
        adversarial, flash_sales, uniform, zipf, Rng, SalesHistory,
    };
    use chrono::{TimeZone, Utc};

    fn days() -> Vec<NaiveDate> {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 24, 3, 0, 0)
            .single()
            .expect("t");
        window(now, chrono_tz::Asia::Seoul)
    }

    #[derive(Debug, Default)]
    struct Cost {
        heads: usize,
        /// Rounds of reads above a floor (each one request per floor, whatever the number of
        /// lists; a first round has two: main lists above the floor, spread lists whole).
        aboves: usize,
        entries: usize,
        keys: usize,
        next_floor: Option<i64>,
    }

    /// Runs the merge over a history held in memory, equal quantities in a seeded order.
    fn merge(h: &SalesHistory, shards: u32, seed: u64) -> (Vec<(ProductId, i64)>, Cost) {
        merge_from(h, shards, seed, None)
    }

    fn merge_from(
        h: &SalesHistory,
        shards: u32,
        seed: u64,
        start: Option<i64>,
    ) -> (Vec<(ProductId, i64)>, Cost) {
        let window = days();
        let lists = h.lists(shards, &mut Rng::new(seed));
        let mut counters: HashMap<SalesKey, i64> = HashMap::new();
        for (k, q) in h.counters.iter().filter(|(k, _)| k.sub == 0) {
            *counters.entry(k.key()).or_default() += q;
        }
        let mut m = TopMerge::new(window.clone(), shards, TOP_N, start);
        let mut cost = Cost::default();
        for _ in 0..200 {
            match m.next() {
                Step::Above(reads) => {
                    cost.aboves += 1;
                    for AboveRead { lists: read, min } in reads {
                        let found: Vec<(SalesList, Vec<SalesEntry>)> = read
                            .iter()
                            .map(|l| {
                                let above: Vec<SalesEntry> = lists
                                    .get(l)
                                    .map_or(&[][..], Vec::as_slice)
                                    .iter()
                                    .filter(|e| e.rank() >= min)
                                    .cloned()
                                    .collect();
                                cost.entries += above.len();
                                (*l, above)
                            })
                            .collect();
                        m.on_above(&read, min, found);
                    }
                }
                Step::Heads(reads) => {
                    for r in reads {
                        let all = lists.get(&r.list).map_or(&[][..], Vec::as_slice);
                        let entries = all[..all.len().min(r.limit)].to_vec();
                        cost.heads += 1;
                        cost.entries += entries.len();
                        m.on_head(
                            &r,
                            SalesHead {
                                entries,
                                complete: all.len() < r.limit,
                            },
                        );
                    }
                }
                Step::Counters(keys) => {
                    cost.keys += keys.len();
                    let found: Vec<(SalesKey, i64)> = keys
                        .iter()
                        .filter_map(|k| counters.get(k).map(|q| (k.clone(), *q)))
                        .collect();
                    m.on_counters(&keys, &found);
                }
                Step::Done(top) => {
                    cost.next_floor = m.next_floor();
                    return (top, cost);
                }
            }
        }
        panic!("{}: the merge did not finish in 200 steps", h.name);
    }

    /// Exact from heads, and from floors good (the next floor heads found), too high, too low.
    fn assert_exact(h: &SalesHistory, shards: u32, seed: u64) -> Cost {
        let want = h.oracle(&days());
        let (got, cost) = merge(h, shards, seed);
        assert_eq!(got, want, "{} with {shards} shards", h.name);
        let good = cost.next_floor.expect("a floor once done");
        for start in [good, good * 7 + 1_000, (good / 3).max(1), 1] {
            let (got, _) = merge_from(h, shards, seed, Some(start));
            assert_eq!(got, want, "{} with {shards} shards from {start}", h.name);
        }
        cost
    }

    #[test]
    fn zipf_histories_match_the_oracle() {
        for n in [1, 2, 5, 6, 30, 300, 3_000] {
            for (seed, s) in [(1, 0.7), (2, 1.0), (3, 1.3)] {
                let h = zipf(seed, n, &days(), s, 500.0);
                for shards in [1, 4, 7] {
                    assert_exact(&h, shards, seed);
                }
            }
        }
    }

    #[test]
    fn uniform_histories_match_the_oracle() {
        for n in [3, 50, 2_000] {
            for (seed, max) in [(4, 1), (5, 3), (6, 1_000)] {
                let h = uniform(seed, n, &days(), max);
                for shards in [1, 3, 4] {
                    assert_exact(&h, shards, seed);
                }
            }
        }
    }

    #[test]
    fn adversarial_histories_match_the_oracle() {
        for n in [20, 400, 3_000] {
            for h in adversarial(7 + n as u64, n, &days()) {
                for shards in [1, 3, 4] {
                    for seed in 0..3 {
                        assert_exact(&h, shards, seed);
                    }
                }
            }
        }
    }

    #[test]
    fn flash_sale_histories_match_the_oracle() {
        for n in [20, 400, 3_000] {
            for h in flash_sales(17 + n as u64, n, &days()) {
                for shards in [1, 3, 4] {
                    for seed in 0..3 {
                        assert_exact(&h, shards, seed);
                    }
                }
            }
        }
    }

    #[test]
    fn a_spread_total_below_every_main_head_is_found() {
        let h = flash_sales(5, 3_000, &days())
            .into_iter()
            .find(|h| h.name.starts_with("hidden spread"))
            .expect("history");
        let (got, _) = merge(&h, 4, 1);
        assert_eq!(got, h.oracle(&days()));
        assert_eq!(got.first().map(|(_, q)| *q), Some(189), "{got:?}");
    }

    #[test]
    fn an_empty_window_is_done_after_one_round() {
        let h = zipf(1, 0, &days(), 1.0, 10.0);
        let (got, cost) = merge(&h, 4, 0);
        assert!(got.is_empty());
        // 3 days x 4 shards x 2 tiers.
        assert_eq!((cost.heads, cost.keys), (24, 0));
    }

    #[test]
    fn zipf_reads_do_not_grow_with_products_sold() {
        // 3 days x 4 shards x 2 tiers: the first round is 24 heads of FIRST_HEAD entries (the
        // spread lists are empty here).
        let mut costs = Vec::new();
        for n in [100, 1_000, 10_000] {
            for seed in 0..3 {
                let h = zipf(seed, n, &days(), 1.0, 2_000.0);
                let cost = assert_exact(&h, 4, seed);
                costs.push((n, seed, cost));
            }
        }
        for (n, seed, cost) in &costs {
            assert!(
                cost.entries <= 12 * FIRST_HEAD && cost.heads <= 24 && cost.keys <= 12,
                "n={n} seed={seed}: {cost:?}"
            );
        }
    }

    #[test]
    fn a_total_hidden_below_every_head_is_found() {
        let h = adversarial(11, 3_000, &days())
            .into_iter()
            .find(|h| h.name.starts_with("hidden"))
            .expect("history");
        let (got, cost) = merge(&h, 4, 1);
        assert_eq!(got, h.oracle(&days()));
        assert!(got.iter().all(|(_, q)| *q == 120), "{got:?}");
        assert!(cost.heads > 24, "it had to read deeper: {cost:?}");
    }

    #[test]
    fn a_one_day_seller_is_completed_by_key() {
        let h = adversarial(5, 3_000, &days())
            .into_iter()
            .find(|h| h.name.starts_with("one-day"))
            .expect("history");
        let (got, cost) = merge(&h, 4, 2);
        assert_eq!(got, h.oracle(&days()));
        assert_eq!(got.first().map(|(_, q)| *q), Some(500), "{got:?}");
        assert!(cost.keys > 0, "its other days were read by key: {cost:?}");
    }

    #[test]
    fn the_last_answers_floor_decides_in_one_read() {
        for n in [100, 1_000, 10_000] {
            for seed in 0..3 {
                let h = zipf(seed, n, &days(), 1.0, 2_000.0);
                let (_, first) = merge(&h, 4, seed);
                let (got, cost) = merge_from(&h, 4, seed, first.next_floor);
                assert_eq!(got, h.oracle(&days()));
                assert_eq!(
                    (cost.heads, cost.aboves, cost.keys),
                    (0, 1, 0),
                    "n={n} seed={seed}: {cost:?}"
                );
                assert!(cost.entries <= 60, "n={n} seed={seed}: {cost:?}");
            }
        }
    }

    #[test]
    fn a_floor_too_high_reads_again_lower() {
        let h = zipf(3, 2_000, &days(), 1.0, 2_000.0);
        let (got, cost) = merge_from(&h, 4, 0, Some(1_000_000));
        assert_eq!(got, h.oracle(&days()));
        assert!(cost.aboves >= 2, "{cost:?}");
    }
}
