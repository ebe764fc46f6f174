//! `parley serve` and `parley audit`.

use std::path::PathBuf;

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
    /// The server key's file, kept outside the database (created, mode 0600, on the
    /// first start). Default: `<db>.key` next to a SQLite file; PostgreSQL needs it.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// A host name the server is reached by (repeatable). IP addresses and `localhost`
    /// are always answered; a server on a loopback address answers no other name
    /// unless given here (a guard against DNS rebinding), and a server on another
    /// address answers only these names once one is given.
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_host: Vec<String>,
}

/// Arguments of `parley audit`.
#[derive(clap::Args)]
pub struct AuditArgs {
    /// The database, as for `parley serve`.
    #[arg(long, default_value = "parley.db")]
    pub db: String,
    /// The server key's file, as for `parley serve`.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Only this session.
    #[arg(long)]
    pub session: Option<String>,
    /// Check a receipt a seat was given (a JSON file) instead: that this server issued
    /// it and that its record is in the log.
    #[arg(long, conflicts_with = "session")]
    pub receipt: Option<PathBuf>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The server's log lines go to stderr (`RUST_LOG` sets the level; default info).
fn log_to_stderr() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Runs `parley serve`.
pub fn serve(args: &Args) -> anyhow::Result<()> {
    log_to_stderr();
    let create_token = match std::env::var("PARLEY_CREATE_TOKEN") {
        Ok(t) if t.trim().len() >= 16 => t.trim().to_string(),
        Ok(_) => {
            anyhow::bail!("PARLEY_CREATE_TOKEN: the creator token must have at least 16 characters")
        }
        Err(_) => parley_server::new_creator_token(),
    };
    let mut options = parley_server::Options::new(&args.db, &create_token);
    options.key.clone_from(&args.key);
    options.allowed_hosts.clone_from(&args.allow_host);
    let db = parley_server::redact(&options.db);
    runtime()?
        .block_on(parley_server::serve(
            &options,
            &args.addr,
            |lobby, count| {
                println!(
                    "parley serve: open {lobby} to create sessions ({count} stored sessions, \
                 database {db})"
                );
            },
        ))
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Runs `parley audit`.
pub fn audit(args: &AuditArgs) -> anyhow::Result<()> {
    log_to_stderr();
    if !args.db.contains("://") && !std::path::Path::new(&args.db).exists() {
        anyhow::bail!("--db: there is no database {}", args.db);
    }
    let where_ = || format!("reading {}", parley_server::redact(&args.db));
    if let Some(file) = &args.receipt {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("--receipt: cannot read {}", file.display()))?;
        let receipt: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("--receipt: {} is not JSON", file.display()))?;
        // Accept the receipt itself or a whole action response holding one.
        let receipt = receipt.get("receipt").cloned().unwrap_or(receipt);
        let verdict = runtime()?
            .block_on(parley_server::verify_receipt(
                &args.db,
                args.key.as_deref(),
                &receipt,
            ))
            .with_context(where_)?;
        return match verdict {
            Ok(found) => {
                println!("receipt OK: {found}");
                Ok(())
            }
            Err(problem) => anyhow::bail!("receipt REFUSED: {problem}"),
        };
    }
    let report = runtime()?
        .block_on(parley_server::audit(
            &args.db,
            args.key.as_deref(),
            args.session.as_deref(),
        ))
        .with_context(where_)?;
    if let Some(id) = &args.session {
        if report.checked == 0 && report.problems.is_empty() {
            anyhow::bail!("there is no session {id}");
        }
    }
    for (id, warning) in &report.warnings {
        println!("session {id}: note: {warning}");
    }
    for (id, problem) in &report.problems {
        println!("session {id}: TAMPERED: {problem}");
    }
    if report.problems.is_empty() {
        println!(
            "{} session{}: every hash chain, MAC, pinned configuration, token list, status \
             and anchor verifies",
            report.checked,
            if report.checked == 1 { "" } else { "s" }
        );
        Ok(())
    } else {
        let sessions: std::collections::BTreeSet<&str> =
            report.problems.iter().map(|(id, _)| id.as_str()).collect();
        anyhow::bail!(
            "{} problem(s) in {} session(s) fail verification",
            report.problems.len(),
            sessions.len()
        )
    }
}
