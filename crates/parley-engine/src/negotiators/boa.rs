//! BOA building blocks (Baarslag, Hindriks, Hendrikx, Dirkzwager & Jonker, "Decoupling
//! negotiating agents to explore the space of negotiation strategies", 2014): what the
//! ANAC classics and `best` are assembled from.
//!
//! - [`Common`]: what a strategy knows of its own session — its sorted bids, what each
//!   other party offered (with its utility to me), what it proposed itself, and an
//!   opponent model per other party ([`OpponentModel`], the frequency model after
//!   HardHeaded and Hindriks & Tykhonov).
//! - [`BayesianModel`]: the Bayesian opponent model of Hindriks & Tykhonov ("Opponent
//!   modelling in automated multi-issue negotiation using Bayesian learning", AAMAS
//!   2008), in its scalable form (one hypothesis space per issue).
//! - Acceptance conditions (Baarslag, Hindriks & Jonker, "Acceptance conditions in
//!   automated negotiation", 2011): [`ac_next`], [`ac_combi_max_w`].
//! - [`ReservationEstimate`]: an opponent's reservation value read off its concession
//!   curve (the approach of the ANL 2024 league, where agents estimate the opponent's
//!   reserved value from its offers): a least-squares fit of
//!   `u(t) = 1 − (1 − r)·t^(1/e)` to the modelled utilities of its offers.
//!
//! [`Classic`] turns a [`Tactic`] (a bidding strategy with its acceptance condition)
//! into a [`Negotiator`] that plays every protocol, and enforces what no built-in may
//! do: propose or accept below what walking away pays at that moment, cross a red line,
//! or undercut a mediator's default text in staged talks.

use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::bids::BidSpace;
use super::model::OpponentModel;
use crate::events::{Event, EventKind, Phase};
use crate::negotiator::{Action, Negotiator, PartyContext, State};

/// One offer heard from another party.
#[derive(Clone, Debug)]
pub struct Heard {
    /// Who offered it.
    pub from: usize,
    /// The outcome.
    pub outcome: Vec<u32>,
    /// Its utility to me.
    pub utility: f64,
    /// When (normalised time).
    pub time: f64,
}

/// What a strategy knows of its session: its own bids and what it heard.
pub struct Common {
    /// My outcomes, best first.
    pub bids: Arc<BidSpace>,
    /// The others' offers (in direct talks) and the mediator's texts (in mediated
    /// talks, as offers of every other party), oldest first.
    pub heard: Vec<Heard>,
    /// The index in `heard` of the best for me.
    best: Option<usize>,
    /// A frequency model of each party (mine unused).
    pub models: Vec<OpponentModel>,
    /// A Bayesian model of each party (mine unused), learnt only when `use_bayes`
    /// (a tactic that reads them sets it in `init`).
    pub bayes: Vec<BayesianModel>,
    /// Whether the Bayesian models learn.
    pub use_bayes: bool,
    /// The utilities of what I proposed, oldest first.
    pub proposed: Vec<f64>,
    /// The seeded randomness of the strategy.
    pub rng: SmallRng,
    /// My index.
    pub me: usize,
    /// The number of parties.
    pub n_parties: usize,
    /// Rounds and parties: how many turns the session has in all.
    pub turns: f64,
    /// The parties that stand by the standing offer in direct talks: its proposer and
    /// those that accepted it since.
    pub support: Vec<bool>,
    /// The last Nash estimate, for (offers heard, floor).
    nash_cache: std::cell::Cell<Option<NashCache>>,
}

type NashCache = ((usize, u64), (usize, f64));

impl Common {
    fn new(ctx: &PartyContext<'_>, seed: u64) -> Common {
        let cards = ctx.space().cardinalities();
        Common {
            bids: ctx.bid_space(),
            heard: Vec::new(),
            best: None,
            models: (0..ctx.n_parties())
                .map(|_| OpponentModel::new(&cards))
                .collect(),
            bayes: (0..ctx.n_parties())
                .map(|_| BayesianModel::new(&cards))
                .collect(),
            use_bayes: false,
            proposed: Vec::new(),
            rng: SmallRng::seed_from_u64(seed),
            me: ctx.index(),
            n_parties: ctx.n_parties(),
            turns: f64::from(ctx.rounds().max(1)) * ctx.n_parties() as f64,
            nash_cache: std::cell::Cell::new(None),
            support: vec![false; ctx.n_parties()],
        }
    }

    /// The other parties.
    pub fn others(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.n_parties).filter(move |&p| p != self.me)
    }

    /// How many turns of mine are left after the one at time `t` (0 on my last).
    pub fn my_turns_left(&self, t: f64) -> f64 {
        (((1.0 - t) * self.turns).round() / self.n_parties as f64 - 1.0).max(0.0)
    }

    /// Whether every other party stands by the standing offer: accepting it closes
    /// the deal.
    pub fn others_stand_by_it(&self) -> bool {
        self.others()
            .all(|p| self.support.get(p).copied().unwrap_or(false))
    }

    /// Whether the turn at time `t` is the session's last: nobody acts after it.
    pub fn last_turn_of_all(&self, t: f64) -> bool {
        (1.0 - t) * self.turns < 1.5
    }

    /// The best offer heard (for me) and its utility.
    pub fn best_heard(&self) -> Option<&Heard> {
        self.best.and_then(|k| self.heard.get(k))
    }

    /// The number of my bids.
    pub fn bids_len(&self) -> usize {
        self.bids.len().max(1)
    }

    /// Records an offer heard (the latest of equally good ones becomes the best).
    fn record(&mut self, heard: Heard) {
        if self.best_heard().is_none_or(|b| heard.utility >= b.utility) {
            self.best = Some(self.heard.len());
        }
        self.heard.push(heard);
    }

    /// The utility to me of the best offer heard (0 before any).
    pub fn best_heard_utility(&self) -> f64 {
        self.best_heard().map_or(0.0, |h| h.utility)
    }

    /// The modelled utility of `outcome` to the other party that likes it least.
    pub fn others_min(&self, outcome: &[u32]) -> f64 {
        self.others()
            .map(|p| self.models[p].utility(outcome))
            .fold(f64::INFINITY, f64::min)
            .min(1.0)
    }

    /// The modelled utility of `outcome` to the others, summed.
    pub fn others_sum(&self, outcome: &[u32]) -> f64 {
        self.others().map(|p| self.models[p].utility(outcome)).sum()
    }

    /// The Bayesian models' utility of `outcome` to the others, summed.
    pub fn others_bayes(&self, outcome: &[u32]) -> f64 {
        self.others().map(|p| self.bayes[p].utility(outcome)).sum()
    }

    /// Of my bids worth from `low` to `high`, the one the others are modelled to like
    /// most (the one nearest `low` when none is in range); scans at most `limit` bids
    /// from the bottom of the range.
    pub fn best_for_others(&self, low: f64, high: f64, limit: usize) -> usize {
        let count = self.bids.count_at_least(low).max(1);
        let first = self
            .bids
            .count_at_least(high + 1e-12)
            .max(count.saturating_sub(limit));
        let mut best = (count - 1, f64::NEG_INFINITY);
        for k in first..count {
            let score = self.others_sum(self.bids.outcome(k));
            if score > best.1 {
                best = (k, score);
            }
        }
        best.0
    }

    /// Of my bids worth `floor` or more, the one the others are modelled to like most
    /// (their least satisfied one first): the bid most likely taken. At most 4,096
    /// bids are scanned, evenly spread.
    pub fn most_liked_at_least(&self, floor: f64) -> Option<usize> {
        let count = self.bids.count_at_least(floor);
        let stride = count.div_ceil(4096).max(1);
        (0..count)
            .step_by(stride)
            .map(|k| {
                let outcome = self.bids.outcome(k);
                (
                    k,
                    self.others_min(outcome) + 1e-3 * self.others_sum(outcome),
                )
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(k, _)| k)
    }

    /// A random bid worth from `low` to `high` (the one nearest `low` when none is).
    pub fn random_between(&mut self, low: f64, high: f64) -> usize {
        let count = self.bids.count_at_least(low).max(1);
        let first = self.bids.count_at_least(high + 1e-12).min(count - 1);
        self.rng.gen_range(first..count)
    }

    /// The best offer heard so far (its utility to me), extrapolated to the deadline
    /// by a least-squares line through its course over time.
    pub fn predicted_best_heard(&self) -> f64 {
        let mut best = 0.0f64;
        let points: Vec<(f64, f64)> = self
            .heard
            .iter()
            .map(|h| {
                best = best.max(h.utility);
                (h.time, best)
            })
            .collect();
        if points.len() < 3 {
            return best;
        }
        let n = points.len() as f64;
        let (mx, my) = (
            points.iter().map(|p| p.0).sum::<f64>() / n,
            points.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        if sxx < 1e-12 {
            return best;
        }
        (my + sxy / sxx * (1.0 - mx)).min(1.0).max(best)
    }

    /// The mean and standard deviation of the utility to me of what was heard.
    pub fn heard_stats(&self) -> (f64, f64) {
        let n = self.heard.len() as f64;
        if n == 0.0 {
            return (0.0, 0.0);
        }
        let mean = self.heard.iter().map(|h| h.utility).sum::<f64>() / n;
        let var = self
            .heard
            .iter()
            .map(|h| (h.utility - mean).powi(2))
            .sum::<f64>()
            / n;
        (mean, var.sqrt())
    }

    /// My bid that maximises the product of my surplus over `floor` and the others'
    /// modelled utilities (an estimate of the Nash point), and my utility there; `None`
    /// before anything was heard. At most 4,096 bids are scanned, evenly spread over
    /// those worth `floor` or more; the answer is kept until something new is heard.
    pub fn nash_estimate(&self, floor: f64) -> Option<(usize, f64)> {
        if self.heard.is_empty() {
            return None;
        }
        let key = (self.heard.len(), floor.to_bits());
        if let Some((k, answer)) = self.nash_cache.get() {
            if k == key {
                return Some(answer);
            }
        }
        let count = self.bids.count_at_least(floor).max(1);
        let stride = count.div_ceil(4096).max(1);
        let mut best = (0, f64::NEG_INFINITY);
        for k in (0..count).step_by(stride) {
            let outcome = self.bids.outcome(k);
            let product = self.others().fold(self.bids.utility(k) - floor, |acc, p| {
                acc * self.models[p].utility(outcome)
            });
            if product > best.1 {
                best = (k, product);
            }
        }
        let answer = (best.0, self.bids.utility(best.0));
        self.nash_cache.set(Some((key, answer)));
        Some(answer)
    }
}

/// AC_next: accept what is worth at least my next bid.
pub fn ac_next(offered: f64, next_bid: f64) -> bool {
    offered >= next_bid
}

/// AC_combi(T, MAX^W): AC_next, or after time `late`, an offer at least as good as the
/// best heard in the last `window` of time (the remaining time).
pub fn ac_combi_max_w(common: &Common, offered: f64, next_bid: f64, t: f64, late: f64) -> bool {
    if ac_next(offered, next_bid) {
        return true;
    }
    if t < late {
        return false;
    }
    let window = 1.0 - t;
    let best_recent = common
        .heard
        .iter()
        .filter(|h| h.time >= t - window)
        .map(|h| h.utility)
        .fold(0.0, f64::max);
    offered >= best_recent
}

/// An opponent's reservation value estimated from its concession curve: its offers'
/// modelled utility to itself over time is fitted, by least squares, with
/// `u(t) = 1 − (1 − r)·t^(1/e)` for `e` on a grid; the fit's `r` is the estimate.
#[derive(Clone, Debug, Default)]
pub struct ReservationEstimate {
    /// (time, modelled utility to the opponent) of its offers.
    points: Vec<(f64, f64)>,
}

impl ReservationEstimate {
    /// Adds one offer.
    pub fn add(&mut self, time: f64, utility: f64) {
        self.points.push((time, utility));
    }

    /// The estimated reservation value and concession exponent, once a few offers were
    /// heard.
    pub fn estimate(&self) -> Option<(f64, f64)> {
        if self.points.len() < 4 {
            return None;
        }
        let mut best: Option<(f64, f64, f64)> = None;
        for e in [0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0] {
            let (mut sxy, mut sxx) = (0.0, 0.0);
            for &(t, u) in &self.points {
                let x = t.max(0.0).powf(1.0 / e);
                sxy += x * (1.0 - u);
                sxx += x * x;
            }
            if sxx <= 1e-12 {
                continue;
            }
            let slope = (sxy / sxx).clamp(0.0, 1.0);
            let sse: f64 = self
                .points
                .iter()
                .map(|&(t, u)| (1.0 - slope * t.max(0.0).powf(1.0 / e) - u).powi(2))
                .sum();
            if best.is_none_or(|(s, _, _)| sse < s) {
                best = Some((sse, 1.0 - slope, e));
            }
        }
        best.map(|(_, r, e)| (r, e))
    }
}

/// The Bayesian opponent model of Hindriks & Tykhonov (2008), scalable form: for each
/// issue, hypotheses about the party's evaluation of its values (a triangular function
/// peaked at each value, which includes the downhill and uphill shapes) and about the
/// issue's weight (five levels); each offer updates every issue's hypotheses by Bayes'
/// rule, assuming the offer's utility to the party follows its expected concession
/// `1 − 0.1·t` with noise σ = 0.15, the other issues held at their expected values.
#[derive(Clone, Debug)]
pub struct BayesianModel {
    /// Per issue: the probability of each peak.
    peaks: Vec<Vec<f64>>,
    /// Per issue: the probability of each weight level.
    weights: Vec<[f64; 5]>,
    /// Per issue, per value: the expected contribution (kept in step with the
    /// hypotheses, so that evaluating an outcome is a few additions).
    table: Vec<Vec<f64>>,
}

const WEIGHT_LEVELS: [f64; 5] = [0.1, 0.3, 0.5, 0.7, 0.9];

impl BayesianModel {
    /// Uniform priors over issues of these cardinalities.
    pub fn new(cards: &[u32]) -> BayesianModel {
        let mut model = BayesianModel {
            peaks: cards
                .iter()
                .map(|&c| vec![1.0 / f64::from(c.max(1)); c.max(1) as usize])
                .collect(),
            weights: vec![[0.2; 5]; cards.len()],
            table: cards
                .iter()
                .map(|&c| vec![0.0; c.max(1) as usize])
                .collect(),
        };
        model.compile();
        model
    }

    fn compile(&mut self) {
        let weights = self.expected_weights();
        for (i, row) in self.table.iter_mut().enumerate() {
            // E[1 − |peak − v|/(n − 1)] for every v in one pass: with P(v) and S(v) the
            // probability and the first moment of the peaks up to v,
            // Σ p_k·|k − v| = v·P(v) − S(v) + (S − S(v)) − v·(1 − P(v)).
            let peaks = &self.peaks[i];
            let n = peaks.len();
            let total_moment: f64 = peaks.iter().enumerate().map(|(k, p)| k as f64 * p).sum();
            let total_p: f64 = peaks.iter().sum();
            let (mut cp, mut cs) = (0.0, 0.0);
            for (v, (out, p)) in row.iter_mut().zip(peaks).enumerate() {
                cp += p;
                cs += v as f64 * p;
                let x = v as f64;
                let distance = x * cp - cs + (total_moment - cs) - x * (total_p - cp);
                let eval = if n <= 1 {
                    total_p
                } else {
                    total_p - distance / (n - 1) as f64
                };
                *out = weights[i] * eval;
            }
        }
    }

    /// The evaluation of value `v` of an issue with `n` values under the hypothesis
    /// that the party likes value `peak` best.
    fn shape(n: usize, peak: usize, v: usize) -> f64 {
        if n <= 1 {
            return 1.0;
        }
        1.0 - (peak.abs_diff(v) as f64) / (n - 1) as f64
    }

    fn expected_eval(&self, issue: usize, v: usize) -> f64 {
        let n = self.peaks[issue].len();
        self.peaks[issue]
            .iter()
            .enumerate()
            .map(|(peak, p)| p * Self::shape(n, peak, v))
            .sum()
    }

    fn expected_weights(&self) -> Vec<f64> {
        let raw: Vec<f64> = self
            .weights
            .iter()
            .map(|w| w.iter().zip(WEIGHT_LEVELS).map(|(p, l)| p * l).sum())
            .collect();
        let total: f64 = raw.iter().sum::<f64>().max(1e-12);
        raw.into_iter().map(|w| w / total).collect()
    }

    /// Learns from an offer the party made at time `t`.
    pub fn learn(&mut self, outcome: &[u32], t: f64) {
        let expected = 1.0 - 0.1 * t;
        let sigma2 = 2.0 * 0.15f64.powi(2);
        let weights = self.expected_weights();
        let evals: Vec<f64> = outcome
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let w = weights[i];
                let t = self.table[i].get(v as usize).copied().unwrap_or(0.0);
                if w > 1e-12 {
                    t / w
                } else {
                    self.expected_eval(i, v as usize)
                }
            })
            .collect();
        let total: f64 = weights.iter().zip(&evals).map(|(w, e)| w * e).sum();
        for (i, &v) in outcome.iter().enumerate() {
            let rest = total - weights[i] * evals[i];
            let n = self.peaks[i].len();
            // Evaluation hypotheses: the utility with this issue evaluated by each.
            let mut sum = 0.0;
            for (peak, p) in self.peaks[i].iter_mut().enumerate() {
                let u = rest + weights[i] * Self::shape(n, peak, v as usize);
                *p *= (-(u - expected).powi(2) / sigma2).exp();
                sum += *p;
            }
            if sum > 1e-300 {
                self.peaks[i].iter_mut().for_each(|p| *p /= sum);
            } else {
                self.peaks[i].iter_mut().for_each(|p| *p = 1.0 / n as f64);
            }
            // Weight hypotheses: the utility with this issue weighted by each level
            // (the others rescaled to make up the rest).
            let others_total: f64 = 1.0 - weights[i];
            let mut sum = 0.0;
            for (p, level) in self.weights[i].iter_mut().zip(WEIGHT_LEVELS) {
                let scale = if others_total > 1e-12 {
                    (1.0 - level) / others_total
                } else {
                    0.0
                };
                let u = rest * scale + level * evals[i];
                *p *= (-(u - expected).powi(2) / sigma2).exp();
                sum += *p;
            }
            if sum > 1e-300 {
                self.weights[i].iter_mut().for_each(|p| *p /= sum);
            } else {
                self.weights[i] = [0.2; 5];
            }
        }
        self.compile();
    }

    /// The modelled utility of `outcome` to the party, in [0, 1].
    pub fn utility(&self, outcome: &[u32]) -> f64 {
        self.table
            .iter()
            .zip(outcome)
            .map(|(row, &v)| row.get(v as usize).copied().unwrap_or(0.0))
            .sum()
    }
}

/// A bidding strategy with its acceptance condition: what each classic defines.
pub trait Tactic {
    /// The strategy's name with its parameters.
    fn name(&self) -> String;

    /// Called once, when the session starts.
    fn init(&mut self, _ctx: &PartyContext<'_>, _common: &mut Common) {}

    /// An offer of party `from` was heard (after `common` recorded it).
    fn heard(&mut self, _common: &Common, _from: usize, _outcome: &[u32], _t: f64) {}

    /// The least a deal must be worth to it now (for votes on mediated texts).
    fn threshold(&mut self, ctx: &PartyContext<'_>, common: &Common, t: f64) -> f64;

    /// Its next bid: an index into `common.bids`, or an outcome heard. By default the
    /// bid the frequency models rate highest for the others among its bids from the
    /// threshold to 0.05 above it.
    fn bid(&mut self, ctx: &PartyContext<'_>, common: &mut Common, t: f64) -> Bid {
        let th = self.threshold(ctx, common, t);
        Bid::Index(common.best_for_others(th, th + 0.05, 128))
    }

    /// Whether the default acceptance also takes what is worth its threshold.
    const ACCEPTS_AT_THRESHOLD: bool = false;

    /// Whether it accepts an offer worth `offered` to it, its next bid being worth
    /// `next`: by default AC_next, or (with [`Tactic::ACCEPTS_AT_THRESHOLD`]) an offer
    /// worth its threshold.
    fn accepts(
        &mut self,
        ctx: &PartyContext<'_>,
        common: &mut Common,
        t: f64,
        offered: f64,
        next: f64,
    ) -> bool {
        ac_next(offered, next)
            || (Self::ACCEPTS_AT_THRESHOLD && offered >= self.threshold(ctx, common, t))
    }
}

/// A strategy's bid.
pub enum Bid {
    /// One of its sorted bids.
    Index(usize),
    /// Any outcome (for instance one heard from another party).
    Outcome(Vec<u32>),
}

/// A [`Tactic`] played as a [`Negotiator`] in every protocol, with the guarantees every
/// built-in keeps (see the module documentation).
pub struct Classic<T: Tactic> {
    tactic: T,
    seed: u64,
    common: Option<Common>,
    /// The mediator's default text in the direct phase of staged talks.
    default: Option<Vec<u32>>,
    phase: Phase,
    settled: bool,
}

impl<T: Tactic> Classic<T> {
    /// The negotiator playing `tactic`, its randomness seeded by `seed`.
    pub fn new(tactic: T, seed: u64) -> Classic<T> {
        Classic {
            tactic,
            seed,
            common: None,
            default: None,
            phase: Phase::Direct,
            settled: false,
        }
    }

    fn common(&mut self, ctx: &PartyContext<'_>) -> &mut Common {
        if self.common.is_none() {
            let mut common = Common::new(ctx, self.seed);
            self.tactic.init(ctx, &mut common);
            self.common = Some(common);
        }
        self.common.as_mut().expect("made above")
    }

    fn hear(&mut self, ctx: &PartyContext<'_>, from: usize, outcome: &[u32], t: f64) {
        self.common(ctx);
        let Some(common) = self.common.as_mut() else {
            return;
        };
        if from >= common.n_parties || outcome.len() != common.models[from].len() {
            return;
        }
        common.models[from].learn(outcome, 1.0, true);
        if common.use_bayes {
            common.bayes[from].learn(outcome, t);
        }
        common.record(Heard {
            from,
            outcome: outcome.to_vec(),
            utility: ctx.utility().value(outcome),
            time: t,
        });
        self.tactic.heard(common, from, outcome, t);
    }

    /// The tactic's next bid, made safe: never below walking away now, never across a
    /// red line, never under the default text in staged talks. `None`: nothing it may
    /// offer is worth walking away's value.
    fn safe_bid(&mut self, ctx: &PartyContext<'_>, t: f64) -> Option<(Vec<u32>, f64)> {
        self.common(ctx);
        let common = self.common.as_mut()?;
        let walk = ctx.reservation_at(t);
        let floor = match &self.default {
            Some(d) => walk.max(ctx.utility().value(d)),
            None => walk,
        };
        let mut bid = match self.tactic.bid(ctx, common, t) {
            Bid::Index(k) => common.bids.outcome(k.min(common.bids_len() - 1)).to_vec(),
            Bid::Outcome(o) => o,
        };
        let u = ctx.utility().value(&bid);
        if u < floor || ctx.crosses_red_line(&bid) {
            if let Some(d) = self.default.as_ref().filter(|d| ctx.acceptable(d, t)) {
                bid = d.clone();
            } else {
                let count = common.bids.count_at_least(floor);
                if count == 0 {
                    return None;
                }
                bid = common.bids.outcome(count - 1).to_vec();
            }
        }
        let u = ctx.utility().value(&bid);
        (u >= walk).then_some((bid, u))
    }
}

impl<T: Tactic> Negotiator for Classic<T> {
    fn name(&self) -> String {
        self.tactic.name()
    }

    fn init(&mut self, ctx: &PartyContext<'_>) {
        self.common(ctx);
    }

    fn observe(&mut self, ctx: &PartyContext<'_>, event: &Event) {
        if let EventKind::Offer { from, .. } | EventKind::Accept { by: from } = &event.kind {
            let common = self.common(ctx);
            if matches!(event.kind, EventKind::Offer { .. }) {
                common.support.iter_mut().for_each(|s| *s = false);
            }
            if let Some(s) = common.support.get_mut(*from) {
                *s = true;
            }
        }
        match &event.kind {
            EventKind::Offer { from, outcome } if *from != ctx.index() => {
                self.hear(ctx, *from, outcome, event.time)
            }
            // In mediated talks the texts stand for the others' positions.
            EventKind::Carry { outcome, .. } | EventKind::Text { outcome }
                if self.phase == Phase::Indirect && !self.settled =>
            {
                let others: Vec<usize> =
                    (0..ctx.n_parties()).filter(|&p| p != ctx.index()).collect();
                for p in others {
                    self.hear(ctx, p, outcome, event.time);
                }
            }
            EventKind::Default { outcome } => self.default = Some(outcome.clone()),
            EventKind::Start { .. } => self.phase = Phase::Indirect,
            EventKind::Phase { to, .. } => {
                self.phase = *to;
                self.settled = *to == Phase::PostSettlement;
            }
            _ => {}
        }
    }

    fn act(&mut self, ctx: &PartyContext<'_>, state: &State, standing: Option<&[u32]>) -> Action {
        let t = state.time;
        let next = self.safe_bid(ctx, t);
        if let Some(offer) = standing.filter(|o| ctx.acceptable(o, t)) {
            let offered = ctx.utility().value(offer);
            let next_u = next.as_ref().map_or(f64::NEG_INFINITY, |(_, u)| *u);
            let common = self.common.as_mut().expect("safe_bid made it");
            if self.tactic.accepts(ctx, common, t, offered, next_u) {
                return Action::Accept;
            }
        }
        match next {
            Some((bid, u)) => {
                if let Some(common) = self.common.as_mut() {
                    common.proposed.push(u);
                }
                Action::Offer(bid)
            }
            None => Action::WalkAway,
        }
    }

    fn propose(&mut self, ctx: &PartyContext<'_>, state: &State) -> Option<Vec<u32>> {
        let (bid, u) = self.safe_bid(ctx, state.time)?;
        if let Some(common) = self.common.as_mut() {
            common.proposed.push(u);
        }
        Some(bid)
    }

    fn vote(
        &mut self,
        ctx: &PartyContext<'_>,
        state: &State,
        text: &[u32],
        current: Option<&[u32]>,
    ) -> bool {
        self.common(ctx);
        let Some(common) = self.common.as_ref() else {
            return false;
        };
        let tactic = &mut self.tactic;
        super::strategies::vote_rule(ctx, state, text, current, true, || {
            tactic.threshold(ctx, common, state.time)
        })
    }
}
