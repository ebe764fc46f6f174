//! Exact frontier of additive utilities by dynamic programming over issues.
//!
//! When every party's utility is a sum of one term per issue, the utility vector of
//! an outcome is the sum of one contribution vector per issue, and a frontier vector
//! of a sum is always a sum of frontier vectors of the parts (if a part were
//! dominated, swapping in what dominates it would dominate the sum). So the frontier
//! is built issue by issue: F_0 = {0}, F_k = frontier(F_{k-1} ⊕ frontier(issue k)).
//! The work is Σ |F_{k-1}|·|V_k| instead of Π |V_k|, and exact.

use rayon::prelude::*;

use super::domain::Domain;
use super::frontier::{nondominated, nondominated_par, PointSet};
use crate::exact::Utility;
use crate::ufun::CompiledUtility;
use crate::{Error, Result};

/// Candidate sets larger than this are refused (the frontier itself is that large).
pub const MAX_CANDIDATES: usize = 200_000_000;

/// The exact frontier and one outcome per frontier vector.
pub(crate) fn additive_frontier(
    ufuns: &[CompiledUtility],
    domain: &Domain,
) -> Result<(PointSet, Vec<Vec<u32>>)> {
    let cards = domain.cards();
    let n = ufuns.len();
    let mut front = PointSet::new(n);
    front.push(&vec![Utility::ZERO; n], 0);
    // For each issue, the kept points' (parent index, value index).
    let mut layers: Vec<Vec<(u32, u32)>> = Vec::with_capacity(cards.len());
    let mut contribution = vec![Utility::ZERO; n];

    for (issue, &card) in cards.iter().enumerate() {
        // The issue's own non-dominated values (equal contribution vectors: one kept).
        let mut values = PointSet::with_capacity(n, card as usize);
        for k in 0..card {
            let value_idx = domain.value(issue, k);
            for (slot, ufun) in contribution.iter_mut().zip(ufuns) {
                *slot = ufun.contribution(issue, value_idx).ok_or_else(|| {
                    Error::Analysis("the utility functions are not additive".into())
                })?;
            }
            values.push(&contribution, value_idx as u64);
        }
        let values = nondominated(&values);

        let n_candidates = front.len() * values.len();
        if n_candidates > MAX_CANDIDATES {
            return Err(Error::Analysis(format!(
                "the frontier grows past {MAX_CANDIDATES} candidate points at issue {issue}"
            )));
        }
        let n_values = values.len();
        let candidates = build_candidates(&front, &values, n);
        let kept = nondominated_par(&candidates);
        let layer = (0..kept.len())
            .map(|k| {
                let tag = kept.tag(k) as usize;
                let parent = tag / n_values;
                let value = values.tag(tag % n_values) as u32;
                (parent as u32, value)
            })
            .collect();
        layers.push(layer);
        // Re-tag the kept points by their position so the next layer can point at them.
        let mut next = PointSet::with_capacity(n, kept.len());
        for k in 0..kept.len() {
            next.push(kept.point(k), k as u64);
        }
        front = next;
    }

    let outcomes = (0..front.len())
        .map(|k| {
            let mut outcome = vec![0u32; cards.len()];
            let mut idx = k as u32;
            for (issue, layer) in layers.iter().enumerate().rev() {
                let (parent, value) = layer[idx as usize];
                outcome[issue] = value;
                idx = parent;
            }
            outcome
        })
        .collect();
    Ok((front, outcomes))
}

/// Every sum of a frontier point and an issue value; tag = parent · |values| + value.
fn build_candidates(front: &PointSet, values: &PointSet, n: usize) -> PointSet {
    let n_values = values.len();
    let build = |range: std::ops::Range<usize>| {
        let mut out = PointSet::with_capacity(n, range.len() * n_values);
        let mut sum = vec![Utility::ZERO; n];
        for parent in range {
            let p = front.point(parent);
            for v in 0..n_values {
                for ((slot, a), b) in sum.iter_mut().zip(p).zip(values.point(v)) {
                    *slot = a.add(*b);
                }
                out.push(&sum, (parent * n_values + v) as u64);
            }
        }
        out
    };
    if front.len() * n_values < 1 << 16 {
        return build(0..front.len());
    }
    let per_chunk = ((1 << 15) / n_values).max(1);
    let parts: Vec<PointSet> = (0..front.len().div_ceil(per_chunk))
        .into_par_iter()
        .map(|c| build(c * per_chunk..((c + 1) * per_chunk).min(front.len())))
        .collect();
    let mut all = PointSet::with_capacity(n, front.len() * n_values);
    for part in &parts {
        for k in 0..part.len() {
            all.push(part.point(k), part.tag(k));
        }
    }
    all
}
