//! The negotiator interface: what a strategy implements, and the view it is given.

use parley_core::{CompiledUtility, Forbidden, OutcomeSpace};

/// The red lines of a party that has none.
static NO_RED_LINES: Forbidden = Forbidden::EMPTY;

use crate::events::{Event, Phase};

/// A party's own view: its own preferences and the public facts of the session.
/// It holds nothing private of any other party, and its fields are private: a
/// strategy reads them through the methods below and cannot build a context that
/// reaches the engine's shared bid spaces (only the engine can).
///
/// ```compile_fail,E0616
/// // A strategy cannot reach the shared cache, or any other party's data, through
/// // the context: the fields are private.
/// fn peek(ctx: &parley_engine::PartyContext<'_>) {
///     let _ = ctx.bids;
/// }
/// ```
///
/// ```compile_fail,E0624
/// // Nor can it look up another party's bid space in a cache: `BidCache::get` is
/// // the engine's alone.
/// fn peek(cache: &parley_engine::negotiators::BidCache, ctx: &parley_engine::PartyContext<'_>) {
///     let _ = cache.get(ctx);
/// }
/// ```
pub struct PartyContext<'a> {
    index: usize,
    n_parties: usize,
    space: &'a OutcomeSpace,
    utility: &'a CompiledUtility,
    reservation: f64,
    alternative: Option<&'a parley_core::Alternative>,
    red_lines: &'a Forbidden,
    discount: f64,
    rounds: u32,
    /// Bid spaces shared between sessions of this scenario; only the engine sets it,
    /// and only this party's slot is ever read through the context.
    bids: Option<&'a crate::negotiators::BidCache>,
    /// The scenario, for its public words only (its name, description and party
    /// names) and this party's own briefing; only the engine sets it.
    words: Option<&'a parley_core::Scenario>,
}

impl<'a> PartyContext<'a> {
    /// A context for party `index` of `n_parties`, with its own preferences. Built
    /// this way (outside the engine) it shares no bid space with anything.
    pub fn new(
        index: usize,
        n_parties: usize,
        space: &'a OutcomeSpace,
        utility: &'a CompiledUtility,
        reservation: f64,
        discount: f64,
        rounds: u32,
    ) -> PartyContext<'a> {
        PartyContext {
            index,
            n_parties,
            space,
            utility,
            reservation,
            alternative: None,
            red_lines: &NO_RED_LINES,
            discount,
            rounds,
            bids: None,
            words: None,
        }
    }

    /// Party `index`'s context in `scenario`, for talks of `rounds` rounds: its own
    /// preferences (utility, reservation value or alternative, red lines, discount)
    /// and the scenario's public words with its own briefing; nothing of another
    /// party's preferences is reachable through it.
    pub fn of_party(
        scenario: &'a parley_core::Scenario,
        index: usize,
        rounds: u32,
    ) -> PartyContext<'a> {
        let party = &scenario.parties()[index];
        PartyContext::new(
            index,
            scenario.n_parties(),
            scenario.space(),
            &scenario.utilities()[index],
            party.reservation,
            party.discount,
            rounds,
        )
        .with_alternative(party.alternative.as_ref())
        .with_red_lines(scenario.red_lines(index))
        .with_words(scenario)
    }

    /// The same context, for a party whose alternative to a deal is a lottery over
    /// time (see [`PartyContext::reservation_at`]).
    pub fn with_alternative(
        mut self,
        alternative: Option<&'a parley_core::Alternative>,
    ) -> PartyContext<'a> {
        self.alternative = alternative;
        self
    }

    /// The same context, for a party with red lines: outcomes it never proposes or
    /// accepts, whatever their utility.
    pub fn with_red_lines(mut self, red_lines: &'a Forbidden) -> PartyContext<'a> {
        self.red_lines = red_lines;
        self
    }

    /// The engine's context: the same, reading this party's slot of a shared cache.
    pub(crate) fn with_cache(
        mut self,
        bids: Option<&'a crate::negotiators::BidCache>,
    ) -> PartyContext<'a> {
        self.bids = bids;
        self
    }

    /// The same context, with the scenario's public words (its name, description and
    /// party names) and this party's own briefing.
    fn with_words(mut self, scenario: &'a parley_core::Scenario) -> PartyContext<'a> {
        self.words = Some(scenario);
        self
    }

    /// The scenario's name (`None` outside the engine).
    pub fn scenario_name(&self) -> Option<&'a str> {
        self.words.map(parley_core::Scenario::name)
    }

    /// The scenario's public description, if it has one.
    pub fn description(&self) -> Option<&'a str> {
        self.words.and_then(parley_core::Scenario::description)
    }

    /// This party's own private briefing, if it has one (never another party's).
    pub fn briefing(&self) -> Option<&'a str> {
        self.words.and_then(|s| s.briefing(self.index))
    }

    /// The name of party `i` (public: every party knows who sits at the table);
    /// `P{i}` outside the engine.
    pub fn party_name(&self, i: usize) -> String {
        self.words
            .and_then(|s| s.parties().get(i))
            .map_or_else(|| format!("P{i}"), |p| p.name.clone())
    }

    /// This party's index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Number of parties.
    pub fn n_parties(&self) -> usize {
        self.n_parties
    }

    /// The outcome space.
    pub fn space(&self) -> &'a OutcomeSpace {
        self.space
    }

    /// This party's utility function.
    pub fn utility(&self) -> &'a CompiledUtility {
        self.utility
    }

    /// This party's reservation value.
    pub fn reservation(&self) -> f64 {
        self.reservation
    }

    /// What walking away is worth to this party at normalised time `t`, in the same
    /// (undiscounted) units as its utility: its alternative's value v(t), or its
    /// reservation value. A deal worth less than this now is worse than no deal (both
    /// are discounted alike).
    pub fn reservation_at(&self, t: f64) -> f64 {
        self.alternative.map_or(self.reservation, |a| a.value(t))
    }

    /// This party's red lines.
    pub fn red_lines(&self) -> &'a Forbidden {
        self.red_lines
    }

    /// Whether `outcome` crosses one of this party's red lines.
    pub fn crosses_red_line(&self, outcome: &[u32]) -> bool {
        self.red_lines.crosses(outcome)
    }

    /// Whether this party can accept `outcome` at normalised time `t`: it crosses none
    /// of its red lines and is worth at least what walking away is worth then.
    pub fn acceptable(&self, outcome: &[u32], t: f64) -> bool {
        !self.red_lines.crosses(outcome) && self.utility.value(outcome) >= self.reservation_at(t)
    }

    /// This party's discount factor.
    pub fn discount(&self) -> f64 {
        self.discount
    }

    /// Round deadline of the session.
    pub fn rounds(&self) -> u32 {
        self.rounds
    }

    /// This party's own outcomes sorted by its own utility: from the engine's shared
    /// cache when the session has one (built once per party and scenario), else
    /// built now. There is no way to ask for another party's.
    pub fn bid_space(&self) -> std::sync::Arc<crate::negotiators::BidSpace> {
        match self.bids {
            Some(cache) => cache.get(self),
            None => std::sync::Arc::new(crate::negotiators::BidSpace::new(self)),
        }
    }
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

/// The longest message a role may send with a move, in characters (longer ones are
/// cut there, with an ellipsis).
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// One exchange with a language model behind a move (see the `parley-llm` crate): the
/// exact prompt sent, the exact reply, and what parley made of it (a guardrail that
/// changed the move, a retry, a fallback). Only the owner and the role that made it
/// ever see it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelCall {
    /// The prompt as sent (the chat messages, as JSON).
    pub prompt: String,
    /// The model's reply as received (or the transport error).
    pub reply: String,
    /// What parley did with it: empty when the reply was taken as it was.
    pub note: String,
}

/// A strategy that plays a party. Each method gets the party's own context; the
/// engine never hands it anything another party keeps private.
///
/// A negotiator need not be `Send`: a session runs on one thread from start to end
/// (the live server runs each session's engine as a coroutine pinned to one worker,
/// and a seat's negotiator suspends that coroutine while it waits for a person).
pub trait Negotiator {
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

    /// Answer a text put by the mediator: accept it as the agreement or not. `current`
    /// is what the text is judged against: in single-text talks, from the second round
    /// on, the first text tabled (the reference); after a deal (`state.phase` is
    /// post-settlement), the agreement, which stands if the text is rejected; `None`
    /// otherwise.
    fn vote(
        &mut self,
        ctx: &PartyContext<'_>,
        state: &State,
        text: &[u32],
        current: Option<&[u32]>,
    ) -> bool;

    /// Staged talks: the mediator calls for direct talks; consent to go direct or not
    /// (talks go direct only if every party consents). The default consents.
    fn consent(&mut self, _ctx: &PartyContext<'_>, _state: &State) -> bool {
        true
    }

    /// Words to go with the move just made (the engine asks after every call): in
    /// direct talks every role hears them, while the talks go through the mediator
    /// only the mediator does. The default says nothing.
    fn message(&mut self) -> Option<String> {
        None
    }

    /// The language-model exchanges behind the move just made, for the owner's trace
    /// (the engine asks after every call). The default has none.
    fn model_calls(&mut self) -> Vec<ModelCall> {
        Vec::new()
    }
}

/// What a party confided to the mediator.
pub struct Confided<'a> {
    /// Its utility function.
    pub utility: &'a CompiledUtility,
    /// Its reservation value (its alternative's value at t = 0 when it has one).
    pub reservation: f64,
    /// Its alternative to a deal when that is a lottery over time.
    pub alternative: Option<&'a parley_core::Alternative>,
}

impl Confided<'_> {
    /// What walking away is worth to the party at normalised time `t` (undiscounted).
    pub fn reservation_at(&self, t: f64) -> f64 {
        self.alternative.map_or(self.reservation, |a| a.value(t))
    }
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
    /// Normalised time of the call.
    pub time: f64,
    /// Every party's red lines together (parties tell the mediator their red lines,
    /// not whose they are nor their preferences): a text that crosses one is never
    /// carried or tabled.
    pub red_lines: &'a Forbidden,
}

impl MediatorContext<'_> {
    /// Whether every party confided its preferences.
    pub fn all_confided(&self) -> bool {
        self.confided.iter().all(Option::is_some)
    }
}

/// What the mediator puts to the parties in one round of indirect talks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tabled {
    /// The same text to every party (the only choice in single-text talks).
    Common(Vec<u32>),
    /// Shuttle: one text per party, in party order, each carried to that party's room
    /// only. A deal needs every party to accept the same text, so texts that differ
    /// between rooms only probe.
    PerRoom(Vec<Vec<u32>>),
}

impl Tabled {
    /// The text carried to `party`.
    pub fn for_party(&self, party: usize) -> Option<&[u32]> {
        match self {
            Tabled::Common(text) => Some(text),
            Tabled::PerRoom(texts) => texts.get(party).map(Vec::as_slice),
        }
    }

    /// The text, when every party gets the same one.
    pub fn common(&self) -> Option<&[u32]> {
        match self {
            Tabled::Common(text) => Some(text),
            Tabled::PerRoom(texts) => {
                let first = texts.first()?;
                texts.iter().all(|t| t == first).then_some(first.as_slice())
            }
        }
    }
}

/// A strategy that plays the mediator (need not be `Send`, as [`Negotiator`]).
pub trait Mediator {
    /// The strategy's name with its parameters.
    fn name(&self) -> String;

    /// Called once before the session starts.
    fn init(&mut self, _ctx: &MediatorContext<'_>) {}

    /// An event the mediator may see.
    fn observe(&mut self, _ctx: &MediatorContext<'_>, _event: &Event) {}

    /// Indirect talks: the text(s) for this round (single text: one common text;
    /// shuttle: common or one per room).
    fn text(&mut self, ctx: &MediatorContext<'_>, state: &State) -> Tabled;

    /// Direct talks of staged talks. Asked when the talks go direct, for the default
    /// text (`None`: the engine takes the last text every party accepted in
    /// principle, else, after single-text talks, the text on the table, else there
    /// is none); then before every later round, for a text to table as the standing
    /// offer (`None`: let the parties talk; the default does not change).
    fn direct_text(&mut self, _ctx: &MediatorContext<'_>, _state: &State) -> Option<Vec<u32>> {
        None
    }

    /// The mediator's progress measure in [0, 1] (staged talks move to direct above a threshold).
    fn progress(&self) -> f64;

    /// Words to go with the text(s) just put (the engine asks after every call):
    /// `(None, words)` to every party, `(Some(p), words)` to party `p`'s room only.
    /// The default says nothing.
    fn messages(&mut self) -> Vec<(Option<usize>, String)> {
        Vec::new()
    }

    /// The language-model exchanges behind the call just made, for the owner's trace.
    fn model_calls(&mut self) -> Vec<ModelCall> {
        Vec::new()
    }

    /// After a deal: an outcome it believes is better for some party and worse for
    /// none, if it knows one (needs confided preferences).
    fn improve(&mut self, _ctx: &MediatorContext<'_>, _agreement: &[u32]) -> Option<Vec<u32>> {
        None
    }
}
