//! parley-tournament: many sessions over scenarios × negotiators × role assignments ×
//! repetitions, run in parallel, appended to disk as they finish, resumable, shardable
//! over machines, and summarised into a ranking. See `docs/tournaments.md`.
//!
//! - [`plan`]: what runs — the scenarios found under the given paths, every ordered
//!   assignment of competitors to party roles, the repetitions, and one seed per
//!   session. The plan is a pure function of its inputs, so every machine of a
//!   sharded run agrees on it.
//! - [`run`]: runs the sessions of one shard that are not yet on disk, in parallel,
//!   appending one JSON line per finished session.
//! - [`summary`]: the ranking, confidence intervals and win matrix, from the rows
//!   alone and independent of their order, so shards merge into exactly the summary
//!   of an unsharded run.
//! - [`merge`]: joins the output folders of all shards.
//! - [`mediation`]: the mediation benchmark (mediated and staged talks against direct
//!   ones, scored with exact utilities).

pub mod mediation;
pub mod merge;
pub mod plan;
pub mod row;
pub mod run;
pub mod store;
pub mod summary;

pub use merge::merge;
pub use plan::{discover, Discovered, Entry, Plan, Settings, Shard};
pub use row::Row;
pub use run::{run, Options, Report};
pub use summary::Summary;

/// What can go wrong in a tournament.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        error: std::io::Error,
    },
    /// A scenario could not be loaded.
    #[error(transparent)]
    Scenario(#[from] parley_formats::Error),
    /// A session could not be set up.
    #[error(transparent)]
    Engine(#[from] parley_engine::Error),
    /// A scenario could not be analysed.
    #[error(transparent)]
    Analysis(#[from] parley_core::Error),
    /// The tournament's inputs or stored files are not what they must be.
    #[error("{0}")]
    Invalid(String),
}

/// The result type of parley-tournament.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |error| Error::Io {
        path: path.display().to_string(),
        error,
    }
}
