//! The special points of a frontier: Nash, Kalai–Smorodinsky, maximum welfare,
//! and the opposition of the scenario.
//!
//! Each is defined over all outcomes (DESIGN.md), but each is attained on the
//! frontier: a rational outcome dominated by a frontier point makes that point
//! rational and at least as good for every criterion, and the best utilities and the
//! outcome nearest to them are on the frontier too. So everything here reads the
//! frontier only.

use std::cmp::Ordering;

use super::{Frontier, SpecialPoint};
use crate::exact::Utility;

/// The special points of a frontier for the given reservation values.
pub struct SpecialPoints {
    /// Nash bargaining solution.
    pub nash: Option<SpecialPoint>,
    /// Kalai–Smorodinsky solution.
    pub kalai_smorodinsky: Option<SpecialPoint>,
    /// Maximum welfare.
    pub max_welfare: Option<SpecialPoint>,
    /// Smallest distance from an outcome to the ideal point.
    pub opposition: f64,
    /// Each party's best utility.
    pub ideal: Vec<f64>,
}

/// `u − r`, exactly 0 when equal as rationals.
fn gain(u: &Utility, r: &Utility) -> f64 {
    match u.exact_cmp(r) {
        Ordering::Equal => 0.0,
        _ => u.value - r.value,
    }
}

fn special(frontier: &Frontier, idx: usize, value: f64) -> SpecialPoint {
    SpecialPoint {
        value,
        utilities: frontier.point(idx).iter().map(|u| u.value).collect(),
        outcome: frontier.outcome(idx).to_vec(),
    }
}

/// The index of the point with the largest score; the first one on ties.
fn argmax(candidates: &[usize], mut score: impl FnMut(usize) -> f64) -> Option<(usize, f64)> {
    let mut best: Option<(usize, f64)> = None;
    for &idx in candidates {
        let s = score(idx);
        if best.is_none_or(|(_, b)| s > b) {
            best = Some((idx, s));
        }
    }
    best
}

/// Computes the special points.
pub fn special_points(frontier: &Frontier, reservations: &[f64]) -> SpecialPoints {
    let n = frontier.n_parties();
    let r: Vec<Utility> = reservations.iter().map(|&x| Utility::from_f64(x)).collect();

    let mut ideal = vec![f64::NEG_INFINITY; n];
    for idx in 0..frontier.len() {
        for (best, u) in ideal.iter_mut().zip(frontier.point(idx)) {
            *best = best.max(u.value);
        }
    }
    let opposition = (0..frontier.len())
        .map(|idx| {
            frontier
                .point(idx)
                .iter()
                .zip(&ideal)
                .map(|(u, best)| (best - u.value).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .fold(f64::INFINITY, f64::min);

    let rational: Vec<usize> = (0..frontier.len())
        .filter(|&idx| {
            frontier
                .point(idx)
                .iter()
                .zip(&r)
                .all(|(u, r)| u.exact_cmp(r) != Ordering::Less)
        })
        .collect();

    let nash = argmax(&rational, |idx| {
        frontier
            .point(idx)
            .iter()
            .zip(&r)
            .map(|(u, r)| gain(u, r))
            .product()
    })
    .map(|(idx, value)| special(frontier, idx, value));

    let max_welfare = argmax(&rational, |idx| {
        frontier.point(idx).iter().map(|u| u.value).sum()
    })
    .map(|(idx, value)| special(frontier, idx, value));

    // Best utility of each party over the rational outcomes.
    let mut best_rational: Vec<Option<Utility>> = vec![None; n];
    for &idx in &rational {
        for (best, u) in best_rational.iter_mut().zip(frontier.point(idx)) {
            if best.is_none_or(|b| u.exact_cmp(&b) == Ordering::Greater) {
                *best = Some(*u);
            }
        }
    }
    let kalai_smorodinsky = argmax(&rational, |idx| {
        frontier
            .point(idx)
            .iter()
            .zip(&r)
            .zip(&best_rational)
            .map(|((u, r), best)| match best {
                Some(best) if best.exact_cmp(r) != Ordering::Equal => gain(u, r) / gain(best, r),
                _ => 1.0,
            })
            .fold(f64::INFINITY, f64::min)
    })
    .map(|(idx, value)| special(frontier, idx, value));

    SpecialPoints {
        nash,
        kalai_smorodinsky,
        max_welfare,
        opposition: if frontier.is_empty() {
            f64::NAN
        } else {
            opposition
        },
        ideal,
    }
}
