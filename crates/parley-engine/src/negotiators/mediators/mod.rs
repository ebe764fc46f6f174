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

mod knowledge;

use std::collections::BTreeSet;

use parley_core::analysis::{frontier_within, AnalysisConfig, Method};
use parley_core::CompiledUtility;
use rand::rngs::SmallRng;
use rand::Rng;

use crate::events::{Event, EventKind};
use crate::negotiator::{Mediator, MediatorContext, State, Tabled};
use knowledge::Knowledge;

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

/// After a deal, both mediators: with every party's preferences, the proven
/// improvement with the largest Nash product; otherwise the one the models predict.
fn improve_deal(
    nash: &mut NashRanking,
    knowledge: &mut Knowledge,
    ctx: &MediatorContext<'_>,
    agreement: &[u32],
) -> Option<Vec<u32>> {
    nash.update(ctx);
    if nash.ranking.is_empty() {
        knowledge.improvement(ctx, agreement)
    } else {
        proven_improvement(
            &nash.ranking,
            ctx,
            agreement,
            &mut knowledge.proposed_improvements,
        )
    }
}

/// How many of its latest texts a mediator without the parties' preferences keeps
/// from putting again once refused.
const RECENT_TEXTS: usize = 6;

/// The single-text mediator (Klein et al. 2003).
pub struct HillClimber {
    rng: SmallRng,
    nash: NashRanking,
    knowledge: Knowledge,
    progress: f64,
    direct: DirectTexts,
    /// The latest texts put, oldest first (at most [`RECENT_TEXTS`]).
    recent: std::collections::VecDeque<Vec<u32>>,
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
            recent: std::collections::VecDeque::new(),
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
        let cards = self.knowledge.cards.clone();
        let mutate = |text: &mut Vec<u32>, rng: &mut SmallRng| {
            let changes = rng.gen_range(1..=cards.len().clamp(1, 2));
            for _ in 0..changes {
                let issue = rng.gen_range(0..cards.len());
                text[issue] = random_allowed(ctx, issue, cards[issue], rng);
            }
        };
        mutate(&mut text, &mut self.rng);
        let demands: Vec<Option<f64>> = (0..ctx.n_parties)
            .map(|i| self.knowledge.demand(ctx, i))
            .collect();
        let searched = self
            .knowledge
            .search(ctx, &demands, std::slice::from_ref(&text))
            .map_or_else(|| text.clone(), |(t, _)| t);
        // The models can lead the climb back to a text just refused: without fresh
        // votes nothing is learnt, and the talks stall on it. A text some party
        // refused among the last few is not put again; the raw mutation (mutated on
        // until it is new) goes instead.
        let refused: std::collections::HashSet<&Vec<u32>> = self
            .knowledge
            .tried()
            .filter(|(_, yes)| *yes < ctx.n_parties)
            .map(|(t, _)| t)
            .collect();
        let recently_refused: Vec<Vec<u32>> = self
            .recent
            .iter()
            .filter(|t| refused.contains(t))
            .cloned()
            .collect();
        if !recently_refused.contains(&searched) {
            return searched;
        }
        for _ in 0..32 {
            if !recently_refused.contains(&text) {
                break;
            }
            mutate(&mut text, &mut self.rng);
        }
        text
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
        let tabled = self.knowledge.rational_tabled(ctx, Tabled::Common(text));
        if let Tabled::Common(text) = &tabled {
            if self.recent.len() == RECENT_TEXTS {
                self.recent.pop_front();
            }
            self.recent.push_back(text.clone());
        }
        tabled
    }

    fn direct_text(&mut self, ctx: &MediatorContext<'_>, state: &State) -> Option<Vec<u32>> {
        self.nash.update(ctx);
        let (nash, rng) = (&self.nash, &mut self.rng);
        self.direct
            .next(&self.knowledge, ctx, state, &nash.ranking, rng)
    }

    /// The share of parties that accepted the last text.
    fn progress(&self) -> f64 {
        self.progress
    }

    fn improve(&mut self, ctx: &MediatorContext<'_>, agreement: &[u32]) -> Option<Vec<u32>> {
        improve_deal(&mut self.nash, &mut self.knowledge, ctx, agreement)
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
        let (nash, rng) = (&self.nash, &mut self.rng);
        self.direct
            .next(&self.knowledge, ctx, state, &nash.ranking, rng)
    }

    /// The mean over parties of 1 for a party that accepted the text carried to it,
    /// else, for a party that confided, one minus that text's shortfall below its
    /// demand as a share of its range (from its reservation value to its opening
    /// proposal), else 0.
    fn progress(&self) -> f64 {
        self.progress
    }

    fn improve(&mut self, ctx: &MediatorContext<'_>, agreement: &[u32]) -> Option<Vec<u32>> {
        improve_deal(&mut self.nash, &mut self.knowledge, ctx, agreement)
    }
}
