//! Live sessions: the engine runs on its own thread per session; seats held by people
//! or programs are negotiators that wait for their holder's next action.
//!
//! Durability by event sourcing: every action a seat sends is written to the log
//! before it is acknowledged and before the engine sees it; every engine event is
//! written as it happens. The engine is deterministic, so a restarted server rebuilds a
//! session by feeding its logged actions, in order, to a fresh engine run; the events
//! it regenerates are checked against the logged ones instead of being written again.

use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use parley_core::Scenario;
use parley_engine::negotiators::{mediator, negotiator, role_seed};
use parley_engine::visibility::{visible_to, Viewer};
use parley_engine::{
    run_session, Action, Event, EventKind, Mediator, MediatorContext, Negotiator, PartyContext,
    Phase, SessionConfig, State, Tabled,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::engines::{Engine, Pool, Suspend};
use crate::error::ApiError;
use crate::records::{self, LogRecord};
use crate::seal::Seal;
use crate::spec::{Holder, OwnerSees, SessionSpec};
use crate::store::{chain_hash, Record, Store, TokenRow, CHAIN_VERSION, GENESIS};

/// Where a session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Waiting for seats to join.
    Waiting,
    /// The talks are on.
    Running,
    /// Over.
    Ended,
}

impl Status {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Waiting => "waiting",
            Status::Running => "running",
            Status::Ended => "ended",
        }
    }
}

/// Who a token belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// The session's owner.
    Owner,
    /// An auditor.
    Auditor,
    /// The holder of a seat (role index).
    Seat(usize),
    /// The principal of a delegated seat (role index).
    Principal(usize),
}

impl Access {
    /// As stored in the tokens table.
    pub fn encode(self, spec: &SessionSpec) -> String {
        match self {
            Access::Owner => "owner".into(),
            Access::Auditor => "auditor".into(),
            Access::Seat(r) => format!("seat:{}", spec.roles[r].name),
            Access::Principal(r) => format!("principal:{}", spec.roles[r].name),
        }
    }

    /// From the tokens table.
    pub fn decode(s: &str, spec: &SessionSpec) -> Option<Access> {
        match s.split_once(':') {
            None if s == "owner" => Some(Access::Owner),
            None if s == "auditor" => Some(Access::Auditor),
            Some(("seat", name)) => spec.role_index(name).map(Access::Seat),
            Some(("principal", name)) => spec.role_index(name).map(Access::Principal),
            _ => None,
        }
    }
}

/// What the engine waits for from a seat.
#[derive(Clone, Debug, PartialEq)]
pub enum Pending {
    /// Direct talks: offer, accept or walk away.
    Act {
        /// The standing offer.
        standing: Option<Vec<u32>>,
    },
    /// Indirect talks: a proposal to the mediator, or pass.
    Propose,
    /// Answer a text.
    Vote {
        /// The text.
        text: Vec<u32>,
    },
    /// Mediator: the next text.
    Text,
    /// Staged talks: consent to go direct (the mediator called for direct talks).
    Consent,
}

/// A seat's action, as logged (outcomes as value labels, issue by issue).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputRecord {
    /// The role that acted.
    pub role: String,
    /// The action.
    pub action: ActionBody,
    /// The client's `Idempotency-Key`, if it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The first answer to an action sent with an `Idempotency-Key`: a retry with the
/// same key gets it again instead of acting twice.
#[derive(Clone, Debug)]
struct Answer {
    /// The action, as JSON (a retry must send the same one).
    action: String,
    receipt: Value,
    /// Handed to the engine (else held for ratification).
    delivered: bool,
    /// Stored once this many of the engine's queued records are (0: stored).
    stored_at: u64,
}

/// The body of `POST /actions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ActionBody {
    /// Counter-offer.
    Offer {
        /// Issue → value.
        outcome: std::collections::BTreeMap<String, String>,
    },
    /// Accept the standing offer.
    Accept,
    /// Walk away.
    WalkAway,
    /// A proposal to the mediator.
    Propose {
        /// Issue → value.
        outcome: std::collections::BTreeMap<String, String>,
    },
    /// Nothing new to propose.
    Pass,
    /// Answer a text.
    Vote {
        /// Accept or reject.
        accept: bool,
    },
    /// Staged talks: consent (or not) to go direct when the mediator calls for it.
    Consent {
        /// Consent or refuse.
        accept: bool,
    },
    /// Mediator: a text, with its progress measure.
    Text {
        /// Issue → value.
        outcome: std::collections::BTreeMap<String, String>,
        /// Progress in [0, 1] (staged talks move to direct at the threshold).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        progress: Option<f64>,
    },
}

/// An action as the engine takes it.
#[derive(Clone, Debug)]
enum Input {
    Act(Action),
    Propose(Option<Vec<u32>>),
    Vote(bool),
    Consent(bool),
    Text(Vec<u32>, Option<f64>),
}

/// A notice the server adds to a session's story (not an engine event): a delegate's
/// acceptance held for its principal, and the principal's answer. It is a private move
/// of that party: only the delegate, its principal and an owner who sees everything
/// see it.
#[derive(Clone, Debug)]
struct Notice {
    /// Shown after this many engine events.
    after: usize,
    /// The role it is about.
    role: usize,
    body: Value,
}

/// The last view published to one viewer's live subscribers, and the channel to them.
struct Watch {
    last: Arc<str>,
    tx: tokio::sync::broadcast::Sender<Arc<str>>,
}

/// What a session shows when it stopped on a failure of the server: the details go to
/// the server's log, never to the parties.
const FAILED: &str = "the session stopped: the server could not go on with it (its log is \
                      intact; the host can find the details in the server's log)";

/// The answer to an action that was taken but is not stored yet (the database fails).
pub const NOT_YET_STORED: &str = "the server could not store this yet (a storage problem); it \
                                  may still be stored and take effect: retry with the same \
                                  Idempotency-Key to learn what became of it";

/// Where the hash chain is, and what seals its records.
struct Chain {
    next: i64,
    prev: String,
    version: u8,
    session: String,
    seal: Arc<Seal>,
}

impl Chain {
    fn new(session: &str, seal: &Arc<Seal>) -> Chain {
        Chain {
            next: 0,
            prev: GENESIS.into(),
            version: CHAIN_VERSION,
            session: session.to_string(),
            seal: Arc::clone(seal),
        }
    }

    fn record(&self, offset: i64, prev: &str, kind: &str, body: String) -> Record {
        let seq = self.next + offset;
        let at = crate::now_rfc3339();
        let hash = chain_hash(self.version, prev, seq, kind, &body, &at);
        Record {
            seq,
            kind: kind.into(),
            body,
            prev_hash: prev.into(),
            mac: Some(self.seal.record_mac(&self.session, &hash)),
            hash,
            at,
        }
    }

    /// Records following the chain, not yet written.
    fn records(&self, items: Vec<(&str, String)>) -> Vec<Record> {
        let mut out: Vec<Record> = Vec::with_capacity(items.len());
        for (i, (kind, body)) in items.into_iter().enumerate() {
            let prev = out.last().map_or(self.prev.clone(), |r| r.hash.clone());
            out.push(self.record(i as i64, &prev, kind, body));
        }
        out
    }

    fn advance(&mut self, written: &[Record]) {
        if let Some(last) = written.last() {
            self.next = last.seq + 1;
            self.prev = last.hash.clone();
        }
    }
}

struct Inner {
    status: Status,
    joined: Vec<bool>,
    confide: Vec<bool>,
    events: Vec<Event>,
    event_json: Vec<Value>,
    /// Bodies of events already in the log (a replay checks against them).
    logged_events: Vec<String>,
    ended_logged: bool,
    notices: Vec<Notice>,
    pending: Vec<Option<Pending>>,
    /// The round each pending question was asked in.
    pending_round: Vec<u32>,
    held: Vec<Option<InputRecord>>,
    round: u32,
    phase: Phase,
    result: Option<(Option<Vec<u32>>, String, Vec<f64>)>,
    failed: Option<String>,
    engine_started: bool,
    /// Actions handed to the engine, and how many it has taken.
    inputs_sent: u64,
    inputs_taken: u64,
    /// Whether the engine is waiting for a seat (or has stopped).
    engine_idle: bool,
    /// Staged talks: the default text of the direct phase, once tabled.
    default: Option<Vec<u32>>,
    /// Records the engine has queued for the log, and how many of them are stored.
    appended: u64,
    durable: u64,
    /// Events whose records are stored: views show no others (nothing is shown that
    /// a crash could take back).
    durable_events: usize,
    /// Where the engine runs, to resume it.
    engine: Option<Engine>,
}

/// What became of an action.
pub struct Acted {
    /// The receipt of its record.
    pub receipt: Value,
    /// Handed to the engine (else held for the principal's ratification).
    pub delivered: bool,
    /// Everything it caused is logged (false: still going after 30 s).
    pub settled: bool,
}

/// A token of this session.
pub struct TokenEntry {
    /// SHA-256 of the token.
    pub hash: [u8; 32],
    /// Whose it is.
    pub access: Access,
    /// Unix seconds.
    pub expires_at: i64,
}

/// One session, live or over.
pub struct Live {
    /// Its id.
    pub id: String,
    /// Its configuration.
    pub spec: SessionSpec,
    /// Its scenario.
    pub scenario: Arc<Scenario>,
    /// Its parties' names, in order (for event JSON).
    parties: Vec<String>,
    /// Its tokens.
    pub tokens: Vec<TokenEntry>,
    store: Store,
    seal: Arc<Seal>,
    runtime: tokio::runtime::Handle,
    inner: Mutex<Inner>,
    chain: tokio::sync::Mutex<Chain>,
    version: tokio::sync::watch::Sender<u64>,
    senders: Vec<Option<Sender<Input>>>,
    receivers: Mutex<Vec<Option<Receiver<Input>>>>,
    analysis: OnceLock<Value>,
    /// Live subscribers, by who they are: each is sent its view when, and only when,
    /// it changed at a point where the engine waits (so no push reveals a move the
    /// viewer may not see, nor its timing).
    watchers: Mutex<std::collections::HashMap<Access, Watch>>,
    /// First answers by (role, who answered: "act" or "ratify", Idempotency-Key).
    answers: Mutex<std::collections::HashMap<(usize, &'static str, String), Answer>>,
    /// When a request last looked the session up (Unix seconds): an ended session
    /// nobody asks about leaves memory (see `App::evict`).
    last_used: std::sync::atomic::AtomicI64,
    /// Woken whenever queued records are stored (or the session fails).
    stored_notify: tokio::sync::Notify,
}

fn labels_to_outcome(
    scenario: &Scenario,
    outcome: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<u32>, ApiError> {
    // Labels are compared in their canonical (NFC) spelling.
    scenario
        .space()
        .outcome_from_issue_labels(outcome)
        .map_err(|e| match e {
            parley_core::Error::InvalidOutcome(what) => {
                ApiError::bad_request(format!("outcome: {what}"))
            }
            other => ApiError::bad_request(format!("outcome: {other}")),
        })
}

/// The outcome as issue → value.
pub fn outcome_map(scenario: &Scenario, outcome: &[u32]) -> Value {
    let space = scenario.space();
    let mut map = serde_json::Map::new();
    for (issue, label) in space.issues().iter().zip(space.outcome_labels(outcome)) {
        map.insert(issue.name().to_string(), Value::from(label));
    }
    Value::Object(map)
}

impl Live {
    /// A session as created or loaded; `log` is its stored log (empty for a new one).
    pub fn new(
        id: String,
        spec: SessionSpec,
        scenario: Scenario,
        tokens: Vec<TokenEntry>,
        store: Store,
        seal: Arc<Seal>,
        runtime: tokio::runtime::Handle,
    ) -> Live {
        let roles = spec.roles.len();
        let n = scenario.n_parties();
        let mut senders = Vec::with_capacity(roles);
        let mut receivers = Vec::with_capacity(roles);
        for role in &spec.roles {
            if matches!(role.holder, Holder::Seat { .. }) {
                let (tx, rx) = channel();
                senders.push(Some(tx));
                receivers.push(Some(rx));
            } else {
                senders.push(None);
                receivers.push(None);
            }
        }
        let (version, _) = tokio::sync::watch::channel(0);
        let first_phase = match spec.protocol {
            parley_engine::ProtocolKind::Saop => Phase::Direct,
            _ => Phase::Indirect,
        };
        let chain = Chain::new(&id, &seal);
        Live {
            id,
            inner: Mutex::new(Inner {
                status: Status::Waiting,
                joined: spec
                    .roles
                    .iter()
                    .map(|r| matches!(r.holder, Holder::Agent { .. }))
                    .collect(),
                confide: vec![false; n],
                events: Vec::new(),
                event_json: Vec::new(),
                logged_events: Vec::new(),
                ended_logged: false,
                notices: Vec::new(),
                pending: vec![None; roles],
                pending_round: vec![0; roles],
                held: vec![None; roles],
                round: 0,
                phase: first_phase,
                result: None,
                failed: None,
                engine_started: false,
                inputs_sent: 0,
                inputs_taken: 0,
                engine_idle: false,
                default: None,
                appended: 0,
                durable: 0,
                durable_events: 0,
                engine: None,
            }),
            spec,
            parties: scenario.parties().iter().map(|p| p.name.clone()).collect(),
            scenario: Arc::new(scenario),
            tokens,
            store,
            chain: tokio::sync::Mutex::new(chain),
            seal,
            runtime,
            version,
            senders,
            receivers: Mutex::new(receivers),
            analysis: OnceLock::new(),
            watchers: Mutex::new(std::collections::HashMap::new()),
            answers: Mutex::new(std::collections::HashMap::new()),
            last_used: std::sync::atomic::AtomicI64::new(crate::unix_now()),
            stored_notify: tokio::sync::Notify::new(),
        }
    }

    /// Notes that a request looked the session up.
    pub fn touch(&self) {
        self.last_used
            .store(crate::unix_now(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the session may leave memory: over, no live subscriber, and not looked
    /// up for `idle_secs`.
    pub fn evictable(&self, idle_secs: i64) -> bool {
        let idle = crate::unix_now() - self.last_used.load(std::sync::atomic::Ordering::Relaxed);
        idle >= idle_secs
            && self.status() == Status::Ended
            && self
                .watchers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .all(|w| w.tx.receiver_count() == 0)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock means a panic while holding it; the data is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn changed(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// A receiver that ticks whenever the session changes.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// The session's status.
    pub fn status(&self) -> Status {
        self.lock().status
    }

    fn n_parties(&self) -> usize {
        self.scenario.n_parties()
    }

    /// The first records of a new session: `created` (and `started` when no seat
    /// needs to join). Returns them for the store, and the status.
    pub fn opening_records(
        &self,
        spec_json: &str,
        confide_agents: &[bool],
        tokens: &[TokenRow],
    ) -> (Vec<Record>, Status) {
        use sha2::{Digest, Sha256};
        let mut items = vec![(
            "created",
            json!({
                "chain": CHAIN_VERSION,
                "log_schema": records::LOG_SCHEMA,
                "config_sha256": crate::store::hex(&Sha256::digest(spec_json.as_bytes())),
                "owner_sees": self.spec.owner_sees.name(),
                "tokens": tokens.iter().map(|t| json!({
                    "role": t.role,
                    "hash": t.hash,
                    "expires_at": t.expires_at,
                })).collect::<Vec<_>>(),
                "protocol": self.spec.protocol.name(),
                "rounds": self.spec.rounds,
                "roles": self.spec.roles.iter().map(|r| json!({
                    "name": r.name,
                    "held_by": match &r.holder { Holder::Agent { spec } => format!("agent {spec}"), Holder::Seat { kind, .. } => format!("{kind} seat") },
                })).collect::<Vec<_>>(),
            })
            .to_string(),
        )];
        let mut inner = self.lock();
        for (p, &c) in confide_agents.iter().enumerate() {
            inner.confide[p] = c;
        }
        let all_joined = inner.joined.iter().all(|&j| j);
        if all_joined {
            items.push(("started", json!({ "confide": inner.confide }).to_string()));
        }
        drop(inner);
        let records = Chain::new(&self.id, &self.seal).records(items);
        let status = if all_joined {
            Status::Running
        } else {
            Status::Waiting
        };
        (records, status)
    }

    /// After the opening records are stored: remember the chain, start if running.
    pub fn opened(self: &Arc<Self>, records: &[Record], status: Status) {
        if let Ok(mut chain) = self.chain.try_lock() {
            chain.advance(records);
        }
        self.lock().status = status;
        if status == Status::Running {
            self.start_engine();
        }
        self.publish();
    }

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
                    LogRecord::Created(_) => {}
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
                    LogRecord::Started(s) => {
                        started = true;
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
    fn read_ended(&self, inner: &mut Inner, log: &[Record]) -> Result<(), String> {
        let mut events = Vec::new();
        let mut jsons = Vec::new();
        let mut result = None;
        for r in log {
            match LogRecord::parse(r)? {
                LogRecord::Event(body) => {
                    let event = Event::from_json(&body, self.scenario.space(), &self.parties)
                        .map_err(|e| format!("record {}: {e}", r.seq))?;
                    events.push(event);
                    jsons.push(body);
                }
                LogRecord::Ended(ended) => {
                    let agreement = match &ended.agreement {
                        None => None,
                        Some(map) => Some(
                            labels_to_outcome(&self.scenario, map)
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

    fn to_input(&self, action: &ActionBody) -> Result<Input, ApiError> {
        let s = &self.scenario;
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

    fn start_engine(self: &Arc<Self>) {
        // The mediator's plane (shown to a mediator when both parties confide); the
        // closing analysis of other sessions is computed when they end.
        if self.spec.mediator_index().is_some() && self.n_parties() == 2 {
            self.prepare_analysis();
        }
        let receivers: Vec<Option<Receiver<Input>>> = {
            let mut inner = self.lock();
            if inner.engine_started {
                return;
            }
            inner.engine_started = true;
            let mut slots = self.receivers.lock().unwrap_or_else(|e| e.into_inner());
            slots.iter_mut().map(Option::take).collect()
        };
        let live = Arc::clone(self);
        let stopped = Arc::clone(self);
        // The engine is registered before it can first suspend: the worker runs it
        // only after this call returns the lock.
        let mut inner = self.lock();
        let started = Pool::global().start(
            move |suspend| live.run_engine(receivers, suspend),
            move |panic| stopped.fail(format!("the engine stopped: {panic}")),
        );
        match started {
            Ok(engine) => inner.engine = Some(engine),
            Err(e) => {
                drop(inner);
                self.fail(format!("could not start the engine: {e}"));
            }
        }
    }

    /// Wakes the engine to look again at what it waits for.
    fn resume(&self) {
        if let Some(engine) = self.lock().engine {
            Pool::global().resume(engine);
        }
    }

    /// Waits until the first `n` records queued through [`Live::pipeline`] are stored;
    /// an error if the session failed first (then they may never be).
    async fn until_stored(&self, n: u64) -> Result<(), ApiError> {
        loop {
            // Registered before the check, so that a store in between still wakes it.
            let stored = self.stored_notify.notified();
            tokio::pin!(stored);
            stored.as_mut().enable();
            {
                let inner = self.lock();
                if inner.durable >= n {
                    return Ok(());
                }
                if inner.failed.is_some() {
                    return Err(ApiError::conflict(FAILED));
                }
            }
            if !self.store.healthy() {
                // Kept for the log until the database stores again: the outcome is
                // not known yet.
                return Err(ApiError::unavailable(NOT_YET_STORED));
            }
            // Woken by every store (and, while the database fails, by the check of
            // its health above, every 100 ms).
            let _ = tokio::time::timeout(std::time::Duration::from_millis(100), stored).await;
        }
    }

    /// Suspends the engine until every record it queued is stored (or the session
    /// failed).
    fn until_durable(&self, suspend: &Suspend) {
        loop {
            {
                let inner = self.lock();
                if inner.durable >= inner.appended || inner.failed.is_some() {
                    return;
                }
            }
            suspend.suspend(());
        }
    }

    /// Queues the engine's records for the log; when they are stored, the views may
    /// show the events up to `events_after`, and an engine waiting for them resumes.
    fn pipeline(self: &Arc<Self>, records: Vec<Record>, status: Option<&str>, events_after: usize) {
        let n = records.len() as u64;
        self.lock().appended += n;
        match self.store.append_pipelined(&self.id, records, status) {
            Ok(stored) => {
                let live = Arc::clone(self);
                self.runtime.spawn(async move {
                    let result = stored.await;
                    live.stored(n, events_after, result);
                });
            }
            Err(e) => self.fail(format!("could not log: {e}")),
        }
    }

    fn stored(
        &self,
        n: u64,
        events_after: usize,
        result: Result<
            Result<(), crate::store::StoreError>,
            tokio::sync::oneshot::error::RecvError,
        >,
    ) {
        match result {
            Ok(Ok(())) => {
                let all = {
                    let mut inner = self.lock();
                    inner.durable += n;
                    inner.durable_events = inner.durable_events.max(events_after);
                    inner.durable >= inner.appended
                };
                self.changed();
                self.stored_notify.notify_waiters();
                if all {
                    self.resume();
                }
            }
            Ok(Err(e)) => {
                self.fail(format!("could not log: {e}"));
                self.stored_notify.notify_waiters();
                self.resume();
            }
            Err(_) => {
                self.fail("the database writer stopped".into());
                self.resume();
            }
        }
    }

    fn run_engine(self: Arc<Self>, mut receivers: Vec<Option<Receiver<Input>>>, suspend: &Suspend) {
        let spec = &self.spec;
        let scenario = Arc::clone(&self.scenario);
        let n = scenario.n_parties();
        let confide = self.lock().confide.clone();
        let hook = Arc::clone(&self);
        let config = SessionConfig {
            protocol: spec.protocol,
            rounds: spec.rounds,
            time_limit: None,
            confide,
            post_settlement: spec.post_settlement,
            clock: None,
            bids: None,
            observer: Some(Arc::new(move |event: &Event| Live::on_event(&hook, event))),
        };
        let mut negotiators: Vec<Box<dyn Negotiator + '_>> = Vec::with_capacity(n);
        for (index, role) in spec.roles.iter().enumerate().take(n) {
            let built: Box<dyn Negotiator + '_> = match &role.holder {
                Holder::Agent { spec: s } => {
                    match negotiator(s, role_seed(spec.seed, index as u64)) {
                        Ok(b) => b,
                        Err(e) => return self.fail(format!("role {}: {e}", role.name)),
                    }
                }
                Holder::Seat { .. } => match receivers[index].take() {
                    Some(rx) => Box::new(Seat {
                        live: Arc::clone(&self),
                        role: index,
                        rx,
                        suspend,
                    }),
                    None => return self.fail("a seat has no channel".into()),
                },
            };
            negotiators.push(built);
        }
        let mediator_box: Option<Box<dyn Mediator + '_>> = match spec.mediator_index() {
            None => None,
            Some(m) => match &spec.roles[m].holder {
                Holder::Agent { spec: s } => match mediator(s, role_seed(spec.seed, u64::MAX)) {
                    Ok(b) => Some(b),
                    Err(e) => return self.fail(format!("mediator: {e}")),
                },
                Holder::Seat { .. } => match receivers[m].take() {
                    Some(rx) => Some(Box::new(MediatorSeat {
                        live: Arc::clone(&self),
                        role: m,
                        rx,
                        suspend,
                        progress: 0.0,
                        last: None,
                    })),
                    None => return self.fail("the mediator seat has no channel".into()),
                },
            },
        };
        match run_session(&scenario, &config, negotiators, mediator_box) {
            Ok(result) => self.finish(
                result.agreement,
                result.ended_by.name(),
                result.utilities,
                suspend,
            ),
            Err(e) => self.fail(format!("the engine refused the session: {e}")),
        }
    }

    fn fail(&self, message: String) {
        tracing::error!(session = %self.id, "the session stopped: {message}");
        let mut inner = self.lock();
        inner.failed = Some(message);
        inner.engine_idle = true;
        drop(inner);
        self.changed();
        self.publish();
    }

    /// The engine's hook: log the event (or, replaying, check it against the log).
    fn on_event(self: &Arc<Self>, event: &Event) {
        let json = event.to_json(self.scenario.space(), &self.parties);
        let body = json.to_string();
        let replayed = {
            let inner = self.lock();
            if inner.failed.is_some() {
                // Stopped: nothing more is logged or shown (the engine may run on to
                // its end, unheard).
                return;
            }
            match inner.logged_events.get(event.seq as usize) {
                Some(logged) if *logged == body => true,
                Some(_) => {
                    drop(inner);
                    self.fail(format!(
                        "replaying the log gave a different event {} than was logged \
                         (a session stored under other protocol rules, by another version \
                         of parley, cannot go on; its log is intact)",
                        event.seq
                    ));
                    true
                }
                None => false,
            }
        };
        if !replayed {
            // Queued, not waited for: the engine goes on, and waits for the log only
            // before it asks a seat or ends (see `until_durable`). The chain moves on
            // at once; the writer stores a session's records in order.
            let mut chain = self.chain.blocking_lock();
            let records = chain.records(vec![("event", body)]);
            chain.advance(&records);
            drop(chain);
            let events_after = self.lock().events.len() + 1;
            self.pipeline(records, None, events_after);
        }
        let mut inner = self.lock();
        if replayed {
            inner.durable_events = inner.events.len() + 1;
        }
        inner.round = event.round;
        match &event.kind {
            EventKind::Phase { to, .. } => inner.phase = *to,
            EventKind::Default { outcome } => inner.default = Some(outcome.clone()),
            _ => {}
        }
        inner.events.push(event.clone());
        inner.event_json.push(json);
        drop(inner);
        self.changed();
    }

    fn finish(
        self: &Arc<Self>,
        agreement: Option<Vec<u32>>,
        reason: &str,
        utilities: Vec<f64>,
        suspend: &Suspend,
    ) {
        let (already, failed) = {
            let inner = self.lock();
            (inner.ended_logged, inner.failed.is_some())
        };
        if failed {
            return;
        }
        if !already {
            let body = json!({
                "agreement": agreement.as_ref().map(|a| outcome_map(&self.scenario, a)),
                "reason": reason,
                "utilities": utilities,
            })
            .to_string();
            let mut chain = self.chain.blocking_lock();
            let records = chain.records(vec![("ended", body)]);
            chain.advance(&records);
            drop(chain);
            let events = self.lock().events.len();
            self.pipeline(records, Some("ended"), events);
        }
        // The end is shown only once it, and everything before it, is stored.
        self.until_durable(suspend);
        if self.lock().failed.is_some() {
            return;
        }
        // The closing analysis: computed on a blocking thread, never in a request nor
        // on the engines' workers; views say `"pending": true` until it is there, and
        // it is pushed when it is (the talks are over: that moment tells nothing).
        self.prepare_analysis();
        let mut inner = self.lock();
        inner.ended_logged = true;
        inner.engine_idle = true;
        inner.status = Status::Ended;
        inner.result = Some((agreement, reason.to_string(), utilities));
        inner.pending.iter_mut().for_each(|p| *p = None);
        drop(inner);
        self.changed();
        self.publish();
    }

    /// A seat waits for its holder: publish what is asked, then take the next action.
    fn wait(
        &self,
        role: usize,
        pending: Pending,
        round: u32,
        rx: &Receiver<Input>,
        suspend: &Suspend,
    ) -> Option<Input> {
        // A seat is asked only once everything before is stored.
        self.until_durable(suspend);
        {
            let mut inner = self.lock();
            if inner.failed.is_some() {
                return None;
            }
            inner.pending[role] = Some(pending);
            inner.pending_round[role] = round;
            inner.engine_idle = true;
        }
        self.changed();
        self.publish();
        let input = loop {
            match rx.try_recv() {
                Ok(input) => break Some(input),
                Err(TryRecvError::Disconnected) => break None,
                Err(TryRecvError::Empty) => {
                    if self.lock().failed.is_some() {
                        break None;
                    }
                    suspend.suspend(());
                }
            }
        };
        {
            let mut inner = self.lock();
            inner.pending[role] = None;
            inner.engine_idle = false;
            inner.inputs_taken += 1;
        }
        self.changed();
        input
    }

    /// Hands an action to the engine: the number to wait for with [`Live::settled`].
    fn deliver(&self, role: usize, input: Input) -> u64 {
        let (sent, engine) = {
            let mut inner = self.lock();
            if let Some(Some(tx)) = self.senders.get(role) {
                if tx.send(input).is_ok() {
                    inner.inputs_sent += 1;
                    inner.engine_idle = false;
                }
            }
            (inner.inputs_sent, inner.engine)
        };
        if let Some(engine) = engine {
            Pool::global().resume(engine);
        }
        sent
    }

    /// Waits until the engine has taken action number `sent` and logged everything it
    /// caused, up to its next wait for a seat (or its end): `false` if that took more
    /// than 30 s (the action itself is logged and delivered already; the answer says
    /// it has not settled).
    async fn settled(&self, sent: u64) -> bool {
        let mut changes = self.subscribe();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            {
                let inner = self.lock();
                if inner.inputs_taken >= sent && inner.engine_idle {
                    return true;
                }
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return false;
            }
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
            inner
                .joined
                .iter()
                .enumerate()
                .all(|(r, &j)| j || r == role)
        };
        let name = &self.spec.roles[role].name;
        let mut items = vec![(
            "joined",
            json!({"role": name, "confide": confide}).to_string(),
        )];
        let mut confide_flags = self.lock().confide.clone();
        if role < self.n_parties() {
            confide_flags[role] = confide;
        }
        if start {
            items.push(("started", json!({ "confide": confide_flags }).to_string()));
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
                if role < self.scenario.n_parties() {
                    let own = &self.scenario.utilities()[role];
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
                    let u = self.scenario.utilities()[role].value(&outcome);
                    !m.allows(&self.scenario, &outcome, u)
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
    fn first_answer(
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
    fn remember(
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
    fn remember_ratify(&self, role: usize, key: &str, confirm: bool, record: &Record) {
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

    /// The receipt of the last of `records`, written for `role`.
    fn receipt(&self, role: usize, records: &[Record]) -> Result<Value, ApiError> {
        self.receipt_as(&self.spec.roles[role].name, records)
    }

    fn receipt_as(&self, who: &str, records: &[Record]) -> Result<Value, ApiError> {
        let last = records
            .last()
            .ok_or_else(|| ApiError::internal("a receipt for no record"))?;
        Ok(self.seal.receipt(&self.id, who, last))
    }

    /// A party's utility of an outcome given as labels.
    pub fn evaluate(
        &self,
        party: usize,
        outcome: &std::collections::BTreeMap<String, String>,
    ) -> Result<f64, ApiError> {
        let o = labels_to_outcome(&self.scenario, outcome)?;
        Ok(self.scenario.utilities()[party].value(&o))
    }

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

    /// The view of `access` in the state `inner`. Everything in it is derived from
    /// what the viewer may see: its events are numbered in the view, and its round and
    /// phase are those of the last event it saw (or of the question it is asked).
    fn render<'a>(&'a self, inner: &'a Inner, access: Access) -> Rendered<'a> {
        let n = self.n_parties();
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
        let utility = |o: &[u32]| party.map(|p| self.scenario.utilities()[p].value(o));
        let mut events = Vec::new();
        let mut round = 0;
        let mut phase = match self.spec.protocol {
            parley_engine::ProtocolKind::Saop => Phase::Direct,
            _ => Phase::Indirect,
        };
        let mut notices = inner.notices.iter().peekable();
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
        let pending = asked.map(|(_, p)| match p {
            Pending::Act { standing } => json!({
                "kind": "act",
                "standing": standing.as_ref().map(|s| outcome_map(&self.scenario, s)),
                "standing_utility": standing.as_ref().and_then(|s| utility(s)),
            }),
            Pending::Propose => json!({"kind": "propose"}),
            Pending::Vote { text } => json!({
                "kind": "vote",
                "text": outcome_map(&self.scenario, text),
                "text_utility": utility(text),
            }),
            Pending::Text => json!({"kind": "text"}),
            Pending::Consent => json!({"kind": "consent"}),
        });
        let ratification = role_index
            .and_then(|r| inner.held[r].as_ref())
            .map(|h| json!({"status": "pending", "action": h.action}));
        let confided_names = || {
            json!(self
                .scenario
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
                if r < n {
                    let party = &self.scenario.parties()[r];
                    v["reservation"] = party.reservation.into();
                    v["discount"] = party.discount.into();
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
            .map(|(r, &joined)| match &r.holder {
                Holder::Agent { spec } => json!({
                    "name": r.name,
                    "held_by": "agent",
                    // Which strategy plays a role is the host's business: it chose it.
                    "agent": is_owner.then(|| spec.clone()),
                }),
                Holder::Seat { kind, .. } => {
                    json!({"name": r.name, "held_by": kind, "joined": joined})
                }
            })
            .collect();
        let result = inner.result.as_ref().map(|(agreement, reason, utilities)| {
            let mut v = json!({
                "agreement": agreement.as_ref().map(|a| outcome_map(&self.scenario, a)),
                "reason": reason,
            });
            if let Some(p) = party {
                v["my_utility"] = utilities[p].into();
            }
            if sees_all {
                v["utilities"] = json!(utilities);
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
        let agreement = inner.result.as_ref().and_then(|r| r.0.as_deref());
        if sees_all && inner.status == Status::Ended {
            view["analysis"] = self.analysis_of(agreement);
        }
        if matches!(viewer, Viewer::Mediator) && n == 2 && inner.confide.iter().all(|&c| c) {
            // Both parties confided their preferences to the mediator: it (and a host
            // who runs it) may see the utility plane, never forwarded to anyone else.
            view["plane"] = self.analysis_of(agreement);
        }
        Rendered {
            head: view,
            events,
            since: 0,
        }
    }

    /// Publishes each live subscriber's view if it changed. Called only where the
    /// engine waits (or has stopped) and on joins and ratification answers, never
    /// in the middle of the engine's work: a subscriber is sent a view when, and only
    /// when, what it may see changed.
    fn publish(&self) {
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
    fn notice_for<'a>(
        &self,
        notice: &'a Notice,
        access: Access,
        viewer: Viewer,
    ) -> Option<&'a Value> {
        let own = matches!(access, Access::Seat(r) | Access::Principal(r) if r == notice.role);
        (own || matches!(viewer, Viewer::Owner)).then_some(&notice.body)
    }

    /// Issues and values: what every role may know.
    pub fn public_scenario(&self) -> Value {
        public_scenario(&self.scenario)
    }

    /// The closing analysis: frontier, Nash, KS and welfare computed once, the
    /// agreement's utilities added as they are known.
    fn analysis_of(&self, agreement: Option<&[u32]>) -> Value {
        // Computed off the request path (at the end of the talks, or when a session
        // is loaded): a view asked for before then says it is on its way.
        let Some(base) = self.analysis.get() else {
            return json!({"pending": true});
        };
        let mut out = base.clone();
        out["agreement_utilities"] = json!(agreement.map(|o| self
            .scenario
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
    fn analysis_base(&self) -> &Value {
        self.analysis.get_or_init(|| {
            let config = parley_core::analysis::AnalysisConfig {
                work_budget: Some(2_000_000),
                ..Default::default()
            };
            match parley_core::analysis::analyze(&self.scenario, &config) {
                Ok(a) => json!({
                    "parties": self.scenario.parties().iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
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
struct Rendered<'a> {
    head: Value,
    events: Vec<Shown<'a>>,
    /// Events before this number are left out.
    since: usize,
}

/// One line of a view's story: an event's (or a notice's) JSON, with the viewer's own
/// utility of its outcome. Numbered in the view (`seq` from 0, the engine's own
/// numbering left out): a gap would tell of an event the viewer did not see.
struct Shown<'a> {
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
            .map(|(seq, shown)| Numbered { seq, shown })
            .collect();
        map.serialize_entry("events", &numbered)?;
        map.serialize_entry("events_total", &self.events.len())?;
        map.end()
    }
}

struct Numbered<'a> {
    seq: usize,
    shown: &'a Shown<'a>,
}

impl Serialize for Numbered<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for (k, v) in self.shown.json.as_object().into_iter().flatten() {
            if k != "seq" && k != "my_utility" {
                map.serialize_entry(k, v)?;
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
fn text(view: &Rendered<'_>) -> String {
    serde_json::to_string(view).unwrap_or_else(|e| {
        tracing::error!("a view could not be written: {e}");
        "{}".into()
    })
}

/// A view as a WebSocket message.
fn message(view: &Rendered<'_>) -> String {
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

/// A party seat: the engine asks, the holder answers over the API.
struct Seat<'s> {
    live: Arc<Live>,
    role: usize,
    rx: Receiver<Input>,
    suspend: &'s Suspend,
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
            .wait(self.role, pending, state.round, &self.rx, self.suspend)
        {
            Some(Input::Act(action)) => action,
            // Checked before it was sent; only a closed channel gets here.
            _ => Action::WalkAway,
        }
    }

    fn propose(&mut self, _ctx: &PartyContext<'_>, state: &State) -> Option<Vec<u32>> {
        match self.live.wait(
            self.role,
            Pending::Propose,
            state.round,
            &self.rx,
            self.suspend,
        ) {
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
                .wait(self.role, pending, state.round, &self.rx, self.suspend),
            Some(Input::Vote(true))
        )
    }

    fn consent(&mut self, _ctx: &PartyContext<'_>, state: &State) -> bool {
        matches!(
            self.live.wait(
                self.role,
                Pending::Consent,
                state.round,
                &self.rx,
                self.suspend
            ),
            Some(Input::Consent(true))
        )
    }
}

/// A mediator seat.
struct MediatorSeat<'s> {
    live: Arc<Live>,
    role: usize,
    rx: Receiver<Input>,
    suspend: &'s Suspend,
    progress: f64,
    /// The last text put (the default if the talks go direct).
    last: Option<Vec<u32>>,
}

impl Mediator for MediatorSeat<'_> {
    fn name(&self) -> String {
        "seat".into()
    }

    fn text(&mut self, ctx: &MediatorContext<'_>, state: &State) -> Tabled {
        let text = match self.live.wait(
            self.role,
            Pending::Text,
            state.round,
            &self.rx,
            self.suspend,
        ) {
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
