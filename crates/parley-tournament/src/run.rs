//! Running a tournament (or one shard of it) into an output folder.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use parley_core::analysis::{analyze, Analysis, AnalysisConfig};
use parley_engine::negotiators::{mediator, negotiator_for, role_seed, BidCache};
use parley_engine::{run_session, SessionConfig};
use rayon::prelude::*;

use crate::plan::{Plan, SessionKey, Shard};
use crate::row::Row;
use crate::store::{finish, read_done, Log, Manifest};
use crate::summary::Summary;
use crate::{io_error, Error, Result};

/// The default of [`crate::Settings::analysis_work`].
pub const ANALYSIS_WORK: u64 = 4_000_000;

/// How to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The output folder.
    pub out: PathBuf,
    /// Continue the tournament already in `out`.
    pub resume: bool,
    /// The slice of the tournament to run.
    pub shard: Shard,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct Report {
    /// Sessions of the shard.
    pub sessions: u64,
    /// Sessions found done on disk at the start.
    pub already_done: u64,
    /// Sessions run now.
    pub ran: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// The summary of the shard.
    pub summary: Summary,
}

/// Runs the sessions of `options.shard` that are not on disk yet, in parallel on
/// rayon's pool, appending each row as its session finishes; then writes the CSV and
/// the summary. `progress(done, total)` is called after every row is written.
pub fn run(plan: &Plan, options: &Options, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<Report> {
    let started = Instant::now();
    let out = &options.out;
    std::fs::create_dir_all(out).map_err(io_error(out))?;
    let manifest = Manifest::of(plan, options.shard);
    match Manifest::read(out)? {
        Some(_) if !options.resume => {
            return Err(Error::Invalid(format!(
                "{} already holds a tournament; pass --resume to continue it, or choose another folder",
                out.display()
            )));
        }
        Some(existing) => {
            if let Some(why) = existing.difference(&manifest) {
                return Err(Error::Invalid(format!(
                    "{} holds a different tournament ({why}); it cannot be resumed with these settings",
                    out.display()
                )));
            }
            if existing.shard != manifest.shard {
                return Err(Error::Invalid(format!(
                    "{} holds shard {} of this tournament, not {}",
                    out.display(),
                    existing.shard,
                    manifest.shard
                )));
            }
        }
        None => {
            if out.join(crate::store::LOG).exists() {
                return Err(Error::Invalid(format!(
                    "{} holds results but no {}; choose another folder",
                    out.display(),
                    crate::store::MANIFEST
                )));
            }
            manifest.write(out)?;
        }
    }
    let (done, valid) = read_done(out, &manifest)?;
    let mut log = Log::open(out, valid)?;
    let total = options.shard.size(plan.total());
    let already_done = done.count();

    let config = session_config(plan);
    let failed = AtomicBool::new(false);
    let (tx, rx) = mpsc::sync_channel::<Result<Row>>(1024);
    let written = std::thread::scope(|scope| -> Result<u64> {
        let writer = scope.spawn(|| -> Result<u64> {
            let mut count = already_done;
            let mut ran = 0;
            let mut last_sync = Instant::now();
            for message in rx {
                let row = message?;
                log.append(&row)?;
                count += 1;
                ran += 1;
                progress(count, total);
                if last_sync.elapsed() > Duration::from_secs(5) {
                    log.sync()?;
                    last_sync = Instant::now();
                }
            }
            log.sync()?;
            Ok(ran)
        });
        let shard = options.shard;
        // Scenarios in parallel, and each scenario's sessions in parallel: work
        // stealing keeps the cores busy while at most a few scenarios are analysed
        // and held at once.
        let sent = (0..plan.entries.len()).into_par_iter().try_for_each_with(
            tx,
            |tx, s| -> std::result::Result<(), ()> {
                let todo: Vec<u64> = plan
                    .range(s)
                    .filter(|&id| shard.holds(id) && !done.contains(id))
                    .collect();
                if todo.is_empty() || failed.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let analysis = match analyse(plan, s) {
                    Ok(a) => a,
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        return tx.send(Err(e)).map_err(|_| ());
                    }
                };
                let mut config = config.clone();
                let n = plan.entries[s].scenario.n_parties();
                config.bids = Some(Arc::new(BidCache::new(n)));
                // `--confide all`: every party of this scenario confides.
                config.confide = vec![plan.settings.confide; n];
                todo.into_par_iter()
                    .try_for_each_with(tx.clone(), |tx, id| {
                        if failed.load(Ordering::Relaxed) {
                            return Err(());
                        }
                        let row = play(plan, &config, &analysis, &plan.session(id));
                        if row.is_err() {
                            failed.store(true, Ordering::Relaxed);
                        }
                        tx.send(row).map_err(|_| ())
                    })
            },
        );
        let written = writer
            .join()
            .map_err(|_| Error::Invalid("the result writer failed".into()))??;
        if sent.is_err() && !failed.load(Ordering::Relaxed) {
            return Err(Error::Invalid("the result writer stopped early".into()));
        }
        Ok(written)
    })?;
    let summary = finish(out, &manifest)?;
    Ok(Report {
        sessions: total,
        already_done,
        ran: written,
        elapsed: started.elapsed(),
        summary,
    })
}

fn session_config(plan: &Plan) -> SessionConfig {
    let s = &plan.settings;
    SessionConfig {
        protocol: s.protocol,
        rounds: s.rounds,
        time_limit: s.time_limit.map(Duration::from_secs_f64),
        confide: Vec::new(),
        post_settlement: s.post_settlement,
        clock: None,
        bids: None,
        observer: None,
        seed: 0,
    }
}

/// The analysis of scenario `s`: exact where possible, else a work-bounded search.
pub fn analyse(plan: &Plan, s: usize) -> Result<Analysis> {
    Ok(analyze(
        &plan.entries[s].scenario,
        &AnalysisConfig {
            work_budget: Some(plan.settings.analysis_work),
            ..AnalysisConfig::default()
        },
    )?)
}

/// Plays one session and makes its row (`config` is the scenario's: its confide
/// flags and bid cache set).
pub fn play(
    plan: &Plan,
    config: &SessionConfig,
    analysis: &Analysis,
    key: &SessionKey,
) -> Result<Row> {
    let settings = &plan.settings;
    let scenario = &plan.entries[key.scenario].scenario;
    let names: Vec<String> = key
        .assignment
        .iter()
        .map(|&c| settings.negotiators[c].clone())
        .collect();
    let negotiators = names
        .iter()
        .enumerate()
        .map(|(role, spec)| negotiator_for(spec, scenario, role, role_seed(key.seed, role as u64)))
        .collect::<parley_engine::Result<Vec<_>>>()?;
    let mediator = settings
        .mediator
        .as_deref()
        .filter(|_| settings.protocol.needs_mediator())
        .map(|spec| mediator(spec, role_seed(key.seed, u64::MAX)))
        .transpose()?;
    // The session's seed also draws the scenario's breakdowns.
    let config = SessionConfig {
        seed: key.seed,
        ..config.clone()
    };
    let result = run_session(scenario, &config, negotiators, mediator)?;
    let reached: Vec<f64> = match &result.agreement {
        Some(a) => scenario.utilities().iter().map(|u| u.value(a)).collect(),
        None => scenario.reservations(),
    };
    Ok(Row {
        session: key.id,
        scenario: plan.entries[key.scenario].label.clone(),
        protocol: settings.protocol.name().to_owned(),
        repetition: key.repetition,
        seed: key.seed,
        parties: scenario.parties().iter().map(|p| p.name.clone()).collect(),
        negotiators: names,
        agreement: result
            .agreement
            .as_ref()
            .map(|a| scenario.space().outcome_labels(a)),
        // What walking away would have paid at that moment: the reservation value,
        // discounted as the deal is.
        advantages: result
            .utilities
            .iter()
            .zip(scenario.parties())
            .map(|(u, p)| u - p.walk_away(result.time))
            .collect(),
        welfare: result.utilities.iter().sum(),
        utilities: result.utilities,
        rounds: result.rounds,
        time: result.time,
        ended_by: result.ended_by.name().to_owned(),
        phase: result
            .phases
            .last()
            .map_or_else(String::new, |p| p.name().to_owned()),
        pareto_distance: analysis.pareto_distance(&reached),
        nash_distance: analysis.nash_distance(&reached),
    })
}
