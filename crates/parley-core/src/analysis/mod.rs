//! Exact analysis of a scenario: the Pareto frontier, Nash, Kalai–Smorodinsky,
//! maximum welfare and opposition, for any number of parties (definitions in
//! DESIGN.md, "Semantics that must be exact").
//!
//! How the frontier is found ([`Method`]):
//! - **additive**: when every utility is linear-additive, exactly, by dynamic
//!   programming over issues (any space size);
//! - **enumerate**: any utility, exactly, by streaming the whole space in parallel;
//! - **search**: spaces too large to enumerate, by anytime local search within a time
//!   budget; the frontier is then not proven exact ([`Analysis::pareto_exact`]).

mod additive;
mod domain;
mod enumerate;
pub mod frontier;
mod points;
mod search;
pub mod zone;

use std::time::Duration;

pub use enumerate::decode;
pub use search::{Budget, SearchStats, WORK_CLIMBERS};

use crate::exact::Utility;
use crate::red_line::Forbidden;
use crate::scenario::Scenario;
use crate::space::OutcomeCount;
use crate::{Error, Result};
use domain::Domain;

/// How to find the frontier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Method {
    /// `additive` when every utility is additive, else `enumerate` when the space is
    /// small enough, else `search`.
    #[default]
    Auto,
    /// Dynamic programming over issues (linear-additive utilities only); exact.
    Additive,
    /// Streaming enumeration of every outcome; exact.
    Enumerate,
    /// Anytime local search within the time budget; not proven exact.
    Search,
}

impl Method {
    /// The method's name, as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Additive => "additive",
            Method::Enumerate => "enumerate",
            Method::Search => "search",
        }
    }
}

/// Settings of an analysis.
#[derive(Clone, Debug)]
pub struct AnalysisConfig {
    /// How to find the frontier.
    pub method: Method,
    /// Time budget of the search.
    pub time_budget: Duration,
    /// Work budget of the search in utility evaluations; when set, it replaces the
    /// time budget and the search gives the same frontier on every machine and run.
    pub work_budget: Option<u64>,
    /// `auto` enumerates spaces of at most this many outcomes (when not additive).
    pub enumeration_limit: u64,
    /// Seed of the search.
    pub seed: u64,
}

impl AnalysisConfig {
    /// The search budget: the work budget if set, else the time budget.
    pub fn budget(&self) -> search::Budget {
        match self.work_budget {
            Some(work) => search::Budget::Work(work),
            None => search::Budget::Time(self.time_budget),
        }
    }
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            method: Method::Auto,
            time_budget: Duration::from_secs(10),
            work_budget: None,
            enumeration_limit: 20_000_000,
            seed: 0,
        }
    }
}

/// A Pareto frontier: distinct non-dominated utility vectors, largest first
/// (lexicographically), each with one outcome that attains it.
#[derive(Clone, Debug)]
pub struct Frontier {
    n_parties: usize,
    n_issues: usize,
    utils: Vec<Utility>,
    outcomes: Vec<u32>,
    exact: bool,
    method: Method,
}

impl Frontier {
    /// The number of points.
    pub fn len(&self) -> usize {
        self.utils.len() / self.n_parties.max(1)
    }

    /// Whether the frontier is empty.
    pub fn is_empty(&self) -> bool {
        self.utils.is_empty()
    }

    /// The number of parties.
    pub fn n_parties(&self) -> usize {
        self.n_parties
    }

    /// The utilities of point `idx`.
    pub fn point(&self, idx: usize) -> &[Utility] {
        &self.utils[idx * self.n_parties..(idx + 1) * self.n_parties]
    }

    /// The outcome of point `idx`.
    pub fn outcome(&self, idx: usize) -> &[u32] {
        &self.outcomes[idx * self.n_issues..(idx + 1) * self.n_issues]
    }

    /// Whether the frontier is proven exact.
    pub fn is_exact(&self) -> bool {
        self.exact
    }

    /// The method that found it.
    pub fn method(&self) -> Method {
        self.method
    }
}

/// One point of the frontier.
#[derive(Clone, Debug, PartialEq)]
pub struct ParetoPoint {
    /// Each party's utility.
    pub utilities: Vec<f64>,
    /// Value indices, one per issue.
    pub outcome: Vec<u32>,
}

/// A special outcome and the quantity it maximises.
#[derive(Clone, Debug, PartialEq)]
pub struct SpecialPoint {
    /// The maximised quantity: Nash product, KS minimum ratio, or welfare sum.
    pub value: f64,
    /// Each party's utility.
    pub utilities: Vec<f64>,
    /// Value indices, one per issue.
    pub outcome: Vec<u32>,
}

/// The analysis of a scenario.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// The number of outcomes.
    pub outcome_count: OutcomeCount,
    /// Reservation values, one per party.
    pub reserved: Vec<f64>,
    /// The frontier, largest first.
    pub pareto: Vec<ParetoPoint>,
    /// Whether the frontier is proven exact.
    pub pareto_exact: bool,
    /// The method that found the frontier.
    pub method: Method,
    /// Nash bargaining solution (null when no outcome is rational).
    pub nash: Option<SpecialPoint>,
    /// Kalai–Smorodinsky solution.
    pub kalai_smorodinsky: Option<SpecialPoint>,
    /// Maximum welfare.
    pub max_welfare: Option<SpecialPoint>,
    /// Smallest distance from an outcome's utilities to the ideal point.
    pub opposition: f64,
    /// Each party's best utility.
    pub ideal: Vec<f64>,
    /// What the search did, when the frontier was searched.
    pub search: Option<SearchStats>,
    /// The zone of agreement over time (the fields above describe t = 0).
    pub zone: zone::Zone,
}

impl Analysis {
    /// The Euclidean distance from a utility vector to the nearest frontier point
    /// (0 on the frontier; infinite when the frontier is empty).
    pub fn pareto_distance(&self, utilities: &[f64]) -> f64 {
        self.pareto
            .iter()
            .map(|p| euclidean(&p.utilities, utilities))
            .fold(f64::INFINITY, f64::min)
    }

    /// The Euclidean distance from a utility vector to the Nash point (`None` when no
    /// outcome is rational, so there is no Nash point).
    pub fn nash_distance(&self, utilities: &[f64]) -> Option<f64> {
        self.nash
            .as_ref()
            .map(|nash| euclidean(&nash.utilities, utilities))
    }
}

fn euclidean(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

/// Finds the Pareto frontier of a scenario: of the outcomes that cross no party's red
/// line (the only ones that can be agreed; the whole space when there are none).
pub fn pareto_frontier(
    scenario: &Scenario,
    config: &AnalysisConfig,
) -> Result<(Frontier, Option<SearchStats>)> {
    frontier_within(
        scenario.utilities(),
        scenario.space(),
        scenario.red_lines_of_all(),
        config,
    )
}

/// Finds the Pareto frontier of any set of compiled utility functions over `space`
/// (for example the ones parties confided to a mediator).
pub fn frontier_of(
    ufuns: &[crate::CompiledUtility],
    space: &crate::OutcomeSpace,
    config: &AnalysisConfig,
) -> Result<(Frontier, Option<SearchStats>)> {
    frontier_within(ufuns, space, &Forbidden::EMPTY, config)
}

/// [`frontier_of`] the outcomes of `space` that cross none of `forbidden`'s red lines.
pub fn frontier_within(
    ufuns: &[crate::CompiledUtility],
    space: &crate::OutcomeSpace,
    forbidden: &Forbidden,
    config: &AnalysisConfig,
) -> Result<(Frontier, Option<SearchStats>)> {
    let domain = Domain::new(space, forbidden);
    let all_additive = ufuns.iter().all(|u| u.is_additive());
    let count = if domain.is_whole() {
        space.outcome_count().as_u64()
    } else {
        domain.count()
    };

    let method = match config.method {
        Method::Auto if all_additive => Method::Additive,
        Method::Auto if count.is_some_and(|c| c <= config.enumeration_limit) => Method::Enumerate,
        Method::Auto => Method::Search,
        other => other,
    };
    let n = ufuns.len();
    let n_issues = space.n_issues();
    let (points, outcomes, stats): (frontier::PointSet, Vec<u32>, Option<SearchStats>) =
        match method {
            Method::Additive => {
                if !all_additive {
                    return Err(Error::Analysis(
                    "the additive method needs linear-additive utility functions for every party".into(),
                ));
                }
                let (points, outcomes) = additive::additive_frontier(ufuns, &domain)?;
                (points, outcomes.concat(), None)
            }
            Method::Enumerate => {
                let count = count.ok_or_else(|| {
                    Error::Analysis(format!(
                        "{} outcomes are too many to enumerate",
                        space.outcome_count()
                    ))
                })?;
                let points = enumerate::enumerate_frontier(ufuns, &domain, count);
                let mut outcomes = vec![0u32; points.len() * n_issues];
                for (k, chunk) in outcomes
                    .chunks_mut(n_issues.max(1))
                    .enumerate()
                    .take(points.len())
                {
                    domain.decode(points.tag(k), chunk);
                }
                (points, outcomes, None)
            }
            Method::Search | Method::Auto => {
                let (points, found, stats) =
                    search::search_frontier(ufuns, &domain, config.budget(), config.seed);
                let mut outcomes = Vec::with_capacity(points.len() * n_issues);
                for k in 0..points.len() {
                    outcomes.extend_from_slice(&found[points.tag(k) as usize]);
                }
                (points, outcomes, Some(stats))
            }
        };
    let mut utils = Vec::with_capacity(points.len() * n);
    for k in 0..points.len() {
        utils.extend_from_slice(points.point(k));
    }
    let frontier = Frontier {
        n_parties: n,
        n_issues,
        utils,
        outcomes,
        exact: method != Method::Search,
        method,
    };
    Ok((frontier, stats))
}

/// Analyses a scenario: frontier, special points and opposition.
pub fn analyze(scenario: &Scenario, config: &AnalysisConfig) -> Result<Analysis> {
    let (frontier, search) = pareto_frontier(scenario, config)?;
    let reserved: Vec<f64> = scenario
        .parties()
        .iter()
        .map(|p| zone::snap(p.reservation_at(0.0)))
        .collect();
    let zone = zone::zone_over_time(scenario, &frontier, config.enumeration_limit);
    let special = points::special_points(&frontier, &reserved);
    let pareto = (0..frontier.len())
        .map(|k| ParetoPoint {
            utilities: frontier.point(k).iter().map(|u| u.value).collect(),
            outcome: frontier.outcome(k).to_vec(),
        })
        .collect();
    Ok(Analysis {
        outcome_count: scenario.space().outcome_count(),
        reserved,
        pareto,
        pareto_exact: frontier.is_exact(),
        method: frontier.method(),
        nash: special.nash,
        kalai_smorodinsky: special.kalai_smorodinsky,
        max_welfare: special.max_welfare,
        opposition: special.opposition,
        ideal: special.ideal,
        search,
        zone,
    })
}
