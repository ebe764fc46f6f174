//! parley-formats: reading and writing scenarios.
//!
//! - the native format, TOML or JSON ([`native`], `docs/scenario-format.md`);
//! - Genius XML folders ([`genius`], `docs/genius.md`);
//! - GeniusWeb JSON profile folders ([`geniusweb`]).
//!
//! [`load`] picks the reader from the path: a folder is a Genius scenario, a `.toml`
//! or `.json` file is native.

pub mod error;
pub mod genius;
pub mod geniusweb;
mod locate;
pub mod native;
pub mod report;

use std::path::Path;

pub use error::{Error, Result};
use parley_core::Scenario;

/// A loaded scenario and the repairs made while reading it.
#[derive(Debug)]
pub struct Loaded {
    /// The scenario.
    pub scenario: Scenario,
    /// What was repaired or ignored while reading (Genius files only).
    pub notes: Vec<String>,
}

/// The formats parley reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Native TOML.
    Toml,
    /// Native JSON.
    Json,
    /// A Genius XML folder.
    Genius,
    /// A folder of GeniusWeb JSON profiles.
    GeniusWeb,
}

impl Format {
    /// The format a path is in, from its extension (a folder is Genius).
    pub fn of_path(path: &Path) -> Option<Format> {
        if path.is_dir() {
            return Some(if geniusweb::is_folder(path) {
                Format::GeniusWeb
            } else {
                Format::Genius
            });
        }
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "toml" => Some(Format::Toml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Reads the scenario at `path`: a native `.toml`/`.json` file or a Genius folder.
pub fn load(path: &Path) -> Result<Loaded> {
    let display = path.display().to_string();
    let format = Format::of_path(path).ok_or_else(|| Error::Unsupported {
        path: display.clone(),
        what: if path.exists() {
            "expected a .toml or .json scenario file, or a Genius scenario folder".into()
        } else {
            "no such file or folder".into()
        },
    })?;
    let read = || {
        std::fs::read_to_string(path).map_err(|error| Error::Io {
            path: display.clone(),
            error,
        })
    };
    match format {
        Format::Toml => Ok(Loaded {
            scenario: native::parse_toml(&read()?, &display)?,
            notes: Vec::new(),
        }),
        Format::Json => Ok(Loaded {
            scenario: native::parse_json(&read()?, &display)?,
            notes: Vec::new(),
        }),
        Format::Genius => {
            let loaded = genius::read_folder(path)?;
            Ok(Loaded {
                scenario: loaded.scenario,
                notes: loaded.notes,
            })
        }
        Format::GeniusWeb => {
            let loaded = geniusweb::read_folder(path)?;
            Ok(Loaded {
                scenario: loaded.scenario,
                notes: loaded.notes,
            })
        }
    }
}
