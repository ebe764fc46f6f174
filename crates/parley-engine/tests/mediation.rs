//! The rules of mediated and staged talks (docs/protocols.md, "Staged talks"), the
//! mediators' use of what they may see, negotiators that understand mediation, and the
//! confidentiality of per-room texts.

use std::sync::{Arc, Mutex};

use parley_core::Scenario;
use parley_engine::events::texts_shown_to_all;
use parley_engine::negotiators::{mediator, negotiator};
use parley_engine::session::Indirect;
use parley_engine::visibility::{view, Viewer};
use parley_engine::{
    run_session, Action, EndReason, Event, EventKind, Mediator, MediatorContext, Negotiator,
    PartyContext, Phase, ProtocolKind, SessionConfig, SessionResult, State, Tabled,
};
use proptest::prelude::*;

use crate::protocols::{bundled, corpus, invalid_message};

fn staged(indirect_rounds: u32, threshold: f64) -> ProtocolKind {
    ProtocolKind::Staged {
        indirect: Indirect::Shuttle,
        threshold,
        indirect_rounds,
    }
}

/// What a scripted party does: consents or not, accepts only the texts in `accepts`
/// (by round: `None` accepts nothing), proposes nothing, and in direct talks counters
/// with `counter` (or walks away without one), never accepting.
#[derive(Clone, Default)]
struct Script {
    consent: bool,
    accepts: Vec<(u32, Vec<u32>)>,
    counter: Option<Vec<u32>>,
    /// Every state and phase it was asked in, and every event it was told.
    log: Arc<Mutex<Vec<(Phase, f64)>>>,
    seen: Arc<Mutex<Vec<Event>>>,
}

impl Negotiator for Script {
    fn name(&self) -> String {
        "script".into()
    }
    fn observe(&mut self, _: &PartyContext<'_>, event: &Event) {
        self.seen.lock().expect("lock").push(event.clone());
    }
    fn act(&mut self, _: &PartyContext<'_>, state: &State, _: Option<&[u32]>) -> Action {
        self.log
            .lock()
            .expect("lock")
            .push((state.phase, state.time));
        match &self.counter {
            Some(outcome) => Action::Offer(outcome.clone()),
            None => Action::WalkAway,
        }
    }
    fn propose(&mut self, _: &PartyContext<'_>, state: &State) -> Option<Vec<u32>> {
        self.log
            .lock()
            .expect("lock")
            .push((state.phase, state.time));
        None
    }
    fn vote(
        &mut self,
        _: &PartyContext<'_>,
        state: &State,
        text: &[u32],
        _: Option<&[u32]>,
    ) -> bool {
        self.log
            .lock()
            .expect("lock")
            .push((state.phase, state.time));
        self.accepts
            .iter()
            .any(|(round, t)| *round == state.round && t == text)
    }
    fn consent(&mut self, _: &PartyContext<'_>, state: &State) -> bool {
        self.log
            .lock()
            .expect("lock")
            .push((state.phase, state.time));
        self.consent
    }
}

/// Carries a scripted text per room and round; tables `opening` when talks go direct.
struct Rooms {
    by_round: Vec<Vec<Vec<u32>>>,
    opening: Option<Vec<u32>>,
    progress: f64,
}

impl Mediator for Rooms {
    fn name(&self) -> String {
        "rooms".into()
    }
    fn text(&mut self, _: &MediatorContext<'_>, state: &State) -> Tabled {
        let k = (state.round as usize).min(self.by_round.len() - 1);
        Tabled::PerRoom(self.by_round[k].clone())
    }
    fn direct_text(&mut self, _: &MediatorContext<'_>, _: &State) -> Option<Vec<u32>> {
        self.opening.take()
    }
    fn progress(&self) -> f64 {
        self.progress
    }
}

/// Runs built-in negotiators, one name per party (party i seeded `seed + i`), under
/// `config` with the protocol's default mediator (seeded `seed`).
fn play(scenario: &Scenario, config: &SessionConfig, names: &[&str], seed: u64) -> SessionResult {
    let negotiators = names
        .iter()
        .enumerate()
        .map(|(i, name)| negotiator(name, seed + i as u64).expect("known"))
        .collect();
    let mediator = config
        .protocol
        .default_mediator()
        .map(|m| mediator(m, seed).expect("known"));
    run_session(scenario, config, negotiators, mediator).expect("runs")
}

fn boxed(scripts: &[Script]) -> Vec<Box<dyn Negotiator>> {
    scripts
        .iter()
        .map(|s| Box::new(s.clone()) as Box<dyn Negotiator>)
        .collect()
}

fn kinds(events: &[Event]) -> Vec<&EventKind> {
    events.iter().map(|e| &e.kind).collect()
}

#[test]
fn going_direct_needs_every_partys_consent_and_the_answers_are_public() {
    let scenario = bundled("job-offer.toml");
    let n_issues = scenario.space().n_issues();
    let text = vec![0; n_issues];
    for (consents, moved) in [([true, true], true), ([true, false], false)] {
        let scripts: Vec<Script> = consents
            .iter()
            .map(|&consent| Script {
                consent,
                ..Script::default()
            })
            .collect();
        // Threshold 0: the mediator calls after the first round.
        let config = SessionConfig::new(staged(4, 0.0), 10);
        let rooms = Rooms {
            by_round: vec![vec![text.clone(), text.clone()]],
            opening: None,
            progress: 0.0,
        };
        let result =
            run_session(&scenario, &config, boxed(&scripts), Some(Box::new(rooms))).expect("runs");
        let calls: Vec<u32> = result
            .trace
            .events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::CallDirect { .. }))
            .map(|e| e.round)
            .collect();
        if moved {
            assert_eq!(calls, vec![0], "one call, answered by both");
            assert!(result.phases.contains(&Phase::Direct));
            let phase = result
                .trace
                .events
                .iter()
                .find(|e| {
                    matches!(
                        e.kind,
                        EventKind::Phase {
                            to: Phase::Direct,
                            ..
                        }
                    )
                })
                .expect("a move to direct talks");
            assert_eq!(phase.round, 1, "direct talks start in the next round");
        } else {
            // Refused at its threshold, the mediator calls again only at the indirect
            // deadline; refused there, the talks end.
            assert_eq!(calls, vec![0, 3]);
            assert!(!result.phases.contains(&Phase::Direct));
            assert_eq!(result.ended_by, EndReason::IndirectDeadline);
            assert_eq!(result.agreement, None);
        }
        // Every party sees every answer, its own and the others', but not the call with
        // its progress measure (a function of private answers and confidences).
        for (party, script) in scripts.iter().enumerate() {
            let seen = view(&result.trace, Viewer::Party(party));
            assert!(!seen
                .events
                .iter()
                .any(|e| matches!(e.kind, EventKind::CallDirect { .. })));
            let answers: Vec<(usize, bool)> = seen
                .events
                .iter()
                .filter_map(|e| match e.kind {
                    EventKind::Consent { by, accept } => Some((by, accept)),
                    _ => None,
                })
                .collect();
            assert!(answers.contains(&(0, true)) && answers.iter().any(|a| a.0 == 1));
            let told = script.seen.lock().expect("lock");
            assert_eq!(
                told.iter()
                    .filter(|e| matches!(e.kind, EventKind::Consent { .. }))
                    .count(),
                answers.len(),
                "observe tells exactly what the view shows"
            );
        }
    }
}

#[test]
fn time_runs_on_through_the_move_to_direct_talks() {
    let scenario = bundled("job-offer.toml");
    let text = vec![0; scenario.space().n_issues()];
    let worst_for_nobody: Vec<u32> = vec![0; scenario.space().n_issues()];
    let scripts: Vec<Script> = (0..2)
        .map(|_| Script {
            consent: true,
            counter: Some(worst_for_nobody.clone()),
            ..Script::default()
        })
        .collect();
    let config = SessionConfig::new(staged(6, 1.0), 12);
    let rooms = Rooms {
        by_round: vec![vec![text.clone(), text]],
        opening: None,
        progress: 0.0,
    };
    let result =
        run_session(&scenario, &config, boxed(&scripts), Some(Box::new(rooms))).expect("runs");
    assert!(result.phases.contains(&Phase::Direct));
    for script in &scripts {
        let log = script.log.lock().expect("lock");
        assert!(
            log.windows(2).all(|w| w[0].1 <= w[1].1),
            "time never goes back: {log:?}"
        );
        let first_direct = log
            .iter()
            .find(|(phase, _)| *phase == Phase::Direct)
            .expect("asked in direct talks");
        // Direct talks start at round 6 of 12: time 0.5, not 0.
        assert!(first_direct.1 >= 0.5 - 1e-12, "{first_direct:?}");
        let last_indirect = log
            .iter()
            .rfind(|(phase, _)| *phase == Phase::Indirect)
            .expect("asked in indirect talks");
        assert!(last_indirect.1 < 0.5 && last_indirect.1 >= 5.0 / 12.0 - 1e-12);
    }
    for event in &result.trace.events {
        assert!(event.time <= 1.0);
    }
}

/// The worst outcome for `party` (by enumeration of a small space).
fn worst_for(scenario: &Scenario, party: usize) -> Vec<u32> {
    let cards = scenario.space().cardinalities();
    let count = scenario.space().outcome_count().as_u64().expect("small");
    let mut outcome = vec![0; cards.len()];
    let mut worst = (f64::INFINITY, outcome.clone());
    for i in 0..count {
        parley_core::analysis::decode(i, &cards, &mut outcome);
        let u = scenario.utilities()[party].value(&outcome);
        if u < worst.0 {
            worst = (u, outcome.clone());
        }
    }
    worst.1
}

#[test]
fn a_counter_offer_may_not_undercut_the_default() {
    // A scenario whose reservation values do not change over time, so that the Nash
    // text the mediator tables is the analysis's (at t = 0).
    let scenario = bundled("job-offer.toml");
    let nash = parley_core::analysis::analyze(&scenario, &Default::default())
        .expect("analysis")
        .nash
        .expect("a Nash point")
        .outcome;
    let below = worst_for(&scenario, 0);
    let scripts = vec![
        Script {
            consent: true,
            counter: Some(below),
            ..Script::default()
        },
        Script {
            consent: true,
            counter: Some(nash.clone()),
            ..Script::default()
        },
    ];
    let mut config = SessionConfig::new(staged(3, 1.0), 10);
    config.confide = vec![true, true];
    let result = run_session(
        &scenario,
        &config,
        boxed(&scripts),
        Some(mediator("shuttle", 1).expect("known")),
    )
    .expect("runs");
    // The mediator holding both sides' preferences tables the Nash text as the default.
    let default = result.trace.events.iter().find_map(|e| match &e.kind {
        EventKind::Default { outcome } => Some(outcome.clone()),
        _ => None,
    });
    assert_eq!(default.as_ref(), Some(&nash));
    assert_eq!(result.ended_by, EndReason::InvalidAction);
    let message =
        invalid_message(&result.trace, Some(0)).expect("the undercutting offer is refused");
    assert!(
        message.contains("worth at least the mediator's text"),
        "{message}"
    );
}

#[test]
fn the_default_stands_at_the_deadline_only_if_every_party_had_accepted_it() {
    let scenario = bundled("job-offer.toml");
    let n_issues = scenario.space().n_issues();
    let text = vec![1; n_issues];
    let other = vec![2; n_issues];
    for b_accepts in [true, false] {
        // The text reaches the rooms in different rounds: the candidate accepts it in
        // round 0, the employer (if at all) in round 1; never the same text in the
        // same round, so no deal in the indirect phase.
        let scripts = vec![
            Script {
                consent: true,
                accepts: vec![(0, text.clone())],
                counter: Some(text.clone()),
                ..Script::default()
            },
            Script {
                consent: true,
                accepts: if b_accepts {
                    vec![(1, text.clone())]
                } else {
                    vec![]
                },
                counter: Some(text.clone()),
                ..Script::default()
            },
        ];
        let rooms = Rooms {
            by_round: vec![
                vec![text.clone(), other.clone()],
                vec![other.clone(), text.clone()],
            ],
            opening: Some(text.clone()),
            progress: 0.0,
        };
        let config = SessionConfig::new(staged(2, 1.0), 6);
        let result =
            run_session(&scenario, &config, boxed(&scripts), Some(Box::new(rooms))).expect("runs");
        assert!(result.phases.contains(&Phase::Direct));
        if b_accepts {
            assert_eq!(result.ended_by, EndReason::Fallback);
            assert_eq!(result.agreement.as_ref(), Some(&text));
            assert!(
                (result.time - 1.0).abs() < 1e-12,
                "the fallback is reached at the deadline"
            );
        } else {
            assert_eq!(result.ended_by, EndReason::Deadline);
            assert_eq!(result.agreement, None);
        }
    }
}

/// A party whose alternative has come to be worth more than the default by the
/// deadline is not bound by its earlier acceptance: it takes its alternative, and the
/// default does not stand.
#[test]
fn a_default_worth_less_than_a_risen_alternative_does_not_stand() {
    use parley_core::{Alternative, Consequence, Curve};
    let base = bundled("job-offer.toml");
    let text = vec![1; base.space().n_issues()];
    let worth = base.utilities()[0].value(&text);
    // Party 0's alternative: worth nothing at first, worth more than the text at the
    // end.
    let rising = Alternative::new(vec![Consequence {
        label: "a better offer elsewhere".into(),
        probability: Curve::Constant(1.0),
        utility: Curve::Piecewise(vec![(0.0, 0.0), (1.0, (worth + 0.1).min(1.0))]),
    }])
    .expect("valid");
    let mut parties = base.parties().to_vec();
    parties[0].reservation = 0.0;
    parties[0].alternative = Some(rising);
    parties[1].reservation = 0.0;
    let scenario =
        parley_core::Scenario::new("rising", None, base.space().clone(), parties).expect("valid");
    let other = vec![2; scenario.space().n_issues()];
    let scripts = vec![
        Script {
            consent: true,
            accepts: vec![(0, text.clone())],
            counter: Some(text.clone()),
            ..Script::default()
        },
        Script {
            consent: true,
            accepts: vec![(1, text.clone())],
            counter: Some(text.clone()),
            ..Script::default()
        },
    ];
    let rooms = Rooms {
        by_round: vec![
            vec![text.clone(), other.clone()],
            vec![other.clone(), text.clone()],
        ],
        opening: Some(text.clone()),
        progress: 0.0,
    };
    let config = SessionConfig::new(staged(2, 1.0), 6);
    let result =
        run_session(&scenario, &config, boxed(&scripts), Some(Box::new(rooms))).expect("runs");
    assert!(result.phases.contains(&Phase::Direct));
    assert_eq!(result.ended_by, EndReason::Deadline);
    assert_eq!(result.agreement, None);
    // Each party gets what walking away pays at the end.
    for (p, party) in scenario.parties().iter().enumerate() {
        assert!((result.utilities[p] - party.walk_away(result.time)).abs() < 1e-12);
    }
    assert!(result.utilities[0] > worth);
}

#[test]
fn single_text_ends_as_soon_as_every_party_accepts() {
    let scenario = bundled("supplier-contract.toml");
    let n = scenario.n_parties();
    // Every party confides: the hill-climber tables the Nash text, which the parties
    // take by the second round (no worse than the first text tabled).
    let mut config = SessionConfig::new(ProtocolKind::SingleText, 100);
    config.confide = vec![true; n];
    let result = play(&scenario, &config, &vec!["boulware"; n], 9);
    assert_eq!(result.ended_by, EndReason::Agreement);
    assert!(result.rounds <= 2, "{} rounds", result.rounds);
    let texts = result
        .trace
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Text { .. }) && e.round > 1)
        .count();
    assert_eq!(texts, 0, "no text is tabled after everyone accepted");
}

/// Every text (carried, tabled or default) of a trace.
fn texts(events: &[Event]) -> Vec<&Vec<u32>> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Carry { outcome, .. }
            | EventKind::Text { outcome }
            | EventKind::Default { outcome } => Some(outcome),
            _ => None,
        })
        .collect()
}

#[test]
fn a_one_sided_confidence_is_respected_and_used() {
    let scenario = bundled("oman-talks.toml");
    let reservation = scenario.parties()[0].reservation;
    let mut differs = false;
    for pair in [
        ["boulware", "boulware"],
        ["conceder", "linear"],
        ["frequency", "boulware"],
        ["tit-for-tat", "conceder"],
    ] {
        for protocol in [
            ProtocolKind::Shuttle,
            ProtocolKind::SingleText,
            ProtocolKind::staged(100),
        ] {
            let run = |confide: Vec<bool>| {
                let mut config = SessionConfig::new(protocol, 100);
                config.confide = confide;
                play(&scenario, &config, &pair, 7)
            };
            let one_sided = run(vec![true, false]);
            for text in texts(&one_sided.trace.events) {
                assert!(
                    scenario.utilities()[0].value(text) >= reservation,
                    "{pair:?} {}: a text below the confiding party's reservation value",
                    protocol.name()
                );
            }
            let none = run(vec![false, false]);
            differs |= texts(&one_sided.trace.events) != texts(&none.trace.events);
        }
    }
    assert!(differs, "the mediator makes use of a one-sided confidence");
}

#[test]
fn per_room_texts_reach_only_their_room() {
    let scenario = bundled("job-offer.toml");
    let probes: Vec<Script> = (0..2).map(|_| Script::default()).collect();
    let mut negotiators: Vec<Box<dyn Negotiator>> = Vec::new();
    // Real strategies play; probes ride along as observers of what each party is told.
    struct Watched(Box<dyn Negotiator>, Script);
    impl Negotiator for Watched {
        fn name(&self) -> String {
            self.0.name()
        }
        fn init(&mut self, ctx: &PartyContext<'_>) {
            self.0.init(ctx)
        }
        fn observe(&mut self, ctx: &PartyContext<'_>, event: &Event) {
            self.1.observe(ctx, event);
            self.0.observe(ctx, event);
        }
        fn act(&mut self, c: &PartyContext<'_>, s: &State, o: Option<&[u32]>) -> Action {
            self.0.act(c, s, o)
        }
        fn propose(&mut self, c: &PartyContext<'_>, s: &State) -> Option<Vec<u32>> {
            self.0.propose(c, s)
        }
        fn vote(&mut self, c: &PartyContext<'_>, s: &State, t: &[u32], r: Option<&[u32]>) -> bool {
            self.0.vote(c, s, t, r)
        }
    }
    for (i, probe) in probes.iter().enumerate() {
        negotiators.push(Box::new(Watched(
            negotiator(["boulware", "linear"][i], 3).expect("known"),
            probe.clone(),
        )));
    }
    let config = SessionConfig::new(ProtocolKind::Shuttle, 60);
    let result = run_session(
        &scenario,
        &config,
        negotiators,
        Some(mediator("shuttle", 4).expect("known")),
    )
    .expect("runs");
    // The relay did carry different texts to the two rooms in some round.
    let mut per_round = std::collections::BTreeMap::<u32, Vec<&Vec<u32>>>::new();
    for e in &result.trace.events {
        if let EventKind::Carry { outcome, .. } = &e.kind {
            per_round.entry(e.round).or_default().push(outcome);
        }
    }
    assert!(per_round
        .values()
        .any(|t| t.windows(2).any(|w| w[0] != w[1])));
    for (party, probe) in probes.iter().enumerate() {
        let told = probe.seen.lock().expect("lock");
        assert_eq!(
            *told,
            view(&result.trace, Viewer::Party(party)).events,
            "a party is told exactly its view"
        );
        for e in told.iter() {
            match &e.kind {
                EventKind::Carry { to, .. } => assert_eq!(*to, party),
                EventKind::Proposal { from, .. } => assert_eq!(*from, party),
                EventKind::Vote { by, .. } => assert_eq!(*by, party),
                _ => {}
            }
        }
    }
    let _ = kinds(&result.trace.events);
}

#[test]
fn tit_for_tat_mirrors_the_movement_of_the_texts_put_to_it() {
    let scenario = bundled("job-offer.toml");
    let cards = scenario.space().cardinalities();
    let count = scenario.space().outcome_count().as_u64().expect("small");
    let u = &scenario.utilities()[0];
    // Texts sorted by the candidate's utility, worst first.
    let mut all: Vec<(f64, Vec<u32>)> = (0..count)
        .map(|i| {
            let mut o = vec![0; cards.len()];
            parley_core::analysis::decode(i, &cards, &mut o);
            (u.value(&o), o)
        })
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pick = |target: f64| {
        all.iter()
            .find(|(v, _)| *v >= target)
            .expect("a text at the target")
            .1
            .clone()
    };
    let middling = pick(0.7);
    let votes_on = |room_texts: Vec<Vec<u32>>| -> Vec<bool> {
        let rounds = room_texts.len() as u32;
        let rooms = Rooms {
            by_round: room_texts
                .into_iter()
                .map(|t| vec![t, middling.clone()])
                .collect(),
            opening: None,
            progress: 0.0,
        };
        let config = SessionConfig::new(ProtocolKind::Shuttle, rounds);
        let result = run_session(
            &scenario,
            &config,
            vec![
                negotiator("tit-for-tat", 1).expect("known"),
                Box::new(Script::default()),
            ],
            Some(Box::new(rooms)),
        )
        .expect("runs");
        result
            .trace
            .events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Vote { by: 0, accept } => Some(accept),
                _ => None,
            })
            .collect()
    };
    // The same text round after round: no movement, no concession.
    let still = pick(0.3);
    assert!(votes_on(vec![still.clone(); 6]).iter().all(|v| !v));
    // Texts moving towards it by 0.4 from 0.3: it concedes as much (1.0 → 0.6), and
    // then takes a text worth 0.7 to it.
    let mut moving: Vec<Vec<u32>> = [0.3, 0.4, 0.5, 0.6, 0.7].iter().map(|&t| pick(t)).collect();
    moving.push(middling.clone());
    let votes = votes_on(moving);
    assert!(!votes[0], "{votes:?}");
    assert!(*votes.last().expect("votes"), "{votes:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the line-up, the confidences and the protocol: a mediated deal is never
    /// dominated by a text every party saw; no text falls below a confiding party's
    /// reservation value; time never goes back; staged talks go direct only with every
    /// party's consent.
    #[test]
    fn mediated_talks_keep_their_promises(
        seed in 0u64..1_000,
        pair in prop::sample::select(vec![
            ["boulware", "boulware"], ["frequency", "boulware"], ["conceder", "conceder"],
            ["linear", "linear"], ["tit-for-tat", "boulware"], ["conceder", "hardliner"],
            ["random", "boulware"],
        ]),
        confide in prop::sample::select(vec![[false, false], [true, false], [false, true], [true, true]]),
        protocol in prop::sample::select(vec![
            ProtocolKind::Shuttle, ProtocolKind::SingleText, ProtocolKind::staged(60),
            ProtocolKind::Staged { indirect: Indirect::SingleText, threshold: 0.75, indirect_rounds: 30 },
        ]),
        scenario_name in prop::sample::select(vec!["oman-talks.toml", "job-offer.toml", "supplier-contract.toml"]),
    ) {
        let scenario = bundled(scenario_name);
        let mut config = SessionConfig::new(protocol, 60);
        config.confide = confide.to_vec();
        let result = play(&scenario, &config, &pair, seed);
        prop_assert_ne!(result.ended_by, EndReason::InvalidAction);
        // Random voters may turn down an improvement; every other strategy takes it.
        let rational = !pair.contains(&"random");
        if let (Some(deal), true) = (&result.agreement, rational) {
            for text in texts_shown_to_all(&result.trace.events, 2) {
                let better = scenario.utilities().iter().all(|u| u.eval(&text) >= u.eval(deal))
                    && scenario.utilities().iter().any(|u| u.eval(&text) > u.eval(deal));
                prop_assert!(!better, "the deal is dominated by a text every party saw");
            }
        }
        // Texts the mediator puts during the talks are worth at least what walking
        // away is worth to a confiding party at that moment, whenever some text is
        // (after a deal, texts seen before are put again as they were).
        let cards = scenario.space().cardinalities();
        let count = scenario.space().outcome_count().as_u64().expect("small");
        let rational_text_exists = |t: f64| {
            let mut outcome = vec![0; cards.len()];
            (0..count).any(|i| {
                parley_core::analysis::decode(i, &cards, &mut outcome);
                !scenario.red_lines_of_all().crosses(&outcome)
                    && confide.iter().enumerate().all(|(p, c)| {
                        !c || scenario.utilities()[p].value(&outcome)
                            >= scenario.parties()[p].reservation_at(t)
                    })
            })
        };
        let mut exists: std::collections::BTreeMap<u64, bool> = Default::default();
        for (party, confided) in confide.iter().enumerate() {
            if *confided {
                let mut settled = false;
                for event in &result.trace.events {
                    settled |= matches!(event.kind, EventKind::Phase { to: Phase::PostSettlement, .. });
                    let text = match &event.kind {
                        EventKind::Carry { outcome, .. } | EventKind::Text { outcome } if !settled => outcome,
                        _ => continue,
                    };
                    if !*exists.entry(event.time.to_bits()).or_insert_with(|| rational_text_exists(event.time)) {
                        continue;
                    }
                    let r = scenario.parties()[party].reservation_at(event.time);
                    prop_assert!(
                        scenario.utilities()[party].value(text) >= r,
                        "a text worth {} to party {} at t = {} (walking away: {})",
                        scenario.utilities()[party].value(text), party, event.time, r
                    );
                }
            }
        }
        prop_assert!(result.trace.events.windows(2).all(|w| w[0].time <= w[1].time));
        let consents = result
            .trace
            .events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Consent { accept: true, .. }))
            .count();
        if result.phases.contains(&Phase::Direct) {
            prop_assert!(consents >= 2);
        }
    }
}

#[test]
#[ignore = "needs the ANAC corpus ($PARLEY_SCENARIOS, default ../shared/scenarios): scripts/fetch-corpus, see docs/corpus.md"]
fn every_mediated_protocol_works_with_three_parties() {
    let corpus = corpus();
    let scenario = parley_formats::load(&corpus.join("genius/y2015/group2-dinner"))
        .expect("loads")
        .scenario;
    assert_eq!(scenario.n_parties(), 3);
    let analysis =
        parley_core::analysis::analyze(&scenario, &Default::default()).expect("analysis");
    let nash = analysis.nash.expect("a Nash point").utilities;
    for protocol in [
        ProtocolKind::Shuttle,
        ProtocolKind::SingleText,
        ProtocolKind::staged(100),
    ] {
        for confide in [true, false] {
            let mut config = SessionConfig::new(protocol, 100);
            config.confide = vec![confide; 3];
            let result = play(&scenario, &config, &["linear"; 3], 5);
            let deal = result.agreement.unwrap_or_else(|| {
                panic!("{}: no deal among three linear parties", protocol.name())
            });
            if confide {
                // Holding every party's preferences, the mediator lands on the Nash point.
                let u: Vec<f64> = scenario
                    .utilities()
                    .iter()
                    .map(|f| f.value(&deal))
                    .collect();
                let d: f64 = u
                    .iter()
                    .zip(&nash)
                    .map(|(a, b)| (a - b).powi(2))
                    .sum::<f64>()
                    .sqrt();
                assert!(
                    d < 1e-9,
                    "{}: {u:?} is {d} from Nash {nash:?}",
                    protocol.name()
                );
            }
            // One room per party: a party is carried only its own texts.
            for party in 0..3 {
                for e in view(&result.trace, Viewer::Party(party)).events {
                    if let EventKind::Carry { to, .. } = e.kind {
                        assert_eq!(to, party);
                    }
                }
            }
        }
    }
}

#[test]
fn every_event_reads_back_from_its_json() {
    let scenario = bundled("oman-talks.toml");
    let parties: Vec<String> = scenario.parties().iter().map(|p| p.name.clone()).collect();
    let mut kinds_seen = std::collections::BTreeSet::new();
    for protocol in [
        ProtocolKind::Saop,
        ProtocolKind::Shuttle,
        ProtocolKind::SingleText,
        ProtocolKind::staged(40),
    ] {
        for confide in [true, false] {
            let mut config = SessionConfig::new(protocol, 40);
            config.confide = vec![confide; 2];
            let result = play(&scenario, &config, &["boulware", "tit-for-tat"], 1);
            for event in &result.trace.events {
                let json = event.to_json(scenario.space(), &parties);
                let back = Event::from_json(&json, scenario.space(), &parties)
                    .unwrap_or_else(|e| panic!("{json}: {e}"));
                assert_eq!(&back, event);
                kinds_seen.insert(json["type"].as_str().unwrap_or_default().to_string());
            }
        }
    }
    for kind in [
        "start",
        "confide",
        "proposal",
        "carry",
        "vote",
        "call-direct",
        "consent",
        "phase",
        "default",
        "offer",
        "accept",
        "text",
        "end",
    ] {
        assert!(kinds_seen.contains(kind), "no {kind} event was read back");
    }
    // A malformed event says what is wrong.
    let bad = serde_json::json!({"type": "offer", "from": "nobody", "outcome": [], "seq": 1, "round": 0, "time": 0.0});
    let err = Event::from_json(&bad, scenario.space(), &parties).expect_err("refused");
    assert!(err.contains("nobody"), "{err}");
}

#[test]
fn the_frequency_model_learns_from_texts_and_takes_back_those_that_failed() {
    use parley_engine::negotiators::FrequencyModel;
    let scenario = bundled("job-offer.toml");
    let ctx = PartyContext::new(
        0,
        2,
        scenario.space(),
        &scenario.utilities()[0],
        0.0,
        1.0,
        10,
    );
    let n_issues = scenario.space().n_issues();
    let (t, u) = (vec![1; n_issues], vec![2; n_issues]);
    let mut model = FrequencyModel::new(0.5, parley_engine::negotiators::Acceptance::Next);
    model.init(&ctx);
    let tell = |model: &mut FrequencyModel, kinds: Vec<EventKind>| {
        for kind in kinds {
            let event = Event {
                seq: 0,
                round: 0,
                time: 0.0,
                kind,
            };
            model.observe(&ctx, &event);
        }
    };
    let carry = |outcome: &Vec<u32>| EventKind::Carry {
        to: 0,
        outcome: outcome.clone(),
    };
    let vote = |accept: bool| EventKind::Vote { by: 0, accept };
    tell(&mut model, vec![carry(&t)]);
    assert!(
        model.predicted(1, &t) > model.predicted(1, &u),
        "a carried text counts as the others' position"
    );
    // It accepts the text, and the talks go on: someone else turned it down, and it is
    // taken back; the next text counts instead.
    tell(&mut model, vec![vote(true), carry(&u)]);
    assert!(
        model.predicted(1, &u) > model.predicted(1, &t),
        "a text the others turned down is taken back"
    );
    // A text it rejected itself is not taken back: both now count once.
    tell(&mut model, vec![vote(false), carry(&t)]);
    assert!((model.predicted(1, &u) - model.predicted(1, &t)).abs() < 1e-12);
}
