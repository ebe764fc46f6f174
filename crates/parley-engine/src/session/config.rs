//! How a session is set up: the protocol, its deadline and clock, and who confides.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::events::Event;

/// The indirect protocol of staged talks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Indirect {
    /// Shuttle mediation.
    Shuttle,
    /// Mediated single text.
    SingleText,
}

/// Which protocol a session follows.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ProtocolKind {
    /// Stacked alternating offers.
    Saop,
    /// Mediated single negotiating text.
    SingleText,
    /// Shuttle mediation.
    Shuttle,
    /// Indirect talks that move to direct ones.
    Staged {
        /// The indirect protocol.
        indirect: Indirect,
        /// Progress (in [0, 1]) at which talks move to direct.
        threshold: f64,
        /// Rounds the indirect phase may last.
        indirect_rounds: u32,
    },
}

impl ProtocolKind {
    /// The protocol's name.
    pub fn name(&self) -> &'static str {
        match self {
            ProtocolKind::Saop => "saop",
            ProtocolKind::SingleText => "single-text",
            ProtocolKind::Shuttle => "shuttle",
            ProtocolKind::Staged { .. } => "staged",
        }
    }

    /// Staged talks with the default settings of `parley run`: a shuttle phase of half
    /// the rounds (at least one), moving to direct talks at progress 0.75.
    pub fn staged(rounds: u32) -> ProtocolKind {
        ProtocolKind::Staged {
            indirect: Indirect::Shuttle,
            threshold: 0.75,
            indirect_rounds: (rounds / 2).max(1),
        }
    }

    /// A protocol by name (`saop`, `single-text`, `shuttle`, `staged`), with the
    /// settings of staged talks: the indirect protocol (`shuttle` or `single-text`,
    /// default shuttle), the threshold (default 0.75) and the rounds of the indirect
    /// phase (default half of `rounds`, at least one). Settings given to another
    /// protocol are an error, as are out-of-range ones.
    pub fn from_options(
        name: &str,
        rounds: u32,
        indirect: Option<&str>,
        threshold: Option<f64>,
        indirect_rounds: Option<u32>,
    ) -> Result<ProtocolKind, String> {
        let staged_only = indirect.is_some() || threshold.is_some() || indirect_rounds.is_some();
        let protocol = match name {
            "saop" => ProtocolKind::Saop,
            "single-text" => ProtocolKind::SingleText,
            "shuttle" => ProtocolKind::Shuttle,
            "staged" => ProtocolKind::Staged {
                indirect: match indirect {
                    None | Some("shuttle") => Indirect::Shuttle,
                    Some("single-text") => Indirect::SingleText,
                    Some(other) => {
                        return Err(format!(
                            "indirect: expected shuttle or single-text, not {other:?}"
                        ))
                    }
                },
                threshold: match threshold {
                    None => 0.75,
                    Some(t) if (0.0..=1.0).contains(&t) => t,
                    Some(t) => return Err(format!("threshold: must be in [0, 1], not {t}")),
                },
                indirect_rounds: match indirect_rounds {
                    None => (rounds / 2).max(1),
                    Some(r) if (1..=rounds).contains(&r) => r,
                    Some(r) => {
                        return Err(format!(
                            "indirect_rounds: must be 1 to {rounds} (the rounds), not {r}"
                        ))
                    }
                },
            },
            other => {
                return Err(format!(
                    "protocol: expected saop, single-text, shuttle or staged, not {other:?}"
                ))
            }
        };
        if staged_only && !matches!(protocol, ProtocolKind::Staged { .. }) {
            return Err(
                "indirect, threshold and indirect_rounds apply only to protocol staged".into(),
            );
        }
        Ok(protocol)
    }

    /// Whether the protocol needs a mediator.
    pub fn needs_mediator(&self) -> bool {
        !matches!(self, ProtocolKind::Saop)
    }

    /// The built-in mediator used when none is named: the hill-climber for single-text
    /// talks, the shuttle mediator otherwise (`None` for `saop`).
    pub fn default_mediator(&self) -> Option<&'static str> {
        match self {
            ProtocolKind::Saop => None,
            ProtocolKind::SingleText
            | ProtocolKind::Staged {
                indirect: Indirect::SingleText,
                ..
            } => Some("hill-climber"),
            ProtocolKind::Shuttle | ProtocolKind::Staged { .. } => Some("shuttle"),
        }
    }
}

/// Where a session reads the time: injected, so that wall-time deadlines can be
/// tested without sleeping.
pub trait Clock: Send + Sync {
    /// Time elapsed since the clock started.
    fn elapsed(&self) -> Duration;
}

/// The real clock, started when created.
pub struct SystemClock(Instant);

impl SystemClock {
    /// A clock started now.
    pub fn start() -> SystemClock {
        SystemClock(Instant::now())
    }
}

impl Clock for SystemClock {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// A function told of every event as it happens.
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync>;

/// Settings of a session.
#[derive(Clone)]
pub struct SessionConfig {
    /// The protocol.
    pub protocol: ProtocolKind,
    /// Round deadline (at least 1).
    pub rounds: u32,
    /// Optional wall-time deadline.
    pub time_limit: Option<Duration>,
    /// Per party: whether it confides its preferences to the mediator.
    pub confide: Vec<bool>,
    /// Whether the mediator may propose improvements after a deal
    /// ([`POST_SETTLEMENT_TRIES`](super::POST_SETTLEMENT_TRIES) at most).
    pub post_settlement: bool,
    /// Where the session reads the time (`None`: a system clock started with the session).
    pub clock: Option<Arc<dyn Clock>>,
    /// Bid spaces shared by the sessions of one scenario (tournaments pass one per
    /// scenario; `None` builds them per session). Results are the same either way.
    pub bids: Option<Arc<crate::negotiators::BidCache>>,
    /// Called with every event as it is appended to the trace (the full trace: the
    /// caller decides who may see what, with [`crate::visibility`]). A live server
    /// logs events with it.
    pub observer: Option<Observer>,
    /// Seeds the scenario's breakdown risk (whether the talks collapse in a round is a
    /// function of this seed and the round: sessions stay deterministic).
    pub seed: u64,
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("protocol", &self.protocol)
            .field("rounds", &self.rounds)
            .field("time_limit", &self.time_limit)
            .field("confide", &self.confide)
            .field("post_settlement", &self.post_settlement)
            .finish_non_exhaustive()
    }
}

impl SessionConfig {
    /// A session of `rounds` rounds of `protocol`, nothing confided, post-settlement on.
    pub fn new(protocol: ProtocolKind, rounds: u32) -> SessionConfig {
        SessionConfig {
            protocol,
            rounds,
            time_limit: None,
            confide: Vec::new(),
            post_settlement: true,
            clock: None,
            bids: None,
            observer: None,
            seed: 0,
        }
    }
}
