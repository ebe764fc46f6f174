//! Negotiation speed: steps per second of `boulware` vs `conceder` under SAOP with a
//! long deadline, for comparison with NegMAS (`bench/run_vs_negmas.py`).
//!
//! ```sh
//! cargo bench -p parley-engine --bench saop_steps -- [options] [scenario ...]
//! ```
//!
//! A *step* is one negotiator action: one `Offer`, `Accept` or `WalkAway` event of
//! the trace (the `Start` and `End` events are not steps). A round is one turn of
//! every party, so a two-party session of `R` rounds has at most `2R` steps.
//!
//! Each scenario is run `--reps` times per deadline, with seeds `2r + 1` (boulware,
//! party 0) and `2r + 2` (conceder, party 1) for repetition `r`, after one untimed
//! warm-up session. Only `run_session` is timed: loading the scenario and building
//! the negotiators are not, but the negotiators' `init` (sorting their bids) is, since
//! `run_session` calls it. One JSON object per scenario and deadline goes to stdout:
//! `{"scenario", "rounds", "sessions", "steps", "seconds", "steps_per_second",
//! "outcomes", "agreements", "mean_steps", "setup_seconds"}`.
//!
//! `setup_seconds` is the total time of the negotiators' `init` alone, measured on
//! an identical pair (same seeds, same contexts) just before each session and not
//! part of `seconds`: `seconds - setup_seconds` estimates the time spent acting.
//!
//! Options (environment variable in brackets):
//! - `--rounds LIST` (`PARLEY_BENCH_ROUNDS`): comma-separated deadlines, default `1000`;
//! - `--reps N` (`PARLEY_BENCH_REPS`): timed sessions per scenario and deadline,
//!   default 20;
//! - `scenario ...`: scenario folders or files. A relative path is tried as given
//!   (`cargo bench` runs this in `crates/parley-engine/`), then from the workspace
//!   root, then under `<scenarios>/genius/`, then under `<scenarios>/`, where `<scenarios>`
//!   is `PARLEY_SCENARIOS` or else `../shared/scenarios` beside the workspace. Without
//!   any, six Genius scenarios are run (`DEFAULT_SCENARIOS`).
//!
//! Other `--flags` (such as the `--bench` that `cargo bench` passes) are ignored.

use std::env;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use parley_core::Scenario;
use parley_engine::negotiators::negotiator;
use parley_engine::{
    run_session, EventKind, Negotiator, PartyContext, ProtocolKind, SessionConfig,
};
use serde_json::json;

/// The scenarios run when none are given, under `<scenarios>/genius/`.
const DEFAULT_SCENARIOS: &[&str] = &[
    "y2012/EnergySmallA",
    "y2011/Grocery",
    "y2012/CameraB",
    "y2010/ItexvsCypress",
    "y2011/Car",
    "y2012/TravelA",
];

struct Options {
    rounds: Vec<u32>,
    reps: u64,
    scenarios: Vec<String>,
}

fn scenarios_root() -> PathBuf {
    env::var_os("PARLEY_SCENARIOS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/scenarios"),
        PathBuf::from,
    )
}

fn parse_rounds(text: &str) -> Result<Vec<u32>, String> {
    text.split(',')
        .map(|r| {
            r.trim()
                .parse::<u32>()
                .ok()
                .filter(|&r| r > 0)
                .ok_or_else(|| format!("--rounds: {r:?} is not a positive whole number"))
        })
        .collect()
}

fn parse_reps(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("--reps: {text:?} is not a positive whole number"))
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        rounds: match env::var("PARLEY_BENCH_ROUNDS") {
            Ok(text) => parse_rounds(&text)?,
            Err(_) => vec![1000],
        },
        reps: match env::var("PARLEY_BENCH_REPS") {
            Ok(text) => parse_reps(&text)?,
            Err(_) => 20,
        },
        scenarios: Vec::new(),
    };
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--rounds" => options.rounds = parse_rounds(&value("--rounds")?)?,
            "--reps" => options.reps = parse_reps(&value("--reps")?)?,
            flag if flag.starts_with("--") => {}
            path => options.scenarios.push(path.to_string()),
        }
    }
    if options.scenarios.is_empty() {
        options.scenarios = DEFAULT_SCENARIOS.iter().map(|s| s.to_string()).collect();
    }
    Ok(options)
}

/// The path of a scenario argument, and the name to report it under.
fn resolve(arg: &str, root: &Path) -> Result<(PathBuf, String), String> {
    let genius = root.join("genius");
    let given = PathBuf::from(arg);
    let candidates = if given.is_absolute() {
        vec![given]
    } else {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        vec![given, workspace.join(arg), genius.join(arg), root.join(arg)]
    };
    let path = candidates.into_iter().find(|p| p.exists()).ok_or_else(|| {
        format!(
            "scenario {arg:?} not found (also looked in {})",
            genius.display()
        )
    })?;
    let name = match (path.canonicalize(), genius.canonicalize()) {
        (Ok(full), Ok(genius)) => full
            .strip_prefix(&genius)
            .map_or_else(|_| arg.to_string(), |p| p.display().to_string()),
        _ => arg.to_string(),
    };
    Ok((path, name))
}

/// Totals over the timed sessions of one scenario and deadline.
#[derive(Default)]
struct Totals {
    sessions: u64,
    steps: u64,
    agreements: u64,
    elapsed: Duration,
    /// Time the negotiators' `init` took, measured on twins outside the sessions.
    setup: Duration,
}

fn pair(rep: u64) -> Result<Vec<Box<dyn Negotiator>>, String> {
    Ok(vec![
        negotiator("boulware", 2 * rep + 1).map_err(|e| e.to_string())?,
        negotiator("conceder", 2 * rep + 2).map_err(|e| e.to_string())?,
    ])
}

/// Times `init` of a fresh pair of negotiators, with the contexts `run_session` gives.
fn setup_time(scenario: &Scenario, config: &SessionConfig, rep: u64) -> Result<Duration, String> {
    let mut twins = pair(rep)?;
    let contexts: Vec<PartyContext<'_>> = (0..scenario.n_parties())
        .map(|index| {
            let party = &scenario.parties()[index];
            PartyContext::new(
                index,
                scenario.n_parties(),
                scenario.space(),
                &scenario.utilities()[index],
                party.reservation,
                party.discount,
                config.rounds,
            )
        })
        .collect();
    let started = Instant::now();
    for (twin, ctx) in twins.iter_mut().zip(&contexts) {
        twin.init(ctx);
    }
    Ok(started.elapsed())
}

fn run(
    scenario: &Scenario,
    config: &SessionConfig,
    rep: u64,
    totals: &mut Totals,
) -> Result<(), String> {
    totals.setup += setup_time(scenario, config, rep)?;
    let negotiators = pair(rep)?;
    let started = Instant::now();
    let result = run_session(scenario, config, negotiators, None).map_err(|e| e.to_string())?;
    totals.elapsed += started.elapsed();
    totals.sessions += 1;
    totals.steps += result
        .trace
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::Offer { .. } | EventKind::Accept { .. } | EventKind::WalkAway { .. }
            )
        })
        .count() as u64;
    totals.agreements += u64::from(result.agreement.is_some());
    Ok(())
}

fn bench(options: &Options) -> Result<(), String> {
    let root = scenarios_root();
    for arg in &options.scenarios {
        let (path, name) = resolve(arg, &root)?;
        let scenario = parley_formats::load(&path)
            .map_err(|e| format!("loading {}: {e}", path.display()))?
            .scenario;
        if scenario.n_parties() != 2 {
            return Err(format!(
                "{name}: boulware vs conceder needs 2 parties, not {}",
                scenario.n_parties()
            ));
        }
        for &rounds in &options.rounds {
            let config = SessionConfig::new(ProtocolKind::Saop, rounds);
            // Warm-up: caches, page faults, the allocator's first growth.
            run(&scenario, &config, options.reps, &mut Totals::default())?;
            let mut totals = Totals::default();
            for rep in 0..options.reps {
                run(&scenario, &config, rep, &mut totals)?;
            }
            let seconds = totals.elapsed.as_secs_f64();
            let line = json!({
                "scenario": name,
                "rounds": rounds,
                "sessions": totals.sessions,
                "steps": totals.steps,
                "seconds": seconds,
                "steps_per_second": totals.steps as f64 / seconds.max(1e-12),
                "outcomes": scenario.space().outcome_count().as_f64(),
                "agreements": totals.agreements,
                "mean_steps": totals.steps as f64 / totals.sessions.max(1) as f64,
                "setup_seconds": totals.setup.as_secs_f64(),
            });
            println!("{line}");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match parse_options().and_then(|options| bench(&options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("saop_steps: {message}");
            ExitCode::FAILURE
        }
    }
}
