//! What a mediator knows of every party, and how it judges candidate texts.

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::SmallRng;

use super::{clear_of_red_lines, random_allowed, Ranked};
use crate::events::{Event, EventKind, Phase};
use crate::negotiator::{MediatorContext, State, Tabled};
use crate::negotiators::model::OpponentModel;

/// How surely a party takes a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Support {
    /// Below its confided reservation value.
    Irrational,
    /// Not predicted, or it rejected the text.
    Against,
    /// Its model predicts it takes it.
    Predicted,
    /// It proposed or accepted it, or its confided preferences meet its demand.
    Known,
}

/// How a candidate text fares against the parties' demands.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Fit {
    /// Parties predicted to reject it.
    pub(super) refusals: usize,
    /// The largest shortfall below a party's demand, as a share of its range.
    pub(super) shortfall: f64,
    /// The Nash product of the (estimated) gains over the reservation values.
    pub(super) product: f64,
    /// Whether it is below a confiding party's reservation value, and by how much in
    /// all (so that a search can climb out of it).
    pub(super) irrational: bool,
    pub(super) deficit: f64,
}

impl Fit {
    /// Whether `self` is a better text to put than `other`: rational first (else the
    /// smaller deficit), then taken by everyone (and then the larger Nash product), else
    /// the smaller shortfall.
    pub(super) fn better(&self, other: &Fit) -> bool {
        if self.irrational != other.irrational {
            return !self.irrational;
        }
        if self.irrational {
            if let Some(less) = larger(other.deficit, self.deficit) {
                return less;
            }
        }
        if self.refusals == 0 || other.refusals == 0 {
            if self.refusals != other.refusals {
                return self.refusals == 0;
            }
            return larger(self.product, other.product).unwrap_or(false);
        }
        larger(other.shortfall, self.shortfall)
            .or_else(|| larger(self.product, other.product))
            .unwrap_or(false)
    }
}

/// Whether `a` is larger than `b` (`None`: equal up to rounding).
pub(super) fn larger(a: f64, b: f64) -> Option<bool> {
    ((a - b).abs() > 1e-12).then_some(a > b)
}

/// The order of texts for one room of the relay: how surely the other parties take it;
/// then, while one of them is not predicted to, the smaller shortfall below their
/// demands; then the room's party's (estimated) utility; then the Nash product.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct RoomKey {
    pub(super) support: Support,
    pub(super) shortfall: f64,
    pub(super) own: f64,
    pub(super) product: f64,
}

impl RoomKey {
    pub(super) fn better(&self, other: &RoomKey) -> bool {
        if self.support != other.support {
            return self.support > other.support;
        }
        larger(other.shortfall, self.shortfall)
            .or_else(|| larger(self.own, other.own))
            .unwrap_or(self.product > other.product)
    }
}

/// What a mediator knows of every party: exact preferences where confided, a model
/// otherwise, what each party said, and how it answered.
#[derive(Debug, Default)]
pub(super) struct Knowledge {
    pub(super) cards: Vec<u32>,
    pub(super) models: Vec<OpponentModel>,
    /// Per party: its first and latest proposals (or offers).
    pub(super) first: Vec<Option<Vec<u32>>>,
    pub(super) latest: Vec<Option<Vec<u32>>>,
    /// Per party: the smallest (estimated) utility of a text it accepted, and the
    /// largest of a text it rejected since then.
    pub(super) accepted_floor: Vec<Option<f64>>,
    pub(super) rejected_ceiling: Vec<Option<f64>>,
    /// Per party: the text last put to it, and its answer.
    pub(super) pending: Vec<Option<Vec<u32>>>,
    pub(super) answers: Vec<Option<bool>>,
    /// Per text put: each party's latest answer, and the texts in the order first put.
    pub(super) answered: BTreeMap<Vec<u32>, Vec<Option<bool>>>,
    pub(super) order: Vec<Vec<u32>>,
    /// Per party: the texts it is known to accept (what it proposed, offered or
    /// accepted; demands only fall, so they stay acceptable).
    pub(super) known: Vec<BTreeSet<Vec<u32>>>,
    /// The standing offer in direct talks (an acceptance makes it known).
    pub(super) standing: Option<Vec<u32>>,
    /// Improvements proposed after the deal.
    pub(super) proposed_improvements: BTreeSet<Vec<u32>>,
    pub(super) settled: bool,
}

impl Knowledge {
    pub(super) fn init(&mut self, ctx: &MediatorContext<'_>) {
        let n = ctx.n_parties;
        self.cards = ctx.space.cardinalities();
        self.models = vec![OpponentModel::new(&self.cards); n];
        self.first = vec![None; n];
        self.latest = vec![None; n];
        self.accepted_floor = vec![None; n];
        self.rejected_ceiling = vec![None; n];
        self.pending = vec![None; n];
        self.answers = vec![None; n];
        self.known = vec![BTreeSet::new(); n];
    }

    pub(super) fn confided(ctx: &MediatorContext<'_>, i: usize) -> bool {
        ctx.confided.get(i).is_some_and(Option::is_some)
    }

    /// Party `i`'s utility of `outcome`: exact if it confided, else modelled.
    pub(super) fn utility(&self, ctx: &MediatorContext<'_>, i: usize, outcome: &[u32]) -> f64 {
        match ctx.confided.get(i).and_then(Option::as_ref) {
            Some(c) => c.utility.value(outcome),
            None => self.models[i].utility(outcome),
        }
    }

    /// Party `i`'s reservation value if it confided it (0 for a model).
    pub(super) fn reservation(ctx: &MediatorContext<'_>, i: usize) -> f64 {
        ctx.confided
            .get(i)
            .and_then(Option::as_ref)
            .map_or(0.0, |c| c.reservation_at(ctx.time))
    }

    /// Whether `text` is at least what walking away is worth now to every confiding
    /// party, and crosses no red line.
    pub(super) fn rational(ctx: &MediatorContext<'_>, text: &[u32]) -> bool {
        ctx.confided
            .iter()
            .flatten()
            .all(|c| c.utility.value(text) >= c.reservation_at(ctx.time))
            && !ctx.red_lines.crosses(text)
    }

    /// Party `i`'s current demand: the (estimated) utility of its latest proposal, or,
    /// without proposals, of the least text it accepted (`None`: nothing known).
    pub(super) fn demand(&self, ctx: &MediatorContext<'_>, i: usize) -> Option<f64> {
        let from_proposal = self.latest[i].as_ref().map(|p| self.utility(ctx, i, p));
        match (from_proposal, self.accepted_floor[i]) {
            (Some(d), Some(floor)) => Some(d.min(floor)),
            (Some(d), None) => Some(d),
            (None, Some(floor)) => Some(floor),
            (None, None) => self.rejected_ceiling[i].map(|c| c + 1e-9),
        }
    }

    /// Party `i`'s range: from its reservation value to its opening demand.
    pub(super) fn range(&self, ctx: &MediatorContext<'_>, i: usize) -> f64 {
        let top = self.first[i]
            .as_ref()
            .map_or(1.0, |p| self.utility(ctx, i, p));
        (top - Self::reservation(ctx, i)).max(1e-6)
    }

    /// The estimated Nash product of `text` (exact utilities where confided).
    pub(super) fn product(&self, ctx: &MediatorContext<'_>, text: &[u32]) -> f64 {
        (0..ctx.n_parties)
            .map(|i| (self.utility(ctx, i, text) - Self::reservation(ctx, i)).max(0.0) + 1e-9)
            .product()
    }

    pub(super) fn fit(
        &self,
        ctx: &MediatorContext<'_>,
        outcome: &[u32],
        demands: &[Option<f64>],
    ) -> Fit {
        let mut fit = Fit {
            refusals: 0,
            shortfall: 0.0,
            product: 1.0,
            irrational: false,
            deficit: 0.0,
        };
        for (i, demand) in demands.iter().enumerate() {
            let u = self.utility(ctx, i, outcome);
            let r = Self::reservation(ctx, i);
            if Self::confided(ctx, i) && u < r {
                fit.irrational = true;
                fit.deficit += r - u;
            }
            if let Some(d) = demand {
                if u < d - 1e-9 {
                    fit.refusals += 1;
                    fit.shortfall = fit.shortfall.max((d - u) / self.range(ctx, i));
                }
            }
            fit.product *= (u - r).max(0.0) + 1e-9;
        }
        fit
    }

    /// How surely party `j` takes `text`.
    pub(super) fn support(&self, ctx: &MediatorContext<'_>, j: usize, text: &[u32]) -> Support {
        if ctx.red_lines.crosses(text) {
            return Support::Irrational;
        }
        let demand = self.demand(ctx, j);
        if let Some(c) = ctx.confided.get(j).and_then(Option::as_ref) {
            let u = c.utility.value(text);
            return if u < c.reservation_at(ctx.time) {
                Support::Irrational
            } else if demand.is_some_and(|d| u >= d - 1e-12) {
                Support::Known
            } else {
                Support::Against
            };
        }
        if self.known[j].contains(text) {
            return Support::Known;
        }
        let rejected = self
            .answered
            .get(text)
            .is_some_and(|a| a.get(j) == Some(&Some(false)));
        match demand {
            Some(d) if !rejected && self.models[j].utility(text) >= d - 1e-9 => Support::Predicted,
            _ => Support::Against,
        }
    }

    /// Whether every party is predicted to take `text` (every demand known and met,
    /// and no rejection of it on record).
    pub(super) fn predicted_accepted(&self, ctx: &MediatorContext<'_>, text: &[u32]) -> bool {
        (0..ctx.n_parties).all(|i| self.support(ctx, i, text) >= Support::Predicted)
    }

    pub(super) fn observe(&mut self, ctx: &MediatorContext<'_>, event: &Event) {
        match &event.kind {
            EventKind::Proposal { from, outcome } | EventKind::Offer { from, outcome } => {
                let from = *from;
                if from >= self.models.len() {
                    return;
                }
                self.models[from].learn(outcome, 1.0, true);
                self.first[from].get_or_insert_with(|| outcome.clone());
                self.latest[from] = Some(outcome.clone());
                self.known[from].insert(outcome.clone());
                if matches!(event.kind, EventKind::Offer { .. }) {
                    self.standing = Some(outcome.clone());
                }
            }
            EventKind::Accept { by } => {
                if let (Some(known), Some(standing)) = (self.known.get_mut(*by), &self.standing) {
                    known.insert(standing.clone());
                }
            }
            EventKind::Carry { to, outcome } => {
                if let Some(slot) = self.pending.get_mut(*to) {
                    *slot = Some(outcome.clone());
                }
            }
            EventKind::Text { outcome } | EventKind::Default { outcome } => {
                self.pending
                    .iter_mut()
                    .for_each(|p| *p = Some(outcome.clone()));
                self.standing = Some(outcome.clone());
            }
            EventKind::Vote { by, accept } if !self.settled => self.answer(ctx, *by, *accept),
            EventKind::Phase { to, .. } => self.settled = *to == Phase::PostSettlement,
            _ => {}
        }
    }

    pub(super) fn answer(&mut self, ctx: &MediatorContext<'_>, by: usize, accept: bool) {
        let Some(text) = self.pending.get(by).cloned().flatten() else {
            return;
        };
        let u = self.utility(ctx, by, &text);
        if accept {
            self.known[by].insert(text.clone());
            self.models[by].learn(&text, 0.5, false);
            let floor = &mut self.accepted_floor[by];
            *floor = Some(floor.map_or(u, |f| f.min(u)));
            self.rejected_ceiling[by] = None;
        } else {
            let ceiling = &mut self.rejected_ceiling[by];
            *ceiling = Some(ceiling.map_or(u, |c| c.max(u)));
        }
        self.answers[by] = Some(accept);
        let n = self.answers.len();
        let entry = self.answered.entry(text.clone()).or_insert_with(|| {
            self.order.push(text);
            vec![None; n]
        });
        entry[by] = Some(accept);
    }

    /// The texts put so far, most recent first, with how many parties accepted each.
    pub(super) fn tried(&self) -> impl Iterator<Item = (&Vec<u32>, usize)> {
        self.order.iter().rev().map(|text| {
            let yes = self
                .answered
                .get(text)
                .map_or(0, |a| a.iter().filter(|x| **x == Some(true)).count());
            (text, yes)
        })
    }

    /// The best text by [`Fit`] found by coordinate ascent from `starts`.
    pub(super) fn search(
        &self,
        ctx: &MediatorContext<'_>,
        demands: &[Option<f64>],
        starts: &[Vec<u32>],
    ) -> Option<(Vec<u32>, Fit)> {
        let mut best: Option<(Vec<u32>, Fit)> = None;
        for start in starts {
            let mut text = start.clone();
            clear_of_red_lines(ctx, &mut text);
            let mut fit = self.fit(ctx, &text, demands);
            for _pass in 0..4 {
                let mut improved = false;
                for issue in 0..self.cards.len() {
                    let keep = text[issue];
                    let mut chosen = (keep, fit);
                    for value in (0..self.cards[issue])
                        .filter(|&v| v != keep && ctx.red_lines.allows(issue, v))
                    {
                        text[issue] = value;
                        let candidate = self.fit(ctx, &text, demands);
                        if candidate.better(&chosen.1) {
                            chosen = (value, candidate);
                        }
                    }
                    text[issue] = chosen.0;
                    if chosen.0 != keep {
                        fit = chosen.1;
                        improved = true;
                    }
                }
                if !improved {
                    break;
                }
            }
            if best.as_ref().is_none_or(|(_, b)| fit.better(b)) {
                best = Some((text, fit));
            }
        }
        best
    }

    /// One common text: with every party's preferences (`ranking` not empty) the Nash
    /// text, or in the end game the frontier text best predicted to be taken; otherwise
    /// the best text by [`Fit`] near the parties' positions and recent texts.
    pub(super) fn choose(
        &self,
        ctx: &MediatorContext<'_>,
        state: &State,
        ranking: &[Ranked],
        rng: &mut SmallRng,
    ) -> Vec<u32> {
        let n = ctx.n_parties;
        let demands: Vec<Option<f64>> = (0..n).map(|i| self.demand(ctx, i)).collect();
        if let Some(nash) = ranking.first() {
            let rounds_left = ctx.rounds.saturating_sub(state.round + 1);
            let end_game = rounds_left <= (ctx.rounds / 10).max(2);
            if !end_game || self.fit(ctx, &nash.outcome, &demands).refusals == 0 {
                return nash.outcome.clone();
            }
            let mut best: Option<(&Ranked, Fit)> = None;
            for ranked in ranking {
                let fit = self.fit(ctx, &ranked.outcome, &demands);
                if best.as_ref().is_none_or(|(_, b)| fit.better(b)) {
                    best = Some((ranked, fit));
                }
            }
            return best.map_or_else(|| nash.outcome.clone(), |(r, _)| r.outcome.clone());
        }
        let mut starts: Vec<Vec<u32>> = self.latest.iter().flatten().cloned().collect();
        starts.extend(self.tried().take(4).map(|(text, _)| text.clone()));
        if starts.is_empty() {
            starts.push(
                self.cards
                    .iter()
                    .enumerate()
                    .map(|(issue, &c)| random_allowed(ctx, issue, c, rng))
                    .collect(),
            );
        }
        self.search(ctx, &demands, &starts)
            .map_or_else(|| starts[0].clone(), |(text, _)| text)
    }

    /// The relay (see the module docs); `None` while nothing is known.
    pub(super) fn relay(&self, ctx: &MediatorContext<'_>) -> Option<Tabled> {
        let n = ctx.n_parties;
        let pool: BTreeSet<&Vec<u32>> = self
            .known
            .iter()
            .flatten()
            .filter(|t| !ctx.red_lines.crosses(t))
            .collect();
        if pool.is_empty() {
            return None;
        }
        let agreed = pool
            .iter()
            .filter(|t| (0..n).all(|j| self.support(ctx, j, t) == Support::Known))
            .max_by(|a, b| self.product(ctx, a).total_cmp(&self.product(ctx, b)));
        if let Some(text) = agreed {
            return Some(Tabled::Common((*text).clone()));
        }
        let mut texts = Vec::with_capacity(n);
        for i in 0..n {
            let key = |text: &[u32]| self.room_key(ctx, i, text);
            let mut best: Option<(Vec<u32>, RoomKey)> = None;
            let mut consider = |text: &[u32]| {
                if ctx.red_lines.crosses(text) {
                    return;
                }
                let k = key(text);
                if best.as_ref().is_none_or(|(_, b)| k.better(b)) {
                    best = Some((text.to_vec(), k));
                }
            };
            for (j, known) in self.known.iter().enumerate() {
                if j != i {
                    known.iter().for_each(|t| consider(t));
                }
            }
            // Compromises: from each other party's latest proposal, move issue by issue
            // towards this party while the others are still predicted to take it.
            for j in (0..n).filter(|&j| j != i) {
                let Some(mut text) = self.latest[j].clone() else {
                    continue;
                };
                clear_of_red_lines(ctx, &mut text);
                let mut current = key(&text);
                for _pass in 0..3 {
                    let mut improved = false;
                    for issue in 0..self.cards.len() {
                        let keep = text[issue];
                        let mut chosen = keep;
                        for value in (0..self.cards[issue])
                            .filter(|&v| v != keep && ctx.red_lines.allows(issue, v))
                        {
                            text[issue] = value;
                            let k = key(&text);
                            if k.support >= Support::Predicted && k.own > current.own + 1e-12 {
                                current = k;
                                chosen = value;
                                improved = true;
                            }
                        }
                        text[issue] = chosen;
                    }
                    if !improved {
                        break;
                    }
                }
                consider(&text);
            }
            texts.push(best.map(|(t, _)| t)?);
        }
        Some(Tabled::PerRoom(texts))
    }

    pub(super) fn room_key(&self, ctx: &MediatorContext<'_>, i: usize, text: &[u32]) -> RoomKey {
        let mut support = Support::Known;
        let mut shortfall: f64 = 0.0;
        for j in (0..ctx.n_parties).filter(|&j| j != i) {
            let s = self.support(ctx, j, text);
            support = support.min(s);
            if s <= Support::Against {
                if let Some(d) = self.demand(ctx, j) {
                    let gap = (d - self.utility(ctx, j, text)).max(0.0);
                    shortfall = shortfall.max(gap / self.range(ctx, j));
                }
            }
        }
        let own = if Self::confided(ctx, i) && !Self::rational(ctx, text) {
            f64::NEG_INFINITY
        } else {
            self.utility(ctx, i, text)
        };
        RoomKey {
            support,
            shortfall,
            own,
            product: self.product(ctx, text),
        }
    }

    /// After a deal, without every party's preferences: the text one or two issue
    /// changes away from the deal that the models (and confided preferences) predict
    /// leaves nobody worse off, with the largest smallest gain (then the largest total
    /// gain); never one proposed before.
    pub(super) fn improvement(
        &mut self,
        ctx: &MediatorContext<'_>,
        agreement: &[u32],
    ) -> Option<Vec<u32>> {
        let n = ctx.n_parties;
        let base: Vec<f64> = (0..n).map(|i| self.utility(ctx, i, agreement)).collect();
        // The best by (smallest gain, total gain): balanced improvements first.
        let mut best: Option<(Vec<u32>, (f64, f64))> = None;
        let consider = |text: &[u32], best: &mut Option<(Vec<u32>, (f64, f64))>| {
            let (mut least, mut total) = (f64::INFINITY, 0.0);
            for (i, b) in base.iter().enumerate() {
                let gain = self.utility(ctx, i, text) - b;
                if gain < -1e-12 {
                    return;
                }
                least = least.min(gain);
                total += gain;
            }
            let key = (least.max(0.0), total);
            let better = best.as_ref().is_none_or(|(_, k)| {
                key.0 > k.0 + 1e-12 || (key.0 >= k.0 - 1e-12 && key.1 > k.1 + 1e-12)
            });
            if total > 1e-9 && better && !self.proposed_improvements.contains(text) {
                *best = Some((text.to_vec(), key));
            }
        };
        let mut text = agreement.to_vec();
        let m = self.cards.len();
        // Pairs of changes while they stay few (a few hundred values in all); beyond,
        // single changes only, so that a huge space does not stall the close.
        let values: u64 = self.cards.iter().map(|&c| u64::from(c)).sum();
        let pairs = values <= PAIR_SEARCH_VALUES;
        for a in 0..m {
            for va in
                (0..self.cards[a]).filter(|&v| v != agreement[a] && ctx.red_lines.allows(a, v))
            {
                text[a] = va;
                consider(&text, &mut best);
                for b in (a + 1..m).filter(|_| pairs) {
                    for vb in (0..self.cards[b])
                        .filter(|&v| v != agreement[b] && ctx.red_lines.allows(b, v))
                    {
                        text[b] = vb;
                        consider(&text, &mut best);
                    }
                    text[b] = agreement[b];
                }
            }
            text[a] = agreement[a];
        }
        let (text, _) = best?;
        self.proposed_improvements.insert(text.clone());
        Some(text)
    }

    /// The progress measure: the mean over parties of 1 for a party that accepted the
    /// text put to it, else, for a party that confided, one minus the text's shortfall
    /// below its demand as a share of its range (from its reservation value to its
    /// opening proposal), else 0: evidence, not guesses.
    pub(super) fn progress(&self, ctx: &MediatorContext<'_>) -> f64 {
        let n = ctx.n_parties;
        let mut total = 0.0;
        for i in 0..n {
            total += match (self.answers[i], &self.pending[i]) {
                (Some(true), _) => 1.0,
                (_, Some(text)) if Self::confided(ctx, i) => match self.demand(ctx, i) {
                    Some(d) => {
                        let u = self.utility(ctx, i, text);
                        1.0 - ((d - u).max(0.0) / self.range(ctx, i)).min(1.0)
                    }
                    None => 0.0,
                },
                _ => 0.0,
            };
        }
        total / n.max(1) as f64
    }

    /// `tabled`, with any text below what walking away is worth now to a confiding
    /// party, or across a red line, replaced by the best rational text the search finds
    /// from it (a text across a red line is never put, whatever the search finds).
    pub(super) fn rational_tabled(&self, ctx: &MediatorContext<'_>, tabled: Tabled) -> Tabled {
        let fix = |text: Vec<u32>| {
            if Self::rational(ctx, &text) {
                return text;
            }
            let demands: Vec<Option<f64>> =
                (0..ctx.n_parties).map(|i| self.demand(ctx, i)).collect();
            let mut starts = vec![text.clone()];
            starts.extend(self.latest.iter().flatten().cloned());
            match self.search(ctx, &demands, &starts) {
                Some((found, fit)) if !fit.irrational && !ctx.red_lines.crosses(&found) => found,
                _ => {
                    let mut text = text;
                    clear_of_red_lines(ctx, &mut text);
                    text
                }
            }
        };
        match tabled {
            Tabled::Common(text) => Tabled::Common(fix(text)),
            Tabled::PerRoom(texts) => Tabled::PerRoom(texts.into_iter().map(fix).collect()),
        }
    }
}

/// Post-settlement search: pairs of issue changes are tried while the issues have at
/// most this many values in all.
const PAIR_SEARCH_VALUES: u64 = 500;
