//! The JSON shape of `parley analyze --json`.
//!
//! `{"name", "parties", "issues": [{"name", "values"}], "outcome_count", "reserved",
//!   "pareto": [{"utilities", "outcome"}], "pareto_exact", "nash" | "kalai_smorodinsky" |
//!   "max_welfare": {"value", "utilities", "outcome"} | null, "opposition"}`
//!
//! Outcomes are written as value labels, one per issue. Parties are in scenario order
//! (for Genius folders: by profile file name).

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
        }
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report holds only strings and numbers")
    }
}
