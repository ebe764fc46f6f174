//! One module per subcommand, each with its `Args` and `run`.

pub mod analyze;
pub mod convert;
pub mod protocol;
pub mod run;
pub mod serve;
pub mod tournament;

use std::path::Path;

use anyhow::Context;
use parley_formats::Loaded;

/// Loads a scenario and prints the repairs made while reading it to stderr.
pub fn load_scenario(path: &Path, quiet: bool) -> anyhow::Result<Loaded> {
    let loaded = parley_formats::load(path)
        .with_context(|| format!("loading scenario {}", path.display()))?;
    if !quiet {
        for note in &loaded.notes {
            eprintln!("note: {note}");
        }
    }
    Ok(loaded)
}

/// An outcome as `issue=value, …`.
pub fn outcome_text(scenario: &parley_core::Scenario, outcome: &[u32]) -> String {
    let space = scenario.space();
    space
        .issues()
        .iter()
        .zip(space.outcome_labels(outcome))
        .map(|(issue, label)| format!("{}={label}", issue.name()))
        .collect::<Vec<_>>()
        .join(", ")
}
