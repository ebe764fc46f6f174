//! Exact frontier by streaming enumeration of the outcome space.
//!
//! Works for any utility function. The space is cut into chunks of consecutive
//! outcome indices (mixed radix, last issue fastest); each chunk is enumerated with an
//! odometer into a reused buffer and filtered to its local frontier on a rayon
//! worker, and the local frontiers are merged. Memory is O(chunk + frontier).

use rayon::prelude::*;

use super::domain::Domain;
use super::frontier::{merge, nondominated, PointSet};
use crate::exact::Utility;
use crate::ufun::CompiledUtility;

const CHUNK: u64 = 1 << 15;

/// Decodes outcome `index` (last issue fastest) into value indices.
pub fn decode(mut index: u64, cards: &[u32], outcome: &mut [u32]) {
    for (slot, &card) in outcome.iter_mut().zip(cards).rev() {
        *slot = (index % card as u64) as u32;
        index /= card as u64;
    }
}

/// The frontier of every outcome in `domain`; tags are indices in the domain (decode
/// them with [`Domain::decode`]).
pub(crate) fn enumerate_frontier(
    ufuns: &[CompiledUtility],
    domain: &Domain,
    count: u64,
) -> PointSet {
    let n = ufuns.len();
    let cards = domain.cards();
    (0..count.div_ceil(CHUNK))
        .into_par_iter()
        .map_init(
            || {
                (
                    PointSet::with_capacity(n, CHUNK as usize),
                    vec![0u32; cards.len()],
                    vec![0u32; cards.len()],
                    vec![Utility::ZERO; n],
                )
            },
            |(buffer, ks, outcome, utils), chunk| {
                buffer.clear();
                let start = chunk * CHUNK;
                let end = (start + CHUNK).min(count);
                decode(start, cards, ks);
                domain.decode(start, outcome);
                for index in start..end {
                    for (slot, ufun) in utils.iter_mut().zip(ufuns) {
                        *slot = ufun.eval(outcome);
                    }
                    buffer.push(utils, index);
                    odometer(domain, ks, outcome);
                }
                nondominated(buffer)
            },
        )
        .reduce(|| PointSet::new(n), |a, b| merge(a, &b))
}

/// Steps `ks` (positions in the domain, last issue fastest) to the next outcome and
/// keeps `outcome` (value indices) in step.
#[inline]
pub(crate) fn odometer(domain: &Domain, ks: &mut [u32], outcome: &mut [u32]) {
    let cards = domain.cards();
    for issue in (0..ks.len()).rev() {
        ks[issue] += 1;
        if ks[issue] < cards[issue] {
            outcome[issue] = domain.value(issue, ks[issue]);
            break;
        }
        ks[issue] = 0;
        outcome[issue] = domain.value(issue, 0);
    }
}
