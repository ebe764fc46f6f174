//! A tournament's output folder.
//!
//! - `tournament.json`: the manifest — settings, scenarios, shard. A resumed run and
//!   every shard of a merge must have the same one (but for the shard).
//! - `results.jsonl`: one row per finished session, appended (one `write` per row) as
//!   sessions finish, in the order they finish. A row is on disk before the next one is
//!   counted; a run killed mid-write leaves at most a partial last line, which a resumed
//!   run cuts off before appending.
//! - `results.csv`, `summary.json`, `summary.md`: written when every session of the
//!   shard is done, rows in session order.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::plan::{Plan, Settings, Shard, Skipped};
use crate::row::{csv_header, Row};
use crate::summary::Summary;
use crate::{io_error, Error, Result};

/// The manifest's file name.
pub const MANIFEST: &str = "tournament.json";
/// The append-only log of rows.
pub const LOG: &str = "results.jsonl";
/// The rows as CSV, in session order.
pub const CSV: &str = "results.csv";
/// The summary as JSON.
pub const SUMMARY_JSON: &str = "summary.json";
/// The summary as Markdown.
pub const SUMMARY_MD: &str = "summary.md";

/// A scenario as the manifest records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioInfo {
    /// Its label.
    pub label: String,
    /// Where it was read from (on the machine that wrote the manifest).
    pub path: String,
    /// Its parties.
    pub parties: Vec<String>,
    /// The number of outcomes.
    pub outcomes: String,
    /// The number of its sessions in the whole tournament.
    pub sessions: u64,
}

/// What a tournament is: everything needed to check that runs and shards belong together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The manifest format (1).
    pub format: u32,
    /// The settings.
    pub settings: Settings,
    /// The scenarios, in label order.
    pub scenarios: Vec<ScenarioInfo>,
    /// Scenarios found but left out (informative; not compared).
    pub skipped: Vec<Skipped>,
    /// Sessions in the whole tournament.
    pub sessions: u64,
    /// The shard this folder holds.
    pub shard: Shard,
}

impl Manifest {
    /// The manifest of `plan`'s shard.
    pub fn of(plan: &Plan, shard: Shard) -> Manifest {
        Manifest {
            format: 1,
            settings: plan.settings.clone(),
            scenarios: plan
                .entries
                .iter()
                .enumerate()
                .map(|(s, e)| ScenarioInfo {
                    label: e.label.clone(),
                    path: e.path.display().to_string(),
                    parties: e
                        .scenario
                        .parties()
                        .iter()
                        .map(|p| p.name.clone())
                        .collect(),
                    outcomes: e.scenario.space().outcome_count().to_string(),
                    sessions: plan.range(s).end - plan.range(s).start,
                })
                .collect(),
            skipped: plan.skipped.clone(),
            sessions: plan.total(),
            shard,
        }
    }

    /// Why `other` is not the same tournament (shard and paths aside), if it is not.
    pub fn difference(&self, other: &Manifest) -> Option<String> {
        if self.format != other.format {
            return Some(format!("format {} vs {}", self.format, other.format));
        }
        if self.settings != other.settings {
            return Some(format!(
                "settings differ: {} vs {}",
                serde_json::to_string(&self.settings).unwrap_or_default(),
                serde_json::to_string(&other.settings).unwrap_or_default()
            ));
        }
        if self.scenarios.len() != other.scenarios.len() {
            return Some(format!(
                "{} scenarios vs {}",
                self.scenarios.len(),
                other.scenarios.len()
            ));
        }
        for (a, b) in self.scenarios.iter().zip(&other.scenarios) {
            if (&a.label, &a.parties, &a.outcomes, a.sessions)
                != (&b.label, &b.parties, &b.outcomes, b.sessions)
            {
                return Some(format!("scenario {:?} vs {:?}", a.label, b.label));
            }
        }
        if self.sessions != other.sessions {
            return Some(format!("{} sessions vs {}", self.sessions, other.sessions));
        }
        None
    }

    /// The largest number of parties of any scenario.
    pub fn max_parties(&self) -> usize {
        self.scenarios
            .iter()
            .map(|s| s.parties.len())
            .max()
            .unwrap_or(0)
    }

    /// Reads the manifest in `dir`, `None` if there is none.
    pub fn read(dir: &Path) -> Result<Option<Manifest>> {
        let path = dir.join(MANIFEST);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
        serde_json::from_str(&text).map(Some).map_err(|e| {
            Error::Invalid(format!(
                "{}: not a parley tournament manifest: {e}",
                path.display()
            ))
        })
    }

    /// Writes the manifest into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Invalid(format!("manifest: {e}")))?;
        write_atomic(&dir.join(MANIFEST), (text + "\n").as_bytes())
    }
}

/// Writes a file whole or not at all (a temporary file renamed over it).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).map_err(io_error(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_error(path))
}

/// Reads the log: calls `each(offset, length, row)` for every complete line; returns
/// the length of the complete part (a partial last line, left by a killed run, is not
/// part of it).
pub fn scan_log(path: &Path, mut each: impl FnMut(u64, u64, Row) -> Result<()>) -> Result<u64> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_error(path)(e)),
    };
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut line = Vec::new();
    let mut offset = 0u64;
    let mut number = 0u64;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(io_error(path))?;
        if read == 0 || line.last() != Some(&b'\n') {
            return Ok(offset);
        }
        number += 1;
        let row: Row = serde_json::from_slice(&line).map_err(|e| {
            Error::Invalid(format!(
                "{}:{number}: not a result row: {e}",
                path.display()
            ))
        })?;
        row.check()
            .map_err(|e| Error::Invalid(format!("{}:{number}: {e}", path.display())))?;
        each(offset, read as u64, row)?;
        offset += read as u64;
    }
}

/// The log, open for appending.
pub struct Log {
    file: File,
    path: PathBuf,
}

impl Log {
    /// Opens (creating) the log in `dir`, cutting off a partial last line at `valid`.
    pub fn open(dir: &Path, valid: u64) -> Result<Log> {
        let path = dir.join(LOG);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        let len = file.metadata().map_err(io_error(&path))?.len();
        if len > valid {
            file.set_len(valid).map_err(io_error(&path))?;
        }
        Ok(Log { file, path })
    }

    /// Appends one row with a single write.
    pub fn append(&mut self, row: &Row) -> Result<()> {
        let mut line = serde_json::to_vec(row).map_err(|e| Error::Invalid(format!("row: {e}")))?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(io_error(&self.path))
    }

    /// Flushes the log to the disk.
    pub fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(io_error(&self.path))
    }
}

/// A set of session numbers, one bit each.
pub struct Done {
    bits: Vec<u64>,
    count: u64,
}

impl Done {
    /// An empty set for sessions `0..total`.
    pub fn new(total: u64) -> Done {
        Done {
            bits: vec![0; total.div_ceil(64) as usize],
            count: 0,
        }
    }

    /// Adds `id`; false if it was there already.
    pub fn insert(&mut self, id: u64) -> bool {
        let (word, bit) = ((id / 64) as usize, id % 64);
        let fresh = self.bits[word] & (1 << bit) == 0;
        self.bits[word] |= 1 << bit;
        self.count += u64::from(fresh);
        fresh
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: u64) -> bool {
        self.bits
            .get((id / 64) as usize)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    /// How many sessions are in the set.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// Reads the rows of the log in `dir` that belong to `manifest`'s shard: the sessions
/// done and the length of the log's complete part. Rows of other shards, of sessions
/// the tournament does not have, or twice the same session are errors.
pub fn read_done(dir: &Path, manifest: &Manifest) -> Result<(Done, u64)> {
    let path = dir.join(LOG);
    let mut done = Done::new(manifest.sessions);
    let valid = scan_log(&path, |_, _, row| {
        check_row(&path, manifest, &row)?;
        if !done.insert(row.session) {
            return Err(Error::Invalid(format!(
                "{}: session {} is there twice",
                path.display(),
                row.session
            )));
        }
        Ok(())
    })?;
    Ok((done, valid))
}

fn check_row(path: &Path, manifest: &Manifest, row: &Row) -> Result<()> {
    if row.session >= manifest.sessions || !manifest.shard.holds(row.session) {
        return Err(Error::Invalid(format!(
            "{}: session {} is not one of shard {} of this tournament",
            path.display(),
            row.session,
            manifest.shard
        )));
    }
    Ok(())
}

/// Writes `results.csv` (rows in session order), `summary.json` and `summary.md` from
/// the log in `dir`; returns the summary.
pub fn finish(dir: &Path, manifest: &Manifest) -> Result<Summary> {
    let path = dir.join(LOG);
    let mut index: Vec<(u64, u64, u64)> = Vec::new();
    let mut summary = crate::summary::Accumulator::new(&manifest.settings.negotiators);
    scan_log(&path, |offset, len, row| {
        check_row(&path, manifest, &row)?;
        summary.add(&row);
        index.push((row.session, offset, len));
        Ok(())
    })?;
    index.sort_unstable();
    let roles = manifest.max_parties();
    let csv_path = dir.join(CSV);
    let tmp = csv_path.with_extension("partial");
    let mut csv = csv::Writer::from_writer(std::io::BufWriter::new(
        File::create(&tmp).map_err(io_error(&tmp))?,
    ));
    let csv_error = |e: csv::Error| Error::Invalid(format!("results.csv: {e}"));
    csv.write_record(csv_header(roles)).map_err(csv_error)?;
    let mut file = File::open(&path).map_err(io_error(&path))?;
    let mut line = Vec::new();
    for &(_, offset, len) in &index {
        file.seek(SeekFrom::Start(offset))
            .map_err(io_error(&path))?;
        line.resize(len as usize, 0);
        file.read_exact(&mut line).map_err(io_error(&path))?;
        let row: Row = serde_json::from_slice(&line)
            .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        csv.write_record(row.csv_record(roles)).map_err(csv_error)?;
    }
    let mut out = csv
        .into_inner()
        .map_err(|e| Error::Invalid(format!("results.csv: {e}")))?;
    out.flush().map_err(io_error(&tmp))?;
    drop(out);
    std::fs::rename(&tmp, &csv_path).map_err(io_error(&csv_path))?;
    let summary = summary.finish();
    let json = serde_json::to_string_pretty(&summary)
        .map_err(|e| Error::Invalid(format!("summary: {e}")))?;
    write_atomic(&dir.join(SUMMARY_JSON), (json + "\n").as_bytes())?;
    write_atomic(&dir.join(SUMMARY_MD), summary.markdown().as_bytes())?;
    Ok(summary)
}
