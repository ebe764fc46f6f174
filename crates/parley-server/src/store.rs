//! The database: sessions, token hashes and the append-only, hash-chained log.
//!
//! One code path for SQLite and PostgreSQL, through sqlx's `Any` driver: the SQL is
//! the common subset (TEXT, BIGINT, `$n` parameters). Migrations run at start.

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
    include_str!("../migrations/0001_sessions_tokens_log.sql"),
    include_str!("../migrations/0002_record_macs.sql"),
    include_str!("../migrations/0003_probe.sql"),
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
    healthy: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// A new session: its row and tokens, written with its first record.
struct NewSession {
    row: SessionRow,
    created_at: String,
    tokens: Vec<TokenRow>,
}

/// Records to append, and where to say when they are stored.
struct AppendJob {
    create: Option<NewSession>,
    session_id: String,
    records: Vec<Record>,
    status: Option<String>,
    /// Kept through a storage outage until stored (the engine's records); else failed
    /// with [`StoreError::Unavailable`] once known not to be stored (a request's).
    patient: bool,
    done: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
}

/// The longest wait between two tries of a write that failed.
const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(2);

/// The one writer. Group commit: appends that arrive while a commit is on its way are
/// written together in the next transaction, so that under load one sync to disk
/// stores many of them.
///
/// Commit discipline: a write that fails ends its transaction and its connection
/// (never reused: a connection a write failed on may keep a transaction open, and a
/// later `COMMIT` would only release a savepoint), the store turns unhealthy
/// (`append` refuses new work with [`StoreError::Unavailable`]) and the group is tried
/// again, in order, until it is stored: a group already queued is never dropped, so
/// that every session's chain stays whole. Before each new try, appends whose records
/// are in the database already (a commit that failed to say it succeeded) are settled
/// as stored. The store is healthy again once a write has been committed and read back
/// from the database. An append the database refuses for its content (a constraint)
/// is failed alone.
async fn writer(
    pool: AnyPool,
    seal: Option<std::sync::Arc<crate::seal::Seal>>,
    healthy: std::sync::Arc<std::sync::atomic::AtomicBool>,
    mut jobs: tokio::sync::mpsc::UnboundedReceiver<AppendJob>,
) {
    use std::sync::atomic::Ordering;
    const MAX_GROUP: usize = 256;
    let mut backoff = std::time::Duration::from_millis(50);
    let mut failed: std::collections::HashSet<String> = std::collections::HashSet::new();
    loop {
        let next = if healthy.load(Ordering::SeqCst) {
            jobs.recv().await
        } else {
            // Unhealthy and idle: prove that writes work again.
            match tokio::time::timeout(backoff, jobs.recv()).await {
                Ok(job) => job,
                Err(_) => {
                    if probe(&pool).await.is_ok() {
                        tracing::info!("the database stores again");
                        healthy.store(true, Ordering::SeqCst);
                        backoff = std::time::Duration::from_millis(50);
                    } else {
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                    continue;
                }
            }
        };
        let Some(first) = next else { return };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        // A session whose append failed writes nothing more: its next records would
        // follow one that is not stored.
        group.retain_mut(|job| {
            if failed.contains(&job.session_id) {
                let (done, _) = tokio::sync::oneshot::channel();
                let done = std::mem::replace(&mut job.done, done);
                let _ = done.send(Err(StoreError::Corrupt(format!(
                    "session {}: an earlier append failed",
                    job.session_id
                ))));
                false
            } else {
                true
            }
        });
        while !group.is_empty() {
            let result = match write_group(&pool, &group).await {
                Ok(()) if healthy.load(Ordering::SeqCst) => Ok(()),
                // The first write after an error: stored only once it reads back.
                Ok(()) => read_back(&pool, &group).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {
                    if !healthy.swap(true, Ordering::SeqCst) {
                        tracing::info!("the database stores again");
                    }
                    backoff = std::time::Duration::from_millis(50);
                    anchor(seal.as_deref(), &group);
                    for job in group.drain(..) {
                        let _ = job.done.send(Ok(()));
                    }
                }
                Err(e) => {
                    healthy.store(false, Ordering::SeqCst);
                    tracing::error!("a write failed ({} appends wait): {e}", group.len());
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    group = settle(&pool, seal.as_deref(), group, &mut failed).await;
                    if !group.is_empty() && refused(&e) {
                        // The database refused an append (a constraint), not a
                        // write: find it, fail it alone, store the others.
                        group = alone(&pool, seal.as_deref(), group, &mut failed).await;
                    }
                }
            }
        }
    }
}

/// Whether the database refused the content of a write (a constraint it breaks)
/// rather than failed to write (a full disk, an I/O error, a lost connection), which
/// is worth trying again.
fn refused(e: &StoreError) -> bool {
    let StoreError::Db(sqlx::Error::Database(db)) = e else {
        return false;
    };
    if !matches!(db.kind(), sqlx::error::ErrorKind::Other) {
        return true;
    }
    // SQLite's constraint family (SQLITE_CONSTRAINT and its extended codes, such as a
    // trigger's RAISE), PostgreSQL's class 23 (integrity constraint violation).
    match db.code() {
        Some(code) => match code.parse::<i64>() {
            Ok(n) => n & 0xff == 19,
            Err(_) => code.starts_with("23"),
        },
        None => false,
    }
}

/// Copies a SQLite database's write-ahead log into the database file every half
/// second, on a connection of its own (a passive checkpoint: it never blocks the
/// writer, and the log cannot grow without bound).
async fn checkpoints(pool: AnyPool) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::debug!("checkpoint: {e}");
        }
    }
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

/// Settles the appends of a failed group whose first record is in the database
/// already (stored, or a conflicting record: that append fails), and a request's
/// appends known not to be stored (503); the rest, in order.
async fn settle(
    pool: &AnyPool,
    seal: Option<&crate::seal::Seal>,
    group: Vec<AppendJob>,
    failed: &mut std::collections::HashSet<String>,
) -> Vec<AppendJob> {
    let mut rest = Vec::with_capacity(group.len());
    for job in group {
        let Some(first) = job.records.first() else {
            rest.push(job);
            continue;
        };
        let stored: Result<Option<String>, sqlx::Error> =
            sqlx::query_scalar("SELECT hash FROM log WHERE session_id = $1 AND seq = $2")
                .bind(&job.session_id)
                .bind(first.seq)
                .fetch_optional(pool)
                .await;
        match stored {
            Ok(Some(hash)) if hash == first.hash => {
                anchor(seal, std::slice::from_ref(&job));
                let _ = job.done.send(Ok(()));
            }
            Ok(Some(_)) => {
                failed.insert(job.session_id.clone());
                let _ = job.done.send(Err(StoreError::Corrupt(format!(
                    "session {}: record {} is in the log already, with other content",
                    job.session_id, first.seq
                ))));
            }
            // Not stored: a request's append is answered now (503), the engine's
            // waits for the database.
            Ok(None) if !job.patient => {
                let _ = job.done.send(Err(StoreError::Unavailable));
            }
            // Or the database cannot say yet: try again.
            Ok(None) | Err(_) => rest.push(job),
        }
    }
    rest
}

/// Writes each append alone (writes work, but their group failed): those that fail
/// now fail for good.
async fn alone(
    pool: &AnyPool,
    seal: Option<&crate::seal::Seal>,
    group: Vec<AppendJob>,
    failed: &mut std::collections::HashSet<String>,
) -> Vec<AppendJob> {
    for job in group {
        if failed.contains(&job.session_id) {
            let _ = job.done.send(Err(StoreError::Corrupt(format!(
                "session {}: an earlier append failed",
                job.session_id
            ))));
            continue;
        }
        let result = write_group(pool, std::slice::from_ref(&job)).await;
        if result.is_ok() {
            anchor(seal, std::slice::from_ref(&job));
        } else if let Err(e) = &result {
            tracing::error!(session = %job.session_id, "an append failed: {e}");
            failed.insert(job.session_id.clone());
        }
        let _ = job.done.send(result);
    }
    Vec::new()
}

/// Checks, on a connection other than the one that wrote (a fresh one after an
/// error), that a group's last records are in the database.
async fn read_back(pool: &AnyPool, group: &[AppendJob]) -> Result<(), StoreError> {
    for job in group {
        let Some(last) = job.records.last() else {
            continue;
        };
        let stored: Option<String> =
            sqlx::query_scalar("SELECT hash FROM log WHERE session_id = $1 AND seq = $2")
                .bind(&job.session_id)
                .bind(last.seq)
                .fetch_optional(pool)
                .await?;
        if stored.as_deref() != Some(last.hash.as_str()) {
            return Err(StoreError::Corrupt(format!(
                "session {}: record {} was committed but does not read back",
                job.session_id, last.seq
            )));
        }
    }
    Ok(())
}

/// A write that leaves nothing behind: proof that the database takes writes again,
/// with room to spare (it writes 64 KiB, more than a busy second of appends).
async fn probe(pool: &AnyPool) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    let result = async {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::query("INSERT INTO parley_probe (at) VALUES ($1)")
            .bind("x".repeat(64 * 1024))
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM parley_probe")
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
    .await;
    if result.is_err() {
        let _ = sqlx::Connection::close(conn.detach()).await;
    }
    Ok(result?)
}

/// Anchors the new heads of committed appends (after the commit, so that an anchor
/// never names a record that is not stored). A failure to write an anchor weakens
/// only the detection of truncation, and is logged. A new session's anchor is synced
/// to disk before the session is acknowledged.
fn anchor(seal: Option<&crate::seal::Seal>, group: &[AppendJob]) {
    let Some(seal) = seal else { return };
    let heads: Vec<(&str, &Record)> = group
        .iter()
        .filter_map(|job| Some((job.session_id.as_str(), job.records.last()?)))
        .collect();
    let durable = group.iter().any(|job| job.create.is_some());
    if let Err(e) = seal.anchor(&heads, durable) {
        tracing::error!(file = %seal.anchors_file().display(), "could not write anchors: {e}");
    }
}

/// Writes a group in one transaction on one connection; if anything fails, the
/// connection is closed, never returned to the pool.
async fn write_group(pool: &AnyPool, group: &[AppendJob]) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    let result = write_on(&mut conn, group).await;
    if result.is_err() {
        let _ = sqlx::Connection::close(conn.detach()).await;
    }
    result
}

/// Log rows per `INSERT` statement: a group's records go in a few statements, not one
/// each (8 parameters a row, far below SQLite's and PostgreSQL's limits).
const ROWS_PER_INSERT: usize = 64;

async fn write_on(conn: &mut sqlx::AnyConnection, group: &[AppendJob]) -> Result<(), StoreError> {
    let mut tx = sqlx::Connection::begin(conn).await?;
    for job in group {
        if let Some(new) = &job.create {
            insert_session(&mut tx, new).await?;
        }
    }
    let rows: Vec<(&str, &Record)> = group
        .iter()
        .flat_map(|job| job.records.iter().map(|r| (job.session_id.as_str(), r)))
        .collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        insert_records(&mut tx, chunk).await?;
    }
    for job in group {
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

async fn insert_session(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    new: &NewSession,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO sessions (id, created_at, config, status) VALUES ($1, $2, $3, $4)")
        .bind(&new.row.id)
        .bind(&new.created_at)
        .bind(&new.row.config)
        .bind(&new.row.status)
        .execute(&mut **tx)
        .await?;
    for t in &new.tokens {
        sqlx::query(
            "INSERT INTO tokens (hash, session_id, role, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&t.hash)
        .bind(&t.session_id)
        .bind(&t.role)
        .bind(t.expires_at)
        .execute(&mut **tx)
        .await?;
    }
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

/// Inserts log rows in one statement.
async fn insert_records(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    rows: &[(&str, &Record)],
) -> Result<(), StoreError> {
    use std::fmt::Write as _;
    let mut sql = String::from(
        "INSERT INTO log (session_id, seq, kind, body, prev_hash, hash, at, mac) VALUES ",
    );
    for i in 0..rows.len() {
        let p = i * 8;
        let _ = write!(
            sql,
            "{}(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
            if i == 0 { "" } else { ", " },
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5,
            p + 6,
            p + 7,
            p + 8
        );
    }
    let mut query = sqlx::query(&sql);
    for (session_id, r) in rows {
        query = query
            .bind(*session_id)
            .bind(r.seq)
            .bind(&r.kind)
            .bind(&r.body)
            .bind(&r.prev_hash)
            .bind(&r.hash)
            .bind(&r.at)
            .bind(&r.mac);
    }
    query.execute(&mut **tx).await?;
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
