//! Exact frontier by streaming enumeration of the outcome space.
//!
//! Works for any utility function. The space is cut into chunks of consecutive
//! outcome indices (mixed radix, last issue fastest); each chunk is enumerated with an
//! odometer into a reused buffer and filtered to its local frontier on a rayon
//! worker, and the local frontiers are merged. Memory is O(chunk + frontier).

use rayon::prelude::*;

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

/// The frontier of the whole space; tags are outcome indices.
pub fn enumerate_frontier(ufuns: &[CompiledUtility], cards: &[u32], count: u64) -> PointSet {
    let n = ufuns.len();
    (0..count.div_ceil(CHUNK))
        .into_par_iter()
        .map_init(
            || {
                (
                    PointSet::with_capacity(n, CHUNK as usize),
                    vec![0u32; cards.len()],
                    vec![Utility::ZERO; n],
                )
            },
            |(buffer, outcome, utils), chunk| {
                buffer.clear();
                let start = chunk * CHUNK;
                let end = (start + CHUNK).min(count);
                decode(start, cards, outcome);
                for index in start..end {
                    for (slot, ufun) in utils.iter_mut().zip(ufuns) {
                        *slot = ufun.eval(outcome);
                    }
                    buffer.push(utils, index);
                    // Odometer: last issue fastest.
                    for (value, &card) in outcome.iter_mut().zip(cards).rev() {
                        *value += 1;
                        if *value < card {
                            break;
                        }
                        *value = 0;
                    }
                }
                nondominated(buffer)
            },
        )
        .reduce(|| PointSet::new(n), |a, b| merge(a, &b))
}
