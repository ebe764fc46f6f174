//! Strategies written in Python, played by parley's engine.
//!
//! A `parley.Negotiator` subclass (or any object with its methods) stands for one party.
//! The engine owns the clock, the visibility policy and the deadline: the object is
//! told only what its party may see (`observe`), reaches only its own preferences (a
//! [`Party`]), and answers each question (`act`, `propose`, `vote`, `consent`). Whatever
//! goes wrong on the Python side — an exception, an answer that is not a move, an
//! outcome outside the space, a call slower than the limit — ends the session with an
//! `invalid` event that says so; nothing panics across the boundary.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use parley_engine::{Action, Event, Negotiator, PartyContext, State, StrategyError};

use crate::{outcome_from_py, value_error};

/// One party's own view of the scenario, handed to a Python strategy: its name, the
/// issues, its utility function, its alternative and red lines — and nothing of any
/// other party's preferences.
#[pyclass(frozen, module = "parley._parley")]
pub(crate) struct Party {
    scenario: Arc<parley_core::Scenario>,
    index: usize,
    rounds: u32,
}

#[pymethods]
impl Party {
    /// This party's name.
    #[getter]
    fn name(&self) -> String {
        self.scenario.parties()[self.index].name.clone()
    }

    /// This party's index among the parties.
    #[getter]
    fn index(&self) -> usize {
        self.index
    }

    /// Every party's name (public).
    #[getter]
    fn parties(&self) -> Vec<String> {
        self.scenario
            .parties()
            .iter()
            .map(|p| p.name.clone())
            .collect()
    }

    /// The issues: `(name, [value labels])`.
    #[getter]
    fn issues(&self) -> Vec<(String, Vec<String>)> {
        crate::issues_of(&self.scenario)
    }

    /// The round deadline.
    #[getter]
    fn rounds(&self) -> u32 {
        self.rounds
    }

    /// What walking away is worth at the start.
    #[getter]
    fn reservation(&self) -> f64 {
        self.scenario.parties()[self.index].reservation
    }

    /// The discount factor (a deal at normalised time t is worth u·d^t).
    #[getter]
    fn discount(&self) -> f64 {
        self.scenario.parties()[self.index].discount
    }

    /// What walking away is worth at normalised time `t` (the alternative may move).
    fn reservation_at(&self, t: f64) -> f64 {
        self.scenario.parties()[self.index].reservation_at(t)
    }

    /// The red lines: issue → value labels this party never accepts.
    #[getter]
    fn red_lines(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        let space = self.scenario.space();
        let lines = self.scenario.red_lines(self.index);
        space
            .issues()
            .iter()
            .enumerate()
            .filter_map(|(k, issue)| {
                let refused: Vec<String> = (0..issue.cardinality())
                    .filter(|&v| !lines.allows(k, v))
                    .map(|v| issue.value_label(v))
                    .collect();
                (!refused.is_empty()).then(|| (issue.name().to_string(), refused))
            })
            .collect()
    }

    /// This party's utility of an outcome (dict issue → value, or labels in issue
    /// order).
    fn utility(&self, outcome: &Bound<'_, PyAny>) -> PyResult<f64> {
        let o = outcome_from_py(&self.scenario, outcome)?;
        Ok(self.scenario.utilities()[self.index].value(&o))
    }

    /// This party's own preferences in the native format (JSON text): one entry of a
    /// scenario file's `parties` — its utility function, reservation or alternative,
    /// red lines, discount.
    fn preferences_json(&self) -> PyResult<String> {
        let model = parley_formats::native::to_model(&self.scenario);
        let party = model
            .parties
            .get(self.index)
            .ok_or_else(|| value_error("no such party"))?;
        serde_json::to_string(party).map_err(value_error)
    }

    /// This party's utility of every outcome, as `Scenario.utilities` gives it.
    fn utilities<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::utility_table(py, &self.scenario, self.index)
    }

    fn __repr__(&self) -> String {
        format!("<parley.Party {:?}>", self.name())
    }
}

/// A Python object playing one party.
pub(crate) struct PyNegotiator {
    obj: Py<PyAny>,
    scenario: Arc<parley_core::Scenario>,
    limit: Option<Duration>,
    /// A failure in `init` or `observe` (which cannot end the session themselves),
    /// reported at the next question.
    failed: Option<String>,
    name: String,
}

impl PyNegotiator {
    pub(crate) fn new(
        obj: &Bound<'_, PyAny>,
        scenario: Arc<parley_core::Scenario>,
        limit: Option<Duration>,
    ) -> PyResult<PyNegotiator> {
        for method in ["act", "propose", "vote"] {
            let callable = obj.getattr(method).is_ok_and(|m| m.is_callable());
            if !callable {
                return Err(value_error(format!(
                    "negotiators: {} has no method {method}() (subclass parley.Negotiator)",
                    obj.repr()?
                )));
            }
        }
        let name = match obj.getattr("name") {
            Ok(n) if n.is_instance_of::<PyString>() => n.extract()?,
            _ => obj.get_type().name()?.to_string(),
        };
        Ok(PyNegotiator {
            obj: obj.clone().unbind(),
            scenario,
            limit,
            failed: None,
            name,
        })
    }

    /// Calls `method(*args)` on the object, timed; an exception or a call slower than
    /// the limit is the reason the session ends.
    fn call<T>(
        &mut self,
        method: &str,
        args: PyResult<Vec<PyObject>>,
        read: impl FnOnce(&Bound<'_, PyAny>) -> Result<T, String>,
    ) -> T {
        if let Some(reason) = self.failed.take() {
            StrategyError::raise(reason);
        }
        let who = self.name.clone();
        let limit = self.limit;
        let outcome = Python::with_gil(|py| -> Result<T, String> {
            let args = args.map_err(|e| format!("{who}: {e}"))?;
            let started = Instant::now();
            let answer = self
                .obj
                .bind(py)
                .call_method1(
                    method,
                    pyo3::types::PyTuple::new(py, args).map_err(|e| e.to_string())?,
                )
                .map_err(|e| format!("{who}.{method}() raised {}", describe(py, &e)))?;
            let took = started.elapsed();
            if let Some(limit) = limit.filter(|l| took > *l) {
                return Err(format!(
                    "{who}.{method}() took {:.2} s; the limit is {:.2} s",
                    took.as_secs_f64(),
                    limit.as_secs_f64()
                ));
            }
            read(&answer).map_err(|e| format!("{who}.{method}() {e}"))
        });
        match outcome {
            Ok(v) => v,
            Err(reason) => StrategyError::raise(reason),
        }
    }

    fn state(py: Python<'_>, state: &State) -> PyResult<PyObject> {
        let d = PyDict::new(py);
        d.set_item("round", state.round)?;
        d.set_item("time", state.time)?;
        d.set_item("phase", state.phase.name())?;
        Ok(d.into_any().unbind())
    }

    fn outcome_obj(&self, py: Python<'_>, outcome: &[u32]) -> PyResult<PyObject> {
        let space = self.scenario.space();
        let d = PyDict::new(py);
        for (issue, label) in space.issues().iter().zip(space.outcome_labels(outcome)) {
            d.set_item(issue.name(), label)?;
        }
        Ok(d.into_any().unbind())
    }
}

/// An exception as `Type: message`.
fn describe(py: Python<'_>, e: &PyErr) -> String {
    let kind = e
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "an exception".into());
    format!("{kind}: {}", e.value(py))
}

impl Negotiator for PyNegotiator {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn init(&mut self, ctx: &PartyContext<'_>) {
        let party = Party {
            scenario: Arc::clone(&self.scenario),
            index: ctx.index(),
            rounds: ctx.rounds(),
        };
        let who = self.name.clone();
        let result = Python::with_gil(|py| -> PyResult<()> {
            let party = Py::new(py, party)?;
            if self.obj.bind(py).hasattr("init")? {
                self.obj.bind(py).call_method1("init", (party,))?;
            }
            Ok(())
        });
        if let Err(e) = result {
            let reason = Python::with_gil(|py| describe(py, &e));
            self.failed = Some(format!("{who}.init() raised {reason}"));
        }
    }

    fn observe(&mut self, _ctx: &PartyContext<'_>, event: &Event) {
        if self.failed.is_some() {
            return;
        }
        let parties: Vec<String> = self
            .scenario
            .parties()
            .iter()
            .map(|p| p.name.clone())
            .collect();
        let mut json = event.to_json(self.scenario.space(), &parties);
        crate::outcomes_as_objects(&mut json, &self.scenario);
        let who = self.name.clone();
        let result = Python::with_gil(|py| -> PyResult<()> {
            if !self.obj.bind(py).hasattr("observe")? {
                return Ok(());
            }
            let json_mod = py.import("json")?;
            let event = json_mod.call_method1("loads", (json.to_string(),))?;
            self.obj.bind(py).call_method1("observe", (event,))?;
            Ok(())
        });
        if let Err(e) = result {
            let reason = Python::with_gil(|py| describe(py, &e));
            self.failed = Some(format!("{who}.observe() raised {reason}"));
        }
    }

    fn act(&mut self, _ctx: &PartyContext<'_>, state: &State, standing: Option<&[u32]>) -> Action {
        let args = Python::with_gil(|py| -> PyResult<Vec<PyObject>> {
            let standing = match standing {
                Some(o) => self.outcome_obj(py, o)?,
                None => py.None(),
            };
            Ok(vec![Self::state(py, state)?, standing])
        });
        let scenario = Arc::clone(&self.scenario);
        self.call("act", args, move |answer| {
            if let Ok(word) = answer.extract::<String>() {
                return match word.as_str() {
                    "accept" => Ok(Action::Accept),
                    "walk-away" | "walk_away" => Ok(Action::WalkAway),
                    other => Err(format!(
                        "returned {other:?}: expected \"accept\", \"walk-away\" or an outcome to offer"
                    )),
                };
            }
            if answer.is_none() {
                return Err("returned None: expected \"accept\", \"walk-away\" or an outcome to offer".into());
            }
            outcome_from_py(&scenario, answer)
                .map(Action::Offer)
                .map_err(|e| format!("returned an outcome outside the space: {e}"))
        })
    }

    fn propose(&mut self, _ctx: &PartyContext<'_>, state: &State) -> Option<Vec<u32>> {
        let args = Python::with_gil(|py| Ok(vec![Self::state(py, state)?]));
        let scenario = Arc::clone(&self.scenario);
        self.call("propose", args, move |answer| {
            if answer.is_none() {
                return Ok(None);
            }
            outcome_from_py(&scenario, answer)
                .map(Some)
                .map_err(|e| format!("returned an outcome outside the space: {e}"))
        })
    }

    fn vote(
        &mut self,
        _ctx: &PartyContext<'_>,
        state: &State,
        text: &[u32],
        current: Option<&[u32]>,
    ) -> bool {
        let args = Python::with_gil(|py| -> PyResult<Vec<PyObject>> {
            let current = match current {
                Some(c) => self.outcome_obj(py, c)?,
                None => py.None(),
            };
            Ok(vec![
                Self::state(py, state)?,
                self.outcome_obj(py, text)?,
                current,
            ])
        });
        self.call("vote", args, read_bool)
    }

    fn consent(&mut self, _ctx: &PartyContext<'_>, state: &State) -> bool {
        let has = Python::with_gil(|py| self.obj.bind(py).hasattr("consent").unwrap_or(false));
        if !has {
            return true;
        }
        let args = Python::with_gil(|py| Ok(vec![Self::state(py, state)?]));
        self.call("consent", args, read_bool)
    }
}

fn read_bool(answer: &Bound<'_, PyAny>) -> Result<bool, String> {
    answer.extract::<bool>().map_err(|_| {
        format!(
            "returned {}: expected True or False",
            answer.repr().map_or_else(|_| "?".into(), |r| r.to_string())
        )
    })
}

/// Registers a Python competitor for tournaments: `factory()` makes a fresh negotiator
/// (a `parley.Negotiator`) for each session, played as [`PyNegotiator`].
#[pyfunction]
#[pyo3(signature = (name, factory, move_timeout = None))]
pub(crate) fn register_competitor(
    name: String,
    factory: PyObject,
    move_timeout: Option<f64>,
) -> PyResult<()> {
    let limit = crate::move_limit(move_timeout)?;
    let factory = Arc::new(factory);
    parley_engine::negotiators::register_external(
        &name,
        Arc::new(
            move |scenario: &parley_core::Scenario, _party: usize, _seed: u64| {
                Python::with_gil(|py| {
                    let made = factory
                        .call0(py)
                        .map_err(|e| format!("making it raised {}", describe(py, &e)))?;
                    let player =
                        PyNegotiator::new(made.bind(py), Arc::new(scenario.clone()), limit)
                            .map_err(|e| e.to_string())?;
                    Ok(Box::new(player) as Box<dyn Negotiator + Send>)
                })
            },
        ),
    );
    Ok(())
}

/// Takes back a competitor registered with [`register_competitor`].
#[pyfunction]
pub(crate) fn unregister_competitor(name: &str) {
    parley_engine::negotiators::unregister_external(name);
}
