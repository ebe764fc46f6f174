//! Sessions: one run of a protocol on a scenario with a set of negotiators.
//!
//! Protocol rules (`docs/protocols.md`):
//! - `saop`: parties take turns in index order; the first must offer; each turn a party
//!   accepts the standing offer, counters it or walks away; a deal when every party
//!   other than its proposer has accepted it. A round is one turn of every party.
//! - `single-text`: each round the mediator puts one text to every party, each accepts
//!   or rejects it (from the second round on, judging it against the first text
//!   tabled); the talks end as soon as every party accepts the same text.
//! - `shuttle`: each round every party may send a proposal to the mediator only; the
//!   mediator then carries a text to each party's room (the same or one per room); a
//!   deal when every party accepts the same text in the same round.
//! - `staged`: an indirect phase (shuttle or single text); after a round, the mediator
//!   calls for direct talks when its progress measure reaches the threshold, and in the
//!   last indirect round in any case; the talks go direct only if every party consents
//!   (otherwise the next call comes at the indirect deadline, and a refusal there ends
//!   the talks). In direct talks the default text stands first; a counter-offer may not
//!   be worth less to its proposer than the default; the mediator may table texts; at
//!   the deadline the default stands if every party had accepted it (a fallback).
//! - after a deal in any protocol with a mediator: the settlement check puts again every
//!   text every party saw (one all accept replaces the deal), then post-settlement (if
//!   on) lets the mediator propose improvements.
//!
//! Time is the fraction of the round deadline used (or of the wall-time limit, if that
//! is larger), one clock for the whole session; a deal at time t is worth u·d^t to a
//! party with discount factor d, and no deal at time t is worth r·d^t (its reservation
//! value discounted the same way, as in Genius).
//!
//! Layout: this file holds the session's state and its shared rules (views, checks,
//! the clock, events); `indirect.rs` the mediated talks (texts put, answers, progress,
//! the call for direct talks); `direct.rs` the direct talks (offers, the default, the
//! deadline); `settle.rs` the settlement check and post-settlement; `config.rs` and
//! `result.rs` what goes in and what comes out.

mod config;
mod direct;
mod indirect;
mod result;
mod settle;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use config::{Clock, Indirect, Observer, ProtocolKind, SessionConfig, SystemClock};
use result::guard;
pub use result::{SessionResult, StrategyError};
pub use settle::POST_SETTLEMENT_TRIES;

use parley_core::Scenario;

use crate::events::{EndReason, Event, EventKind, Phase, Recipient, Trace};
use crate::negotiator::{
    Action, Confided, Mediator, MediatorContext, Negotiator, PartyContext, State, Tabled,
    MAX_MESSAGE_CHARS,
};
use crate::visibility::{visible_to, Viewer};
use crate::{Error, Result};

/// Whether talks with breakdown risk `chance` collapse at the start of `round` (a
/// function of the seed and the round: SplitMix64 of both, as a number in [0, 1)).
fn breaks_down(chance: f64, seed: u64, round: u32) -> bool {
    if chance <= 0.0 || round == 0 {
        return false;
    }
    let mut z = seed ^ u64::from(round).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((z >> 11) as f64 / (1u64 << 53) as f64) < chance
}

struct Session<'a> {
    scenario: &'a Scenario,
    config: &'a SessionConfig,
    negotiators: Vec<Box<dyn Negotiator + 'a>>,
    mediator: Option<Box<dyn Mediator + 'a>>,
    trace: Trace,
    clock: Arc<dyn Clock>,
    round: u32,
    phase: Phase,
    phases: Vec<Phase>,
    /// Per text the mediator put: each party's latest answer to it (its vote, or, in
    /// direct talks, accepting it as the standing offer).
    answers: BTreeMap<Vec<u32>, Vec<bool>>,
    /// The texts every party came to accept in principle, in the order they did (a
    /// later answer may have withdrawn it: see `in_principle`).
    completed: Vec<Vec<u32>>,
    /// The last text the mediator put to every party.
    last_common: Option<Vec<u32>>,
    /// How many events each party, then the mediator, has been told of: a role's
    /// events are numbered in its own view, so gaps cannot reveal what it was not told.
    seen: Vec<u64>,
}

enum Outcome {
    Deal(Vec<u32>, f64),
    /// The deadline passed in direct talks and the default every party had accepted stands.
    Fallback(Vec<u32>, f64),
    NoDeal(EndReason),
}

/// Where the indirect phase left the talks.
enum Stage {
    Done(Outcome),
    /// Every party consented: direct talks from this round.
    Direct(u32),
}

impl<'a> Session<'a> {
    fn party_ctx(&self, index: usize) -> PartyContext<'a> {
        PartyContext::of_party(self.scenario, index, self.config.rounds)
            .with_cache(self.config.bids.as_deref())
    }

    /// A text the mediator puts must be an outcome of the space that crosses no
    /// party's red line (the mediator is told every party's red lines).
    fn check_text(&self, text: &[u32]) -> Result<(), String> {
        self.scenario
            .space()
            .check_outcome(text)
            .map_err(|e| e.to_string())?;
        match self.scenario.red_lines_of_all().crossed(text) {
            Some(issue) => Err(format!(
                "it crosses a party's red line on issue {:?}",
                self.scenario.space().issues()[issue].name()
            )),
            None => Ok(()),
        }
    }

    /// An outcome a party offers, proposes or accepts must be an outcome of the space
    /// that crosses none of its own red lines.
    fn check_own(&self, party: usize, outcome: &[u32]) -> Result<(), String> {
        self.scenario
            .space()
            .check_outcome(outcome)
            .map_err(|e| e.to_string())?;
        match self.scenario.red_lines(party).crossed(outcome) {
            Some(issue) => Err(format!(
                "it crosses the party's own red line on issue {:?}",
                self.scenario.space().issues()[issue].name()
            )),
            None => Ok(()),
        }
    }

    fn mediator_ctx(&self, time: f64) -> MediatorContext<'a> {
        let scenario = self.scenario;
        MediatorContext {
            space: scenario.space(),
            n_parties: scenario.n_parties(),
            confided: (0..scenario.n_parties())
                .map(|i| {
                    self.config
                        .confide
                        .get(i)
                        .copied()
                        .unwrap_or(false)
                        .then(|| Confided {
                            utility: &scenario.utilities()[i],
                            reservation: scenario.parties()[i].reservation,
                            alternative: scenario.parties()[i].alternative.as_ref(),
                        })
                })
                .collect(),
            rounds: self.config.rounds,
            time,
            red_lines: scenario.red_lines_of_all(),
        }
    }

    /// Normalised time of `step` out of `steps` in this round budget.
    fn time(&self, step: u64, steps: u64) -> f64 {
        let by_rounds = step as f64 / steps.max(1) as f64;
        let by_clock = self.config.time_limit.map_or(0.0, |limit| {
            self.clock.elapsed().as_secs_f64() / limit.as_secs_f64().max(1e-9)
        });
        by_rounds.max(by_clock).min(1.0)
    }

    /// Normalised time at the start of `round`.
    fn round_time(&self, round: u32) -> f64 {
        self.time(u64::from(round), u64::from(self.config.rounds))
    }

    fn out_of_time(&self) -> bool {
        self.config
            .time_limit
            .is_some_and(|limit| self.clock.elapsed() >= limit)
    }

    fn state(&self, time: f64) -> State {
        State {
            round: self.round,
            time,
            phase: self.phase,
        }
    }

    /// Records an event and tells every role that may see it, numbered in that
    /// role's own view (the trace keeps the global number).
    fn emit(&mut self, time: f64, kind: EventKind) {
        let mut event = Event {
            seq: 0,
            round: self.round,
            time,
            kind,
        };
        for index in 0..self.negotiators.len() {
            if visible_to(&event, Viewer::Party(index)) {
                event.seq = self.seen[index];
                self.seen[index] += 1;
                let ctx = self.party_ctx(index);
                self.negotiators[index].observe(&ctx, &event);
            }
        }
        if self.mediator.is_some() && visible_to(&event, Viewer::Mediator) {
            let m = self.negotiators.len();
            event.seq = self.seen[m];
            self.seen[m] += 1;
            let ctx = self.mediator_ctx(time);
            if let Some(mediator) = self.mediator.as_mut() {
                mediator.observe(&ctx, &event);
            }
        }
        event.seq = self.trace.events.len() as u64;
        if let Some(observer) = &self.config.observer {
            observer(&event);
        }
        self.trace.events.push(event);
    }

    /// What a role said with the call just made: its language-model exchanges (for the
    /// owner's and its own eyes only), then its words, cut to [`MAX_MESSAGE_CHARS`],
    /// to whom it may speak now (a party: everyone in direct talks, the mediator while
    /// the talks go through it; the mediator: every party or one party's room).
    fn speak(&mut self, who: Option<usize>, time: f64) {
        let n = self.negotiators.len();
        let to_all = self.phase == Phase::Direct || self.mediator.is_none();
        let (calls, words) = match who {
            Some(p) => {
                let negotiator = &mut self.negotiators[p];
                let calls = guard(|| negotiator.model_calls()).unwrap_or_default();
                let to = if to_all {
                    Recipient::All
                } else {
                    Recipient::Mediator
                };
                let words = guard(|| negotiator.message())
                    .ok()
                    .flatten()
                    .map(|w| vec![(to, w)])
                    .unwrap_or_default();
                (calls, words)
            }
            None => {
                let Some(mediator) = self.mediator.as_mut() else {
                    return;
                };
                let calls = guard(|| mediator.model_calls()).unwrap_or_default();
                let words = guard(|| mediator.messages())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(to, _)| to.is_none_or(|p| p < n))
                    .map(|(to, w)| (to.map_or(Recipient::All, Recipient::Party), w))
                    .collect();
                (calls, words)
            }
        };
        for call in calls {
            self.emit(time, EventKind::ModelCall { by: who, call });
        }
        for (to, words) in words {
            let words = words.trim();
            if words.is_empty() {
                continue;
            }
            let text = match words.char_indices().nth(MAX_MESSAGE_CHARS) {
                Some((cut, _)) => format!("{}…", &words[..cut]),
                None => words.to_string(),
            };
            self.emit(
                time,
                EventKind::Message {
                    from: who,
                    to,
                    text,
                },
            );
        }
    }

    fn invalid(&mut self, time: f64, by: Option<usize>, message: String) -> Outcome {
        self.emit(time, EventKind::Invalid { by, message });
        Outcome::NoDeal(EndReason::InvalidAction)
    }

    fn set_phase(&mut self, time: f64, to: Phase) {
        let from = self.phase;
        self.phase = to;
        self.phases.push(to);
        self.emit(time, EventKind::Phase { from, to });
    }

    /// Records a party's answer to a text the mediator put.
    fn answer(&mut self, text: &[u32], party: usize, accept: bool) {
        let n = self.negotiators.len();
        let answers = self
            .answers
            .entry(text.to_vec())
            .or_insert_with(|| vec![false; n]);
        answers[party] = accept;
        if answers.iter().all(|a| *a) {
            self.completed.push(text.to_vec());
        }
    }

    /// The last text every party accepted in principle: every party's latest answer to
    /// it is yes.
    fn in_principle(&self) -> Option<Vec<u32>> {
        self.completed
            .iter()
            .rev()
            .find(|t| self.accepted_by_all(t))
            .cloned()
    }

    /// Whether every party's latest answer to `text` accepts it.
    fn accepted_by_all(&self, text: &[u32]) -> bool {
        self.answers
            .get(text)
            .is_some_and(|answers| answers.iter().all(|a| *a))
    }
}

/// Runs one session. `negotiators` play the parties in order; `mediator` is required
/// by every protocol but `saop`. Failures during the session are recorded in the trace.
pub fn run_session<'a>(
    scenario: &'a Scenario,
    config: &'a SessionConfig,
    negotiators: Vec<Box<dyn Negotiator + 'a>>,
    mediator: Option<Box<dyn Mediator + 'a>>,
) -> Result<SessionResult> {
    let n = scenario.n_parties();
    if negotiators.len() != n {
        let given = negotiators.len();
        return Err(Error::Config(format!(
            "the scenario has {n} parties but {given} {} given",
            if given == 1 {
                "negotiator was"
            } else {
                "negotiators were"
            }
        )));
    }
    if n < 2 {
        return Err(Error::Config(
            "a negotiation needs at least two parties".into(),
        ));
    }
    if config.rounds == 0 {
        return Err(Error::Config(
            "the deadline must be at least one round".into(),
        ));
    }
    if config.protocol.needs_mediator() && mediator.is_none() {
        return Err(Error::Config(format!(
            "protocol {} needs a mediator",
            config.protocol.name()
        )));
    }
    if !config.confide.is_empty() && config.confide.len() != n {
        return Err(Error::Config(format!(
            "confide has {} flags for {n} parties",
            config.confide.len()
        )));
    }
    if let ProtocolKind::Staged {
        threshold,
        indirect_rounds,
        ..
    } = config.protocol
    {
        if !(0.0..=1.0).contains(&threshold) {
            return Err(Error::Config(format!(
                "the staged threshold {threshold} must be in [0, 1]"
            )));
        }
        if indirect_rounds == 0 || indirect_rounds > config.rounds {
            return Err(Error::Config(format!(
                "the indirect phase must last 1 to {} rounds, not {indirect_rounds}",
                config.rounds
            )));
        }
    }
    let first_phase = match config.protocol {
        ProtocolKind::Saop => Phase::Direct,
        _ => Phase::Indirect,
    };
    let mut session = Session {
        scenario,
        config,
        negotiators,
        mediator,
        trace: Trace::default(),
        clock: config
            .clock
            .clone()
            .unwrap_or_else(|| Arc::new(SystemClock::start())),
        round: 0,
        phase: first_phase,
        phases: vec![first_phase],
        seen: vec![0; n + 1],
        answers: BTreeMap::new(),
        completed: Vec::new(),
        last_common: None,
    };
    for index in 0..n {
        let ctx = session.party_ctx(index);
        session.negotiators[index].init(&ctx);
    }
    let mediator_ctx = session.mediator_ctx(0.0);
    if let Some(m) = session.mediator.as_mut() {
        m.init(&mediator_ctx);
    }
    session.emit(
        0.0,
        EventKind::Start {
            protocol: config.protocol.name(),
            parties: scenario.parties().iter().map(|p| p.name.clone()).collect(),
            rounds: config.rounds,
        },
    );
    if session.mediator.is_some() {
        for (by, &confides) in config.confide.iter().enumerate() {
            if confides {
                session.emit(0.0, EventKind::Confide { by });
            }
        }
    }

    // Every value of some issue is someone's red line: nothing can be agreed, and a
    // mediator (told every red line) could put no text at all.
    let no_zone = session.mediator.is_some()
        && scenario
            .red_lines_of_all()
            .allowed_values(scenario.space().n_issues())
            .iter()
            .any(|allowed| allowed.as_ref().is_some_and(Vec::is_empty));
    let outcome = match config.protocol {
        _ if no_zone => Outcome::NoDeal(EndReason::RedLines),
        ProtocolKind::Saop => session.direct(0, None),
        ProtocolKind::SingleText => {
            match session.indirect(Indirect::SingleText, config.rounds, None) {
                Stage::Done(outcome) => outcome,
                Stage::Direct(_) => Outcome::NoDeal(EndReason::Deadline),
            }
        }
        ProtocolKind::Shuttle => match session.indirect(Indirect::Shuttle, config.rounds, None) {
            Stage::Done(outcome) => outcome,
            Stage::Direct(_) => Outcome::NoDeal(EndReason::Deadline),
        },
        ProtocolKind::Staged {
            indirect,
            threshold,
            indirect_rounds,
        } => match session.indirect(indirect, indirect_rounds, Some(threshold)) {
            Stage::Done(outcome) => outcome,
            Stage::Direct(first) => {
                let time = session.round_time(first);
                match session.opening_default(time, indirect) {
                    Ok(default) => session.direct(first, default),
                    Err(outcome) => outcome,
                }
            }
        },
    };

    let (agreement, time, reason) = match outcome {
        Outcome::Deal(agreement, time) => (Some(agreement), time, EndReason::Agreement),
        Outcome::Fallback(agreement, time) => (Some(agreement), time, EndReason::Fallback),
        Outcome::NoDeal(reason) => {
            let time = session.trace.events.last().map_or(0.0, |e| e.time);
            (None, time, reason)
        }
    };
    let agreement = match agreement {
        Some(deal) if session.mediator.is_some() => {
            let deal = session.settlement_check(deal, time);
            Some(if config.post_settlement {
                session.post_settlement(deal, time)
            } else {
                deal
            })
        }
        other => other,
    };
    let end_time = time;
    session.emit(
        end_time,
        EventKind::End {
            agreement: agreement.clone(),
            reason,
        },
    );
    let utilities = scenario
        .parties()
        .iter()
        .zip(scenario.utilities())
        .map(|(party, ufun)| {
            // Genius semantics: walking away is discounted exactly as a deal is, so
            // accepting at time t is weighed against walking away at time t.
            match &agreement {
                Some(a) => ufun.value(a) * party.discount.powf(time),
                None => party.walk_away(time),
            }
        })
        .collect();
    Ok(SessionResult {
        agreement,
        utilities,
        time,
        rounds: session.round + 1,
        ended_by: reason,
        phases: session.phases,
        trace: session.trace,
    })
}
