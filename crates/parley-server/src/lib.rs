//! parley-server: the live server (`parley serve`).
//!
//! JSON over HTTP and a WebSocket per seat (`docs/api.md`, `docs/openapi.json`); every
//! record goes to an append-only, hash-chained log in SQLite or PostgreSQL before it is
//! acknowledged ([`store`]); sessions run the engine on a thread each, with seats that
//! wait for their holders ([`live`]); the web UI is embedded ([`api`]).

pub mod api;
pub mod audit;
pub mod dblock;
pub mod engines;
pub mod error;
pub mod limits;
pub mod listen;
pub mod live;
pub mod records;
pub mod seal;
pub mod spec;
pub mod store;
pub mod upload;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

pub use api::{router, router_with};
pub use audit::{audit, check_session, verify_receipt, AuditReport, SessionReport};
pub use limits::{Limits, Rate};
pub use listen::serve_listener;
pub use store::Store;

use live::{Access, Live, TokenEntry};
use seal::{Anchor, Seal};
use store::{Record, SessionRow, TokenRow};

/// A bundled scenario.
pub struct Bundled {
    /// Its id (file stem).
    pub id: &'static str,
    /// The scenario as native JSON.
    pub json: String,
    /// Its public description.
    pub public: serde_json::Value,
}

const BUNDLED: &[(&str, &str)] = &[
    (
        "oman-talks",
        include_str!("../../../scenarios/oman-talks.toml"),
    ),
    (
        "job-offer",
        include_str!("../../../scenarios/job-offer.toml"),
    ),
    (
        "supplier-contract",
        include_str!("../../../scenarios/supplier-contract.toml"),
    ),
];

/// The server's state.
pub struct App {
    /// The database.
    pub store: Store,
    /// Every session, by id.
    pub sessions: RwLock<HashMap<String, Arc<Live>>>,
    /// Token hash → session id, to tell another session's token (403) from none (401).
    pub token_index: RwLock<HashMap<[u8; 32], String>>,
    /// The bundled scenarios.
    pub bundled: Vec<Bundled>,
    /// The runtime the engine threads use to reach the database.
    pub runtime: tokio::runtime::Handle,
    /// The server's key: seals records, anchors and receipts.
    pub seal: Arc<Seal>,
    /// SHA-256 of the token that creates sessions.
    pub create_token: [u8; 32],
    /// The host names the server answers to (see [`HostPolicy`]).
    pub hosts: RwLock<HostPolicy>,
    /// The database's lock, held while the server runs (see [`dblock`]).
    _lock: Option<dblock::DbLock>,
    /// Ended sessions not in memory: read back from the store when asked for.
    evicted: RwLock<BTreeSet<String>>,
    /// One load from the store at a time (so a session is never loaded twice).
    loading: tokio::sync::Mutex<()>,
}

/// Notes a checked log's last record as its session's anchored head.
fn anchors_head(anchors: &mut BTreeMap<String, Anchor>, id: &str, log: &[Record]) {
    if let Some(last) = log.last() {
        anchors.insert(
            id.to_string(),
            Anchor {
                seq: last.seq,
                head: last.hash.clone(),
            },
        );
    }
}

/// How long an ended session stays in memory after the last request for it.
pub const EVICT_AFTER_SECS: i64 = 300;

/// Which `Host` headers the server answers (against DNS rebinding: a page on
/// `evil.example` whose name is made to point at 127.0.0.1 reaches a loopback server
/// with `Host: evil.example`). An IP address and `localhost` are always answered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum HostPolicy {
    /// Any host name (a server bound to a public address with no `--allow-host`).
    #[default]
    Any,
    /// Only these names (lower case, without port), besides IP addresses and
    /// `localhost`.
    Listed(Vec<String>),
}

impl HostPolicy {
    /// The policy for a server listening on `local`: a loopback server answers only
    /// `localhost`, IP addresses and the `allowed` names; any other server answers the
    /// `allowed` names if some are given, else any name.
    pub fn for_listener(local: std::net::SocketAddr, allowed: &[String]) -> HostPolicy {
        let names: Vec<String> = allowed.iter().map(|n| n.to_ascii_lowercase()).collect();
        if local.ip().is_loopback() || !names.is_empty() {
            HostPolicy::Listed(names)
        } else {
            HostPolicy::Any
        }
    }

    /// Whether a request with this `Host` header value is answered.
    pub fn allows(&self, host: &str) -> bool {
        let HostPolicy::Listed(names) = self else {
            return true;
        };
        let name = host_name(host);
        name.eq_ignore_ascii_case("localhost")
            || name.parse::<std::net::IpAddr>().is_ok()
            || names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// The name in a `Host` header value, without its port (`[::1]:80` → `::1`).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// How to start the server.
#[derive(Clone, Debug)]
pub struct Options {
    /// The database URL (see [`database_url`]).
    pub db: String,
    /// The server key's file; by default next to a SQLite database (`<db>.key`).
    /// PostgreSQL needs one given.
    pub key: Option<PathBuf>,
    /// The token that creates sessions (`POST /api/sessions`).
    pub create_token: String,
    /// Host names to answer besides IP addresses and `localhost` (`--allow-host`); see
    /// [`HostPolicy::for_listener`].
    pub allowed_hosts: Vec<String>,
    /// A cap on a SQLite database's size, in pages (`PRAGMA max_page_count`): past it,
    /// writes fail as on a full disk (and the server answers 503 until they work).
    pub sqlite_max_pages: Option<u64>,
    /// The resource limits: connections, timeouts, rates, what a session may be
    /// (`docs/api.md`, "Limits"); [`Limits::default`] by default.
    pub limits: Limits,
    /// Take the database's lock (see [`dblock`]): on by default. Off only for tests
    /// that open a second server on a database in one process.
    pub lock: bool,
}

impl Options {
    /// Options for `db` (a file or URL, as `--db` takes it) and a creator token.
    pub fn new(db: &str, create_token: &str) -> Options {
        Options {
            db: database_url(db),
            key: None,
            create_token: create_token.to_string(),
            allowed_hosts: Vec::new(),
            sqlite_max_pages: None,
            limits: Limits::default(),
            lock: true,
        }
    }

    /// The key file: as given, else next to the SQLite file.
    pub fn key_path(&self) -> Result<PathBuf, store::StoreError> {
        key_path(&self.db, self.key.as_deref())
    }
}

/// The key file for a database URL: `given`, else `<file>.key` next to a SQLite file.
pub fn key_path(url: &str, given: Option<&Path>) -> Result<PathBuf, store::StoreError> {
    if let Some(k) = given {
        return Ok(k.to_path_buf());
    }
    sqlite_file(url)
        .map(|f| {
            let mut p = f.into_os_string();
            p.push(".key");
            PathBuf::from(p)
        })
        .ok_or_else(|| {
            store::StoreError::Corrupt(
                "--key: a PostgreSQL (or in-memory) database needs the server key's file given \
             (kept outside the database; created on the first start)"
                    .into(),
            )
        })
}

/// The file of a `sqlite://FILE?…` URL.
pub(crate) fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let file = rest.split('?').next()?;
    (!file.is_empty() && file != ":memory:").then(|| PathBuf::from(file))
}

/// What can go wrong starting the server.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The server key.
    #[error("{0}")]
    Key(String),
    /// A stored session could not be rebuilt.
    #[error("session {id}: {message}")]
    Session {
        /// Its id.
        id: String,
        /// What is wrong.
        message: String,
    },
}

impl App {
    /// Connects to the database, runs migrations, and rebuilds every stored session
    /// (replaying live ones through the engine). A session that fails the audit's
    /// checks (its chain, MACs, pinned configuration, tokens, status or anchors) is
    /// not served, and the server's log says why.
    pub async fn open(options: &Options) -> Result<Arc<App>, StartError> {
        // Agent seats may be language models (`llm:…`).
        parley_llm::install();
        // One server per database: taken before anything is read or changed.
        let lock = if options.lock {
            Some(dblock::lock(&options.db).await?)
        } else {
            None
        };
        // The database first: a key is made only for a database that opens.
        store::check_readable(&options.db).await?;
        let key = options.key_path()?;
        let seal = Arc::new(Seal::open(&key, true)?);
        let store = Store::connect_sealed(
            &options.db,
            Some(Arc::clone(&seal)),
            options.sqlite_max_pages,
        )
        .await?;
        let bundled = BUNDLED
            .iter()
            .filter_map(|(id, toml)| {
                let scenario = parley_formats::native::parse_toml(toml, id).ok()?;
                Some(Bundled {
                    id,
                    json: parley_formats::native::to_json(&scenario).ok()?,
                    public: {
                        let mut v = live::public_scenario(&scenario);
                        v["id"] = (*id).into();
                        v
                    },
                })
            })
            .collect();
        let app = Arc::new(App {
            store: store.clone(),
            sessions: RwLock::new(HashMap::new()),
            token_index: RwLock::new(HashMap::new()),
            bundled,
            runtime: tokio::runtime::Handle::current(),
            seal: Arc::clone(&seal),
            create_token: api::token_hash(&options.create_token),
            hosts: RwLock::new(HostPolicy::Any),
            _lock: lock,
            evicted: RwLock::new(BTreeSet::new()),
            loading: tokio::sync::Mutex::new(()),
        });
        let read = seal.read_anchors()?;
        seal.set_tip(read.tip.clone());
        for bad in &read.problems {
            tracing::error!(file = %seal.anchors_file().display(), "{bad}");
        }
        for warning in &read.warnings {
            tracing::warn!(file = %seal.anchors_file().display(), "{warning}");
        }
        let mut anchors = read.heads;
        let first_key = seal.created && anchors.is_empty() && read.problems.is_empty();
        let mut tokens: HashMap<String, Vec<TokenRow>> = HashMap::new();
        for t in store.tokens().await? {
            tokens.entry(t.session_id.clone()).or_default().push(t);
        }
        let rows = store.sessions().await?;
        let stored: BTreeSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        for id in anchors.keys().filter(|id| !stored.contains(id.as_str())) {
            tracing::error!(session = %id, "the session was deleted from the database (its anchor remains)");
        }
        for id in tokens.keys().filter(|id| !stored.contains(id.as_str())) {
            tracing::error!(session = %id, "tokens of no stored session (ignored)");
        }
        for row in &rows {
            let mut log = store.log(&row.id).await?;
            if first_key {
                // The first start with a key: logs written before parley sealed its
                // logs are sealed now, trusting them as they are (their hash chain
                // must hold). Once a key exists, a log without MACs is refused.
                app.seal_legacy(&row.id, &mut log, &mut anchors).await?;
            }
            let own_tokens = tokens.remove(&row.id).unwrap_or_default();
            let report = check_session(row, &log, &own_tokens, &seal, anchors.get(&row.id));
            for w in &report.warnings {
                tracing::warn!(session = %row.id, "{w}");
            }
            if let Some(problem) = report.problems.first() {
                // Leave it out, untouched, and say so: `parley audit` tells more.
                tracing::error!(session = %row.id, "not served: {problem}");
                continue;
            }
            if row.status == "ended" {
                // Checked; read back from the store only when someone asks for it.
                app.index_rows(&row.id, &own_tokens);
                anchors_head(&mut anchors, &row.id, &log);
                app.evicted
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(row.id.clone());
                continue;
            }
            match app.rebuild(row, own_tokens, &log) {
                Ok(live) => {
                    anchors_head(&mut anchors, &row.id, &log);
                    app.index(&live);
                    app.write_sessions().insert(row.id.clone(), live);
                }
                Err(message) => {
                    tracing::error!(session = %row.id, "not served: {message}");
                }
            }
        }
        if read.problems.is_empty() {
            // One line per session from now on: the anchors of sessions that failed
            // (or were deleted) are kept as they were, so the audit keeps finding them.
            if let Err(e) = seal.compact(&anchors) {
                tracing::error!(file = %seal.anchors_file().display(), "could not compact the anchors: {e}");
            }
        } else {
            seal.keep_heads(&anchors);
            // Keep the evidence: a forged or removed line stays for `parley audit`.
            tracing::error!(
                file = %seal.anchors_file().display(),
                "the anchor file does not verify: it is kept as it is (not compacted); \
                 run `parley audit`"
            );
        }
        // Seats that take longer than their session allows forfeit their turn.
        let weak = Arc::downgrade(&app);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                let Some(app) = weak.upgrade() else { return };
                let timed: Vec<Arc<Live>> = app
                    .sessions
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                    .filter(|live| {
                        live.spec.seat_timeout_seconds.is_some()
                            || live.spec.time_limit_seconds.is_some()
                    })
                    .cloned()
                    .collect();
                drop(app);
                for live in timed {
                    live.check_time_limit().await;
                    live.time_out_seats().await;
                }
            }
        });
        // Ended sessions nobody asks about leave memory.
        let weak = Arc::downgrade(&app);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
            loop {
                tick.tick().await;
                let Some(app) = weak.upgrade() else { return };
                app.evict(EVICT_AFTER_SECS);
            }
        });
        Ok(app)
    }

    /// Seals a log written before parley sealed its logs (no record has a MAC and its
    /// hash chain holds): sets every record's MAC and anchors its head. Called only on
    /// the start that makes the server's key, so a log stripped of its MACs later is
    /// refused, not sealed again.
    async fn seal_legacy(
        &self,
        session: &str,
        log: &mut [Record],
        anchors: &mut BTreeMap<String, Anchor>,
    ) -> Result<(), StartError> {
        let (Some(last), true) = (log.last(), log.iter().all(|r| r.mac.is_none())) else {
            return Ok(());
        };
        if let Err(e) = store::verify_chain(log, session, None) {
            tracing::error!(session = %session, "not sealed: {e}");
            return Ok(());
        }
        let head = Anchor {
            seq: last.seq,
            head: last.hash.clone(),
        };
        let macs: Vec<(i64, String)> = log
            .iter()
            .map(|r| (r.seq, self.seal.record_mac(session, &r.hash)))
            .collect();
        self.store.seal_log(session, &macs).await?;
        for (r, (_, mac)) in log.iter_mut().zip(macs) {
            r.mac = Some(mac);
        }
        anchors.insert(session.to_string(), head);
        tracing::info!(session = %session, records = log.len(), "sealed a log written before logs were sealed");
        Ok(())
    }

    /// A stored session, checked, rebuilt from its log.
    fn rebuild(
        &self,
        row: &SessionRow,
        tokens: Vec<TokenRow>,
        log: &[Record],
    ) -> Result<Arc<Live>, String> {
        let spec: spec::SessionSpec =
            serde_json::from_str(&row.config).map_err(|e| format!("its configuration: {e}"))?;
        let agenda = parley_formats::native::Agenda::parse_json(&spec.scenario, "stored scenario")
            .map_err(|e| e.to_string())?;
        let scenario = agenda
            .placeholder("stored scenario")
            .map_err(|e| e.to_string())?;
        let mut entries = Vec::new();
        for t in tokens {
            let access = Access::decode(&t.role, &spec)
                .ok_or_else(|| format!("unknown token role {:?}", t.role))?;
            let hash = unhex(&t.hash).ok_or("a token hash is not hex")?;
            entries.push(TokenEntry {
                hash,
                access,
                expires_at: t.expires_at,
            });
        }
        let live = Arc::new(
            Live::new(
                row.id.clone(),
                spec,
                scenario,
                entries,
                self.store.clone(),
                Arc::clone(&self.seal),
                self.runtime.clone(),
            )
            .with_agenda(agenda),
        );
        live.restore(log)?;
        Ok(live)
    }

    /// Adds the tokens of a session that is not in memory to the index.
    fn index_rows(&self, id: &str, tokens: &[TokenRow]) {
        let mut index = self.token_index.write().unwrap_or_else(|e| e.into_inner());
        for t in tokens {
            if let Some(hash) = unhex(&t.hash) {
                index.insert(hash, id.to_string());
            }
        }
    }

    /// A session, from memory or (an ended one that left memory) read back from the
    /// store and checked again.
    pub async fn load(&self, id: &str) -> Result<Option<Arc<Live>>, StartError> {
        if let Some(live) = self.session(id) {
            live.touch();
            return Ok(Some(live));
        }
        let evicted = self
            .evicted
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(id);
        if !evicted {
            return Ok(None);
        }
        let _one = self.loading.lock().await;
        if let Some(live) = self.session(id) {
            return Ok(Some(live));
        }
        let Some(row) = self.store.session_row(id).await? else {
            return Ok(None);
        };
        let tokens = self.store.tokens_of(id).await?;
        let log = self.store.log(id).await?;
        let head = self.seal.head(id);
        let report = check_session(&row, &log, &tokens, &self.seal, head.as_ref());
        if let Some(problem) = report.problems.first() {
            tracing::error!(session = %id, "not served: {problem}");
            return Ok(None);
        }
        let live = self
            .rebuild(&row, tokens, &log)
            .map_err(|message| StartError::Session {
                id: id.to_string(),
                message,
            })?;
        live.touch();
        self.write_sessions()
            .insert(id.to_string(), Arc::clone(&live));
        self.evicted
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        Ok(Some(live))
    }

    /// Lets ended sessions nobody has asked about for `idle_secs` leave memory (their
    /// tokens stay indexed; [`App::load`] reads them back). Returns how many left.
    pub fn evict(&self, idle_secs: i64) -> usize {
        let mut sessions = self.write_sessions();
        let gone: Vec<String> = sessions
            .iter()
            .filter(|(_, live)| live.evictable(idle_secs))
            .map(|(id, _)| id.clone())
            .collect();
        let mut evicted = self.evicted.write().unwrap_or_else(|e| e.into_inner());
        for id in &gone {
            sessions.remove(id);
            evicted.insert(id.clone());
        }
        gone.len()
    }

    /// The ids of ended sessions that left memory.
    pub fn evicted_ids(&self) -> Vec<String> {
        self.evicted
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Adds a session's tokens to the index.
    pub fn index(&self, live: &Live) {
        let mut index = self.token_index.write().unwrap_or_else(|e| e.into_inner());
        for t in live.tokens().iter() {
            index.insert(t.hash, live.id.clone());
        }
    }

    /// The sessions, for writing.
    pub fn write_sessions(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Live>>> {
        self.sessions.write().unwrap_or_else(|e| e.into_inner())
    }

    /// A session by id.
    pub fn session(&self, id: &str) -> Option<Arc<Live>> {
        self.sessions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        *o = (digit(bytes[2 * i])? * 16 + digit(bytes[2 * i + 1])?) as u8;
    }
    Some(out)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Now as RFC 3339 in UTC, to the millisecond.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// Runs the server on `addr` until Ctrl-C, within `options.limits` (see
/// [`serve_listener`]). `listening` is called once with the lobby's address, creator
/// token included (`http://ADDR/#create=TOKEN`), and the number of stored sessions
/// served.
pub async fn serve(
    options: &Options,
    addr: &str,
    listening: impl FnOnce(&str, usize),
) -> Result<(), Box<dyn std::error::Error>> {
    let app = App::open(options).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    let policy = HostPolicy::for_listener(local, &options.allowed_hosts);
    if policy == HostPolicy::Any {
        tracing::warn!(
            "listening on {local} and answering any host name: give --allow-host NAME to \
             answer only the names this server is reached by (DNS rebinding)"
        );
    }
    *app.hosts.write().unwrap_or_else(|e| e.into_inner()) = policy;
    let count = app.sessions.read().map(|s| s.len()).unwrap_or(0);
    tracing::info!(
        sessions = count,
        database = %redact(&options.db),
        key = %options.key_path()?.display(),
        "listening on http://{local}/"
    );
    listening(
        &format!("http://{local}/#create={}", options.create_token),
        count,
    );
    serve_listener(app, listener, &options.limits, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// A `--db` value as a database URL: PostgreSQL URLs as they are, anything else a
/// SQLite file (created if missing).
pub fn database_url(db: &str) -> String {
    if db.starts_with("postgres://") || db.starts_with("postgresql://") || db.starts_with("sqlite:")
    {
        db.to_string()
    } else {
        format!("sqlite://{db}?mode=rwc")
    }
}

/// A URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// A new creator token (256 random bits, URL-safe).
pub fn new_creator_token() -> String {
    api::new_token()
}
