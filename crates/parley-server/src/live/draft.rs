//! What the drafting assistant of a person's room is given: only what that seat may
//! know (its own preferences, the words said to it), never another party's.

use super::*;

/// What a draft for a seat is made from.
pub struct DraftInputs {
    /// The scenario (the seat's context reads only its own party's slot of it).
    pub scenario: Arc<Scenario>,
    /// The seat's party.
    pub party: usize,
    /// The session's round deadline.
    pub rounds: u32,
    /// The offer to explain.
    pub offer: Vec<u32>,
    /// The words said to the seat lately ("NAME said: …"), oldest first, from its own
    /// view.
    pub heard: Vec<String>,
}

impl Live {
    /// What a draft for party `party`'s seat explaining `outcome` is made from; an
    /// error when the outcome is not one of the space or the party has not set its
    /// preferences yet.
    pub fn draft_inputs(
        &self,
        party: usize,
        outcome: &std::collections::BTreeMap<String, String>,
    ) -> Result<DraftInputs, ApiError> {
        self.preferences_set(
            party,
            "set your preferences first (PUT /preferences): a draft explains an offer by \
             what you want",
        )?;
        let scenario = self.scenario();
        let offer = labels_to_outcome(&scenario, outcome)?;
        // The words said to the seat: the agents' (engine events it may see), then
        // the people's (notices to it or to all).
        let (mut said, events): (Vec<(Option<usize>, String)>, usize) = {
            let inner = self.lock();
            let said = inner
                .events
                .iter()
                .filter(|e| visible_to(e, Viewer::Party(party)))
                .filter_map(|e| match &e.kind {
                    EventKind::Message { from, text, .. } if *from != Some(party) => {
                        Some((*from, text.clone()))
                    }
                    _ => None,
                })
                .collect();
            (said, inner.events.len())
        };
        said.extend(
            self.heard(party, 0, events)
                .0
                .into_iter()
                .filter_map(|kind| match kind {
                    EventKind::Message { from, text, .. } => Some((from, text)),
                    _ => None,
                }),
        );
        let heard = said
            .into_iter()
            .map(|(from, text)| {
                let who = match from {
                    Some(p) => self.parties.get(p).cloned().unwrap_or_default(),
                    None => "the mediator".to_string(),
                };
                format!("{who} said: {}", parley_llm::words::quote(&text))
            })
            .collect();
        Ok(DraftInputs {
            scenario,
            party,
            rounds: self.spec.rounds,
            offer,
            heard,
        })
    }
}

impl DraftInputs {
    /// Asks the model named by `spec` at `endpoint` for the draft (blocking: call it
    /// off the async runtime).
    pub fn draft(
        &self,
        spec: &str,
        endpoint: parley_llm::Endpoint,
    ) -> Result<parley_llm::Draft, String> {
        let ctx = parley_engine::PartyContext::of_party(&self.scenario, self.party, self.rounds);
        parley_llm::draft(spec, endpoint, &ctx, &self.offer, &self.heard)
    }
}
