//! What each viewer sees: views rendered per viewer (numbered per view, only stored
//! events), pushes to live subscribers, and the closing analysis.

use super::*;

impl Live {
    /// Which part of the record `access` sees: a party its own view, a mediator seat
    /// the mediator's, the owner as the session's `owner_sees` says, an auditor all.
    pub fn viewer(&self, access: Access) -> Viewer {
        let n = self.n_parties();
        match access {
            Access::Auditor => Viewer::Owner,
            Access::Owner => match self.spec.owner_sees {
                OwnerSees::All => Viewer::Owner,
                OwnerSees::Confided if self.spec.mediator_index().is_some() => Viewer::Mediator,
                OwnerSees::Confided | OwnerSees::Public => Viewer::Public,
            },
            Access::Seat(r) | Access::Principal(r) if r < n => Viewer::Party(r),
            Access::Seat(_) | Access::Principal(_) => Viewer::Mediator,
        }
    }

    /// The view of a token holder: only what its role may see.
    /// With `since`, the view lists only the events from number `since` on (its
    /// `events_total` says how many there are): a client that keeps the story it has
    /// read asks for what is new, at a cost that does not grow with the session.
    pub fn view(&self, access: Access, since: usize) -> String {
        let inner = self.lock();
        let mut rendered = self.render(&inner, access);
        rendered.since = since;
        text(&rendered)
    }

    /// How many events the view of `access` lists now: an action's answer carries it,
    /// so that a client asks for what follows with `?since=` (the view's numbering).
    pub fn events_total(&self, access: Access) -> usize {
        let inner = self.lock();
        self.render(&inner, access).events.len()
    }

    /// The view of `access` in the state `inner`. Everything in it is derived from
    /// what the viewer may see: its events are numbered in the view, and its round and
    /// phase are those of the last event it saw (or of the question it is asked).
    pub(super) fn render<'a>(&'a self, inner: &'a Inner, access: Access) -> Rendered<'a> {
        let scenario = &*self.scenario();
        let n = scenario.n_parties();
        let unset = self.unset(inner);
        // Every party has preferences (in an agenda session, once all have set them).
        let complete = inner.agenda.is_none();
        let viewer = self.viewer(access);
        let sees_all = matches!(viewer, Viewer::Owner);
        let party = match viewer {
            Viewer::Party(p) => Some(p),
            _ => None,
        };
        let role_index = match access {
            Access::Seat(r) | Access::Principal(r) => Some(r),
            _ => None,
        };
        let utility = |o: &[u32]| party.map(|p| scenario.utilities()[p].value(o));
        let mut events = Vec::new();
        let mut round = 0;
        // The time of the latest event this viewer sees: what walking away is worth
        // now is read at it (never at a time only others' moves reveal).
        let mut now = 0.0;
        let mut phase = match self.spec.protocol {
            parley_engine::ProtocolKind::Saop => Phase::Direct,
            _ => Phase::Indirect,
        };
        let mut notices = inner.notices.iter().peekable();
        // The mediator's plane marks the outcomes it saw put: (view number, kind, outcome).
        let mut moves: Vec<(usize, &Value, &[u32])> = Vec::new();
        let shown = inner.durable_events.min(inner.events.len());
        for (k, (event, json)) in inner.events[..shown]
            .iter()
            .zip(&inner.event_json)
            .enumerate()
        {
            while let Some(notice) = notices.next_if(|n| n.after <= k) {
                if let Some(v) = self.notice_for(notice, access, viewer) {
                    events.push(Shown {
                        json: v,
                        my_utility: None,
                    });
                }
            }
            if !visible_to(event, viewer) {
                continue;
            }
            round = event.round;
            now = event.time;
            if let EventKind::Phase { to, .. } = &event.kind {
                phase = *to;
            }
            let outcome: Option<&[u32]> = match &event.kind {
                EventKind::Offer { outcome, .. }
                | EventKind::Proposal { outcome, .. }
                | EventKind::Carry { outcome, .. }
                | EventKind::Text { outcome }
                | EventKind::Default { outcome } => Some(outcome),
                EventKind::End { agreement, .. } => agreement.as_deref(),
                _ => None,
            };
            if let Some(o) = outcome.filter(|_| matches!(viewer, Viewer::Mediator)) {
                moves.push((events.len(), json, o));
            }
            events.push(Shown {
                json,
                my_utility: outcome.and_then(utility),
            });
        }
        for notice in notices {
            if let Some(v) = self.notice_for(notice, access, viewer) {
                events.push(Shown {
                    json: v,
                    my_utility: None,
                });
            }
        }
        let asked = role_index.and_then(|r| inner.pending[r].as_ref().map(|p| (r, p)));
        if let Some((r, _)) = asked {
            round = round.max(inner.pending_round[r]);
        }
        let pending = asked.map(|(r, p)| {
            let mut v = match p {
                Pending::Act { standing } => json!({
                    "kind": "act",
                    "standing": standing.as_ref().map(|s| outcome_map(scenario, s)),
                    "standing_utility": standing.as_ref().and_then(|s| utility(s)),
                }),
                Pending::Propose => json!({"kind": "propose"}),
                Pending::Vote { text } => json!({
                    "kind": "vote",
                    "text": outcome_map(scenario, text),
                    "text_utility": utility(text),
                }),
                Pending::Text => json!({"kind": "text"}),
                Pending::Consent => json!({"kind": "consent"}),
            };
            // The engine's own clock when it asked: normalised time (what the built-in
            // negotiators read), the round and the deadline in rounds.
            v["time"] = inner.pending_time[r].into();
            v["round"] = inner.pending_round[r].into();
            v["deadline"] = json!({"rounds": self.spec.rounds, "time": 1.0});
            v
        });
        let ratification = role_index
            .and_then(|r| inner.held[r].as_ref())
            .map(|h| json!({"status": "pending", "action": h.action}));
        let confided_names = || {
            json!(self
                .scenario()
                .parties()
                .iter()
                .zip(&inner.confide)
                .filter(|(_, &c)| c)
                .map(|(p, _)| p.name.clone())
                .collect::<Vec<_>>())
        };
        let role = match access {
            Access::Owner | Access::Auditor => {
                let mut v = json!({
                    "kind": if access == Access::Owner { "owner" } else { "auditor" },
                    "sees": self.spec.owner_sees.name(),
                });
                if matches!(viewer, Viewer::Owner | Viewer::Mediator) {
                    v["confided"] = confided_names();
                }
                v
            }
            Access::Seat(r) | Access::Principal(r) => {
                let mut v = json!({
                    "kind": if r < n { "party" } else { "mediator" },
                    "name": self.spec.roles[r].name,
                    "principal": matches!(access, Access::Principal(_)),
                });
                if r < n && unset[r] {
                    // Nothing to show of preferences not set yet (they are worth 0).
                    v["sets_own_preferences"] = true.into();
                    v["preferences_set"] = false.into();
                    if let Some(briefing) = scenario.briefing(r) {
                        v["briefing"] = briefing.into();
                    }
                    v["confided"] = inner.confide[r].into();
                } else if r < n {
                    if self.sets_own_preferences(r) {
                        v["sets_own_preferences"] = true.into();
                        v["preferences_set"] = true.into();
                    }
                    let party = &scenario.parties()[r];
                    v["reservation"] = party.reservation.into();
                    v["reservation_now"] = party.reservation_at(now).into();
                    v["discount"] = party.discount.into();
                    if let Some(a) = &party.alternative {
                        v["alternative"] = alternative_json(a);
                    }
                    let own = scenario.red_lines(r);
                    if !own.is_empty() {
                        v["red_lines"] = red_lines_json(scenario, own);
                    }
                    if let Some(briefing) = scenario.briefing(r) {
                        v["briefing"] = briefing.into();
                    }
                    if let Some(best) = complete.then(|| self.best_outcome(r)).flatten() {
                        v["best_outcome"] = best;
                    }
                    v["confided"] = inner.confide[r].into();
                    if let Holder::Seat {
                        mandate: Some(m), ..
                    } = &self.spec.roles[r].holder
                    {
                        v["mandate"] = json!(m);
                        v["delegate"] = true.into();
                    }
                } else {
                    v["confided"] = confided_names();
                    // The mediator is told every party's red lines (not whose).
                    let all = scenario.red_lines_of_all();
                    if !all.is_empty() {
                        v["red_lines"] = red_lines_json(scenario, all);
                    }
                }
                v
            }
        };
        let is_owner = matches!(access, Access::Owner | Access::Auditor);
        let roles: Vec<Value> = self
            .spec
            .roles
            .iter()
            .zip(&inner.joined)
            .enumerate()
            .map(|(index, (r, &joined))| match &r.holder {
                Holder::Agent { spec } => json!({
                    "name": r.name,
                    "held_by": "agent",
                    // Which strategy plays a role is the host's business: it chose it.
                    "agent": is_owner.then(|| spec.clone()),
                }),
                Holder::Seat { kind, mandate } => {
                    let mut v = json!({"name": r.name, "held_by": kind, "joined": joined});
                    // The host set the mandate; no other party learns of it.
                    if is_owner && mandate.is_some() {
                        v["delegate"] = true.into();
                    }
                    if let Some(&open) = unset
                        .get(index)
                        .filter(|_| self.sets_own_preferences(index))
                    {
                        v["preferences_set"] = (!open).into();
                    }
                    v
                }
            })
            .collect();
        let result = inner.result.as_ref().map(|(agreement, reason, utilities)| {
            let mut v = json!({
                "agreement": agreement.as_ref().map(|a| outcome_map(scenario, a)),
                "reason": reason,
            });
            // Utilities come two ways: as the talks scored them (discounted to the
            // time they ended: `my_utility`, `utilities`) and as the outcome is worth
            // without the discount (`…_undiscounted`, the scale of the events').
            let end = inner.events.last().map_or(0.0, |e| e.time);
            let undiscounted = |p: usize| match agreement {
                Some(a) => scenario.utilities()[p].value(a),
                None => scenario.parties()[p].reservation_at(end),
            };
            if let Some(p) = party {
                v["my_utility"] = utilities[p].into();
                v["my_utility_undiscounted"] = undiscounted(p).into();
            }
            if sees_all {
                v["utilities"] = json!(utilities);
                v["utilities_undiscounted"] = json!((0..n).map(undiscounted).collect::<Vec<_>>());
            }
            v
        });
        let mut view = json!({
            "id": self.id,
            "status": if inner.failed.is_some() { "failed" } else { inner.status.name() },
            "protocol": self.spec.protocol.name(),
            "settings": self.spec.protocol,
            "owner_sees": self.spec.owner_sees.name(),
            "rounds": self.spec.rounds,
            "time_limit_seconds": self.spec.time_limit_seconds,
            "ends_at": self.ends_at(inner),
            "round": round,
            "phase": phase.name(),
            "scenario": self.public_scenario(),
            "role": role,
            "roles": roles,
            "pending": pending,
            "ratification": ratification,
            "result": result,
        });
        if inner.failed.is_some() {
            view["error"] = Value::from(FAILED);
        }
        if party.is_some() {
            // Whether the drafting assistant has a model (the server's configuration,
            // the same for every session).
            view["drafting"] = parley_llm::Endpoint::from_env().is_ok().into();
        }
        let agreement = inner.result.as_ref().and_then(|r| r.0.as_deref());
        if sees_all && inner.status == Status::Ended {
            view["analysis"] = self.analysis_of(agreement);
        }
        if complete
            && matches!(viewer, Viewer::Mediator)
            && n == 2
            && inner.confide.iter().all(|&c| c)
        {
            // Both parties confided their preferences to the mediator: it (and a host
            // who runs it) may see the utility plane, never forwarded to anyone else.
            view["plane"] = self.analysis_of(agreement);
            view["plane"]["moves"] = moves
                .iter()
                .map(|(seq, event, o)| {
                    json!({
                        "seq": seq,
                        "type": event.get("type"),
                        "from": event.get("from").or_else(|| event.get("by")),
                        "at": scenario.utilities().iter().map(|u| u.value(o)).collect::<Vec<_>>(),
                    })
                })
                .collect();
        }
        Rendered {
            head: view,
            events,
            since: 0,
            issues: scenario
                .space()
                .issues()
                .iter()
                .map(|i| i.name().to_string())
                .collect(),
        }
    }

    /// Publishes each live subscriber's view if it changed. Called only where the
    /// engine waits (or has stopped) and on joins and ratification answers, never
    /// in the middle of the engine's work: a subscriber is sent a view when, and only
    /// when, what it may see changed.
    pub(super) fn publish(&self) {
        let mut watchers = self.watchers.lock().unwrap_or_else(|e| e.into_inner());
        if watchers.is_empty() {
            return;
        }
        watchers.retain(|_, w| w.tx.receiver_count() > 0);
        let inner = self.lock();
        for (access, watch) in watchers.iter_mut() {
            let message: Arc<str> = message(&self.render(&inner, *access)).into();
            if message != watch.last {
                watch.last = Arc::clone(&message);
                let _ = watch.tx.send(message);
            }
        }
    }

    /// Subscribes to `access`'s view: the view now, and every later change.
    pub fn watch(&self, access: Access) -> (Arc<str>, tokio::sync::broadcast::Receiver<Arc<str>>) {
        let mut watchers = self.watchers.lock().unwrap_or_else(|e| e.into_inner());
        let watch = watchers.entry(access).or_insert_with(|| {
            let inner = self.lock();
            let last: Arc<str> = message(&self.render(&inner, access)).into();
            Watch {
                last,
                tx: tokio::sync::broadcast::channel(64).0,
            }
        });
        (Arc::clone(&watch.last), watch.tx.subscribe())
    }

    /// A ratification notice, to the delegate, its principal, and an owner who sees
    /// everything; no one else learns that an acceptance was held.
    pub(super) fn notice_for<'a>(
        &self,
        notice: &'a Notice,
        access: Access,
        viewer: Viewer,
    ) -> Option<&'a Value> {
        let own = matches!(access, Access::Seat(r) | Access::Principal(r) if r == notice.role);
        if notice.body["type"] == "message" {
            // A message: its sender, its recipient (or every role, for `all`), and an
            // owner who sees everything; one to `all` is public, so the owner sees it
            // whatever it is shown.
            let to = notice.body["to"].as_str().unwrap_or_default();
            let recipient = match access {
                Access::Seat(r) | Access::Principal(r) => {
                    to == "all" || self.spec.roles.get(r).is_some_and(|role| role.name == to)
                }
                Access::Owner | Access::Auditor => to == "all",
            };
            return (own || recipient || matches!(viewer, Viewer::Owner)).then_some(&notice.body);
        }
        (own || matches!(viewer, Viewer::Owner)).then_some(&notice.body)
    }

    /// Issues and values: what every role may know.
    pub fn public_scenario(&self) -> Value {
        public_scenario(&self.scenario())
    }

    /// The closing analysis: frontier, Nash, KS and welfare computed once, the
    /// agreement's utilities added as they are known.
    pub(super) fn analysis_of(&self, agreement: Option<&[u32]>) -> Value {
        // Computed off the request path (at the end of the talks, or when a session
        // is loaded): a view asked for before then says it is on its way.
        let Some(base) = self.analysis.get() else {
            return json!({"pending": true});
        };
        let mut out = base.clone();
        out["agreement_utilities"] = json!(agreement.map(|o| self
            .scenario()
            .utilities()
            .iter()
            .map(|u| u.value(o))
            .collect::<Vec<_>>()));
        out
    }

    /// Computes the closing analysis in the background, once: on a blocking thread,
    /// at most two at a time for the whole server (a burst of new sessions does not
    /// become a burst of threads).
    pub fn prepare_analysis(self: &Arc<Self>) {
        static RUNNING: OnceLock<Arc<tokio::sync::Semaphore>> = OnceLock::new();
        if self.analysis.get().is_some() {
            return;
        }
        let permits = Arc::clone(RUNNING.get_or_init(|| Arc::new(tokio::sync::Semaphore::new(2))));
        let live = Arc::clone(self);
        // Detached: nothing waits for it; views show it once it is there.
        drop(self.runtime.spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            let runtime = live.runtime.clone();
            let _ = runtime
                .spawn_blocking(move || {
                    live.analysis_base();
                    live.changed();
                    // Pushed only once the talks are over: before, a push at this
                    // moment would come at a time no viewer's own moves explain (views
                    // show it from their next change, or a GET).
                    if live.status() == Status::Ended {
                        live.publish();
                    }
                })
                .await;
        }));
    }

    /// The frontier, Nash, KS and welfare, computed once (bounded by a work budget and
    /// by the outcome-space cap of the scenarios a session may use).
    pub(super) fn analysis_base(&self) -> &Value {
        self.analysis.get_or_init(|| {
            let config = parley_core::analysis::AnalysisConfig {
                work_budget: Some(2_000_000),
                ..Default::default()
            };
            match parley_core::analysis::analyze(&self.scenario(), &config) {
                Ok(a) => json!({
                    "parties": self.scenario().parties().iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
                    "reserved": a.reserved,
                    "frontier": a.pareto.iter().map(|p| p.utilities.clone()).collect::<Vec<_>>(),
                    "frontier_exact": a.pareto_exact,
                    "nash": a.nash.as_ref().map(|p| p.utilities.clone()),
                    "kalai_smorodinsky": a.kalai_smorodinsky.as_ref().map(|p| p.utilities.clone()),
                    "max_welfare": a.max_welfare.as_ref().map(|p| p.utilities.clone()),
                }),
                Err(e) => json!({"error": e.to_string()}),
            }
        })
    }

    /// The full log, for the owner and auditors.
    pub async fn trace(&self) -> Result<Value, ApiError> {
        let records = self.store.log(&self.id).await?;
        let chain = crate::store::verify_chain(&records, &self.id, Some(&self.seal));
        Ok(json!({
            "id": self.id,
            "chain_ok": chain.is_ok(),
            "chain_error": chain.err(),
            "records": records,
        }))
    }
}

/// A view, rendered without copying the session's events: the small parts as JSON,
/// the events borrowed and serialized as they are written out.
pub(super) struct Rendered<'a> {
    head: Value,
    events: Vec<Shown<'a>>,
    /// Events before this number are left out.
    since: usize,
    /// The issues' names: outcomes are shown as issue → value.
    issues: Vec<String>,
}

/// One line of a view's story: an event's (or a notice's) JSON, with the viewer's own
/// utility of its outcome. Numbered in the view (`seq` from 0, the engine's own
/// numbering left out): a gap would tell of an event the viewer did not see.
pub(super) struct Shown<'a> {
    json: &'a Value,
    my_utility: Option<f64>,
}

impl Serialize for Rendered<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let head = self.head.as_object();
        let mut map = serializer.serialize_map(head.map(|h| h.len() + 2))?;
        for (k, v) in head.into_iter().flatten() {
            map.serialize_entry(k, v)?;
        }
        let numbered: Vec<Numbered<'_>> = self
            .events
            .iter()
            .enumerate()
            .skip(self.since)
            .map(|(seq, shown)| Numbered {
                seq,
                shown,
                issues: &self.issues,
            })
            .collect();
        map.serialize_entry("events", &numbered)?;
        map.serialize_entry("events_total", &self.events.len())?;
        map.end()
    }
}

pub(super) struct Numbered<'a> {
    seq: usize,
    shown: &'a Shown<'a>,
    issues: &'a [String],
}

/// An outcome as the engine's JSON writes it (labels in issue order) as issue → value,
/// the one shape of outcomes in views and answers.
fn as_object(labels: &[Value], issues: &[String]) -> Value {
    Value::Object(
        issues
            .iter()
            .zip(labels)
            .map(|(issue, label)| (issue.clone(), label.clone()))
            .collect(),
    )
}

impl Serialize for Numbered<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for (k, v) in self.shown.json.as_object().into_iter().flatten() {
            match (k.as_str(), v) {
                ("seq" | "my_utility", _) => {}
                ("outcome" | "agreement", Value::Array(labels)) => {
                    map.serialize_entry(k, &as_object(labels, self.issues))?;
                }
                _ => map.serialize_entry(k, v)?,
            }
        }
        if let Some(u) = self.shown.my_utility {
            map.serialize_entry("my_utility", &u)?;
        }
        map.serialize_entry("seq", &self.seq)?;
        map.end()
    }
}

/// A view as one JSON text.
pub(super) fn text(view: &Rendered<'_>) -> String {
    serde_json::to_string(view).unwrap_or_else(|e| {
        tracing::error!("a view could not be written: {e}");
        "{}".into()
    })
}

/// A view as a WebSocket message.
pub(super) fn message(view: &Rendered<'_>) -> String {
    #[derive(Serialize)]
    struct Message<'a, 'b> {
        r#type: &'static str,
        view: &'a Rendered<'b>,
    }
    serde_json::to_string(&Message {
        r#type: "view",
        view,
    })
    .unwrap_or_else(|e| {
        tracing::error!("a view could not be written: {e}");
        "{}".into()
    })
}

impl Live {
    /// Party `party`'s own best outcome across none of its red lines, for its draft to
    /// start from (additive utilities: the best value of each issue; `None` otherwise).
    fn best_outcome(&self, party: usize) -> Option<Value> {
        self.best
            .get_or_init(|| {
                (0..self.scenario().n_parties())
                    .map(|p| best_outcome(&self.scenario(), p))
                    .collect()
            })
            .get(party)
            .cloned()
            .flatten()
    }
}

fn best_outcome(scenario: &Scenario, party: usize) -> Option<Value> {
    let u = scenario.utilities().get(party)?;
    if !u.is_additive() {
        return None;
    }
    let red = scenario.red_lines(party);
    let worth = |i: usize, v: u32| u.contribution(i, v).map_or(0.0, |c| c.value);
    let outcome: Vec<u32> = scenario
        .space()
        .issues()
        .iter()
        .enumerate()
        .map(|(i, issue)| {
            (0..issue.cardinality())
                .filter(|&v| red.allows(i, v))
                .fold(None, |best: Option<u32>, v| match best {
                    Some(b) if worth(i, b) >= worth(i, v) => Some(b),
                    _ => Some(v),
                })
                .unwrap_or(0)
        })
        .collect();
    Some(outcome_map(scenario, &outcome))
}

/// Red lines as `[{"issue", "refused": [value labels]}]`, issue by issue.
fn red_lines_json(scenario: &Scenario, lines: &parley_core::Forbidden) -> Value {
    let space = scenario.space();
    json!(lines
        .allowed_values(space.n_issues())
        .iter()
        .enumerate()
        .filter_map(|(i, allowed)| {
            let allowed = allowed.as_ref()?;
            let issue = &space.issues()[i];
            let refused: Vec<String> = (0..issue.cardinality())
                .filter(|v| !allowed.contains(v))
                .map(|v| issue.value_label(v))
                .collect();
            Some(json!({"issue": issue.name(), "refused": refused}))
        })
        .collect::<Vec<_>>())
}

/// An alternative to a deal as `{"consequences": [{"label", "probability", "utility"}]}`,
/// each curve a number or `[[t, y], ...]`, as the scenario file writes it.
fn alternative_json(alternative: &parley_core::Alternative) -> Value {
    let curve = |c: &parley_core::Curve| match c {
        parley_core::Curve::Constant(y) => json!(y),
        parley_core::Curve::Piecewise(points) => {
            json!(points.iter().map(|&(t, y)| [t, y]).collect::<Vec<_>>())
        }
    };
    json!({
        "consequences": alternative.consequences().iter().map(|c| json!({
            "label": c.label,
            "probability": curve(&c.probability),
            "utility": curve(&c.utility),
        })).collect::<Vec<_>>(),
    })
}

/// The public part of a scenario.
pub fn public_scenario(scenario: &Scenario) -> Value {
    json!({
        "name": scenario.name(),
        "description": scenario.description(),
        "parties": scenario.parties().iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
        "issues": scenario.space().issues().iter().map(|i| json!({
            "name": i.name(),
            "values": (0..i.cardinality()).map(|v| i.value_label(v)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
