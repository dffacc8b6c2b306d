//! Stock spread over buckets: how an order line draws, how a restock spreads, how units move.
//!
//! A product's stock may live in N buckets (1 to [`MAX_BUCKETS`]); the product's stock is their
//! total. Bucket 0 is the product's own item; docs/ERD.md has the layout. Nothing here does I/O:
//! the planners take the counts as read and say what one conditioned transaction should do.

use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;

/// The most buckets a product may have: a resize or a rebalance of every bucket fits one
/// transaction (100 actions), and a read of every bucket fits one `BatchGetItem` (100 keys).
pub const MAX_BUCKETS: u32 = 64;
/// DynamoDB's limit of actions in one `TransactWriteItems`.
pub const MAX_TRANSACTION_ACTIONS: usize = 100;

/// Units one order line takes from one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    pub bucket: u32,
    pub quantity: i64,
}

/// Units an order line carries, in its own transaction, from the bucket it draws from to an
/// emptier one: the orders that win a full bucket even the buckets out as they go (a separate
/// rebalance would have to win the same busy bucket against them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Carry {
    pub from: u32,
    pub to: u32,
    pub units: i64,
}

/// What `draw` (planned from `counts`) may carry: half the difference between what its bucket
/// keeps and the emptiest other bucket, when that one holds less than half the average.
pub fn carry_for(counts: &[i64], draw: &Draw) -> Option<Carry> {
    let n = counts.len() as i64;
    let total: i64 = counts.iter().sum();
    let keeps = counts.get(draw.bucket as usize)? - draw.quantity;
    let (to, has) = counts
        .iter()
        .enumerate()
        .filter(|(b, _)| *b as u32 != draw.bucket)
        .min_by_key(|(b, c)| (**c, *b))?;
    let units = (keeps - has) / 2;
    (n >= 2 && 2 * has * n < total && units >= 1).then_some(Carry {
        from: draw.bucket,
        to: to as u32,
        units,
    })
}

/// How an order line takes its units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinePlan {
    /// From these buckets (each conditioned on holding its draw).
    Draws(Vec<Draw>),
    /// The counts as read hold fewer than the line's quantity.
    Short { total: i64 },
    /// The units are spread over more buckets than the transaction has room for: gather them
    /// first ([`consolidate`]).
    TooSpread,
}

/// A line whose bucket counts are unknown (priced from the cache): all of it from one bucket
/// chosen at random. The transaction's condition says whether that bucket holds enough.
pub fn blind_draw(buckets: u32, quantity: i64, rng: &mut impl Rng) -> Draw {
    Draw {
        bucket: rng.random_range(0..buckets.max(1)),
        quantity,
    }
}

/// A line planned from counts as read: from one bucket chosen at random among those that hold
/// the whole quantity; else from the fullest buckets, at most `max_draws` of them.
pub fn plan_line(counts: &[i64], quantity: i64, max_draws: usize, rng: &mut impl Rng) -> LinePlan {
    let total: i64 = counts.iter().sum();
    if total < quantity {
        return LinePlan::Short { total };
    }
    let able: Vec<u32> = (0..counts.len() as u32)
        .filter(|b| counts[*b as usize] >= quantity)
        .collect();
    if let Some(bucket) = able.choose(rng) {
        return LinePlan::Draws(vec![Draw {
            bucket: *bucket,
            quantity,
        }]);
    }
    let mut order: Vec<u32> = (0..counts.len() as u32).collect();
    order.shuffle(rng);
    order.sort_by_key(|b| std::cmp::Reverse(counts[*b as usize]));
    let mut left = quantity;
    let mut draws = Vec::new();
    for bucket in order {
        if left == 0 {
            break;
        }
        let take = counts[bucket as usize].min(left);
        if take > 0 {
            draws.push(Draw {
                bucket,
                quantity: take,
            });
            left -= take;
        }
    }
    if draws.len() > max_draws {
        return LinePlan::TooSpread;
    }
    LinePlan::Draws(draws)
}

/// One bucket's part in a [`Reshape`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketChange {
    /// Adds `delta` units (a negative delta only while the bucket holds at least that many).
    Add { bucket: u32, delta: i64 },
    /// A new bucket (numbered from the old count up) holding `stock` units.
    Create { bucket: u32, stock: i64 },
    /// Removes a bucket (numbered from the new count up) that holds exactly `stock` units, which
    /// the same reshape puts elsewhere.
    Drop { bucket: u32, stock: i64 },
}

impl BucketChange {
    pub fn bucket(&self) -> u32 {
        match self {
            BucketChange::Add { bucket, .. }
            | BucketChange::Create { bucket, .. }
            | BucketChange::Drop { bucket, .. } => *bucket,
        }
    }

    /// The change of the product's total.
    pub fn units(&self) -> i64 {
        match self {
            BucketChange::Add { delta, .. } => *delta,
            BucketChange::Create { stock, .. } => *stock,
            BucketChange::Drop { stock, .. } => -*stock,
        }
    }
}

/// One conditioned change of a product's buckets, applied in one transaction only while the
/// product still has `from` buckets: a restock, a resize, a rebalance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reshape {
    pub from: u32,
    pub to: u32,
    /// At most one change per bucket.
    pub changes: Vec<BucketChange>,
}

impl Reshape {
    /// The change of the product's total (units added by a restock; 0 for a move).
    pub fn units(&self) -> i64 {
        self.changes.iter().map(BucketChange::units).sum()
    }
}

/// `stock` split over `buckets` as evenly as possible (the first buckets get the remainder).
pub fn split(stock: i64, buckets: u32) -> Vec<i64> {
    let n = i64::from(buckets.max(1));
    (0..n)
        .map(|i| stock / n + i64::from(i < stock % n))
        .collect()
}

/// How many units each bucket gets when `quantity` is added to `counts`: the emptiest first
/// (water-filling), so a restock also evens the buckets out without taking from any.
fn fill(counts: &[i64], quantity: i64) -> Vec<i64> {
    let n = counts.len();
    let mut added = vec![0; n];
    if n == 0 || quantity <= 0 {
        return added;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|i| (counts[*i], *i));
    let mut left = quantity;
    // Raise the `k` emptiest to the level of the next one while the units last.
    let mut level = counts[order[0]];
    let mut k = 1;
    loop {
        while k < n && counts[order[k]] <= level {
            k += 1;
        }
        let width = k as i64;
        let next = if k < n { counts[order[k]] } else { i64::MAX };
        let need = (next - level).saturating_mul(width);
        if need <= left {
            left -= need;
            level = next;
            continue;
        }
        let (up, rest) = (left / width, left % width);
        for (j, i) in order.iter().take(k).enumerate() {
            added[*i] = level + up + i64::from((j as i64) < rest) - counts[*i];
        }
        return added;
    }
}

/// A restock of `quantity` units that leaves `to` buckets (`counts` as read): new buckets are
/// created, dropped ones move their units to the others, and the units go to the emptiest.
pub fn restock(counts: &[i64], quantity: i64, to: u32) -> Reshape {
    let from = counts.len() as u32;
    let kept = to.min(from) as usize;
    let dropped: i64 = counts[kept..].iter().sum();
    let mut base: Vec<i64> = counts[..kept].to_vec();
    base.resize(to as usize, 0);
    let added = fill(&base, quantity + dropped);
    let mut changes = Vec::new();
    for (bucket, delta) in added.iter().enumerate() {
        let bucket = bucket as u32;
        if bucket >= from {
            changes.push(BucketChange::Create {
                bucket,
                stock: *delta,
            });
        } else if *delta != 0 {
            changes.push(BucketChange::Add {
                bucket,
                delta: *delta,
            });
        }
    }
    for (bucket, stock) in counts.iter().enumerate().skip(kept) {
        changes.push(BucketChange::Drop {
            bucket: bucket as u32,
            stock: *stock,
        });
    }
    Reshape { from, to, changes }
}

/// Moves from the fullest to the emptiest buckets towards an even spread, touching at most
/// `max_touched` buckets (every touched bucket is one more item a concurrent order may
/// conflict with). `None` when the buckets differ by at most one unit.
pub fn rebalance(counts: &[i64], max_touched: usize) -> Option<Reshape> {
    let n = counts.len();
    let total: i64 = counts.iter().sum();
    let (Some(max), Some(min)) = (counts.iter().max(), counts.iter().min()) else {
        return None;
    };
    if max - min <= 1 || max_touched < 2 {
        return None;
    }
    // Even targets; the remainder stays with the fullest (fewest units move).
    let mut by_count: Vec<usize> = (0..n).collect();
    by_count.sort_by_key(|i| (std::cmp::Reverse(counts[*i]), *i));
    let (base, extra) = (total / n as i64, (total % n as i64) as usize);
    let mut target = vec![base; n];
    for i in by_count.iter().take(extra) {
        target[*i] += 1;
    }
    let mut surplus: Vec<(usize, i64)> = (0..n)
        .map(|i| (i, counts[i] - target[i]))
        .filter(|(_, s)| *s > 0)
        .collect();
    let mut deficit: Vec<(usize, i64)> = (0..n)
        .map(|i| (i, target[i] - counts[i]))
        .filter(|(_, d)| *d > 0)
        .collect();
    surplus.sort_by_key(|(i, s)| (std::cmp::Reverse(*s), *i));
    deficit.sort_by_key(|(i, d)| (std::cmp::Reverse(*d), *i));
    let mut delta = vec![0i64; n];
    let mut touched = 0;
    let (mut si, mut di) = (0, 0);
    while si < surplus.len() && di < deficit.len() {
        let (donor, receiver) = (surplus[si].0, deficit[di].0);
        let new_items = usize::from(delta[donor] == 0) + usize::from(delta[receiver] == 0);
        if touched + new_items > max_touched {
            break;
        }
        let units = surplus[si].1.min(deficit[di].1);
        delta[donor] -= units;
        delta[receiver] += units;
        touched += new_items;
        surplus[si].1 -= units;
        deficit[di].1 -= units;
        if surplus[si].1 == 0 {
            si += 1;
        }
        if deficit[di].1 == 0 {
            di += 1;
        }
    }
    let changes: Vec<BucketChange> = (0..n)
        .filter(|i| delta[*i] != 0)
        .map(|i| BucketChange::Add {
            bucket: i as u32,
            delta: delta[i],
        })
        .collect();
    (!changes.is_empty()).then_some(Reshape {
        from: n as u32,
        to: n as u32,
        changes,
    })
}

/// Gathers `quantity` units into the fullest bucket, taking from the next fullest (for a line
/// whose units are spread over more buckets than its transaction has room for). `None` when
/// the buckets hold fewer than `quantity` or one bucket already holds it.
pub fn consolidate(counts: &[i64], quantity: i64) -> Option<Reshape> {
    let total: i64 = counts.iter().sum();
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by_key(|i| (std::cmp::Reverse(counts[*i]), *i));
    let into = *order.first()?;
    if total < quantity || counts[into] >= quantity {
        return None;
    }
    let mut need = quantity - counts[into];
    let mut changes = Vec::new();
    for donor in order.iter().skip(1) {
        if need == 0 {
            break;
        }
        let take = counts[*donor].min(need);
        if take > 0 {
            changes.push(BucketChange::Add {
                bucket: *donor as u32,
                delta: -take,
            });
            need -= take;
        }
    }
    let gathered: i64 = -changes.iter().map(BucketChange::units).sum::<i64>();
    changes.push(BucketChange::Add {
        bucket: into as u32,
        delta: gathered,
    });
    Some(Reshape {
        from: counts.len() as u32,
        to: counts.len() as u32,
        changes,
    })
}

/// More buckets for a product under contention: `to` buckets, the new ones filled from at most
/// `max_donors` of the fullest old ones towards an even spread (the rest evens out later).
pub fn raise(counts: &[i64], to: u32, max_donors: usize) -> Option<Reshape> {
    let from = counts.len() as u32;
    if to <= from {
        return None;
    }
    let total: i64 = counts.iter().sum();
    let share = total / i64::from(to);
    let mut donors: Vec<usize> = (0..counts.len()).collect();
    donors.sort_by_key(|i| (std::cmp::Reverse(counts[*i]), *i));
    donors.truncate(max_donors);
    // What each donor can give while keeping its own share.
    let mut give: Vec<(usize, i64)> = donors
        .into_iter()
        .map(|d| (d, (counts[d] - share).max(0)))
        .collect();
    let mut changes = Vec::new();
    let mut taken = vec![0i64; counts.len()];
    for bucket in from..to {
        let mut got = 0;
        for (donor, left) in give.iter_mut() {
            if got == share {
                break;
            }
            let units = (*left).min(share - got);
            *left -= units;
            taken[*donor] += units;
            got += units;
        }
        changes.push(BucketChange::Create { bucket, stock: got });
    }
    for (donor, units) in taken.iter().enumerate() {
        if *units > 0 {
            changes.push(BucketChange::Add {
                bucket: donor as u32,
                delta: -units,
            });
        }
    }
    Some(Reshape { from, to, changes })
}

/// What `reshape` leaves (the counts as read, with the change applied): for tests and the
/// in-memory store.
pub fn apply(counts: &[i64], reshape: &Reshape) -> Vec<i64> {
    let mut out = counts.to_vec();
    out.resize(reshape.to.max(reshape.from) as usize, 0);
    for change in &reshape.changes {
        let b = change.bucket() as usize;
        match change {
            BucketChange::Add { delta, .. } => out[b] += delta,
            BucketChange::Create { stock, .. } => out[b] = *stock,
            BucketChange::Drop { .. } => out[b] = 0,
        }
    }
    out.truncate(reshape.to as usize);
    out
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    #[test]
    fn split_spreads_the_remainder_over_the_first_buckets() {
        assert_eq!(split(10, 4), [3, 3, 2, 2]);
        assert_eq!(split(0, 3), [0, 0, 0]);
        assert_eq!(split(5, 1), [5]);
    }

    #[test]
    fn a_line_draws_from_one_random_bucket_that_holds_it() {
        let mut r = rng();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            match plan_line(&[0, 5, 1, 5], 2, 10, &mut r) {
                LinePlan::Draws(d) => {
                    assert_eq!(d.len(), 1);
                    assert_eq!(d[0].quantity, 2);
                    seen.insert(d[0].bucket);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            [1, 3],
            "only buckets that hold the line, both of them"
        );
    }

    #[test]
    fn a_line_no_bucket_holds_draws_from_several_fullest_first() {
        let LinePlan::Draws(d) = plan_line(&[2, 3, 0, 1], 5, 10, &mut rng()) else {
            panic!("planned");
        };
        assert_eq!(
            d,
            [
                Draw {
                    bucket: 1,
                    quantity: 3
                },
                Draw {
                    bucket: 0,
                    quantity: 2
                }
            ]
        );
        assert_eq!(
            plan_line(&[2, 3, 0, 1], 7, 10, &mut rng()),
            LinePlan::Short { total: 6 }
        );
        assert_eq!(
            plan_line(&[1, 1, 1, 1], 4, 3, &mut rng()),
            LinePlan::TooSpread
        );
    }

    #[test]
    fn a_draw_from_a_full_bucket_carries_half_its_surplus_to_the_emptiest() {
        let draw = Draw {
            bucket: 0,
            quantity: 1,
        };
        assert_eq!(
            carry_for(&[41, 0, 20, 20], &draw),
            Some(Carry {
                from: 0,
                to: 1,
                units: 20
            })
        );
        assert_eq!(carry_for(&[10, 9, 10], &draw), None, "even enough");
        assert_eq!(carry_for(&[1, 0], &draw), None, "nothing to carry");
        assert_eq!(carry_for(&[5], &draw), None);
    }

    #[test]
    fn a_blind_draw_stays_within_the_buckets() {
        let mut r = rng();
        for _ in 0..100 {
            assert!(blind_draw(4, 1, &mut r).bucket < 4);
        }
        assert_eq!(blind_draw(1, 3, &mut r).bucket, 0);
    }

    #[test]
    fn a_restock_fills_the_emptiest_first_and_counts_every_unit() {
        let r = restock(&[5, 0, 2], 4, 3);
        assert_eq!(r.units(), 4);
        assert_eq!(apply(&[5, 0, 2], &r), [5, 3, 3]);
        let r = restock(&[1, 1], 1_000_001, 2);
        assert_eq!(apply(&[1, 1], &r), [500_002, 500_001]);
    }

    #[test]
    fn a_restock_may_raise_or_lower_the_bucket_count() {
        let up = restock(&[4], 4, 4);
        assert_eq!((up.from, up.to, up.units()), (1, 4, 4));
        assert_eq!(apply(&[4], &up), [4, 2, 1, 1]);
        assert!(up
            .changes
            .iter()
            .any(|c| matches!(c, BucketChange::Create { bucket: 3, .. })));
        let down = restock(&[1, 2, 3, 4], 1, 2);
        assert_eq!((down.from, down.to, down.units()), (4, 2, 1));
        let after = apply(&[1, 2, 3, 4], &down);
        assert_eq!(after.iter().sum::<i64>(), 11);
        assert_eq!(after, [6, 5]);
        assert!(down.changes.contains(&BucketChange::Drop {
            bucket: 3,
            stock: 4
        }));
    }

    #[test]
    fn a_rebalance_moves_units_without_creating_any() {
        let r = rebalance(&[10, 0, 0, 2], 8).expect("uneven");
        assert_eq!(r.units(), 0);
        assert_eq!(apply(&[10, 0, 0, 2], &r), [3, 3, 3, 3]);
        let limited = rebalance(&[10, 0, 0, 2], 2).expect("uneven");
        assert_eq!(limited.changes.len(), 2, "{limited:?}");
        assert_eq!(apply(&[10, 0, 0, 2], &limited).iter().sum::<i64>(), 12);
        assert_eq!(rebalance(&[3, 2, 3], 8), None);
    }

    #[test]
    fn consolidate_gathers_a_line_into_one_bucket() {
        let r = consolidate(&[1, 3, 2, 1], 6).expect("possible");
        let after = apply(&[1, 3, 2, 1], &r);
        assert_eq!(after.iter().sum::<i64>(), 7);
        assert!(after.iter().any(|c| *c >= 6), "{after:?}");
        assert_eq!(consolidate(&[1, 3], 5), None);
        assert_eq!(consolidate(&[1, 5], 5), None);
    }

    #[test]
    fn a_raise_creates_buckets_filled_from_the_fullest() {
        let r = raise(&[40, 20], 4, 2).expect("raised");
        assert_eq!((r.from, r.to, r.units()), (2, 4, 0));
        assert_eq!(apply(&[40, 20], &r), [15, 15, 15, 15]);
        let few = raise(&[40, 20], 4, 1).expect("raised");
        let after = apply(&[40, 20], &few);
        assert_eq!(after.iter().sum::<i64>(), 60);
        assert_eq!(after[1], 20, "not a donor: untouched");
        assert_eq!(raise(&[5], 1, 2), None);
    }
}
