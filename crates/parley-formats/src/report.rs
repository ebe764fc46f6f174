//! The JSON shape of `parley analyze --json`.
//!
//! `{"name", "parties", "issues": [{"name", "values"}], "outcome_count", "reserved",
//!   "pareto": [{"utilities", "outcome"}], "pareto_exact", "nash" | "kalai_smorodinsky" |
//!   "max_welfare": {"value", "utilities", "outcome"} | null, "opposition",
//!   "zopa": [{"t", "reserved", "rational_count": n | null,
//!             "nash": {"value", "utilities", "outcome"} | null}],
//!   "zopa_closes_at": t | null}`
//!
//! Outcomes are written as value labels, one per issue. Parties are in scenario order
//! (for Genius folders: by profile file name). The frontier and the special points
//! range over the outcomes that cross no party's red line, and describe t = 0; `zopa`
//! is the zone of agreement (the outcomes acceptable to every party) at t = 0, t = 1
//! and every breakpoint of every party's alternative, in time order: what walking away
//! is worth to each party then, how many outcomes are in the zone (`null` when the
//! space is too large to count) and its Nash point (`null` when it is empty).
//! `zopa_closes_at` is the earliest time the zone is empty (`null`: it stays open
//! until the deadline).

use parley_core::analysis::{Analysis, SpecialPoint};
use parley_core::{OutcomeCount, Scenario};
use serde::Serialize;

/// An issue and its value labels.
#[derive(Debug, Serialize)]
pub struct IssueReport {
    /// Name.
    pub name: String,
    /// Value labels, in order.
    pub values: Vec<String>,
}

/// A frontier point.
#[derive(Debug, Serialize)]
pub struct PointReport {
    /// Each party's utility.
    pub utilities: Vec<f64>,
    /// Value labels, one per issue.
    pub outcome: Vec<String>,
}

/// A special point.
#[derive(Debug, Serialize)]
pub struct SpecialReport {
    /// The maximised quantity.
    pub value: f64,
    /// Each party's utility.
    pub utilities: Vec<f64>,
    /// Value labels, one per issue.
    pub outcome: Vec<String>,
}

/// The zone of agreement at one moment.
#[derive(Debug, Serialize)]
pub struct ZoneReport {
    /// Normalised time.
    pub t: f64,
    /// What walking away is worth to each party then (undiscounted).
    pub reserved: Vec<f64>,
    /// How many outcomes are acceptable to every party then (`None`: too many to count).
    pub rational_count: Option<u64>,
    /// The Nash point of the zone then (`None`: the zone is empty).
    pub nash: Option<SpecialReport>,
}

/// An outcome count: exact, or a float when it does not fit 128 bits.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum CountReport {
    /// Exact.
    Exact(u128),
    /// Approximate.
    Approximate(f64),
}

/// The analysis report.
#[derive(Debug, Serialize)]
pub struct AnalysisReport {
    /// Scenario name.
    pub name: String,
    /// Party names.
    pub parties: Vec<String>,
    /// Issues.
    pub issues: Vec<IssueReport>,
    /// Number of outcomes.
    pub outcome_count: CountReport,
    /// Reservation values.
    pub reserved: Vec<f64>,
    /// Frontier, largest first.
    pub pareto: Vec<PointReport>,
    /// Whether the frontier is proven exact.
    pub pareto_exact: bool,
    /// Nash bargaining solution.
    pub nash: Option<SpecialReport>,
    /// Kalai–Smorodinsky solution.
    pub kalai_smorodinsky: Option<SpecialReport>,
    /// Maximum welfare.
    pub max_welfare: Option<SpecialReport>,
    /// Opposition.
    pub opposition: f64,
    /// The zone of agreement at t = 0, t = 1 and every breakpoint, in time order.
    pub zopa: Vec<ZoneReport>,
    /// The earliest time the zone of agreement is empty (`None`: it stays open).
    pub zopa_closes_at: Option<f64>,
}

impl AnalysisReport {
    /// Builds the report of an analysis.
    pub fn new(scenario: &Scenario, analysis: &Analysis) -> AnalysisReport {
        let space = scenario.space();
        let special = |p: &Option<SpecialPoint>| {
            p.as_ref().map(|p| SpecialReport {
                value: p.value,
                utilities: p.utilities.clone(),
                outcome: space.outcome_labels(&p.outcome),
            })
        };
        AnalysisReport {
            name: scenario.name().to_string(),
            parties: scenario.parties().iter().map(|p| p.name.clone()).collect(),
            issues: space
                .issues()
                .iter()
                .map(|issue| IssueReport {
                    name: issue.name().to_string(),
                    values: (0..issue.cardinality())
                        .map(|v| issue.value_label(v))
                        .collect(),
                })
                .collect(),
            outcome_count: match analysis.outcome_count {
                OutcomeCount::Exact(n) => CountReport::Exact(n),
                OutcomeCount::Approximate(x) => CountReport::Approximate(x),
            },
            reserved: analysis.reserved.clone(),
            pareto: analysis
                .pareto
                .iter()
                .map(|p| PointReport {
                    utilities: p.utilities.clone(),
                    outcome: space.outcome_labels(&p.outcome),
                })
                .collect(),
            pareto_exact: analysis.pareto_exact,
            nash: special(&analysis.nash),
            kalai_smorodinsky: special(&analysis.kalai_smorodinsky),
            max_welfare: special(&analysis.max_welfare),
            opposition: analysis.opposition,
            zopa: analysis
                .zone
                .moments
                .iter()
                .map(|moment| ZoneReport {
                    t: moment.t,
                    reserved: moment.reserved.clone(),
                    rational_count: moment.rational_count,
                    nash: special(&moment.nash),
                })
                .collect(),
            zopa_closes_at: analysis.zone.closes_at,
        }
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report holds only strings and numbers")
    }
}
