//! How well does the mediator's opponent model ([`OpponentModel`]) track a party's true
//! preferences from what it proposes?
//!
//! For every bilateral linear scenario of the corpus and a few line-ups, it plays a
//! 100-round `saop` session, feeds each party's offers to a fresh model, and prints the
//! mean Pearson correlation between modelled and true utilities over 3,000 random
//! outcomes, after half of the offers and after all of them.
//!
//! ```text
//! cargo run --release -p parley-engine --example model_quality [-- CORPUS]
//! ```
//! `CORPUS` holds `genius/` (default `$PARLEY_SCENARIOS`, else `../shared/scenarios`).

use std::path::PathBuf;
use std::process::ExitCode;

use parley_engine::negotiators::{negotiator, role_seed, OpponentModel};
use parley_engine::{run_session, EventKind, ProtocolKind, SessionConfig};
use rand::{Rng, SeedableRng};

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let ma = a.iter().sum::<f64>() / n;
    let mb = b.iter().sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa.sqrt() * sbb.sqrt()).max(1e-12)
}

fn folders(root: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for group in std::fs::read_dir(root)?.flatten() {
        if group.path().is_dir() {
            for dir in std::fs::read_dir(group.path())?.flatten() {
                dirs.push(dir.path());
            }
        }
    }
    dirs.sort();
    Ok(dirs)
}

fn main() -> ExitCode {
    let corpus = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("PARLEY_SCENARIOS").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("../shared/scenarios"));
    let dirs = match folders(&corpus.join("genius")) {
        Ok(dirs) => dirs,
        Err(e) => {
            eprintln!("error: reading {}: {e}", corpus.join("genius").display());
            return ExitCode::FAILURE;
        }
    };
    for pair in [
        "boulware,boulware",
        "conceder,conceder",
        "frequency,boulware",
        "linear,linear",
    ] {
        let (mut half_total, mut full_total, mut count) = (0.0, 0.0, 0u32);
        for dir in &dirs {
            let Ok(loaded) = parley_formats::load(dir) else {
                continue;
            };
            let scenario = loaded.scenario;
            if scenario.n_parties() != 2 || !scenario.utilities().iter().all(|u| u.is_additive()) {
                continue;
            }
            let config = SessionConfig::new(ProtocolKind::Saop, 100);
            let Ok(negotiators) = pair
                .split(',')
                .enumerate()
                .map(|(i, spec)| negotiator(spec, role_seed(1, i as u64)))
                .collect::<Result<Vec<_>, _>>()
            else {
                return ExitCode::FAILURE;
            };
            let Ok(result) = run_session(&scenario, &config, negotiators, None) else {
                continue;
            };
            let cards = scenario.space().cardinalities();
            let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
            let sample: Vec<Vec<u32>> = (0..3000)
                .map(|_| cards.iter().map(|&c| rng.gen_range(0..c)).collect())
                .collect();
            for party in 0..2 {
                let offers: Vec<&Vec<u32>> = result
                    .trace
                    .events
                    .iter()
                    .filter_map(|e| match &e.kind {
                        EventKind::Offer { from, outcome } if *from == party => Some(outcome),
                        _ => None,
                    })
                    .collect();
                if offers.len() < 4 {
                    continue;
                }
                let truth: Vec<f64> = sample
                    .iter()
                    .map(|o| scenario.utilities()[party].value(o))
                    .collect();
                let mut model = OpponentModel::new(&cards);
                let estimate = |model: &OpponentModel| -> Vec<f64> {
                    sample.iter().map(|o| model.utility(o)).collect()
                };
                for (k, offer) in offers.iter().enumerate() {
                    model.learn(offer, 1.0, true);
                    if k + 1 == offers.len() / 2 {
                        half_total += pearson(&truth, &estimate(&model));
                    }
                }
                full_total += pearson(&truth, &estimate(&model));
                count += 1;
            }
        }
        let n = f64::from(count.max(1));
        println!(
            "{pair:20} mean Pearson {:.3} after half the offers, {:.3} after all ({count} parties)",
            half_total / n,
            full_total / n
        );
    }
    ExitCode::SUCCESS
}
