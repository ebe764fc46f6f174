//! `parley serve` and `parley audit`.

use std::path::PathBuf;
use std::time::Duration;

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
    /// Resource limits (`docs/api.md`, "Limits").
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// The defaults of `parley serve`'s limits.
fn defaults() -> parley_server::Limits {
    parley_server::Limits::default()
}

/// Per second and burst of a default rate (0 when unlimited).
fn rate_default(rate: Option<parley_server::Rate>) -> (f64, f64) {
    rate.map_or((0.0, 0.0), |r| (r.per_second, r.burst))
}

/// The resource limits of `parley serve` (`docs/api.md`, "Limits").
#[derive(clap::Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    /// Open connections at most (WebSockets included); a connection beyond them is
    /// answered 503 and closed at once. Lowered to the open-file limit less 128.
    #[arg(long, value_name = "N", default_value_t = defaults().max_connections)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers, from the connection's
    /// opening or its previous answer.
    #[arg(long, value_name = "SECONDS", default_value_t = defaults().header_timeout.as_secs_f64())]
    pub header_timeout: f64,
    /// Seconds an idle keep-alive connection is kept open (0: one request per
    /// connection).
    #[arg(long, value_name = "SECONDS", default_value_t = defaults().keep_alive_timeout.as_secs_f64())]
    pub keep_alive_timeout: f64,
    /// Seconds a client has to send a request's body once its headers are in (408
    /// past it).
    #[arg(long, value_name = "SECONDS", default_value_t = defaults().body_timeout.as_secs_f64())]
    pub body_timeout: f64,
    /// Sessions a client address may create a second, on average (0: no limit).
    #[arg(long, value_name = "PER_SECOND", default_value_t = rate_default(defaults().create_rate).0)]
    pub create_rate: f64,
    /// Sessions a client address may create at once.
    #[arg(long, value_name = "N", default_value_t = rate_default(defaults().create_rate).1)]
    pub create_burst: f64,
    /// Requests without a valid token a client address may send a second (0: no
    /// limit).
    #[arg(long, value_name = "PER_SECOND", default_value_t = rate_default(defaults().address_rate).0)]
    pub address_rate: f64,
    /// Requests without a valid token a client address may send at once.
    #[arg(long, value_name = "N", default_value_t = rate_default(defaults().address_rate).1)]
    pub address_burst: f64,
    /// Requests a session's token may send a second (0: no limit).
    #[arg(long, value_name = "PER_SECOND", default_value_t = rate_default(defaults().token_rate).0)]
    pub token_rate: f64,
    /// Requests a session's token may send at once.
    #[arg(long, value_name = "N", default_value_t = rate_default(defaults().token_rate).1)]
    pub token_burst: f64,
    /// Sessions waiting or running at once; beyond, creating one is a 503.
    #[arg(long, value_name = "N", default_value_t = defaults().max_live_sessions)]
    pub max_live_sessions: usize,
    /// Outcomes a session's scenario may have (the product of its issues' values).
    #[arg(long, value_name = "N", default_value_t = defaults().max_outcomes)]
    pub max_outcomes: u64,
    /// Values one issue of a scenario may have.
    #[arg(long, value_name = "N", default_value_t = defaults().max_issue_values)]
    pub max_issue_values: u64,
    /// Issues a scenario may have.
    #[arg(long, value_name = "N", default_value_t = defaults().max_issues)]
    pub max_issues: usize,
    /// Roles a session may have (its parties, and the mediator).
    #[arg(long, value_name = "N", default_value_t = defaults().max_roles)]
    pub max_roles: usize,
    /// Rounds × roles a session may have (rounds stay at most 10,000).
    #[arg(long, value_name = "N", default_value_t = defaults().max_role_rounds)]
    pub max_role_rounds: u64,
    /// Open WebSockets per token; the next is closed with 4429.
    #[arg(long, value_name = "N", default_value_t = defaults().max_sockets_per_token)]
    pub max_sockets_per_token: usize,
    /// Seconds between the pings of an open WebSocket.
    #[arg(long, value_name = "SECONDS", default_value_t = defaults().ws_ping_interval.as_secs_f64())]
    pub ws_ping: f64,
    /// Seconds a WebSocket's client may stay silent (no pong, nothing) before the
    /// socket is closed with 4408.
    #[arg(long, value_name = "SECONDS", default_value_t = defaults().ws_idle_timeout.as_secs_f64())]
    pub ws_idle_timeout: f64,
}

impl LimitArgs {
    /// The limits these flags give.
    pub fn limits(&self) -> anyhow::Result<parley_server::Limits> {
        let seconds = |flag: &str, value: f64, zero_ok: bool| -> anyhow::Result<Duration> {
            match Duration::try_from_secs_f64(value) {
                Ok(d) if zero_ok || !d.is_zero() => Ok(d),
                _ => anyhow::bail!(
                    "--{flag}: expected {} seconds, not {value}",
                    if zero_ok { "0 or more" } else { "more than 0" }
                ),
            }
        };
        let rate = |flag: &str, per_second: f64, burst: f64| -> anyhow::Result<_> {
            if !(per_second.is_finite() && per_second >= 0.0 && burst.is_finite() && burst >= 0.0) {
                anyhow::bail!("--{flag}-rate, --{flag}-burst: expected numbers of 0 or more");
            }
            Ok(parley_server::Rate::from_flags(per_second, burst))
        };
        Ok(parley_server::Limits {
            max_connections: self.max_connections,
            header_timeout: seconds("header-timeout", self.header_timeout, false)?,
            keep_alive_timeout: seconds("keep-alive-timeout", self.keep_alive_timeout, true)?,
            body_timeout: seconds("body-timeout", self.body_timeout, false)?,
            create_rate: rate("create", self.create_rate, self.create_burst)?,
            address_rate: rate("address", self.address_rate, self.address_burst)?,
            token_rate: rate("token", self.token_rate, self.token_burst)?,
            max_live_sessions: self.max_live_sessions,
            max_outcomes: self.max_outcomes,
            max_issue_values: self.max_issue_values,
            max_issues: self.max_issues,
            max_roles: self.max_roles,
            max_role_rounds: self.max_role_rounds,
            max_sockets_per_token: self.max_sockets_per_token,
            ws_ping_interval: seconds("ws-ping", self.ws_ping, false)?,
            ws_idle_timeout: seconds("ws-idle-timeout", self.ws_idle_timeout, false)?,
        })
    }
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
    options.limits = args.limits.limits()?;
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
