//! From the core types back to the file's shape ([`to_model`]).

use parley_core::{Bound, IssueKind, Scenario, UtilityFunction, ValueFunction};

use super::model::*;

/// Converts a scenario into the file model.
pub fn to_model(scenario: &Scenario) -> FileScenario {
    let space = scenario.space();
    let issues = space
        .issues()
        .iter()
        .map(|issue| match issue.kind() {
            IssueKind::Discrete { values } => FileIssue {
                name: issue.name().to_string(),
                kind: IssueType::Discrete,
                values: Some(values.clone()),
                min: None,
                max: None,
                steps: None,
            },
            IssueKind::Integer { min, max } => FileIssue {
                name: issue.name().to_string(),
                kind: IssueType::Integer,
                values: None,
                min: Some(Number::Int(*min)),
                max: Some(Number::Int(*max)),
                steps: None,
            },
            IssueKind::Real { min, max, steps } => FileIssue {
                name: issue.name().to_string(),
                kind: IssueType::Real,
                values: None,
                min: Some(Number::Float(*min)),
                max: Some(Number::Float(*max)),
                steps: Some(*steps),
            },
        })
        .collect();
    let label = |issue_idx: usize, value_idx: u32| {
        let issue = &space.issues()[issue_idx];
        match issue.kind() {
            IssueKind::Discrete { .. } => Label::Text(issue.value_label(value_idx)),
            IssueKind::Integer { min, .. } => Label::Int(min + value_idx as i64),
            IssueKind::Real { .. } => Label::Float(issue.numeric_value(value_idx).unwrap_or(0.0)),
        }
    };
    let bounds = |bounds: &[Bound]| {
        OrderedMap(
            bounds
                .iter()
                .map(|b| {
                    (
                        space.issues()[b.issue].name().to_string(),
                        [label(b.issue, b.lo), label(b.issue, b.hi)],
                    )
                })
                .collect(),
        )
    };
    let parties = scenario
        .parties()
        .iter()
        .enumerate()
        .map(|(party_idx, party)| {
            let utility = match &party.utility {
                UtilityFunction::Linear(linear) => FileUtility {
                    kind: UtilityKind::Linear,
                    issues: linear
                        .terms
                        .iter()
                        .map(|term| {
                            let issue = &space.issues()[term.issue];
                            let (values, linear) = match &term.value_function {
                                ValueFunction::Table(evals) => (
                                    Some(OrderedMap(
                                        evals
                                            .iter()
                                            .enumerate()
                                            .map(|(v, e)| (issue.value_label(v as u32), *e))
                                            .collect(),
                                    )),
                                    None,
                                ),
                                ValueFunction::Linear { slope, offset } => (
                                    None,
                                    Some(FileLinear {
                                        slope: *slope,
                                        offset: *offset,
                                    }),
                                ),
                            };
                            FileTerm {
                                issue: issue.name().to_string(),
                                weight: term.weight,
                                values,
                                linear,
                            }
                        })
                        .collect(),
                    max: None,
                    rectangles: Vec::new(),
                },
                UtilityFunction::HyperRectangles(rects) => FileUtility {
                    kind: UtilityKind::HyperRectangles,
                    issues: Vec::new(),
                    max: Some(rects.max),
                    rectangles: rects
                        .rectangles
                        .iter()
                        .map(|r| FileRectangle {
                            utility: r.utility,
                            include: bounds(&r.include),
                            exclude: bounds(&r.exclude),
                        })
                        .collect(),
                },
            };
            FileParty {
                name: party.name.clone(),
                briefing: scenario.briefing(party_idx).map(str::to_string),
                reservation: (party.alternative.is_none() && party.reservation != 0.0)
                    .then_some(party.reservation),
                discount: party.discount,
                red_lines: party
                    .red_lines
                    .iter()
                    .map(|line| FileRedLine {
                        issue: space.issues()[line.issue].name().to_string(),
                        never: line.never.iter().map(|&v| label(line.issue, v)).collect(),
                        below: line.below,
                        above: line.above,
                    })
                    .collect(),
                alternative: party.alternative.as_ref().map(|a| FileAlternative {
                    consequences: a
                        .consequences()
                        .iter()
                        .map(|c| FileConsequence {
                            label: c.label.clone(),
                            probability: FileCurve::from_curve(&c.probability),
                            utility: FileCurve::from_curve(&c.utility),
                        })
                        .collect(),
                }),
                utility: Some(utility),
            }
        })
        .collect();
    FileScenario {
        name: scenario.name().to_string(),
        description: scenario.description().map(str::to_string),
        breakdown: (scenario.breakdown() > 0.0).then_some(scenario.breakdown()),
        issues,
        parties,
    }
}
