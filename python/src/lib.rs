//! `parley._parley`: the native half of the `parley` Python package.
//!
//! The Python half (`python/parley/__init__.py`) adds keyword arguments, parses the JSON
//! this module returns into dicts, and documents the API. Everything here takes the
//! scenario as loaded by `parley-formats` and runs the same code as the command line:
//! `analyze` returns exactly what `parley analyze --json` prints, `run` what `parley run
//! --json` prints. Long work (analysis, sessions) releases the GIL.

use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::{PyIndexError, PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use parley_core::analysis::{analyze, AnalysisConfig, Method};
use parley_core::OutcomeCount;
use parley_engine::negotiators::{mediator, negotiator, role_seed};
use parley_engine::{run_session, ProtocolKind, SessionConfig};
use parley_formats::report::AnalysisReport;

mod builtin;
mod strategy;
mod tournament;

/// The most outcomes `Scenario.utilities` lays out in one array (8 bytes each).
const MAX_TABLE: u128 = 100_000_000;

/// A negotiation scenario: issues, parties and their private utility functions.
#[pyclass(frozen, module = "parley._parley")]
struct Scenario {
    inner: Arc<parley_core::Scenario>,
    notes: Vec<String>,
}

fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

impl Scenario {
    /// A party by name or index.
    fn party(&self, party: &Bound<'_, PyAny>) -> PyResult<usize> {
        let n = self.inner.n_parties();
        if let Ok(i) = party.extract::<usize>() {
            return if i < n {
                Ok(i)
            } else {
                Err(PyIndexError::new_err(format!(
                    "party {i}: the scenario has {n} parties"
                )))
            };
        }
        let name: String = party.extract()?;
        self.inner.party_index(&name).ok_or_else(|| {
            PyKeyError::new_err(format!(
                "there is no party {name:?} (parties: {})",
                self.party_names().join(", ")
            ))
        })
    }

    fn party_names(&self) -> Vec<String> {
        self.inner
            .parties()
            .iter()
            .map(|p| p.name.clone())
            .collect()
    }
}

#[pymethods]
impl Scenario {
    /// The scenario's name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name().to_string()
    }

    /// What it models, if the file says.
    #[getter]
    fn description(&self) -> Option<String> {
        self.inner.description().map(str::to_string)
    }

    /// The parties' names, in order.
    #[getter]
    fn parties(&self) -> Vec<String> {
        self.party_names()
    }

    /// The issues, in order: `(name, [value labels])`.
    #[getter]
    fn issues(&self) -> Vec<(String, Vec<String>)> {
        issues_of(&self.inner)
    }

    /// How many outcomes there are (an int; a float when too many to count exactly).
    #[getter]
    fn n_outcomes(&self, py: Python<'_>) -> PyResult<PyObject> {
        Ok(match self.inner.space().outcome_count() {
            OutcomeCount::Exact(n) => n.into_pyobject(py)?.into_any().unbind(),
            OutcomeCount::Approximate(x) => x.into_pyobject(py)?.into_any().unbind(),
        })
    }

    /// What reading the file repaired or ignored (Genius folders), one line each.
    #[getter]
    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }

    /// Each party's reservation value (what no deal is worth at the start).
    #[getter]
    fn reservations(&self) -> Vec<f64> {
        self.inner.parties().iter().map(|p| p.reservation).collect()
    }

    /// A party's utility (by name or index) of an outcome (a dict issue → value, or
    /// value labels in issue order).
    fn utility(&self, party: &Bound<'_, PyAny>, outcome: &Bound<'_, PyAny>) -> PyResult<f64> {
        let p = self.party(party)?;
        let o = outcome_from_py(&self.inner, outcome)?;
        Ok(self.inner.utilities()[p].value(&o))
    }

    /// A party's utility of every outcome, as a NumPy array with one axis per issue
    /// (`array[i, j, …]` is the outcome of the i-th value of the first issue, the j-th
    /// of the second, …). At most 100,000,000 outcomes.
    fn utilities<'py>(
        &self,
        py: Python<'py>,
        party: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let p = self.party(party)?;
        utility_table(py, &self.inner, p)
    }

    /// The scenario in the native JSON format (docs/scenario-format.md).
    fn to_json(&self) -> PyResult<String> {
        parley_formats::native::to_json(&self.inner).map_err(value_error)
    }

    /// The scenario in the native TOML format.
    fn to_toml(&self) -> PyResult<String> {
        parley_formats::native::to_toml(&self.inner).map_err(value_error)
    }

    fn __repr__(&self) -> String {
        format!(
            "<parley.Scenario {:?}: {} parties, {} issues, {} outcomes>",
            self.inner.name(),
            self.inner.n_parties(),
            self.inner.space().n_issues(),
            self.inner.space().outcome_count().as_f64()
        )
    }
}

/// An outcome given as a dict (issue → value label) or a sequence of value labels in
/// issue order; numbers are read as their labels.
pub(crate) fn outcome_from_py(
    scenario: &parley_core::Scenario,
    outcome: &Bound<'_, PyAny>,
) -> PyResult<Vec<u32>> {
    let space = scenario.space();
    let label = |v: Bound<'_, PyAny>| -> PyResult<String> {
        match v.extract::<String>() {
            Ok(s) => Ok(s),
            Err(_) => Ok(v.str()?.to_string()),
        }
    };
    if let Ok(dict) = outcome.downcast::<PyDict>() {
        let mut map = std::collections::BTreeMap::new();
        for (k, v) in dict.iter() {
            map.insert(k.extract::<String>()?, label(v)?);
        }
        return space.outcome_from_issue_labels(&map).map_err(value_error);
    }
    let labels: Vec<String> = outcome
        .try_iter()?
        .map(|v| label(v?))
        .collect::<PyResult<_>>()?;
    space.outcome_from_labels(&labels).map_err(value_error)
}

/// The issues as `(name, [value labels])`.
pub(crate) fn issues_of(scenario: &parley_core::Scenario) -> Vec<(String, Vec<String>)> {
    scenario
        .space()
        .issues()
        .iter()
        .map(|i| {
            (
                i.name().to_string(),
                (0..i.cardinality()).map(|v| i.value_label(v)).collect(),
            )
        })
        .collect()
}

/// An event's (or a summary's) outcomes as issue → value objects: `outcome` and
/// `agreement` label lists become dicts, the one shape of outcomes in the API.
pub(crate) fn outcomes_as_objects(json: &mut serde_json::Value, scenario: &parley_core::Scenario) {
    for key in ["outcome", "agreement"] {
        if let Some(serde_json::Value::Array(labels)) = json.get(key) {
            let object: serde_json::Map<String, serde_json::Value> = scenario
                .space()
                .issues()
                .iter()
                .zip(labels)
                .map(|(issue, label)| (issue.name().to_string(), label.clone()))
                .collect();
            json[key] = serde_json::Value::Object(object);
        }
    }
}

/// A party's utility of every outcome as a NumPy array, one axis per issue (C order).
pub(crate) fn utility_table<'py>(
    py: Python<'py>,
    scenario: &Arc<parley_core::Scenario>,
    party: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let space = scenario.space();
    let count = match space.outcome_count() {
        OutcomeCount::Exact(n) if n <= MAX_TABLE => n as usize,
        other => {
            return Err(value_error(format!(
                "{} outcomes: too many for one array (at most {MAX_TABLE}); use \
                 utility() for single outcomes, or analyze()",
                other.as_f64()
            )))
        }
    };
    let cards = space.cardinalities();
    let scenario = Arc::clone(scenario);
    let bytes: Vec<u8> = py.allow_threads(move || {
        let u = &scenario.utilities()[party];
        let mut out = Vec::with_capacity(count * 8);
        let mut outcome = vec![0u32; cards.len()];
        for _ in 0..count {
            out.extend_from_slice(&u.value(&outcome).to_le_bytes());
            // The next outcome, the last issue fastest (C order).
            for k in (0..cards.len()).rev() {
                outcome[k] += 1;
                if outcome[k] < cards[k] {
                    break;
                }
                outcome[k] = 0;
            }
        }
        out
    });
    let numpy = py.import("numpy")?;
    let flat = numpy.call_method1("frombuffer", (PyBytes::new(py, &bytes), "<f8"))?;
    let shape = PyTuple::new(py, space.cardinalities())?;
    flat.call_method1("reshape", (shape,))
}

/// Loads a scenario: a native file (`.toml`, `.json`) or a Genius scenario folder.
#[pyfunction]
fn load(path: std::path::PathBuf) -> PyResult<Scenario> {
    let loaded = parley_formats::load(&path).map_err(value_error)?;
    Ok(Scenario {
        inner: Arc::new(loaded.scenario),
        notes: loaded.notes,
    })
}

/// Reads a scenario from native text: `format` is `json` or `toml`.
#[pyfunction]
#[pyo3(signature = (text, format = "json"))]
fn loads(text: &str, format: &str) -> PyResult<Scenario> {
    let scenario = match format {
        "json" => parley_formats::native::parse_json(text, "<text>"),
        "toml" => parley_formats::native::parse_toml(text, "<text>"),
        other => {
            return Err(value_error(format!(
                "format: expected json or toml, not {other:?}"
            )))
        }
    }
    .map_err(value_error)?;
    Ok(Scenario {
        inner: Arc::new(scenario),
        notes: Vec::new(),
    })
}

/// The analysis of `parley analyze --json`, as JSON text.
#[pyfunction]
#[pyo3(signature = (scenario, method = "auto", budget = 10.0, work = None, seed = 0))]
fn analyze_json(
    py: Python<'_>,
    scenario: &Scenario,
    method: &str,
    budget: f64,
    work: Option<u64>,
    seed: u64,
) -> PyResult<String> {
    let method = match method {
        "auto" => Method::Auto,
        "additive" => Method::Additive,
        "enumerate" => Method::Enumerate,
        "search" => Method::Search,
        other => {
            return Err(value_error(format!(
                "method: expected auto, additive, enumerate or search, not {other:?}"
            )))
        }
    };
    if !(budget.is_finite() && budget > 0.0 && budget < 1e7) {
        return Err(value_error(format!(
            "budget: must be a positive number of seconds, not {budget}"
        )));
    }
    let config = AnalysisConfig {
        method,
        time_budget: Duration::from_secs_f64(budget),
        work_budget: work,
        seed,
        ..AnalysisConfig::default()
    };
    let scenario = Arc::clone(&scenario.inner);
    py.allow_threads(move || {
        let analysis = analyze(&scenario, &config).map_err(value_error)?;
        Ok(AnalysisReport::new(&scenario, &analysis).to_json())
    })
}

/// The time a Python negotiator may take to answer, checked.
pub(crate) fn move_limit(move_timeout: Option<f64>) -> PyResult<Option<Duration>> {
    match move_timeout {
        None => Ok(None),
        Some(t) if t.is_finite() && t > 0.0 && t < 1e7 => Ok(Some(Duration::from_secs_f64(t))),
        Some(t) => Err(value_error(format!(
            "move_timeout: must be a positive number of seconds, not {t}"
        ))),
    }
}

/// Who plays a party: a built-in by its specification, or a Python object.
enum Player {
    Builtin(String),
    Python(strategy::PyNegotiator),
}

/// Which parties confide: `all`, `none`, or a list of names.
fn confide_flags(
    scenario: &parley_core::Scenario,
    confide: &Bound<'_, PyAny>,
) -> PyResult<Vec<bool>> {
    let n = scenario.n_parties();
    if let Ok(word) = confide.extract::<String>() {
        return match word.as_str() {
            "all" => Ok(vec![true; n]),
            "none" => Ok(vec![false; n]),
            name => Ok((0..n)
                .map(|i| scenario.parties()[i].name == name)
                .collect::<Vec<_>>())
            .and_then(|flags: Vec<bool>| {
                if flags.iter().any(|&f| f) {
                    Ok(flags)
                } else {
                    Err(value_error(format!(
                        "confide: expected \"all\", \"none\" or party names, not {name:?}"
                    )))
                }
            }),
        };
    }
    let names: Vec<String> = confide
        .downcast::<PyList>()
        .map_or_else(|_| confide.extract(), |list| list.extract())?;
    let mut flags = vec![false; n];
    for name in names {
        let i = scenario
            .party_index(&name)
            .ok_or_else(|| value_error(format!("confide: there is no party {name:?}")))?;
        flags[i] = true;
    }
    Ok(flags)
}

/// One session with built-in negotiators: the JSON of `parley run --json`, plus the
/// trace (`"trace"`, one event per element) when asked.
#[pyfunction]
#[pyo3(signature = (
    scenario, negotiators, protocol = "staged", rounds = 100, seed = 0, confide = None,
    mediator_spec = None, indirect = None, threshold = None, indirect_rounds = None,
    post_settlement = true, trace = false, move_timeout = None
))]
#[allow(clippy::too_many_arguments)]
fn run_json(
    py: Python<'_>,
    scenario: &Scenario,
    negotiators: Vec<Bound<'_, PyAny>>,
    protocol: &str,
    rounds: u32,
    seed: u64,
    confide: Option<&Bound<'_, PyAny>>,
    mediator_spec: Option<String>,
    indirect: Option<String>,
    threshold: Option<f64>,
    indirect_rounds: Option<u32>,
    post_settlement: bool,
    trace: bool,
    move_timeout: Option<f64>,
) -> PyResult<String> {
    let s = Arc::clone(&scenario.inner);
    let n = s.n_parties();
    if negotiators.len() != n {
        return Err(value_error(format!(
            "negotiators: the scenario has {n} parties ({}) but {} negotiator{} {} given",
            scenario.party_names().join(", "),
            negotiators.len(),
            if negotiators.len() == 1 { "" } else { "s" },
            if negotiators.len() == 1 {
                "was"
            } else {
                "were"
            },
        )));
    }
    if !(1..=1_000_000).contains(&rounds) {
        return Err(value_error(format!(
            "rounds: must be 1 to 1,000,000, not {rounds}"
        )));
    }
    let protocol = ProtocolKind::from_options(
        protocol,
        rounds,
        indirect.as_deref(),
        threshold,
        indirect_rounds,
    )
    .map_err(value_error)?;
    let confide = match confide {
        None => vec![false; n],
        Some(c) => confide_flags(&s, c)?,
    };
    let mediator_spec = mediator_spec.or_else(|| protocol.default_mediator().map(str::to_string));
    if mediator_spec.is_some() && !protocol.needs_mediator() {
        return Err(value_error("mediator: protocol saop has no mediator"));
    }
    let limit = move_limit(move_timeout)?;
    // Checked before the session runs: a bad name is the caller's error, not the run's.
    let mut players = Vec::with_capacity(n);
    for (i, entry) in negotiators.iter().enumerate() {
        if let Ok(spec) = entry.extract::<String>() {
            negotiator(&spec, role_seed(seed, i as u64))
                .map_err(|e| value_error(format!("negotiators: {e}")))?;
            players.push(Player::Builtin(spec));
        } else {
            players.push(Player::Python(strategy::PyNegotiator::new(
                entry,
                Arc::clone(&s),
                limit,
            )?));
        }
    }
    if let Some(spec) = &mediator_spec {
        mediator(spec, 0).map_err(|e| value_error(format!("mediator: {e}")))?;
    }
    py.allow_threads(move || {
        let config = SessionConfig {
            protocol,
            rounds,
            time_limit: None,
            confide,
            post_settlement,
            clock: None,
            bids: None,
            observer: None,
            seed,
        };
        let mut boxed: Vec<Box<dyn parley_engine::Negotiator>> = Vec::with_capacity(n);
        for (i, player) in players.into_iter().enumerate() {
            boxed.push(match player {
                Player::Builtin(spec) => negotiator(&spec, role_seed(seed, i as u64))
                    .map_err(|e| value_error(format!("negotiators: {e}")))?,
                Player::Python(p) => Box::new(p),
            });
        }
        let mediator_box = mediator_spec
            .map(|spec| mediator(&spec, role_seed(seed, u64::MAX)))
            .transpose()
            .map_err(|e| value_error(format!("mediator: {e}")))?;
        let result = run_session(&s, &config, boxed, mediator_box).map_err(value_error)?;
        // The same analysis as `parley run` measures the deal against.
        let analysis = analyze(
            &s,
            &AnalysisConfig {
                time_budget: Duration::from_secs(2),
                ..AnalysisConfig::default()
            },
        )
        .map_err(value_error)?;
        let mut out = result.summary_json(&s, &analysis);
        if trace {
            let parties: Vec<String> = s.parties().iter().map(|p| p.name.clone()).collect();
            out["trace"] = serde_json::Value::Array(
                result
                    .trace
                    .events
                    .iter()
                    .map(|e| e.to_json(s.space(), &parties))
                    .collect(),
            );
        }
        Ok(out.to_string())
    })
}

/// The built-in negotiators' and mediators' names.
#[pyfunction]
fn builtins() -> (Vec<&'static str>, Vec<&'static str>) {
    (
        parley_engine::negotiators::NEGOTIATORS.to_vec(),
        parley_engine::negotiators::MEDIATORS.to_vec(),
    )
}

#[pymodule]
fn _parley(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // `llm:…` names a language-model seat, as in the CLI (see docs/llm.md).
    parley_llm::install();
    m.add_class::<Scenario>()?;
    m.add_class::<strategy::Party>()?;
    m.add_class::<builtin::Builtin>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(loads, m)?)?;
    m.add_function(wrap_pyfunction!(analyze_json, m)?)?;
    m.add_function(wrap_pyfunction!(run_json, m)?)?;
    m.add_function(wrap_pyfunction!(builtins, m)?)?;
    m.add_function(wrap_pyfunction!(tournament::tournament_json, m)?)?;
    m.add_function(wrap_pyfunction!(strategy::register_competitor, m)?)?;
    m.add_function(wrap_pyfunction!(strategy::unregister_competitor, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
