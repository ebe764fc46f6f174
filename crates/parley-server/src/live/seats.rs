//! Seats: the negotiators that stand for a person or a program in the engine. Each
//! publishes what it is asked and suspends the engine until the answer arrives.

use super::*;

/// A party seat: the engine asks, the holder answers over the API.
pub(super) struct Seat<'s> {
    pub(super) live: Arc<Live>,
    pub(super) role: usize,
    pub(super) rx: Receiver<Input>,
    pub(super) suspend: &'s Suspend,
}

impl Negotiator for Seat<'_> {
    fn name(&self) -> String {
        "seat".into()
    }

    fn act(&mut self, _ctx: &PartyContext<'_>, state: &State, standing: Option<&[u32]>) -> Action {
        let pending = Pending::Act {
            standing: standing.map(<[u32]>::to_vec),
        };
        match self
            .live
            .wait(self.role, pending, state, &self.rx, self.suspend)
        {
            Some(Input::Act(action)) => action,
            // Checked before it was sent; only a closed channel gets here.
            _ => Action::WalkAway,
        }
    }

    fn propose(&mut self, _ctx: &PartyContext<'_>, state: &State) -> Option<Vec<u32>> {
        match self
            .live
            .wait(self.role, Pending::Propose, state, &self.rx, self.suspend)
        {
            Some(Input::Propose(p)) => p,
            _ => None,
        }
    }

    fn vote(
        &mut self,
        _ctx: &PartyContext<'_>,
        state: &State,
        text: &[u32],
        _current: Option<&[u32]>,
    ) -> bool {
        let pending = Pending::Vote {
            text: text.to_vec(),
        };
        matches!(
            self.live
                .wait(self.role, pending, state, &self.rx, self.suspend),
            Some(Input::Vote(true))
        )
    }

    fn consent(&mut self, _ctx: &PartyContext<'_>, state: &State) -> bool {
        matches!(
            self.live
                .wait(self.role, Pending::Consent, state, &self.rx, self.suspend),
            Some(Input::Consent(true))
        )
    }
}

/// A mediator seat.
pub(super) struct MediatorSeat<'s> {
    pub(super) live: Arc<Live>,
    pub(super) role: usize,
    pub(super) rx: Receiver<Input>,
    pub(super) suspend: &'s Suspend,
    pub(super) progress: f64,
    /// The last text put (the default if the talks go direct).
    pub(super) last: Option<Vec<u32>>,
}

impl Mediator for MediatorSeat<'_> {
    fn name(&self) -> String {
        "seat".into()
    }

    fn text(&mut self, ctx: &MediatorContext<'_>, state: &State) -> Tabled {
        let text = match self
            .live
            .wait(self.role, Pending::Text, state, &self.rx, self.suspend)
        {
            Some(Input::Text(outcome, progress)) => {
                if let Some(p) = progress {
                    self.progress = p;
                }
                outcome
            }
            _ => vec![0; ctx.space.issues().len()],
        };
        self.last = Some(text.clone());
        Tabled::Common(text)
    }

    /// When the talks go direct, the last text this mediator put stands as the default
    /// (its current text); it tables none later.
    fn direct_text(&mut self, _ctx: &MediatorContext<'_>, _state: &State) -> Option<Vec<u32>> {
        self.last.take()
    }

    fn progress(&self) -> f64 {
        self.progress
    }
}
