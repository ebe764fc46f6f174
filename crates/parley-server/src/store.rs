//! The database: sessions, token hashes and the append-only, hash-chained log.
//!
//! One code path for SQLite and PostgreSQL, through sqlx's `Any` driver: the SQL is
//! the common subset (TEXT, BIGINT, `$n` parameters). Migrations run at start.

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

/// What can go wrong with the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The stored data is not what parley wrote.
    #[error("database: {0}")]
    Corrupt(String),
}

/// The migrations, in order; each runs once, in a transaction.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        config TEXT NOT NULL,
        status TEXT NOT NULL
    );
    CREATE TABLE tokens (
        hash TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        role TEXT NOT NULL,
        expires_at BIGINT NOT NULL
    );
    CREATE TABLE log (
        session_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    );",
    // Every record is sealed with the server's key (see `seal`).
    "ALTER TABLE log ADD COLUMN mac TEXT",
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
    seal: Option<std::sync::Arc<crate::seal::Seal>>,
}

/// Records to append, and where to say when they are stored.
struct AppendJob {
    session_id: String,
    records: Vec<Record>,
    status: Option<String>,
    done: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
}

/// Group commit: appends that arrive while a commit is on its way are written together
/// in the next transaction, so that under load one sync to disk stores many of them.
/// If a group fails, each of its appends is retried alone, so that one bad append
/// cannot fail the others.
async fn group_commit(
    pool: AnyPool,
    seal: Option<std::sync::Arc<crate::seal::Seal>>,
    mut jobs: tokio::sync::mpsc::UnboundedReceiver<AppendJob>,
) {
    const MAX_GROUP: usize = 256;
    while let Some(first) = jobs.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let all = write_group(&pool, &group).await;
        if all.is_ok() {
            anchor(seal.as_deref(), &group);
            for job in group {
                let _ = job.done.send(Ok(()));
            }
        } else {
            for job in group {
                let alone = write_group(&pool, std::slice::from_ref(&job)).await;
                if alone.is_ok() {
                    anchor(seal.as_deref(), std::slice::from_ref(&job));
                }
                let _ = job.done.send(alone);
            }
        }
    }
}

/// Anchors the new heads of committed appends (after the commit, so that an anchor
/// never names a record that is not stored). A failure to write an anchor weakens
/// only the detection of truncation, and is logged.
fn anchor(seal: Option<&crate::seal::Seal>, group: &[AppendJob]) {
    let Some(seal) = seal else { return };
    let heads: Vec<(&str, &Record)> = group
        .iter()
        .filter_map(|job| Some((job.session_id.as_str(), job.records.last()?)))
        .collect();
    if let Err(e) = seal.anchor(&heads, false) {
        tracing::error!(file = %seal.anchors_file().display(), "could not write anchors: {e}");
    }
}

async fn write_group(pool: &AnyPool, group: &[AppendJob]) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    for job in group {
        for record in &job.records {
            insert_record(&mut tx, &job.session_id, record).await?;
        }
        if let Some(status) = &job.status {
            sqlx::query("UPDATE sessions SET status = $1 WHERE id = $2")
                .bind(status)
                .bind(&job.session_id)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

impl Store {
    /// Connects to `url` (`sqlite://FILE` or `postgres://…`), creating a SQLite file if
    /// needed, and runs the migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_sealed(url, None).await
    }

    /// Connects as [`Store::connect`], sealing: every committed append's new head is
    /// anchored with `seal`.
    pub async fn connect_sealed(
        url: &str,
        seal: Option<std::sync::Arc<crate::seal::Seal>>,
    ) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 1 } else { 8 })
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
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        let (appends, jobs) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(group_commit(pool.clone(), seal.clone(), jobs));
        let store = Store {
            pool,
            appends,
            seal,
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

    /// Creates a session with its tokens and its first log record, atomically.
    pub async fn create_session(
        &self,
        session: &SessionRow,
        created_at: &str,
        tokens: &[TokenRow],
        first: &Record,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO sessions (id, created_at, config, status) VALUES ($1, $2, $3, $4)",
        )
        .bind(&session.id)
        .bind(created_at)
        .bind(&session.config)
        .bind(&session.status)
        .execute(&mut *tx)
        .await?;
        for t in tokens {
            sqlx::query(
                "INSERT INTO tokens (hash, session_id, role, expires_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&t.hash)
            .bind(&t.session_id)
            .bind(&t.role)
            .bind(t.expires_at)
            .execute(&mut *tx)
            .await?;
        }
        insert_record(&mut tx, &session.id, first).await?;
        tx.commit().await?;
        if let Some(seal) = &self.seal {
            if let Err(e) = seal.anchor(&[(session.id.as_str(), first)], true) {
                tracing::error!("could not write an anchor: {e}");
            }
        }
        Ok(())
    }

    /// Appends records to a session's log (and sets its status, if given), atomically;
    /// returns once they are committed (possibly together with other appends).
    pub async fn append(
        &self,
        session_id: &str,
        records: &[Record],
        status: Option<&str>,
    ) -> Result<(), StoreError> {
        let (done, stored) = tokio::sync::oneshot::channel();
        let job = AppendJob {
            session_id: session_id.to_string(),
            records: records.to_vec(),
            status: status.map(str::to_string),
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
        rows.iter()
            .map(|r| {
                Ok(SessionRow {
                    id: r.try_get("id")?,
                    config: r.try_get("config")?,
                    status: r.try_get("status")?,
                })
            })
            .collect()
    }

    /// Every token.
    pub async fn tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let rows = sqlx::query("SELECT hash, session_id, role, expires_at FROM tokens")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenRow {
                    hash: r.try_get("hash")?,
                    session_id: r.try_get("session_id")?,
                    role: r.try_get("role")?,
                    expires_at: r.try_get("expires_at")?,
                })
            })
            .collect()
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

async fn insert_record(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    session_id: &str,
    r: &Record,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO log (session_id, seq, kind, body, prev_hash, hash, at, mac) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(session_id)
    .bind(r.seq)
    .bind(&r.kind)
    .bind(&r.body)
    .bind(&r.prev_hash)
    .bind(&r.hash)
    .bind(&r.at)
    .bind(&r.mac)
    .execute(&mut **tx)
    .await?;
    Ok(())
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
