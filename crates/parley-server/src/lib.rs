//! parley-server: the live server (`parley serve`).
//!
//! JSON over HTTP and a WebSocket per seat (`docs/api.md`, `docs/openapi.json`); every
//! record goes to an append-only, hash-chained log in SQLite or PostgreSQL before it is
//! acknowledged ([`store`]); sessions run the engine on a thread each, with seats that
//! wait for their holders ([`live`]); the web UI is embedded ([`api`]).

pub mod api;
pub mod error;
pub mod live;
pub mod spec;
pub mod store;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub use api::router;
pub use store::Store;

use live::{Access, Live, TokenEntry};

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
}

/// What can go wrong starting the server.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database.
    #[error(transparent)]
    Store(#[from] store::StoreError),
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
    /// (replaying live ones through the engine).
    pub async fn open(url: &str) -> Result<Arc<App>, StartError> {
        let store = Store::connect(url).await?;
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
        });
        let mut tokens: HashMap<String, Vec<store::TokenRow>> = HashMap::new();
        for t in store.tokens().await? {
            tokens.entry(t.session_id.clone()).or_default().push(t);
        }
        for row in store.sessions().await? {
            let fail = |message: String| StartError::Session {
                id: row.id.clone(),
                message,
            };
            let spec: spec::SessionSpec =
                serde_json::from_str(&row.config).map_err(|e| fail(e.to_string()))?;
            let scenario = parley_formats::native::parse_json(&spec.scenario, "stored scenario")
                .map_err(|e| fail(e.to_string()))?;
            let mut entries = Vec::new();
            for t in tokens.remove(&row.id).unwrap_or_default() {
                let access = Access::decode(&t.role, &spec)
                    .ok_or_else(|| fail(format!("unknown token role {:?}", t.role)))?;
                let hash = unhex(&t.hash).ok_or_else(|| fail("a token hash is not hex".into()))?;
                entries.push(TokenEntry {
                    hash,
                    access,
                    expires_at: t.expires_at,
                });
            }
            let log = store.log(&row.id).await?;
            let live = Arc::new(Live::new(
                row.id.clone(),
                spec,
                scenario,
                entries,
                store.clone(),
                app.runtime.clone(),
            ));
            if let Err(message) = live.restore(&log) {
                // Leave it out, untouched, and say so: `parley audit` tells more.
                eprintln!("parley serve: session {} is not served: {message}", row.id);
                continue;
            }
            app.index(&live);
            app.write_sessions().insert(row.id.clone(), live);
        }
        Ok(app)
    }

    /// Adds a session's tokens to the index.
    pub fn index(&self, live: &Live) {
        let mut index = self.token_index.write().unwrap_or_else(|e| e.into_inner());
        for t in &live.tokens {
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

/// Runs the server on `addr` until Ctrl-C.
pub async fn serve(db: &str, addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let url = database_url(db);
    let app = App::open(&url).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    let count = app.sessions.read().map(|s| s.len()).unwrap_or(0);
    eprintln!(
        "parley serve: http://{local}/ ({count} stored sessions, database {})",
        redact(&url)
    );
    axum::serve(listener, router(app))
        .with_graceful_shutdown(async {
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

/// Verifies every session's hash chain in a database: (session id, error) per failure,
/// and the number of sessions checked.
pub async fn audit(
    db: &str,
    only: Option<&str>,
) -> Result<(usize, Vec<(String, String)>), store::StoreError> {
    let store = Store::connect(&database_url(db)).await?;
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in store.sessions().await? {
        if only.is_some_and(|id| id != row.id) {
            continue;
        }
        checked += 1;
        let log = store.log(&row.id).await?;
        if let Err(e) = store::verify_chain(&log) {
            failures.push((row.id.clone(), e));
            continue;
        }
        // The configuration is pinned by the first record.
        use sha2::{Digest, Sha256};
        let pinned = log
            .first()
            .and_then(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok())
            .and_then(|v| v["config_sha256"].as_str().map(String::from));
        let actual = store::hex(&Sha256::digest(row.config.as_bytes()));
        if pinned.as_deref() != Some(actual.as_str()) {
            failures.push((
                row.id.clone(),
                "the session's configuration does not match the hash in its first record".into(),
            ));
        }
    }
    Ok((checked, failures))
}
