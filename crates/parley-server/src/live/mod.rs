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

mod driver;
mod messages;
mod replay;
mod seats;
mod views;

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

    /// Why an action would breach a red line, if it would (the engine would end the
    /// talks over it): a party's own red lines bind it, and a mediator's text may cross
    /// nobody's (it is told them all).
    fn red_line_problem(&self, role: usize, pending: &Pending, input: &Input) -> Option<String> {
        let s = &self.scenario;
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

    /// The mediator's draft: each confiding party's utility of `outcome` (party →
    /// utility; the parties that did not confide are not in it), and whether the draft
    /// crosses some party's red line (the mediator is told every red line).
    pub fn evaluate_for_mediator(
        &self,
        outcome: &std::collections::BTreeMap<String, String>,
    ) -> Result<Value, ApiError> {
        let o = labels_to_outcome(&self.scenario, outcome)?;
        let confide = self.lock().confide.clone();
        let utilities: serde_json::Map<String, Value> = self
            .scenario
            .parties()
            .iter()
            .zip(self.scenario.utilities())
            .zip(&confide)
            .filter(|(_, &c)| c)
            .map(|((p, u), _)| (p.name.clone(), u.value(&o).into()))
            .collect();
        let crosses = self
            .scenario
            .red_lines_of_all()
            .crossed(&o)
            .map(|issue| self.scenario.space().issues()[issue].name().to_string());
        Ok(json!({"utilities": utilities, "crosses_red_line_on": crosses}))
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
