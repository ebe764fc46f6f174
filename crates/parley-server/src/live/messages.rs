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
    /// refuse). A mediator seat is not timed out (it has no action that forfeits).
    /// Called about once a second by the server.
    pub async fn time_out_seats(self: &Arc<Self>) {
        let Some(limit) = self.spec.seat_timeout_seconds else {
            return;
        };
        let limit = std::time::Duration::from_secs(limit);
        let due: Vec<(usize, ActionBody)> = {
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
                        Pending::Text => return None,
                    };
                    Some((r, forfeit))
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
            if let Err(e) = self.act(role, forfeit, None).await {
                tracing::warn!(session = %self.id, role, "a timed-out seat's forfeit: {}", e.message);
            }
        }
    }
}
