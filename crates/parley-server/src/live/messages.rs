//! What seats say besides their moves: messages between roles; and what happens when a
//! seat says nothing in time (the seat timeout).

use super::*;

impl Live {
    /// `POST /messages`: a message from `role` to `to` (a role's name, or `all`),
    /// stored before it is answered and shown through the one visibility policy: its
    /// sender and recipient see it (every role, for `all`); while the talks go through
    /// the mediator a party writes to the mediator only.
    pub async fn message(
        self: &Arc<Self>,
        role: usize,
        to: &str,
        text: &str,
    ) -> Result<Value, ApiError> {
        let text = parley_core::label::normalize_text("text", text)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        if text.is_empty() {
            return Err(ApiError::bad_request("text: a message needs some words"));
        }
        if text.chars().count() > MAX_MESSAGE_CHARS {
            return Err(ApiError::bad_request(format!(
                "text: a message holds at most {MAX_MESSAGE_CHARS} characters"
            )));
        }
        let to_role = match to {
            "all" => None,
            name => Some(self.spec.role_index(name).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "to: there is no role {name:?} in this session; name a role or \"all\""
                ))
            })?),
        };
        if to_role == Some(role) {
            return Err(ApiError::bad_request("to: a message to yourself"));
        }
        let mediator = self.spec.mediator_index();
        if !self.store.healthy() {
            return Err(crate::store::StoreError::Unavailable.into());
        }
        {
            let inner = self.lock();
            if inner.failed.is_some() {
                return Err(ApiError::conflict(FAILED));
            }
            if inner.status == Status::Ended {
                return Err(ApiError::conflict("the talks are over"));
            }
            let direct = inner.events.iter().any(|e| {
                matches!(
                    e.kind,
                    EventKind::Phase {
                        to: Phase::Direct,
                        ..
                    }
                )
            });
            if role < self.n_parties() && mediator.is_some() && !direct && to_role != mediator {
                return Err(ApiError::bad_request(
                    "to: while the talks go through the mediator, a party writes to the \
                     mediator only",
                ));
            }
        }
        let body = json!({
            "type": "message",
            "role": self.spec.roles[role].name,
            "to": to,
            "text": text,
        });
        let mut chain = self.chain.lock().await;
        let records = chain.records(vec![("notice", body.to_string())]);
        self.store.append(&self.id, &records, None).await?;
        chain.advance(&records);
        let receipt = self.receipt(role, &records)?;
        drop(chain);
        {
            let mut inner = self.lock();
            let after = inner.events.len();
            inner.notices.push(Notice { after, role, body });
        }
        self.publish();
        Ok(receipt)
    }

    /// The seat timeout: every seat that has been asked for longer than the session's
    /// `seat_timeout_seconds` forfeits its turn — a timeout notice is stored, then the
    /// forfeit goes through the same path as any action (walk away, pass, reject,
    /// refuse). A mediator seat that times out puts its last text again; one that has
    /// put none ends the talks with no deal (`reason: "mediator-timeout"`).
    /// Called about once a second by the server.
    pub async fn time_out_seats(self: &Arc<Self>) {
        let Some(limit) = self.spec.seat_timeout_seconds else {
            return;
        };
        let limit = std::time::Duration::from_secs(limit);
        let due: Vec<(usize, Option<ActionBody>)> = {
            let inner = self.lock();
            if inner.status != Status::Running || inner.failed.is_some() {
                return;
            }
            (0..self.spec.roles.len())
                .filter_map(|r| {
                    let since = inner.pending_since[r]?;
                    if since.elapsed() < limit || inner.held[r].is_some() {
                        return None;
                    }
                    let forfeit = match inner.pending[r].as_ref()? {
                        Pending::Act { .. } => ActionBody::WalkAway,
                        Pending::Propose => ActionBody::Pass,
                        Pending::Vote { .. } => ActionBody::Vote { accept: false },
                        Pending::Consent => ActionBody::Consent { accept: false },
                        Pending::Text => match last_text(&inner.events) {
                            Some(text) => ActionBody::Text {
                                outcome: labels_map(&self.scenario(), text),
                                progress: None,
                            },
                            None => return Some((r, None)),
                        },
                    };
                    Some((r, Some(forfeit)))
                })
                .collect()
        };
        for (role, forfeit) in due {
            let body = json!({"type": "timeout", "role": self.spec.roles[role].name});
            {
                let mut chain = self.chain.lock().await;
                if !self.store.healthy() {
                    return;
                }
                let records = chain.records(vec![("notice", body.to_string())]);
                if self.store.append(&self.id, &records, None).await.is_err() {
                    return;
                }
                chain.advance(&records);
                let mut inner = self.lock();
                let after = inner.events.len();
                inner.notices.push(Notice { after, role, body });
                inner.pending_since[role] = None;
            }
            let outcome = match forfeit {
                Some(forfeit) => self.act(role, forfeit, None).await.map(|_| ()),
                None => self.end_now("mediator-timeout", None).await.map(|_| ()),
            };
            if let Err(e) = outcome {
                tracing::warn!(session = %self.id, role, "a timed-out seat's forfeit: {}", e.message);
            }
        }
    }
}

/// The last text a mediator put (or carried), if any.
fn last_text(events: &[Event]) -> Option<&[u32]> {
    events.iter().rev().find_map(|e| match &e.kind {
        EventKind::Text { outcome } | EventKind::Carry { outcome, .. } => Some(outcome.as_slice()),
        _ => None,
    })
}

/// An outcome as issue → value label.
fn labels_map(scenario: &Scenario, outcome: &[u32]) -> std::collections::BTreeMap<String, String> {
    let space = scenario.space();
    space
        .issues()
        .iter()
        .zip(space.outcome_labels(outcome))
        .map(|(issue, label)| (issue.name().to_string(), label))
        .collect()
}
