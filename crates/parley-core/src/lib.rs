//! parley-core: outcome spaces, utility functions, scenarios and their exact analysis.
//!
//! This crate does no I/O and has no async code. File formats live in
//! `parley-formats`; negotiation lives in `parley-engine`.
//!
//! ```
//! use parley_core::{analysis, Issue, IssueKind, IssueTerm, LinearAdditive, OutcomeSpace,
//!     Party, Scenario, UtilityFunction, ValueFunction};
//!
//! let space = OutcomeSpace::new(vec![Issue::new("price", IssueKind::Integer { min: 0, max: 10 })?])?;
//! let linear = |slope: f64, offset: f64| UtilityFunction::Linear(LinearAdditive {
//!     terms: vec![IssueTerm { issue: 0, weight: 1.0, value_function: ValueFunction::Linear { slope, offset } }],
//! });
//! let parties = vec![
//!     Party { name: "buyer".into(), utility: linear(-0.1, 1.0), reservation: 0.0, discount: 1.0, alternative: None, red_lines: vec![] },
//!     Party { name: "seller".into(), utility: linear(0.1, 0.0), reservation: 0.0, discount: 1.0, alternative: None, red_lines: vec![] },
//! ];
//! let scenario = Scenario::new("haggle", None, space, parties)?;
//! let report = analysis::analyze(&scenario, &analysis::AnalysisConfig::default())?;
//! assert_eq!(report.pareto.len(), 11); // every price is efficient
//! let nash = report.nash.expect("a rational outcome exists");
//! assert!((nash.value - 0.25).abs() < 1e-12); // 0.5 · 0.5 at price 5
//! # Ok::<(), parley_core::Error>(())
//! ```

pub mod alternative;
pub mod analysis;
mod error;
pub mod exact;
pub mod label;
pub mod red_line;
mod scenario;
mod space;
mod ufun;

pub use alternative::{Alternative, Consequence, Curve};
pub use error::{Error, Result};
pub use exact::{Residue, Utility};
pub use label::{LabelError, MAX_LABEL_CHARS};
pub use red_line::{Forbidden, RedLine};
pub use scenario::{Party, Scenario};
pub use space::{
    Issue, IssueKind, OutcomeCount, OutcomeSpace, DEFAULT_REAL_STEPS, MAX_ISSUE_VALUES,
};
pub use ufun::{
    Bound, CompiledUtility, HyperRectangles, IssueTerm, LinearAdditive, Rectangle, UtilityFunction,
    ValueFunction, MIN_MAX_EVALUATION, WEIGHT_SUM_TOLERANCE,
};
