//! Direct talks: stacked alternating offers, the mediator's default and texts in the
//! direct phase of staged talks, and the deadline.

use super::*;

impl Session<'_> {
    pub(super) fn mediator_direct_text(&mut self, time: f64) -> Result<Option<Vec<u32>>, String> {
        let ctx = self.mediator_ctx(time);
        let state = self.state(time);
        let text = match self.mediator.as_mut() {
            Some(m) => guard(|| m.direct_text(&ctx, &state)),
            None => Ok(None),
        };
        self.speak(None, time);
        text
    }

    /// The default when talks go direct: the mediator's choice, else the last text
    /// every party accepted in principle, else (after single-text talks) the text on
    /// the table; none after shuttle talks that produced neither.
    pub(super) fn opening_default(
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
    pub(super) fn direct(&mut self, first_round: u32, default: Option<Vec<u32>>) -> Outcome {
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
            self.speak(Some(party), time);
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
                    // An earlier acceptance (or an offer, which its proposer accepts)
                    // binds only while the offer is still worth what walking away pays
                    // its party now: one whose alternative has since risen above it is
                    // released, and answers on its next turn.
                    for (p, a) in accepted.iter_mut().enumerate() {
                        if *a && p != party && !self.still_binds(p, &offer, time) {
                            *a = false;
                        }
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

    /// Whether party `p`'s earlier answer accepting `offer` still holds at `time`: a
    /// fixed reservation value compares with a deal the same way at every moment; an
    /// alternative that changes over time may have risen above the offer since.
    fn still_binds(&self, p: usize, offer: &[u32], time: f64) -> bool {
        self.scenario.parties()[p].alternative.is_none() || self.scenario.acceptable(p, offer, time)
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
    pub(super) fn deadline(&self, default: Option<&[u32]>) -> Outcome {
        match default {
            Some(text)
                if self.accepted_by_all(text)
                    && (0..self.scenario.n_parties()).all(|p| self.still_binds(p, text, 1.0)) =>
            {
                Outcome::Fallback(text.to_vec(), 1.0)
            }
            _ => Outcome::NoDeal(EndReason::Deadline),
        }
    }
}
