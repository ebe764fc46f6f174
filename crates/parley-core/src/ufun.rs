//! Utility functions: linear-additive and hyper-rectangle (nonlinear).
//!
//! The types here hold a party's preferences as written (raw evaluations, raw
//! weights); [`CompiledUtility`] turns them into flat tables of normalised
//! contributions so that evaluating an outcome is a few additions and allocates
//! nothing.

use crate::exact::{Residue, Utility};
use crate::space::{IssueKind, OutcomeSpace};
use crate::{Error, Result};

/// Below this, the largest evaluation of an issue counts as zero (as in Genius).
pub const MIN_MAX_EVALUATION: f64 = 1e-5;

/// Weights whose sum is further than this from 1 are divided by their sum.
pub const WEIGHT_SUM_TOLERANCE: f64 = 1e-9;

/// How one issue's value is evaluated.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueFunction {
    /// A raw evaluation per value index, normalised by the largest.
    Table(Vec<f64>),
    /// `clamp(slope·(x − min) + offset, 0, 1)` for integer and real issues.
    Linear {
        /// Slope per unit of the issue.
        slope: f64,
        /// Evaluation at the lower end.
        offset: f64,
    },
}

/// One issue's part in a linear-additive utility function.
#[derive(Clone, Debug, PartialEq)]
pub struct IssueTerm {
    /// Index of the issue in the outcome space.
    pub issue: usize,
    /// Raw weight (weights are divided by their sum when it is not 1).
    pub weight: f64,
    /// How the issue's values are evaluated.
    pub value_function: ValueFunction,
}

/// `U(x) = Σ w_i · e_i(x_i)`.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearAdditive {
    /// One term per weighted issue (issues not listed have weight 0).
    pub terms: Vec<IssueTerm>,
}

/// An inclusive range of value indices of one issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bound {
    /// Index of the issue in the outcome space.
    pub issue: usize,
    /// First value index inside the range.
    pub lo: u32,
    /// Last value index inside the range.
    pub hi: u32,
}

impl Bound {
    #[inline]
    fn contains(&self, outcome: &[u32]) -> bool {
        let v = outcome[self.issue];
        v >= self.lo && v <= self.hi
    }
}

/// A constraint that adds `utility` when satisfied.
#[derive(Clone, Debug, PartialEq)]
pub struct Rectangle {
    /// Raw utility added when the rectangle is satisfied.
    pub utility: f64,
    /// Every one of these must hold.
    pub include: Vec<Bound>,
    /// When non-empty, at least one of these must be violated.
    pub exclude: Vec<Bound>,
}

impl Rectangle {
    /// Whether the outcome satisfies the rectangle.
    #[inline]
    pub fn satisfied(&self, outcome: &[u32]) -> bool {
        self.include.iter().all(|b| b.contains(outcome))
            && (self.exclude.is_empty() || self.exclude.iter().any(|b| !b.contains(outcome)))
    }
}

/// `U(x) = Σ_{satisfied r} utility_r / max`, the ANAC 2014 nonlinear utilities.
#[derive(Clone, Debug, PartialEq)]
pub struct HyperRectangles {
    /// The normaliser.
    pub max: f64,
    /// The constraints.
    pub rectangles: Vec<Rectangle>,
}

/// A party's private utility function.
#[derive(Clone, Debug, PartialEq)]
pub enum UtilityFunction {
    /// Linear-additive.
    Linear(LinearAdditive),
    /// Hyper-rectangle constraints.
    HyperRectangles(HyperRectangles),
}

fn residue(x: f64, what: &str) -> Result<Residue> {
    Residue::from_f64(x)
        .ok_or_else(|| Error::InvalidUtility(format!("{what} is not a finite number")))
}

impl UtilityFunction {
    /// Checks the function against the outcome space.
    pub fn validate(&self, space: &OutcomeSpace) -> Result<()> {
        let issue_name = |idx: usize| {
            space
                .issues()
                .get(idx)
                .map(|i| i.name().to_string())
                .ok_or_else(|| Error::InvalidUtility(format!("issue number {idx} does not exist")))
        };
        match self {
            UtilityFunction::Linear(linear) => {
                let mut seen = vec![false; space.n_issues()];
                for term in &linear.terms {
                    let name = issue_name(term.issue)?;
                    if std::mem::replace(&mut seen[term.issue], true) {
                        return Err(Error::InvalidUtility(format!(
                            "issue {name:?} is weighted twice"
                        )));
                    }
                    if !(term.weight.is_finite() && term.weight >= 0.0) {
                        return Err(Error::InvalidUtility(format!(
                            "issue {name:?}: weight {} must be a number ≥ 0",
                            term.weight
                        )));
                    }
                    let issue = &space.issues()[term.issue];
                    match &term.value_function {
                        ValueFunction::Table(evals) => {
                            if evals.len() != issue.cardinality() as usize {
                                return Err(Error::InvalidUtility(format!(
                                    "issue {name:?}: {} evaluations for {} values",
                                    evals.len(),
                                    issue.cardinality()
                                )));
                            }
                            if let Some(bad) = evals.iter().find(|e| !(e.is_finite() && **e >= 0.0))
                            {
                                return Err(Error::InvalidUtility(format!(
                                    "issue {name:?}: evaluation {bad} must be a number ≥ 0"
                                )));
                            }
                        }
                        ValueFunction::Linear { slope, offset } => {
                            if matches!(issue.kind(), IssueKind::Discrete { .. }) {
                                return Err(Error::InvalidUtility(format!(
                                    "issue {name:?} is discrete: a linear evaluator needs an integer or real issue"
                                )));
                            }
                            if !slope.is_finite() || !offset.is_finite() {
                                return Err(Error::InvalidUtility(format!(
                                    "issue {name:?}: slope and offset must be finite numbers"
                                )));
                            }
                        }
                    }
                }
                let sum: f64 = linear.terms.iter().map(|t| t.weight).sum();
                if !linear.terms.is_empty() && sum <= 0.0 {
                    return Err(Error::InvalidUtility("the weights sum to 0".into()));
                }
            }
            UtilityFunction::HyperRectangles(rects) => {
                if !(rects.max.is_finite() && rects.max > 0.0) {
                    return Err(Error::InvalidUtility(format!(
                        "the normaliser max = {} must be a number > 0",
                        rects.max
                    )));
                }
                for (idx, rect) in rects.rectangles.iter().enumerate() {
                    if !rect.utility.is_finite() {
                        return Err(Error::InvalidUtility(format!(
                            "rectangle {idx}: utility is not finite"
                        )));
                    }
                    for bound in rect.include.iter().chain(&rect.exclude) {
                        let name = issue_name(bound.issue)?;
                        let n = space.issues()[bound.issue].cardinality();
                        if bound.lo > bound.hi || bound.hi >= n {
                            return Err(Error::InvalidUtility(format!(
                                "rectangle {idx}: bound on issue {name:?} is empty or outside the issue"
                            )));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the function is a sum of one term per issue (linear-additive).
    pub fn is_additive(&self) -> bool {
        matches!(self, UtilityFunction::Linear(_))
    }
}

/// A utility function ready for fast evaluation.
#[derive(Clone, Debug)]
pub struct CompiledUtility {
    inner: Compiled,
}

#[derive(Clone, Debug)]
enum Compiled {
    /// `offsets[i] + v` indexes the contribution of value `v` of issue `i`.
    Additive {
        offsets: Vec<usize>,
        table: Vec<Utility>,
    },
    Rectangles {
        rectangles: Vec<Rectangle>,
        contributions: Vec<Utility>,
    },
}

impl CompiledUtility {
    /// Compiles a validated utility function for `space`.
    pub fn new(ufun: &UtilityFunction, space: &OutcomeSpace) -> Result<CompiledUtility> {
        ufun.validate(space)?;
        let inner = match ufun {
            UtilityFunction::Linear(linear) => compile_linear(linear, space)?,
            UtilityFunction::HyperRectangles(rects) => {
                let max = residue(rects.max, "the normaliser")?;
                let contributions = rects
                    .rectangles
                    .iter()
                    .map(|r| {
                        let exact = residue(r.utility, "a rectangle's utility")?
                            .checked_div(max)
                            .ok_or_else(|| Error::InvalidUtility("the normaliser is 0".into()))?;
                        Ok(Utility::new(r.utility / rects.max, exact))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Compiled::Rectangles {
                    rectangles: rects.rectangles.clone(),
                    contributions,
                }
            }
        };
        Ok(CompiledUtility { inner })
    }

    /// The utility of an outcome (value indices, one per issue).
    #[inline]
    pub fn eval(&self, outcome: &[u32]) -> Utility {
        match &self.inner {
            Compiled::Additive { offsets, table } => {
                let mut u = Utility::ZERO;
                for (offset, &v) in offsets.iter().zip(outcome) {
                    u = u.add(table[offset + v as usize]);
                }
                u
            }
            Compiled::Rectangles {
                rectangles,
                contributions,
            } => {
                let mut u = Utility::ZERO;
                for (rect, contribution) in rectangles.iter().zip(contributions) {
                    if rect.satisfied(outcome) {
                        u = u.add(*contribution);
                    }
                }
                u
            }
        }
    }

    /// The utility as a float.
    #[inline]
    pub fn value(&self, outcome: &[u32]) -> f64 {
        self.eval(outcome).value
    }

    /// For additive functions: the contribution of value `value_idx` of issue `issue`.
    pub fn contribution(&self, issue: usize, value_idx: u32) -> Option<Utility> {
        match &self.inner {
            Compiled::Additive { offsets, table } => {
                Some(table[offsets[issue] + value_idx as usize])
            }
            Compiled::Rectangles { .. } => None,
        }
    }

    /// For hyper-rectangle functions: the rectangles and their normalised contributions.
    pub fn rectangles(&self) -> Option<(&[Rectangle], &[Utility])> {
        match &self.inner {
            Compiled::Rectangles {
                rectangles,
                contributions,
            } => Some((rectangles, contributions)),
            Compiled::Additive { .. } => None,
        }
    }

    /// Whether the function is additive over issues.
    pub fn is_additive(&self) -> bool {
        matches!(self.inner, Compiled::Additive { .. })
    }
}

fn compile_linear(linear: &LinearAdditive, space: &OutcomeSpace) -> Result<Compiled> {
    let cards = space.cardinalities();
    let mut offsets = Vec::with_capacity(cards.len());
    let mut total = 0usize;
    for &c in &cards {
        offsets.push(total);
        total += c as usize;
    }
    let mut table = vec![Utility::ZERO; total];

    let weight_sum: f64 = linear.terms.iter().map(|t| t.weight).sum();
    let mut weight_sum_exact = Residue::ZERO;
    for term in &linear.terms {
        weight_sum_exact = weight_sum_exact.add(residue(term.weight, "a weight")?);
    }
    let renormalize = (weight_sum - 1.0).abs() > WEIGHT_SUM_TOLERANCE;

    for term in &linear.terms {
        let issue = &space.issues()[term.issue];
        let (mut weight, mut weight_exact) = (term.weight, residue(term.weight, "a weight")?);
        if renormalize {
            weight /= weight_sum;
            weight_exact = weight_exact
                .checked_div(weight_sum_exact)
                .ok_or_else(|| Error::InvalidUtility("the weights sum to 0".into()))?;
        }
        let row =
            &mut table[offsets[term.issue]..offsets[term.issue] + issue.cardinality() as usize];
        match &term.value_function {
            ValueFunction::Table(evals) => {
                let max = evals.iter().copied().fold(0.0f64, f64::max);
                if max < MIN_MAX_EVALUATION {
                    continue; // the whole issue evaluates to 0, as in Genius
                }
                let max_exact = residue(max, "an evaluation")?;
                for (slot, &eval) in row.iter_mut().zip(evals) {
                    let e_exact = residue(eval, "an evaluation")?
                        .checked_div(max_exact)
                        .ok_or_else(|| {
                            Error::InvalidUtility("an evaluation maximum is 0".into())
                        })?;
                    *slot = Utility::new(weight * (eval / max), weight_exact.mul(e_exact));
                }
            }
            ValueFunction::Linear { slope, offset } => {
                let slope_exact = residue(*slope, "a slope")?;
                let offset_exact = residue(*offset, "an offset")?;
                for (value_idx, slot) in row.iter_mut().enumerate() {
                    let (delta, delta_exact) = numeric_delta(issue.kind(), value_idx as u32)?;
                    let e = slope * delta + offset;
                    let e_exact = if e <= 0.0 {
                        Residue::ZERO
                    } else if e >= 1.0 {
                        Residue::ONE
                    } else {
                        slope_exact.mul(delta_exact).add(offset_exact)
                    };
                    let e = e.clamp(0.0, 1.0);
                    *slot = Utility::new(weight * e, weight_exact.mul(e_exact));
                }
            }
        }
    }
    Ok(Compiled::Additive { offsets, table })
}

/// `x − min` for value `value_idx` of a numeric issue, as a float and exactly.
fn numeric_delta(kind: &IssueKind, value_idx: u32) -> Result<(f64, Residue)> {
    match kind {
        IssueKind::Integer { .. } => Ok((value_idx as f64, Residue::from_u64(value_idx as u64))),
        IssueKind::Real { min, max, steps } => {
            if *steps <= 1 {
                return Ok((0.0, Residue::ZERO));
            }
            let span = max - min;
            let span_exact =
                residue(*max, "an interval end")?.sub(residue(*min, "an interval end")?);
            let exact = span_exact
                .mul(Residue::from_u64(value_idx as u64))
                .checked_div(Residue::from_u64((*steps - 1) as u64))
                .ok_or_else(|| Error::InvalidUtility("steps must be at least 2".into()))?;
            Ok((span * value_idx as f64 / (*steps - 1) as f64, exact))
        }
        IssueKind::Discrete { .. } => Err(Error::InvalidUtility(
            "a linear evaluator needs an integer or real issue".into(),
        )),
    }
}
