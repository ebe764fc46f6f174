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

mod config;
mod result;
mod settle;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use config::{Clock, Indirect, Observer, ProtocolKind, SessionConfig, SystemClock};
use result::guard;
pub use result::{SessionResult, StrategyError};
pub use settle::POST_SETTLEMENT_TRIES;

use parley_core::Scenario;

use crate::events::{EndReason, Event, EventKind, Phase, Trace};
use crate::negotiator::{
    Action, Confided, Mediator, MediatorContext, Negotiator, PartyContext, State, Tabled,
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
        let party = &self.scenario.parties()[index];
        PartyContext::new(
            index,
            self.scenario.n_parties(),
            self.scenario.space(),
            &self.scenario.utilities()[index],
            party.reservation,
            party.discount,
            self.config.rounds,
        )
        .with_alternative(party.alternative.as_ref())
        .with_red_lines(self.scenario.red_lines(index))
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

    /// Puts the mediator's text(s) to every party: one public text, or each party's
    /// text carried to its room. Returns each party's answer.
    fn put(
        &mut self,
        tabled: &Tabled,
        carried: bool,
        time: f64,
        current: Option<&[u32]>,
    ) -> Result<Vec<bool>, Outcome> {
        let n = self.negotiators.len();
        match tabled {
            Tabled::Common(text) => {
                if let Err(e) = self.check_text(text) {
                    return Err(self.invalid(time, None, format!("text rejected: {e}")));
                }
                self.last_common = Some(text.clone());
            }
            Tabled::PerRoom(texts) => {
                if !carried {
                    return Err(self.invalid(
                        time,
                        None,
                        "single-text talks put one text to every party, not one per room".into(),
                    ));
                }
                if texts.len() != n {
                    return Err(self.invalid(
                        time,
                        None,
                        format!("{} texts for {n} rooms", texts.len()),
                    ));
                }
                for (party, text) in texts.iter().enumerate() {
                    if let Err(e) = self.check_text(text) {
                        return Err(self.invalid(
                            time,
                            None,
                            format!("text for party {party} rejected: {e}"),
                        ));
                    }
                }
                if let Some(common) = tabled.common() {
                    self.last_common = Some(common.to_vec());
                }
            }
        }
        if !carried {
            if let Some(text) = tabled.for_party(0) {
                self.emit(
                    time,
                    EventKind::Text {
                        outcome: text.to_vec(),
                    },
                );
            }
        }
        let mut answers = Vec::with_capacity(n);
        for party in 0..n {
            let text = tabled
                .for_party(party)
                .expect("checked: one text per party")
                .to_vec();
            if carried {
                self.emit(
                    time,
                    EventKind::Carry {
                        to: party,
                        outcome: text.clone(),
                    },
                );
            }
            let ctx = self.party_ctx(party);
            let state = self.state(time);
            let accept = match guard(|| self.negotiators[party].vote(&ctx, &state, &text, current))
            {
                Ok(accept) => accept,
                Err(message) => return Err(self.invalid(time, Some(party), message)),
            };
            self.emit(time, EventKind::Vote { by: party, accept });
            if self.phase != Phase::PostSettlement {
                self.answer(&text, party, accept);
            }
            answers.push(accept);
        }
        Ok(answers)
    }

    /// Puts one public text to every party after a deal; whether all accept it.
    fn put_after_deal(&mut self, text: &[u32], time: f64, agreement: &[u32]) -> bool {
        matches!(
            self.put(&Tabled::Common(text.to_vec()), false, time, Some(agreement)),
            Ok(answers) if answers.iter().all(|a| *a)
        )
    }

    fn mediator_text(&mut self, time: f64) -> Result<Tabled, String> {
        let ctx = self.mediator_ctx(time);
        let state = self.state(time);
        match self.mediator.as_mut() {
            Some(m) => guard(|| m.text(&ctx, &state)),
            None => Ok(Tabled::Common(Vec::new())),
        }
    }

    fn mediator_direct_text(&mut self, time: f64) -> Result<Option<Vec<u32>>, String> {
        let ctx = self.mediator_ctx(time);
        let state = self.state(time);
        match self.mediator.as_mut() {
            Some(m) => guard(|| m.direct_text(&ctx, &state)),
            None => Ok(None),
        }
    }

    fn progress(&self) -> f64 {
        self.mediator.as_ref().map_or(0.0, |m| m.progress())
    }

    /// Indirect rounds `0..rounds` of `kind`. With `threshold` (staged talks), the
    /// mediator calls for direct talks once its progress measure reaches the threshold,
    /// and in the last indirect round in any case; the talks go direct when every party
    /// consents.
    fn indirect(&mut self, kind: Indirect, rounds: u32, threshold: Option<f64>) -> Stage {
        let carried = kind == Indirect::Shuttle;
        let mut refused = false;
        // Single text: from the second round on, texts are judged against the first.
        let mut reference: Option<Vec<u32>> = None;
        for round in 0..rounds {
            if self.out_of_time() {
                return Stage::Done(Outcome::NoDeal(EndReason::Deadline));
            }
            if breaks_down(self.scenario.breakdown(), self.config.seed, round) {
                return Stage::Done(Outcome::NoDeal(EndReason::Breakdown));
            }
            self.round = round;
            let time = self.round_time(round);
            if carried {
                for party in 0..self.negotiators.len() {
                    let ctx = self.party_ctx(party);
                    let state = self.state(time);
                    let proposal = match guard(|| self.negotiators[party].propose(&ctx, &state)) {
                        Ok(proposal) => proposal,
                        Err(message) => {
                            return Stage::Done(self.invalid(time, Some(party), message))
                        }
                    };
                    if let Some(proposal) = proposal {
                        if let Err(e) = self.check_own(party, &proposal) {
                            return Stage::Done(self.invalid(
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
            let tabled = match self.mediator_text(time) {
                Ok(tabled) => tabled,
                Err(message) => return Stage::Done(self.invalid(time, None, message)),
            };
            let judged_against = reference.clone();
            match self.put(&tabled, carried, time, judged_against.as_deref()) {
                Err(outcome) => return Stage::Done(outcome),
                Ok(answers) => {
                    if let Some(text) = tabled.common() {
                        if answers.iter().all(|a| *a) {
                            return Stage::Done(Outcome::Deal(text.to_vec(), time));
                        }
                    }
                }
            }
            if !carried && reference.is_none() {
                reference = tabled.common().map(<[u32]>::to_vec);
            }
            let Some(threshold) = threshold else {
                continue;
            };
            let last = round + 1 >= rounds;
            let progress = self.progress();
            if (last || (progress >= threshold && !refused)) && round + 1 < self.config.rounds {
                match self.call_direct(time, progress) {
                    Err(outcome) => return Stage::Done(outcome),
                    Ok(true) => {
                        self.round = round + 1;
                        let time = self.round_time(round + 1);
                        self.set_phase(time, Phase::Direct);
                        return Stage::Direct(round + 1);
                    }
                    Ok(false) => refused = true,
                }
            }
        }
        let reason = if threshold.is_some() && rounds < self.config.rounds {
            EndReason::IndirectDeadline
        } else {
            EndReason::Deadline
        };
        Stage::Done(Outcome::NoDeal(reason))
    }

    /// The mediator calls for direct talks; whether every party consents.
    fn call_direct(&mut self, time: f64, progress: f64) -> Result<bool, Outcome> {
        self.emit(time, EventKind::CallDirect { progress });
        let mut all = true;
        for party in 0..self.negotiators.len() {
            let ctx = self.party_ctx(party);
            let state = self.state(time);
            let accept = match guard(|| self.negotiators[party].consent(&ctx, &state)) {
                Ok(accept) => accept,
                Err(message) => return Err(self.invalid(time, Some(party), message)),
            };
            self.emit(time, EventKind::Consent { by: party, accept });
            all &= accept;
        }
        Ok(all)
    }

    /// The default when talks go direct: the mediator's choice, else the last text
    /// every party accepted in principle, else (after single-text talks) the text on
    /// the table; none after shuttle talks that produced neither.
    fn opening_default(
        &mut self,
        time: f64,
        indirect: Indirect,
    ) -> Result<Option<Vec<u32>>, Outcome> {
        match self.mediator_direct_text(time) {
            Err(message) => Err(self.invalid(time, None, message)),
            Ok(Some(text)) => Ok(Some(text)),
            Ok(None) => Ok(self.in_principle().or_else(|| match indirect {
                Indirect::SingleText => self.last_common.clone(),
                Indirect::Shuttle => None,
            })),
        }
    }

    /// Direct alternating offers over rounds `first_round..rounds`. In staged talks the
    /// `default` text stands first (every party must accept it), each counter-offer
    /// must be worth at least the default to its proposer, the mediator may table a
    /// text before each later round (a standing offer every party must accept; the
    /// default does not change), and at the deadline the default stands if every party
    /// had accepted it.
    fn direct(&mut self, first_round: u32, default: Option<Vec<u32>>) -> Outcome {
        let n = self.negotiators.len();
        let n64 = n as u64;
        let total = u64::from(self.config.rounds) * n64;
        let first_step = u64::from(first_round) * n64;
        let staged = self.phase == Phase::Direct && self.mediator.is_some() && first_round > 0;
        // The standing offer and its proposer (`None`: the mediator).
        let mut standing: Option<(Vec<u32>, Option<usize>)> = None;
        let mut accepted = vec![false; n];
        if let Some(text) = &default {
            if let Err(e) = self.check_text(text) {
                let time = self.time(first_step, total);
                return self.invalid(time, None, format!("text rejected: {e}"));
            }
            let time = self.time(first_step, total);
            self.emit(
                time,
                EventKind::Default {
                    outcome: text.clone(),
                },
            );
            standing = Some((text.clone(), None));
        }
        for step in first_step..total {
            if self.out_of_time() {
                return self.deadline(default.as_deref());
            }
            self.round = (step / n64) as u32;
            let party = (step % n64) as usize;
            // A new round (not the one the direct talks start in: the indirect phase
            // drew for it).
            if party == 0
                && step > first_step
                && breaks_down(self.scenario.breakdown(), self.config.seed, self.round)
            {
                return Outcome::NoDeal(EndReason::Breakdown);
            }
            let time = self.time(step, total);
            if staged && party == 0 && step > first_step {
                match self.mediator_direct_text(time) {
                    Err(message) => return self.invalid(time, None, message),
                    Ok(Some(text)) if standing.as_ref().map(|(o, _)| o) != Some(&text) => {
                        if let Err(e) = self.check_text(&text) {
                            return self.invalid(time, None, format!("text rejected: {e}"));
                        }
                        self.emit(
                            time,
                            EventKind::Text {
                                outcome: text.clone(),
                            },
                        );
                        accepted.iter_mut().for_each(|a| *a = false);
                        standing = Some((text, None));
                    }
                    Ok(_) => {}
                }
            }
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
                    if let Err(e) = self.check_own(party, &outcome) {
                        return self.invalid(time, Some(party), format!("offer rejected: {e}"));
                    }
                    if let Some(text) = &default {
                        let own = &self.scenario.utilities()[party];
                        if own.eval(&outcome) < own.eval(text) {
                            return self.invalid(
                                time,
                                Some(party),
                                "offer rejected: a counter-offer must be worth at least the \
                                 mediator's text to its proposer"
                                    .into(),
                            );
                        }
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
                    standing = Some((outcome, Some(party)));
                }
                Action::Accept => {
                    let Some((offer, proposer)) = &standing else {
                        return self.invalid(
                            time,
                            Some(party),
                            "accepted when no offer stands".into(),
                        );
                    };
                    let (offer, by_mediator) = (offer.clone(), proposer.is_none());
                    if let Err(e) = self.check_own(party, &offer) {
                        return self.invalid(
                            time,
                            Some(party),
                            format!("acceptance rejected: {e}"),
                        );
                    }
                    accepted[party] = true;
                    self.emit(time, EventKind::Accept { by: party });
                    if by_mediator {
                        self.answer(&offer, party, true);
                    }
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
        self.deadline(default.as_deref())
    }

    /// The deadline passed in direct talks: the default stands if every party's latest
    /// answer to it accepts it (in the indirect phase's votes, or by accepting it as
    /// the standing offer in direct talks).
    ///
    /// An answer given earlier does not bind a party whose alternative changes over time
    /// to less than walking away pays at the deadline: when its alternative is worth
    /// more than the default then, it takes its alternative (as it could have by
    /// walking away), and the default does not stand. (A fixed reservation value
    /// compares with a deal the same way at every moment: an answer stays valid.)
    fn deadline(&self, default: Option<&[u32]>) -> Outcome {
        match default {
            Some(text)
                if self.accepted_by_all(text)
                    && (0..self.scenario.n_parties()).all(|p| {
                        self.scenario.parties()[p].alternative.is_none()
                            || self.scenario.acceptable(p, text, 1.0)
                    }) =>
            {
                Outcome::Fallback(text.to_vec(), 1.0)
            }
            _ => Outcome::NoDeal(EndReason::Deadline),
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
