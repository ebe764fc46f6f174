//! The mediation benchmark (`docs/protocols.md`, "Mediation versus direct talks"):
//! saop, shuttle, staged and single-text talks between the same line-ups on the
//! flagship, the bilateral scenarios of the shared corpus with a rational outcome, and
//! its three-party ones, scored with exact utilities.
//!
//! ```text
//! cargo bench -p parley-tournament --bench mediation -- [--seeds N] [--rounds R]
//!     [--scenarios DIR] [--only bilateral|three] [--farthest] [--extra]
//! ```
//! `DIR` is the corpus (with `genius/`), default `$PARLEY_SCENARIOS` or
//! `../shared/scenarios`. Prints one table per group, then every floor that is missed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use parley_tournament::mediation::{cases, run, settings, Confide, Setting, PAIRS};
use parley_tournament::plan::discover;

fn main() -> ExitCode {
    match main_inner() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main_inner() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut seeds = 5u64;
    let mut rounds = 100u32;
    let mut only: Option<String> = None;
    let mut farthest = false;
    let mut extra = false;
    let mut corpus = std::env::var_os("PARLEY_SCENARIOS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/scenarios"));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--seeds" => seeds = value()?.parse()?,
            "--rounds" => rounds = value()?.parse()?,
            "--scenarios" => corpus = PathBuf::from(value()?),
            "--only" => only = Some(value()?),
            "--farthest" => farthest = true,
            "--extra" => extra = true,
            "--bench" => {}
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let genius = corpus.join("genius");
    if !genius.is_dir() {
        return Err(format!(
            "no scenario corpus at {} (set PARLEY_SCENARIOS or --scenarios; the Genius \
             scenarios come from the public Genius and NegMAS repositories)",
            corpus.display()
        )
        .into());
    }
    let flagship = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/oman-talks.toml");
    let mut settings = settings(rounds);
    if extra {
        // Also the settings the floors do not name, for exploration.
        settings.push(Setting {
            name: "shuttle --confide none".into(),
            protocol: parley_engine::ProtocolKind::Shuttle,
            confide: Confide::Nobody,
            post_settlement: true,
        });
        settings.push(Setting {
            name: "staged --confide none --post-settlement off".into(),
            protocol: parley_engine::ProtocolKind::staged(rounds),
            confide: Confide::Nobody,
            post_settlement: false,
        });
        settings.push(Setting {
            name: "staged --confide first-party".into(),
            protocol: parley_engine::ProtocolKind::staged(rounds),
            confide: Confide::First,
            post_settlement: true,
        });
        settings.push(Setting {
            name: "single-text --confide none".into(),
            protocol: parley_engine::ProtocolKind::SingleText,
            confide: Confide::Nobody,
            post_settlement: true,
        });
    }
    let mut missed = Vec::new();
    for (group, parties) in [("bilateral", 2usize), ("three parties", 3)] {
        if only
            .as_deref()
            .is_some_and(|o| !group.starts_with(o.trim_end_matches('s')))
        {
            continue;
        }
        let mut inputs = vec![genius.clone()];
        if parties == 2 {
            inputs.insert(0, flagship.clone());
        }
        let started = Instant::now();
        let (cases, skipped) = cases(discover(&inputs, Some(parties))?)?;
        let mut reasons: std::collections::BTreeMap<&str, usize> = Default::default();
        for s in &skipped {
            let reason = if s.reason.contains("parties") {
                "another number of parties"
            } else {
                s.reason.as_str()
            };
            *reasons.entry(reason).or_default() += 1;
        }
        let reasons: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
        println!("{group}: skipped {}", reasons.join(", "));
        let table = run(group, &cases, &settings, &PAIRS, seeds, rounds)?;
        println!("{}", table.markdown());
        println!(
            "({} sessions in {:.1} s)\n",
            table.totals.iter().map(|c| c.sessions).sum::<u64>(),
            started.elapsed().as_secs_f64()
        );
        for (setting, pair, scenario, seed) in &table.dominated_examples {
            println!("dominated: {setting} | {pair} | {scenario} | seed {seed}");
        }
        if farthest {
            for (setting, list) in table.settings.iter().zip(&table.farthest) {
                println!("farthest from Nash, {setting}:");
                for far in list {
                    println!(
                        "  {:.4} {} {} {} seed {}",
                        far.distance,
                        if far.agreed { "deal" } else { "no deal" },
                        far.pair,
                        far.scenario,
                        far.seed
                    );
                }
            }
        }
        missed.extend(table.violations());
    }
    if missed.is_empty() {
        println!("every floor is met");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("floors missed:");
        for m in &missed {
            println!("- {m}");
        }
        Ok(ExitCode::FAILURE)
    }
}
