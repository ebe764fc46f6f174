//! One server per database. Two servers on one database would both replay its live
//! sessions and serve diverging state, so a server holds a lock for as long as it runs:
//! an exclusive lock on `<file>.lock` next to a SQLite database (released by the
//! operating system if the process dies), or a PostgreSQL session-level advisory lock
//! on a connection it keeps open (released when that connection closes). A second
//! server on the same database refuses to start, saying why.
//!
//! Several servers on one PostgreSQL database behind a load balancer (sessions
//! partitioned between them) are not supported yet: run one server per database.

use std::path::PathBuf;

use sqlx::Connection as _;

use crate::store::StoreError;

/// The advisory lock key parley's servers take on a PostgreSQL database.
const PG_LOCK_KEY: i64 = 0x7061_726c_6579; // "parley"

/// A held database lock: released when dropped.
#[derive(Debug)]
pub enum DbLock {
    /// The lock file of a SQLite database, locked.
    File(std::fs::File, PathBuf),
    /// The connection that holds the PostgreSQL advisory lock.
    Postgres(std::sync::Mutex<sqlx::AnyConnection>),
}

/// Takes the lock of the database at `url` (a `sqlite://` or `postgres://` URL).
pub async fn lock(url: &str) -> Result<DbLock, StoreError> {
    if let Some(file) = crate::sqlite_file(url) {
        let mut path = file.into_os_string();
        path.push(".lock");
        let path = PathBuf::from(path);
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| {
                StoreError::Corrupt(format!("cannot open the lock file {}: {e}", path.display()))
            })?;
        return match f.try_lock() {
            Ok(()) => Ok(DbLock::File(f, path)),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Corrupt(format!(
                "another parley server is using this database (it holds {}): stop it \
                 first, or give this one another --db",
                path.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Corrupt(format!(
                "cannot lock {}: {e}",
                path.display()
            ))),
        };
    }
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await?;
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(PG_LOCK_KEY)
        .fetch_one(&mut conn)
        .await?;
    if got {
        Ok(DbLock::Postgres(std::sync::Mutex::new(conn)))
    } else {
        Err(StoreError::Corrupt(
            "another parley server is using this database (it holds parley's advisory \
             lock): stop it first, or give this one another database"
                .into(),
        ))
    }
}
