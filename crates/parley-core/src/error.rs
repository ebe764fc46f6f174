//! The errors of parley-core.

/// What can go wrong when building or analysing a scenario.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An outcome space needs at least one issue.
    #[error("the outcome space has no issues")]
    EmptySpace,
    /// An issue is not valid.
    #[error("issue {issue:?}: {what}")]
    InvalidIssue {
        /// The issue's name.
        issue: String,
        /// What is wrong.
        what: String,
    },
    /// A label (issue, value, party or scenario name) cannot be used.
    #[error(transparent)]
    InvalidLabel(#[from] crate::label::LabelError),
    /// A utility function does not fit the outcome space.
    #[error("{0}")]
    InvalidUtility(String),
    /// A party is not valid.
    #[error("party {party:?}: {source}")]
    InvalidParty {
        /// The party's name.
        party: String,
        /// What is wrong.
        source: Box<Error>,
    },
    /// A scenario needs at least one party.
    #[error("the scenario has no parties")]
    NoParties,
    /// An outcome is not in the outcome space.
    #[error("invalid outcome: {0}")]
    InvalidOutcome(String),
    /// The analysis cannot be done as asked.
    #[error("analysis: {0}")]
    Analysis(String),
}

/// The result type of parley-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;
