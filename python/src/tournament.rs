//! `parley.tournament`: the tournament of `parley tournament`, from Python.

use std::path::PathBuf;

use pyo3::prelude::*;

use parley_engine::ProtocolKind;
use parley_tournament::{Options, Plan, Settings, Shard};

use crate::value_error;

/// Runs a tournament of built-ins over `scenarios` (files, Genius or GeniusWeb folders,
/// or folders holding them) into `out`; returns the summary as JSON text, and the
/// folder (rows in `results.jsonl` and `results.csv`).
#[pyfunction]
#[pyo3(signature = (
    scenarios, out, negotiators = None, protocol = "saop", rounds = 100, repetitions = 1,
    seed = 0, confide = false, mediator = None, post_settlement = true, self_play = false,
    parties = None, analysis_work = parley_tournament::run::ANALYSIS_WORK, resume = false
))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn tournament_json(
    py: Python<'_>,
    scenarios: Vec<PathBuf>,
    out: PathBuf,
    negotiators: Option<Vec<String>>,
    protocol: &str,
    rounds: u32,
    repetitions: u32,
    seed: u64,
    confide: bool,
    mediator: Option<String>,
    post_settlement: bool,
    self_play: bool,
    parties: Option<usize>,
    analysis_work: u64,
    resume: bool,
) -> PyResult<String> {
    let protocol =
        ProtocolKind::from_options(protocol, rounds, None, None, None).map_err(value_error)?;
    let negotiators = negotiators.unwrap_or_else(|| {
        parley_engine::negotiators::NEGOTIATORS
            .iter()
            .map(|s| s.to_string())
            .collect()
    });
    let settings = Settings {
        negotiators,
        protocol,
        mediator: mediator.or_else(|| protocol.default_mediator().map(str::to_string)),
        confide,
        post_settlement,
        rounds,
        time_limit: None,
        repetitions,
        seed,
        self_play,
        analysis_work,
    };
    py.allow_threads(move || {
        let discovered = parley_tournament::discover(&scenarios, parties).map_err(value_error)?;
        let plan = Plan::new(settings, discovered).map_err(value_error)?;
        let options = Options {
            out,
            resume,
            shard: Shard::ALL,
        };
        let report = parley_tournament::run(&plan, &options, &|_, _| {}).map_err(value_error)?;
        serde_json::to_string(&report.summary).map_err(value_error)
    })
}
