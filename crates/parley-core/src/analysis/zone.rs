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
use super::enumerate::odometer;
use super::{points, Frontier, SpecialPoint};
use crate::exact::Utility;
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

/// Whether `utils` is acceptable to every party given `reserved` (exactly, as the
/// special points compare).
#[inline]
fn acceptable(utils: &[Utility], reserved: &[Utility]) -> bool {
    utils
        .iter()
        .zip(reserved)
        .all(|(u, r)| u.exact_cmp(r) != std::cmp::Ordering::Less)
}

/// For each moment, how many outcomes (crossing no red line) are acceptable to every
/// party; `None` when there are more than `limit` outcomes to look at.
fn count_acceptable(scenario: &Scenario, reserved: &[Vec<f64>], limit: u64) -> Option<Vec<u64>> {
    const CHUNK: u64 = 1 << 15;
    let domain = Domain::new(scenario.space(), scenario.red_lines_of_all());
    let count = domain.count().filter(|&c| c <= limit)?;
    let ufuns = scenario.utilities();
    let reserved: Vec<Vec<Utility>> = reserved
        .iter()
        .map(|r| r.iter().map(|&x| Utility::from_f64(x)).collect())
        .collect();
    let reserved = &reserved;
    let n_issues = domain.cards().len();
    let counts = (0..count.div_ceil(CHUNK))
        .into_par_iter()
        .map(|chunk| {
            let mut ks = vec![0u32; n_issues];
            let mut outcome = vec![0u32; n_issues];
            let mut utils = vec![Utility::ZERO; ufuns.len()];
            let mut counts = vec![0u64; reserved.len()];
            let start = chunk * CHUNK;
            let end = (start + CHUNK).min(count);
            super::decode(start, domain.cards(), &mut ks);
            domain.decode(start, &mut outcome);
            for _ in start..end {
                for (slot, ufun) in utils.iter_mut().zip(ufuns) {
                    *slot = ufun.eval(&outcome);
                }
                for (c, r) in counts.iter_mut().zip(reserved) {
                    *c += u64::from(acceptable(&utils, r));
                }
                odometer(&domain, &mut ks, &mut outcome);
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

/// The sub-intervals of `[0, h]` where `c0 + c1·s + c2·s² ≤ u`, as closed intervals.
fn at_most(c: [f64; 3], u: f64, h: f64, out: &mut Vec<(f64, f64)>) {
    let [c0, c1, c2] = c;
    let f = |s: f64| c0 + c1 * s + c2 * s * s - u;
    // Cut points: the ends and the roots inside.
    let mut cuts = vec![0.0, h];
    let scale = c0.abs().max(c1.abs() * h).max(c2.abs() * h * h).max(1.0);
    if c2.abs() * h * h <= 1e-14 * scale {
        if c1.abs() * h > 1e-14 * scale {
            cuts.push(-(c0 - u) / c1);
        }
    } else {
        let disc = c1 * c1 - 4.0 * c2 * (c0 - u);
        if disc >= 0.0 {
            // Numerically stable roots.
            let q = -0.5 * (c1 + c1.signum() * disc.sqrt());
            if q != 0.0 {
                cuts.push(q / c2);
                cuts.push((c0 - u) / q);
            } else {
                cuts.push(0.0);
            }
        }
    }
    cuts.retain(|s| (0.0..=h).contains(s));
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    for w in cuts.windows(2) {
        let mid = (w[0] + w[1]) / 2.0;
        if f(mid) <= SLACK {
            out.push((w[0], w[1]));
        }
    }
    for &s in &cuts {
        if f(s) <= SLACK {
            out.push((s, s));
        }
    }
}

/// The intersection of two sorted lists of closed intervals.
fn intersect(a: &[(f64, f64)], b: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for &(a0, a1) in a {
        for &(b0, b1) in b {
            let (lo, hi) = (a0.max(b0), a1.min(b1));
            if lo <= hi {
                out.push((lo, hi));
            }
        }
    }
    out
}

/// The earliest time at which no frontier point is acceptable to every party.
fn closes_at(scenario: &Scenario, frontier: &Frontier, times: &[f64]) -> Option<f64> {
    if frontier.is_empty() {
        return Some(0.0);
    }
    let parties = scenario.parties();
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
    let mut covered: Vec<(f64, f64)> = (0..frontier.len())
        .into_par_iter()
        .flat_map_iter(|k| {
            let utils: Vec<f64> = frontier.point(k).iter().map(|u| u.value).collect();
            let mut out = Vec::new();
            let mut own = Vec::new();
            for (a, h, quads) in &pieces {
                let mut times = vec![(0.0, *h)];
                for (c, &u) in quads.iter().zip(&utils) {
                    own.clear();
                    at_most(*c, u, *h, &mut own);
                    own.sort_by(|x, y| x.0.total_cmp(&y.0));
                    times = intersect(&times, &own);
                    if times.is_empty() {
                        break;
                    }
                }
                out.extend(times.into_iter().map(|(lo, hi)| (a + lo, a + hi)));
            }
            out
        })
        .collect();
    covered.sort_by(|x, y| x.0.total_cmp(&y.0));
    const JOIN: f64 = 1e-12;
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
