//! Live sessions. The session handle ([`Live`], this module: its state, the checks
//! of `join`/`act`/`ratify`, receipts and idempotent answers) and, beside it:
//! `driver` (the engine's coroutine, the records it queues, what it waits for, its
//! end), `seats` (the negotiators that stand for a person or a program), `replay`
//! (rebuilding a session from its log) and `views` (what each viewer sees, and
//! pushes); the log's record bodies are typed in [`crate::records`].
//!
//! Durability by event sourcing: every action a seat sends and every engine event is
//! in the log before anything that depends on it is acknowledged or shown. The engine
//! is deterministic, so a restarted server rebuilds a session by feeding its logged
//! actions, in order, to a fresh engine run; the events it regenerates are checked
//! against the logged ones instead of being written again.

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

mod actions;
mod agents;
mod draft;
mod driver;
mod messages;
mod owner;
mod preferences;
mod replay;
mod seats;
mod views;

pub use draft::DraftInputs;
pub use views::public_scenario;

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

/// The `started` record's body: who confided, and when the talks began (Unix seconds).
fn started_body(confide: &[bool], at: i64) -> String {
    json!({ "confide": confide, "at_unix": at }).to_string()
}

/// The longest message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 2000;

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
    /// An agenda session's agenda while some party has not set its preferences; none
    /// once the scenario is complete (see `live/preferences.rs`).
    agenda: Option<parley_formats::native::Agenda>,
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
    /// The engine's normalised time when it asked.
    pending_time: Vec<f64>,
    /// When it asked (for the seat timeout).
    pending_since: Vec<Option<std::time::Instant>>,
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
    /// The owner cancelled the session: the engine runs out unheard.
    cancelled: bool,
    /// When the talks began (Unix seconds), for a wall-clock limit.
    started_at: Option<i64>,
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
    /// Its scenario (see [`Live::scenario`]).
    scenario: std::sync::RwLock<Arc<Scenario>>,
    /// Its parties' names, in order (for event JSON).
    parties: Vec<String>,
    /// Its tokens (a re-issued link adds one and revokes another).
    tokens: std::sync::RwLock<Vec<TokenEntry>>,
    /// Per party, whether it sets its own preferences (the agenda left them out).
    open: Vec<bool>,
    store: Store,
    seal: Arc<Seal>,
    runtime: tokio::runtime::Handle,
    inner: Mutex<Inner>,
    chain: tokio::sync::Mutex<Chain>,
    version: tokio::sync::watch::Sender<u64>,
    senders: Vec<Option<Sender<Input>>>,
    receivers: Mutex<Vec<Option<Receiver<Input>>>>,
    analysis: OnceLock<Value>,
    /// Each party's own best outcome (as issue → value), worked out on first use.
    best: OnceLock<Vec<Option<Value>>>,
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
            best: OnceLock::new(),
            id,
            inner: Mutex::new(Inner {
                status: Status::Waiting,
                agenda: None,
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
                pending_time: vec![0.0; roles],
                pending_since: vec![None; roles],
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
                cancelled: false,
                started_at: None,
            }),
            spec,
            parties: scenario.parties().iter().map(|p| p.name.clone()).collect(),
            scenario: std::sync::RwLock::new(Arc::new(scenario)),
            tokens: std::sync::RwLock::new(tokens),
            open: vec![false; n],
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

    /// The scenario. In an agenda session, until every party has set its preferences,
    /// the parties that have not value everything at 0 (see
    /// [`parley_formats::native::Agenda::placeholder`]): nothing is decided on it
    /// before the talks start.
    pub fn scenario(&self) -> Arc<Scenario> {
        Arc::clone(&self.scenario.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Its tokens.
    pub fn tokens(&self) -> std::sync::RwLockReadGuard<'_, Vec<TokenEntry>> {
        self.tokens.read().unwrap_or_else(|e| e.into_inner())
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
        self.scenario().n_parties()
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
        // An agenda session also waits for every party's preferences.
        let all_joined = inner.joined.iter().all(|&j| j) && inner.agenda.is_none();
        if all_joined {
            let at = crate::unix_now();
            inner.started_at = Some(at);
            items.push(("started", started_body(&inner.confide, at)));
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
        self.preferences_set(
            party,
            "set your preferences first (PUT /preferences): until then no outcome is worth \
             anything to you",
        )?;
        let scenario = self.scenario();
        let o = labels_to_outcome(&scenario, outcome)?;
        Ok(scenario.utilities()[party].value(&o))
    }

    /// A conflict saying `why` while party `party` (of an agenda session) has not set
    /// its preferences.
    pub(super) fn preferences_set(&self, party: usize, why: &str) -> Result<(), ApiError> {
        if self
            .unset(&self.lock())
            .get(party)
            .copied()
            .unwrap_or(false)
        {
            return Err(ApiError::conflict(why));
        }
        Ok(())
    }

    /// The mediator's draft: each confiding party's utility of `outcome` (party →
    /// utility; the parties that did not confide are not in it), and whether the draft
    /// crosses some party's red line (the mediator is told every red line).
    pub fn evaluate_for_mediator(
        &self,
        outcome: &std::collections::BTreeMap<String, String>,
    ) -> Result<Value, ApiError> {
        let o = labels_to_outcome(&self.scenario(), outcome)?;
        let confide = self.lock().confide.clone();
        let utilities: serde_json::Map<String, Value> = self
            .scenario()
            .parties()
            .iter()
            .zip(self.scenario().utilities())
            .zip(&confide)
            .filter(|(_, &c)| c)
            .map(|((p, u), _)| (p.name.clone(), u.value(&o).into()))
            .collect();
        let crosses = self
            .scenario()
            .red_lines_of_all()
            .crossed(&o)
            .map(|issue| self.scenario().space().issues()[issue].name().to_string());
        Ok(json!({"utilities": utilities, "crosses_red_line_on": crosses}))
    }
}
