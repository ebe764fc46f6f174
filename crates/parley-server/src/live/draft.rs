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
        let name = |who: Option<usize>| match who {
            Some(p) => self.parties.get(p).cloned().unwrap_or_default(),
            None => "the mediator".to_string(),
        };
        let mut heard: Vec<String> =
            {
                let inner = self.lock();
                inner
                    .events
                    .iter()
                    .filter(|e| visible_to(e, Viewer::Party(party)))
                    .filter_map(|e| match &e.kind {
                        EventKind::Message { from, text, .. } if *from != Some(party) => Some(
                            format!("{} said: {}", name(*from), parley_llm::words::quote(text)),
                        ),
                        _ => None,
                    })
                    .collect()
            };
        let events = self.lock().events.len();
        let (from_people, _) = self.heard(party, 0, events);
        heard.extend(from_people.into_iter().filter_map(|kind| match kind {
            EventKind::Message { from, text, .. } => Some(format!(
                "{} said: {}",
                name(from),
                parley_llm::words::quote(&text)
            )),
            _ => None,
        }));
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
        let s = &self.scenario;
        let party = &s.parties()[self.party];
        let ctx = parley_engine::PartyContext::new(
            self.party,
            s.n_parties(),
            s.space(),
            &s.utilities()[self.party],
            party.reservation,
            party.discount,
            self.rounds,
        )
        .with_alternative(party.alternative.as_ref())
        .with_red_lines(s.red_lines(self.party))
        .with_words(s);
        parley_llm::draft(spec, endpoint, &ctx, &self.offer, &self.heard)
    }
}
