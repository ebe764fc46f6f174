//! Agenda sessions: each party's seat sets its own preferences, privately, before
//! the talks start (`PUT /preferences`), and reads them back (`GET /preferences`).
//!
//! The preferences are a `preferences` record in the log, stored before they are
//! acknowledged. No view carries them to anyone but their party's seat (and its
//! principal): not the other parties, the mediator (unless the party confides in it)
//! or the owner, and a session with an agenda cannot be created with `owner_sees:
//! "all"`. The server's operator, who holds the database, can read them.

use parley_formats::native::{Agenda, Preferences};

use super::*;

impl Live {
    /// Makes this a session on `agenda`: while some party has no preferences, the
    /// talks wait for them.
    pub fn with_agenda(mut self, agenda: Agenda) -> Live {
        self.open = agenda.unset();
        if !agenda.is_complete() {
            self.inner
                .get_mut()
                .unwrap_or_else(|e| e.into_inner())
                .agenda = Some(agenda);
        }
        self
    }

    /// Whether party `party` states its own preferences (the agenda left them out).
    pub fn sets_own_preferences(&self, party: usize) -> bool {
        self.open.get(party).copied().unwrap_or(false)
    }

    /// Which parties have not set their preferences yet (all false once the talks can
    /// start).
    pub(super) fn unset(&self, inner: &Inner) -> Vec<bool> {
        match &inner.agenda {
            Some(agenda) => agenda.unset(),
            None => vec![false; self.n_parties()],
        }
    }

    /// Party `party`'s preferences as its seat reads them: `None` until it sets them.
    pub fn own_preferences(&self, party: usize) -> Option<Value> {
        let inner = self.lock();
        if let Some(agenda) = &inner.agenda {
            return agenda
                .preferences(party)
                .and_then(|p| serde_json::to_value(p).ok());
        }
        drop(inner);
        let model = parley_formats::native::to_model(&self.scenario());
        model
            .parties
            .get(party)
            .and_then(Preferences::of)
            .and_then(|p| serde_json::to_value(p).ok())
    }

    /// `inner`'s agenda with party `role`'s preferences set, and the scenario it makes
    /// (checked; nothing changes).
    fn with_preferences(
        &self,
        inner: &Inner,
        role: usize,
        preferences: Preferences,
    ) -> Result<(Agenda, Scenario), ApiError> {
        if !self.sets_own_preferences(role) {
            return Err(ApiError::conflict(
                "this party's preferences are the scenario's: only a party the scenario \
                 leaves without preferences (an agenda) sets its own",
            ));
        }
        let mut agenda = inner.agenda.clone().ok_or_else(|| {
            ApiError::conflict("the talks have started: preferences are fixed once they start")
        })?;
        agenda
            .set(role, preferences, "preferences")
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let scenario = agenda
            .placeholder("preferences")
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok((agenda, scenario))
    }

    /// Puts an agenda and its scenario in force.
    fn install(&self, inner: &mut Inner, agenda: Agenda, scenario: Scenario) {
        *self.scenario.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(scenario);
        inner.agenda = (!agenda.is_complete()).then_some(agenda);
    }

    /// Sets party `role`'s preferences as a stored record says (a replay).
    pub(super) fn apply_preferences(
        &self,
        inner: &mut Inner,
        role: usize,
        preferences: Preferences,
    ) -> Result<(), ApiError> {
        let (agenda, scenario) = self.with_preferences(inner, role, preferences)?;
        self.install(inner, agenda, scenario);
        Ok(())
    }

    /// `PUT /preferences`: party `role` sets its preferences (replacing any it set
    /// before), until the talks start. Stored before it is answered; the talks start
    /// when the last party sets them with every seat joined.
    pub async fn set_preferences(
        self: &Arc<Self>,
        role: usize,
        preferences: Preferences,
    ) -> Result<Value, ApiError> {
        if role >= self.n_parties() {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "only a party sets preferences",
            ));
        }
        if !self.store.healthy() {
            return Err(crate::store::StoreError::Unavailable.into());
        }
        // Held until the new agenda is in force: the next change starts from it.
        let mut chain = self.chain.lock().await;
        let (agenda, scenario, start, confide) = {
            let inner = self.lock();
            if inner.failed.is_some() {
                return Err(ApiError::conflict(FAILED));
            }
            if inner.status != Status::Waiting {
                return Err(ApiError::conflict(
                    "the talks have started: preferences are fixed once they start",
                ));
            }
            let (agenda, scenario) = self.with_preferences(&inner, role, preferences.clone())?;
            let start = agenda.is_complete() && inner.joined.iter().all(|&j| j);
            (agenda, scenario, start, inner.confide.clone())
        };
        let body = records::PreferencesSet {
            role: self.spec.roles[role].name.clone(),
            preferences,
        };
        let started_at = crate::unix_now();
        let mut items = vec![(
            "preferences",
            serde_json::to_string(&body).map_err(ApiError::internal)?,
        )];
        if start {
            items.push(("started", started_body(&confide, started_at)));
        }
        let records = chain.records(items);
        self.store
            .append(&self.id, &records, start.then_some("running"))
            .await?;
        chain.advance(&records);
        {
            let mut inner = self.lock();
            self.install(&mut inner, agenda, scenario);
            if start {
                inner.status = Status::Running;
                inner.started_at = Some(started_at);
            }
        }
        drop(chain);
        let receipt = self.receipt(role, &records[..1])?;
        self.changed();
        if start {
            self.start_engine();
        }
        self.publish();
        Ok(receipt)
    }
}
