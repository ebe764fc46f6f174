//! What seats do: join, act (checked against what the engine waits for, stored,
//! then handed to the engine) and ratify; first answers for `Idempotency-Key`s.

use super::*;

impl Live {
    pub(super) fn to_input(&self, action: &ActionBody) -> Result<Input, ApiError> {
        let s = &self.scenario();
        Ok(match action {
            ActionBody::Offer { outcome } => {
                Input::Act(Action::Offer(labels_to_outcome(s, outcome)?))
            }
            ActionBody::Accept => Input::Act(Action::Accept),
            ActionBody::WalkAway => Input::Act(Action::WalkAway),
            ActionBody::Propose { outcome } => Input::Propose(Some(labels_to_outcome(s, outcome)?)),
            ActionBody::Pass => Input::Propose(None),
            ActionBody::Vote { accept } => Input::Vote(*accept),
            ActionBody::Consent { accept } => Input::Consent(*accept),
            ActionBody::Text { outcome, progress } => {
                if let Some(p) = progress {
                    if !(0.0..=1.0).contains(p) {
                        return Err(ApiError::bad_request(format!(
                            "progress: must be in [0, 1], not {p}"
                        )));
                    }
                }
                Input::Text(labels_to_outcome(s, outcome)?, *progress)
            }
        })
    }

    /// Why an action would breach a red line, if it would (the engine would end the
    /// talks over it): a party's own red lines bind it, and a mediator's text may cross
    /// nobody's (it is told them all).
    pub(super) fn red_line_problem(
        &self,
        role: usize,
        pending: &Pending,
        input: &Input,
    ) -> Option<String> {
        let s = &self.scenario();
        let name = |issue: usize| s.space().issues()[issue].name().to_string();
        let own = |o: &[u32]| {
            (role < s.n_parties())
                .then(|| s.red_lines(role).crossed(o))
                .flatten()
        };
        match (pending, input) {
            (_, Input::Act(Action::Offer(o)) | Input::Propose(Some(o))) => {
                own(o).map(|i| format!("outcome: it crosses your red line on issue {:?}", name(i)))
            }
            (Pending::Act { standing: Some(o) }, Input::Act(Action::Accept))
            | (Pending::Vote { text: o }, Input::Vote(true)) => own(o).map(|i| {
                format!(
                    "accept: it crosses your red line on issue {:?}; counter it or walk away",
                    name(i)
                )
            }),
            (_, Input::Text(o, _)) => s.red_lines_of_all().crossed(o).map(|i| {
                format!(
                    "outcome: it crosses a party's red line on issue {:?}; a mediator never \
                     puts one",
                    name(i)
                )
            }),
            _ => None,
        }
    }

    /// `POST /join`.
    pub async fn join(self: &Arc<Self>, role: usize, confide: bool) -> Result<Value, ApiError> {
        let mut chain = self.chain.lock().await;
        let start = {
            let inner = self.lock();
            if inner.failed.is_some() {
                return Err(ApiError::conflict(FAILED));
            }
            if inner.status != Status::Waiting || inner.joined[role] {
                return Err(ApiError::conflict("this seat has already joined"));
            }
            if confide && self.spec.mediator_index().is_none() {
                return Err(ApiError::bad_request(
                    "confide: this protocol has no mediator to confide in",
                ));
            }
            if confide && role >= self.n_parties() {
                return Err(ApiError::bad_request("confide: only parties confide"));
            }
            // An agenda session starts once every party has set its preferences too.
            inner.agenda.is_none()
                && inner
                    .joined
                    .iter()
                    .enumerate()
                    .all(|(r, &j)| j || r == role)
        };
        let name = &self.spec.roles[role].name;
        let started_at = crate::unix_now();
        let mut items = vec![(
            "joined",
            json!({"role": name, "confide": confide}).to_string(),
        )];
        let mut confide_flags = self.lock().confide.clone();
        if role < self.n_parties() {
            confide_flags[role] = confide;
        }
        if start {
            items.push(("started", started_body(&confide_flags, started_at)));
        }
        let records = chain.records(items);
        self.store
            .append(&self.id, &records, start.then_some("running"))
            .await?;
        chain.advance(&records);
        drop(chain);
        // The receipt is of the `joined` record (the seat's own act).
        let receipt = self.receipt(role, &records[..1])?;
        {
            let mut inner = self.lock();
            inner.joined[role] = true;
            inner.confide = confide_flags;
            if start {
                inner.status = Status::Running;
                inner.started_at = Some(started_at);
            }
        }
        self.changed();
        if start {
            self.start_engine();
        }
        self.publish();
        Ok(receipt)
    }

    /// `POST /actions`: checks the action against what the engine waits for, logs it,
    /// hands it to the engine. `Ok(true)`: delivered; `Ok(false)`: held for the
    /// principal's ratification.
    pub async fn act(
        self: &Arc<Self>,
        role: usize,
        action: ActionBody,
        key: Option<String>,
    ) -> Result<Acted, ApiError> {
        let input = self.to_input(&action)?;
        let mut chain = self.chain.lock().await;
        if let Some(k) = &key {
            let action_json = serde_json::to_string(&action).map_err(ApiError::internal)?;
            if let Some(first) = self.first_answer(role, "act", k, &action_json)? {
                drop(chain);
                self.until_stored(first.stored_at).await?;
                return Ok(Acted {
                    receipt: first.receipt,
                    delivered: first.delivered,
                    settled: true,
                });
            }
        }
        if !self.store.healthy() {
            // Nothing is taken while the database fails.
            return Err(crate::store::StoreError::Unavailable.into());
        }
        let (held_for_ratification, asked) = {
            let mut inner = self.lock();
            if inner.failed.is_some() {
                return Err(ApiError::conflict(FAILED));
            }
            match inner.status {
                Status::Waiting => {
                    return Err(ApiError::conflict(
                        "the talks have not started: every seat must join first",
                    ))
                }
                Status::Ended => return Err(ApiError::conflict("the talks are over")),
                Status::Running => {}
            }
            if inner.held[role].is_some() {
                return Err(ApiError::conflict(
                    "an acceptance of yours waits for your principal's ratification",
                ));
            }
            let pending = inner.pending[role].clone().ok_or_else(|| {
                ApiError::conflict("it is not your turn: the talks are not waiting for you")
            })?;
            let fits = matches!(
                (&pending, &input),
                (Pending::Act { .. }, Input::Act(_))
                    | (Pending::Propose, Input::Propose(_))
                    | (Pending::Vote { .. }, Input::Vote(_))
                    | (Pending::Consent, Input::Consent(_))
                    | (Pending::Text, Input::Text(..))
            );
            if !fits {
                return Err(ApiError::conflict(format!(
                    "the talks wait for {} from you, not {}",
                    pending_name(&pending),
                    action_name(&action)
                )));
            }
            // Staged talks: a counter-offer may not be worth less to its proposer than the
            // default text (the engine would end the talks over it).
            if let (Input::Act(Action::Offer(offer)), Some(default)) = (&input, &inner.default) {
                if role < self.scenario().n_parties() {
                    let scenario = self.scenario();
                    let own = &scenario.utilities()[role];
                    if own.eval(offer) < own.eval(default) {
                        return Err(ApiError::bad_request(format!(
                            "outcome: a counter-offer must be worth at least the default text \
                             to you ({:.4} < {:.4})",
                            own.value(offer),
                            own.value(default)
                        )));
                    }
                }
            }
            if let Some(problem) = self.red_line_problem(role, &pending, &input) {
                return Err(ApiError::bad_request(problem));
            }
            // The outcome this action accepts, if it accepts one.
            let accepted: Option<Vec<u32>> = match (&pending, &input) {
                (Pending::Act { standing: None }, Input::Act(Action::Accept)) => {
                    return Err(ApiError::conflict("there is no standing offer to accept"))
                }
                (Pending::Act { standing: Some(s) }, Input::Act(Action::Accept)) => Some(s.clone()),
                (Pending::Vote { text }, Input::Vote(true)) => Some(text.clone()),
                _ => None,
            };
            let outside_mandate = match (&self.spec.roles[role].holder, accepted) {
                (
                    Holder::Seat {
                        mandate: Some(m), ..
                    },
                    Some(outcome),
                ) => {
                    let u = self.scenario().utilities()[role].value(&outcome);
                    !m.allows(&self.scenario(), &outcome, u)
                }
                _ => false,
            };
            if !outside_mandate {
                inner.pending[role] = None;
            }
            (outside_mandate, pending)
        };
        let record = InputRecord {
            role: self.spec.roles[role].name.clone(),
            action: action.clone(),
            key: key.clone(),
        };
        if held_for_ratification {
            let body = json!({
                "type": "ratification-pending",
                "role": record.role,
                "action": action,
            });
            let mut logged = body.clone();
            if let Some(k) = &key {
                logged["key"] = k.as_str().into();
            }
            let records = chain.records(vec![("notice", logged.to_string())]);
            if let Err(e) = self.store.append(&self.id, &records, None).await {
                self.lock().pending[role] = Some(asked);
                return Err(e.into());
            }
            chain.advance(&records);
            let receipt = self.receipt(role, &records)?;
            if let Some(k) = &key {
                self.remember(role, "act", k, &action, &records[0], false, 0);
            }
            drop(chain);
            let mut inner = self.lock();
            inner.held[role] = Some(record);
            let after = inner.events.len();
            inner.notices.push(Notice { after, role, body });
            drop(inner);
            self.changed();
            self.publish();
            return Ok(Acted {
                receipt,
                delivered: false,
                settled: true,
            });
        }
        let body = serde_json::to_string(&record).map_err(ApiError::internal)?;
        if !self.store.healthy() {
            // Nothing is taken while the database fails: the seat is still asked.
            self.lock().pending[role] = Some(asked);
            return Err(crate::store::StoreError::Unavailable.into());
        }
        // The input is queued for the log and handed to the engine at once, so that
        // it is stored together with what the engine makes of it (one commit, not
        // two); the answer waits until the input is stored.
        let records = chain.records(vec![("input", body)]);
        chain.advance(&records);
        let receipt = self.receipt(role, &records)?;
        let (stored_at, events) = {
            let inner = self.lock();
            (inner.appended + 1, inner.events.len())
        };
        let first = records[0].clone();
        self.pipeline(records, None, events);
        if let Some(k) = &key {
            self.remember(role, "act", k, &action, &first, true, stored_at);
        }
        drop(chain);
        let sent = self.deliver(role, input);
        self.until_stored(stored_at).await?;
        let settled = self.settled(sent).await;
        Ok(Acted {
            receipt,
            delivered: true,
            settled,
        })
    }

    /// The first answer to `(role, who, key)`, if there was one; 422 if it was given
    /// to another action.
    pub(super) fn first_answer(
        &self,
        role: usize,
        who: &'static str,
        key: &str,
        action_json: &str,
    ) -> Result<Option<Answer>, ApiError> {
        let answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        match answers.get(&(role, who, key.to_string())) {
            Some(a) if a.action == action_json => Ok(Some(a.clone())),
            Some(_) => Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "this Idempotency-Key was used for another action: a retry must send the \
                 same action (use a new key for a new action)",
            )),
            None => Ok(None),
        }
    }

    /// Keeps the answer to an action sent with an `Idempotency-Key`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn remember(
        &self,
        role: usize,
        who: &'static str,
        key: &str,
        action: &ActionBody,
        record: &Record,
        delivered: bool,
        stored_at: u64,
    ) {
        let Ok(action) = serde_json::to_string(action) else {
            return;
        };
        let receipt = self
            .seal
            .receipt(&self.id, &self.spec.roles[role].name, record);
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                (role, who, key.to_string()),
                Answer {
                    action,
                    receipt,
                    delivered,
                    stored_at,
                },
            );
    }

    /// Keeps the answer to a ratification sent with an `Idempotency-Key`.
    pub(super) fn remember_ratify(&self, role: usize, key: &str, confirm: bool, record: &Record) {
        let who = format!("principal:{}", self.spec.roles[role].name);
        let receipt = self.seal.receipt(&self.id, &who, record);
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                (role, "ratify", key.to_string()),
                Answer {
                    action: format!("ratify:{confirm}"),
                    receipt,
                    delivered: confirm,
                    stored_at: 0,
                },
            );
    }

    /// `POST /ratify`: the principal confirms or refuses a held acceptance.
    pub async fn ratify(
        self: &Arc<Self>,
        role: usize,
        confirm: bool,
        key: Option<String>,
    ) -> Result<Value, ApiError> {
        let mut chain = self.chain.lock().await;
        if let Some(k) = &key {
            if let Some(first) =
                self.first_answer(role, "ratify", k, &format!("ratify:{confirm}"))?
            {
                return Ok(first.receipt);
            }
        }
        if self.lock().failed.is_some() {
            return Err(ApiError::conflict(FAILED));
        }
        let held = self.lock().held[role]
            .clone()
            .ok_or_else(|| ApiError::conflict("there is no acceptance waiting for ratification"))?;
        let name = self.spec.roles[role].name.clone();
        let (items, notice) = if confirm {
            let notice = json!({"type": "ratified", "role": name});
            (
                vec![
                    ("notice", notice.to_string()),
                    (
                        "input",
                        serde_json::to_string(&held).map_err(ApiError::internal)?,
                    ),
                ],
                notice,
            )
        } else {
            let notice = json!({"type": "ratification-refused", "role": name});
            (vec![("notice", notice.to_string())], notice)
        };
        let mut items = items;
        if let Some(k) = &key {
            // The logged notice carries the key, so that a retry after a restart still
            // finds its first answer; what viewers see does not.
            let mut logged = notice.clone();
            logged["key"] = k.as_str().into();
            items[0].1 = logged.to_string();
        }
        let records = chain.records(items);
        self.store.append(&self.id, &records, None).await?;
        chain.advance(&records);
        // The receipt is of the principal's own record, the notice.
        let receipt = self.receipt_as(&format!("principal:{name}"), &records[..1])?;
        if let Some(k) = &key {
            self.remember_ratify(role, k, confirm, &records[0]);
        }
        drop(chain);
        {
            let mut inner = self.lock();
            inner.held[role] = None;
            let after = inner.events.len();
            inner.notices.push(Notice {
                after,
                role,
                body: notice,
            });
            if confirm {
                inner.pending[role] = None;
            }
        }
        self.changed();
        if !confirm {
            self.publish();
        }
        if confirm {
            let input = self.to_input(&held.action)?;
            let sent = self.deliver(role, input);
            self.settled(sent).await;
        }
        Ok(receipt)
    }
}

fn pending_name(p: &Pending) -> &'static str {
    match p {
        Pending::Act { .. } => "an offer, an acceptance or a walk-away",
        Pending::Propose => "a proposal to the mediator (or a pass)",
        Pending::Vote { .. } => "a vote on the text",
        Pending::Text => "a text",
        Pending::Consent => "an answer to the call for direct talks (consent)",
    }
}

fn action_name(a: &ActionBody) -> &'static str {
    match a {
        ActionBody::Offer { .. } => "an offer",
        ActionBody::Accept => "an acceptance",
        ActionBody::WalkAway => "a walk-away",
        ActionBody::Propose { .. } => "a proposal",
        ActionBody::Pass => "a pass",
        ActionBody::Vote { .. } => "a vote",
        ActionBody::Consent { .. } => "a consent",
        ActionBody::Text { .. } => "a text",
    }
}
