//! The negotiator interface: what a strategy implements, and the view it is given.

use parley_core::{CompiledUtility, OutcomeSpace};

use crate::events::{Event, Phase};

/// A party's own view: its own preferences and the public facts of the session.
/// It holds nothing private of any other party.
pub struct PartyContext<'a> {
    /// This party's index.
    pub index: usize,
    /// Number of parties.
    pub n_parties: usize,
    /// The outcome space.
    pub space: &'a OutcomeSpace,
    /// This party's utility function.
    pub utility: &'a CompiledUtility,
    /// This party's reservation value.
    pub reservation: f64,
    /// This party's discount factor.
    pub discount: f64,
    /// Round deadline of the session.
    pub rounds: u32,
    /// Bid spaces shared between sessions of this scenario, if the caller keeps them.
    pub bids: Option<&'a crate::negotiators::BidCache>,
}

/// The public state of a session when a negotiator is asked to act.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct State {
    /// Round (0-based).
    pub round: u32,
    /// Normalised time in [0, 1].
    pub time: f64,
    /// Current phase.
    pub phase: Phase,
}

/// What a party does on its turn in direct talks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Accept the standing offer.
    Accept,
    /// Make a counter-offer (value indices).
    Offer(Vec<u32>),
    /// Leave the talks: everyone gets its reservation value.
    WalkAway,
}

/// A strategy that plays a party. Each method gets the party's own context; the
/// engine never hands it anything another party keeps private.
pub trait Negotiator: Send {
    /// The strategy's name with its parameters.
    fn name(&self) -> String;

    /// Called once before the session starts.
    fn init(&mut self, _ctx: &PartyContext<'_>) {}

    /// An event this party may see (see `visibility`).
    fn observe(&mut self, _ctx: &PartyContext<'_>, _event: &Event) {}

    /// Direct talks: act on the standing offer (`None` when this party opens).
    fn act(&mut self, ctx: &PartyContext<'_>, state: &State, standing: Option<&[u32]>) -> Action;

    /// Indirect talks: a proposal for the mediator (`None`: nothing new to say).
    fn propose(&mut self, ctx: &PartyContext<'_>, state: &State) -> Option<Vec<u32>>;

    /// Answer a text put by the mediator; `current` is the last text everyone accepted.
    fn vote(
        &mut self,
        ctx: &PartyContext<'_>,
        state: &State,
        text: &[u32],
        current: Option<&[u32]>,
    ) -> bool;
}

/// What a party confided to the mediator.
pub struct Confided<'a> {
    /// Its utility function.
    pub utility: &'a CompiledUtility,
    /// Its reservation value.
    pub reservation: f64,
}

/// The mediator's view: the space, and what parties chose to confide.
pub struct MediatorContext<'a> {
    /// The outcome space.
    pub space: &'a OutcomeSpace,
    /// Number of parties.
    pub n_parties: usize,
    /// Per party: its confided preferences, if it confided them.
    pub confided: Vec<Option<Confided<'a>>>,
    /// Round deadline.
    pub rounds: u32,
}

impl MediatorContext<'_> {
    /// Whether every party confided its preferences.
    pub fn all_confided(&self) -> bool {
        self.confided.iter().all(Option::is_some)
    }
}

/// A strategy that plays the mediator.
pub trait Mediator: Send {
    /// The strategy's name with its parameters.
    fn name(&self) -> String;

    /// Called once before the session starts.
    fn init(&mut self, _ctx: &MediatorContext<'_>) {}

    /// An event the mediator may see.
    fn observe(&mut self, _ctx: &MediatorContext<'_>, _event: &Event) {}

    /// The next text to put to every party (single text, shuttle).
    fn text(&mut self, ctx: &MediatorContext<'_>, state: &State) -> Vec<u32>;

    /// The mediator's progress measure in [0, 1] (staged talks move to direct above a threshold).
    fn progress(&self) -> f64;

    /// After a deal: an outcome it believes is better for some party and worse for
    /// none, if it knows one (needs confided preferences).
    fn improve(&mut self, _ctx: &MediatorContext<'_>, _agreement: &[u32]) -> Option<Vec<u32>> {
        None
    }
}
