//! The native scenario format (TOML and JSON); see `docs/scenario-format.md`.
//!
//! The serde model here is the file's shape; [`from_model`] and [`to_model`] convert
//! it to and from the validated core types, so a file that deserialises can still be
//! rejected with a message that names the party, issue and field at fault. The model
//! keeps no positions: when [`parse_toml`] or [`parse_json`] refuse what a file says,
//! the line is found by looking the field's path up in the text again (`locate.rs`).
//!
//! The format reference below is `docs/scenario-format.md`, included verbatim.
//!
#![doc = include_str!("../../../../docs/scenario-format.md")]

use parley_core::{
    Alternative, Bound, Consequence, Curve, Forbidden, HyperRectangles, Issue, IssueKind,
    IssueTerm, LinearAdditive, OutcomeSpace, Party, Rectangle, RedLine, Scenario, UtilityFunction,
    ValueFunction, DEFAULT_REAL_STEPS,
};

use crate::error::{invalid, Error, Result};
use crate::locate::{at, Locator, Step};

mod agenda;
mod export;
mod model;

pub use agenda::{Agenda, Preferences};
pub use export::to_model;
pub use model::*;

/// Parses TOML text.
pub fn parse_toml(text: &str, path: &str) -> Result<Scenario> {
    let model: FileScenario = toml::from_str(text).map_err(|e| Error::Syntax {
        path: path.to_string(),
        message: e.to_string().trim_end().replace('\n', "\n  "),
    })?;
    convert(
        &model,
        &Source {
            path,
            locator: Locator::toml(text),
        },
    )
}

/// Reads TOML text into the file model, unchecked (cheap: nothing is built per value);
/// [`from_model`] or [`Agenda::from_model`] check it.
pub fn model_from_toml(text: &str, path: &str) -> Result<FileScenario> {
    toml::from_str(text).map_err(|e| Error::Syntax {
        path: path.to_string(),
        message: e.to_string().trim_end().replace('\n', "\n  "),
    })
}

/// Parses JSON text.
pub fn parse_json(text: &str, path: &str) -> Result<Scenario> {
    let model: FileScenario = serde_json::from_str(text).map_err(|e| Error::Syntax {
        path: path.to_string(),
        message: e.to_string(),
    })?;
    convert(
        &model,
        &Source {
            path,
            locator: Locator::json(text),
        },
    )
}

/// Writes TOML text.
pub fn to_toml(scenario: &Scenario) -> Result<String> {
    toml::to_string(&to_model(scenario)).map_err(|e| Error::Syntax {
        path: "<output>".into(),
        message: e.to_string(),
    })
}

/// Writes JSON text (pretty-printed).
pub fn to_json(scenario: &Scenario) -> Result<String> {
    serde_json::to_string_pretty(&to_model(scenario)).map_err(|e| Error::Syntax {
        path: "<output>".into(),
        message: e.to_string(),
    })
}

fn label_text(label: &Label) -> String {
    match label {
        Label::Int(i) => i.to_string(),
        Label::Float(x) => x.to_string(),
        Label::Text(s) => s.clone(),
    }
}

/// Converts a file model into a validated scenario. Errors name the file, the party or
/// issue and the field, but no line: the model does not say where it was read from
/// ([`parse_toml`] and [`parse_json`] give lines too).
pub fn from_model(model: &FileScenario, path: &str) -> Result<Scenario> {
    convert(
        model,
        &Source {
            path,
            locator: Locator::none(),
        },
    )
}

/// The file a model was read from: its name, and its text to find lines in.
struct Source<'a> {
    path: &'a str,
    locator: Locator<'a>,
}

impl Source<'_> {
    /// An error about the field at `at` (the line of the nearest part of it found in
    /// the text, if the text is at hand).
    fn invalid(&self, at: &[Step], place: impl Into<String>, what: impl Into<String>) -> Error {
        let place = place.into();
        match self.locator.line(at) {
            Some(line) => invalid(self.path, format!("line {line}: {place}"), what),
            None => invalid(self.path, place, what),
        }
    }

    fn scenario_error(&self, error: parley_core::Error) -> Error {
        Error::Scenario {
            path: self.path.to_string(),
            error,
        }
    }
}

fn convert(model: &FileScenario, src: &Source) -> Result<Scenario> {
    let mut issues = Vec::with_capacity(model.issues.len());
    for (pos, issue) in model.issues.iter().enumerate() {
        issues.push(convert_issue(issue, pos, src)?);
    }
    let space = OutcomeSpace::new(issues).map_err(|e| src.scenario_error(e))?;

    let mut parties = Vec::with_capacity(model.parties.len());
    for (party_idx, party) in model.parties.iter().enumerate() {
        parties.push(convert_party(party, party_idx, &space, src)?);
    }
    Scenario::new(
        model.name.clone(),
        model.description.clone(),
        space,
        parties,
    )
    .and_then(|scenario| scenario.with_breakdown(model.breakdown.unwrap_or(0.0)))
    .and_then(|scenario| {
        scenario.with_briefings(model.parties.iter().map(|p| p.briefing.clone()).collect())
    })
    .map_err(|e| src.scenario_error(e))
}

/// `issues[pos]` as a core issue.
fn convert_issue(issue: &FileIssue, pos: usize, src: &Source) -> Result<Issue> {
    let place = format!("issue {:?} (issue {} in the file)", issue.name, pos + 1);
    let here = at!["issues", pos];
    let kind = match issue.kind {
        IssueType::Discrete => {
            if issue.min.is_some() || issue.max.is_some() || issue.steps.is_some() {
                return Err(src.invalid(
                    here,
                    place,
                    "a discrete issue takes `values`, not `min`/`max`/`steps` (set `type = \"integer\"` or `\"real\"`)",
                ));
            }
            let values = issue.values.clone().ok_or_else(|| {
                src.invalid(here, &place, "expected `values = [...]` (or a `type`)")
            })?;
            IssueKind::Discrete { values }
        }
        IssueType::Integer => {
            let bound = |n: Option<Number>, which: &str| match n {
                Some(Number::Int(i)) => Ok(i),
                Some(Number::Float(x)) => Err(src.invalid(
                    at!["issues", pos, which],
                    &place,
                    format!("`{which}` must be a whole number for an integer issue, not {x}"),
                )),
                None => Err(src.invalid(here, &place, format!("an integer issue needs `{which}`"))),
            };
            if issue.values.is_some() || issue.steps.is_some() {
                return Err(src.invalid(
                    here,
                    &place,
                    "an integer issue takes `min` and `max` only",
                ));
            }
            IssueKind::Integer {
                min: bound(issue.min, "min")?,
                max: bound(issue.max, "max")?,
            }
        }
        IssueType::Real => {
            if issue.values.is_some() {
                return Err(src.invalid(
                    here,
                    &place,
                    "a real issue takes `min`, `max` and `steps`",
                ));
            }
            let bound = |n: Option<Number>, which: &str| {
                n.map(Number::as_f64).ok_or_else(|| {
                    src.invalid(here, &place, format!("a real issue needs `{which}`"))
                })
            };
            IssueKind::Real {
                min: bound(issue.min, "min")?,
                max: bound(issue.max, "max")?,
                steps: issue.steps.unwrap_or(DEFAULT_REAL_STEPS),
            }
        }
    };
    Issue::new(issue.name.clone(), kind).map_err(|e| match e {
        // The label may be unreadable; say which entry of `issues` it is.
        parley_core::Error::InvalidLabel(_) => src.invalid(
            here,
            format!("issue {} in the file", pos + 1),
            e.to_string(),
        ),
        e => src.scenario_error(e),
    })
}

/// `parties[party_idx]` as a core party (checked against the space, except what
/// [`Scenario::new`] checks of all parties together).
fn convert_party(
    party: &FileParty,
    party_idx: usize,
    space: &OutcomeSpace,
    src: &Source,
) -> Result<Party> {
    let place = format!("party {:?}", party.name);
    let Some(file_utility) = &party.utility else {
        return Err(src.invalid(
            at!["parties", party_idx],
            &place,
            "no `utility`: a scenario needs every party's preferences (a file that leaves \
             them out is an agenda, for live sessions where each party sets its own)",
        ));
    };
    let utility = match file_utility.kind {
        UtilityKind::Linear => {
            if file_utility.max.is_some() || !file_utility.rectangles.is_empty() {
                return Err(src.invalid(
                    at!["parties", party_idx, "utility"],
                    &place,
                    "a linear utility takes `issues`; `max` and `rectangles` need `kind = \"hyper-rectangles\"`",
                ));
            }
            let mut terms = Vec::with_capacity(file_utility.issues.len());
            for (term_idx, term) in file_utility.issues.iter().enumerate() {
                terms.push(convert_term(term, term_idx, party_idx, &place, space, src)?);
            }
            UtilityFunction::Linear(LinearAdditive { terms })
        }
        UtilityKind::HyperRectangles => {
            if !file_utility.issues.is_empty() {
                return Err(src.invalid(
                    at!["parties", party_idx, "utility", "issues"],
                    &place,
                    "a hyper-rectangles utility takes `max` and `rectangles`",
                ));
            }
            let max = file_utility.max.ok_or_else(|| {
                src.invalid(
                    at!["parties", party_idx, "utility"],
                    &place,
                    "a hyper-rectangles utility needs `max`",
                )
            })?;
            let mut rectangles = Vec::with_capacity(file_utility.rectangles.len());
            for (r, rect) in file_utility.rectangles.iter().enumerate() {
                let place = format!("{place}: rectangle {}", r + 1);
                let bounds = |which: &str, map: &OrderedMap<[Label; 2]>| -> Result<Vec<Bound>> {
                    let mut seen = Vec::new();
                    map.0
                        .iter()
                        .map(|(name, [lo, hi])| {
                            let here =
                                at!["parties", party_idx, "utility", "rectangles", r, which, name];
                            let issue_idx = space.issue_index(name).ok_or_else(|| {
                                src.invalid(here, &place, format!("there is no issue {name:?}"))
                            })?;
                            if seen.contains(&issue_idx) {
                                return Err(src.invalid(
                                    here,
                                    &place,
                                    format!(
                                        "issue {:?} is bounded twice (labels are compared once normalised)",
                                        space.issues()[issue_idx].name()
                                    ),
                                ));
                            }
                            seen.push(issue_idx);
                            let issue = &space.issues()[issue_idx];
                            let index = |label: &Label| {
                                issue.value_index(&label_text(label)).ok_or_else(|| {
                                    src.invalid(
                                        here,
                                        &place,
                                        format!(
                                            "{:?} is not a value of issue {name:?}",
                                            label_text(label)
                                        ),
                                    )
                                })
                            };
                            Ok(Bound {
                                issue: issue_idx,
                                lo: index(lo)?,
                                hi: index(hi)?,
                            })
                        })
                        .collect()
                };
                rectangles.push(Rectangle {
                    utility: rect.utility,
                    include: bounds("include", &rect.include)?,
                    exclude: bounds("exclude", &rect.exclude)?,
                });
            }
            UtilityFunction::HyperRectangles(HyperRectangles { max, rectangles })
        }
    };
    let alternative = match (&party.alternative, party.reservation) {
        (Some(_), Some(_)) => {
            return Err(src.invalid(
                at!["parties", party_idx, "reservation"],
                &place,
                "give either `reservation` or `alternative`, not both",
            ))
        }
        (Some(a), None) => Some(convert_alternative(a, party_idx, &place, src)?),
        (None, _) => None,
    };
    // Scenario::new checks these too, but cannot say on which line.
    if let Some(reservation) = party.reservation {
        if !(0.0..=1.0).contains(&reservation) {
            return Err(src.invalid(
                at!["parties", party_idx, "reservation"],
                &place,
                format!(
                    "reservation: the reservation value {reservation} must be in [0, 1] \
                     (utilities are normalised: 0 is the worst outcome, 1 the best)"
                ),
            ));
        }
    }
    if !(party.discount > 0.0 && party.discount <= 1.0) {
        return Err(src.invalid(
            at!["parties", party_idx, "discount"],
            &place,
            format!(
                "discount: the discount factor {} must be in (0, 1]",
                party.discount
            ),
        ));
    }
    let red_lines = convert_red_lines(party, party_idx, &place, space, src)?;
    Ok(Party {
        name: party.name.clone(),
        utility,
        reservation: match &alternative {
            Some(a) => a.value(0.0),
            None => party.reservation.unwrap_or(0.0),
        },
        discount: party.discount,
        alternative,
        red_lines,
    })
}

/// `parties[party_idx].utility.issues[term_idx]` as a term of a linear utility.
fn convert_term(
    term: &FileTerm,
    term_idx: usize,
    party_idx: usize,
    place: &str,
    space: &OutcomeSpace,
    src: &Source,
) -> Result<IssueTerm> {
    let place = format!("{place}: issue {:?}", term.issue);
    let here = at!["parties", party_idx, "utility", "issues", term_idx];
    let issue_idx = space.issue_index(&term.issue).ok_or_else(|| {
        src.invalid(
            at!["parties", party_idx, "utility", "issues", term_idx, "issue"],
            &place,
            "there is no such issue in `issues`",
        )
    })?;
    let issue = &space.issues()[issue_idx];
    let value_function = match (&term.values, &term.linear) {
        (Some(values), None) => {
            let mut evals: Vec<Option<f64>> = vec![None; issue.cardinality() as usize];
            let mut spelled: Vec<Option<&str>> = vec![None; evals.len()];
            for (label, eval) in &values.0 {
                let here =
                    at!["parties", party_idx, "utility", "issues", term_idx, "values", label];
                let idx = issue.value_index(label).ok_or_else(|| {
                    src.invalid(
                        here,
                        &place,
                        format!("{label:?} is not a value of the issue"),
                    )
                })?;
                // Keys are unique as written; two spellings of one label are not.
                if let Some(first) = spelled[idx as usize].replace(label) {
                    return Err(src.invalid(
                        here,
                        &place,
                        format!(
                            "{first:?} and {label:?} are both the value {:?} (labels are compared once normalised)",
                            issue.value_label(idx)
                        ),
                    ));
                }
                evals[idx as usize] = Some(*eval);
            }
            let missing: Vec<String> = evals
                .iter()
                .enumerate()
                .filter(|(_, e)| e.is_none())
                .map(|(i, _)| format!("{:?}", issue.value_label(i as u32)))
                .take(5)
                .collect();
            if !missing.is_empty() {
                return Err(src.invalid(
                    at!["parties", party_idx, "utility", "issues", term_idx, "values"],
                    &place,
                    format!(
                        "every value needs an evaluation; missing {}",
                        missing.join(", ")
                    ),
                ));
            }
            ValueFunction::Table(evals.into_iter().map(|e| e.unwrap_or(0.0)).collect())
        }
        (None, Some(linear)) => ValueFunction::Linear {
            slope: linear.slope,
            offset: linear.offset,
        },
        _ => {
            return Err(src.invalid(
                here,
                &place,
                "expected exactly one of `values = { ... }` and `linear = { slope, offset }`",
            ))
        }
    };
    Ok(IssueTerm {
        issue: issue_idx,
        weight: term.weight,
        value_function,
    })
}

/// `parties[party_idx].alternative`, checked; an error points at the curve at fault.
fn convert_alternative(
    alternative: &FileAlternative,
    party_idx: usize,
    place: &str,
    src: &Source,
) -> Result<Alternative> {
    let consequences: Vec<Consequence> = alternative
        .consequences
        .iter()
        .map(|c| Consequence {
            label: c.label.clone(),
            probability: c.probability.to_curve(),
            utility: c.utility.to_curve(),
        })
        .collect();
    Alternative::new(consequences.clone()).map_err(|e| {
        // The curve at fault: core checks the curves in this order before the sums, and
        // a curve is valid exactly when it is as the worth of a sure consequence.
        let alone = |c: &Consequence, curve: &Curve| {
            Alternative::new(vec![Consequence {
                label: c.label.clone(),
                probability: Curve::Constant(1.0),
                utility: curve.clone(),
            }])
            .is_err()
        };
        let culprit = consequences.iter().enumerate().find_map(|(k, c)| {
            [("probability", &c.probability), ("utility", &c.utility)]
                .into_iter()
                .find(|(_, curve)| alone(c, curve))
                .map(|(field, _)| (k, field))
        });
        let here = match culprit {
            Some((k, field)) => {
                at![
                    "parties",
                    party_idx,
                    "alternative",
                    "consequences",
                    k,
                    field
                ]
            }
            None => at!["parties", party_idx, "alternative", "consequences"],
        };
        src.invalid(here, place, e.to_string())
    })
}

/// `parties[party_idx].red_lines`, resolved against the space and checked; an error
/// points at the line, or the key of it, at fault.
fn convert_red_lines(
    party: &FileParty,
    party_idx: usize,
    place: &str,
    space: &OutcomeSpace,
    src: &Source,
) -> Result<Vec<RedLine>> {
    let mut lines: Vec<RedLine> = Vec::with_capacity(party.red_lines.len());
    for (k, line) in party.red_lines.iter().enumerate() {
        let issue_idx = space.issue_index(&line.issue).ok_or_else(|| {
            src.invalid(
                at!["parties", party_idx, "red_lines", k, "issue"],
                place,
                format!(
                    "red_lines[{k}].issue: there is no issue {:?} in `issues`",
                    line.issue
                ),
            )
        })?;
        let issue = &space.issues()[issue_idx];
        let field = |name: &str| format!("red_lines[{k}] (issue {:?}).{name}", issue.name());
        if line.never.is_empty() && line.below.is_none() && line.above.is_none() {
            return Err(src.invalid(
                at!["parties", party_idx, "red_lines", k],
                place,
                format!(
                    "red_lines[{k}] (issue {:?}): a red line needs `never`, `below` or `above`",
                    issue.name()
                ),
            ));
        }
        let mut never = Vec::with_capacity(line.never.len());
        for (j, label) in line.never.iter().enumerate() {
            let text = label_text(label);
            let value_idx = issue.value_index(&text).ok_or_else(|| {
                src.invalid(
                    at!["parties", party_idx, "red_lines", k, "never", j],
                    place,
                    format!("{}: {text:?} is not a value of the issue", field("never")),
                )
            })?;
            never.push(value_idx);
        }
        let numeric = issue.numeric_value(0).is_some();
        for (name, bound) in [("below", line.below), ("above", line.above)] {
            if bound.is_some() && !numeric {
                return Err(src.invalid(
                    at!["parties", party_idx, "red_lines", k, name],
                    place,
                    format!(
                        "{}: only integer and real issues have bounds; name the refused \
                         values with `never`",
                        field(name)
                    ),
                ));
            }
        }
        lines.push(RedLine {
            issue: issue_idx,
            never,
            below: line.below,
            above: line.above,
        });
        // What core checks of the lines so far (a bound that is not a number, lines
        // that refuse every value of an issue); the lines before passed, so a problem
        // is this line's.
        if let Err(problem) = Forbidden::compile(&lines, space) {
            return Err(src.invalid(at!["parties", party_idx, "red_lines", k], place, problem));
        }
    }
    Ok(lines)
}
