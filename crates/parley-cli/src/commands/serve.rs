//! `parley serve` and `parley audit`.

use anyhow::Context;

/// Arguments of `parley serve`.
#[derive(clap::Args)]
pub struct Args {
    /// The database: a SQLite file (created if missing) or a PostgreSQL URL
    /// (`postgres://user:password@host/database`).
    #[arg(long, default_value = "parley.db")]
    pub db: String,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub addr: String,
}

/// Arguments of `parley audit`.
#[derive(clap::Args)]
pub struct AuditArgs {
    /// The database, as for `parley serve`.
    #[arg(long, default_value = "parley.db")]
    pub db: String,
    /// Only this session.
    #[arg(long)]
    pub session: Option<String>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Runs `parley serve`.
pub fn serve(args: &Args) -> anyhow::Result<()> {
    runtime()?
        .block_on(parley_server::serve(&args.db, &args.addr))
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Runs `parley audit`.
pub fn audit(args: &AuditArgs) -> anyhow::Result<()> {
    if !args.db.contains("://") && !std::path::Path::new(&args.db).exists() {
        anyhow::bail!("--db: there is no database {}", args.db);
    }
    let (checked, failures) = runtime()?
        .block_on(parley_server::audit(&args.db, args.session.as_deref()))
        .with_context(|| format!("reading {}", parley_server::redact(&args.db)))?;
    if let Some(id) = &args.session {
        if checked == 0 {
            anyhow::bail!("there is no session {id}");
        }
    }
    for (id, error) in &failures {
        println!("session {id}: TAMPERED: {error}");
    }
    if failures.is_empty() {
        println!("{checked} sessions: every hash chain verifies");
        Ok(())
    } else {
        anyhow::bail!("{} of {checked} sessions fail verification", failures.len())
    }
}
