//! Rebuilding a session from its log: a running one replayed through the engine, an
//! ended one read back as logged.

use super::*;

impl Live {
    /// Rebuilds a stored session from its log: joins, actions, notices, events; then
    /// replays it through the engine if it started.
    /// The log must already have passed [`crate::check_session`].
    pub fn restore(self: &Arc<Self>, log: &[Record]) -> Result<(), String> {
        if let Ok(mut chain) = self.chain.try_lock() {
            chain.version = crate::store::chain_version(log);
            chain.advance(log);
        }
        let mut started = false;
        {
            let mut inner = self.lock();
            let mut events = 0usize;
            for r in log {
                let unknown_role = || format!("record {}: unknown role", r.seq);
                match LogRecord::parse(r)? {
                    // Tokens come from the tokens table (checked against these).
                    LogRecord::Created(_) | LogRecord::Token(_) => {}
                    LogRecord::Joined(joined) => {
                        let role = self
                            .spec
                            .role_index(&joined.role)
                            .ok_or_else(unknown_role)?;
                        inner.joined[role] = true;
                        if role < self.n_parties() {
                            inner.confide[role] = joined.confide;
                        }
                    }
                    LogRecord::Preferences(set) => {
                        let role = self.spec.role_index(&set.role).ok_or_else(unknown_role)?;
                        self.apply_preferences(&mut inner, role, set.preferences)
                            .map_err(|e| format!("record {}: {}", r.seq, e.message))?;
                    }
                    LogRecord::Started(s) => {
                        started = true;
                        inner.started_at = s.at_unix;
                        for (p, f) in s.confide.iter().enumerate().take(self.n_parties()) {
                            inner.confide[p] = *f;
                        }
                    }
                    LogRecord::Input(input) => {
                        let role = self.spec.role_index(&input.role).ok_or_else(unknown_role)?;
                        let engine_input = self
                            .to_input(&input.action)
                            .map_err(|e| format!("record {}: {}", r.seq, e.message))?;
                        if let Some(Some(tx)) = self.senders.get(role) {
                            let _ = tx.send(engine_input);
                            inner.inputs_sent += 1;
                        }
                        inner.held[role] = None;
                        if let Some(key) = &input.key {
                            self.remember(role, "act", key, &input.action, r, true, 0);
                        }
                    }
                    LogRecord::Notice(notice) => {
                        let role = self
                            .spec
                            .role_index(notice.role())
                            .ok_or_else(unknown_role)?;
                        match &notice {
                            records::Notice::RatificationPending { action, key, .. } => {
                                inner.held[role] = Some(InputRecord {
                                    role: self.spec.roles[role].name.clone(),
                                    action: action.clone(),
                                    key: key.clone(),
                                });
                                if let Some(key) = key {
                                    self.remember(role, "act", key, action, r, false, 0);
                                }
                            }
                            records::Notice::Ratified { key, .. } => {
                                if let Some(key) = key {
                                    self.remember_ratify(role, key, true, r);
                                }
                            }
                            records::Notice::RatificationRefused { key, .. } => {
                                inner.held[role] = None;
                                if let Some(key) = key {
                                    self.remember_ratify(role, key, false, r);
                                }
                            }
                            records::Notice::Message { .. } | records::Notice::Timeout { .. } => {}
                        }
                        inner.notices.push(Notice {
                            after: events,
                            role,
                            body: notice.shown(),
                        });
                    }
                    LogRecord::Event(_) => {
                        inner.logged_events.push(r.body.clone());
                        events += 1;
                    }
                    LogRecord::Ended(_) => inner.ended_logged = true,
                }
            }
            inner.status = if inner.ended_logged {
                Status::Ended
            } else if started {
                Status::Running
            } else {
                Status::Waiting
            };
            // An ended session is read from its log, not replayed: its events and its
            // result are there, and a later engine (whose rules may have changed)
            // cannot alter them.
            if inner.ended_logged && self.read_ended(&mut inner, log).is_ok() {
                drop(inner);
                self.prepare_analysis();
                return Ok(());
            }
        }
        if started {
            self.start_engine();
        }
        Ok(())
    }

    /// Fills an ended session's state from its log: the events, the phase and round,
    /// and the result of the `ended` record. Leaves `inner` untouched on failure.
    pub(super) fn read_ended(&self, inner: &mut Inner, log: &[Record]) -> Result<(), String> {
        let mut events = Vec::new();
        let mut jsons = Vec::new();
        let mut result = None;
        for r in log {
            match LogRecord::parse(r)? {
                LogRecord::Event(body) => {
                    let event = Event::from_json(&body, self.scenario().space(), &self.parties)
                        .map_err(|e| format!("record {}: {e}", r.seq))?;
                    events.push(event);
                    jsons.push(body);
                }
                LogRecord::Ended(ended) => {
                    let agreement = match &ended.agreement {
                        None => None,
                        Some(map) => Some(
                            labels_to_outcome(&self.scenario(), map)
                                .map_err(|e| format!("record {}: {}", r.seq, e.message))?,
                        ),
                    };
                    result = Some((agreement, ended.reason, ended.utilities));
                }
                _ => {}
            }
        }
        let result = result.ok_or("no ended record")?;
        for event in &events {
            inner.round = event.round;
            match &event.kind {
                EventKind::Phase { to, .. } => inner.phase = *to,
                EventKind::Default { outcome } => inner.default = Some(outcome.clone()),
                _ => {}
            }
        }
        inner.durable_events = events.len();
        inner.events = events;
        inner.event_json = jsons;
        inner.result = Some(result);
        inner.engine_idle = true;
        inner.engine_started = true;
        inner.pending.iter_mut().for_each(|p| *p = None);
        Ok(())
    }
}
