//! The ANAC champions, written from their papers (no implementation was consulted or
//! translated). Each is a [`Tactic`] played through [`Classic`], so each plays every
//! protocol and none ever proposes or accepts below what walking away pays. Where a
//! paper leaves a constant open, or describes a mechanism for a setting parley does not
//! have (ANAC 2019's preference uncertainty), the choice made is stated here and in
//! `docs/negotiators.md`.

use super::boa::{ac_combi_max_w, ac_next, Bid, Common, Tactic};
use crate::negotiator::PartyContext;

use rand::Rng;

/// Faratin's time-dependent curve from `high` down to `low`: `high − (high − low)·t^(1/e)`.
fn curve(high: f64, low: f64, t: f64, e: f64) -> f64 {
    high - (high - low).max(0.0) * t.clamp(0.0, 1.0).powf(1.0 / e)
}

/// AgentK (ANAC 2010): Kawaguchi, Fujita & Ito, "Compromising strategy based on
/// estimated maximum utility for automated negotiation agents", in *New Trends in
/// Agent-Based Complex Automated Negotiations*, 2012.
///
/// From the mean μ and deviation σ of the opponent's offers (their utility to it), it
/// estimates the best it can expect, `emax = μ + (1 − μ)·d` with `d = √12·σ` (the width
/// of a uniform distribution of that deviation); its target is
/// `1 − (1 − emax)·t^α` with `α = 1 + τ + 10μ − 2τμ` (τ = 2, the paper's "tremor").
/// It accepts an offer at its target, or below it with probability
/// `t⁵/5 + (u − emax) + (u − target)`; it offers a random bid above its target, or the
/// opponent's best offer when that reaches the target.
#[derive(Default)]
pub struct AgentK;

impl AgentK {
    const TREMOR: f64 = 2.0;

    fn emax(common: &Common) -> f64 {
        let (mean, sd) = common.heard_stats();
        (mean + (1.0 - mean) * (12f64.sqrt() * sd).min(1.0)).clamp(0.0, 1.0)
    }

    fn target(ctx: &PartyContext<'_>, common: &Common, t: f64) -> f64 {
        let (mean, _) = common.heard_stats();
        let alpha = 1.0 + Self::TREMOR + 10.0 * mean - 2.0 * Self::TREMOR * mean;
        let best = common.bids.best();
        let emax = Self::emax(common).min(best);
        (best - (best - emax) * t.clamp(0.0, 1.0).powf(alpha.max(0.1))).max(ctx.reservation_at(t))
    }
}

impl Tactic for AgentK {
    fn name(&self) -> String {
        "agentk".into()
    }

    fn threshold(&mut self, ctx: &PartyContext<'_>, common: &Common, t: f64) -> f64 {
        Self::target(ctx, common, t)
    }

    fn bid(&mut self, ctx: &PartyContext<'_>, common: &mut Common, t: f64) -> Bid {
        let target = Self::target(ctx, common, t);
        if let Some(h) = common.best_heard().filter(|h| h.utility >= target) {
            return Bid::Outcome(h.outcome.clone());
        }
        let best = common.bids.best();
        Bid::Index(common.random_between(target, best))
    }

    fn accepts(
        &mut self,
        ctx: &PartyContext<'_>,
        common: &mut Common,
        t: f64,
        offered: f64,
        _next: f64,
    ) -> bool {
        let target = Self::target(ctx, common, t);
        if offered >= target {
            return true;
        }
        let p = t.powi(5) / 5.0 + (offered - Self::emax(common)) + (offered - target);
        p > 0.0 && common.rng.gen_bool(p.min(1.0))
    }
}

/// HardHeaded (ANAC 2011): van Krimpen, Looije & Hajizadeh, "HardHeaded", in *Complex
/// Automated Negotiations: Theories, Models, and Software Competitions*, 2013.
///
/// A Boulware target `Pmin + (Pmax − Pmin)·(1 − t^(1/e))` with e = 0.05, where `Pmin`
/// is the larger of 0.585 (the paper's minimum) and the opponent's best offer so far;
/// a frequency opponent model (issue weights grow while the opponent keeps an issue's
/// value, value scores count how often it offers them) picks, among its bids within
/// 0.02 above the target, the one the opponent likes most. It accepts an offer worth
/// its next bid or the lowest bid it has made so far.
#[derive(Default)]
pub struct HardHeaded;

impl HardHeaded {
    const E: f64 = 0.05;
    const MINIMUM: f64 = 0.585;

    fn target(ctx: &PartyContext<'_>, common: &Common, t: f64) -> f64 {
        let best = common.bids.best();
        let low = Self::MINIMUM
            .max(common.best_heard_utility())
            .max(ctx.reservation_at(t))
            .min(best);
        curve(best, low, t, Self::E)
    }
}

impl Tactic for HardHeaded {
    fn name(&self) -> String {
        "hardheaded".into()
    }

    fn threshold(&mut self, ctx: &PartyContext<'_>, common: &Common, t: f64) -> f64 {
        Self::target(ctx, common, t)
    }

    fn bid(&mut self, ctx: &PartyContext<'_>, common: &mut Common, t: f64) -> Bid {
        let target = Self::target(ctx, common, t);
        Bid::Index(common.best_for_others(target, target + 0.02, 64))
    }

    fn accepts(
        &mut self,
        _ctx: &PartyContext<'_>,
        common: &mut Common,
        _t: f64,
        offered: f64,
        next: f64,
    ) -> bool {
        let lowest_made = common
            .proposed
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        ac_next(offered, next) || offered >= lowest_made
    }
}

/// CUHKAgent (ANAC 2012): Hao & Leung, "ABiNeS: An adaptive bilateral negotiating
/// strategy over multiple items", IAT 2012.
///
/// It exploits until its non-exploitation point λ and then concedes. λ adapts to the
/// opponent: the more the opponent has conceded (how far its best offer rose from its
/// first, relative to what was left), the later, `λ = 0.7 + 0.25·c`. Its threshold falls
/// from its best to `m = max(0.75·best, the opponent's best offer)` by λ (cubically), and
/// from there to the opponent's best offer (or what walking away pays) by 99% of the
/// time.
/// Among its bids within 0.05 above the threshold it offers the one the opponent model
/// rates highest; it accepts an offer at its threshold or its next bid.
#[derive(Default)]
pub struct Cuhk;

impl Cuhk {
    fn threshold(ctx: &PartyContext<'_>, common: &Common, t: f64) -> f64 {
        let best = common.bids.best();
        let walk = ctx.reservation_at(t);
        let heard = common.best_heard_utility();
        let first = common.heard.first().map_or(0.0, |h| h.utility);
        let degree = if best - first > 1e-9 {
            ((heard - first) / (best - first)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let lambda = 0.7 + 0.25 * degree;
        let m = (0.75 * best).max(heard).max(walk).min(best);
        let end = heard.max(walk).min(m);
        if t < lambda {
            best - (best - m) * (t / lambda).powi(3)
        } else {
            m - (m - end) * ((t - lambda) / (0.99 - lambda)).clamp(0.0, 1.0)
        }
    }
}

impl Tactic for Cuhk {
    const ACCEPTS_AT_THRESHOLD: bool = true;

    fn name(&self) -> String {
        "cuhk".into()
    }

    fn threshold(&mut self, ctx: &PartyContext<'_>, common: &Common, t: f64) -> f64 {
        Self::threshold(ctx, common, t)
    }
}

/// TheFawkes (ANAC 2013): a BOA agent (Baarslag et al. 2014's framework) by Koeman,
/// Hendrikx & Jonker. Its bidding concedes Boulware-fashion (e = 0.1) towards where it
/// predicts the opponent's offers will reach by the deadline (here a least-squares
/// line through the best offer so far over time, the paper's wavelet prediction being
/// out of scope); a Bayesian opponent model (Hindriks & Tykhonov) picks among its bids
/// within 0.03 above the target; it accepts by AC_combi(0.98, MAX^W).
#[derive(Default)]
pub struct TheFawkes;

impl TheFawkes {
    fn target(ctx: &PartyContext<'_>, common: &Common, t: f64) -> f64 {
        let best = common.bids.best();
        let low = common
            .predicted_best_heard()
            .max(ctx.reservation_at(t))
            .min(best);
        curve(best, low, t, 0.1)
    }
}

impl Tactic for TheFawkes {
    fn name(&self) -> String {
        "thefawkes".into()
    }

    fn init(&mut self, _ctx: &PartyContext<'_>, common: &mut Common) {
        common.use_bayes = true;
    }

    fn threshold(&mut self, ctx: &PartyContext<'_>, common: &Common, t: f64) -> f64 {
        Self::target(ctx, common, t)
    }

    fn bid(&mut self, ctx: &PartyContext<'_>, common: &mut Common, t: f64) -> Bid {
        let target = Self::target(ctx, common, t);
        let count = common.bids.count_at_least(target).max(1);
        let first = common
            .bids
            .count_at_least(target + 0.03 + 1e-12)
            .max(count.saturating_sub(64));
        let score = |k: usize| common.others_bayes(common.bids.outcome(k));
        let best = (first..count)
            .map(|k| (k, score(k)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(count - 1, |(k, _)| k);
        Bid::Index(best)
    }

    fn accepts(
        &mut self,
        _ctx: &PartyContext<'_>,
        common: &mut Common,
        t: f64,
        offered: f64,
        next: f64,
    ) -> bool {
        ac_combi_max_w(common, offered, next, t, 0.98)
    }
}

/// Atlas3 (ANAC 2015): Mori & Ito, "Atlas3: A negotiating agent based on expected
/// utility", in *Recent Advances in Agent-based Complex Automated Negotiation*, 2016.
///
/// Its threshold is where conceding further stops paying in expectation: it falls
/// from its best towards the opponent's best offer as `1 − (1 − m)·t^4` (m the larger
/// of that offer and what walking away pays), so it concedes slowly and mostly late;
/// it searches, among its bids within 0.05 above the threshold, the one the frequency
/// model rates highest for the opponent. In the final phase (the last 2% of the time)
/// it offers back the opponent's own offers, best for it first (its "CList"), and
/// accepts anything worth the opponent's best offer.
#[derive(Default)]
pub struct Atlas3 {
    /// The next of the opponent's offers to offer back in the final phase.
    replay: usize,
}

impl Atlas3 {
    const FINAL: f64 = 0.98;

    fn threshold(ctx: &PartyContext<'_>, common: &Common, t: f64) -> f64 {
        let best = common.bids.best();
        let m = common
            .best_heard_utility()
            .max(ctx.reservation_at(t))
            .min(best);
        best - (best - m) * t.clamp(0.0, 1.0).powi(4)
    }
}

impl Tactic for Atlas3 {
    fn name(&self) -> String {
        "atlas3".into()
    }

    fn threshold(&mut self, ctx: &PartyContext<'_>, common: &Common, t: f64) -> f64 {
        Self::threshold(ctx, common, t)
    }

    fn bid(&mut self, ctx: &PartyContext<'_>, common: &mut Common, t: f64) -> Bid {
        if t >= Self::FINAL && !common.heard.is_empty() {
            let mut list: Vec<&super::boa::Heard> = common.heard.iter().collect();
            list.sort_by(|a, b| b.utility.total_cmp(&a.utility));
            list.dedup_by(|a, b| a.outcome == b.outcome);
            let pick = list[self.replay % list.len().min(5)].outcome.clone();
            self.replay += 1;
            return Bid::Outcome(pick);
        }
        let th = Self::threshold(ctx, common, t);
        Bid::Index(common.best_for_others(th, th + 0.05, 128))
    }

    fn accepts(
        &mut self,
        ctx: &PartyContext<'_>,
        common: &mut Common,
        t: f64,
        offered: f64,
        next: f64,
    ) -> bool {
        ac_next(offered, next)
            || offered >= Self::threshold(ctx, common, t)
            || (t >= Self::FINAL && offered >= common.best_heard_utility())
    }
}

/// PonPokoAgent (ANAC 2017 winner), as its authors describe it in the ANAC 2017 agent
/// descriptions: at the start of each session it draws one of five threshold
/// patterns — pairs of a high and a low threshold over time, some oscillating — offers
/// a random bid between the two, and accepts whatever is worth the low one.
#[derive(Default)]
pub struct PonPoko {
    pattern: Option<usize>,
}

impl PonPoko {
    /// The (high, low) thresholds of `pattern` at time `t`, on a 0–1 scale.
    fn thresholds(pattern: usize, t: f64) -> (f64, f64) {
        match pattern {
            0 => (1.0 - 0.1 * t, 1.0 - 0.1 * t - 0.1 * (40.0 * t).sin().abs()),
            1 => (1.0 - 0.1 * t, 1.0 - 0.22 * t),
            2 => (1.0 - 0.1 * t, 1.0 - 0.1 * t - 0.15 * (20.0 * t).sin().abs()),
            3 => {
                if t < 0.99 {
                    (1.0 - 0.05 * t, 1.0 - 0.1 * t)
                } else {
                    (1.0 - 0.05 * t, 1.0 - 0.3 * t)
                }
            }
            _ => (
                1.0 - 0.15 * t,
                1.0 - 0.15 * t - 0.15 * (20.0 * t).sin().abs(),
            ),
        }
    }

    fn scaled(common: &Common, pattern: usize, t: f64) -> (f64, f64) {
        let best = common.bids.best();
        let (high, low) = Self::thresholds(pattern, t);
        (high * best, low * best)
    }
}

impl Tactic for PonPoko {
    const ACCEPTS_AT_THRESHOLD: bool = true;

    fn name(&self) -> String {
        "ponpoko".into()
    }

    fn init(&mut self, _ctx: &PartyContext<'_>, common: &mut Common) {
        self.pattern = Some(common.rng.gen_range(0..5));
    }

    fn threshold(&mut self, ctx: &PartyContext<'_>, common: &Common, t: f64) -> f64 {
        Self::scaled(common, self.pattern.unwrap_or(0), t)
            .1
            .max(ctx.reservation_at(t))
    }

    fn bid(&mut self, _ctx: &PartyContext<'_>, common: &mut Common, t: f64) -> Bid {
        let (high, low) = Self::scaled(common, self.pattern.unwrap_or(0), t);
        Bid::Index(common.random_between(low, high))
    }
}

/// AgreeableAgent2018 (ANAC 2018 winner): Mirzayi, Taghiyareh & Nassiri-Mofakham, as
/// they describe it in the ANAC 2018 agent descriptions. A time-dependent target (e = 0.1) down to the larger of what walking away
/// pays and 0.6; until a tenth of the time has passed it offers its best bid; after
/// that, a roulette-wheel choice among its bids within 0.05 above the target, weighted
/// by the frequency model's utility for the opponent; it accepts by AC_next.
#[derive(Default)]
pub struct Agreeable;

impl Agreeable {
    fn target(ctx: &PartyContext<'_>, common: &Common, t: f64) -> f64 {
        let best = common.bids.best();
        let low = (0.6 * best).max(ctx.reservation_at(t)).min(best);
        curve(best, low, t, 0.1)
    }
}

impl Tactic for Agreeable {
    fn name(&self) -> String {
        "agreeable".into()
    }

    fn threshold(&mut self, ctx: &PartyContext<'_>, common: &Common, t: f64) -> f64 {
        Self::target(ctx, common, t)
    }

    fn bid(&mut self, ctx: &PartyContext<'_>, common: &mut Common, t: f64) -> Bid {
        if t < 0.1 {
            return Bid::Index(0);
        }
        let target = Self::target(ctx, common, t);
        let count = common.bids.count_at_least(target).max(1);
        let first = common
            .bids
            .count_at_least(target + 0.05 + 1e-12)
            .max(count.saturating_sub(64))
            .min(count - 1);
        let weights: Vec<f64> = (first..count)
            .map(|k| common.others_sum(common.bids.outcome(k)).max(1e-6))
            .collect();
        let total: f64 = weights.iter().sum();
        let mut draw = common.rng.gen_range(0.0..total.max(1e-9));
        for (i, w) in weights.iter().enumerate() {
            if draw < *w {
                return Bid::Index(first + i);
            }
            draw -= w;
        }
        Bid::Index(count - 1)
    }
}

/// AgentGG (ANAC 2019): Shaobo Xu, described in Aydoğan et al., "Challenges and main
/// results of the automated negotiating agents competition (ANAC) 2019", 2020. ANAC
/// 2019 gave agents only a ranking of some outcomes; AgentGG estimated value
/// importance from it. parley gives every agent its utility function, so that part is
/// the identity here. What remains is its concession schedule: near-best bids for the
/// first fifth of the time, then a threshold falling (quadratically) to its estimate of
/// the Nash point (from the frequency model; 0.7 before it has one) by 98% of the
/// time, and to the opponent's best offer (or what walking away pays) in the last
/// moments; among bids within 0.05 above the threshold, the one the opponent likes
/// most; it accepts what is worth the threshold.
#[derive(Default)]
pub struct AgentGG;

impl AgentGG {
    fn threshold(ctx: &PartyContext<'_>, common: &Common, t: f64) -> f64 {
        let best = common.bids.best();
        let walk = ctx.reservation_at(t);
        let nash = common
            .nash_estimate(walk)
            .map_or(0.7 * best, |(_, u)| u)
            .max(walk)
            .min(best);
        let start = 0.98 * best;
        if t < 0.2 {
            start
        } else if t < 0.98 {
            let x = (t - 0.2) / 0.78;
            start - (start - nash.min(start)) * x * x
        } else {
            nash.min(common.best_heard_utility().max(walk)).max(walk)
        }
    }
}

impl Tactic for AgentGG {
    const ACCEPTS_AT_THRESHOLD: bool = true;

    fn name(&self) -> String {
        "agentgg".into()
    }

    fn threshold(&mut self, ctx: &PartyContext<'_>, common: &Common, t: f64) -> f64 {
        Self::threshold(ctx, common, t)
    }
}

/// MiCRO (2022): de Jonge, "An analysis of the linear bilateral ANAC domains using the
/// MiCRO benchmark strategy", IJCAI 2022.
///
/// Monotonic Concession with Reciprocal Offers: its bids sorted best first, it makes a
/// new (the next lower) bid only when the opponent has made at least as many distinct
/// offers as it has, and otherwise repeats one of its earlier bids at random; it never
/// goes below what walking away pays, and accepts any offer worth at least the bid it
/// would make next (or its lowest bid so far, when it is repeating).
#[derive(Default)]
pub struct Micro {
    /// How many distinct bids it has made (they are its `made` best).
    made: usize,
    /// The distinct offers heard.
    distinct: std::collections::HashSet<Vec<u32>>,
}

impl Micro {
    fn conceding(&self) -> bool {
        self.distinct.len() >= self.made
    }
}

impl Tactic for Micro {
    fn name(&self) -> String {
        "micro".into()
    }

    fn heard(&mut self, _common: &Common, _from: usize, outcome: &[u32], _t: f64) {
        if !self.distinct.contains(outcome) {
            self.distinct.insert(outcome.to_vec());
        }
    }

    fn threshold(&mut self, ctx: &PartyContext<'_>, common: &Common, t: f64) -> f64 {
        let k = self.made.min(common.bids_len() - 1);
        common.bids.utility(k).max(ctx.reservation_at(t))
    }

    fn bid(&mut self, ctx: &PartyContext<'_>, common: &mut Common, t: f64) -> Bid {
        let walk = ctx.reservation_at(t);
        let next = self.made;
        if self.conceding() && next < common.bids.len() && common.bids.utility(next) >= walk {
            self.made += 1;
            return Bid::Index(next);
        }
        if self.made == 0 {
            self.made = 1;
            return Bid::Index(0);
        }
        Bid::Index(common.rng.gen_range(0..self.made))
    }

    fn accepts(
        &mut self,
        ctx: &PartyContext<'_>,
        common: &mut Common,
        t: f64,
        offered: f64,
        _next: f64,
    ) -> bool {
        // (Asked after this turn's bid was chosen: its lowest bid so far is the least
        // it has shown it is willing to take.)
        let k = self.made.saturating_sub(1).min(common.bids_len() - 1);
        offered >= common.bids.utility(k).max(ctx.reservation_at(t))
    }
}
