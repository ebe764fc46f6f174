//! Indirect talks: the mediator's texts put to the parties (single text and shuttle),
//! their answers, the progress measure and the call for direct talks.

use super::*;

impl Session<'_> {
    /// Puts the mediator's text(s) to every party: one public text, or each party's
    /// text carried to its room. Returns each party's answer.
    pub(super) fn put(
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
            self.speak(Some(party), time);
            self.emit(time, EventKind::Vote { by: party, accept });
            if self.phase != Phase::PostSettlement {
                self.answer(&text, party, accept);
            }
            answers.push(accept);
        }
        Ok(answers)
    }

    /// Puts one public text to every party after a deal; whether all accept it.
    pub(super) fn put_after_deal(&mut self, text: &[u32], time: f64, agreement: &[u32]) -> bool {
        matches!(
            self.put(&Tabled::Common(text.to_vec()), false, time, Some(agreement)),
            Ok(answers) if answers.iter().all(|a| *a)
        )
    }

    pub(super) fn mediator_text(&mut self, time: f64) -> Result<Tabled, String> {
        let ctx = self.mediator_ctx(time);
        let state = self.state(time);
        let tabled = match self.mediator.as_mut() {
            Some(m) => guard(|| m.text(&ctx, &state)),
            None => Ok(Tabled::Common(Vec::new())),
        };
        self.speak(None, time);
        tabled
    }

    pub(super) fn progress(&self) -> f64 {
        self.mediator.as_ref().map_or(0.0, |m| m.progress())
    }

    /// Indirect rounds `0..rounds` of `kind`. With `threshold` (staged talks), the
    /// mediator calls for direct talks once its progress measure reaches the threshold,
    /// and in the last indirect round in any case; the talks go direct when every party
    /// consents.
    pub(super) fn indirect(
        &mut self,
        kind: Indirect,
        rounds: u32,
        threshold: Option<f64>,
    ) -> Stage {
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
                    self.speak(Some(party), time);
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
    pub(super) fn call_direct(&mut self, time: f64, progress: f64) -> Result<bool, Outcome> {
        self.emit(time, EventKind::CallDirect { progress });
        let mut all = true;
        for party in 0..self.negotiators.len() {
            let ctx = self.party_ctx(party);
            let state = self.state(time);
            let accept = match guard(|| self.negotiators[party].consent(&ctx, &state)) {
                Ok(accept) => accept,
                Err(message) => return Err(self.invalid(time, Some(party), message)),
            };
            self.speak(Some(party), time);
            self.emit(time, EventKind::Consent { by: party, accept });
            all &= accept;
        }
        Ok(all)
    }
}
