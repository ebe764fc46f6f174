//! One of parley's built-in negotiators, stepped from Python: what
//! `parley.negmas.ParleyNegotiator` plays inside another platform's mechanism (NegMAS's
//! `SAOMechanism`). The platform owns the clock; each call says the round and time,
//! and the other side's offers are told to the negotiator as the events it would have
//! seen in parley.

use std::sync::Arc;

use pyo3::prelude::*;

use parley_engine::negotiators::negotiator_send;
use parley_engine::{Action, Event, EventKind, Negotiator, PartyContext, Phase, State};

use crate::{outcome_from_py, value_error, Scenario};

/// A built-in negotiator playing one party of `scenario`, driven turn by turn.
#[pyclass(module = "parley._parley")]
pub(crate) struct Builtin {
    scenario: Arc<parley_core::Scenario>,
    negotiator: std::sync::Mutex<Box<dyn Negotiator + Send>>,
    party: usize,
    rounds: u32,
    seq: u64,
    started: bool,
}

/// Party `party`'s own context in `scenario`.
fn party_ctx(scenario: &parley_core::Scenario, party: usize, rounds: u32) -> PartyContext<'_> {
    let p = &scenario.parties()[party];
    PartyContext::new(
        party,
        scenario.n_parties(),
        scenario.space(),
        &scenario.utilities()[party],
        p.reservation,
        p.discount,
        rounds,
    )
    .with_alternative(p.alternative.as_ref())
    .with_red_lines(scenario.red_lines(party))
}

impl Builtin {
    fn tell(&mut self, round: u32, time: f64, kind: EventKind) {
        let event = Event {
            seq: self.seq,
            round,
            time,
            kind,
        };
        self.seq += 1;
        let scenario = Arc::clone(&self.scenario);
        let ctx = party_ctx(&scenario, self.party, self.rounds);
        self.negotiator
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .observe(&ctx, &event);
    }

    fn start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        let scenario = Arc::clone(&self.scenario);
        let ctx = party_ctx(&scenario, self.party, self.rounds);
        self.negotiator
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .init(&ctx);
        let parties = scenario.parties().iter().map(|p| p.name.clone()).collect();
        let rounds = self.rounds;
        self.tell(
            0,
            0.0,
            EventKind::Start {
                protocol: "saop",
                parties,
                rounds,
            },
        );
    }

    fn labels(&self, outcome: &[u32]) -> Vec<String> {
        self.scenario.space().outcome_labels(outcome)
    }
}

#[pymethods]
impl Builtin {
    /// `spec`: a built-in's name with its parameters (`"boulware:e=0.2"`); it plays
    /// party `party` of `scenario` under a deadline of `rounds`.
    #[new]
    #[pyo3(signature = (scenario, spec, party = 0, rounds = 100, seed = 0))]
    fn new(
        scenario: &Scenario,
        spec: &str,
        party: usize,
        rounds: u32,
        seed: u64,
    ) -> PyResult<Self> {
        if party >= scenario.inner.n_parties() {
            return Err(value_error(format!(
                "party {party}: the scenario has {} parties",
                scenario.inner.n_parties()
            )));
        }
        if rounds == 0 {
            return Err(value_error("rounds: at least 1"));
        }
        let negotiator = std::sync::Mutex::new(
            negotiator_send(
                spec,
                parley_engine::negotiators::role_seed(seed, party as u64),
            )
            .map_err(value_error)?,
        );
        Ok(Builtin {
            scenario: Arc::clone(&scenario.inner),
            negotiator,
            party,
            rounds,
            seq: 0,
            started: false,
        })
    }

    /// The strategy's name with its parameters.
    #[getter]
    fn name(&self) -> String {
        self.negotiator
            .lock()
            .map_or_else(|e| e.into_inner().name(), |n| n.name())
    }

    /// Another party (index `by`) offered `outcome` at this round and time.
    fn offered(
        &mut self,
        by: usize,
        round: u32,
        time: f64,
        outcome: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.start();
        let outcome = outcome_from_py(&self.scenario, outcome)?;
        self.tell(round, time, EventKind::Offer { from: by, outcome });
        Ok(())
    }

    /// Its turn in direct talks, with the standing offer if any: `("accept", None)`,
    /// `("walk-away", None)` or `("offer", [value labels])`.
    #[pyo3(signature = (round, time, standing = None))]
    fn act(
        &mut self,
        round: u32,
        time: f64,
        standing: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(String, Option<Vec<String>>)> {
        self.start();
        let standing = standing
            .map(|o| outcome_from_py(&self.scenario, o))
            .transpose()?;
        let state = State {
            round,
            time: time.clamp(0.0, 1.0),
            phase: Phase::Direct,
        };
        let action = {
            let scenario = Arc::clone(&self.scenario);
            let ctx = party_ctx(&scenario, self.party, self.rounds);
            // A strategy that fails here is parley's own bug: it surfaces as an exception.
            let negotiator = self.negotiator.get_mut().unwrap_or_else(|e| e.into_inner());
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                negotiator.act(&ctx, &state, standing.as_deref())
            }))
            .map_err(|_| value_error("the built-in negotiator failed (a bug of parley's)"))?
        };
        Ok(match action {
            Action::Accept => ("accept".into(), None),
            Action::WalkAway => ("walk-away".into(), None),
            Action::Offer(o) => {
                let labels = self.labels(&o);
                self.tell(
                    round,
                    time,
                    EventKind::Offer {
                        from: self.party,
                        outcome: o,
                    },
                );
                ("offer".into(), Some(labels))
            }
        })
    }
}
