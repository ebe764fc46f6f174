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
#![doc = include_str!("../../../docs/scenario-format.md")]

use std::fmt;

use parley_core::{
    Alternative, Bound, Consequence, Curve, Forbidden, HyperRectangles, Issue, IssueKind,
    IssueTerm, LinearAdditive, OutcomeSpace, Party, Rectangle, RedLine, Scenario, UtilityFunction,
    ValueFunction, DEFAULT_REAL_STEPS,
};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{invalid, Error, Result};
use crate::locate::{at, Locator, Step};

/// A map that keeps the order of its keys and refuses duplicates.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<V: Serialize> Serialize for OrderedMap<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct MapVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of names to values")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut access: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, V)> = Vec::new();
                while let Some((key, value)) = access.next_entry::<String, V>()? {
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(serde::de::Error::custom(format!(
                            "key {key:?} appears twice"
                        )));
                    }
                    entries.push((key, value));
                }
                Ok(OrderedMap(entries))
            }
        }
        deserializer.deserialize_map(MapVisitor(std::marker::PhantomData))
    }
}

/// A number as written: whole or not.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Number {
    /// A whole number.
    Int(i64),
    /// Any other number.
    Float(f64),
}

impl Number {
    fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(x) => x,
        }
    }
}

/// An issue value in a rectangle bound or a red line: a number or a value name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Label {
    /// A whole number.
    Int(i64),
    /// A real number.
    Float(f64),
    /// A value name.
    Text(String),
}

/// The kind of an issue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueType {
    /// Named values.
    #[default]
    Discrete,
    /// Whole numbers in a range.
    Integer,
    /// A real interval.
    Real,
}

/// A scenario file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileScenario {
    /// The scenario's name.
    pub name: String,
    /// What it models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The chance per round that the talks collapse (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<f64>,
    /// The issues, in order.
    pub issues: Vec<FileIssue>,
    /// The parties, in order.
    pub parties: Vec<FileParty>,
}

/// An issue in a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileIssue {
    /// Name.
    pub name: String,
    /// Kind (default: discrete).
    #[serde(rename = "type", default, skip_serializing_if = "is_discrete")]
    pub kind: IssueType,
    /// Discrete values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// Lower end (integer, real).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Number>,
    /// Upper end (integer, real).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Number>,
    /// Grid points of a real issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
}

fn is_discrete(kind: &IssueType) -> bool {
    *kind == IssueType::Discrete
}

fn default_discount() -> f64 {
    1.0
}

fn is_one(x: &f64) -> bool {
    *x == 1.0
}

/// A party in a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileParty {
    /// Name.
    pub name: String,
    /// Reservation value (default 0); not with `alternative`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<f64>,
    /// Discount factor (default 1).
    #[serde(default = "default_discount", skip_serializing_if = "is_one")]
    pub discount: f64,
    /// The alternative to a deal as a lottery over time; not with `reservation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternative: Option<FileAlternative>,
    /// `[[parties.red_lines]]`: packages the party never accepts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub red_lines: Vec<FileRedLine>,
    /// A private briefing: what this party's negotiator should know (shown only in its
    /// own room).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub briefing: Option<String>,
    /// The utility function.
    pub utility: FileUtility,
}

/// `[[parties.red_lines]]`: values of one issue the party never accepts, whatever the
/// rest of the package. At least one of `never`, `below` and `above`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRedLine {
    /// The issue's name.
    pub issue: String,
    /// Values refused: value names, or numbers (as numbers or strings) for integer
    /// and real issues.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub never: Vec<Label>,
    /// Integer and real issues: every value less than this is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
    /// Integer and real issues: every value greater than this is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
}

/// `[parties.alternative]`: the consequences of walking away.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAlternative {
    /// The consequences, each with its chance and its worth over time.
    pub consequences: Vec<FileConsequence>,
}

/// One consequence of walking away.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConsequence {
    /// What it is.
    pub label: String,
    /// Its chance: a number, or `[[t, p], ...]`.
    pub probability: FileCurve,
    /// Its worth: a number, or `[[t, u], ...]`.
    pub utility: FileCurve,
}

/// A number, or a piecewise-linear curve `[[t, y], ...]` over normalised time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a number, or a curve [[t, y], ...] with t from 0 to 1"
)]
pub enum FileCurve {
    /// The same at every time.
    Number(f64),
    /// Breakpoints.
    Points(Vec<[f64; 2]>),
}

impl FileCurve {
    fn to_curve(&self) -> Curve {
        match self {
            FileCurve::Number(y) => Curve::Constant(*y),
            FileCurve::Points(points) => {
                Curve::Piecewise(points.iter().map(|&[t, y]| (t, y)).collect())
            }
        }
    }

    fn from_curve(curve: &Curve) -> FileCurve {
        match curve {
            Curve::Constant(y) => FileCurve::Number(*y),
            Curve::Piecewise(points) => {
                FileCurve::Points(points.iter().map(|&(t, y)| [t, y]).collect())
            }
        }
    }
}

/// The kind of a utility function.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UtilityKind {
    /// Linear-additive.
    #[default]
    Linear,
    /// Hyper-rectangle constraints.
    HyperRectangles,
}

/// A utility function in a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileUtility {
    /// Kind (default: linear).
    #[serde(default)]
    pub kind: UtilityKind,
    /// Linear: one entry per weighted issue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<FileTerm>,
    /// Hyper-rectangles: the normaliser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Hyper-rectangles: the constraints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rectangles: Vec<FileRectangle>,
}

/// One issue's term of a linear utility function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTerm {
    /// The issue's name.
    pub issue: String,
    /// Its weight.
    pub weight: f64,
    /// Raw evaluation per value name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<OrderedMap<f64>>,
    /// Linear evaluator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear: Option<FileLinear>,
}

/// `e(v) = clamp(slope·(v − min) + offset, 0, 1)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLinear {
    /// Slope.
    pub slope: f64,
    /// Offset.
    pub offset: f64,
}

/// A hyper-rectangle in a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRectangle {
    /// Raw utility when satisfied.
    pub utility: f64,
    /// Issue name → [lo, hi], all must hold.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub include: OrderedMap<[Label; 2]>,
    /// Issue name → [lo, hi], one must be violated.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub exclude: OrderedMap<[Label; 2]>,
}

fn is_empty_map<V>(map: &OrderedMap<V>) -> bool {
    map.0.is_empty()
}

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
    let utility = match party.utility.kind {
        UtilityKind::Linear => {
            if party.utility.max.is_some() || !party.utility.rectangles.is_empty() {
                return Err(src.invalid(
                    at!["parties", party_idx, "utility"],
                    &place,
                    "a linear utility takes `issues`; `max` and `rectangles` need `kind = \"hyper-rectangles\"`",
                ));
            }
            let mut terms = Vec::with_capacity(party.utility.issues.len());
            for (term_idx, term) in party.utility.issues.iter().enumerate() {
                terms.push(convert_term(term, term_idx, party_idx, &place, space, src)?);
            }
            UtilityFunction::Linear(LinearAdditive { terms })
        }
        UtilityKind::HyperRectangles => {
            if !party.utility.issues.is_empty() {
                return Err(src.invalid(
                    at!["parties", party_idx, "utility", "issues"],
                    &place,
                    "a hyper-rectangles utility takes `max` and `rectangles`",
                ));
            }
            let max = party.utility.max.ok_or_else(|| {
                src.invalid(
                    at!["parties", party_idx, "utility"],
                    &place,
                    "a hyper-rectangles utility needs `max`",
                )
            })?;
            let mut rectangles = Vec::with_capacity(party.utility.rectangles.len());
            for (r, rect) in party.utility.rectangles.iter().enumerate() {
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
                utility,
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
