//! The protocol options shared by `parley run` and `parley tournament`.

use std::time::Duration;

use parley_engine::session::Indirect;
use parley_engine::ProtocolKind;

/// The help of a `--negotiators` option: `lead`, then the built-ins and where their
/// parameters are documented.
pub fn negotiators_help(lead: &str) -> String {
    format!(
        "{lead}. Built-ins: {}; parameters after colons, e.g. `boulware:e=0.2` \
         (see docs/negotiators.md)",
        parley_engine::negotiators::NEGOTIATORS.join(", ")
    )
}

/// How the talks are held.
#[derive(clap::Args, Clone)]
pub struct ProtocolOpts {
    /// The protocol [default: staged for `run`, saop for `tournament`].
    #[arg(long, value_enum)]
    pub protocol: Option<ProtocolArg>,
    /// The mediator (protocols other than saop): hill-climber or shuttle.
    #[arg(long)]
    pub mediator: Option<String>,
    /// Round deadline.
    #[arg(long, default_value_t = 100)]
    pub rounds: u32,
    /// Wall-time deadline in seconds (in addition to the rounds).
    #[arg(long, value_name = "SECONDS")]
    pub time: Option<f64>,
    /// Parties that confide their preferences to the mediator: `all`, `none`, or
    /// (`run` only) party names; a tournament takes `all` or `none`.
    #[arg(long, default_value = "none", value_delimiter = ',')]
    pub confide: Vec<String>,
    /// Staged talks: the indirect protocol.
    #[arg(long, value_enum, default_value_t = IndirectArg::Shuttle)]
    pub indirect: IndirectArg,
    /// Staged talks: progress (0–1) at which talks move to direct.
    #[arg(long, default_value_t = 0.75)]
    pub threshold: f64,
    /// Staged talks: rounds the indirect phase may last (default: half the rounds).
    #[arg(long)]
    pub indirect_rounds: Option<u32>,
    /// After a deal, let the mediator propose up to 5 improvements, each taken only if
    /// every party accepts it as no worse than the deal: on (default) or off.
    #[arg(
        long,
        value_enum,
        default_value_t = OnOff::On,
        num_args = 0..=1,
        default_missing_value = "on"
    )]
    pub post_settlement: OnOff,
}

/// A switch.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    /// On.
    On,
    /// Off.
    Off,
}

impl OnOff {
    /// Whether it is on.
    pub fn on(self) -> bool {
        self == OnOff::On
    }
}

/// A protocol.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ProtocolArg {
    /// Stacked alternating offers.
    Saop,
    /// Mediated single negotiating text.
    SingleText,
    /// Shuttle mediation.
    Shuttle,
    /// Indirect talks that move to direct ones.
    Staged,
}

/// The indirect phase of staged talks.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum IndirectArg {
    /// Shuttle mediation.
    Shuttle,
    /// Single negotiating text.
    SingleText,
}

impl ProtocolOpts {
    /// The protocol, `default` when none was given.
    pub fn protocol(&self, default: ProtocolArg) -> ProtocolKind {
        match self.protocol.unwrap_or(default) {
            ProtocolArg::Saop => ProtocolKind::Saop,
            ProtocolArg::SingleText => ProtocolKind::SingleText,
            ProtocolArg::Shuttle => ProtocolKind::Shuttle,
            ProtocolArg::Staged => ProtocolKind::Staged {
                indirect: match self.indirect {
                    IndirectArg::Shuttle => Indirect::Shuttle,
                    IndirectArg::SingleText => Indirect::SingleText,
                },
                threshold: self.threshold,
                indirect_rounds: self.indirect_rounds.unwrap_or((self.rounds / 2).max(1)),
            },
        }
    }

    /// The wall-time deadline, checked.
    pub fn time_limit(&self) -> anyhow::Result<Option<Duration>> {
        match self.time {
            Some(t) if t.is_finite() && t > 0.0 && t < 1e7 => Ok(Some(Duration::from_secs_f64(t))),
            Some(t) => anyhow::bail!("--time must be a positive number of seconds, not {t}"),
            None => Ok(None),
        }
    }

    /// The mediator's specification: the one given, or the protocol's default.
    pub fn mediator_spec(&self, protocol: &ProtocolKind) -> Option<String> {
        match (&self.mediator, protocol.default_mediator()) {
            (Some(spec), _) => Some(spec.clone()),
            (None, default) => default.map(str::to_owned),
        }
    }
}
