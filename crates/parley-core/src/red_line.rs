//! Red lines: packages a party will not accept whatever they offer elsewhere.
//!
//! A red line names one issue and the values of it the party never accepts: listed
//! values (`never`), and for numeric issues every value below or above a bound. An
//! outcome *crosses* a party's red line when its value of that issue is one of them;
//! such an outcome is unacceptable to the party however high its utility. Red lines
//! keep linear utilities from buying off any loss: "zero enrichment" is not a price.

use crate::space::OutcomeSpace;

/// One party's red line on one issue: the values it never accepts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RedLine {
    /// The issue, by position in the space.
    pub issue: usize,
    /// Values (indices) the party never accepts.
    pub never: Vec<u32>,
    /// Numeric issues: every value less than this is refused.
    pub below: Option<f64>,
    /// Numeric issues: every value greater than this is refused.
    pub above: Option<f64>,
}

impl RedLine {
    /// Whether value `value_idx` of the issue crosses the line.
    pub fn forbids(&self, space: &OutcomeSpace, value_idx: u32) -> bool {
        if self.never.contains(&value_idx) {
            return true;
        }
        let Some(x) = space
            .issues()
            .get(self.issue)
            .and_then(|issue| issue.numeric_value(value_idx))
        else {
            return false;
        };
        self.below.is_some_and(|b| x < b) || self.above.is_some_and(|a| x > a)
    }

    /// What is wrong with the line in `space`, if anything.
    fn problem(&self, space: &OutcomeSpace) -> Option<String> {
        let Some(issue) = space.issues().get(self.issue) else {
            return Some(format!(
                "issue #{} is not in the space ({} issues)",
                self.issue + 1,
                space.n_issues()
            ));
        };
        if self.never.is_empty() && self.below.is_none() && self.above.is_none() {
            return Some("a red line needs `never`, `below` or `above`".into());
        }
        if let Some(&bad) = self.never.iter().find(|&&v| v >= issue.cardinality()) {
            return Some(format!(
                "never: value #{} is not a value of the issue ({} values)",
                bad + 1,
                issue.cardinality()
            ));
        }
        let numeric = issue.numeric_value(0).is_some();
        for (field, bound) in [("below", self.below), ("above", self.above)] {
            match bound {
                Some(_) if !numeric => {
                    return Some(format!(
                        "{field}: only numeric (integer or real) issues have bounds; name \
                         the refused values with `never`"
                    ))
                }
                Some(x) if !x.is_finite() => return Some(format!("{field}: {x} is not a number")),
                _ => {}
            }
        }
        None
    }
}

/// Red lines compiled for fast checks: for each issue with a red line, which of its
/// values are refused. The union of several parties' lines is one too.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Forbidden {
    /// `(issue, refused[value])`, sorted by issue, one entry per issue.
    issues: Vec<(usize, Vec<bool>)>,
}

impl Forbidden {
    /// No red line.
    pub const EMPTY: Forbidden = Forbidden { issues: Vec::new() };

    /// Compiles a party's red lines, checking them against the space. Refused: a line
    /// on an issue not in the space, naming no value, naming a value not in the issue,
    /// bounding a non-numeric issue, or lines that together refuse every value of an
    /// issue (the party could accept no deal at all).
    pub fn compile(lines: &[RedLine], space: &OutcomeSpace) -> Result<Forbidden, String> {
        let mut forbidden = Forbidden::default();
        for (k, line) in lines.iter().enumerate() {
            let issue_name = space
                .issues()
                .get(line.issue)
                .map_or_else(String::new, |i| format!(" (issue {:?})", i.name()));
            if let Some(problem) = line.problem(space) {
                return Err(format!("red_lines[{k}]{issue_name}: {problem}"));
            }
            let card = space.issues()[line.issue].cardinality();
            let refused = forbidden.slot(line.issue, card);
            for (value, slot) in refused.iter_mut().enumerate() {
                *slot |= line.forbids(space, value as u32);
            }
            if refused.iter().all(|r| *r) {
                return Err(format!(
                    "red_lines[{k}]{issue_name}: the red lines refuse every value of the \
                     issue, so no deal could ever be acceptable"
                ));
            }
        }
        Ok(forbidden)
    }

    fn slot(&mut self, issue: usize, card: u32) -> &mut Vec<bool> {
        let at = match self.issues.binary_search_by_key(&issue, |(i, _)| *i) {
            Ok(at) => at,
            Err(at) => {
                self.issues.insert(at, (issue, vec![false; card as usize]));
                at
            }
        };
        &mut self.issues[at].1
    }

    /// The union: a value is refused when any of `parts` refuses it.
    pub fn union<'a>(parts: impl IntoIterator<Item = &'a Forbidden>) -> Forbidden {
        let mut all = Forbidden::default();
        for part in parts {
            for (issue, refused) in &part.issues {
                let slot = all.slot(*issue, refused.len() as u32);
                for (a, b) in slot.iter_mut().zip(refused) {
                    *a |= *b;
                }
            }
        }
        all
    }

    /// Whether there is no red line at all.
    pub fn is_empty(&self) -> bool {
        self.issues.is_empty()
    }

    /// The first issue (by position) on which `outcome` crosses a red line, if any.
    #[inline]
    pub fn crossed(&self, outcome: &[u32]) -> Option<usize> {
        self.issues
            .iter()
            .find(|(issue, refused)| {
                outcome
                    .get(*issue)
                    .is_some_and(|&v| refused.get(v as usize).copied().unwrap_or(false))
            })
            .map(|(issue, _)| *issue)
    }

    /// Whether `outcome` crosses a red line.
    #[inline]
    pub fn crosses(&self, outcome: &[u32]) -> bool {
        self.crossed(outcome).is_some()
    }

    /// Whether value `value` of `issue` is allowed (crosses no line).
    #[inline]
    pub fn allows(&self, issue: usize, value: u32) -> bool {
        match self.issues.binary_search_by_key(&issue, |(i, _)| *i) {
            Ok(at) => !self.issues[at]
                .1
                .get(value as usize)
                .copied()
                .unwrap_or(false),
            Err(_) => true,
        }
    }

    /// Per issue, the values allowed, when some are refused (`None` for an issue with
    /// no red line: every value is allowed).
    pub fn allowed_values(&self, n_issues: usize) -> Vec<Option<Vec<u32>>> {
        let mut out = vec![None; n_issues];
        for (issue, refused) in &self.issues {
            if let Some(slot) = out.get_mut(*issue) {
                *slot = Some(
                    refused
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| !**r)
                        .map(|(v, _)| v as u32)
                        .collect(),
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{Issue, IssueKind};

    fn space() -> OutcomeSpace {
        OutcomeSpace::new(vec![
            Issue::new(
                "enrichment",
                IssueKind::Discrete {
                    values: vec!["none".into(), "3.67%".into(), "20%".into(), "60%".into()],
                },
            )
            .expect("issue"),
            Issue::new("years", IssueKind::Integer { min: 5, max: 15 }).expect("issue"),
        ])
        .expect("space")
    }

    #[test]
    fn lines_refuse_listed_values_and_values_past_bounds() {
        let space = space();
        let lines = vec![
            RedLine {
                issue: 0,
                never: vec![0],
                ..RedLine::default()
            },
            RedLine {
                issue: 1,
                above: Some(10.0),
                ..RedLine::default()
            },
        ];
        let f = Forbidden::compile(&lines, &space).expect("valid");
        assert!(f.crosses(&[0, 0]));
        assert_eq!(f.crossed(&[1, 6]), Some(1)); // 11 years > 10
        assert!(!f.crosses(&[1, 5])); // 10 years is on the line, not past it
        assert!(f.allows(0, 2) && !f.allows(0, 0) && f.allows(1, 0));
        assert_eq!(
            f.allowed_values(2),
            vec![Some(vec![1, 2, 3]), Some((0..=5).collect())]
        );
        let g = Forbidden::compile(
            &[RedLine {
                issue: 0,
                never: vec![3],
                ..RedLine::default()
            }],
            &space,
        )
        .expect("valid");
        let u = Forbidden::union([&f, &g]);
        assert_eq!(u.allowed_values(2)[0], Some(vec![1, 2]));
    }

    #[test]
    fn bad_lines_are_refused_saying_why() {
        let space = space();
        let cases = [
            (
                RedLine {
                    issue: 5,
                    never: vec![0],
                    ..RedLine::default()
                },
                "issue #6 is not in the space",
            ),
            (
                RedLine {
                    issue: 0,
                    ..RedLine::default()
                },
                "needs `never`, `below` or `above`",
            ),
            (
                RedLine {
                    issue: 0,
                    below: Some(1.0),
                    ..RedLine::default()
                },
                "below: only numeric",
            ),
            (
                RedLine {
                    issue: 0,
                    never: vec![9],
                    ..RedLine::default()
                },
                "value #10 is not a value",
            ),
            (
                RedLine {
                    issue: 1,
                    below: Some(20.0),
                    ..RedLine::default()
                },
                "refuse every value",
            ),
            (
                RedLine {
                    issue: 1,
                    above: Some(f64::NAN),
                    ..RedLine::default()
                },
                "above: NaN is not a number",
            ),
        ];
        for (line, needle) in cases {
            let error = Forbidden::compile(&[line], &space).expect_err(needle);
            assert!(error.contains(needle), "{error} lacks {needle:?}");
        }
    }
}
