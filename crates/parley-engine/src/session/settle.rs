//! After a deal: the settlement check and post-settlement.

use super::{guard, Session};
use crate::events::{texts_shown_to_all, EventKind, Phase};

/// How many improvements a mediator may propose after a deal.
pub const POST_SETTLEMENT_TRIES: usize = 5;

impl Session<'_> {
    /// After a deal: every text that every party was shown is put again, in public; one
    /// that every party accepts (as no worse than the deal) replaces the deal. So no
    /// text every party saw is better for all than the final deal, as far as the
    /// parties' answers tell. Which texts are put depends on the trace alone, never on
    /// confided preferences, so the check reveals nothing of them.
    pub(super) fn settlement_check(&mut self, mut agreement: Vec<u32>, time: f64) -> Vec<u32> {
        let n = self.negotiators.len();
        let candidates = texts_shown_to_all(&self.trace.events, n);
        let mut opened = false;
        for text in candidates {
            if text == agreement {
                continue;
            }
            if !opened {
                self.set_phase(time, Phase::PostSettlement);
                opened = true;
            }
            if self.put_after_deal(&text, time, &agreement) {
                agreement = text;
            }
        }
        agreement
    }

    /// Post-settlement (Raiffa): the mediator proposes up to [`POST_SETTLEMENT_TRIES`]
    /// texts it believes are at least as good as the deal for everyone; each replaces
    /// the deal if every party accepts it (as no worse than the deal). A text already
    /// put is not put again (it ends the search); a text outside the space is recorded
    /// as the mediator's invalid action and ends the search, the deal standing.
    pub(super) fn post_settlement(&mut self, mut agreement: Vec<u32>, time: f64) -> Vec<u32> {
        let mut put: std::collections::BTreeSet<Vec<u32>> = Default::default();
        for _ in 0..POST_SETTLEMENT_TRIES {
            let ctx = self.mediator_ctx(time);
            let Some(mediator) = self.mediator.as_mut() else {
                break;
            };
            let improved = guard(|| mediator.improve(&ctx, &agreement));
            self.speak(None, time);
            let candidate = match improved {
                Ok(Some(candidate)) if candidate != agreement => candidate,
                Ok(_) => break,
                Err(message) => {
                    self.emit(time, EventKind::Invalid { by: None, message });
                    break;
                }
            };
            if let Err(e) = self.check_text(&candidate) {
                self.emit(
                    time,
                    EventKind::Invalid {
                        by: None,
                        message: format!("improvement rejected: {e}"),
                    },
                );
                break;
            }
            if !put.insert(candidate.clone()) {
                break;
            }
            if self.phase != Phase::PostSettlement {
                self.set_phase(time, Phase::PostSettlement);
            }
            if self.put_after_deal(&candidate, time, &agreement) {
                agreement = candidate;
            }
        }
        agreement
    }
}
