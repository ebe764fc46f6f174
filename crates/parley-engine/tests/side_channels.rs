//! Side channels: for each mediated protocol, runs that differ only in one party's
//! private moves (what it proposes to the mediator, how it votes, whether it confides)
//! tell the other party exactly the same things, numbered the same, and ask it the
//! same questions at the same moments. The mediator is scripted, so that nothing
//! reaches the other party through the mediator's own choices (a real mediator uses
//! what it is told; that is the point of mediation, not a leak).

use std::sync::{Arc, Mutex};

use parley_engine::session::Indirect;
use parley_engine::{
    run_session, Action, Event, MediatorContext, Negotiator, PartyContext, ProtocolKind,
    SessionConfig, State, Tabled,
};

use crate::protocols::bundled;

/// What one party did, by kind of question.
#[derive(Clone)]
struct Moves {
    proposal: Option<Vec<u32>>,
    vote: bool,
    consent: bool,
    /// Direct talks: counter with this, never accept.
    counter: Vec<u32>,
}

/// Everything a party was told and asked, in order.
#[derive(Clone, Debug, PartialEq)]
enum Told {
    Event(Event),
    Asked(&'static str, State),
}

#[derive(Clone)]
struct Party {
    moves: Moves,
    told: Arc<Mutex<Vec<Told>>>,
}

impl Party {
    fn note(&self, what: Told) {
        self.told.lock().expect("lock").push(what);
    }
}

impl Negotiator for Party {
    fn name(&self) -> String {
        "party".into()
    }
    fn observe(&mut self, _: &PartyContext<'_>, event: &Event) {
        self.note(Told::Event(event.clone()));
    }
    fn act(&mut self, _: &PartyContext<'_>, state: &State, _: Option<&[u32]>) -> Action {
        self.note(Told::Asked("act", *state));
        Action::Offer(self.moves.counter.clone())
    }
    fn propose(&mut self, _: &PartyContext<'_>, state: &State) -> Option<Vec<u32>> {
        self.note(Told::Asked("propose", *state));
        self.moves.proposal.clone()
    }
    fn vote(&mut self, _: &PartyContext<'_>, state: &State, _: &[u32], _: Option<&[u32]>) -> bool {
        self.note(Told::Asked("vote", *state));
        self.moves.vote
    }
    fn consent(&mut self, _: &PartyContext<'_>, state: &State) -> bool {
        self.note(Told::Asked("consent", *state));
        self.moves.consent
    }
}

/// Tables the same texts whatever it is told; calls for direct talks at once.
struct Fixed(Vec<Vec<u32>>);

impl parley_engine::Mediator for Fixed {
    fn name(&self) -> String {
        "fixed".into()
    }
    fn text(&mut self, _: &MediatorContext<'_>, state: &State) -> Tabled {
        Tabled::Common(self.0[state.round as usize % self.0.len()].clone())
    }
    fn direct_text(&mut self, _: &MediatorContext<'_>, _: &State) -> Option<Vec<u32>> {
        None
    }
    fn progress(&self) -> f64 {
        1.0
    }
}

#[test]
fn another_partys_private_moves_change_nothing_a_party_is_told_or_asked() {
    let scenario = bundled("job-offer.toml");
    let n_issues = scenario.space().n_issues();
    let cards = scenario.space().cardinalities();
    let outcome = |k: u32| -> Vec<u32> { cards.iter().map(|&c| k % c).collect() };
    let texts = vec![outcome(1), outcome(2), outcome(3)];
    let protocols = [
        ProtocolKind::SingleText,
        ProtocolKind::Shuttle,
        ProtocolKind::Staged {
            indirect: Indirect::Shuttle,
            threshold: 0.5,
            indirect_rounds: 4,
        },
        ProtocolKind::Staged {
            indirect: Indirect::SingleText,
            threshold: 0.5,
            indirect_rounds: 4,
        },
    ];
    // Party 0 is the same in every run: it proposes, rejects every text, consents, and
    // counters in direct talks. Party 1's private moves vary.
    let observer = Moves {
        proposal: Some(outcome(4)),
        vote: false,
        consent: true,
        counter: outcome(5),
    };
    let variants = [
        (
            false,
            Moves {
                proposal: Some(outcome(6)),
                vote: true,
                consent: true,
                counter: outcome(7),
            },
        ),
        (
            true,
            Moves {
                proposal: None,
                vote: false,
                consent: true,
                counter: outcome(7),
            },
        ),
        (
            true,
            Moves {
                proposal: Some(vec![0; n_issues]),
                vote: true,
                consent: true,
                counter: outcome(7),
            },
        ),
    ];
    for protocol in protocols {
        let mut seen: Vec<Vec<Told>> = Vec::new();
        let mut traces = Vec::new();
        for (confides, moves) in &variants {
            let mut config = SessionConfig::new(protocol, 8);
            config.confide = vec![false, *confides];
            config.post_settlement = true;
            let told = Arc::new(Mutex::new(Vec::new()));
            let negotiators: Vec<Box<dyn Negotiator>> = vec![
                Box::new(Party {
                    moves: observer.clone(),
                    told: Arc::clone(&told),
                }),
                Box::new(Party {
                    moves: moves.clone(),
                    told: Arc::default(),
                }),
            ];
            let result = run_session(
                &scenario,
                &config,
                negotiators,
                Some(Box::new(Fixed(texts.clone()))),
            )
            .expect("session runs");
            traces.push(result.trace.events.len());
            let told = told.lock().expect("lock").clone();
            seen.push(told);
        }
        assert!(
            traces.windows(2).any(|w| w[0] != w[1]),
            "{}: the runs differ in the full trace",
            protocol.name()
        );
        for (k, other) in seen.iter().enumerate().skip(1) {
            assert_eq!(
                &seen[0],
                other,
                "{}: party 0 was told or asked something else in run {k}",
                protocol.name()
            );
        }
        // Numbered in its own view: 0, 1, 2, … without gaps.
        let numbers: Vec<u64> = seen[0]
            .iter()
            .filter_map(|t| match t {
                Told::Event(e) => Some(e.seq),
                Told::Asked(..) => None,
            })
            .collect();
        assert_eq!(numbers, (0..numbers.len() as u64).collect::<Vec<_>>());
    }
}
