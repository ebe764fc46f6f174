//! Micro-benchmarks of the hot loops, so that a change to one shows in review:
//!
//! ```sh
//! cargo bench -p parley-engine --bench hot_loops
//! ```
//!
//! - `frontier`: the non-dominated filter on random utility points (2 and 3 parties);
//! - `additive` and `enumerate`: the exact analysis of a generated linear scenario by
//!   dynamic programming over issues and by enumerating every outcome;
//! - `bids`: a one-round session of two `boulware` negotiators, which is dominated by
//!   building each party's bids sorted by its utility (the bid space).
//!
//! The scenarios are generated here (seeded), so the bench needs no corpus. Compare
//! numbers from the same machine only; divan prints the median and the spread.

use parley_core::analysis::frontier::{nondominated, PointSet};
use parley_core::analysis::{analyze, AnalysisConfig, Method};
use parley_core::exact::Utility;
use parley_core::Scenario;
use parley_engine::negotiators::negotiator;
use parley_engine::{run_session, ProtocolKind, SessionConfig};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn main() {
    divan::main();
}

/// `n` random points of `parties` utilities each.
fn points(parties: usize, n: usize) -> PointSet {
    let mut rng = SmallRng::seed_from_u64(7);
    let mut set = PointSet::with_capacity(parties, n);
    let mut row = vec![Utility::ZERO; parties];
    for tag in 0..n as u64 {
        for u in row.iter_mut() {
            *u = Utility::from_f64((rng.gen_range(0..1_000_000) as f64) / 1e6);
        }
        set.push(&row, tag);
    }
    set
}

/// A linear two-party scenario of `issues` issues of `values` values each, with
/// seeded random weights and evaluations.
fn scenario(issues: usize, values: usize) -> Scenario {
    let mut rng = SmallRng::seed_from_u64(11);
    let mut text = String::from("name = \"generated\"\n");
    for i in 0..issues {
        let names: Vec<String> = (0..values).map(|v| format!("\"v{v}\"")).collect();
        text += &format!(
            "[[issues]]\nname = \"i{i}\"\nvalues = [{}]\n",
            names.join(", ")
        );
    }
    for party in ["a", "b"] {
        text += &format!("[[parties]]\nname = \"{party}\"\n[parties.utility]\nissues = [\n");
        for i in 0..issues {
            let evals: Vec<String> = (0..values)
                .map(|v| format!("v{v} = {}", rng.gen_range(0..=100)))
                .collect();
            text += &format!(
                "  {{ issue = \"i{i}\", weight = {}, values = {{ {} }} }},\n",
                rng.gen_range(1..=10),
                evals.join(", ")
            );
        }
        text += "]\n";
    }
    match parley_formats::native::parse_toml(&text, "generated.toml") {
        Ok(s) => s,
        Err(e) => panic!("the generated scenario does not load: {e}"),
    }
}

#[divan::bench(args = [2, 3])]
fn frontier(bencher: divan::Bencher, parties: usize) {
    let set = points(parties, 100_000);
    bencher.bench(|| nondominated(divan::black_box(&set)).len());
}

fn analysis(bencher: divan::Bencher, method: Method) {
    // 5^8 = 390,625 outcomes, the size of the largest shared linear scenarios.
    let s = scenario(8, 5);
    let config = AnalysisConfig {
        method,
        ..AnalysisConfig::default()
    };
    bencher.bench(|| match analyze(divan::black_box(&s), &config) {
        Ok(a) => a.pareto.len(),
        Err(e) => panic!("analysis fails: {e}"),
    });
}

#[divan::bench(sample_count = 20)]
fn additive(bencher: divan::Bencher) {
    analysis(bencher, Method::Additive);
}

#[divan::bench(sample_count = 10)]
fn enumerate(bencher: divan::Bencher) {
    analysis(bencher, Method::Enumerate);
}

/// `outcomes`: 10^4 (4 issues of 10 values) or 7^6 (6 issues of 7 values), both
/// under the size above which bids are sampled rather than enumerated.
#[divan::bench(args = [10_000, 117_649], sample_count = 20)]
fn bids(bencher: divan::Bencher, outcomes: usize) {
    let s = if outcomes == 10_000 {
        scenario(4, 10)
    } else {
        scenario(6, 7)
    };
    let config = SessionConfig::new(ProtocolKind::Saop, 1);
    bencher.bench(|| {
        let parties = vec![
            negotiator("boulware", 1).unwrap_or_else(|e| panic!("{e}")),
            negotiator("boulware", 2).unwrap_or_else(|e| panic!("{e}")),
        ];
        match run_session(&s, &config, parties, None) {
            Ok(r) => r.trace.events.len(),
            Err(e) => panic!("session fails: {e}"),
        }
    });
}
