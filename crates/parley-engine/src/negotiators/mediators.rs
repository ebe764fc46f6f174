//! Built-in mediators.
//!
//! - `hill-climber` — the single negotiating text of Klein, Faratin, Sayama & Bar-Yam,
//!   "Negotiating complex contracts" (2003): start from a text, propose a mutation of the
//!   last text everyone accepted, keep it when everyone accepts it.
//! - `shuttle` — carries compromise texts between the sides' latest positions: each
//!   issue takes, in turn, one side's proposed value. With every party's confided
//!   preferences it aims at the Nash bargaining point instead, proposing the outcomes
//!   with the largest Nash product first.
//!
//! Both use confided preferences only to choose texts; nothing confided is ever part
//! of a text's event or of any message to a party.

use parley_core::analysis::{frontier_of, AnalysisConfig, Method};
use parley_core::CompiledUtility;
use rand::rngs::SmallRng;
use rand::Rng;

use crate::events::{Event, EventKind};
use crate::negotiator::{Mediator, MediatorContext, State};

/// Outcomes ranked by the Nash product of the confided utilities (largest first),
/// restricted to the exact frontier; empty when the frontier cannot be found exactly.
fn nash_ranking(ctx: &MediatorContext<'_>) -> Vec<(Vec<u32>, Vec<f64>, f64)> {
    if !ctx.all_confided() {
        return Vec::new();
    }
    let ufuns: Vec<CompiledUtility> = ctx
        .confided
        .iter()
        .flatten()
        .map(|c| c.utility.clone())
        .collect();
    let reservations: Vec<f64> = ctx
        .confided
        .iter()
        .flatten()
        .map(|c| c.reservation)
        .collect();
    let all_additive = ufuns.iter().all(CompiledUtility::is_additive);
    let small = ctx
        .space
        .outcome_count()
        .as_u64()
        .is_some_and(|c| c <= 2_000_000);
    if !all_additive && !small {
        return Vec::new(); // an exact frontier is out of reach; fall back to compromises
    }
    let config = AnalysisConfig {
        method: Method::Auto,
        enumeration_limit: 2_000_000,
        ..AnalysisConfig::default()
    };
    let Ok((frontier, _)) = frontier_of(&ufuns, ctx.space, &config) else {
        return Vec::new();
    };
    let mut ranked: Vec<(Vec<u32>, Vec<f64>, f64)> = (0..frontier.len())
        .filter_map(|k| {
            let utils: Vec<f64> = frontier.point(k).iter().map(|u| u.value).collect();
            let rational = utils.iter().zip(&reservations).all(|(u, r)| u >= r);
            rational.then(|| {
                let product = utils
                    .iter()
                    .zip(&reservations)
                    .map(|(u, r)| u - r)
                    .product();
                (frontier.outcome(k).to_vec(), utils, product)
            })
        })
        .collect();
    ranked.sort_by(|a, b| b.2.total_cmp(&a.2));
    ranked
}

fn random_outcome(ctx: &MediatorContext<'_>, rng: &mut SmallRng) -> Vec<u32> {
    ctx.space
        .cardinalities()
        .iter()
        .map(|&c| rng.gen_range(0..c))
        .collect()
}

/// The best improvement of `agreement` for the confided utilities, if any.
fn improvement(
    ranking: &[(Vec<u32>, Vec<f64>, f64)],
    ctx: &MediatorContext<'_>,
    agreement: &[u32],
) -> Option<Vec<u32>> {
    let now: Vec<f64> = ctx
        .confided
        .iter()
        .flatten()
        .map(|c| c.utility.value(agreement))
        .collect();
    ranking
        .iter()
        .find(|(_, utils, _)| {
            utils.iter().zip(&now).all(|(u, a)| *u >= *a - 1e-12)
                && utils.iter().zip(&now).any(|(u, a)| *u > *a + 1e-9)
        })
        .map(|(outcome, _, _)| outcome.clone())
}

/// Klein et al.'s single-text hill-climber.
pub struct HillClimber {
    rng: SmallRng,
    ranking: Vec<(Vec<u32>, Vec<f64>, f64)>,
    /// The last text everyone accepted.
    current: Option<Vec<u32>>,
    /// What mutations start from: the last accepted text, else the first text tabled.
    base: Option<Vec<u32>>,
    proposed: Option<Vec<u32>>,
    votes: Vec<bool>,
    last_acceptance: f64,
}

impl HillClimber {
    /// A hill-climbing mediator.
    pub fn new(rng: SmallRng) -> HillClimber {
        HillClimber {
            rng,
            ranking: Vec::new(),
            current: None,
            base: None,
            proposed: None,
            votes: Vec::new(),
            last_acceptance: 0.0,
        }
    }
}

impl Mediator for HillClimber {
    fn name(&self) -> String {
        "hill-climber".into()
    }

    fn init(&mut self, ctx: &MediatorContext<'_>) {
        self.ranking = nash_ranking(ctx);
    }

    fn observe(&mut self, ctx: &MediatorContext<'_>, event: &Event) {
        match &event.kind {
            EventKind::Text { .. } | EventKind::Carry { .. } => self.votes.clear(),
            EventKind::Vote { accept, .. } => {
                self.votes.push(*accept);
                if self.votes.len() == ctx.n_parties {
                    let yes = self.votes.iter().filter(|v| **v).count();
                    self.last_acceptance = yes as f64 / ctx.n_parties as f64;
                    if yes == ctx.n_parties {
                        self.current = self.proposed.clone();
                        self.base = self.proposed.clone();
                    }
                }
            }
            _ => {}
        }
    }

    fn text(&mut self, ctx: &MediatorContext<'_>, state: &State) -> Vec<u32> {
        let text = match (&self.base, self.ranking.is_empty()) {
            // With confided preferences: table the outcomes with the largest Nash products
            // first, until one is accepted; then propose mutations of it.
            (_, false) if self.current.is_none() => {
                let k = (state.round as usize) % self.ranking.len().min(3);
                self.ranking[k].0.clone()
            }
            (None, _) => random_outcome(ctx, &mut self.rng),
            (Some(base), no_ranking) => {
                let base = base.clone();
                let mutate = |rng: &mut SmallRng| {
                    let mut text = base.clone();
                    let cards = ctx.space.cardinalities();
                    let changes = rng.gen_range(1..=2.min(cards.len()));
                    for _ in 0..changes {
                        let issue = rng.gen_range(0..cards.len());
                        text[issue] = rng.gen_range(0..cards[issue]);
                    }
                    text
                };
                if no_ranking {
                    mutate(&mut self.rng)
                } else {
                    // Confided preferences: the best of a few mutations by Nash product,
                    // and only one that improves on the accepted text.
                    let product = |o: &[u32]| -> f64 {
                        ctx.confided
                            .iter()
                            .flatten()
                            .map(|c| (c.utility.value(o) - c.reservation).max(0.0))
                            .product()
                    };
                    let mut best = (base.clone(), product(&base));
                    for _ in 0..32 {
                        let text = mutate(&mut self.rng);
                        let p = product(&text);
                        if p > best.1 {
                            best = (text, p);
                        }
                    }
                    best.0
                }
            }
        };
        if self.base.is_none() {
            self.base = Some(text.clone());
        }
        self.proposed = Some(text.clone());
        text
    }

    fn progress(&self) -> f64 {
        if self.current.is_some() {
            1.0
        } else {
            self.last_acceptance
        }
    }

    fn improve(&mut self, ctx: &MediatorContext<'_>, agreement: &[u32]) -> Option<Vec<u32>> {
        improvement(&self.ranking, ctx, agreement)
    }
}

/// The shuttle mediator: compromise texts between the sides' latest positions, or the
/// Nash ranking when every party confided.
pub struct ShuttleMediator {
    rng: SmallRng,
    ranking: Vec<(Vec<u32>, Vec<f64>, f64)>,
    positions: Vec<Option<Vec<u32>>>,
    next_rank: usize,
    /// With confided preferences: per party, its utility loss from its own latest
    /// position to the others' (mean), recomputed as positions arrive.
    utility_gaps: Vec<f64>,
}

impl ShuttleMediator {
    /// A shuttle mediator.
    pub fn new(rng: SmallRng) -> ShuttleMediator {
        ShuttleMediator {
            rng,
            ranking: Vec::new(),
            positions: Vec::new(),
            next_rank: 0,
            utility_gaps: Vec::new(),
        }
    }
}

impl Mediator for ShuttleMediator {
    fn name(&self) -> String {
        "shuttle".into()
    }

    fn init(&mut self, ctx: &MediatorContext<'_>) {
        self.ranking = nash_ranking(ctx);
        self.positions = vec![None; ctx.n_parties];
    }

    fn observe(&mut self, ctx: &MediatorContext<'_>, event: &Event) {
        if let EventKind::Proposal { from, outcome } | EventKind::Offer { from, outcome } =
            &event.kind
        {
            if let Some(slot) = self.positions.get_mut(*from) {
                *slot = Some(outcome.clone());
            }
            if ctx.all_confided() && self.positions.iter().all(Option::is_some) {
                self.utility_gaps = ctx
                    .confided
                    .iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, c)| {
                        let own = self.positions[i]
                            .as_deref()
                            .map_or(0.0, |o| c.utility.value(o));
                        let others: Vec<f64> = self
                            .positions
                            .iter()
                            .enumerate()
                            .filter(|(j, _)| *j != i)
                            .filter_map(|(_, o)| o.as_deref().map(|o| c.utility.value(o)))
                            .collect();
                        let mean = others.iter().sum::<f64>() / others.len().max(1) as f64;
                        (own - mean).clamp(0.0, 1.0)
                    })
                    .collect();
            }
        }
    }

    fn text(&mut self, ctx: &MediatorContext<'_>, state: &State) -> Vec<u32> {
        if !self.ranking.is_empty() {
            // Aim at the Nash point: table the three best Nash products in turn.
            let k = self.next_rank % self.ranking.len().min(3);
            self.next_rank += 1;
            return self.ranking[k].0.clone();
        }
        let known: Vec<&Vec<u32>> = self.positions.iter().flatten().collect();
        if known.is_empty() {
            return random_outcome(ctx, &mut self.rng);
        }
        // Issue by issue, take turns: issue i follows side (i + round) mod sides.
        (0..ctx.space.n_issues())
            .map(|issue| known[(issue + state.round as usize) % known.len()][issue])
            .collect()
    }

    /// With confided preferences: one minus the mean, over parties, of how much a party
    /// loses (in its own utility) from its latest position to the others' latest
    /// positions. Otherwise: one minus the mean share of issues on which two sides'
    /// latest positions differ.
    fn progress(&self) -> f64 {
        let known: Vec<&Vec<u32>> = self.positions.iter().flatten().collect();
        if known.len() < 2 || known.len() < self.positions.len() {
            return 0.0;
        }
        if !self.utility_gaps.is_empty() {
            return 1.0 - self.utility_gaps.iter().sum::<f64>() / self.utility_gaps.len() as f64;
        }
        let mut gap = 0.0;
        let mut pairs = 0.0;
        for (i, a) in known.iter().enumerate() {
            for b in &known[i + 1..] {
                let differ = a.iter().zip(b.iter()).filter(|(x, y)| x != y).count();
                gap += differ as f64 / a.len().max(1) as f64;
                pairs += 1.0;
            }
        }
        1.0 - gap / pairs
    }

    fn improve(&mut self, ctx: &MediatorContext<'_>, agreement: &[u32]) -> Option<Vec<u32>> {
        improvement(&self.ranking, ctx, agreement)
    }
}
