//! Issues, outcome spaces and outcomes.
//!
//! An outcome is stored compactly as one value index per issue (`u32`), never as
//! strings; labels are produced only for display.

use crate::label::{self, LabelError};
use crate::{Error, Result};

/// The default number of points a real interval is analysed on.
pub const DEFAULT_REAL_STEPS: u32 = 11;

/// The largest number of values one issue may have.
pub const MAX_ISSUE_VALUES: u64 = 1 << 24;

/// The values an issue can take.
#[derive(Clone, Debug, PartialEq)]
pub enum IssueKind {
    /// Named values, in order.
    Discrete {
        /// The value names (unique, non-empty).
        values: Vec<String>,
    },
    /// Every whole number in `[min, max]`.
    Integer {
        /// Smallest value.
        min: i64,
        /// Largest value.
        max: i64,
    },
    /// A real interval, analysed on `steps` evenly spaced points, ends included.
    Real {
        /// Lower end.
        min: f64,
        /// Upper end.
        max: f64,
        /// Number of points (at least 2, or 1 when `min == max`).
        steps: u32,
    },
}

/// One dimension of a deal.
#[derive(Clone, Debug, PartialEq)]
pub struct Issue {
    name: String,
    kind: IssueKind,
}

impl Issue {
    /// A validated issue. The name and the discrete value names are labels: they are
    /// stored in canonical spelling (NFC, outer whitespace removed) and refused when they
    /// hold control or invisible characters (see [`label`]); two values that are
    /// the same label once normalised are refused as listed twice.
    pub fn new(name: impl Into<String>, kind: IssueKind) -> Result<Issue> {
        let name = label::normalize("issue name", &name.into())?;
        let invalid = |what: String| Error::InvalidIssue {
            issue: name.clone(),
            what,
        };
        let kind = match kind {
            IssueKind::Discrete { values } => {
                if values.is_empty() {
                    return Err(invalid("it has no values".into()));
                }
                if values.len() as u64 > MAX_ISSUE_VALUES {
                    return Err(invalid(format!(
                        "it has {} values, more than {MAX_ISSUE_VALUES}",
                        values.len()
                    )));
                }
                let normalized = values
                    .iter()
                    .enumerate()
                    .map(|(value_idx, raw)| {
                        label::check(raw).map_err(|problem| {
                            let what = format!("issue {name:?}: value {}", value_idx + 1);
                            Error::InvalidLabel(LabelError::new(what, raw, problem))
                        })
                    })
                    .collect::<Result<Vec<String>>>()?;
                let mut seen = std::collections::HashMap::with_capacity(normalized.len());
                for (value_idx, value) in normalized.iter().enumerate() {
                    if let Some(first_idx) = seen.insert(value.as_str(), value_idx) {
                        return Err(invalid(format!(
                            "value {value:?} is listed twice (values {} and {}){}",
                            first_idx + 1,
                            value_idx + 1,
                            label::twins(&values[first_idx], &values[value_idx]),
                        )));
                    }
                }
                if let Some((first_idx, value_idx)) =
                    label::first_lookalikes(normalized.iter().map(String::as_str))
                {
                    return Err(invalid(format!(
                        "values {} and {}: {}",
                        first_idx + 1,
                        value_idx + 1,
                        label::lookalike_message(&normalized[first_idx], &normalized[value_idx]),
                    )));
                }
                IssueKind::Discrete { values: normalized }
            }
            kind => kind,
        };
        match &kind {
            IssueKind::Discrete { .. } => {}
            IssueKind::Integer { min, max } => {
                if min > max {
                    return Err(invalid(format!("min {min} is greater than max {max}")));
                }
                let count = (*max as i128 - *min as i128 + 1) as u128;
                if count > MAX_ISSUE_VALUES as u128 {
                    return Err(invalid(format!(
                        "the range {min}..={max} has {count} values, more than {MAX_ISSUE_VALUES}"
                    )));
                }
            }
            IssueKind::Real { min, max, steps } => {
                if !min.is_finite() || !max.is_finite() || min > max {
                    return Err(invalid(format!("the interval [{min}, {max}] is not valid")));
                }
                let least = if min == max { 1 } else { 2 };
                if *steps < least || *steps as u64 > MAX_ISSUE_VALUES {
                    return Err(invalid(format!(
                        "steps must be between {least} and {MAX_ISSUE_VALUES}, not {steps}"
                    )));
                }
            }
        }
        Ok(Issue { name, kind })
    }

    /// The issue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The issue's values.
    pub fn kind(&self) -> &IssueKind {
        &self.kind
    }

    /// How many values the issue has.
    pub fn cardinality(&self) -> u32 {
        match &self.kind {
            IssueKind::Discrete { values } => values.len() as u32,
            IssueKind::Integer { min, max } => (max - min + 1) as u32,
            IssueKind::Real { steps, .. } => *steps,
        }
    }

    /// The number a value stands for: integer and real issues only.
    pub fn numeric_value(&self, value_idx: u32) -> Option<f64> {
        match &self.kind {
            IssueKind::Discrete { .. } => None,
            IssueKind::Integer { min, .. } => Some((*min + value_idx as i64) as f64),
            IssueKind::Real { min, max, steps } => {
                if *steps <= 1 {
                    Some(*min)
                } else {
                    let fraction = value_idx as f64 / (*steps - 1) as f64;
                    Some(min + (max - min) * fraction)
                }
            }
        }
    }

    /// The label of a value, as written in files and reports.
    pub fn value_label(&self, value_idx: u32) -> String {
        match &self.kind {
            IssueKind::Discrete { values } => values[value_idx as usize].clone(),
            IssueKind::Integer { min, .. } => (*min + value_idx as i64).to_string(),
            IssueKind::Real { .. } => {
                let x = self.numeric_value(value_idx).unwrap_or(0.0);
                // Round away float noise of the grid, e.g. 0.30000000000000004.
                let rounded = (x * 1e12).round() / 1e12;
                rounded.to_string()
            }
        }
    }

    /// The index of the value with this label, if it is one of the issue's values: the
    /// lookup for a value a client names. The label is compared in canonical spelling
    /// ([`label::canonical`]), so `"cafe\u{301}"` finds the value `"café"`; numbers may
    /// have whitespace around them.
    pub fn value_index(&self, label: &str) -> Option<u32> {
        match &self.kind {
            IssueKind::Discrete { values } => {
                let label = label::canonical(label);
                values.iter().position(|v| *v == *label).map(|i| i as u32)
            }
            IssueKind::Integer { min, max } => {
                let v: i64 = label.trim().parse().ok()?;
                (v >= *min && v <= *max).then(|| (v - min) as u32)
            }
            IssueKind::Real { .. } => {
                let x: f64 = label.trim().parse().ok()?;
                self.real_index(x)
            }
        }
    }

    /// The index of the grid point `x` of a real or integer issue (within 1e-9).
    pub fn real_index(&self, x: f64) -> Option<u32> {
        (0..self.cardinality()).find(|&i| {
            self.numeric_value(i)
                .is_some_and(|v| (v - x).abs() <= 1e-9 * v.abs().max(1.0))
        })
    }
}

/// The number of outcomes of a space, exact when it fits 128 bits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OutcomeCount {
    /// The exact count.
    Exact(u128),
    /// Too many to count exactly; the float estimate.
    Approximate(f64),
}

impl OutcomeCount {
    /// The count as a float.
    pub fn as_f64(self) -> f64 {
        match self {
            OutcomeCount::Exact(n) => n as f64,
            OutcomeCount::Approximate(x) => x,
        }
    }

    /// The count, when it fits in a `u64`.
    pub fn as_u64(self) -> Option<u64> {
        match self {
            OutcomeCount::Exact(n) => u64::try_from(n).ok(),
            OutcomeCount::Approximate(_) => None,
        }
    }
}

impl std::fmt::Display for OutcomeCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutcomeCount::Exact(n) => write!(f, "{n}"),
            OutcomeCount::Approximate(x) => write!(f, "{x:.3e}"),
        }
    }
}

/// The cartesian product of the issues.
#[derive(Clone, Debug, PartialEq)]
pub struct OutcomeSpace {
    issues: Vec<Issue>,
}

impl OutcomeSpace {
    /// A validated outcome space: at least one issue, unique issue names.
    pub fn new(issues: Vec<Issue>) -> Result<OutcomeSpace> {
        if issues.is_empty() {
            return Err(Error::EmptySpace);
        }
        let mut seen = std::collections::BTreeSet::new();
        for issue in &issues {
            if !seen.insert(issue.name()) {
                return Err(Error::InvalidIssue {
                    issue: issue.name().to_string(),
                    what: "two issues have this name".into(),
                });
            }
        }
        if let Some((first, second)) = label::first_lookalikes(issues.iter().map(Issue::name)) {
            return Err(Error::InvalidIssue {
                issue: issues[second].name().to_string(),
                what: format!(
                    "issues {} and {}: {}",
                    first + 1,
                    second + 1,
                    label::lookalike_message(issues[first].name(), issues[second].name())
                ),
            });
        }
        Ok(OutcomeSpace { issues })
    }

    /// The issues, in order.
    pub fn issues(&self) -> &[Issue] {
        &self.issues
    }

    /// The number of issues.
    pub fn n_issues(&self) -> usize {
        self.issues.len()
    }

    /// The position of the issue with this name, compared in canonical spelling
    /// ([`label::canonical`]).
    pub fn issue_index(&self, name: &str) -> Option<usize> {
        let name = label::canonical(name);
        self.issues.iter().position(|i| i.name() == name)
    }

    /// The number of values of each issue.
    pub fn cardinalities(&self) -> Vec<u32> {
        self.issues.iter().map(Issue::cardinality).collect()
    }

    /// The number of outcomes.
    pub fn outcome_count(&self) -> OutcomeCount {
        let mut exact: Option<u128> = Some(1);
        let mut approx = 1.0f64;
        for issue in &self.issues {
            let n = issue.cardinality();
            exact = exact.and_then(|e| e.checked_mul(n as u128));
            approx *= n as f64;
        }
        match exact {
            Some(n) => OutcomeCount::Exact(n),
            None => OutcomeCount::Approximate(approx),
        }
    }

    /// Checks that `outcome` has one valid value index per issue.
    pub fn check_outcome(&self, outcome: &[u32]) -> Result<()> {
        if outcome.len() != self.issues.len() {
            return Err(Error::InvalidOutcome(format!(
                "it has {} values but the space has {} issues",
                outcome.len(),
                self.issues.len()
            )));
        }
        for (issue, &value_idx) in self.issues.iter().zip(outcome) {
            if value_idx >= issue.cardinality() {
                return Err(Error::InvalidOutcome(format!(
                    "issue {:?} has no value number {value_idx}",
                    issue.name()
                )));
            }
        }
        Ok(())
    }

    /// The outcome named by issue and value labels, such as a client's
    /// `{"price": "10", "colour": "red"}`: every issue exactly once, in any order. Issue
    /// names and value labels are compared in canonical spelling ([`label::canonical`]).
    pub fn outcome_from_issue_labels<K, V>(
        &self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Vec<u32>>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut outcome: Vec<Option<u32>> = vec![None; self.issues.len()];
        for (name, value) in pairs {
            let (name, value) = (name.as_ref(), value.as_ref());
            let issue_idx = self.issue_index(name).ok_or_else(|| {
                Error::InvalidOutcome(format!("there is no issue {}", label::escaped(name)))
            })?;
            let issue = &self.issues[issue_idx];
            let value_idx = issue.value_index(value).ok_or_else(|| {
                Error::InvalidOutcome(format!(
                    "{} is not a value of issue {:?}",
                    label::escaped(value),
                    issue.name()
                ))
            })?;
            if outcome[issue_idx].replace(value_idx).is_some() {
                return Err(Error::InvalidOutcome(format!(
                    "issue {:?} is given twice",
                    issue.name()
                )));
            }
        }
        self.issues
            .iter()
            .zip(outcome)
            .map(|(issue, value_idx)| {
                value_idx.ok_or_else(|| {
                    Error::InvalidOutcome(format!("issue {:?} has no value", issue.name()))
                })
            })
            .collect()
    }

    /// The outcome with these value labels, one per issue in order (compared in
    /// canonical spelling, as by [`Issue::value_index`]).
    pub fn outcome_from_labels<S: AsRef<str>>(&self, labels: &[S]) -> Result<Vec<u32>> {
        if labels.len() != self.issues.len() {
            return Err(Error::InvalidOutcome(format!(
                "it has {} values but the space has {} issues",
                labels.len(),
                self.issues.len()
            )));
        }
        self.issues
            .iter()
            .zip(labels)
            .map(|(issue, label)| {
                issue.value_index(label.as_ref()).ok_or_else(|| {
                    Error::InvalidOutcome(format!(
                        "{:?} is not a value of issue {:?}",
                        label.as_ref(),
                        issue.name()
                    ))
                })
            })
            .collect()
    }

    /// The labels of an outcome's values.
    pub fn outcome_labels(&self, outcome: &[u32]) -> Vec<String> {
        self.issues
            .iter()
            .zip(outcome)
            .map(|(issue, &v)| issue.value_label(v))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discrete(name: &str, values: &[&str]) -> Issue {
        Issue::new(
            name,
            IssueKind::Discrete {
                values: values.iter().map(|v| v.to_string()).collect(),
            },
        )
        .expect("valid issue")
    }

    #[test]
    fn counts_and_labels() {
        let space = OutcomeSpace::new(vec![
            discrete("colour", &["red", "blue"]),
            Issue::new("price", IssueKind::Integer { min: -5, max: 5 }).expect("valid"),
            Issue::new(
                "share",
                IssueKind::Real {
                    min: 0.0,
                    max: 0.3,
                    steps: 4,
                },
            )
            .expect("valid"),
        ])
        .expect("valid space");
        assert_eq!(space.outcome_count(), OutcomeCount::Exact(2 * 11 * 4));
        let outcome = space
            .outcome_from_labels(&["blue", "-5", "0.2"])
            .expect("labels are values");
        assert_eq!(outcome, vec![1, 0, 2]);
        assert_eq!(space.outcome_labels(&outcome), ["blue", "-5", "0.2"]);
        assert!(space.outcome_from_labels(&["green", "0", "0"]).is_err());
        assert!(space.outcome_from_labels(&["red", "6", "0"]).is_err());
        assert!(space.check_outcome(&[0, 11, 0]).is_err());
    }

    #[test]
    fn rejects_bad_issues() {
        assert!(Issue::new("", IssueKind::Integer { min: 0, max: 1 }).is_err());
        assert!(Issue::new("x", IssueKind::Integer { min: 2, max: 1 }).is_err());
        assert!(Issue::new("x", IssueKind::Discrete { values: vec![] }).is_err());
        assert!(Issue::new(
            "x",
            IssueKind::Real {
                min: 0.0,
                max: 1.0,
                steps: 1
            }
        )
        .is_err());
        let dup = Issue::new(
            "x",
            IssueKind::Discrete {
                values: vec!["a".into(), "a".into()],
            },
        );
        assert!(dup.is_err());
        assert!(OutcomeSpace::new(vec![]).is_err());
        assert!(OutcomeSpace::new(vec![discrete("a", &["1"]), discrete("a", &["2"])]).is_err());
    }

    #[test]
    fn huge_spaces_are_counted_approximately() {
        let issues = (0..60)
            .map(|i| {
                Issue::new(format!("i{i}"), IssueKind::Integer { min: 0, max: 9 }).expect("ok")
            })
            .collect();
        let space = OutcomeSpace::new(issues).expect("valid");
        match space.outcome_count() {
            OutcomeCount::Approximate(x) => assert!((x / 1e60 - 1.0).abs() < 1e-9),
            other => panic!("expected an approximate count, got {other:?}"),
        }
    }
}
