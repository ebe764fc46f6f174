//! What a tournament runs.
//!
//! Sessions are numbered scenario by scenario (scenarios in label order), then by
//! assignment (ordered tuples of competitor indices, one per party role, in
//! lexicographic order), then by repetition. Without self-play no competitor appears
//! twice in a session; with it every tuple is played. Every competitor therefore plays
//! every role against every other. Shard `i/n` runs the sessions whose number is `i`
//! modulo `n`, which spreads every scenario's sessions evenly over the shards.

use std::path::{Path, PathBuf};

use parley_core::Scenario;
use parley_engine::negotiators::{mediator, negotiator};
use parley_engine::ProtocolKind;
use serde::{Deserialize, Serialize};

use crate::{io_error, Error, Result};

/// The settings of a tournament: everything but the scenarios.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The competitors, as negotiator specifications (`boulware`, `linear:accept=0.9`).
    pub negotiators: Vec<String>,
    /// The protocol.
    pub protocol: ProtocolKind,
    /// The mediator's specification (protocols other than saop).
    pub mediator: Option<String>,
    /// Whether every party confides its preferences to the mediator.
    pub confide: bool,
    /// Whether the mediator looks for post-settlement improvements.
    pub post_settlement: bool,
    /// Round deadline of every session.
    pub rounds: u32,
    /// Wall-time deadline of every session, in seconds.
    pub time_limit: Option<f64>,
    /// Sessions per scenario and assignment.
    pub repetitions: u32,
    /// The tournament's seed; each session's seed derives from it.
    pub seed: u64,
    /// Whether a competitor may meet itself.
    pub self_play: bool,
    /// Utility evaluations the frontier search may spend on a scenario too large to
    /// analyse exactly (a work budget, so that distances are the same on every machine).
    pub analysis_work: u64,
}

impl Settings {
    /// Checks the settings: competitors known and distinct, a mediator where needed.
    pub fn check(&self) -> Result<()> {
        if self.negotiators.is_empty() {
            return Err(Error::Invalid("a tournament needs competitors".into()));
        }
        for (i, spec) in self.negotiators.iter().enumerate() {
            if !parley_engine::negotiators::is_external(spec) {
                negotiator(spec, 0)?;
            }
            if self.negotiators[..i].contains(spec) {
                return Err(Error::Invalid(format!(
                    "competitor {spec:?} is listed twice"
                )));
            }
        }
        match (&self.mediator, self.protocol.needs_mediator()) {
            (Some(spec), true) => {
                mediator(spec, 0)?;
            }
            (None, true) => {
                return Err(Error::Invalid(format!(
                    "protocol {} needs a mediator",
                    self.protocol.name()
                )))
            }
            (_, false) => {}
        }
        if self.rounds == 0 {
            return Err(Error::Invalid(
                "the deadline must be at least one round".into(),
            ));
        }
        if self.repetitions == 0 {
            return Err(Error::Invalid("the repetitions must be at least 1".into()));
        }
        if let Some(t) = self.time_limit {
            if !(t.is_finite() && t > 0.0) {
                return Err(Error::Invalid(format!(
                    "the time limit must be a positive number of seconds, not {t}"
                )));
            }
        }
        Ok(())
    }
}

/// A slice of a tournament: the sessions whose number is `index` modulo `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    /// This shard, from 0.
    pub index: u64,
    /// The number of shards.
    pub count: u64,
}

impl Shard {
    /// The whole tournament.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Whether session `id` belongs to this shard.
    pub fn holds(&self, id: u64) -> bool {
        id % self.count == self.index
    }

    /// The number of sessions of this shard among `total`.
    pub fn size(&self, total: u64) -> u64 {
        total / self.count + u64::from(total % self.count > self.index)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// Parses `i/n` with 0 ≤ i < n.
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("{s:?} is not a shard i/n with 0 ≤ i < n (e.g. 0/4)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A scenario of the tournament.
#[derive(Debug)]
pub struct Entry {
    /// Its name in results: the path below the folder it was found in, or the file or
    /// folder name when it was given directly.
    pub label: String,
    /// Where it was read from.
    pub path: PathBuf,
    /// The scenario.
    pub scenario: Scenario,
}

/// A scenario found but not used, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skipped {
    /// Where it was found.
    pub path: String,
    /// Why it is not in the tournament.
    pub reason: String,
}

/// The scenarios found under the given paths.
#[derive(Debug, Default)]
pub struct Discovered {
    /// The scenarios, in label order.
    pub entries: Vec<Entry>,
    /// What was found but left out.
    pub skipped: Vec<Skipped>,
}

fn is_genius_folder(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let path = e.path();
            path.is_file()
                && path
                    .extension()
                    .is_some_and(|x| x.eq_ignore_ascii_case("xml"))
        })
    })
}

fn is_native_file(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("toml") || x.eq_ignore_ascii_case("json"))
}

/// Finds the scenarios under `inputs`: native files and Genius folders given directly
/// (which must load), and every scenario below a folder of folders (which is skipped,
/// with its reason, if it does not load). `parties` keeps only scenarios with that many
/// parties.
pub fn discover(inputs: &[PathBuf], parties: Option<usize>) -> Result<Discovered> {
    let mut found = Discovered::default();
    let keep =
        |found: &mut Discovered, label: String, path: PathBuf, scenario: Scenario| match parties {
            Some(n) if scenario.n_parties() != n => found.skipped.push(Skipped {
                path: path.display().to_string(),
                reason: format!(
                    "{} parties (only {n}-party scenarios were asked for)",
                    scenario.n_parties()
                ),
            }),
            _ => found.entries.push(Entry {
                label,
                path,
                scenario,
            }),
        };
    for input in inputs {
        let direct = is_native_file(input) || (input.is_dir() && is_genius_folder(input));
        if direct || !input.is_dir() {
            let loaded = parley_formats::load(input)?;
            let label = if input.is_dir() {
                input.file_name()
            } else {
                input.file_stem()
            }
            .map_or_else(
                || input.display().to_string(),
                |s| s.to_string_lossy().into_owned(),
            );
            keep(&mut found, label, input.clone(), loaded.scenario);
            continue;
        }
        let mut stack = vec![input.clone()];
        let mut candidates = Vec::new();
        while let Some(dir) = stack.pop() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(io_error(&dir))?
                .flatten()
                .map(|e| e.path())
                .collect();
            entries.sort();
            for path in entries {
                if path.is_dir() {
                    if is_genius_folder(&path) {
                        candidates.push(path);
                    } else {
                        stack.push(path);
                    }
                } else if is_native_file(&path) {
                    candidates.push(path);
                }
            }
        }
        candidates.sort();
        for path in candidates {
            let relative = path.strip_prefix(input).unwrap_or(&path);
            let label = if path.is_dir() {
                relative.to_path_buf()
            } else {
                relative.with_extension("")
            }
            .to_string_lossy()
            .replace('\\', "/");
            match parley_formats::load(&path) {
                Ok(loaded) => keep(&mut found, label, path, loaded.scenario),
                Err(error) => found.skipped.push(Skipped {
                    path: path.display().to_string(),
                    reason: error.to_string(),
                }),
            }
        }
    }
    found.entries.sort_by(|a, b| a.label.cmp(&b.label));
    for pair in found.entries.windows(2) {
        if pair[0].label == pair[1].label {
            return Err(Error::Invalid(format!(
                "two scenarios are both called {:?}: {} and {}",
                pair[0].label,
                pair[0].path.display(),
                pair[1].path.display()
            )));
        }
    }
    Ok(found)
}

/// One session of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionKey {
    /// Its number in the whole tournament.
    pub id: u64,
    /// Index of its scenario in [`Plan::entries`].
    pub scenario: usize,
    /// Competitor index per party role.
    pub assignment: Vec<usize>,
    /// Its repetition, from 0.
    pub repetition: u32,
    /// The seed of its negotiators and mediator.
    pub seed: u64,
}

/// A tournament's sessions.
#[derive(Debug)]
pub struct Plan {
    /// The settings.
    pub settings: Settings,
    /// The scenarios, in label order.
    pub entries: Vec<Entry>,
    /// What was found but left out.
    pub skipped: Vec<Skipped>,
    /// Per scenario, the assignments of competitors to its roles.
    assignments: Vec<std::sync::Arc<Vec<Vec<usize>>>>,
    /// Per scenario, the number of the first of its sessions; one more at the end.
    offsets: Vec<u64>,
}

/// Every ordered tuple of `n` competitors out of `k` (all distinct unless `repeats`).
fn assignments(k: usize, n: usize, repeats: bool) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut tuple = vec![0usize; n];
    if k == 0 || n == 0 {
        return out;
    }
    loop {
        let distinct = repeats || (0..n).all(|i| !tuple[..i].contains(&tuple[i]));
        if distinct {
            out.push(tuple.clone());
        }
        // The next tuple in lexicographic order.
        let mut i = n;
        loop {
            if i == 0 {
                return out;
            }
            i -= 1;
            tuple[i] += 1;
            if tuple[i] < k {
                break;
            }
            tuple[i] = 0;
        }
    }
}

/// FNV-1a, a stable hash for seeds (std's hasher may change between releases).
fn fnv(bytes: &[u8], mut h: u64) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Plan {
    /// The plan of `settings` over the discovered scenarios. Scenarios with more
    /// parties than there are competitors (without self-play) are skipped.
    pub fn new(settings: Settings, discovered: Discovered) -> Result<Plan> {
        settings.check()?;
        let k = settings.negotiators.len();
        let mut entries = Vec::new();
        let mut skipped = discovered.skipped;
        for entry in discovered.entries {
            let n = entry.scenario.n_parties();
            if n < 2 {
                skipped.push(Skipped {
                    path: entry.path.display().to_string(),
                    reason: "a negotiation needs at least two parties".into(),
                });
            } else if n > k && !settings.self_play {
                skipped.push(Skipped {
                    path: entry.path.display().to_string(),
                    reason: format!(
                        "{n} parties but only {k} competitors (allow self-play to use it)"
                    ),
                });
            } else {
                entries.push(entry);
            }
        }
        if entries.is_empty() {
            return Err(Error::Invalid(match skipped.first() {
                Some(s) => format!(
                    "no scenario to play: {} found, none usable (first: {}: {})",
                    skipped.len(),
                    s.path,
                    s.reason
                ),
                None => "no scenario to play: none was found".into(),
            }));
        }
        let mut by_parties: std::collections::BTreeMap<usize, std::sync::Arc<Vec<Vec<usize>>>> =
            Default::default();
        let mut all = Vec::with_capacity(entries.len());
        let mut offsets = vec![0u64];
        for entry in &entries {
            let n = entry.scenario.n_parties();
            let list = by_parties
                .entry(n)
                .or_insert_with(|| std::sync::Arc::new(assignments(k, n, settings.self_play)))
                .clone();
            let last = offsets[offsets.len() - 1];
            offsets.push(last + list.len() as u64 * u64::from(settings.repetitions));
            all.push(list);
        }
        Ok(Plan {
            settings,
            entries,
            skipped,
            assignments: all,
            offsets,
        })
    }

    /// The number of sessions in the whole tournament.
    pub fn total(&self) -> u64 {
        self.offsets[self.offsets.len() - 1]
    }

    /// The sessions of scenario `s`, as a range of session numbers.
    pub fn range(&self, s: usize) -> std::ops::Range<u64> {
        self.offsets[s]..self.offsets[s + 1]
    }

    /// Session `id` (which must be below [`Plan::total`]).
    pub fn session(&self, id: u64) -> SessionKey {
        let scenario = self.offsets.partition_point(|&o| o <= id) - 1;
        let within = id - self.offsets[scenario];
        let reps = u64::from(self.settings.repetitions);
        let assignment = self.assignments[scenario][(within / reps) as usize].clone();
        let repetition = (within % reps) as u32;
        let mut h = fnv(
            self.entries[scenario].label.as_bytes(),
            0xcbf2_9ce4_8422_2325,
        );
        for &c in &assignment {
            h = fnv(&[0xff], h);
            h = fnv(self.settings.negotiators[c].as_bytes(), h);
        }
        h = fnv(&repetition.to_le_bytes(), h);
        let seed = parley_engine::negotiators::role_seed(self.settings.seed, h);
        SessionKey {
            id,
            scenario,
            assignment,
            repetition,
            seed,
        }
    }

    /// The largest number of parties of any scenario.
    pub fn max_parties(&self) -> usize {
        self.entries
            .iter()
            .map(|e| e.scenario.n_parties())
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_are_ordered_tuples() {
        assert_eq!(assignments(3, 2, false).len(), 6);
        assert_eq!(assignments(3, 2, true).len(), 9);
        assert_eq!(assignments(4, 3, false).len(), 24);
        assert_eq!(assignments(2, 3, false).len(), 0);
        assert_eq!(assignments(2, 2, false), vec![vec![0, 1], vec![1, 0]]);
    }

    #[test]
    fn shards_partition_the_sessions() {
        for total in 0..20u64 {
            for count in 1..6u64 {
                let sizes: u64 = (0..count)
                    .map(|index| Shard { index, count }.size(total))
                    .sum();
                assert_eq!(sizes, total);
                for index in 0..count {
                    let shard = Shard { index, count };
                    assert_eq!(
                        (0..total).filter(|&id| shard.holds(id)).count() as u64,
                        shard.size(total)
                    );
                }
            }
        }
        assert!("3/3".parse::<Shard>().is_err());
        assert!("1/0".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        assert_eq!("2/5".parse::<Shard>(), Ok(Shard { index: 2, count: 5 }));
    }
}
