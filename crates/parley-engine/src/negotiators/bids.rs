//! A party's own outcomes sorted by its own utility, for bidding.

use std::sync::{Arc, OnceLock};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::negotiator::PartyContext;

/// Spaces up to this size are enumerated; larger ones are sampled.
const MAX_BIDS: u64 = 200_000;

/// Outcomes sorted by the party's utility, best first.
pub struct BidSpace {
    n_issues: usize,
    outcomes: Vec<u32>,
    utils: Vec<f64>,
}

/// Bid spaces shared by the sessions of one scenario: built once per party, on first
/// use, and then shared (a bid space depends only on the party's own preferences).
/// Pass one in [`crate::SessionConfig::bids`] to every session of the same scenario.
pub struct BidCache {
    parties: Vec<OnceLock<Arc<BidSpace>>>,
}

impl BidCache {
    /// An empty cache for a scenario of `n_parties` parties.
    pub fn new(n_parties: usize) -> BidCache {
        BidCache {
            parties: (0..n_parties).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The bid space of the party of `ctx`. Only the engine calls this, with the
    /// context it built for that party, so no strategy can read or fill another
    /// party's slot.
    pub(crate) fn get(&self, ctx: &PartyContext<'_>) -> Arc<BidSpace> {
        match self.parties.get(ctx.index()) {
            Some(slot) => slot.get_or_init(|| Arc::new(BidSpace::new(ctx))).clone(),
            None => Arc::new(BidSpace::new(ctx)),
        }
    }
}

impl std::fmt::Debug for BidCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BidCache")
            .field("parties", &self.parties.len())
            .finish()
    }
}

impl BidSpace {
    /// Enumerates (or, for large spaces, samples and hill-climbs) the party's outcomes
    /// that cross none of its red lines.
    /// The sample is seeded by the party's index, so that a bid space depends on the
    /// party's preferences only and can be shared between sessions.
    pub fn new(ctx: &PartyContext<'_>) -> BidSpace {
        let cards = ctx.space().cardinalities();
        let n_issues = cards.len();
        let count = ctx.space().outcome_count().as_u64().unwrap_or(u64::MAX);
        let mut outcome = vec![0u32; n_issues];
        if count <= MAX_BIDS {
            // Sort (utility, index) pairs, then decode the indices in order: no
            // unsorted copy of the outcomes is made.
            let mut order: Vec<(f64, u32)> = (0..count)
                .filter_map(|index| {
                    parley_core::analysis::decode(index, &cards, &mut outcome);
                    (!ctx.crosses_red_line(&outcome))
                        .then(|| (ctx.utility().value(&outcome), index as u32))
                })
                .collect();
            order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut outcomes = vec![0u32; order.len() * n_issues];
            let mut utils = Vec::with_capacity(order.len());
            for (chunk, &(u, index)) in outcomes.chunks_exact_mut(n_issues.max(1)).zip(&order) {
                parley_core::analysis::decode(u64::from(index), &cards, chunk);
                utils.push(u);
            }
            return BidSpace {
                n_issues,
                outcomes,
                utils,
            };
        }
        // A sample of random outcomes, plus the party's best outcome found by
        // coordinate ascent from a random start; all of them across none of its red
        // lines (which refuse values issue by issue).
        let allowed = ctx.red_lines().allowed_values(n_issues);
        let draw = |rng: &mut SmallRng, issue: usize| match &allowed[issue] {
            Some(values) => values[rng.gen_range(0..values.len())],
            None => rng.gen_range(0..cards[issue]),
        };
        let mut rng = SmallRng::seed_from_u64(0x5EED_B1D5 ^ ctx.index() as u64);
        let mut outcomes: Vec<u32> = Vec::with_capacity((MAX_BIDS / 4 + 1) as usize * n_issues);
        for _ in 0..MAX_BIDS / 4 {
            for (issue, v) in outcome.iter_mut().enumerate() {
                *v = draw(&mut rng, issue);
            }
            outcomes.extend_from_slice(&outcome);
        }
        for (issue, v) in outcome.iter_mut().enumerate() {
            *v = draw(&mut rng, issue);
        }
        let mut best = ctx.utility().value(&outcome);
        loop {
            let mut improved = false;
            for issue in 0..n_issues {
                let keep = outcome[issue];
                for value in (0..cards[issue]).filter(|&v| ctx.red_lines().allows(issue, v)) {
                    outcome[issue] = value;
                    let u = ctx.utility().value(&outcome);
                    if u > best + 1e-12 {
                        best = u;
                        improved = true;
                    } else {
                        outcome[issue] = keep;
                    }
                }
            }
            if !improved {
                break;
            }
        }
        outcomes.extend_from_slice(&outcome);
        let n = outcomes.len() / n_issues.max(1);
        let mut order: Vec<(f64, u32)> = (0..n)
            .map(|k| {
                (
                    ctx.utility()
                        .value(&outcomes[k * n_issues..(k + 1) * n_issues]),
                    k as u32,
                )
            })
            .collect();
        order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut sorted = Vec::with_capacity(outcomes.len());
        let mut utils = Vec::with_capacity(n);
        for (u, k) in order {
            utils.push(u);
            sorted.extend_from_slice(&outcomes[k as usize * n_issues..(k as usize + 1) * n_issues]);
        }
        BidSpace {
            n_issues,
            outcomes: sorted,
            utils,
        }
    }

    /// The number of bids.
    pub fn len(&self) -> usize {
        self.utils.len()
    }

    /// Whether there is no bid (every outcome crosses a red line).
    pub fn is_empty(&self) -> bool {
        self.utils.is_empty()
    }

    /// The best utility.
    pub fn best(&self) -> f64 {
        self.utils.first().copied().unwrap_or(0.0)
    }

    /// The worst utility.
    pub fn worst(&self) -> f64 {
        self.utils.last().copied().unwrap_or(0.0)
    }

    /// Bid `k` (0 = best).
    pub fn outcome(&self, k: usize) -> &[u32] {
        &self.outcomes[k * self.n_issues..(k + 1) * self.n_issues]
    }

    /// Utility of bid `k`.
    pub fn utility(&self, k: usize) -> f64 {
        self.utils[k]
    }

    /// The number of bids with utility ≥ `target` (they are bids `0..count`).
    pub fn count_at_least(&self, target: f64) -> usize {
        self.utils.partition_point(|&u| u >= target)
    }

    /// A bid whose utility is the smallest at or above `target` (the best bid when
    /// none reaches it); ties within `spread` are broken at random.
    pub fn near(&self, target: f64, spread: f64, rng: &mut SmallRng) -> usize {
        let count = self.count_at_least(target);
        if count == 0 {
            return 0;
        }
        let floor = self.utils[count - 1];
        let first = self.utils.partition_point(|&u| u > floor + spread);
        if first >= count {
            count - 1
        } else {
            rng.gen_range(first..count)
        }
    }
}
