//! parley-engine: protocols, the negotiator interface, built-in strategies, sessions
//! and traces.
//!
//! The engine is synchronous and deterministic: a session is a pure function of its
//! scenario, configuration, negotiators and seed. Each negotiator sees only its own
//! view (its own utility function and reservation value, the public state, and the
//! events the protocol's visibility policy lets it see: [`visibility`]). Protocol rules
//! are in `docs/protocols.md`.

pub mod events;
pub mod negotiator;
pub mod negotiators;
pub mod session;
pub mod visibility;

pub use events::{EndReason, Event, EventKind, Phase, Recipient, Trace};
pub use negotiator::{
    Action, Mediator, MediatorContext, ModelCall, Negotiator, PartyContext, State, Tabled,
};
pub use session::{run_session, ProtocolKind, SessionConfig, SessionResult, StrategyError};

/// What can go wrong setting up a session (failures during a session are data).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration does not fit the scenario.
    #[error("{0}")]
    Config(String),
    /// A negotiator name or parameter is not known.
    #[error("{0}")]
    UnknownNegotiator(String),
    /// The scenario could not be analysed.
    #[error(transparent)]
    Core(#[from] parley_core::Error),
}

/// The result type of parley-engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;
