//! Anytime search for the frontier of spaces too large to enumerate.
//!
//! Iterated local search on augmented Chebyshev scalarisations: for a direction d,
//! maximise `min_p u_p / d_p + ρ Σ_p u_p`, whose optimum is where the ray along d
//! meets the frontier (also in its non-convex dents, which a weighted sum misses).
//! Moves change one issue's value; their effect is computed incrementally from the
//! structure of the utility functions: for hyper-rectangle utilities only the
//! rectangles that constrain the changed issue are re-checked, for additive ones it
//! is one table lookup. Every point the climbs pass through is offered to a Pareto
//! archive. One searcher runs per rayon thread with its own seeded RNG until the
//! time budget runs out; the archives are merged exactly at the end.

use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::domain::Domain;
use super::frontier::{nondominated, PointSet};
use crate::exact::Utility;
use crate::ufun::{CompiledUtility, Rectangle};

/// Weight of the sum term in the Chebyshev objective.
const RHO: f64 = 1e-3;
/// Perturb-and-climb rounds per restart.
const ILS_ROUNDS: usize = 40;

/// What the search did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchStats {
    /// Moves evaluated.
    pub evaluations: u64,
    /// Local searches started.
    pub climbs: u64,
    /// Wall time spent.
    pub elapsed: Duration,
    /// Searchers that ran in parallel.
    pub threads: usize,
}

/// One party's incremental evaluator.
enum PartyEval<'a> {
    Additive(&'a CompiledUtility),
    Rectangles {
        rectangles: &'a [Rectangle],
        contributions: Vec<f64>,
        /// For each issue, the rectangles that constrain it.
        touching: Vec<Vec<u32>>,
    },
}

impl<'a> PartyEval<'a> {
    fn new(ufun: &'a CompiledUtility, n_issues: usize) -> PartyEval<'a> {
        match ufun.rectangles() {
            Some((rectangles, contributions)) => {
                let mut touching = vec![Vec::new(); n_issues];
                for (idx, rect) in rectangles.iter().enumerate() {
                    let mut issues: Vec<usize> = rect
                        .include
                        .iter()
                        .chain(&rect.exclude)
                        .map(|b| b.issue)
                        .collect();
                    issues.sort_unstable();
                    issues.dedup();
                    for issue in issues {
                        touching[issue].push(idx as u32);
                    }
                }
                PartyEval::Rectangles {
                    rectangles,
                    contributions: contributions.iter().map(|c| c.value).collect(),
                    touching,
                }
            }
            None => PartyEval::Additive(ufun),
        }
    }

    /// Utility change when `issue` takes `value` in `outcome` (restored on return).
    #[inline]
    fn delta(&self, outcome: &mut [u32], issue: usize, value: u32) -> f64 {
        let old = outcome[issue];
        match self {
            PartyEval::Additive(ufun) => {
                let c = |v| ufun.contribution(issue, v).map_or(0.0, |u| u.value);
                c(value) - c(old)
            }
            PartyEval::Rectangles {
                rectangles,
                contributions,
                touching,
            } => {
                let mut delta = 0.0;
                for &r in &touching[issue] {
                    let rect = &rectangles[r as usize];
                    let before = rect.satisfied(outcome);
                    outcome[issue] = value;
                    let after = rect.satisfied(outcome);
                    outcome[issue] = old;
                    if before != after {
                        let c = contributions[r as usize];
                        delta += if after { c } else { -c };
                    }
                }
                delta
            }
        }
    }
}

/// A small Pareto archive of float vectors with their outcomes.
struct Archive {
    points: Vec<(Vec<f64>, Vec<u32>)>,
}

impl Archive {
    fn offer(&mut self, utils: &[f64], outcome: &[u32]) {
        let dominated = self
            .points
            .iter()
            .any(|(q, _)| q.iter().zip(utils).all(|(a, b)| a >= b));
        if dominated {
            return;
        }
        self.points
            .retain(|(q, _)| !utils.iter().zip(q).all(|(a, b)| a >= b));
        self.points.push((utils.to_vec(), outcome.to_vec()));
    }
}

fn objective(utils: &[f64], direction: &[f64]) -> f64 {
    let mut min = f64::INFINITY;
    let mut sum = 0.0;
    for (u, d) in utils.iter().zip(direction) {
        min = min.min(u / d);
        sum += u;
    }
    min + RHO * sum
}

struct Searcher<'a> {
    evals: Vec<PartyEval<'a>>,
    ufuns: &'a [CompiledUtility],
    cards: &'a [u32],
    domain: &'a Domain,
    rng: SmallRng,
    archive: Archive,
    evaluations: u64,
    climbs: u64,
    deadline: Instant,
    max_evaluations: u64,
}

impl Searcher<'_> {
    /// Whether the budget (time or work) is spent.
    fn spent(&self) -> bool {
        self.evaluations >= self.max_evaluations || Instant::now() >= self.deadline
    }

    fn utils(&self, outcome: &[u32]) -> Vec<f64> {
        self.ufuns.iter().map(|u| u.value(outcome)).collect()
    }

    /// Best-improvement climb from `outcome`; returns its utilities at the optimum.
    fn climb(&mut self, outcome: &mut [u32], direction: &[f64]) -> Vec<f64> {
        self.climbs += 1;
        let n = self.evals.len();
        let mut utils = self.utils(outcome);
        let mut current = objective(&utils, direction);
        let mut trial = vec![0.0; n];
        loop {
            if self.spent() {
                break;
            }
            let mut best: Option<(usize, u32, f64)> = None;
            for issue in 0..self.cards.len() {
                let old = outcome[issue];
                for k in 0..self.cards[issue] {
                    let value = self.domain.value(issue, k);
                    if value == old {
                        continue;
                    }
                    for (t, (eval, u)) in trial.iter_mut().zip(self.evals.iter().zip(&utils)) {
                        *t = u + eval.delta(outcome, issue, value);
                    }
                    self.evaluations += 1;
                    let score = objective(&trial, direction);
                    if score > current + 1e-12 && best.is_none_or(|(_, _, b)| score > b) {
                        best = Some((issue, value, score));
                    }
                }
            }
            match best {
                Some((issue, value, score)) => {
                    for (u, eval) in utils.iter_mut().zip(&self.evals) {
                        *u += eval.delta(outcome, issue, value);
                    }
                    outcome[issue] = value;
                    current = score;
                    self.archive.offer(&utils, outcome);
                }
                None => break,
            }
        }
        // Re-evaluate exactly to shed accumulated float error.
        let utils = self.utils(outcome);
        self.archive.offer(&utils, outcome);
        utils
    }

    fn random_direction(&mut self, n: usize) -> Vec<f64> {
        // Uniform on the simplex, kept away from the axes.
        let mut d: Vec<f64> = (0..n)
            .map(|_| -self.rng.gen_range(1e-3f64..1.0).ln())
            .collect();
        let sum: f64 = d.iter().sum();
        for x in &mut d {
            *x = (*x / sum).max(1e-3);
        }
        d
    }

    fn run(&mut self) {
        let n = self.evals.len();
        let mut outcome = vec![0u32; self.cards.len()];
        while !self.spent() {
            let direction = self.random_direction(n);
            let restart_from_archive = !self.archive.points.is_empty() && self.rng.gen_bool(0.5);
            if restart_from_archive {
                let k = self.rng.gen_range(0..self.archive.points.len());
                outcome.copy_from_slice(&self.archive.points[k].1);
            } else {
                for (issue, (v, &card)) in outcome.iter_mut().zip(self.cards).enumerate() {
                    *v = self.domain.value(issue, self.rng.gen_range(0..card));
                }
            }
            let mut utils = self.climb(&mut outcome, &direction);
            let mut score = objective(&utils, &direction);
            let mut candidate = outcome.clone();
            for _ in 0..ILS_ROUNDS {
                if self.spent() {
                    break;
                }
                candidate.copy_from_slice(&outcome);
                let kicks = self.rng.gen_range(1..=3.min(self.cards.len()));
                for _ in 0..kicks {
                    let issue = self.rng.gen_range(0..self.cards.len());
                    candidate[issue] = self
                        .domain
                        .value(issue, self.rng.gen_range(0..self.cards[issue]));
                }
                let trial = self.climb(&mut candidate, &direction);
                let trial_score = objective(&trial, &direction);
                if trial_score >= score {
                    outcome.copy_from_slice(&candidate);
                    utils = trial;
                    score = trial_score;
                }
            }
            let _ = utils;
        }
    }
}

/// How much a search may do.
#[derive(Clone, Copy, Debug)]
pub enum Budget {
    /// Search for this long, on every thread (the result depends on the machine).
    Time(Duration),
    /// Do this many utility evaluations in all, split over [`WORK_CLIMBERS`] climbers
    /// with fixed seeds: the result is the same on every machine and every run.
    Work(u64),
}

/// The number of independent climbers of a work-bounded search.
pub const WORK_CLIMBERS: usize = 4;

/// Searches until `budget` runs out; returns the (exactly filtered) frontier found,
/// tagged by position in the returned outcome list.
pub(crate) fn search_frontier(
    ufuns: &[CompiledUtility],
    domain: &Domain,
    budget: Budget,
    seed: u64,
) -> (PointSet, Vec<Vec<u32>>, SearchStats) {
    let start = Instant::now();
    let cards = domain.cards();
    // A year stands for "no deadline" (`Instant` has no maximum).
    let far = Duration::from_secs(365 * 24 * 3600);
    let (threads, deadline, max_evaluations) = match budget {
        Budget::Time(d) => (
            rayon::current_num_threads().max(1),
            start + d.min(far),
            u64::MAX,
        ),
        Budget::Work(work) => (
            WORK_CLIMBERS,
            start + far,
            work.div_ceil(WORK_CLIMBERS as u64).max(1),
        ),
    };
    let results: Vec<(Archive, u64, u64)> = (0..threads)
        .into_par_iter()
        .map(|thread| {
            let mut searcher = Searcher {
                evals: ufuns
                    .iter()
                    .map(|u| PartyEval::new(u, cards.len()))
                    .collect(),
                ufuns,
                cards,
                domain,
                rng: SmallRng::seed_from_u64(
                    seed ^ (thread as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                ),
                archive: Archive { points: Vec::new() },
                evaluations: 0,
                climbs: 0,
                deadline,
                max_evaluations,
            };
            searcher.run();
            (searcher.archive, searcher.evaluations, searcher.climbs)
        })
        .collect();

    let n = ufuns.len();
    let mut all = PointSet::new(n);
    let mut outcomes = Vec::new();
    let mut stats = SearchStats {
        threads,
        ..SearchStats::default()
    };
    let mut exact = vec![Utility::ZERO; n];
    for (archive, evaluations, climbs) in results {
        stats.evaluations += evaluations;
        stats.climbs += climbs;
        for (_, outcome) in archive.points {
            for (slot, ufun) in exact.iter_mut().zip(ufuns) {
                *slot = ufun.eval(&outcome);
            }
            all.push(&exact, outcomes.len() as u64);
            outcomes.push(outcome);
        }
    }
    stats.elapsed = start.elapsed();
    (nondominated(&all), outcomes, stats)
}
