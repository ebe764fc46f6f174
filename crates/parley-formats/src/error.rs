//! The errors of parley-formats.

/// What can go wrong reading or writing a scenario file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        error: std::io::Error,
    },
    /// The file is not well-formed TOML, JSON or XML.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// What the parser said, with line and column.
        message: String,
    },
    /// The file is well-formed but says something invalid.
    #[error("{path}: {place}: {what}")]
    Invalid {
        /// The file.
        path: String,
        /// Where in the file (a party, issue, element and line).
        place: String,
        /// What is wrong, and what was expected.
        what: String,
    },
    /// The scenario the file describes is not valid.
    #[error("{path}: {error}")]
    Scenario {
        /// The file.
        path: String,
        /// What is wrong with the scenario.
        error: parley_core::Error,
    },
    /// The path is neither a native scenario file nor a Genius folder.
    #[error("{path}: {what}")]
    Unsupported {
        /// The path.
        path: String,
        /// What was expected.
        what: String,
    },
}

/// The result type of parley-formats.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn invalid(path: &str, place: impl Into<String>, what: impl Into<String>) -> Error {
    Error::Invalid {
        path: path.to_string(),
        place: place.into(),
        what: what.into(),
    }
}
