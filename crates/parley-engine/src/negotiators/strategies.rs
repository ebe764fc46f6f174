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
//!
//! Under mediation they read the texts they are shown (`docs/negotiators.md`): a text
//! is accepted when it is worth the current target; after a deal, a text is accepted
//! when it is no worse than the deal; in the direct phase of staged talks the
//! mediator's text is the default, offered back once the target falls to it, and
//! never undercut by a counter-offer; tit-for-tat mirrors the texts' movement towards
//! it; the frequency model learns from texts as from offers.

use rand::rngs::SmallRng;
use rand::Rng;

use std::sync::Arc;

use super::bids::BidSpace;
use crate::events::{Event, EventKind, Phase};
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

/// From this normalised time on, a default in direct talks no longer holds acceptance up.
const LATE: f64 = 0.95;

/// The lowest utility a strategy concedes to: its reservation value, or the worst bid.
fn floor(bids: &BidSpace, reservation: f64) -> f64 {
    reservation.max(bids.worst()).min(bids.best())
}

/// The party's bid space: from the session's shared cache if it has one, else built;
/// either way on first use.
fn bid_space<'b>(slot: &'b mut Option<Arc<BidSpace>>, ctx: &PartyContext<'_>) -> &'b BidSpace {
    slot.get_or_insert_with(|| ctx.bid_space())
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
    /// The mediator's text in the direct phase of staged talks, if one stands as the
    /// default.
    fn default_text(&self) -> Option<&[u32]>;

    /// Whether it takes only texts at its target, never merely as good as the
    /// single-text reference (a hardliner).
    fn hard(&self) -> bool {
        false
    }

    fn act_on(
        &mut self,
        ctx: &PartyContext<'_>,
        state: &State,
        standing: Option<&[u32]>,
    ) -> Action {
        let (mut bid, mut bid_utility) = self.next_bid(ctx, state.time);
        // In staged talks the default is there to be taken: once the target falls to
        // it, offer it back instead of anything worse (counter-offers may not undercut
        // it), and accept nothing worse either, until the last stretch of the talks
        // (from `LATE`), when the target alone decides, so that a default the others
        // never take cannot stall the talks.
        let mut accept_at = bid_utility;
        // (Never a default worth less than walking away now: what the alternative is
        // worth may have risen since the default was tabled.)
        let walk_away = ctx.reservation_at(state.time);
        if let Some(worth) = self
            .default_text()
            .map(|d| ctx.utility().value(d))
            .filter(|&w| w >= walk_away)
        {
            if bid_utility <= worth || self.target(ctx, state.time) <= worth {
                if let Some(default) = self.default_text() {
                    bid = default.to_vec();
                    bid_utility = worth;
                }
            }
            if state.time < LATE {
                accept_at = bid_utility;
            }
        }
        if let Some(offer) = standing.filter(|o| !ctx.crosses_red_line(o)) {
            let offered = ctx.utility().value(offer);
            if self.acceptance().accepts(
                offered,
                accept_at,
                ctx.reservation_at(state.time),
                state.time,
            ) {
                return Action::Accept;
            }
        }
        // Nothing it could offer is worth what walking away pays now (its alternative
        // beats every deal): it walks away rather than propose less.
        if bid_utility < walk_away {
            return Action::WalkAway;
        }
        Action::Offer(bid)
    }

    /// During the talks, accept a mediator's text when it is worth at least the
    /// current target or, in single-text talks, no worse than the reference text (and
    /// never below the reservation value); after a deal, accept a text no worse than
    /// the deal.
    fn vote_on(
        &mut self,
        ctx: &PartyContext<'_>,
        state: &State,
        text: &[u32],
        current: Option<&[u32]>,
    ) -> bool {
        let hard = self.hard();
        vote_rule(ctx, state, text, current, !hard, || {
            self.target(ctx, state.time)
        })
    }
}

/// Every built-in's vote on a mediator's text: never one it cannot accept (below
/// walking away, across a red line); after a deal, a text no worse than the deal
/// (compared exactly); else a text worth its current target (`target`, asked only
/// when needed) or, when `reference_suffices`, no worse than the single-text
/// reference.
pub(super) fn vote_rule(
    ctx: &PartyContext<'_>,
    state: &State,
    text: &[u32],
    current: Option<&[u32]>,
    reference_suffices: bool,
    target: impl FnOnce() -> f64,
) -> bool {
    if !ctx.acceptable(text, state.time) {
        return false;
    }
    let u = ctx.utility().value(text);
    match (state.phase, current) {
        (Phase::PostSettlement, Some(deal)) => ctx.utility().eval(text) >= ctx.utility().eval(deal),
        (_, Some(reference)) => {
            (reference_suffices && u >= ctx.utility().value(reference)) || u >= target()
        }
        (_, None) => u >= target(),
    }
}

/// What a strategy keeps of the mediation it takes part in: the text that stands as
/// the default in the direct phase of staged talks.
#[derive(Debug, Default)]
struct Mediation {
    default: Option<Vec<u32>>,
}

impl Mediation {
    fn observe(&mut self, event: &Event) {
        if let EventKind::Default { outcome } = &event.kind {
            self.default = Some(outcome.clone());
        }
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
            // Never a proposal worth less than walking away now: say nothing instead.
            let (bid, utility) = self.next_bid(ctx, state.time);
            (utility >= ctx.reservation_at(state.time)).then_some(bid)
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
    mediation: Mediation,
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
            mediation: Mediation::default(),
        }
    }
}

impl Bidding for TimeBased {
    fn acceptance(&self) -> Acceptance {
        self.acceptance
    }

    fn default_text(&self) -> Option<&[u32]> {
        self.mediation.default.as_deref()
    }

    fn hard(&self) -> bool {
        self.exponent == 0.0
    }

    fn target(&mut self, ctx: &PartyContext<'_>, t: f64) -> f64 {
        time_target(
            bid_space(&mut self.bids, ctx),
            ctx.reservation_at(t),
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

    fn observe(&mut self, _ctx: &PartyContext<'_>, event: &Event) {
        self.mediation.observe(event);
    }

    bidding_negotiator!();
}

/// Offers random outcomes it can live with; accepts anything above its reservation value
/// with probability one half.
pub struct RandomNegotiator {
    rng: SmallRng,
    mediation: Mediation,
}

impl RandomNegotiator {
    /// A random negotiator.
    pub fn new(rng: SmallRng) -> RandomNegotiator {
        RandomNegotiator {
            rng,
            mediation: Mediation::default(),
        }
    }

    /// A random outcome worth at least its reservation value (and, in the direct phase
    /// of staged talks, at least the default, which it offers when no random draw is).
    fn random_bid(&mut self, ctx: &PartyContext<'_>, t: f64) -> Vec<u32> {
        let floor = match &self.mediation.default {
            Some(default) => ctx.reservation_at(t).max(ctx.utility().value(default)),
            None => ctx.reservation_at(t),
        };
        let cards = ctx.space().cardinalities();
        let mut outcome = vec![0u32; cards.len()];
        for _ in 0..64 {
            for (v, &c) in outcome.iter_mut().zip(&cards) {
                *v = self.rng.gen_range(0..c);
            }
            if ctx.utility().value(&outcome) >= floor && !ctx.crosses_red_line(&outcome) {
                return outcome;
            }
        }
        if let Some(default) = self
            .mediation
            .default
            .as_ref()
            .filter(|d| ctx.acceptable(d, t))
        {
            return default.clone();
        }
        // Few outcomes reach the floor: one of those, from its own bid space (the best
        // when none does), never a bid below what walking away pays.
        let bids = ctx.bid_space();
        match bids.count_at_least(floor) {
            0 => bids.outcome(0).to_vec(),
            count => bids.outcome(self.rng.gen_range(0..count)).to_vec(),
        }
    }
}

impl Negotiator for RandomNegotiator {
    fn name(&self) -> String {
        "random".into()
    }

    fn observe(&mut self, _ctx: &PartyContext<'_>, event: &Event) {
        self.mediation.observe(event);
    }

    fn act(&mut self, ctx: &PartyContext<'_>, state: &State, standing: Option<&[u32]>) -> Action {
        if let Some(offer) = standing {
            if ctx.acceptable(offer, state.time) && self.rng.gen_bool(0.5) {
                return Action::Accept;
            }
        }
        let bid = self.random_bid(ctx, state.time);
        if ctx.utility().value(&bid) < ctx.reservation_at(state.time) {
            // Its alternative beats every deal it could find: it walks away.
            return Action::WalkAway;
        }
        Action::Offer(bid)
    }

    fn propose(&mut self, ctx: &PartyContext<'_>, state: &State) -> Option<Vec<u32>> {
        let bid = self.random_bid(ctx, state.time);
        (ctx.utility().value(&bid) >= ctx.reservation_at(state.time)).then_some(bid)
    }

    fn vote(
        &mut self,
        ctx: &PartyContext<'_>,
        state: &State,
        text: &[u32],
        _current: Option<&[u32]>,
    ) -> bool {
        ctx.acceptable(text, state.time) && self.rng.gen_bool(0.5)
    }
}

/// Relative tit-for-tat: concedes, in its own utility, what the others conceded since
/// their first offer; never below its reservation value.
///
/// Under mediation the others' offers are hidden: the texts put to it stand for their
/// position, and their movement towards it is the concession it mirrors, measured from
/// the first text. When it has confided its preferences, the texts are built for it as
/// well as for the others, and it measures their movement from its worst outcome (where
/// an opponent's hidden opening offer typically leaves it), so that a mediator's
/// compromise counts as the concession it embodies. Once talks are direct, it mirrors
/// the others' offers as well, on top of what the texts already moved (texts measured
/// from its worst outcome count there only while a default text stands).
pub struct TitForTat {
    acceptance: Acceptance,
    rng: SmallRng,
    bids: Option<Arc<BidSpace>>,
    /// My utility of the others' first and best offers so far.
    offers: Movement,
    /// My utility of the first and best texts the mediator put to me.
    texts: Movement,
    mediation: Mediation,
    confided: bool,
    phase: Phase,
}

impl TitForTat {
    /// A tit-for-tat negotiator.
    pub fn new(acceptance: Acceptance, rng: SmallRng) -> TitForTat {
        TitForTat {
            acceptance,
            rng,
            bids: None,
            offers: Movement::default(),
            texts: Movement::default(),
            mediation: Mediation::default(),
            confided: false,
            phase: Phase::Direct,
        }
    }

    fn heard(&mut self, ctx: &PartyContext<'_>, outcome: &[u32], from_mediator: bool) {
        let u = ctx.utility().value(outcome);
        if from_mediator {
            let opening = if self.confided {
                bid_space(&mut self.bids, ctx).worst().min(u)
            } else {
                u
            };
            self.texts.heard(u, opening);
        } else {
            self.offers.heard(u, u);
        }
    }
}

/// How far what a party is shown moved towards it: from the first to the best, in its
/// own utility.
#[derive(Debug, Default)]
struct Movement {
    first: Option<f64>,
    best: f64,
}

impl Movement {
    /// Hears an outcome worth `u`; `opening` is what the first one counts as.
    fn heard(&mut self, u: f64, opening: f64) {
        if self.first.is_none() {
            self.first = Some(opening);
            self.best = u;
        }
        self.best = self.best.max(u);
    }

    fn moved(&self) -> f64 {
        self.first.map_or(0.0, |first| (self.best - first).max(0.0))
    }
}

impl Bidding for TitForTat {
    fn acceptance(&self) -> Acceptance {
        self.acceptance
    }

    fn default_text(&self) -> Option<&[u32]> {
        self.mediation.default.as_deref()
    }

    /// Concedes what the texts moved towards it in mediated talks plus what the
    /// others' offers moved in direct talks. Texts measured from its worst outcome
    /// (it confided) stop counting in direct talks without a default: no text of the
    /// mediator stands there, so they were positions nobody committed to.
    fn target(&mut self, ctx: &PartyContext<'_>, t: f64) -> f64 {
        let lapsed =
            self.confided && self.phase == Phase::Direct && self.mediation.default.is_none();
        let texts = if lapsed { 0.0 } else { self.texts.moved() };
        let conceded = texts + self.offers.moved();
        let bids = bid_space(&mut self.bids, ctx);
        (bids.best() - conceded).max(floor(bids, ctx.reservation_at(t)))
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
        self.mediation.observe(event);
        match &event.kind {
            EventKind::Offer { from, outcome } if *from != ctx.index() => {
                self.heard(ctx, outcome, false)
            }
            // In mediated talks, the texts put to me stand for the others' positions;
            // once the talks are direct, their own offers do.
            EventKind::Carry { outcome, .. } | EventKind::Text { outcome }
                if self.phase == Phase::Indirect =>
            {
                self.heard(ctx, outcome, true)
            }
            EventKind::Confide { by } if *by == ctx.index() => self.confided = true,
            EventKind::Start { .. } => self.phase = Phase::Indirect,
            EventKind::Phase { to, .. } => self.phase = *to,
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
    mediation: Mediation,
    settled: bool,
    /// The last text put to me, and the one I accepted while the talks are deciding.
    heard_text: Option<Vec<u32>>,
    accepted: Option<Vec<u32>>,
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
            mediation: Mediation::default(),
            settled: false,
            heard_text: None,
            accepted: None,
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

    /// Takes back what a text taught about party `from`'s values (its issue weights,
    /// learnt from changes between its offers, are kept).
    fn unlearn(&mut self, from: usize, outcome: &[u32]) {
        if let Some(counts) = self.counts.get_mut(from) {
            for (issue, &v) in outcome.iter().enumerate() {
                let c = &mut counts[issue][v as usize];
                *c = c.saturating_sub(1);
            }
        }
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

    fn default_text(&self) -> Option<&[u32]> {
        self.mediation.default.as_deref()
    }

    fn target(&mut self, ctx: &PartyContext<'_>, t: f64) -> f64 {
        time_target(
            bid_space(&mut self.bids, ctx),
            ctx.reservation_at(t),
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
            let score: f64 = (0..ctx.n_parties())
                .filter(|&p| p != ctx.index())
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
        let cards = ctx.space().cardinalities();
        self.counts = (0..ctx.n_parties())
            .map(|_| cards.iter().map(|&c| vec![0; c as usize]).collect())
            .collect();
        self.changes = vec![vec![0; cards.len()]; ctx.n_parties()];
        self.last = vec![None; ctx.n_parties()];
        bid_space(&mut self.bids, ctx);
    }

    fn observe(&mut self, ctx: &PartyContext<'_>, event: &Event) {
        self.mediation.observe(event);
        // A text I accepted that the talks went on after was rejected by someone: it
        // was not the others' position after all.
        let went_on = matches!(
            event.kind,
            EventKind::Carry { .. }
                | EventKind::Text { .. }
                | EventKind::Proposal { .. }
                | EventKind::CallDirect { .. }
                | EventKind::Phase { .. }
        );
        if went_on {
            if let Some(failed) = self.accepted.take() {
                for other in (0..ctx.n_parties()).filter(|&p| p != ctx.index()) {
                    self.unlearn(other, &failed);
                }
            }
        }
        match &event.kind {
            EventKind::Offer { from, outcome } if *from != ctx.index() => {
                self.learn(*from, outcome)
            }
            // A mediator's text stands for the others' positions: it is learnt as an
            // offer of each of them (texts after a deal say nothing new).
            EventKind::Carry { outcome, .. }
            | EventKind::Text { outcome }
            | EventKind::Default { outcome }
                if !self.settled =>
            {
                for other in (0..ctx.n_parties()).filter(|&p| p != ctx.index()) {
                    self.learn(other, outcome);
                }
                self.heard_text = Some(outcome.clone());
            }
            EventKind::Vote { by, accept: true } if *by == ctx.index() && !self.settled => {
                self.accepted = self.heard_text.take();
            }
            EventKind::Phase { to, .. } => self.settled = *to == Phase::PostSettlement,
            EventKind::End { .. } => self.accepted = None,
            _ => {}
        }
    }

    bidding_negotiator!();
}
