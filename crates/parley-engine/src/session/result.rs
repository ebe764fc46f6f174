//! How a session ended ([`SessionResult`], and the summary `parley run --json`
//! prints), and how a strategy's failure becomes data instead of a crash
//! ([`StrategyError`], `guard`).

use crate::events::{EndReason, Phase, Trace};

/// How a session ended.
#[derive(Clone, Debug)]
pub struct SessionResult {
    /// The agreement, if any.
    pub agreement: Option<Vec<u32>>,
    /// Each party's utility: of the deal, or its reservation value when there is none,
    /// discounted to the end time (`d^t`).
    pub utilities: Vec<f64>,
    /// Normalised time of the deal (or of the end).
    pub time: f64,
    /// Rounds used.
    pub rounds: u32,
    /// Why it ended.
    pub ended_by: EndReason,
    /// The phases the session went through, in order.
    pub phases: Vec<Phase>,
    /// The full trace.
    pub trace: Trace,
}

impl SessionResult {
    /// The summary `parley run --json` prints (and the Python package returns): the
    /// agreement as value labels, each party's utility, rounds, why it ended, the
    /// phases, and the agreement's distances to the Pareto frontier and the Nash point
    /// of `analysis` (the scenario's).
    pub fn summary_json(
        &self,
        scenario: &parley_core::Scenario,
        analysis: &parley_core::analysis::Analysis,
    ) -> serde_json::Value {
        let raw: Option<Vec<f64>> = self
            .agreement
            .as_ref()
            .map(|a| scenario.utilities().iter().map(|u| u.value(a)).collect());
        serde_json::json!({
            "agreement": self.agreement.as_ref().map(|a| scenario.space().outcome_labels(a)),
            "utilities": self.utilities,
            "rounds": self.rounds,
            "ended_by": self.ended_by.name(),
            "phases": self.phases.iter().map(|p| p.name()).collect::<Vec<_>>(),
            "pareto_distance": raw.as_ref().map(|u| analysis.pareto_distance(u)),
            "nash_distance": raw.as_ref().and_then(|u| analysis.nash_distance(u)),
        })
    }
}

/// A strategy that cannot go on (a callback into another language raised, returned
/// something that is not a move, took too long): its session ends with an `invalid`
/// event carrying `0` as the reason. Raised with [`StrategyError::raise`].
#[derive(Debug)]
pub struct StrategyError(pub String);

impl StrategyError {
    /// Ends the current callback of a negotiator or mediator with this reason, without
    /// the panic hook's report (it is not a bug of parley's).
    pub fn raise(reason: impl Into<String>) -> ! {
        std::panic::resume_unwind(Box::new(StrategyError(reason.into())))
    }
}

/// Runs a negotiator's or mediator's callback; a panic becomes a message, so that a
/// failing strategy ends its session as data instead of bringing down the caller.
pub(super) fn guard<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        if let Some(StrategyError(reason)) = payload.downcast_ref::<StrategyError>() {
            return reason.clone();
        }
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        format!("it panicked: {message}")
    })
}
