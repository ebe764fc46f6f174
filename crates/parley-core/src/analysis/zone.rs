//! The zone of agreement over time.
//!
//! At normalised time t an outcome is acceptable to party i when it is worth at least
//! what walking away is worth then, `u_i ≥ v_i(t)` ([`crate::Party::reservation_at`];
//! a deal and walking away are discounted alike, so the comparison is undiscounted),
//! and it crosses none of i's red lines. The zone of agreement is the set of outcomes
//! acceptable to every party. It is described at t = 0, t = 1 and every breakpoint of
//! every party's alternative (how many outcomes it holds, and its Nash point), and the
//! time it closes is found exactly.
//!
//! **Closing time.** Between two consecutive breakpoints every probability and utility
//! curve is linear, so each `v_i` is a quadratic in t. An outcome in the zone at t has
//! a frontier point (of the outcomes that cross no red line) that weakly dominates it,
//! which is in the zone too; so the zone is open at t iff some frontier point x has
//! `v_i(t) ≤ u_i(x)` for every i. For each frontier point and piece, the times where
//! that holds are found from the roots of the quadratics, and the zone closes at the
//! end of the run of such times that starts at 0.

use rayon::prelude::*;

use super::domain::Domain;
use super::{points, Frontier, SpecialPoint};
use crate::scenario::Scenario;

/// Comparisons of a utility with a reservation value allow this much float noise.
const SLACK: f64 = 1e-12;

/// The zone of agreement at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneAt {
    /// Normalised time.
    pub t: f64,
    /// What walking away is worth to each party then (undiscounted).
    pub reserved: Vec<f64>,
    /// How many outcomes are acceptable to every party then (`None`: the space is too
    /// large to count).
    pub rational_count: Option<u64>,
    /// The Nash point of the zone then (`None`: the zone is empty).
    pub nash: Option<SpecialPoint>,
}

/// The zone of agreement over time.
#[derive(Clone, Debug, PartialEq)]
pub struct Zone {
    /// At t = 0, t = 1 and every breakpoint, in time order.
    pub moments: Vec<ZoneAt>,
    /// The earliest time at which no outcome is acceptable to every party (`None`: the
    /// zone stays open until the deadline).
    pub closes_at: Option<f64>,
}

/// What walking away is worth, rounded to 12 decimals: the float noise of `Σ p·u`
/// (0.42000000000000004) is shed, so that an outcome worth exactly as much as walking
/// away (both short decimals) compares equal, as utilities do.
pub(crate) fn snap(x: f64) -> f64 {
    (x * 1e12).round() / 1e12
}

/// 0, 1 and every breakpoint of every party's alternative, sorted, without repeats.
pub fn moments(scenario: &Scenario) -> Vec<f64> {
    let mut all: Vec<f64> = scenario
        .parties()
        .iter()
        .filter_map(|p| p.alternative.as_ref())
        .flat_map(|a| a.breakpoints())
        .chain([0.0, 1.0])
        .collect();
    all.sort_by(f64::total_cmp);
    all.dedup();
    all
}

/// The zone of agreement over time. `frontier` is the frontier of the outcomes that
/// cross no red line ([`super::pareto_frontier`]); outcomes are counted when there are
/// at most `count_limit` of them.
pub fn zone_over_time(scenario: &Scenario, frontier: &Frontier, count_limit: u64) -> Zone {
    let times = moments(scenario);
    let reserved: Vec<Vec<f64>> = times
        .iter()
        .map(|&t| {
            scenario
                .parties()
                .iter()
                .map(|p| snap(p.reservation_at(t)))
                .collect()
        })
        .collect();
    let counts = count_acceptable(scenario, &reserved, count_limit);
    let moments = times
        .iter()
        .zip(&reserved)
        .enumerate()
        .map(|(k, (&t, r))| ZoneAt {
            t,
            reserved: r.clone(),
            rational_count: counts.as_ref().map(|c| c[k]),
            nash: points::special_points(frontier, r).nash,
        })
        .collect();
    Zone {
        moments,
        closes_at: closes_at(scenario, frontier, &times),
    }
}

/// Whether `utils` is acceptable to every party given `reserved` (to float noise).
#[inline]
fn acceptable(utils: &[f64], reserved: &[f64]) -> bool {
    utils.iter().zip(reserved).all(|(u, r)| *u + SLACK >= *r)
}

/// For each moment, how many outcomes (crossing no red line) are acceptable to every
/// party; `None` when there are more than `limit` outcomes to look at. The outcomes
/// are streamed in parallel chunks with an odometer (last issue fastest); additive
/// utilities are kept as running prefix sums over the issues, so a step that changes
/// only the last issue costs one addition per party.
fn count_acceptable(scenario: &Scenario, reserved: &[Vec<f64>], limit: u64) -> Option<Vec<u64>> {
    const CHUNK: u64 = 1 << 15;
    let domain = Domain::new(scenario.space(), scenario.red_lines_of_all());
    let count = domain.count().filter(|&c| c <= limit)?;
    let ufuns = scenario.utilities();
    let cards = domain.cards();
    let (n, m) = (ufuns.len(), cards.len());
    // tables[p][i][k]: party p's contribution of the k-th value in play of issue i.
    let tables: Option<Vec<Vec<Vec<f64>>>> = ufuns.iter().all(|u| u.is_additive()).then(|| {
        ufuns
            .iter()
            .map(|u| {
                (0..m)
                    .map(|i| {
                        (0..cards[i])
                            .map(|k| {
                                u.contribution(i, domain.value(i, k))
                                    .map_or(0.0, |c| c.value)
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect()
    });
    let counts = (0..count.div_ceil(CHUNK))
        .into_par_iter()
        .map(|chunk| {
            let mut ks = vec![0u32; m];
            let mut outcome = vec![0u32; m];
            let mut utils = vec![0.0; n];
            // prefix[p·m + i]: party p's sum over issues 0..=i.
            let mut prefix = vec![0.0; n * m];
            let mut counts = vec![0u64; reserved.len()];
            let start = chunk * CHUNK;
            let end = (start + CHUNK).min(count);
            super::decode(start, cards, &mut ks);
            domain.decode(start, &mut outcome);
            let mut changed = 0;
            for _ in start..end {
                match &tables {
                    Some(tables) => {
                        for (p, table) in tables.iter().enumerate() {
                            let row = &mut prefix[p * m..(p + 1) * m];
                            let mut sum = if changed == 0 { 0.0 } else { row[changed - 1] };
                            for i in changed..m {
                                sum += table[i][ks[i] as usize];
                                row[i] = sum;
                            }
                            utils[p] = sum;
                        }
                    }
                    None => {
                        for (slot, ufun) in utils.iter_mut().zip(ufuns) {
                            *slot = ufun.value(&outcome);
                        }
                    }
                }
                for (c, r) in counts.iter_mut().zip(reserved) {
                    *c += u64::from(acceptable(&utils, r));
                }
                // Odometer: the lowest issue that changes.
                changed = m;
                while changed > 0 {
                    changed -= 1;
                    ks[changed] += 1;
                    if ks[changed] < cards[changed] {
                        break;
                    }
                    ks[changed] = 0;
                }
                for i in changed..m {
                    outcome[i] = domain.value(i, ks[i]);
                }
            }
            counts
        })
        .reduce(
            || vec![0u64; reserved.len()],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );
    Some(counts)
}

/// `v(a + s) = c0 + c1·s + c2·s²` on one piece `[a, a + h]`, through three points.
fn quadratic(v: impl Fn(f64) -> f64, a: f64, h: f64) -> [f64; 3] {
    let (v0, vm, v1) = (v(a), v(a + h / 2.0), v(a + h));
    let c2 = 2.0 * (v1 - 2.0 * vm + v0) / (h * h);
    let c1 = (4.0 * vm - 3.0 * v0 - v1) / h;
    [v0, c1, c2]
}

/// The sub-intervals of `[0, h]` where `c0 + c1·s + c2·s² ≤ u`: closed intervals,
/// sorted, disjoint and not touching (a point where it only just holds is an interval
/// of length 0).
fn at_most(c: [f64; 3], u: f64, h: f64, out: &mut Vec<(f64, f64)>) {
    let [c0, c1, c2] = c;
    let f = |s: f64| c0 + c1 * s + c2 * s * s - u;
    // Cut points: the ends and the roots inside (at most four in all).
    let mut cuts = [0.0, h, f64::NAN, f64::NAN];
    let scale = c0.abs().max(c1.abs() * h).max(c2.abs() * h * h).max(1.0);
    if c2.abs() * h * h <= 1e-14 * scale {
        if c1.abs() * h > 1e-14 * scale {
            cuts[2] = -(c0 - u) / c1;
        }
    } else {
        let disc = c1 * c1 - 4.0 * c2 * (c0 - u);
        if disc >= 0.0 {
            // Numerically stable roots.
            let q = -0.5 * (c1 + c1.signum() * disc.sqrt());
            if q != 0.0 {
                cuts[2] = q / c2;
                cuts[3] = (c0 - u) / q;
            } else {
                cuts[2] = 0.0;
            }
        }
    }
    let mut cuts: Vec<f64> = cuts.into_iter().filter(|s| (0.0..=h).contains(s)).collect();
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let start = out.len();
    let push = |lo: f64, hi: f64, out: &mut Vec<(f64, f64)>| match out[start..].last_mut() {
        Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
        _ => out.push((lo, hi)),
    };
    for (k, &s) in cuts.iter().enumerate() {
        if f(s) <= SLACK {
            push(s, s, out);
        }
        if let Some(&next) = cuts.get(k + 1) {
            if f((s + next) / 2.0) <= SLACK {
                push(s, next, out);
            }
        }
    }
}

/// The intersection of two sorted lists of disjoint closed intervals (linear).
fn intersect(a: &[(f64, f64)], b: &[(f64, f64)], out: &mut Vec<(f64, f64)>) {
    out.clear();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (lo, hi) = (a[i].0.max(b[j].0), a[i].1.min(b[j].1));
        if lo <= hi {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
}

/// Whether what walking away is worth changes over time for some party.
fn varies(scenario: &Scenario, times: &[f64]) -> bool {
    scenario.parties().iter().any(|p| {
        let v0 = p.reservation_at(0.0);
        times
            .windows(2)
            .flat_map(|w| [w[0], (w[0] + w[1]) / 2.0, w[1]])
            .any(|t| (p.reservation_at(t) - v0).abs() > SLACK)
    })
}

/// The earliest time at which no frontier point is acceptable to every party.
fn closes_at(scenario: &Scenario, frontier: &Frontier, times: &[f64]) -> Option<f64> {
    if frontier.is_empty() {
        return Some(0.0);
    }
    let parties = scenario.parties();
    if !varies(scenario, times) {
        // The same at every moment: open throughout or closed from the start.
        let r: Vec<f64> = parties.iter().map(|p| p.reservation_at(0.0)).collect();
        let open = (0..frontier.len()).any(|k| {
            frontier
                .point(k)
                .iter()
                .zip(&r)
                .all(|(u, r)| u.value + SLACK >= *r)
        });
        return (!open).then_some(0.0);
    }
    // Per piece, per party: the quadratic of v_i.
    let pieces: Vec<(f64, f64, Vec<[f64; 3]>)> = times
        .windows(2)
        .map(|w| {
            let (a, h) = (w[0], w[1] - w[0]);
            let quads = parties
                .iter()
                .map(|p| quadratic(|t| p.reservation_at(t), a, h))
                .collect();
            (a, h, quads)
        })
        .collect();
    // Per frontier point, the times it is acceptable to every party, merged across
    // pieces (a handful of intervals each).
    let mut covered: Vec<(f64, f64)> = (0..frontier.len())
        .into_par_iter()
        .map_init(
            || (Vec::new(), Vec::new(), Vec::new()),
            |(own, times, scratch): &mut (Intervals, Intervals, Intervals), k| {
                let point = frontier.point(k);
                let mut merged: Vec<(f64, f64)> = Vec::new();
                for (a, h, quads) in &pieces {
                    times.clear();
                    times.push((0.0, *h));
                    for (c, u) in quads.iter().zip(point) {
                        own.clear();
                        at_most(*c, u.value, *h, own);
                        intersect(times, own, scratch);
                        std::mem::swap(times, scratch);
                        if times.is_empty() {
                            break;
                        }
                    }
                    for &(lo, hi) in times.iter() {
                        let (lo, hi) = (a + lo, a + hi);
                        match merged.last_mut() {
                            Some(last) if lo <= last.1 + JOIN => last.1 = last.1.max(hi),
                            _ => merged.push((lo, hi)),
                        }
                    }
                }
                merged
            },
        )
        .flatten_iter()
        .collect();
    covered.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut end: Option<f64> = None;
    for (lo, hi) in covered {
        match end {
            None if lo <= JOIN => end = Some(hi),
            None => return Some(0.0),
            Some(e) if lo <= e + JOIN => end = Some(e.max(hi)),
            Some(_) => break,
        }
    }
    match end {
        None => Some(0.0),
        Some(e) if e >= 1.0 - JOIN => None,
        Some(e) => Some(e),
    }
}

/// Closed intervals of time, sorted.
type Intervals = Vec<(f64, f64)>;

/// Intervals of acceptable times this close together are one.
const JOIN: f64 = 1e-12;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quadratic_pieces_reproduce_the_curve() {
        let v = |t: f64| 0.2 + 0.3 * t - 0.4 * t * t;
        let c = quadratic(v, 0.25, 0.5);
        for i in 0..=10 {
            let s = 0.05 * f64::from(i);
            let fitted = c[0] + c[1] * s + c[2] * s * s;
            assert!((fitted - v(0.25 + s)).abs() < 1e-12);
        }
    }

    #[test]
    fn where_a_quadratic_stays_under_a_level() {
        // (s - 0.5)² ≤ 0.04 on [0, 1]: s in [0.3, 0.7].
        let mut out = Vec::new();
        at_most([0.25, -1.0, 1.0], 0.04, 1.0, &mut out);
        out.sort_by(|x, y| x.0.total_cmp(&y.0));
        let main: Vec<_> = out.iter().filter(|(lo, hi)| hi > lo).collect();
        assert_eq!(main.len(), 1);
        assert!((main[0].0 - 0.3).abs() < 1e-12 && (main[0].1 - 0.7).abs() < 1e-12);
        // A rising line 0.1 + s ≤ 0.6 on [0, 1]: s in [0, 0.5].
        out.clear();
        at_most([0.1, 1.0, 0.0], 0.6, 1.0, &mut out);
        let hi = out.iter().map(|x| x.1).fold(0.0, f64::max);
        assert!((hi - 0.5).abs() < 1e-12);
    }
}
