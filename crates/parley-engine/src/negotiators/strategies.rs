//! Built-in party strategies.
//!
//! - Time-based concession (Faratin, Sierra & Jennings, "Negotiation decision functions
//!   for autonomous agents", 1998): the target utility falls from the best to the
//!   reservation value as `target(t) = max − (max − min)·t^(1/e)`; `e < 1` is Boulware
//!   (concedes late), `e = 1` linear, `e > 1` Conceder, `e = 0` a hardliner.
//! - Relative tit-for-tat (Faratin et al. 1998, imitative tactics): concede as much, in
//!   one's own utility, as the others conceded.
//! - Frequency opponent model (as in HardHeaded, ANAC 2011, and Baarslag et al.,
//!   "Learning about the opponent in automated bilateral negotiation", 2016): issues whose
//!   values an opponent changes rarely weigh more; values it offers often are worth more
//!   to it; among my bids above target, offer the one it likely values most.
//! - Acceptance conditions (Baarslag et al., "Acceptance conditions in automated
//!   negotiation", 2011): AC_next (accept what beats my next bid), AC_const(α), and
//!   AC_next ∨ AC_time(T).

use rand::rngs::SmallRng;
use rand::Rng;

use std::sync::Arc;

use super::bids::BidSpace;
use crate::events::{Event, EventKind};
use crate::negotiator::{Action, Negotiator, PartyContext, State};

/// When to accept an offer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Acceptance {
    /// AC_next: when it is at least as good as my next bid.
    Next,
    /// AC_const: when it is worth at least this much.
    Threshold(f64),
    /// AC_next, or anything above my reservation value after this normalised time.
    NextOrAfter(f64),
}

impl Acceptance {
    fn accepts(self, offered: f64, next_bid: f64, reservation: f64, time: f64) -> bool {
        if offered < reservation {
            return false;
        }
        match self {
            Acceptance::Next => offered >= next_bid,
            Acceptance::Threshold(alpha) => offered >= alpha,
            Acceptance::NextOrAfter(t) => offered >= next_bid || time >= t,
        }
    }

    fn describe(self) -> String {
        match self {
            Acceptance::Next => String::new(),
            Acceptance::Threshold(a) => format!(":accept={a}"),
            Acceptance::NextOrAfter(t) => format!(":after={t}"),
        }
    }
}

/// The lowest utility a strategy concedes to: its reservation value, or the worst bid.
fn floor(bids: &BidSpace, reservation: f64) -> f64 {
    reservation.max(bids.worst()).min(bids.best())
}

/// The party's bid space: from the session's shared cache if it has one, else built;
/// either way on first use.
fn bid_space<'b>(slot: &'b mut Option<Arc<BidSpace>>, ctx: &PartyContext<'_>) -> &'b BidSpace {
    slot.get_or_insert_with(|| match ctx.bids {
        Some(cache) => cache.get(ctx),
        None => Arc::new(BidSpace::new(ctx)),
    })
}

/// Faratin's time-dependent target: `max − (max − min)·t^(1/e)`; `e = 0` never concedes.
fn time_target(bids: &BidSpace, reservation: f64, exponent: f64, t: f64) -> f64 {
    let (max, min) = (bids.best(), floor(bids, reservation));
    let concession = if exponent == 0.0 {
        0.0
    } else {
        t.clamp(0.0, 1.0).powf(1.0 / exponent)
    };
    max - (max - min) * concession
}

/// A bid near `target` and its utility.
fn bid_near(bids: &BidSpace, target: f64, rng: &mut SmallRng) -> (Vec<u32>, f64) {
    let k = bids.near(target, 0.01, rng);
    (bids.outcome(k).to_vec(), bids.utility(k))
}

/// Strategies that bid towards a target utility act, propose and vote alike.
trait Bidding {
    fn acceptance(&self) -> Acceptance;
    /// The utility the strategy aims at now.
    fn target(&mut self, ctx: &PartyContext<'_>, t: f64) -> f64;
    /// The next bid and its utility.
    fn next_bid(&mut self, ctx: &PartyContext<'_>, t: f64) -> (Vec<u32>, f64);
    /// Whether it accepts a text merely because it is no worse than the last accepted one.
    fn climbs(&self) -> bool {
        true
    }

    fn act_on(
        &mut self,
        ctx: &PartyContext<'_>,
        state: &State,
        standing: Option<&[u32]>,
    ) -> Action {
        let (bid, bid_utility) = self.next_bid(ctx, state.time);
        if let Some(offer) = standing {
            let offered = ctx.utility.value(offer);
            if self
                .acceptance()
                .accepts(offered, bid_utility, ctx.reservation, state.time)
            {
                return Action::Accept;
            }
        }
        Action::Offer(bid)
    }

    /// Accept a mediator's text when it is above the reservation value and either above
    /// the current target or no worse than the text everyone last accepted.
    fn vote_on(
        &mut self,
        ctx: &PartyContext<'_>,
        state: &State,
        text: &[u32],
        current: Option<&[u32]>,
    ) -> bool {
        let target = self.target(ctx, state.time);
        let u = ctx.utility.value(text);
        let no_worse = self.climbs() && current.is_some_and(|c| u >= ctx.utility.value(c));
        u >= ctx.reservation && (u >= target || no_worse)
    }
}

/// Implements `act`, `propose` and `vote` of [`Negotiator`] through [`Bidding`].
macro_rules! bidding_negotiator {
    () => {
        fn act(
            &mut self,
            ctx: &PartyContext<'_>,
            state: &State,
            standing: Option<&[u32]>,
        ) -> Action {
            self.act_on(ctx, state, standing)
        }

        fn propose(&mut self, ctx: &PartyContext<'_>, state: &State) -> Option<Vec<u32>> {
            Some(self.next_bid(ctx, state.time).0)
        }

        fn vote(
            &mut self,
            ctx: &PartyContext<'_>,
            state: &State,
            text: &[u32],
            current: Option<&[u32]>,
        ) -> bool {
            self.vote_on(ctx, state, text, current)
        }
    };
}

/// Time-based concession (Boulware, linear, Conceder, hardliner).
pub struct TimeBased {
    name: String,
    exponent: f64,
    acceptance: Acceptance,
    rng: SmallRng,
    bids: Option<Arc<BidSpace>>,
}

impl TimeBased {
    /// A time-based negotiator with concession exponent `e`.
    pub fn new(name: &str, exponent: f64, acceptance: Acceptance, rng: SmallRng) -> TimeBased {
        TimeBased {
            name: name.to_string(),
            exponent,
            acceptance,
            rng,
            bids: None,
        }
    }
}

impl Bidding for TimeBased {
    fn acceptance(&self) -> Acceptance {
        self.acceptance
    }

    /// A hardliner accepts nothing but its best.
    fn climbs(&self) -> bool {
        self.exponent != 0.0
    }

    fn target(&mut self, ctx: &PartyContext<'_>, t: f64) -> f64 {
        time_target(
            bid_space(&mut self.bids, ctx),
            ctx.reservation,
            self.exponent,
            t,
        )
    }

    fn next_bid(&mut self, ctx: &PartyContext<'_>, t: f64) -> (Vec<u32>, f64) {
        let target = self.target(ctx, t);
        bid_near(bid_space(&mut self.bids, ctx), target, &mut self.rng)
    }
}

impl Negotiator for TimeBased {
    fn name(&self) -> String {
        let e = if self.name == "hardliner" {
            String::new()
        } else {
            format!(":e={}", self.exponent)
        };
        format!("{}{e}{}", self.name, self.acceptance.describe())
    }

    fn init(&mut self, ctx: &PartyContext<'_>) {
        bid_space(&mut self.bids, ctx);
    }

    bidding_negotiator!();
}

/// Offers random outcomes it can live with; accepts anything above its reservation value
/// with probability one half.
pub struct RandomNegotiator {
    rng: SmallRng,
}

impl RandomNegotiator {
    /// A random negotiator.
    pub fn new(rng: SmallRng) -> RandomNegotiator {
        RandomNegotiator { rng }
    }

    fn random_bid(&mut self, ctx: &PartyContext<'_>) -> Vec<u32> {
        let cards = ctx.space.cardinalities();
        let mut outcome = vec![0u32; cards.len()];
        for _ in 0..64 {
            for (v, &c) in outcome.iter_mut().zip(&cards) {
                *v = self.rng.gen_range(0..c);
            }
            if ctx.utility.value(&outcome) >= ctx.reservation {
                break;
            }
        }
        outcome
    }
}

impl Negotiator for RandomNegotiator {
    fn name(&self) -> String {
        "random".into()
    }

    fn act(&mut self, ctx: &PartyContext<'_>, _state: &State, standing: Option<&[u32]>) -> Action {
        if let Some(offer) = standing {
            if ctx.utility.value(offer) >= ctx.reservation && self.rng.gen_bool(0.5) {
                return Action::Accept;
            }
        }
        Action::Offer(self.random_bid(ctx))
    }

    fn propose(&mut self, ctx: &PartyContext<'_>, _state: &State) -> Option<Vec<u32>> {
        Some(self.random_bid(ctx))
    }

    fn vote(
        &mut self,
        ctx: &PartyContext<'_>,
        _state: &State,
        text: &[u32],
        _current: Option<&[u32]>,
    ) -> bool {
        ctx.utility.value(text) >= ctx.reservation && self.rng.gen_bool(0.5)
    }
}

/// Relative tit-for-tat: concedes, in its own utility, what the others conceded since
/// their first offer; never below its reservation value.
pub struct TitForTat {
    acceptance: Acceptance,
    rng: SmallRng,
    bids: Option<Arc<BidSpace>>,
    /// My utility of the others' first and best offers so far.
    first_seen: Option<f64>,
    best_seen: f64,
}

impl TitForTat {
    /// A tit-for-tat negotiator.
    pub fn new(acceptance: Acceptance, rng: SmallRng) -> TitForTat {
        TitForTat {
            acceptance,
            rng,
            bids: None,
            first_seen: None,
            best_seen: f64::NEG_INFINITY,
        }
    }

    fn heard(&mut self, ctx: &PartyContext<'_>, outcome: &[u32]) {
        let u = ctx.utility.value(outcome);
        self.first_seen.get_or_insert(u);
        self.best_seen = self.best_seen.max(u);
    }
}

impl Bidding for TitForTat {
    fn acceptance(&self) -> Acceptance {
        self.acceptance
    }

    fn target(&mut self, ctx: &PartyContext<'_>, _t: f64) -> f64 {
        let conceded = self
            .first_seen
            .map_or(0.0, |first| (self.best_seen - first).max(0.0));
        let bids = bid_space(&mut self.bids, ctx);
        (bids.best() - conceded).max(floor(bids, ctx.reservation))
    }

    fn next_bid(&mut self, ctx: &PartyContext<'_>, t: f64) -> (Vec<u32>, f64) {
        let target = self.target(ctx, t);
        bid_near(bid_space(&mut self.bids, ctx), target, &mut self.rng)
    }
}

impl Negotiator for TitForTat {
    fn name(&self) -> String {
        format!("tit-for-tat{}", self.acceptance.describe())
    }

    fn observe(&mut self, ctx: &PartyContext<'_>, event: &Event) {
        match &event.kind {
            EventKind::Offer { from, outcome } if *from != ctx.index => self.heard(ctx, outcome),
            // In mediated talks, the texts put to me stand for the others' positions.
            EventKind::Carry { outcome, .. } | EventKind::Text { outcome } => {
                self.heard(ctx, outcome)
            }
            _ => {}
        }
    }

    bidding_negotiator!();
}

/// Learns each other party's issue weights and value preferences from its offers and
/// offers, among its own bids above a Boulware-style target, the one the others likely
/// value most.
pub struct FrequencyModel {
    exponent: f64,
    acceptance: Acceptance,
    bids: Option<Arc<BidSpace>>,
    /// Per other party: per issue, per value, how often it offered it.
    counts: Vec<Vec<Vec<u32>>>,
    /// Per other party: per issue, how often its value changed between offers.
    changes: Vec<Vec<u32>>,
    last: Vec<Option<Vec<u32>>>,
}

/// Bids considered per turn.
const CANDIDATES: usize = 64;

impl FrequencyModel {
    /// A frequency-model negotiator with concession exponent `e` (deterministic: it
    /// picks the candidate the others are predicted to like best).
    pub fn new(exponent: f64, acceptance: Acceptance) -> FrequencyModel {
        FrequencyModel {
            exponent,
            acceptance,
            bids: None,
            counts: Vec::new(),
            changes: Vec::new(),
            last: Vec::new(),
        }
    }

    /// The modelled utility of `outcome` for party `p`, in [0, 1].
    pub fn predicted(&self, p: usize, outcome: &[u32]) -> f64 {
        let Some(counts) = self.counts.get(p) else {
            return 0.0;
        };
        let weights: Vec<f64> = self.changes[p]
            .iter()
            .map(|&c| 1.0 / (1.0 + c as f64))
            .collect();
        let total: f64 = weights.iter().sum();
        outcome
            .iter()
            .enumerate()
            .map(|(issue, &v)| {
                let row = &counts[issue];
                let max = row.iter().copied().max().unwrap_or(0) as f64;
                let score = (row[v as usize] as f64 + 1.0) / (max + 1.0);
                weights[issue] / total * score
            })
            .sum()
    }

    fn learn(&mut self, from: usize, outcome: &[u32]) {
        if let Some(counts) = self.counts.get_mut(from) {
            for (issue, &v) in outcome.iter().enumerate() {
                counts[issue][v as usize] += 1;
            }
            if let Some(last) = &self.last[from] {
                for (issue, (&a, &b)) in last.iter().zip(outcome).enumerate() {
                    if a != b {
                        self.changes[from][issue] += 1;
                    }
                }
            }
            self.last[from] = Some(outcome.to_vec());
        }
    }
}

impl Bidding for FrequencyModel {
    fn acceptance(&self) -> Acceptance {
        self.acceptance
    }

    fn target(&mut self, ctx: &PartyContext<'_>, t: f64) -> f64 {
        time_target(
            bid_space(&mut self.bids, ctx),
            ctx.reservation,
            self.exponent,
            t,
        )
    }

    fn next_bid(&mut self, ctx: &PartyContext<'_>, t: f64) -> (Vec<u32>, f64) {
        let target = self.target(ctx, t);
        let bids = self.bids.as_ref().expect("target() built the bid space");
        let count = bids.count_at_least(target).max(1);
        // Of the CANDIDATES bids closest above the target (where I concede least), the
        // one the others likely value most.
        let first = count.saturating_sub(CANDIDATES);
        let mut best = (count - 1, f64::NEG_INFINITY);
        for k in first..count {
            let outcome = bids.outcome(k);
            let score: f64 = (0..ctx.n_parties)
                .filter(|&p| p != ctx.index)
                .map(|p| self.predicted(p, outcome))
                .sum();
            if score > best.1 {
                best = (k, score);
            }
        }
        (bids.outcome(best.0).to_vec(), bids.utility(best.0))
    }
}

impl Negotiator for FrequencyModel {
    fn name(&self) -> String {
        format!(
            "frequency:e={}{}",
            self.exponent,
            self.acceptance.describe()
        )
    }

    fn init(&mut self, ctx: &PartyContext<'_>) {
        let cards = ctx.space.cardinalities();
        self.counts = (0..ctx.n_parties)
            .map(|_| cards.iter().map(|&c| vec![0; c as usize]).collect())
            .collect();
        self.changes = vec![vec![0; cards.len()]; ctx.n_parties];
        self.last = vec![None; ctx.n_parties];
        bid_space(&mut self.bids, ctx);
    }

    fn observe(&mut self, ctx: &PartyContext<'_>, event: &Event) {
        if let EventKind::Offer { from, outcome } = &event.kind {
            if *from != ctx.index {
                self.learn(*from, outcome);
            }
        }
    }

    bidding_negotiator!();
}
