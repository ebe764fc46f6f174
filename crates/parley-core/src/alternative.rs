//! The alternative to a deal, modelled: a lottery over consequences whose chances and
//! worth change over (normalised) time. `v(t) = Σ p_k(t)·u_k(t)`; each `p_k` and `u_k`
//! is a number or a piecewise-linear curve over `t` in [0, 1]. A party with an
//! alternative walks away with `v(t)` (discounted as a deal is) instead of a fixed
//! reservation value.

use std::fmt;

/// A number, or a piecewise-linear curve `[(t, y), ...]` over normalised time.
#[derive(Clone, Debug, PartialEq)]
pub enum Curve {
    /// The same at every time.
    Constant(f64),
    /// Straight lines between breakpoints: `t` strictly ascending, the first at 0, the
    /// last at 1.
    Piecewise(Vec<(f64, f64)>),
}

/// Probabilities of one moment must sum to 1 within this.
pub const SUM_TOLERANCE: f64 = 1e-9;

impl Curve {
    /// Its value at time `t` (clamped to [0, 1]).
    pub fn at(&self, t: f64) -> f64 {
        match self {
            Curve::Constant(y) => *y,
            Curve::Piecewise(points) => {
                let t = t.clamp(0.0, 1.0);
                let i = points.partition_point(|&(x, _)| x <= t);
                match (i.checked_sub(1).map(|j| points[j]), points.get(i)) {
                    (Some((x0, y0)), Some(&(x1, y1))) => y0 + (y1 - y0) * (t - x0) / (x1 - x0),
                    (Some((_, y)), None) => y,
                    (None, Some(&(_, y))) => y,
                    (None, None) => 0.0,
                }
            }
        }
    }

    /// Its breakpoints (none for a number).
    pub fn breakpoints(&self) -> impl Iterator<Item = f64> + '_ {
        let points: &[(f64, f64)] = match self {
            Curve::Constant(_) => &[],
            Curve::Piecewise(points) => points,
        };
        points.iter().map(|&(t, _)| t)
    }

    /// What is wrong with it as a curve of values in [0, 1], if anything.
    fn problem(&self) -> Option<String> {
        let in_range = |y: f64| (0.0..=1.0).contains(&y);
        match self {
            Curve::Constant(y) if !in_range(*y) => Some(format!("{y} is not in [0, 1]")),
            Curve::Constant(_) => None,
            Curve::Piecewise(points) => {
                let (Some(first), Some(last)) = (points.first(), points.last()) else {
                    return Some("a curve needs at least two points, [[0, y], [1, y]]".into());
                };
                if points.len() < 2 || first.0 != 0.0 || last.0 != 1.0 {
                    return Some("a curve starts at t = 0 and ends at t = 1".into());
                }
                if let Some(w) = points.windows(2).find(|w| w[1].0 <= w[0].0) {
                    return Some(format!(
                        "t must rise from point to point ({} then {})",
                        w[0].0, w[1].0
                    ));
                }
                points
                    .iter()
                    .find(|&&(_, y)| !in_range(y))
                    .map(|&(t, y)| format!("the value {y} at t = {t} is not in [0, 1]"))
            }
        }
    }
}

/// One possible consequence of walking away.
#[derive(Clone, Debug, PartialEq)]
pub struct Consequence {
    /// What it is ("border clash").
    pub label: String,
    /// Its chance, over time.
    pub probability: Curve,
    /// What it is worth to the party, over time.
    pub utility: Curve,
}

/// The alternative to a deal: a lottery over consequences.
#[derive(Clone, Debug, PartialEq)]
pub struct Alternative {
    consequences: Vec<Consequence>,
}

/// Why an alternative cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlternativeError(pub String);

impl fmt::Display for AlternativeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AlternativeError {}

impl Alternative {
    /// A checked alternative: at least one consequence; every curve starts at 0, ends
    /// at 1 and rises in t; every probability and utility in [0, 1]; and the
    /// probabilities sum to 1 (±[`SUM_TOLERANCE`]) at t = 0, t = 1 and every breakpoint
    /// of every probability curve (so, the curves being linear between them, at every
    /// moment).
    pub fn new(consequences: Vec<Consequence>) -> Result<Alternative, AlternativeError> {
        if consequences.is_empty() {
            return Err(AlternativeError(
                "alternative.consequences: at least one consequence is needed".into(),
            ));
        }
        for (k, c) in consequences.iter().enumerate() {
            for (field, curve) in [("probability", &c.probability), ("utility", &c.utility)] {
                if let Some(problem) = curve.problem() {
                    return Err(AlternativeError(format!(
                        "alternative.consequences[{k}] ({:?}).{field}: {problem}",
                        c.label
                    )));
                }
            }
        }
        let alternative = Alternative { consequences };
        for t in alternative.probability_breakpoints() {
            let sum: f64 = alternative
                .consequences
                .iter()
                .map(|c| c.probability.at(t))
                .sum();
            if (sum - 1.0).abs() > SUM_TOLERANCE {
                return Err(AlternativeError(format!(
                    "alternative.consequences: the probabilities sum to {sum} at t = {t}, \
                     not 1"
                )));
            }
        }
        Ok(alternative)
    }

    /// The consequences.
    pub fn consequences(&self) -> &[Consequence] {
        &self.consequences
    }

    /// v(t) = Σ p_k(t)·u_k(t), undiscounted.
    pub fn value(&self, t: f64) -> f64 {
        self.consequences
            .iter()
            .map(|c| c.probability.at(t) * c.utility.at(t))
            .sum()
    }

    /// 0, 1 and every breakpoint of every curve, sorted, without repeats.
    pub fn breakpoints(&self) -> Vec<f64> {
        let mut all: Vec<f64> = self
            .consequences
            .iter()
            .flat_map(|c| c.probability.breakpoints().chain(c.utility.breakpoints()))
            .chain([0.0, 1.0])
            .collect();
        all.sort_by(f64::total_cmp);
        all.dedup();
        all
    }

    fn probability_breakpoints(&self) -> Vec<f64> {
        let mut all: Vec<f64> = self
            .consequences
            .iter()
            .flat_map(|c| c.probability.breakpoints())
            .chain([0.0, 1.0])
            .collect();
        all.sort_by(f64::total_cmp);
        all.dedup();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lottery() -> Alternative {
        Alternative::new(vec![
            Consequence {
                label: "status quo holds".into(),
                probability: Curve::Piecewise(vec![(0.0, 0.8), (0.5, 0.8), (0.6, 0.2), (1.0, 0.2)]),
                utility: Curve::Constant(0.5),
            },
            Consequence {
                label: "border clash".into(),
                probability: Curve::Piecewise(vec![(0.0, 0.2), (0.5, 0.2), (0.6, 0.8), (1.0, 0.8)]),
                utility: Curve::Constant(0.1),
            },
        ])
        .expect("valid")
    }

    #[test]
    fn the_value_at_and_between_breakpoints() {
        let a = lottery();
        let close = |x: f64, y: f64| (x - y).abs() < 1e-12;
        assert!(close(a.value(0.0), 0.8 * 0.5 + 0.2 * 0.1));
        assert!(close(a.value(0.5), 0.42));
        assert!(close(a.value(1.0), 0.2 * 0.5 + 0.8 * 0.1));
        // Halfway between 0.5 and 0.6: p = 0.5 each.
        assert!(close(a.value(0.55), 0.5 * 0.5 + 0.5 * 0.1));
        // A brute force over a fine grid agrees with the linear interpolation.
        for i in 0..=1000 {
            let t = f64::from(i) / 1000.0;
            let p1 = if t <= 0.5 {
                0.8
            } else if t >= 0.6 {
                0.2
            } else {
                0.8 - 0.6 * (t - 0.5) / 0.1
            };
            assert!(close(a.value(t), p1 * 0.5 + (1.0 - p1) * 0.1), "t = {t}");
        }
        assert_eq!(a.breakpoints(), vec![0.0, 0.5, 0.6, 1.0]);
    }

    #[test]
    fn bad_alternatives_are_refused_saying_why() {
        let c = |p: Curve, u: Curve| Consequence {
            label: "x".into(),
            probability: p,
            utility: u,
        };
        let cases: Vec<(Vec<Consequence>, &str)> = vec![
            (vec![], "at least one consequence"),
            (
                vec![c(Curve::Constant(0.7), Curve::Constant(0.5))],
                "sum to 0.7 at t = 0",
            ),
            (
                vec![c(Curve::Constant(1.0), Curve::Constant(1.5))],
                "utility: 1.5 is not in [0, 1]",
            ),
            (
                vec![c(
                    Curve::Piecewise(vec![(0.1, 1.0), (1.0, 1.0)]),
                    Curve::Constant(0.5),
                )],
                "starts at t = 0",
            ),
            (
                vec![c(
                    Curve::Piecewise(vec![(0.0, 1.0), (0.6, 1.0), (0.4, 1.0), (1.0, 1.0)]),
                    Curve::Constant(0.5),
                )],
                "t must rise",
            ),
            (
                vec![c(
                    Curve::Constant(1.0),
                    Curve::Piecewise(vec![(0.0, 0.5), (1.0, -0.1)]),
                )],
                "the value -0.1 at t = 1 is not in [0, 1]",
            ),
        ];
        for (consequences, needle) in cases {
            let error = Alternative::new(consequences)
                .expect_err(needle)
                .to_string();
            assert!(error.contains(needle), "{error} lacks {needle:?}");
        }
    }
}
