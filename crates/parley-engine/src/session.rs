//! Sessions: one run of a protocol on a scenario with a set of negotiators.
//!
//! Protocol rules (`docs/protocols.md`):
//! - `saop`: parties take turns in index order; the first must offer; each turn a party
//!   accepts the standing offer, counters it or walks away; a deal when every party
//!   other than its proposer has accepted it. A round is one turn of every party.
//! - `single-text`: each round the mediator puts a text to every party, each accepts or
//!   rejects it; the last text everyone accepted stands at the deadline.
//! - `shuttle`: each round every party may send a proposal to the mediator only; the
//!   mediator then carries one text to each party separately; a deal when every party
//!   accepts the same carried text.
//! - `staged`: an indirect phase (shuttle or single text) that moves to `saop` for the
//!   remaining rounds when the mediator's progress measure reaches the threshold; the
//!   mediator's last text is then the standing offer, which every party must accept; a
//!   deal in the indirect phase ends the talks; if the indirect deadline passes first,
//!   the talks end with no deal.
//! - post-settlement (any protocol with a mediator): after a deal, the mediator may put
//!   one improvement to every party; if all accept, it replaces the deal.
//!
//! Time is the fraction of the round deadline used (or of the wall-time limit, if that
//! is larger); a deal at time t is worth u·d^t to a party with discount factor d. In the
//! indirect phase of staged talks, negotiators are shown time relative to the indirect
//! deadline, the one that ends the talks if it passes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parley_core::Scenario;

use crate::events::{EndReason, Event, EventKind, Phase, Trace};
use crate::negotiator::{
    Action, Confided, Mediator, MediatorContext, Negotiator, PartyContext, State,
};
use crate::visibility::{visible_to, Viewer};
use crate::{Error, Result};

/// The indirect protocol of staged talks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Indirect {
    /// Shuttle mediation.
    Shuttle,
    /// Mediated single text.
    SingleText,
}

/// Which protocol a session follows.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ProtocolKind {
    /// Stacked alternating offers.
    Saop,
    /// Mediated single negotiating text.
    SingleText,
    /// Shuttle mediation.
    Shuttle,
    /// Indirect talks that move to direct ones.
    Staged {
        /// The indirect protocol.
        indirect: Indirect,
        /// Progress (in [0, 1]) at which talks move to direct.
        threshold: f64,
        /// Rounds the indirect phase may last.
        indirect_rounds: u32,
    },
}

impl ProtocolKind {
    /// The protocol's name.
    pub fn name(&self) -> &'static str {
        match self {
            ProtocolKind::Saop => "saop",
            ProtocolKind::SingleText => "single-text",
            ProtocolKind::Shuttle => "shuttle",
            ProtocolKind::Staged { .. } => "staged",
        }
    }

    /// Whether the protocol needs a mediator.
    pub fn needs_mediator(&self) -> bool {
        !matches!(self, ProtocolKind::Saop)
    }

    /// The built-in mediator used when none is named: the hill-climber for single-text
    /// talks, the shuttle mediator otherwise (`None` for `saop`).
    pub fn default_mediator(&self) -> Option<&'static str> {
        match self {
            ProtocolKind::Saop => None,
            ProtocolKind::SingleText
            | ProtocolKind::Staged {
                indirect: Indirect::SingleText,
                ..
            } => Some("hill-climber"),
            ProtocolKind::Shuttle | ProtocolKind::Staged { .. } => Some("shuttle"),
        }
    }
}

/// Where a session reads the time: injected, so that wall-time deadlines can be
/// tested without sleeping.
pub trait Clock: Send + Sync {
    /// Time elapsed since the clock started.
    fn elapsed(&self) -> Duration;
}

/// The real clock, started when created.
pub struct SystemClock(Instant);

impl SystemClock {
    /// A clock started now.
    pub fn start() -> SystemClock {
        SystemClock(Instant::now())
    }
}

impl Clock for SystemClock {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// A function told of every event as it happens.
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync>;

/// Settings of a session.
#[derive(Clone)]
pub struct SessionConfig {
    /// The protocol.
    pub protocol: ProtocolKind,
    /// Round deadline (at least 1).
    pub rounds: u32,
    /// Optional wall-time deadline.
    pub time_limit: Option<Duration>,
    /// Per party: whether it confides its preferences to the mediator.
    pub confide: Vec<bool>,
    /// Whether to look for post-settlement improvements.
    pub post_settlement: bool,
    /// Where the session reads the time (`None`: a system clock started with the session).
    pub clock: Option<Arc<dyn Clock>>,
    /// Bid spaces shared by the sessions of one scenario (tournaments pass one per
    /// scenario; `None` builds them per session). Results are the same either way.
    pub bids: Option<Arc<crate::negotiators::BidCache>>,
    /// Called with every event as it is appended to the trace (the full trace: the
    /// caller decides who may see what, with [`crate::visibility`]). A live server
    /// logs events with it.
    pub observer: Option<Observer>,
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("protocol", &self.protocol)
            .field("rounds", &self.rounds)
            .field("time_limit", &self.time_limit)
            .field("confide", &self.confide)
            .field("post_settlement", &self.post_settlement)
            .finish_non_exhaustive()
    }
}

impl SessionConfig {
    /// A session of `rounds` rounds of `protocol`, nothing confided.
    pub fn new(protocol: ProtocolKind, rounds: u32) -> SessionConfig {
        SessionConfig {
            protocol,
            rounds,
            time_limit: None,
            confide: Vec::new(),
            post_settlement: false,
            clock: None,
            bids: None,
            observer: None,
        }
    }
}

/// How a session ended.
#[derive(Clone, Debug)]
pub struct SessionResult {
    /// The agreement, if any.
    pub agreement: Option<Vec<u32>>,
    /// Each party's utility: discounted utility of the deal, or its reservation value.
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

/// Runs a negotiator's or mediator's callback; a panic becomes a message, so that a
/// failing strategy ends its session as data instead of bringing down the caller.
fn guard<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        format!("it panicked: {message}")
    })
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
    /// The mediator's last text.
    last_text: Option<Vec<u32>>,
}

enum Outcome {
    Deal(Vec<u32>, f64),
    NoDeal(EndReason),
}

impl<'a> Session<'a> {
    fn party_ctx(&self, index: usize) -> PartyContext<'a> {
        let party = &self.scenario.parties()[index];
        PartyContext {
            index,
            n_parties: self.scenario.n_parties(),
            space: self.scenario.space(),
            utility: &self.scenario.utilities()[index],
            reservation: party.reservation,
            discount: party.discount,
            rounds: self.config.rounds,
            bids: self.config.bids.as_deref(),
        }
    }

    fn mediator_ctx(&self) -> MediatorContext<'a> {
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
                        })
                })
                .collect(),
            rounds: self.config.rounds,
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

    /// Records an event and tells every role that may see it.
    fn emit(&mut self, time: f64, kind: EventKind) {
        let event = Event {
            seq: self.trace.events.len() as u64,
            round: self.round,
            time,
            kind,
        };
        for index in 0..self.negotiators.len() {
            if visible_to(&event, Viewer::Party(index)) {
                let ctx = self.party_ctx(index);
                self.negotiators[index].observe(&ctx, &event);
            }
        }
        if self.mediator.is_some() && visible_to(&event, Viewer::Mediator) {
            let ctx = self.mediator_ctx();
            if let Some(mediator) = self.mediator.as_mut() {
                mediator.observe(&ctx, &event);
            }
        }
        if let Some(observer) = &self.config.observer {
            observer(&event);
        }
        self.trace.events.push(event);
    }

    fn invalid(&mut self, time: f64, by: Option<usize>, message: String) -> Outcome {
        self.emit(time, EventKind::Invalid { by, message });
        Outcome::NoDeal(EndReason::InvalidAction)
    }

    fn set_phase(&mut self, time: f64, to: Phase, progress: f64) {
        let from = self.phase;
        self.phase = to;
        self.phases.push(to);
        self.emit(time, EventKind::Phase { from, to, progress });
    }

    /// Direct alternating offers over rounds `first_round..rounds`; `opening` (the
    /// mediator's last text, after staged talks) stands first, and needs every party.
    fn saop(&mut self, first_round: u32, opening: Option<Vec<u32>>) -> Outcome {
        let n = self.negotiators.len() as u64;
        let total = self.config.rounds as u64 * n;
        let mut standing: Option<(Vec<u32>, usize)> = opening.map(|text| (text, usize::MAX));
        let mut accepted = vec![false; n as usize];
        for step in first_round as u64 * n..total {
            if self.out_of_time() {
                return Outcome::NoDeal(EndReason::Deadline);
            }
            self.round = (step / n) as u32;
            let party = (step % n) as usize;
            let time = self.time(step, total);
            let ctx = self.party_ctx(party);
            let state = self.state(time);
            let action = match guard(|| {
                self.negotiators[party].act(
                    &ctx,
                    &state,
                    standing.as_ref().map(|(o, _)| o.as_slice()),
                )
            }) {
                Ok(action) => action,
                Err(message) => return self.invalid(time, Some(party), message),
            };
            match action {
                Action::Offer(outcome) => {
                    if let Err(e) = self.scenario.space().check_outcome(&outcome) {
                        return self.invalid(time, Some(party), format!("offer rejected: {e}"));
                    }
                    accepted.iter_mut().for_each(|a| *a = false);
                    accepted[party] = true;
                    self.emit(
                        time,
                        EventKind::Offer {
                            from: party,
                            outcome: outcome.clone(),
                        },
                    );
                    standing = Some((outcome, party));
                }
                Action::Accept => {
                    let Some((offer, _)) = &standing else {
                        return self.invalid(
                            time,
                            Some(party),
                            "accepted when no offer stands".into(),
                        );
                    };
                    let offer = offer.clone();
                    accepted[party] = true;
                    self.emit(time, EventKind::Accept { by: party });
                    if accepted.iter().all(|a| *a) {
                        return Outcome::Deal(offer, time);
                    }
                }
                Action::WalkAway => {
                    self.emit(time, EventKind::WalkAway { by: party });
                    return Outcome::NoDeal(EndReason::WalkAway);
                }
            }
        }
        Outcome::NoDeal(EndReason::Deadline)
    }

    /// Puts `text` to every party (as one public text, or carried to each party
    /// separately); returns whether all accepted.
    fn put_text(
        &mut self,
        text: &[u32],
        carried: bool,
        time: f64,
        phase_time: f64,
        current: Option<&[u32]>,
    ) -> Result<bool, Outcome> {
        if let Err(e) = self.scenario.space().check_outcome(text) {
            return Err(self.invalid(time, None, format!("text rejected: {e}")));
        }
        if !carried {
            self.emit(
                time,
                EventKind::Text {
                    outcome: text.to_vec(),
                },
            );
        }
        let mut all = true;
        for party in 0..self.negotiators.len() {
            if carried {
                self.emit(
                    time,
                    EventKind::Carry {
                        to: party,
                        outcome: text.to_vec(),
                    },
                );
            }
            let ctx = self.party_ctx(party);
            let state = self.state(phase_time);
            let accept = match guard(|| self.negotiators[party].vote(&ctx, &state, text, current)) {
                Ok(accept) => accept,
                Err(message) => return Err(self.invalid(time, Some(party), message)),
            };
            self.emit(time, EventKind::Vote { by: party, accept });
            all &= accept;
        }
        Ok(all)
    }

    fn mediator_text(&mut self, time: f64) -> Result<Vec<u32>, String> {
        let ctx = self.mediator_ctx();
        let state = self.state(time);
        match self.mediator.as_mut() {
            Some(m) => guard(|| m.text(&ctx, &state)),
            None => Ok(Vec::new()),
        }
    }

    fn progress(&self) -> f64 {
        self.mediator.as_ref().map_or(0.0, |m| m.progress())
    }

    /// Indirect rounds `0..rounds` of `kind`; with `threshold`, stops (returning `None`)
    /// as soon as the progress measure reaches it.
    fn indirect(&mut self, kind: Indirect, rounds: u32, threshold: Option<f64>) -> Option<Outcome> {
        let total = self.config.rounds as u64;
        let mut current: Option<(Vec<u32>, f64)> = None;
        // Single text: votes compare with the last accepted text, else the first tabled.
        let mut baseline: Option<Vec<u32>> = None;
        for round in 0..rounds {
            if self.out_of_time() {
                break;
            }
            self.round = round;
            // Negotiators see time relative to this phase's deadline (in staged talks the
            // indirect deadline is the one that ends the talks); the deal's time for
            // discounting is the session's.
            let time = self.time(round as u64, total);
            let phase_time = if threshold.is_some() {
                self.time(round as u64, rounds as u64)
            } else {
                time
            };
            if kind == Indirect::Shuttle {
                for party in 0..self.negotiators.len() {
                    let ctx = self.party_ctx(party);
                    let state = self.state(phase_time);
                    let proposal = match guard(|| self.negotiators[party].propose(&ctx, &state)) {
                        Ok(proposal) => proposal,
                        Err(message) => return Some(self.invalid(time, Some(party), message)),
                    };
                    if let Some(proposal) = proposal {
                        if let Err(e) = self.scenario.space().check_outcome(&proposal) {
                            return Some(self.invalid(
                                time,
                                Some(party),
                                format!("proposal rejected: {e}"),
                            ));
                        }
                        self.emit(
                            time,
                            EventKind::Proposal {
                                from: party,
                                outcome: proposal,
                            },
                        );
                    }
                }
            }
            let text = match self.mediator_text(phase_time) {
                Ok(text) => text,
                Err(message) => return Some(self.invalid(time, None, message)),
            };
            self.last_text = Some(text.clone());
            let carried = kind == Indirect::Shuttle;
            let current_text = current
                .as_ref()
                .map(|(t, _)| t.clone())
                .or_else(|| baseline.clone());
            if !carried && baseline.is_none() {
                baseline = Some(text.clone());
            }
            match self.put_text(&text, carried, time, phase_time, current_text.as_deref()) {
                Err(outcome) => return Some(outcome),
                Ok(true) => {
                    if carried || threshold.is_some() {
                        return Some(Outcome::Deal(text, time));
                    }
                    current = Some((text, time));
                }
                Ok(false) => {}
            }
            if let Some(threshold) = threshold {
                let progress = self.progress();
                if progress >= threshold {
                    self.round = round + 1;
                    let time = self.time(round as u64 + 1, total);
                    self.set_phase(time, Phase::Direct, progress);
                    return None;
                }
            }
        }
        Some(match current {
            Some((text, time)) => Outcome::Deal(text, time),
            None if threshold.is_some() => Outcome::NoDeal(EndReason::IndirectDeadline),
            None => Outcome::NoDeal(EndReason::Deadline),
        })
    }

    fn post_settlement(&mut self, agreement: Vec<u32>, time: f64) -> Vec<u32> {
        let ctx = self.mediator_ctx();
        let Some(candidate) = self
            .mediator
            .as_mut()
            .and_then(|m| m.improve(&ctx, &agreement))
        else {
            return agreement;
        };
        self.set_phase(time, Phase::PostSettlement, 1.0);
        match self.put_text(&candidate, false, time, time, Some(&agreement)) {
            Ok(true) => candidate,
            _ => agreement,
        }
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
        return Err(Error::Config(format!(
            "the scenario has {n} parties but {} negotiators were given",
            negotiators.len()
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
        last_text: None,
    };
    for index in 0..n {
        let ctx = session.party_ctx(index);
        session.negotiators[index].init(&ctx);
    }
    let mediator_ctx = session.mediator_ctx();
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

    let outcome = match config.protocol {
        ProtocolKind::Saop => session.saop(0, None),
        ProtocolKind::SingleText => session
            .indirect(Indirect::SingleText, config.rounds, None)
            .unwrap_or(Outcome::NoDeal(EndReason::Deadline)),
        ProtocolKind::Shuttle => session
            .indirect(Indirect::Shuttle, config.rounds, None)
            .unwrap_or(Outcome::NoDeal(EndReason::Deadline)),
        ProtocolKind::Staged {
            indirect,
            threshold,
            indirect_rounds,
        } => match session.indirect(indirect, indirect_rounds, Some(threshold)) {
            Some(outcome) => outcome,
            None => {
                let first = session.round;
                let opening = session.last_text.clone();
                session.saop(first, opening)
            }
        },
    };

    let (agreement, time, reason) = match outcome {
        Outcome::Deal(agreement, time) => {
            let agreement = if config.post_settlement && session.mediator.is_some() {
                session.post_settlement(agreement, time)
            } else {
                agreement
            };
            (Some(agreement), time, EndReason::Agreement)
        }
        Outcome::NoDeal(reason) => {
            let time = session.trace.events.last().map_or(0.0, |e| e.time);
            (None, time, reason)
        }
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
        .map(|(party, ufun)| match &agreement {
            Some(a) => ufun.value(a) * party.discount.powf(time),
            None => party.reservation,
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
