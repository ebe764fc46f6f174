//! The one writer: group commit, commit discipline after storage errors, and the
//! checkpoints of a SQLite database.

use super::*;

/// A new session: its row and tokens, written with its first record.
pub(super) struct NewSession {
    pub(super) row: SessionRow,
    pub(super) created_at: String,
    pub(super) tokens: Vec<TokenRow>,
}

/// A seat's link re-issued: the old token revoked, the new one added.
#[derive(Clone, Debug)]
pub struct TokenChange {
    /// The new token's row.
    pub add: TokenRow,
    /// The hash (hex) of the token it replaces.
    pub revoke: String,
}

/// Records to append, and where to say when they are stored.
pub(super) struct AppendJob {
    pub(super) create: Option<NewSession>,
    /// Written in the same transaction as the records.
    pub(super) token_change: Option<TokenChange>,
    pub(super) session_id: String,
    pub(super) records: Vec<Record>,
    pub(super) status: Option<String>,
    /// Kept through a storage outage until stored (the engine's records); else failed
    /// with [`StoreError::Unavailable`] once known not to be stored (a request's).
    pub(super) patient: bool,
    pub(super) done: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
}

/// The longest wait between two tries of a write that failed.
pub(super) const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(2);

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
pub(super) async fn writer(
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
pub(super) fn refused(e: &StoreError) -> bool {
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
pub(super) async fn checkpoints(pool: AnyPool) {
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

/// Settles the appends of a failed group whose first record is in the database
/// already (stored, or a conflicting record: that append fails), and a request's
/// appends known not to be stored (503); the rest, in order.
pub(super) async fn settle(
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
pub(super) async fn alone(
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
pub(super) async fn read_back(pool: &AnyPool, group: &[AppendJob]) -> Result<(), StoreError> {
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
pub(super) async fn probe(pool: &AnyPool) -> Result<(), StoreError> {
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
pub(super) fn anchor(seal: Option<&crate::seal::Seal>, group: &[AppendJob]) {
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
pub(super) async fn write_group(pool: &AnyPool, group: &[AppendJob]) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    let result = write_on(&mut conn, group).await;
    if result.is_err() {
        let _ = sqlx::Connection::close(conn.detach()).await;
    }
    result
}

/// Log rows per `INSERT` statement: a group's records go in a few statements, not one
/// each (8 parameters a row, far below SQLite's and PostgreSQL's limits).
pub(super) const ROWS_PER_INSERT: usize = 64;

pub(super) async fn write_on(
    conn: &mut sqlx::AnyConnection,
    group: &[AppendJob],
) -> Result<(), StoreError> {
    let mut tx = sqlx::Connection::begin(conn).await?;
    for job in group {
        if let Some(new) = &job.create {
            insert_session(&mut tx, new).await?;
        }
        if let Some(change) = &job.token_change {
            sqlx::query("UPDATE tokens SET expires_at = $1 WHERE hash = $2 AND session_id = $3")
                .bind(REVOKED)
                .bind(&change.revoke)
                .bind(&job.session_id)
                .execute(&mut *tx)
                .await?;
            insert_token(&mut tx, &change.add).await?;
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

pub(super) async fn insert_session(
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
        insert_token(tx, t).await?;
    }
    Ok(())
}

async fn insert_token(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    t: &TokenRow,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO tokens (hash, session_id, role, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(&t.hash)
        .bind(&t.session_id)
        .bind(&t.role)
        .bind(t.expires_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Inserts log rows in one statement.
pub(super) async fn insert_records(
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
