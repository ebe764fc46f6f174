//! The database: sessions, token hashes and the append-only, hash-chained log.
//!
//! One code path for SQLite and PostgreSQL, through sqlx's `Any` driver: the SQL is
//! the common subset (TEXT, BIGINT, `$n` parameters). Migrations run at start.

mod writer;

pub use writer::TokenChange;
use writer::{checkpoints, writer, AppendJob, NewSession};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Connection as _, Row};

/// What can go wrong with the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The stored data is not what parley wrote.
    #[error("database: {0}")]
    Corrupt(String),
    /// A write failed and no write has succeeded since: nothing is accepted until
    /// one does.
    #[error("the database cannot store anything right now")]
    Unavailable,
}

/// The migrations (`migrations/*.sql`), in order; each runs once, in a transaction,
/// and `parley_schema` records the last one run. A database with a later version
/// than this parley knows is refused.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_sessions_tokens_log.sql"),
    include_str!("../../migrations/0002_record_macs.sql"),
    include_str!("../../migrations/0003_probe.sql"),
];

/// A log record as stored.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Record {
    /// Position in the session's log, from 0.
    pub seq: i64,
    /// `created`, `joined`, `started`, `input`, `event`, `notice` or `ended`.
    pub kind: String,
    /// JSON.
    pub body: String,
    /// The previous record's hash (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 of prev_hash, seq, kind, body and at (see [`chain_hash`]).
    pub hash: String,
    /// When it was written (RFC 3339, UTC).
    pub at: String,
    /// The server key's MAC of the session and the hash (absent only in records
    /// written before parley sealed its logs).
    pub mac: Option<String>,
}

/// A session row.
#[derive(Clone, Debug)]
pub struct SessionRow {
    /// Its id.
    pub id: String,
    /// Its configuration (JSON).
    pub config: String,
    /// `waiting`, `running` or `ended`.
    pub status: String,
}

/// The `expires_at` of a revoked token (its seat's link was re-issued).
pub const REVOKED: i64 = -1;

/// A token row.
#[derive(Clone, Debug)]
pub struct TokenRow {
    /// SHA-256 of the token, hex.
    pub hash: String,
    /// Its session.
    pub session_id: String,
    /// `owner`, `auditor`, `seat:<role>` or `principal:<role>`.
    pub role: String,
    /// Unix seconds after which it is refused.
    pub expires_at: i64,
}

/// The database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    appends: tokio::sync::mpsc::UnboundedSender<AppendJob>,
    healthy: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Opens one connection to the database at `url` and reads from it: a clear error,
/// at once (not after a pool's timeout), if it cannot be opened or is not a database.
/// Changes nothing (a missing SQLite file is created empty, as `mode=rwc` says).
pub async fn check_readable(url: &str) -> Result<(), StoreError> {
    sqlx::any::install_default_drivers();
    let unreadable = |e: sqlx::Error| {
        StoreError::Corrupt(format!(
            "cannot open the database {}: {e} (is it a parley database, and whole? \
             nothing was changed)",
            crate::redact(url)
        ))
    };
    let mut first = sqlx::AnyConnection::connect(url)
        .await
        .map_err(unreadable)?;
    let check = if url.starts_with("sqlite:") {
        "SELECT count(*) FROM sqlite_master"
    } else {
        "SELECT 1"
    };
    sqlx::query(check)
        .execute(&mut first)
        .await
        .map_err(unreadable)?;
    let _ = first.close().await;
    Ok(())
}

impl Store {
    /// Connects to `url` (`sqlite://FILE` or `postgres://…`), creating a SQLite file if
    /// needed, and runs the migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_sealed(url, None, None).await
    }

    /// Connects as [`Store::connect`], sealing: every committed append's new head is
    /// anchored with `seal`.
    ///
    /// `max_pages` caps a SQLite database's size (`PRAGMA max_page_count`, per
    /// connection): a disk quota, past which writes fail as on a full disk.
    pub async fn connect_sealed(
        url: &str,
        seal: Option<std::sync::Arc<crate::seal::Seal>>,
        max_pages: Option<u64>,
    ) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        check_readable(url).await?;
        let pool = AnyPoolOptions::new()
            // SQLite in WAL mode: readers beside the one writer.
            .max_connections(if sqlite { 4 } else { 8 })
            .acquire_timeout(std::time::Duration::from_secs(5))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // Durable before acknowledged: WAL with a sync at every commit.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = FULL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 5000")
                            .execute(&mut *conn)
                            .await?;
                        // Checkpoints run beside the writer (see `checkpoints`), not
                        // inside one of its commits, which would hold every append
                        // waiting behind it.
                        sqlx::query("PRAGMA wal_autocheckpoint = 0")
                            .execute(&mut *conn)
                            .await?;
                        if let Some(pages) = max_pages {
                            sqlx::query(&format!("PRAGMA max_page_count = {pages}"))
                                .execute(&mut *conn)
                                .await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        let (appends, jobs) = tokio::sync::mpsc::unbounded_channel();
        let healthy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        tokio::spawn(writer(
            pool.clone(),
            seal,
            std::sync::Arc::clone(&healthy),
            jobs,
        ));
        if sqlite {
            tokio::spawn(checkpoints(pool.clone()));
        }
        let store = Store {
            pool,
            appends,
            healthy,
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query("CREATE TABLE IF NOT EXISTS parley_schema (version BIGINT NOT NULL)")
            .execute(&self.pool)
            .await?;
        let version: Option<i64> = sqlx::query("SELECT MAX(version) AS v FROM parley_schema")
            .fetch_one(&self.pool)
            .await?
            .try_get::<Option<i64>, _>("v")?;
        let version = version.unwrap_or(0);
        if version > MIGRATIONS.len() as i64 {
            return Err(StoreError::Corrupt(format!(
                "the database has schema version {version}, newer than this parley ({})",
                MIGRATIONS.len()
            )));
        }
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let mut tx = self.pool.begin().await?;
            for statement in migration
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
            sqlx::query("INSERT INTO parley_schema (version) VALUES ($1)")
                .bind(i as i64 + 1)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Whether the store takes writes (no storage error since the last verified one).
    pub fn healthy(&self) -> bool {
        self.healthy.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Creates a session with its tokens and its first log record, atomically.
    pub async fn create_session(
        &self,
        session: &SessionRow,
        created_at: &str,
        tokens: &[TokenRow],
        first: &Record,
    ) -> Result<(), StoreError> {
        let new = NewSession {
            row: session.clone(),
            created_at: created_at.to_string(),
            tokens: tokens.to_vec(),
        };
        self.queue(Some(new), &session.id, std::slice::from_ref(first), None)
            .await
    }

    /// Appends `record` (the log's note of it) and re-issues a token in one
    /// transaction: the old token is revoked ([`REVOKED`]), the new one added.
    pub async fn reissue(
        &self,
        session_id: &str,
        record: &Record,
        change: TokenChange,
    ) -> Result<(), StoreError> {
        if !self.healthy() {
            return Err(StoreError::Unavailable);
        }
        let (done, stored) = tokio::sync::oneshot::channel();
        let job = AppendJob {
            create: None,
            token_change: Some(change),
            session_id: session_id.to_string(),
            records: vec![record.clone()],
            status: None,
            patient: false,
            done,
        };
        self.appends
            .send(job)
            .map_err(|_| StoreError::Corrupt("the database writer has stopped".into()))?;
        stored
            .await
            .map_err(|_| StoreError::Corrupt("the database writer has stopped".into()))?
    }

    /// Appends records to a session's log (and sets its status, if given), atomically;
    /// returns once they are committed (possibly together with other appends) and
    /// readable. While the store is unhealthy it refuses at once
    /// ([`StoreError::Unavailable`]): a request is answered 503 rather than kept.
    pub async fn append(
        &self,
        session_id: &str,
        records: &[Record],
        status: Option<&str>,
    ) -> Result<(), StoreError> {
        self.queue(None, session_id, records, status).await
    }

    /// Queues records the engine has produced, which must reach the log in order
    /// however long the database is away (an unhealthy store keeps them until it
    /// stores again), without waiting: the receiver says when they are stored. Once an
    /// append of a session has failed, its later appends fail too (they would follow a
    /// record that is not there).
    pub fn append_pipelined(
        &self,
        session_id: &str,
        records: Vec<Record>,
        status: Option<&str>,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<(), StoreError>>, StoreError> {
        let (done, stored) = tokio::sync::oneshot::channel();
        let job = AppendJob {
            create: None,
            token_change: None,
            session_id: session_id.to_string(),
            records,
            status: status.map(str::to_string),
            patient: true,
            done,
        };
        self.appends
            .send(job)
            .map_err(|_| StoreError::Corrupt("the database writer has stopped".into()))?;
        Ok(stored)
    }

    async fn queue(
        &self,
        create: Option<NewSession>,
        session_id: &str,
        records: &[Record],
        status: Option<&str>,
    ) -> Result<(), StoreError> {
        if !self.healthy() {
            return Err(StoreError::Unavailable);
        }
        let (done, stored) = tokio::sync::oneshot::channel();
        let job = AppendJob {
            create,
            token_change: None,
            session_id: session_id.to_string(),
            records: records.to_vec(),
            status: status.map(str::to_string),
            patient: false,
            done,
        };
        let gone = || StoreError::Corrupt("the database writer has stopped".into());
        self.appends.send(job).map_err(|_| gone())?;
        stored.await.map_err(|_| gone())?
    }

    /// Sets the MACs of a session's records (sealing a log written before parley
    /// sealed its logs, on the first start with a key), in one transaction.
    pub async fn seal_log(
        &self,
        session_id: &str,
        macs: &[(i64, String)],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (seq, mac) in macs {
            sqlx::query("UPDATE log SET mac = $1 WHERE session_id = $2 AND seq = $3")
                .bind(mac)
                .bind(session_id)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every session.
    pub async fn sessions(&self) -> Result<Vec<SessionRow>, StoreError> {
        let rows = sqlx::query("SELECT id, config, status FROM sessions ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(session_row).collect()
    }

    /// One session's row, if it exists.
    pub async fn session_row(&self, id: &str) -> Result<Option<SessionRow>, StoreError> {
        let row = sqlx::query("SELECT id, config, status FROM sessions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_row).transpose()
    }

    /// One session's tokens.
    pub async fn tokens_of(&self, id: &str) -> Result<Vec<TokenRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT hash, session_id, role, expires_at FROM tokens WHERE session_id = $1",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token_row).collect()
    }

    /// Every token.
    pub async fn tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let rows = sqlx::query("SELECT hash, session_id, role, expires_at FROM tokens")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(token_row).collect()
    }

    /// A session's log, in order.
    pub async fn log(&self, session_id: &str) -> Result<Vec<Record>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, kind, body, prev_hash, hash, at, mac FROM log WHERE session_id = $1 ORDER BY seq",
        )
        .bind(session_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
    }
}

fn session_row(r: &AnyRow) -> Result<SessionRow, StoreError> {
    Ok(SessionRow {
        id: r.try_get("id")?,
        config: r.try_get("config")?,
        status: r.try_get("status")?,
    })
}

fn token_row(r: &AnyRow) -> Result<TokenRow, StoreError> {
    Ok(TokenRow {
        hash: r.try_get("hash")?,
        session_id: r.try_get("session_id")?,
        role: r.try_get("role")?,
        expires_at: r.try_get("expires_at")?,
    })
}

fn record(r: &AnyRow) -> Result<Record, StoreError> {
    Ok(Record {
        seq: r.try_get("seq")?,
        kind: r.try_get("kind")?,
        body: r.try_get("body")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
        at: r.try_get("at")?,
        mac: r.try_get("mac")?,
    })
}

/// The chain format of a session's log: 1 for logs written before the timestamps were
/// hashed, 2 since (the first record says `"chain": 2`).
pub const CHAIN_VERSION: u8 = 2;

/// The hash of a record: SHA-256 over the previous hash, the sequence number, the
/// kind, the body and (from chain version 2) the time it was written, each
/// length-prefixed, as lowercase hex.
pub fn chain_hash(
    version: u8,
    prev_hash: &str,
    seq: i64,
    kind: &str,
    body: &str,
    at: &str,
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let seq = seq.to_be_bytes();
    let mut parts: Vec<&[u8]> = vec![prev_hash.as_bytes(), &seq, kind.as_bytes(), body.as_bytes()];
    if version >= 2 {
        parts.push(at.as_bytes());
    }
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    hex(&h.finalize())
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The first record's `prev_hash`.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The chain version a log declares in its first record.
pub fn chain_version(records: &[Record]) -> u8 {
    records
        .first()
        .and_then(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok())
        .and_then(|v| v["chain"].as_u64())
        .map_or(1, |v| v.min(u64::from(u8::MAX)) as u8)
}

/// Checks a log's chain: the first record that does not follow, if any. With a seal,
/// every record must carry the seal's MAC (logs written before parley sealed them are
/// sealed once, when the server first makes its key: see `App::open`).
pub fn verify_chain(
    records: &[Record],
    session: &str,
    seal: Option<&crate::seal::Seal>,
) -> Result<(), String> {
    let version = chain_version(records);
    if version > CHAIN_VERSION {
        return Err(format!(
            "the log has chain version {version}, newer than this parley ({CHAIN_VERSION})"
        ));
    }
    let mut prev = GENESIS.to_string();
    for (i, r) in records.iter().enumerate() {
        if r.seq != i as i64 {
            return Err(format!("record {i} has sequence number {}", r.seq));
        }
        if r.prev_hash != prev {
            return Err(format!(
                "record {i} ({}) does not point to the record before it",
                r.kind
            ));
        }
        let expected = chain_hash(version, &r.prev_hash, r.seq, &r.kind, &r.body, &r.at);
        if r.hash != expected {
            return Err(format!(
                "record {i} ({}) was changed: its hash does not match its content",
                r.kind
            ));
        }
        if let Some(seal) = seal {
            match &r.mac {
                Some(mac) if seal.record_mac_ok(session, &r.hash, mac) => {}
                Some(_) => {
                    return Err(format!(
                        "record {i} ({}) is not sealed by this server's key: the log was \
                         rewritten (or the key is not the one it was written with)",
                        r.kind
                    ))
                }
                None => {
                    return Err(format!(
                        "record {i} ({}) has no MAC: it was not written by this server (or \
                         the MACs were stripped)",
                        r.kind
                    ))
                }
            }
        }
        prev = r.hash.clone();
    }
    Ok(())
}
