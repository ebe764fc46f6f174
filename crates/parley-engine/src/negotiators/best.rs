//! `best`: parley's own negotiator, assembled from what wins the ANAC tournaments.
//!
//! - **Tough, then certain.** Its target falls Boulware-fashion (e = 0.05 by default)
//!   from its best bid to a floor: the most of what walking away pays now, the best
//!   offer heard so far, and its estimate of the Nash point (its own bid that maximises
//!   the product of its surplus and the others' modelled utilities). Tough agents win
//!   ANAC tournaments only when they still reach agreement; so in its last two turns it
//!   offers back the best of the others' own offers (which an agent that concedes
//!   monotonically accepts), and on its last turn it accepts anything worth what
//!   walking away pays then.
//! - **Pareto-aware bids.** Among its bids at or just above its target, it offers the
//!   one the others' frequency models rate highest, and a new one each time while
//!   there is one: reciprocal agents (MiCRO, tit-for-tat) concede per distinct offer.
//! - **Acceptance.** AC_next (an offer worth its next bid), or worth its target, or, in
//!   its last two turns, worth the best offer heard.
//! - **Never below walking away**, never across a red line, never under a mediator's
//!   default text: [`Classic`](super::boa::Classic) enforces it for every built-in.
//!
//! It is multilateral: the models, the Nash estimate and the end game take every other
//! party into account (in the end game it offers back the offer heard that is best for
//! it and the others' least satisfied).

use std::collections::HashSet;

use super::boa::{ac_combi_max_w, Bid, Common, Tactic};
use crate::negotiator::PartyContext;

/// The settings of [`Best`] (the parameters of the `best` specification).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BestParams {
    /// Concession exponent of its target (`e`).
    pub exponent: f64,
    /// Turns (of its own) at the end in which it offers back the others' offers.
    pub endgame: f64,
    /// Whether the floor includes the Nash estimate.
    pub nash: bool,
    /// Whether the floor includes the best offer heard, extrapolated to the deadline.
    pub predict: bool,
    /// Whether bids are chosen by the Bayesian models (else the frequency models);
    /// `None`: with more than one other party (measured best there; the frequency
    /// models are as good or better bilaterally).
    pub bayes: Option<bool>,
    /// Whether it prefers a bid not offered yet.
    pub fresh: bool,
    /// On its own last turn with others still to act: it takes an offer worth
    /// walking away's value plus this share of what the best offer heard adds to it
    /// (its offer back may be refused).
    pub grace: f64,
    /// Bilaterally, on its own last turn with the other still to answer: when the
    /// best offer heard adds less than this share of what its floor adds to walking
    /// away, it does not settle for that offer but makes a last offer (an ultimatum:
    /// most agents take any deal on their last turn) `reach` of the way from that
    /// offer to its floor; 0: never.
    pub ultimatum: f64,
    /// How far its ultimatum reaches from the best offer heard (or walking away, when
    /// that is worth more) towards its floor: 1 asks for the floor itself.
    pub reach: f64,
    /// Whether it makes its ultimatum also when no offer heard is worth walking away
    /// (else its last offer is then the bid worth walking away that the other is
    /// modelled to like most).
    pub blind: bool,
}

impl Default for BestParams {
    fn default() -> Self {
        BestParams {
            exponent: 0.03,
            endgame: 1.0,
            nash: true,
            predict: false,
            bayes: None,
            fresh: true,
            grace: 1.0,
            ultimatum: 0.25,
            reach: 0.5,
            blind: true,
        }
    }
}

/// parley's strongest negotiator (the `best` built-in).
pub struct Best {
    params: BestParams,
    offered: HashSet<Vec<u32>>,
}

impl Best {
    /// `best` with these settings.
    pub fn new(params: BestParams) -> Best {
        Best {
            params,
            offered: HashSet::new(),
        }
    }

    /// The floor its target falls to. Bilaterally: the most of what walking away
    /// pays, the best offer heard and the Nash estimate. With more than one other
    /// party, only what walking away pays: an offer one of them made binds no other,
    /// and a deal must win every one of them over, so it concedes all the way, late,
    /// letting the models pick the bids (measured: first in the three-party corpus this
    /// way, behind Boulware with the bilateral floor).
    fn floor(&self, ctx: &PartyContext<'_>, common: &Common, t: f64) -> f64 {
        let best = common.bids.best();
        let walk = ctx.reservation_at(t);
        if common.n_parties > 2 {
            return walk.min(best);
        }
        let nash = if self.params.nash {
            common.nash_estimate(walk).map_or(best, |(_, u)| u)
        } else {
            0.0
        };
        let predicted = if self.params.predict {
            common.predicted_best_heard()
        } else {
            0.0
        };
        walk.max(common.best_heard_utility())
            .max(nash)
            .max(predicted)
            .min(best)
    }

    fn target(&self, ctx: &PartyContext<'_>, common: &Common, t: f64) -> f64 {
        let best = common.bids.best();
        let low = self.floor(ctx, common, t);
        best - (best - low).max(0.0) * t.clamp(0.0, 1.0).powf(1.0 / self.params.exponent)
    }

    /// The level of its ultimatum, when this turn calls for one: bilaterally, on its
    /// own last turn with the other still to answer, when the best offer heard adds
    /// less than `ultimatum` times what its floor adds to walking away.
    fn ultimatum(&self, ctx: &PartyContext<'_>, common: &Common, t: f64) -> Option<f64> {
        if self.params.ultimatum <= 0.0
            || common.n_parties != 2
            || common.my_turns_left(t) >= 1.0
            || common.last_turn_of_all(t)
        {
            return None;
        }
        let walk = ctx.reservation_at(t);
        let floor = self.floor(ctx, common, t);
        let heard = common.best_heard_utility();
        if !self.params.blind && heard < walk {
            return None;
        }
        let base = heard.max(walk);
        (heard < walk + self.params.ultimatum * (floor - walk))
            .then_some(base + self.params.reach * (floor - base))
    }

    fn in_endgame(&self, common: &Common, t: f64) -> bool {
        common.my_turns_left(t) < self.params.endgame
    }

    /// The offer heard it would offer back: the best for it, ties (and, with more than
    /// one other party, near-ties) broken by the others' least modelled utility.
    fn offer_back(ctx: &PartyContext<'_>, common: &Common, t: f64) -> Option<Vec<u32>> {
        let walk = ctx.reservation_at(t);
        let multi = common.n_parties > 2;
        common
            .heard
            .iter()
            .filter(|h| h.utility >= walk && !ctx.crosses_red_line(&h.outcome))
            .map(|h| {
                let score = if multi {
                    h.utility + common.others_min(&h.outcome)
                } else {
                    h.utility + 1e-6 * common.others_min(&h.outcome)
                };
                (score, h)
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, h)| h.outcome.clone())
    }
}

impl Tactic for Best {
    fn name(&self) -> String {
        format!(
            "best:e={}:endgame={}:nash={}:predict={}{}:fresh={}:grace={}:ultimatum={}:reach={}:blind={}",
            self.params.exponent,
            self.params.endgame,
            u8::from(self.params.nash),
            u8::from(self.params.predict),
            self.params
                .bayes
                .map_or(String::new(), |b| format!(":bayes={}", u8::from(b))),
            u8::from(self.params.fresh),
            self.params.grace,
            self.params.ultimatum,
            self.params.reach,
            u8::from(self.params.blind)
        )
    }

    fn init(&mut self, _ctx: &PartyContext<'_>, common: &mut Common) {
        common.use_bayes = self.params.bayes.unwrap_or(common.n_parties > 2);
    }

    fn threshold(&mut self, ctx: &PartyContext<'_>, common: &Common, t: f64) -> f64 {
        self.target(ctx, common, t)
    }

    fn bid(&mut self, ctx: &PartyContext<'_>, common: &mut Common, t: f64) -> Bid {
        let target = self.target(ctx, common, t);
        if let Some(level) = self.ultimatum(ctx, common, t) {
            if let Some(k) = common.most_liked_at_least(level) {
                return Bid::Index(k);
            }
        }
        if self.in_endgame(common, t) {
            match Self::offer_back(ctx, common, t) {
                Some(back) if ctx.utility().value(&back) < target => {
                    return Bid::Outcome(back);
                }
                Some(_) => {}
                // Nothing the others offered is worth walking away: the bid worth
                // that much to it that they are modelled to like most, the likeliest
                // to be taken (no deal is worth less).
                None => {
                    if let Some(k) = common.most_liked_at_least(ctx.reservation_at(t)) {
                        return Bid::Index(k);
                    }
                }
            }
        }
        // Of its bids from the target up (nearest the target first), the one the others
        // like most among those not yet offered.
        let count = common.bids.count_at_least(target).max(1);
        let first = count.saturating_sub(256);
        let mut pick = (count - 1, f64::NEG_INFINITY);
        for k in (first..count).rev() {
            let outcome = common.bids.outcome(k);
            if self.params.fresh && self.offered.contains(outcome) {
                continue;
            }
            // Nearer the target costs it less; the others' models decide among bids
            // within 0.02 of each other.
            let near = common.bids.utility(k) <= target + 0.02;
            let liked = if common.use_bayes {
                common.others_bayes(outcome)
            } else {
                common.others_sum(outcome)
            };
            let score = liked + if near { 1.0 } else { 0.0 };
            if score > pick.1 {
                pick = (k, score);
            }
        }
        let outcome = common.bids.outcome(pick.0).to_vec();
        self.offered.insert(outcome);
        Bid::Index(pick.0)
    }

    fn accepts(
        &mut self,
        ctx: &PartyContext<'_>,
        common: &mut Common,
        t: f64,
        offered: f64,
        next: f64,
    ) -> bool {
        // (Only offers worth walking away's value reach here.) On the session's last
        // turn, any deal beats none; on its own last turn with others still to act,
        // its counter-offer may yet be taken, so it holds out for the end-game rule.
        if common.last_turn_of_all(t) {
            return true;
        }
        if let Some(level) = self.ultimatum(ctx, common, t) {
            return offered >= level;
        }
        // With more than one other party a counter-offer must win everyone over anew:
        // late in the talks, or on its own last turn, it takes a deal the others all
        // stand by.
        if common.n_parties > 2
            && common.others_stand_by_it()
            && (common.my_turns_left(t) < 1.0 || self.in_endgame(common, t) || t >= 0.95)
        {
            return true;
        }
        if self.in_endgame(common, t) && offered >= common.best_heard_utility() {
            return true;
        }
        if common.my_turns_left(t) < 1.0 {
            let walk = ctx.reservation_at(t);
            if offered >= walk + self.params.grace * (common.best_heard_utility() - walk).max(0.0) {
                return true;
            }
        }
        // With more than one other party, AC_combi(0.98, MAX^W) (late, an offer as good
        // as any heard lately); bilaterally AC_next holds out for the end game (measured
        // better there).
        let late = if common.n_parties > 2 {
            0.98
        } else {
            f64::INFINITY
        };
        ac_combi_max_w(common, offered, next, t, late) || offered >= self.target(ctx, common, t)
    }
}
