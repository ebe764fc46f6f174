//! Built-in mediators.
//!
//! Both mediators know the parties the same way ([`Knowledge`]): a party that confided
//! is known exactly (its utility function and reservation value); any other is modelled
//! from what it says to the mediator ([`OpponentModel`]: its proposals, its offers in
//! direct talks, the texts it accepts). Each party's current demand is read off its
//! latest proposal and its answers, and every text it proposed or accepted is known to
//! be acceptable to it from then on (the built-in strategies only ever lower their
//! demands; a text a party rejected counts as evidence against it).
//!
//! - `shuttle` — with every party's confided preferences, it holds the Nash bargaining
//!   text (the rational frontier outcome with the largest Nash product) on the table
//!   until every party takes it; in the last tenth of the talks it settles for the
//!   frontier text best predicted to be taken. Otherwise it relays, one text per room:
//!   a text every party is known to accept goes to every room (a deal); else each room
//!   gets the text the other parties are most surely willing to take (known before
//!   predicted), best for that room's party: the best of everything the others proposed
//!   or accepted, or a compromise the models predict they take.
//! - `hill-climber` — the single negotiating text (Klein, Faratin, Sayama & Bar-Yam,
//!   "Negotiating complex contracts", 2003): with every party's confided preferences,
//!   the Nash text as above; otherwise it climbs from the text that drew the most
//!   acceptances, mutating it and keeping the mutation its models rate best.
//!
//! Both: never a text across a red line (the mediator is told them all); never a text
//! below what walking away is worth now to a party that confided, when one exists (a
//! zone of agreement can close as alternatives change over time); in direct
//! talks the texts of [`DirectTexts`]; after a deal, improvements the confided
//! preferences prove (or, without them, the models predict) leave nobody worse off.
//! Confided preferences only choose texts: nothing confided is ever part of an event.

use std::collections::{BTreeMap, BTreeSet};

use parley_core::analysis::{frontier_within, AnalysisConfig, Method};
use parley_core::CompiledUtility;
use rand::rngs::SmallRng;
use rand::Rng;

use super::model::OpponentModel;
use crate::events::{Event, EventKind, Phase};
use crate::negotiator::{Mediator, MediatorContext, State, Tabled};

/// A rational frontier outcome of the confided utilities.
#[derive(Clone, Debug)]
struct Ranked {
    outcome: Vec<u32>,
    utilities: Vec<f64>,
}

/// Utility evaluations a mediator may spend searching the frontier of a space too large
/// to analyse exactly (10 ms on the ANAC 2014 scenarios, where it finds the published
/// Nash point).
const SEARCH_WORK: u64 = 200_000;

/// The frontier of the confided utilities over the outcomes that cross no red line
/// (exact where possible, else searched); empty unless every party confided.
fn confided_frontier(ctx: &MediatorContext<'_>) -> Vec<Ranked> {
    if !ctx.all_confided() {
        return Vec::new();
    }
    let ufuns: Vec<CompiledUtility> = ctx
        .confided
        .iter()
        .flatten()
        .map(|c| c.utility.clone())
        .collect();
    // Exact where it can be (additive, or small enough to enumerate); otherwise a
    // frontier search bounded by work, so that the session stays repeatable.
    let config = AnalysisConfig {
        method: Method::Auto,
        enumeration_limit: 2_000_000,
        work_budget: Some(SEARCH_WORK),
        ..AnalysisConfig::default()
    };
    let Ok((frontier, _)) = frontier_within(&ufuns, ctx.space, ctx.red_lines, &config) else {
        return Vec::new();
    };
    (0..frontier.len())
        .map(|k| Ranked {
            outcome: frontier.outcome(k).to_vec(),
            utilities: frontier.point(k).iter().map(|u| u.value).collect(),
        })
        .collect()
}

/// The Nash ranking of the confided frontier: its outcomes that are rational for every
/// party now (what walking away is worth changes over time), by Nash product, largest
/// first. Re-ranked only when what walking away is worth has changed.
#[derive(Debug, Default)]
struct NashRanking {
    frontier: Vec<Ranked>,
    ranking: Vec<Ranked>,
    ranked_for: Option<Vec<f64>>,
}

impl NashRanking {
    fn init(&mut self, ctx: &MediatorContext<'_>) {
        self.frontier = confided_frontier(ctx);
        self.ranked_for = None;
        self.update(ctx);
    }

    /// Re-ranks for the time of `ctx` if what walking away is worth has changed.
    fn update(&mut self, ctx: &MediatorContext<'_>) {
        if self.frontier.is_empty() {
            return;
        }
        let reservations: Vec<f64> = ctx
            .confided
            .iter()
            .flatten()
            .map(|c| c.reservation_at(ctx.time))
            .collect();
        if self.ranked_for.as_ref() == Some(&reservations) {
            return;
        }
        let mut ranked: Vec<(Ranked, f64)> = self
            .frontier
            .iter()
            .filter(|r| r.utilities.iter().zip(&reservations).all(|(u, v)| u >= v))
            .map(|r| {
                let product = r
                    .utilities
                    .iter()
                    .zip(&reservations)
                    .map(|(u, v)| u - v)
                    .product();
                (r.clone(), product)
            })
            .collect();
        // Stable: ties keep the frontier's order, as the analysis does.
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        self.ranking = ranked.into_iter().map(|(r, _)| r).collect();
        self.ranked_for = Some(reservations);
    }
}

/// `text` with every value that crosses a red line replaced by the nearest value (by
/// position) that crosses none.
fn clear_of_red_lines(ctx: &MediatorContext<'_>, text: &mut [u32]) {
    if ctx.red_lines.is_empty() {
        return;
    }
    let cards = ctx.space.cardinalities();
    for (issue, value) in text.iter_mut().enumerate() {
        if ctx.red_lines.allows(issue, *value) {
            continue;
        }
        let card = cards.get(issue).copied().unwrap_or(0);
        let nearest = (1..card).find_map(|d| {
            [
                value.checked_sub(d),
                value.checked_add(d).filter(|v| *v < card),
            ]
            .into_iter()
            .flatten()
            .find(|&v| ctx.red_lines.allows(issue, v))
        });
        if let Some(v) = nearest {
            *value = v;
        }
    }
}

/// A value of `issue` that crosses no red line, at random.
fn random_allowed(ctx: &MediatorContext<'_>, issue: usize, card: u32, rng: &mut SmallRng) -> u32 {
    for _ in 0..32 {
        let v = rng.gen_range(0..card);
        if ctx.red_lines.allows(issue, v) {
            return v;
        }
    }
    let mut text = vec![0u32; issue + 1];
    text[issue] = rng.gen_range(0..card);
    clear_of_red_lines(ctx, &mut text);
    text[issue]
}

/// With every party's preferences: the frontier text with the largest Nash product
/// among those better for some party and worse for none than `agreement`, other than
/// those already `proposed` (then recorded there).
fn proven_improvement(
    ranking: &[Ranked],
    ctx: &MediatorContext<'_>,
    agreement: &[u32],
    proposed: &mut BTreeSet<Vec<u32>>,
) -> Option<Vec<u32>> {
    let now: Vec<f64> = ctx
        .confided
        .iter()
        .flatten()
        .map(|c| c.utility.value(agreement))
        .collect();
    let found = ranking
        .iter()
        .find(|r| {
            r.utilities.iter().zip(&now).all(|(u, a)| *u >= *a - 1e-12)
                && r.utilities.iter().zip(&now).any(|(u, a)| *u > *a + 1e-9)
                && !proposed.contains(&r.outcome)
        })
        .map(|r| r.outcome.clone())?;
    proposed.insert(found.clone());
    Some(found)
}

/// How surely a party takes a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Support {
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
struct Fit {
    /// Parties predicted to reject it.
    refusals: usize,
    /// The largest shortfall below a party's demand, as a share of its range.
    shortfall: f64,
    /// The Nash product of the (estimated) gains over the reservation values.
    product: f64,
    /// Whether it is below a confiding party's reservation value, and by how much in
    /// all (so that a search can climb out of it).
    irrational: bool,
    deficit: f64,
}

impl Fit {
    /// Whether `self` is a better text to put than `other`: rational first (else the
    /// smaller deficit), then taken by everyone (and then the larger Nash product), else
    /// the smaller shortfall.
    fn better(&self, other: &Fit) -> bool {
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
fn larger(a: f64, b: f64) -> Option<bool> {
    ((a - b).abs() > 1e-12).then_some(a > b)
}

/// The order of texts for one room of the relay: how surely the other parties take it;
/// then, while one of them is not predicted to, the smaller shortfall below their
/// demands; then the room's party's (estimated) utility; then the Nash product.
#[derive(Clone, Copy, Debug, PartialEq)]
struct RoomKey {
    support: Support,
    shortfall: f64,
    own: f64,
    product: f64,
}

impl RoomKey {
    fn better(&self, other: &RoomKey) -> bool {
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
struct Knowledge {
    cards: Vec<u32>,
    models: Vec<OpponentModel>,
    /// Per party: its first and latest proposals (or offers).
    first: Vec<Option<Vec<u32>>>,
    latest: Vec<Option<Vec<u32>>>,
    /// Per party: the smallest (estimated) utility of a text it accepted, and the
    /// largest of a text it rejected since then.
    accepted_floor: Vec<Option<f64>>,
    rejected_ceiling: Vec<Option<f64>>,
    /// Per party: the text last put to it, and its answer.
    pending: Vec<Option<Vec<u32>>>,
    answers: Vec<Option<bool>>,
    /// Per text put: each party's latest answer, and the texts in the order first put.
    answered: BTreeMap<Vec<u32>, Vec<Option<bool>>>,
    order: Vec<Vec<u32>>,
    /// Per party: the texts it is known to accept (what it proposed, offered or
    /// accepted; demands only fall, so they stay acceptable).
    known: Vec<BTreeSet<Vec<u32>>>,
    /// The standing offer in direct talks (an acceptance makes it known).
    standing: Option<Vec<u32>>,
    /// Improvements proposed after the deal.
    proposed_improvements: BTreeSet<Vec<u32>>,
    settled: bool,
}

impl Knowledge {
    fn init(&mut self, ctx: &MediatorContext<'_>) {
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

    fn confided(ctx: &MediatorContext<'_>, i: usize) -> bool {
        ctx.confided.get(i).is_some_and(Option::is_some)
    }

    /// Party `i`'s utility of `outcome`: exact if it confided, else modelled.
    fn utility(&self, ctx: &MediatorContext<'_>, i: usize, outcome: &[u32]) -> f64 {
        match ctx.confided.get(i).and_then(Option::as_ref) {
            Some(c) => c.utility.value(outcome),
            None => self.models[i].utility(outcome),
        }
    }

    /// Party `i`'s reservation value if it confided it (0 for a model).
    fn reservation(ctx: &MediatorContext<'_>, i: usize) -> f64 {
        ctx.confided
            .get(i)
            .and_then(Option::as_ref)
            .map_or(0.0, |c| c.reservation_at(ctx.time))
    }

    /// Whether `text` is at least what walking away is worth now to every confiding
    /// party, and crosses no red line.
    fn rational(ctx: &MediatorContext<'_>, text: &[u32]) -> bool {
        ctx.confided
            .iter()
            .flatten()
            .all(|c| c.utility.value(text) >= c.reservation_at(ctx.time))
            && !ctx.red_lines.crosses(text)
    }

    /// Party `i`'s current demand: the (estimated) utility of its latest proposal, or,
    /// without proposals, of the least text it accepted (`None`: nothing known).
    fn demand(&self, ctx: &MediatorContext<'_>, i: usize) -> Option<f64> {
        let from_proposal = self.latest[i].as_ref().map(|p| self.utility(ctx, i, p));
        match (from_proposal, self.accepted_floor[i]) {
            (Some(d), Some(floor)) => Some(d.min(floor)),
            (Some(d), None) => Some(d),
            (None, Some(floor)) => Some(floor),
            (None, None) => self.rejected_ceiling[i].map(|c| c + 1e-9),
        }
    }

    /// Party `i`'s range: from its reservation value to its opening demand.
    fn range(&self, ctx: &MediatorContext<'_>, i: usize) -> f64 {
        let top = self.first[i]
            .as_ref()
            .map_or(1.0, |p| self.utility(ctx, i, p));
        (top - Self::reservation(ctx, i)).max(1e-6)
    }

    /// The estimated Nash product of `text` (exact utilities where confided).
    fn product(&self, ctx: &MediatorContext<'_>, text: &[u32]) -> f64 {
        (0..ctx.n_parties)
            .map(|i| (self.utility(ctx, i, text) - Self::reservation(ctx, i)).max(0.0) + 1e-9)
            .product()
    }

    fn fit(&self, ctx: &MediatorContext<'_>, outcome: &[u32], demands: &[Option<f64>]) -> Fit {
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
    fn support(&self, ctx: &MediatorContext<'_>, j: usize, text: &[u32]) -> Support {
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
    fn predicted_accepted(&self, ctx: &MediatorContext<'_>, text: &[u32]) -> bool {
        (0..ctx.n_parties).all(|i| self.support(ctx, i, text) >= Support::Predicted)
    }

    fn observe(&mut self, ctx: &MediatorContext<'_>, event: &Event) {
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

    fn answer(&mut self, ctx: &MediatorContext<'_>, by: usize, accept: bool) {
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
    fn tried(&self) -> impl Iterator<Item = (&Vec<u32>, usize)> {
        self.order.iter().rev().map(|text| {
            let yes = self
                .answered
                .get(text)
                .map_or(0, |a| a.iter().filter(|x| **x == Some(true)).count());
            (text, yes)
        })
    }

    /// The best text by [`Fit`] found by coordinate ascent from `starts`.
    fn search(
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
    fn choose(
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
    fn relay(&self, ctx: &MediatorContext<'_>) -> Option<Tabled> {
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

    fn room_key(&self, ctx: &MediatorContext<'_>, i: usize, text: &[u32]) -> RoomKey {
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
    fn improvement(&mut self, ctx: &MediatorContext<'_>, agreement: &[u32]) -> Option<Vec<u32>> {
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
    fn progress(&self, ctx: &MediatorContext<'_>) -> f64 {
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
    fn rational_tabled(&self, ctx: &MediatorContext<'_>, tabled: Tabled) -> Tabled {
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

/// What a built-in mediator tables in the direct phase of staged talks.
///
/// When the talks go direct: with every party's confided preferences, the Nash text as
/// the default; otherwise nothing (the engine then keeps the text every party accepted
/// in principle, if any), since a guessed default would bind the parties'
/// counter-offers. Later: with every party's preferences, the text it would put (the
/// Nash text, or near the deadline the best one every party is predicted to take) when
/// it changes; otherwise a text every party is predicted to accept, each text once and
/// at most every [`DIRECT_TEXT_GAP`] rounds, so that the parties' own exchange runs.
#[derive(Debug, Default)]
struct DirectTexts {
    opened: bool,
    tabled: BTreeSet<Vec<u32>>,
    last_round: Option<u32>,
}

/// Rounds between two texts a mediator without every party's preferences tables in
/// direct talks.
const DIRECT_TEXT_GAP: u32 = 3;

impl DirectTexts {
    fn next(
        &mut self,
        knowledge: &Knowledge,
        ctx: &MediatorContext<'_>,
        state: &State,
        ranking: &[Ranked],
        rng: &mut SmallRng,
    ) -> Option<Vec<u32>> {
        if !self.opened {
            self.opened = true;
            // A default guessed from models does worse than none (measured: staged
            // talks without confidences 0.128 from Nash instead of 0.106).
            let text = ranking.first()?.outcome.clone();
            self.tabled.insert(text.clone());
            self.last_round = Some(state.round);
            return Some(text);
        }
        let text = knowledge.choose(ctx, state, ranking, rng);
        let recent = self
            .last_round
            .is_some_and(|r| state.round < r + DIRECT_TEXT_GAP);
        if (ranking.is_empty() && recent)
            || self.tabled.contains(&text)
            || !Knowledge::rational(ctx, &text)
            || !knowledge.predicted_accepted(ctx, &text)
        {
            return None;
        }
        self.tabled.insert(text.clone());
        self.last_round = Some(state.round);
        Some(text)
    }
}

/// The single-text mediator (Klein et al. 2003).
pub struct HillClimber {
    rng: SmallRng,
    nash: NashRanking,
    knowledge: Knowledge,
    progress: f64,
    direct: DirectTexts,
}

impl HillClimber {
    /// A hill-climbing mediator.
    pub fn new(rng: SmallRng) -> HillClimber {
        HillClimber {
            rng,
            nash: NashRanking::default(),
            knowledge: Knowledge::default(),
            progress: 0.0,
            direct: DirectTexts::default(),
        }
    }

    /// Without every party's preferences: from the text that drew the most acceptances
    /// (the most recent of them), a mutation on one or two issues, then climbed by
    /// [`Fit`] on the models.
    fn climb(&mut self, ctx: &MediatorContext<'_>, state: &State) -> Vec<u32> {
        let best = self
            .knowledge
            .tried()
            .fold(None::<(&Vec<u32>, usize)>, |best, (text, yes)| match best {
                Some((_, b)) if b >= yes => best,
                _ => Some((text, yes)),
            })
            .map(|(text, _)| text.clone());
        let Some(mut text) = best else {
            return self
                .knowledge
                .choose(ctx, state, &self.nash.ranking, &mut self.rng);
        };
        let cards = &self.knowledge.cards;
        let changes = self.rng.gen_range(1..=cards.len().clamp(1, 2));
        for _ in 0..changes {
            let issue = self.rng.gen_range(0..cards.len());
            text[issue] = random_allowed(ctx, issue, cards[issue], &mut self.rng);
        }
        let demands: Vec<Option<f64>> = (0..ctx.n_parties)
            .map(|i| self.knowledge.demand(ctx, i))
            .collect();
        self.knowledge
            .search(ctx, &demands, std::slice::from_ref(&text))
            .map_or(text, |(t, _)| t)
    }
}

impl Mediator for HillClimber {
    fn name(&self) -> String {
        "hill-climber".into()
    }

    fn init(&mut self, ctx: &MediatorContext<'_>) {
        self.nash.init(ctx);
        self.knowledge.init(ctx);
    }

    fn observe(&mut self, ctx: &MediatorContext<'_>, event: &Event) {
        self.knowledge.observe(ctx, event);
        if let EventKind::Vote { .. } = event.kind {
            let answered = self.knowledge.answers.iter().flatten().count();
            if answered == ctx.n_parties {
                let yes = self.knowledge.answers.iter().filter(|a| **a == Some(true));
                self.progress = yes.count() as f64 / ctx.n_parties.max(1) as f64;
            }
        }
    }

    fn text(&mut self, ctx: &MediatorContext<'_>, state: &State) -> Tabled {
        self.nash.update(ctx);
        let text = if self.nash.ranking.is_empty() {
            self.climb(ctx, state)
        } else {
            self.knowledge
                .choose(ctx, state, &self.nash.ranking, &mut self.rng)
        };
        self.knowledge.rational_tabled(ctx, Tabled::Common(text))
    }

    fn direct_text(&mut self, ctx: &MediatorContext<'_>, state: &State) -> Option<Vec<u32>> {
        self.nash.update(ctx);
        self.direct.next(
            &self.knowledge,
            ctx,
            state,
            &self.nash.ranking,
            &mut self.rng,
        )
    }

    /// The share of parties that accepted the last text.
    fn progress(&self) -> f64 {
        self.progress
    }

    fn improve(&mut self, ctx: &MediatorContext<'_>, agreement: &[u32]) -> Option<Vec<u32>> {
        self.nash.update(ctx);
        if self.nash.ranking.is_empty() {
            self.knowledge.improvement(ctx, agreement)
        } else {
            proven_improvement(
                &self.nash.ranking,
                ctx,
                agreement,
                &mut self.knowledge.proposed_improvements,
            )
        }
    }
}

/// The shuttle mediator: see the module docs.
pub struct ShuttleMediator {
    rng: SmallRng,
    nash: NashRanking,
    knowledge: Knowledge,
    progress: f64,
    direct: DirectTexts,
}

impl ShuttleMediator {
    /// A shuttle mediator.
    pub fn new(rng: SmallRng) -> ShuttleMediator {
        ShuttleMediator {
            rng,
            nash: NashRanking::default(),
            knowledge: Knowledge::default(),
            progress: 0.0,
            direct: DirectTexts::default(),
        }
    }
}

impl Mediator for ShuttleMediator {
    fn name(&self) -> String {
        "shuttle".into()
    }

    fn init(&mut self, ctx: &MediatorContext<'_>) {
        self.nash.init(ctx);
        self.knowledge.init(ctx);
    }

    fn observe(&mut self, ctx: &MediatorContext<'_>, event: &Event) {
        self.knowledge.observe(ctx, event);
        if let EventKind::Vote { .. } = &event.kind {
            self.progress = self.knowledge.progress(ctx);
        }
    }

    fn text(&mut self, ctx: &MediatorContext<'_>, state: &State) -> Tabled {
        self.nash.update(ctx);
        let tabled = match self.nash.ranking.is_empty() {
            true => self.knowledge.relay(ctx),
            false => None,
        };
        let tabled = tabled.unwrap_or_else(|| {
            Tabled::Common(
                self.knowledge
                    .choose(ctx, state, &self.nash.ranking, &mut self.rng),
            )
        });
        self.knowledge.rational_tabled(ctx, tabled)
    }

    fn direct_text(&mut self, ctx: &MediatorContext<'_>, state: &State) -> Option<Vec<u32>> {
        self.nash.update(ctx);
        self.direct.next(
            &self.knowledge,
            ctx,
            state,
            &self.nash.ranking,
            &mut self.rng,
        )
    }

    /// The mean over parties of 1 for a party that accepted the text carried to it,
    /// else, for a party that confided, one minus that text's shortfall below its
    /// demand as a share of its range (from its reservation value to its opening
    /// proposal), else 0.
    fn progress(&self) -> f64 {
        self.progress
    }

    fn improve(&mut self, ctx: &MediatorContext<'_>, agreement: &[u32]) -> Option<Vec<u32>> {
        self.nash.update(ctx);
        if self.nash.ranking.is_empty() {
            self.knowledge.improvement(ctx, agreement)
        } else {
            proven_improvement(
                &self.nash.ranking,
                ctx,
                agreement,
                &mut self.knowledge.proposed_improvements,
            )
        }
    }
}
