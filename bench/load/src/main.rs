//! `parley-load`: a load benchmark of the live server, `parley serve`, written so
//! that the client is not the bottleneck (the Rust counterpart of
//! `bench/server_load.py`, whose Python client used 80% of a core).
//!
//! It starts `parley serve` on a fresh temporary SQLite database (or `--db`) on a
//! free loopback port, or drives a running server (`--url`, `--create-token`).
//!
//! - **Drive** (`--sessions N`, default 200): creates N sessions of the bundled
//!   bilateral scenario `job-offer` under `saop`, each with two program seats, joins
//!   every seat, and plays all N at once with the policy of `server_load.py`,
//!   until every session has ended. Reports actions/s, the latency of each kind of
//!   request, the answers by HTTP status, and the CPU time of client and server,
//!   the server's threads and memory.
//! - **Hold** (`--hold N`): creates N sessions whose seats join but never act, and
//!   reports the server's threads and memory with N live sessions held. With
//!   `--sessions` given too, the held sessions stay live during the drive.
//!
//! See bench/README.md ("Live server load, Rust client: parley-load").

mod http;
mod procfs;
mod server;
mod sessions;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use reqwest::Method;
use serde::Serialize;

use http::{pct, Http, Kind, Stats, KINDS};
use procfs::{Group, Mem, Sample, Sampler};
use sessions::{Ctx, ScenarioInfo, Sess, SetupCfg};

/// Load benchmark of `parley serve`: drives N live sessions at once (or holds N
/// idle ones) and reports throughput, latency, and the CPU, threads and memory of
/// client and server.
#[derive(Parser, Debug)]
#[command(name = "parley-load")]
struct Args {
    /// The parley binary (relative to the current directory or the repository root).
    #[arg(long, default_value = "target/release/parley")]
    parley: PathBuf,
    /// Database for the server (default: a fresh SQLite file in a temporary
    /// folder), e.g. postgres://user:pw@host/db (not emptied first).
    #[arg(long)]
    db: Option<String>,
    /// Drive an already running server at this URL (http://host:port) instead of
    /// starting one.
    #[arg(long)]
    url: Option<String>,
    /// With --url: the server's creator token (default: $PARLEY_CREATE_TOKEN).
    #[arg(long)]
    create_token: Option<String>,
    /// With --url: the server's process id, to read its CPU time, threads and memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Extra argument for `parley serve` (repeatable).
    #[arg(long = "serve-arg", allow_hyphen_values = true)]
    serve_arg: Vec<String>,
    /// Sessions driven at once (default 200; none when only --hold is given).
    #[arg(long)]
    sessions: Option<usize>,
    /// Deadline of each session in rounds.
    #[arg(long, default_value_t = 40)]
    rounds: u32,
    /// A bundled bilateral scenario.
    #[arg(long, default_value = "job-offer")]
    scenario: String,
    /// Session i gets seed SEED+i; the clients' random offers too.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// POST /evaluate before every offer, as a real client would.
    #[arg(long)]
    evaluate: bool,
    /// Read the whole view every time (as `bench/server_load.py` does) instead of
    /// only the events not yet read (`GET …?since=N`).
    #[arg(long)]
    full_views: bool,
    /// Worker threads of the client's tokio runtime.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Sessions being created and joined at once during the setup.
    #[arg(long, default_value_t = 32)]
    setup_concurrency: usize,
    /// Also create N sessions whose seats join but never act, and report the
    /// server's threads and memory with them live (before any drive).
    #[arg(long)]
    hold: Option<usize>,
    /// How long to keep the held sessions (sampling the server) before reporting.
    #[arg(long, default_value_t = 5.0)]
    hold_seconds: f64,
    /// Give up driving after this long.
    #[arg(long, default_value_t = 600.0)]
    max_seconds: f64,
    /// Retries of one request answered 429 or 503.
    #[arg(long, default_value_t = 100)]
    max_retries: u32,
    /// Seconds to wait for the server to start.
    #[arg(long, default_value_t = 30.0)]
    startup_timeout: f64,
    /// Run `parley audit --db DB` after stopping the server, and time it.
    #[arg(long)]
    audit: bool,
    /// Keep the temporary folder (database, key, server.log).
    #[arg(long)]
    keep_db: bool,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Include every sample of the server's threads and memory (every 500 ms)
    /// in the JSON.
    #[arg(long)]
    json_timeline: bool,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

/// Latency summary of one kind, in ms.
#[derive(Serialize, Clone)]
struct LatSummary {
    n: usize,
    mean_ms: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn summarize(values: &[f64]) -> Option<LatSummary> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    Some(LatSummary {
        n: v.len(),
        mean_ms: 1000.0 * v.iter().sum::<f64>() / v.len() as f64,
        p50_ms: 1000.0 * pct(&v, 50.0),
        p90_ms: 1000.0 * pct(&v, 90.0),
        p99_ms: 1000.0 * pct(&v, 99.0),
        max_ms: 1000.0 * v[v.len() - 1],
    })
}

/// Server memory in MiB and threads.
#[derive(Serialize, Clone, Copy)]
struct MemMib {
    rss_mib: f64,
    peak_rss_mib: f64,
    threads: u64,
}

impl From<Mem> for MemMib {
    fn from(m: Mem) -> Self {
        MemMib {
            rss_mib: m.rss_kib as f64 / 1024.0,
            peak_rss_mib: m.hwm_kib as f64 / 1024.0,
            threads: m.threads,
        }
    }
}

#[derive(Serialize)]
struct HoldReport {
    sessions_requested: usize,
    sessions_held: usize,
    setup_seconds: f64,
    sessions_set_up_per_second: f64,
    running: u64,
    waiting_for_a_seat: u64,
    hold_seconds: f64,
    server_before: Option<MemMib>,
    server_after_setup: Option<MemMib>,
    server_end: Option<MemMib>,
    server_max_threads_sampled: Option<u64>,
    server_max_rss_sampled_mib: Option<f64>,
    rss_per_held_session_kib: Option<f64>,
    threads_per_held_session: Option<f64>,
    server_cpu_seconds_setup: Option<f64>,
    client_cpu_seconds_setup: Option<f64>,
}

#[derive(Serialize)]
struct DriveReport {
    sessions_requested: usize,
    sessions_created: u64,
    sessions_joined: usize,
    held_sessions_live_during_drive: usize,
    sessions_running_at_start: u64,
    peak_sessions_driven_at_once: usize,
    sessions_ended: u64,
    sessions_failed: u64,
    sessions_unfinished: u64,
    results: BTreeMap<String, u64>,
    setup_seconds: f64,
    connect_seconds: f64,
    connections_warmed: u64,
    drive_seconds: f64,
    actions: u64,
    actions_per_second: f64,
    requests: u64,
    requests_per_second: f64,
    views_without_pending: u64,
    conflicts_409: u64,
    client_threads: usize,
    client_cpu_seconds: Option<f64>,
    client_cpu_share_of_one_core: Option<f64>,
    client_sampler_cpu_seconds: Option<f64>,
    client_system_share: Option<f64>,
    server_system_share: Option<f64>,
    server_cpu_seconds: Option<f64>,
    server_cpu_share_of_one_core: Option<f64>,
    server_cpu_by_thread_group: Vec<(String, Group)>,
    machine_busy_fraction: Option<f64>,
    machine_cpus: usize,
    server_after_setup: Option<MemMib>,
    server_end: Option<MemMib>,
    server_max_threads_sampled: Option<u64>,
    loadavg_before: Option<f64>,
    loadavg_after: Option<f64>,
}

#[derive(Serialize)]
struct AuditReport {
    rc: Option<i32>,
    seconds: f64,
    output_tail: String,
}

#[derive(Serialize)]
struct Report {
    command: String,
    machine: String,
    scenario: String,
    protocol: &'static str,
    rounds: u32,
    seed: u64,
    evaluate: bool,
    full_views: bool,
    db_kind: String,
    server: String,
    server_pid: Option<u32>,
    hold: Option<HoldReport>,
    drive: Option<DriveReport>,
    latency: BTreeMap<String, LatSummary>,
    http_answers_by_status: BTreeMap<String, BTreeMap<String, u64>>,
    retried_429: u64,
    retried_503: u64,
    retry_wait_seconds: f64,
    transport_errors_retried: u64,
    errors: BTreeMap<String, u64>,
    counts: BTreeMap<String, u64>,
    server_peak_rss_mib: Option<f64>,
    server_max_threads_sampled: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_timeline: Option<Vec<Sample>>,
    audit: Option<AuditReport>,
}

struct Target {
    base: String,
    create_token: String,
    pid: Option<u32>,
}

fn main() {
    match real_main() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

fn real_main() -> anyhow::Result<i32> {
    let args = Args::parse();
    let drive_n = match (args.sessions, args.hold) {
        (Some(n), _) => Some(n),
        (None, None) => Some(200),
        (None, Some(_)) => None,
    };
    if drive_n == Some(0) || args.rounds == 0 || args.client_threads == 0 {
        bail!("--sessions, --rounds and --client-threads must be at least 1");
    }
    let tck = procfs::clk_tck();
    let mut binary = None;
    let mut server = None;
    let target = if let Some(url) = &args.url {
        let token = args
            .create_token
            .clone()
            .or_else(|| std::env::var("PARLEY_CREATE_TOKEN").ok())
            .context("--url needs --create-token (or $PARLEY_CREATE_TOKEN)")?;
        Target {
            base: url.trim_end_matches('/').to_string(),
            create_token: token,
            pid: args.server_pid,
        }
    } else {
        let b = server::find_binary(&args.parley)?;
        let s = server::start(
            &b,
            args.db.as_deref(),
            &args.serve_arg,
            Duration::from_secs_f64(args.startup_timeout),
            !args.quiet,
        )?;
        binary = Some(b);
        let t = Target {
            base: s.base.clone(),
            create_token: s.create_token.clone(),
            pid: Some(s.pid),
        };
        server = Some(s);
        t
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .thread_name("load-client")
        .enable_all()
        .build()
        .context("starting the client's runtime")?;
    let result = rt.block_on(run(&args, &target, drive_n, tck));
    drop(rt);
    let mut report = match result {
        Ok(r) => r,
        Err(e) => {
            if let Some(s) = &server {
                eprintln!("{}", s.log_tail());
            }
            return Err(e);
        }
    };
    let db = server
        .as_ref()
        .map(|s| s.db.clone())
        .or_else(|| args.db.clone());
    if let Some(s) = server.as_mut() {
        s.stop();
    }
    if args.audit {
        if let (Some(b), Some(db)) = (&binary, &db) {
            let t0 = Instant::now();
            let out = std::process::Command::new(b)
                .args(["audit", "--db", db])
                .output()
                .context("running parley audit")?;
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            let tail: String = text
                .chars()
                .rev()
                .take(2000)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            report.audit = Some(AuditReport {
                rc: out.status.code(),
                seconds: t0.elapsed().as_secs_f64(),
                output_tail: tail,
            });
        } else {
            eprintln!("--audit needs a server this program started (or --db with a binary)");
        }
    }
    report.db_kind = match db.as_deref() {
        Some(d) if d.starts_with("postgres://") || d.starts_with("postgresql://") => {
            "postgres".into()
        }
        Some(_) if args.db.is_some() => "sqlite".into(),
        Some(_) => "sqlite (temp file)".into(),
        None => "unknown (--url)".into(),
    };
    println!("{}", markdown(&report));
    if let Some(path) = &args.json_out {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(mut s) = server {
        s.stop();
        if let Some(tmp) = s.tmp.take() {
            if args.keep_db {
                let kept = tmp.keep();
                eprintln!("kept {} (database and server.log)", kept.display());
            }
        }
    }
    let failed = report
        .drive
        .as_ref()
        .map(|d| {
            d.sessions_failed + d.sessions_unfinished > 0
                || d.sessions_joined < d.sessions_requested
        })
        .unwrap_or(false);
    let hold_short = report
        .hold
        .as_ref()
        .map(|h| h.sessions_held < h.sessions_requested)
        .unwrap_or(false);
    let audit_failed = report.audit.as_ref().is_some_and(|a| a.rc != Some(0));
    Ok(if failed || hold_short || audit_failed {
        1
    } else {
        0
    })
}

fn client_cpu(tck: f64) -> Option<f64> {
    procfs::cpu_seconds("self", tck)
}

fn sys_share(before: Option<(f64, f64)>, after: Option<(f64, f64)>) -> Option<f64> {
    let (b, a) = (before?, after?);
    let total = (a.0 - b.0) + (a.1 - b.1);
    (total > 0.0).then(|| (a.1 - b.1) / total)
}

fn server_cpu(pid: Option<u32>, tck: f64) -> Option<f64> {
    pid.and_then(|p| procfs::cpu_seconds(&p.to_string(), tck))
}

fn diff(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(b? - a?)
}

async fn wait_ready(http: &Http, timeout: Duration) -> anyhow::Result<Vec<ScenarioInfo>> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut st = Stats::default();
        if let Ok(a) = http
            .call(
                Method::GET,
                "/api/scenarios",
                None,
                None,
                &mut st,
                Kind::Warmup,
            )
            .await
        {
            if a.status == 200 {
                return serde_json::from_slice(&a.body).context("reading GET /api/scenarios");
            }
        }
        if Instant::now() > deadline {
            bail!("the server did not answer GET /api/scenarios within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates `n` sessions and joins their seats: the sessions, the setup's statistics
/// and how long it took (s).
async fn set_up(
    http: &Arc<Http>,
    create_token: &Arc<str>,
    scenario: &ScenarioInfo,
    args: &Args,
    n: usize,
    seed0: u64,
    progress: bool,
) -> (Vec<Sess>, Stats, f64) {
    let t0 = Instant::now();
    let cfg = SetupCfg {
        rounds: args.rounds,
        n,
        seed0,
        concurrency: args.setup_concurrency,
        progress,
    };
    let (sess, st) =
        sessions::setup(Arc::clone(http), Arc::clone(create_token), scenario, &cfg).await;
    (sess, st, t0.elapsed().as_secs_f64())
}

async fn run(
    args: &Args,
    target: &Target,
    drive_n: Option<usize>,
    tck: f64,
) -> anyhow::Result<Report> {
    let progress = !args.quiet;
    let http = Arc::new(Http::new(&target.base, args.max_retries)?);
    let scenarios = wait_ready(&http, Duration::from_secs_f64(args.startup_timeout)).await?;
    let Some(scenario) = scenarios.iter().find(|s| s.id == args.scenario).cloned() else {
        bail!(
            "no bundled scenario {:?} (have {:?})",
            args.scenario,
            scenarios.iter().map(|s| &s.id).collect::<Vec<_>>()
        );
    };
    let create_token: Arc<str> = target.create_token.as_str().into();
    let pid = target.pid;
    let sampler = pid.map(|p| Sampler::start(p, Duration::from_millis(500), tck));
    let mem_now = || pid.and_then(procfs::mem);
    let mut all = Stats::default();

    // ---- hold: sessions whose seats join but never act ----------------------
    let mut held = Vec::new();
    let hold_report = if let Some(n) = args.hold {
        let t_s = sampler.as_ref().map(Sampler::now);
        let before = sampler
            .as_ref()
            .and_then(Sampler::sample_now)
            .and(mem_now());
        let (c0, s0) = (client_cpu(tck), server_cpu(pid, tck));
        if progress {
            eprintln!(
                "hold: creating {n} sessions and joining their seats ({} at once) ...",
                args.setup_concurrency
            );
        }
        let (sess, st, setup_seconds) = set_up(
            &http,
            &create_token,
            &scenario,
            args,
            n,
            args.seed + 1_000_000,
            progress,
        )
        .await;
        let (c1, s1) = (client_cpu(tck), server_cpu(pid, tck));
        all.merge(st);
        let after_setup = mem_now();
        if progress {
            eprintln!(
                "  {} sessions held after {setup_seconds:.1} s; checking their views, then holding {} s",
                sess.len(),
                args.hold_seconds
            );
        }
        let check = sessions::check_held(Arc::clone(&http), &sess, args.setup_concurrency).await;
        let running = check.get("held sessions running");
        let waiting = check.get("held sessions waiting for a seat's action");
        all.merge(check);
        tokio::time::sleep(Duration::from_secs_f64(args.hold_seconds.max(0.0))).await;
        let _ = sampler.as_ref().and_then(Sampler::sample_now);
        let end_mem = mem_now();
        let max_threads = match (&sampler, t_s) {
            (Some(s), Some(t)) => s.max_threads_since(t),
            _ => None,
        };
        let max_rss = match (&sampler, t_s) {
            (Some(s), Some(t)) => s.max_rss_since(t).map(|k| k as f64 / 1024.0),
            _ => None,
        };
        let held_n = sess.len();
        let per = |f: fn(&Mem) -> u64| -> Option<f64> {
            match (before, end_mem) {
                (Some(b), Some(e)) if held_n > 0 => {
                    Some((f(&e) as f64 - f(&b) as f64) / held_n as f64)
                }
                _ => None,
            }
        };
        held = sess;
        Some(HoldReport {
            sessions_requested: n,
            sessions_held: held_n,
            setup_seconds,
            sessions_set_up_per_second: held_n as f64 / setup_seconds.max(1e-9),
            running,
            waiting_for_a_seat: waiting,
            hold_seconds: args.hold_seconds,
            server_before: before.map(Into::into),
            server_after_setup: after_setup.map(Into::into),
            server_end: end_mem.map(Into::into),
            server_max_threads_sampled: max_threads,
            server_max_rss_sampled_mib: max_rss,
            rss_per_held_session_kib: per(|m| m.rss_kib),
            threads_per_held_session: per(|m| m.threads),
            server_cpu_seconds_setup: diff(s0, s1),
            client_cpu_seconds_setup: diff(c0, c1),
        })
    } else {
        None
    };

    // ---- drive ---------------------------------------------------------------
    let drive_report = if let Some(n) = drive_n {
        if progress {
            eprintln!(
                "creating {n} sessions and joining {} seats ({} at once) ...",
                n * scenario.parties.len(),
                args.setup_concurrency
            );
        }
        let (sess, st, setup_seconds) = set_up(
            &http,
            &create_token,
            &scenario,
            args,
            n,
            args.seed,
            progress,
        )
        .await;
        let create_errors: u64 = st
            .errors
            .iter()
            .filter(|(k, _)| k.starts_with(Kind::PostSessions.name()))
            .map(|(_, v)| v)
            .sum();
        all.merge(st);
        if sess.is_empty() {
            bail!("no session could be created and joined: {:?}", all.errors);
        }
        if progress {
            eprintln!("  {} sessions ready in {setup_seconds:.1} s", sess.len());
        }
        let after_setup = mem_now();
        let t1 = Instant::now();
        let warm = sessions::warm_up(Arc::clone(&http), sess.len()).await;
        let connect_seconds = t1.elapsed().as_secs_f64();
        let connections_warmed = warm.status[Kind::Warmup as usize]
            .get(&200)
            .copied()
            .unwrap_or(0);
        all.merge(warm);

        // The clock starts.
        let t_s = sampler.as_ref().map(Sampler::now);
        if let Some(s) = &sampler {
            s.sample_now();
            s.begin_tasks();
        }
        let load_before = procfs::loadavg();
        let (c0, s0, m0) = (client_cpu(tck), server_cpu(pid, tck), procfs::machine());
        let split0 = (
            procfs::cpu_split("self", tck),
            pid.and_then(|p| procfs::cpu_split(&p.to_string(), tck)),
        );
        let smp0 = sampler.as_ref().and_then(Sampler::own_cpu);
        let ctx = Arc::new(Ctx {
            http: Arc::clone(&http),
            issues: scenario.issues.clone(),
            evaluate: args.evaluate,
            full_views: args.full_views,
            deadline: Instant::now() + Duration::from_secs_f64(args.max_seconds),
            actions: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        });
        let t2 = Instant::now();
        let reporter = progress.then(|| {
            let ctx = Arc::clone(&ctx);
            tokio::spawn(async move {
                let start = Instant::now();
                loop {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    eprintln!(
                        "  {:5.0} s: {} actions, {} sessions active",
                        start.elapsed().as_secs_f64(),
                        ctx.actions.load(Ordering::Relaxed),
                        ctx.active.load(Ordering::Relaxed)
                    );
                }
            })
        });
        let mut set = tokio::task::JoinSet::new();
        for s in sess.iter().cloned() {
            set.spawn(sessions::drive_session(Arc::clone(&ctx), s));
        }
        let mut ds = Stats::default();
        while let Some(res) = set.join_next().await {
            match res {
                Ok(st) => ds.merge(st),
                Err(e) => {
                    ds.error_msg(Kind::PostActions, 0, &format!("session task: {e}"));
                    ds.bump("sessions_failed", 1);
                }
            }
        }
        let drive_seconds = t2.elapsed().as_secs_f64();
        let (c1, s1, m1) = (client_cpu(tck), server_cpu(pid, tck), procfs::machine());
        let split1 = (
            procfs::cpu_split("self", tck),
            pid.and_then(|p| procfs::cpu_split(&p.to_string(), tck)),
        );
        let load_after = procfs::loadavg();
        if let Some(r) = reporter {
            r.abort();
        }
        let groups = sampler.as_ref().map(Sampler::end_tasks).unwrap_or_default();
        let _ = sampler.as_ref().and_then(Sampler::sample_now);
        let smp1 = sampler.as_ref().and_then(Sampler::own_cpu);
        let end_mem = mem_now();
        let max_threads = match (&sampler, t_s) {
            (Some(s), Some(t)) => s.max_threads_since(t),
            _ => None,
        };
        let requests = ds.answers(&[Kind::GetView, Kind::PostActions, Kind::PostEvaluate]);
        let client_cpu_seconds = diff(c0, c1);
        let server_cpu_seconds = diff(s0, s1);
        let results = ds
            .count
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("result: ").map(|r| (r.to_string(), *v)))
            .collect();
        let report = DriveReport {
            sessions_requested: n,
            sessions_created: n as u64 - create_errors,
            sessions_joined: sess.len(),
            held_sessions_live_during_drive: held.len(),
            sessions_running_at_start: ds.get("sessions_running_at_start"),
            peak_sessions_driven_at_once: ctx.peak.load(Ordering::Relaxed),
            sessions_ended: ds.get("sessions_ended"),
            sessions_failed: ds.get("sessions_failed"),
            sessions_unfinished: ds.get("sessions_unfinished"),
            results,
            setup_seconds,
            connect_seconds,
            connections_warmed,
            drive_seconds,
            actions: ds.get("actions"),
            actions_per_second: ds.get("actions") as f64 / drive_seconds,
            requests,
            requests_per_second: requests as f64 / drive_seconds,
            views_without_pending: ds.get("views_without_pending"),
            conflicts_409: ds.get("conflicts (409)"),
            client_threads: args.client_threads,
            client_cpu_seconds,
            client_cpu_share_of_one_core: client_cpu_seconds.map(|c| c / drive_seconds),
            client_sampler_cpu_seconds: diff(smp0, smp1),
            client_system_share: sys_share(split0.0, split1.0),
            server_system_share: sys_share(split0.1, split1.1),
            server_cpu_seconds,
            server_cpu_share_of_one_core: server_cpu_seconds.map(|c| c / drive_seconds),
            server_cpu_by_thread_group: groups,
            machine_busy_fraction: match (m0, m1) {
                (Some(a), Some(b)) => Some((b.0 - a.0) as f64 / (b.1 - a.1).max(1) as f64),
                _ => None,
            },
            machine_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            server_after_setup: after_setup.map(Into::into),
            server_end: end_mem.map(Into::into),
            server_max_threads_sampled: max_threads,
            loadavg_before: load_before,
            loadavg_after: load_after,
        };
        all.merge(ds);
        Some(report)
    } else {
        None
    };

    let final_mem = mem_now();
    let (timeline, _) = match sampler {
        Some(s) => s.stop(),
        None => (Vec::new(), None),
    };
    let server_max_threads_sampled = timeline.iter().map(|s| s.threads).max();
    let latency = KINDS
        .iter()
        .filter(|&&k| k != Kind::Warmup)
        .filter_map(|&k| summarize(&all.lat[k as usize]).map(|s| (k.name().to_string(), s)))
        .collect();
    let http_answers_by_status = KINDS
        .iter()
        .filter(|k| !all.status[**k as usize].is_empty())
        .map(|&k| {
            (
                k.name().to_string(),
                all.status[k as usize]
                    .iter()
                    .map(|(s, n)| {
                        let key = if *s == 0 {
                            "transport error".to_string()
                        } else {
                            s.to_string()
                        };
                        (key, *n)
                    })
                    .collect(),
            )
        })
        .collect();
    let sum_prefix = |p: &str| -> u64 {
        all.count
            .iter()
            .filter(|(k, _)| k.starts_with(p))
            .map(|(_, v)| v)
            .sum()
    };
    let argv: Vec<String> = std::env::args().collect();
    Ok(Report {
        command: argv.join(" "),
        machine: format!(
            "{} CPUs ({}), Linux, load client with {} tokio worker thread(s)",
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            procfs::cpu_model(),
            args.client_threads
        ),
        scenario: scenario.id.clone(),
        protocol: "saop",
        rounds: args.rounds,
        seed: args.seed,
        evaluate: args.evaluate,
        full_views: args.full_views,
        db_kind: String::new(),
        server: target.base.clone(),
        server_pid: pid,
        hold: hold_report,
        drive: drive_report,
        latency,
        http_answers_by_status,
        retried_429: sum_prefix("retried 429"),
        retried_503: sum_prefix("retried 503"),
        retry_wait_seconds: all.retry_wait_seconds,
        transport_errors_retried: all.get("transport errors retried"),
        errors: all.errors.clone(),
        counts: all.count.clone(),
        server_peak_rss_mib: final_mem.map(|m| m.hwm_kib as f64 / 1024.0),
        server_max_threads_sampled,
        server_timeline: args.json_timeline.then_some(timeline),
        audit: None,
    })
}

fn fmt_ms(x: f64) -> String {
    if x.is_nan() {
        "–".into()
    } else if x < 100.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.0}")
    }
}

fn opt<T>(x: Option<T>, f: impl FnOnce(T) -> String) -> String {
    x.map(f).unwrap_or_else(|| "–".into())
}

fn mem_row(m: Option<MemMib>) -> String {
    opt(m, |m| {
        format!("{:.1} MiB RSS, {} threads", m.rss_mib, m.threads)
    })
}

fn markdown(r: &Report) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "### parley serve load (parley-load): {}, saop, {} rounds, db {}{}",
        r.scenario,
        r.rounds,
        r.db_kind,
        if r.evaluate {
            ", POST /evaluate before each offer"
        } else {
            ""
        }
    ));
    line(format!(
        "views read {}",
        if r.full_views {
            "whole (every event each time)"
        } else {
            "incrementally (GET …?since=N: the events not yet read)"
        }
    ));
    line(String::new());
    line("| metric | value |".into());
    line("|---|---:|".into());
    let mut rows: Vec<(String, String)> = Vec::new();
    if let Some(h) = &r.hold {
        rows.push((
            "**hold**: sessions requested / created and joined (seats never act)".into(),
            format!("{} / {}", h.sessions_requested, h.sessions_held),
        ));
        rows.push((
            "held: running / waiting for a seat's action (GET view of each)".into(),
            format!("{} / {}", h.running, h.waiting_for_a_seat),
        ));
        rows.push((
            "held: setup s (create + join) / sessions per s".into(),
            format!(
                "{:.2} / {:.0}",
                h.setup_seconds, h.sessions_set_up_per_second
            ),
        ));
        rows.push((
            "held: server CPU s / client CPU s during the setup".into(),
            format!(
                "{} / {}",
                opt(h.server_cpu_seconds_setup, |c| format!("{c:.2}")),
                opt(h.client_cpu_seconds_setup, |c| format!("{c:.2}"))
            ),
        ));
        rows.push(("server before the hold".into(), mem_row(h.server_before)));
        rows.push((
            "server after the hold's setup".into(),
            mem_row(h.server_after_setup),
        ));
        rows.push((
            format!(
                "**server with the sessions held**, after {} s",
                h.hold_seconds
            ),
            mem_row(h.server_end),
        ));
        rows.push((
            "held: max threads / max RSS sampled every 500 ms".into(),
            format!(
                "{} / {}",
                opt(h.server_max_threads_sampled, |t| t.to_string()),
                opt(h.server_max_rss_sampled_mib, |m| format!("{m:.1} MiB"))
            ),
        ));
        rows.push((
            "held: RSS KiB / threads per held session (end − before) / sessions".into(),
            format!(
                "{} / {}",
                opt(h.rss_per_held_session_kib, |k| format!("{k:.1}")),
                opt(h.threads_per_held_session, |t| format!("{t:.3}"))
            ),
        ));
    }
    if let Some(d) = &r.drive {
        let share = |c: Option<f64>| {
            opt(c, |c| {
                format!("{c:.2} ({:.0}% of one core)", 100.0 * c / d.drive_seconds)
            })
        };
        rows.extend([
            (
                "**drive**: sessions created / joined".into(),
                format!("{} / {}", d.sessions_created, d.sessions_joined),
            ),
            (
                "held sessions live during the drive".into(),
                d.held_sessions_live_during_drive.to_string(),
            ),
            (
                "sessions running when the drive started (from their first view)".into(),
                d.sessions_running_at_start.to_string(),
            ),
            (
                "sessions driven at once (peak)".into(),
                d.peak_sessions_driven_at_once.to_string(),
            ),
            (
                "sessions ended / failed / unfinished".into(),
                format!(
                    "{} / {} / {}",
                    d.sessions_ended, d.sessions_failed, d.sessions_unfinished
                ),
            ),
            (
                "results".into(),
                if d.results.is_empty() {
                    "–".into()
                } else {
                    d.results
                        .iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            ),
            (
                "setup s (create + join) / warming the keep-alive connections s (connections)"
                    .into(),
                format!(
                    "{:.2} / {:.2} ({})",
                    d.setup_seconds, d.connect_seconds, d.connections_warmed
                ),
            ),
            (
                "drive wall time s".into(),
                format!("{:.2}", d.drive_seconds),
            ),
            (
                "actions (POST /actions answered 200)".into(),
                d.actions.to_string(),
            ),
            (
                "**actions per second**".into(),
                format!("**{:.0}**", d.actions_per_second),
            ),
            (
                "HTTP requests per second (drive)".into(),
                format!("{:.0}", d.requests_per_second),
            ),
            (
                "views with nothing pending (polled again)".into(),
                d.views_without_pending.to_string(),
            ),
            (
                "409 conflicts / other errors".into(),
                format!("{} / {}", d.conflicts_409, r.errors.values().sum::<u64>()),
            ),
            (
                "server CPU s during the drive (user+sys)".into(),
                share(d.server_cpu_seconds),
            ),
            (
                "server CPU s by thread (sampled every 0.5 s)".into(),
                if d.server_cpu_by_thread_group.is_empty() {
                    "–".into()
                } else {
                    d.server_cpu_by_thread_group
                        .iter()
                        .map(|(k, g)| format!("{k} ×{}: {:.2}", g.threads, g.cpu_seconds))
                        .collect::<Vec<_>>()
                        .join("; ")
                },
            ),
            (
                format!(
                    "**client CPU** s during the drive (user+sys, {} worker thread(s))",
                    d.client_threads
                ),
                share(d.client_cpu_seconds),
            ),
            (
                "share of system (kernel) time in the client's / the server's CPU".into(),
                format!(
                    "{} / {}",
                    opt(d.client_system_share, |f| format!("{:.0}%", 100.0 * f)),
                    opt(d.server_system_share, |f| format!("{:.0}%", 100.0 * f))
                ),
            ),
            (
                "client CPU s of the /proc sampler thread (included above)".into(),
                opt(d.client_sampler_cpu_seconds, |c| format!("{c:.2}")),
            ),
            (
                "whole machine busy during the drive (all processes, all CPUs)".into(),
                opt(d.machine_busy_fraction, |f| {
                    format!("{:.0}% of {} CPUs", 100.0 * f, d.machine_cpus)
                }),
            ),
            (
                "server after the setup".into(),
                mem_row(d.server_after_setup),
            ),
            (
                "server at the end of the drive".into(),
                mem_row(d.server_end),
            ),
            (
                "server max threads sampled during the drive (every 500 ms)".into(),
                opt(d.server_max_threads_sampled, |t| t.to_string()),
            ),
            (
                "1-minute load average before / after the drive".into(),
                format!(
                    "{} / {}",
                    opt(d.loadavg_before, |l| format!("{l:.2}")),
                    opt(d.loadavg_after, |l| format!("{l:.2}"))
                ),
            ),
        ]);
    }
    rows.push((
        "server peak RSS (VmHWM) / max threads sampled, whole run".into(),
        format!(
            "{} / {}",
            opt(r.server_peak_rss_mib, |m| format!("{m:.1} MiB")),
            opt(r.server_max_threads_sampled, |t| t.to_string())
        ),
    ));
    rows.push((
        "429 / 503 answers retried (waited s)".into(),
        format!(
            "{} / {} ({:.2})",
            r.retried_429, r.retried_503, r.retry_wait_seconds
        ),
    ));
    rows.push((
        "transport errors retried".into(),
        r.transport_errors_retried.to_string(),
    ));
    if let Some(a) = &r.audit {
        rows.push((
            "`parley audit` afterwards".into(),
            format!(
                "exit {} in {:.2} s",
                opt(a.rc, |c| c.to_string()),
                a.seconds
            ),
        ));
    }
    for (k, v) in rows {
        line(format!("| {k} | {v} |"));
    }
    line(String::new());
    line("| request | count | mean ms | p50 ms | p90 ms | p99 ms | max ms |".into());
    line("|---|---:|---:|---:|---:|---:|---:|".into());
    for k in KINDS {
        if let Some(s) = r.latency.get(k.name()) {
            line(format!(
                "| {} | {} | {} | {} | {} | {} | {} |",
                k.name(),
                s.n,
                fmt_ms(s.mean_ms),
                fmt_ms(s.p50_ms),
                fmt_ms(s.p90_ms),
                fmt_ms(s.p99_ms),
                fmt_ms(s.max_ms)
            ));
        }
    }
    line(String::new());
    line("HTTP answers by status (retried answers included):".into());
    line(String::new());
    for (kind, m) in &r.http_answers_by_status {
        line(format!(
            "- {kind}: {}",
            m.iter()
                .map(|(s, n)| format!("{s} ×{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !r.errors.is_empty() {
        line(String::new());
        line("Errors:".into());
        line(String::new());
        let mut errs: Vec<_> = r.errors.iter().collect();
        errs.sort_by(|a, b| b.1.cmp(a.1));
        for (k, v) in errs {
            line(format!("- {v} × {k}"));
        }
    }
    if let Some(d) = &r.drive {
        if let Some(c) = d.client_cpu_share_of_one_core {
            if c > 0.85 * d.client_threads as f64 {
                line(String::new());
                line(
                    "Note: the client was nearly saturated (client CPU close to its threads' \
                     wall time): try --client-threads 2."
                        .into(),
                );
            }
        }
    }
    line(String::new());
    line(format!("Machine: {}. Command: `{}`", r.machine, r.command));
    out
}
