//! Exact Pareto filtering of utility vectors.
//!
//! Points live in a flat [`PointSet`] (`n` utilities per point plus a `u64` tag that
//! says where the point came from). [`nondominated`] sorts the points
//! lexicographically in decreasing order, so that a point can only be dominated by
//! one before it, then keeps a point when nothing kept before it is at least as good
//! in every other coordinate: O(1) per point for two parties, O(log F) for three (a
//! staircase), O(F) for more. Equal vectors keep the point with the smallest tag,
//! which makes the result independent of how the work was split.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::exact::Utility;

/// Sets smaller than this are filtered on one thread.
const PARALLEL_THRESHOLD: usize = 1 << 13;

/// Utility vectors with a tag each, stored flat.
#[derive(Clone, Debug, Default)]
pub struct PointSet {
    n: usize,
    utils: Vec<Utility>,
    tags: Vec<u64>,
}

impl PointSet {
    /// An empty set of `n`-party points.
    pub fn new(n: usize) -> PointSet {
        PointSet {
            n,
            utils: Vec::new(),
            tags: Vec::new(),
        }
    }

    /// An empty set with room for `capacity` points.
    pub fn with_capacity(n: usize, capacity: usize) -> PointSet {
        PointSet {
            n,
            utils: Vec::with_capacity(n * capacity),
            tags: Vec::with_capacity(capacity),
        }
    }

    /// The number of parties.
    pub fn n_parties(&self) -> usize {
        self.n
    }

    /// The number of points.
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// Adds a point.
    #[inline]
    pub fn push(&mut self, utils: &[Utility], tag: u64) {
        debug_assert_eq!(utils.len(), self.n);
        self.utils.extend_from_slice(utils);
        self.tags.push(tag);
    }

    /// The utilities of point `idx`.
    #[inline]
    pub fn point(&self, idx: usize) -> &[Utility] {
        &self.utils[idx * self.n..(idx + 1) * self.n]
    }

    /// The tag of point `idx`.
    #[inline]
    pub fn tag(&self, idx: usize) -> u64 {
        self.tags[idx]
    }

    /// Removes every point.
    pub fn clear(&mut self) {
        self.utils.clear();
        self.tags.clear();
    }

    fn append(&mut self, other: &PointSet) {
        self.utils.extend_from_slice(&other.utils);
        self.tags.extend_from_slice(&other.tags);
    }
}

/// Lexicographic order, largest first; ties by tag, smallest first.
fn order(set: &PointSet, a: usize, b: usize) -> Ordering {
    for (x, y) in set.point(a).iter().zip(set.point(b)) {
        match y.exact_cmp(x) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    set.tag(a).cmp(&set.tag(b))
}

/// Whether `q` is at least as good as `p` in every coordinate.
#[inline]
fn weakly_dominates(q: &[Utility], p: &[Utility]) -> bool {
    q.iter()
        .zip(p)
        .all(|(a, b)| a.exact_cmp(b) != Ordering::Less)
}

/// The distinct non-dominated vectors of `set`, largest first, one point each.
pub fn nondominated(set: &PointSet) -> PointSet {
    let n = set.n;
    let mut order_idx: Vec<u32> = (0..set.len() as u32).collect();
    order_idx.sort_unstable_by(|&a, &b| order(set, a as usize, b as usize));
    let mut out = PointSet::new(n);
    match n {
        0 => {}
        1 => {
            if let Some(&first) = order_idx.first() {
                out.push(set.point(first as usize), set.tag(first as usize));
            }
        }
        2 => {
            let mut best: Option<Utility> = None;
            for &idx in &order_idx {
                let p = set.point(idx as usize);
                if best.is_none_or(|b| p[1].exact_cmp(&b) == Ordering::Greater) {
                    best = Some(p[1]);
                    out.push(p, set.tag(idx as usize));
                }
            }
        }
        3 => {
            // Staircase of kept (u2, u3): u3 decreases as u2 increases.
            let mut stairs: BTreeMap<Utility, Utility> = BTreeMap::new();
            for &idx in &order_idx {
                let p = set.point(idx as usize);
                let dominated = stairs
                    .range(p[1]..)
                    .next()
                    .is_some_and(|(_, u3)| u3.exact_cmp(&p[2]) != Ordering::Less);
                if dominated {
                    continue;
                }
                let covered: Vec<Utility> = stairs
                    .range(..=p[1])
                    .rev()
                    .take_while(|(_, u3)| u3.exact_cmp(&p[2]) != Ordering::Greater)
                    .map(|(k, _)| *k)
                    .collect();
                for key in covered {
                    stairs.remove(&key);
                }
                stairs.insert(p[1], p[2]);
                out.push(p, set.tag(idx as usize));
            }
        }
        _ => {
            for &idx in &order_idx {
                let p = set.point(idx as usize);
                let dominated =
                    (0..out.len()).any(|k| weakly_dominates(&out.point(k)[1..], &p[1..]));
                if !dominated {
                    out.push(p, set.tag(idx as usize));
                }
            }
        }
    }
    out
}

/// Whether point `i` of `x` beats point `j` of `y`: weakly dominates it and is either
/// better somewhere or, when the vectors are equal, has the smaller tag.
fn beats(x: &PointSet, i: usize, y: &PointSet, j: usize) -> bool {
    let (q, p) = (x.point(i), y.point(j));
    weakly_dominates(q, p) && (!weakly_dominates(p, q) || x.tag(i) < y.tag(j))
}

/// [`nondominated`] of the union of two sets that are each already non-dominated.
pub fn merge(mut a: PointSet, b: &PointSet) -> PointSet {
    if a.n <= 3 {
        // The sorting filters are O(N log N): refiltering the union is cheapest.
        a.append(b);
        return nondominated(&a);
    }
    // Many parties: only cross pairs can dominate, O(|a|·|b|) instead of O((|a|+|b|)²).
    let keep_a: Vec<bool> = (0..a.len())
        .into_par_iter()
        .map(|i| !(0..b.len()).any(|j| beats(b, j, &a, i)))
        .collect();
    let keep_b: Vec<bool> = (0..b.len())
        .into_par_iter()
        .map(|j| !(0..a.len()).any(|i| beats(&a, i, b, j)))
        .collect();
    let mut out = PointSet::with_capacity(a.n, a.len() + b.len());
    for (set, keep) in [(&a, &keep_a), (b, &keep_b)] {
        for (k, &kept) in keep.iter().enumerate() {
            if kept {
                out.push(set.point(k), set.tag(k));
            }
        }
    }
    let mut idx: Vec<u32> = (0..out.len() as u32).collect();
    idx.sort_unstable_by(|&x, &y| order(&out, x as usize, y as usize));
    let mut sorted = PointSet::with_capacity(out.n, out.len());
    for k in idx {
        sorted.push(out.point(k as usize), out.tag(k as usize));
    }
    sorted
}

/// [`nondominated`], split over threads for large sets.
pub fn nondominated_par(set: &PointSet) -> PointSet {
    if set.len() < PARALLEL_THRESHOLD {
        return nondominated(set);
    }
    let chunk = PARALLEL_THRESHOLD / 2;
    let n = set.n;
    (0..set.len().div_ceil(chunk))
        .into_par_iter()
        .map(|c| {
            let lo = c * chunk;
            let hi = ((c + 1) * chunk).min(set.len());
            let part = PointSet {
                n,
                utils: set.utils[lo * n..hi * n].to_vec(),
                tags: set.tags[lo..hi].to_vec(),
            };
            nondominated(&part)
        })
        .reduce(|| PointSet::new(n), |a, b| merge(a, &b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(points: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = points
            .iter()
            .filter(|p| {
                !points
                    .iter()
                    .any(|q| q.iter().zip(p.iter()).all(|(a, b)| a >= b) && q != *p)
            })
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        out
    }

    fn to_set(points: &[Vec<u8>]) -> PointSet {
        let n = points.first().map_or(0, Vec::len);
        let mut set = PointSet::new(n);
        for (tag, p) in points.iter().enumerate() {
            let utils: Vec<Utility> = p
                .iter()
                .map(|&x| Utility::from_f64(x as f64 / 10.0))
                .collect();
            set.push(&utils, tag as u64);
        }
        set
    }

    fn from_set(set: &PointSet) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = (0..set.len())
            .map(|i| {
                set.point(i)
                    .iter()
                    .map(|u| (u.value * 10.0).round() as u8)
                    .collect()
            })
            .collect();
        out.sort();
        out
    }

    proptest! {
        #[test]
        fn matches_naive_oracle(n in 1usize..6, raw in proptest::collection::vec(proptest::collection::vec(0u8..6, 6), 0..200)) {
            let points: Vec<Vec<u8>> = raw.into_iter().map(|p| p[..n].to_vec()).collect();
            let set = to_set(&points);
            let front = nondominated(&set);
            prop_assert_eq!(from_set(&front), naive(&points));
            // Equal vectors keep the smallest tag.
            for i in 0..front.len() {
                let first = points.iter().position(|p| *p == from_set_point(front.point(i)));
                prop_assert_eq!(Some(front.tag(i) as usize), first);
            }
        }

        #[test]
        fn merging_parts_equals_whole(n in 2usize..7, raw in proptest::collection::vec(proptest::collection::vec(0u8..8, 6), 0..150), split in 0usize..150) {
            let raw: Vec<Vec<u8>> = raw.into_iter().map(|p| p[..n].to_vec()).collect();
            let set = to_set(&raw);
            let split = split.min(raw.len());
            let mut a = PointSet::new(n);
            let mut b = PointSet::new(n);
            for i in 0..set.len() {
                if i < split { a.push(set.point(i), set.tag(i)) } else { b.push(set.point(i), set.tag(i)) }
            }
            let merged = merge(nondominated(&a), &nondominated(&b));
            let whole = nondominated(&set);
            prop_assert_eq!(merged.tags, whole.tags);
        }
    }

    fn from_set_point(p: &[Utility]) -> Vec<u8> {
        p.iter().map(|u| (u.value * 10.0).round() as u8).collect()
    }

    #[test]
    fn exact_ties_merge_despite_float_noise() {
        // 0.1 + 0.2 and 0.3 are the same rational: one frontier vector, not two.
        let mut set = PointSet::new(2);
        let a = Utility::from_f64(0.1).add(Utility::from_f64(0.2));
        let b = Utility::from_f64(0.3);
        assert_ne!(a.value, b.value);
        set.push(&[a, Utility::from_f64(0.5)], 0);
        set.push(&[b, Utility::from_f64(0.5)], 1);
        let front = nondominated(&set);
        assert_eq!(front.len(), 1);
        assert_eq!(front.tag(0), 0);
    }

    #[test]
    fn parallel_filter_equals_sequential() {
        let mut set = PointSet::new(2);
        let mut x: u64 = 7;
        for tag in 0..(PARALLEL_THRESHOLD as u64 * 3) {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let a = (x >> 40) as f64 / (1u64 << 24) as f64;
            let b = ((x >> 16) & 0xff_ffff) as f64 / (1u64 << 24) as f64;
            set.push(
                &[
                    Utility::from_f64(a),
                    Utility::from_f64(1.0 - a * a - b * 0.01),
                ],
                tag,
            );
        }
        assert_eq!(nondominated_par(&set).tags, nondominated(&set).tags);
    }
}
