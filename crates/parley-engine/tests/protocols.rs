//! Protocol rules, confidentiality of views, determinism and sensible outcomes.

use std::path::Path;

pub(crate) use crate::corpus::corpus;

use parley_core::Scenario;
use parley_engine::negotiators::{mediator, negotiator};
use parley_engine::session::Indirect;
use parley_engine::visibility::{view, Viewer};
use parley_engine::{
    run_session, Action, EndReason, EventKind, Negotiator, PartyContext, ProtocolKind,
    SessionConfig, State, Tabled,
};

pub(crate) fn bundled(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name);
    parley_formats::load(&path)
        .expect("bundled scenario loads")
        .scenario
}

/// The message of the first `invalid` event by `by`, if any.
pub(crate) fn invalid_message(trace: &parley_engine::Trace, by: Option<usize>) -> Option<String> {
    trace.events.iter().find_map(|e| match &e.kind {
        EventKind::Invalid { by: b, message } if *b == by => Some(message.clone()),
        _ => None,
    })
}

/// Plays a fixed list of actions, then walks away.
struct Scripted(Vec<Action>);

impl Negotiator for Scripted {
    fn name(&self) -> String {
        "scripted".into()
    }
    fn act(&mut self, _: &PartyContext<'_>, _: &State, _: Option<&[u32]>) -> Action {
        if self.0.is_empty() {
            Action::WalkAway
        } else {
            self.0.remove(0)
        }
    }
    fn propose(&mut self, _: &PartyContext<'_>, _: &State) -> Option<Vec<u32>> {
        None
    }
    fn vote(&mut self, _: &PartyContext<'_>, _: &State, _: &[u32], _: Option<&[u32]>) -> bool {
        false
    }
}

fn saop(rounds: u32) -> SessionConfig {
    SessionConfig::new(ProtocolKind::Saop, rounds)
}

fn boxed(n: Vec<Scripted>) -> Vec<Box<dyn Negotiator>> {
    n.into_iter()
        .map(|s| Box::new(s) as Box<dyn Negotiator>)
        .collect()
}

#[test]
fn an_offer_outside_the_outcome_space_is_rejected_with_a_clear_error() {
    let scenario = bundled("job-offer.toml");
    let config = saop(10);
    let result = run_session(
        &scenario,
        &config,
        boxed(vec![
            Scripted(vec![Action::Offer(vec![99, 0, 0, 0, 0])]),
            Scripted(vec![]),
        ]),
        None,
    )
    .expect("session runs");
    assert_eq!(result.ended_by, EndReason::InvalidAction);
    assert_eq!(result.agreement, None);
    let message = invalid_message(&result.trace, Some(0)).expect("an invalid event");
    assert!(
        message.contains("offer rejected") && message.contains("salary"),
        "{message}"
    );
    // A wrong number of issues too.
    let result = run_session(
        &scenario,
        &config,
        boxed(vec![
            Scripted(vec![Action::Offer(vec![0])]),
            Scripted(vec![]),
        ]),
        None,
    )
    .expect("session runs");
    assert_eq!(result.ended_by, EndReason::InvalidAction);
}

#[test]
fn accepting_without_a_standing_offer_is_invalid() {
    let scenario = bundled("job-offer.toml");
    let result = run_session(
        &scenario,
        &saop(10),
        boxed(vec![Scripted(vec![Action::Accept]), Scripted(vec![])]),
        None,
    )
    .expect("session runs");
    assert_eq!(result.ended_by, EndReason::InvalidAction);
}

#[test]
fn a_walk_away_leaves_everyone_at_their_reservation_value() {
    let scenario = bundled("job-offer.toml");
    let offer = vec![0, 0, 0, 0, 0];
    let result = run_session(
        &scenario,
        &saop(10),
        boxed(vec![
            Scripted(vec![Action::Offer(offer)]),
            Scripted(vec![Action::WalkAway]),
        ]),
        None,
    )
    .expect("session runs");
    assert_eq!(result.ended_by, EndReason::WalkAway);
    assert_eq!(result.utilities, scenario.reservations());
}

#[test]
fn a_deal_needs_every_other_party_and_is_discounted_by_its_time() {
    let scenario = bundled("job-offer.toml");
    let offer = vec![5, 1, 2, 1, 1];
    let result = run_session(
        &scenario,
        &saop(10),
        boxed(vec![
            Scripted(vec![Action::Offer(offer.clone())]),
            Scripted(vec![Action::Accept]),
        ]),
        None,
    )
    .expect("session runs");
    assert_eq!(result.ended_by, EndReason::Agreement);
    assert_eq!(result.agreement.as_deref(), Some(offer.as_slice()));
    // Step 1 of 20 (10 rounds × 2 parties): time 0.05.
    assert!((result.time - 0.05).abs() < 1e-12);
    let expected: Vec<f64> = scenario
        .parties()
        .iter()
        .zip(scenario.utilities())
        .map(|(p, u)| u.value(&offer) * p.discount.powf(0.05))
        .collect();
    assert_eq!(result.utilities, expected);
}

#[test]
fn discounting_lowers_late_deals() {
    let mut scenario = bundled("job-offer.toml");
    let parties: Vec<_> = scenario
        .parties()
        .iter()
        .map(|p| parley_core::Party {
            discount: 0.5,
            alternative: None,
            red_lines: Vec::new(),
            ..p.clone()
        })
        .collect();
    scenario = Scenario::new("discounted", None, scenario.space().clone(), parties).expect("valid");
    let offer = vec![5, 1, 2, 1, 1];
    // Party 1 counters three times, then accepts party 0's offer at step 7 of 8.
    let result = run_session(
        &scenario,
        &saop(4),
        boxed(vec![
            Scripted(vec![Action::Offer(offer.clone()); 4]),
            Scripted(vec![
                Action::Offer(vec![0; 5]),
                Action::Offer(vec![0; 5]),
                Action::Offer(vec![0; 5]),
                Action::Accept,
            ]),
        ]),
        None,
    )
    .expect("session runs");
    assert_eq!(result.ended_by, EndReason::Agreement);
    assert!((result.time - 7.0 / 8.0).abs() < 1e-12);
    let undiscounted = scenario.utilities()[0].value(&offer);
    assert!((result.utilities[0] - undiscounted * 0.5f64.powf(7.0 / 8.0)).abs() < 1e-12);
}

#[test]
fn every_protocol_ends_by_its_deadline() {
    let scenario = bundled("oman-talks.toml");
    for protocol in protocols() {
        for rounds in [1, 2, 7] {
            let mut config = SessionConfig::new(protocol, rounds);
            if let ProtocolKind::Staged { .. } = protocol {
                config.protocol = ProtocolKind::Staged {
                    indirect: Indirect::Shuttle,
                    threshold: 0.75,
                    indirect_rounds: rounds.div_ceil(2),
                };
            }
            let result = run_session(
                &scenario,
                &config,
                vec![
                    negotiator("hardliner", 1).expect("known"),
                    negotiator("hardliner", 2).expect("known"),
                ],
                mediator("shuttle", 3).ok(),
            )
            .expect("session runs");
            assert!(
                result.rounds <= rounds,
                "{}: {} rounds > {rounds}",
                protocol.name(),
                result.rounds
            );
            assert_ne!(
                result.ended_by,
                EndReason::Agreement,
                "hardliners never agree ({})",
                protocol.name()
            );
            assert!(matches!(
                result.trace.events.last().map(|e| &e.kind),
                Some(EventKind::End { .. })
            ));
        }
    }
}

fn protocols() -> Vec<ProtocolKind> {
    vec![
        ProtocolKind::Saop,
        ProtocolKind::SingleText,
        ProtocolKind::Shuttle,
        ProtocolKind::Staged {
            indirect: Indirect::Shuttle,
            threshold: 0.75,
            indirect_rounds: 30,
        },
        ProtocolKind::Staged {
            indirect: Indirect::SingleText,
            threshold: 0.75,
            indirect_rounds: 30,
        },
    ]
}

/// Runs every protocol with every party, no party and only the first party confiding,
/// and checks each party's view.
fn check_views(scenario: &Scenario) {
    let n = scenario.n_parties();
    let patterns = [
        vec![true; n],
        vec![false; n],
        (0..n).map(|i| i == 0).collect(),
    ];
    for (protocol, confide) in protocols()
        .into_iter()
        .flat_map(|p| patterns.iter().map(move |c| (p, c.clone())))
    {
        let mut config = SessionConfig::new(protocol, 60);
        config.confide = confide;
        config.post_settlement = true;
        let negotiators = (0..n)
            .map(|i| {
                negotiator(["conceder", "linear", "frequency"][i % 3], i as u64).expect("known")
            })
            .collect();
        let mediator_name = if matches!(protocol, ProtocolKind::SingleText) {
            "hill-climber"
        } else {
            "shuttle"
        };
        let result = run_session(
            scenario,
            &config,
            negotiators,
            mediator(mediator_name, 9).ok(),
        )
        .expect("session runs");
        for party in 0..n {
            let seen = view(&result.trace, Viewer::Party(party));
            for event in &seen.events {
                match &event.kind {
                    EventKind::Proposal { from, .. } => {
                        assert_eq!(*from, party, "saw another party's proposal")
                    }
                    EventKind::Carry { to, .. } => {
                        assert_eq!(*to, party, "saw a text carried to another party")
                    }
                    EventKind::Vote { by, .. } | EventKind::Confide { by } => {
                        assert_eq!(*by, party, "saw another party's answer")
                    }
                    EventKind::Invalid { by, .. } => assert_eq!(*by, Some(party)),
                    _ => {}
                }
                // Events carry no preferences: no utility, weight or reservation anywhere.
                let parties: Vec<String> =
                    scenario.parties().iter().map(|p| p.name.clone()).collect();
                let json = event.to_json(scenario.space(), &parties).to_string();
                for word in ["utility", "weight", "reservation", "evaluation"] {
                    assert!(!json.contains(word), "{word} in a party's view: {json}");
                }
            }
            // Under shuttle, every outcome a party sees was chosen by the mediator or is its own.
            if matches!(protocol, ProtocolKind::Shuttle) {
                for event in &seen.events {
                    if let EventKind::Offer { .. } = event.kind {
                        panic!("a raw offer reached a party under shuttle");
                    }
                }
            }
        }
    }
}

#[test]
fn party_views_hold_nothing_private_of_others_on_the_flagship() {
    check_views(&bundled("oman-talks.toml"));
}

#[test]
#[ignore = "needs the ANAC corpus ($PARLEY_SCENARIOS, default ../shared/scenarios): scripts/fetch-corpus, see docs/corpus.md"]
fn party_views_hold_nothing_private_of_others_on_real_scenarios() {
    let corpus = corpus();
    for rel in [
        "y2012/EnergySmallA",
        "y2011/Grocery",
        "y2015/group2-dinner",
        "y2014/10issues",
    ] {
        let scenario = parley_formats::load(&corpus.join("genius").join(rel))
            .expect("loads")
            .scenario;
        check_views(&scenario);
    }
}

#[test]
fn same_seed_same_trace_byte_for_byte() {
    let scenario = bundled("supplier-contract.toml");
    let parties: Vec<String> = scenario.parties().iter().map(|p| p.name.clone()).collect();
    for protocol in protocols() {
        let run = |seed: u64| {
            let mut config = SessionConfig::new(protocol, 80);
            config.confide = vec![true, false];
            let result = run_session(
                &scenario,
                &config,
                vec![
                    negotiator("random", seed).expect("known"),
                    negotiator("frequency", seed + 1).expect("known"),
                ],
                mediator("shuttle", seed + 2).ok(),
            )
            .expect("session runs");
            result.trace.to_jsonl(scenario.space(), &parties)
        };
        assert_eq!(run(7), run(7), "{}", protocol.name());
    }
}

#[test]
#[ignore = "needs the ANAC corpus ($PARLEY_SCENARIOS, default ../shared/scenarios): scripts/fetch-corpus, see docs/corpus.md"]
fn conceders_agree_near_the_frontier_and_hardliners_fail() {
    let corpus = corpus();
    for rel in [
        "y2012/EnergySmallA",
        "y2011/Grocery",
        "y2012/CameraB",
        "y2010/ItexvsCypress",
    ] {
        let scenario = parley_formats::load(&corpus.join("genius").join(rel))
            .expect("loads")
            .scenario;
        let analysis =
            parley_core::analysis::analyze(&scenario, &Default::default()).expect("analysis");
        let config = SessionConfig::new(ProtocolKind::Saop, 200);
        let result = run_session(
            &scenario,
            &config,
            vec![
                negotiator("conceder", 1).expect("known"),
                negotiator("conceder", 2).expect("known"),
            ],
            None,
        )
        .expect("session runs");
        let agreement = result
            .agreement
            .as_ref()
            .unwrap_or_else(|| panic!("{rel}: conceders found no deal"));
        let u: Vec<f64> = scenario
            .utilities()
            .iter()
            .map(|f| f.value(agreement))
            .collect();
        let distance = analysis
            .pareto
            .iter()
            .map(|p| {
                p.utilities
                    .iter()
                    .zip(&u)
                    .map(|(a, b)| (a - b).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .fold(f64::INFINITY, f64::min);
        assert!(
            distance < 0.15,
            "{rel}: conceder deal {u:?} is {distance} from the frontier"
        );

        let result = run_session(
            &scenario,
            &config,
            vec![
                negotiator("hardliner", 1).expect("known"),
                negotiator("hardliner", 2).expect("known"),
            ],
            None,
        )
        .expect("session runs");
        assert_eq!(result.agreement, None, "{rel}: hardliners agreed");
    }
}

/// Votes yes to everything.
struct YesMan;

impl Negotiator for YesMan {
    fn name(&self) -> String {
        "yes".into()
    }
    fn act(&mut self, _: &PartyContext<'_>, _: &State, _: Option<&[u32]>) -> Action {
        Action::Accept
    }
    fn propose(&mut self, _: &PartyContext<'_>, _: &State) -> Option<Vec<u32>> {
        None
    }
    fn vote(&mut self, _: &PartyContext<'_>, _: &State, _: &[u32], _: Option<&[u32]>) -> bool {
        true
    }
}

/// Tables a fixed text, and leaves improvements to a real shuttle mediator.
struct FixedText {
    text: Vec<u32>,
    inner: Box<dyn parley_engine::Mediator>,
}

impl parley_engine::Mediator for FixedText {
    fn name(&self) -> String {
        "fixed".into()
    }
    fn init(&mut self, ctx: &parley_engine::MediatorContext<'_>) {
        self.inner.init(ctx);
    }
    fn text(&mut self, _: &parley_engine::MediatorContext<'_>, _: &State) -> Tabled {
        Tabled::Common(self.text.clone())
    }
    fn progress(&self) -> f64 {
        0.0
    }
    fn improve(
        &mut self,
        ctx: &parley_engine::MediatorContext<'_>,
        agreement: &[u32],
    ) -> Option<Vec<u32>> {
        self.inner.improve(ctx, agreement)
    }
}

#[test]
fn post_settlement_replaces_a_dominated_deal_with_a_pareto_improvement() {
    let scenario = bundled("oman-talks.toml");
    let analysis =
        parley_core::analysis::analyze(&scenario, &Default::default()).expect("analysis");
    let cards = scenario.space().cardinalities();
    let count = scenario.space().outcome_count().as_u64().expect("small");
    // A deal both sides accept but that is off the frontier.
    let mut outcome = vec![0; cards.len()];
    let dominated = (0..count)
        .find_map(|i| {
            parley_core::analysis::decode(i, &cards, &mut outcome);
            let u = scenario.evaluate(&outcome).expect("valid");
            let rational = u.iter().zip(scenario.reservations()).all(|(a, r)| *a >= r)
                && !scenario.red_lines_of_all().crosses(&outcome);
            let on_frontier = analysis.pareto.iter().any(|p| {
                p.utilities
                    .iter()
                    .zip(&u)
                    .all(|(a, b)| (a - b).abs() < 1e-12)
            });
            (rational && !on_frontier).then(|| outcome.clone())
        })
        .expect("a dominated rational outcome exists");
    let before = scenario.evaluate(&dominated).expect("valid");
    for post_settlement in [false, true] {
        let mut config = SessionConfig::new(ProtocolKind::SingleText, 3);
        config.confide = vec![true, true];
        config.post_settlement = post_settlement;
        let mediator = Box::new(FixedText {
            text: dominated.clone(),
            inner: mediator("shuttle", 1).expect("known"),
        });
        let result = run_session(
            &scenario,
            &config,
            vec![Box::new(YesMan), Box::new(YesMan)],
            Some(mediator),
        )
        .expect("runs");
        let agreement = result.agreement.expect("a deal");
        if !post_settlement {
            assert_eq!(agreement, dominated);
            continue;
        }
        let after = scenario.evaluate(&agreement).expect("valid");
        assert!(
            after.iter().zip(&before).all(|(a, b)| a >= b)
                && after.iter().zip(&before).any(|(a, b)| a > b),
            "{before:?} → {after:?}"
        );
        assert!(result
            .phases
            .contains(&parley_engine::Phase::PostSettlement));
        let on_frontier = analysis.pareto.iter().any(|p| {
            p.utilities
                .iter()
                .zip(&after)
                .all(|(a, b)| (a - b).abs() < 1e-12)
        });
        assert!(on_frontier, "the improvement {after:?} is Pareto-optimal");
    }
}

/// A clock that moves one second every time it is read.
struct Ticking(std::sync::atomic::AtomicU64);

impl parley_engine::session::Clock for Ticking {
    fn elapsed(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
    }
}

#[test]
fn a_wall_time_deadline_ends_the_session() {
    let scenario = bundled("oman-talks.toml");
    for protocol in protocols() {
        let mut config = SessionConfig::new(protocol, 1000);
        config.time_limit = Some(std::time::Duration::from_secs(20));
        config.clock = Some(std::sync::Arc::new(Ticking(Default::default())));
        let result = run_session(
            &scenario,
            &config,
            vec![
                negotiator("hardliner", 1).expect("known"),
                negotiator("hardliner", 2).expect("known"),
            ],
            mediator("shuttle", 3).ok(),
        )
        .expect("session runs");
        assert_ne!(result.ended_by, EndReason::Agreement);
        // Each step reads the clock at most a few times: far fewer than 1000 rounds pass.
        assert!(
            result.rounds < 20,
            "{}: {} rounds within a 20 s limit",
            protocol.name(),
            result.rounds
        );
        let last_time = result
            .trace
            .events
            .iter()
            .map(|e| e.time)
            .fold(0.0, f64::max);
        assert!(last_time <= 1.0);
    }
}

/// Panics on its first turn.
struct Panicker;

impl Negotiator for Panicker {
    fn name(&self) -> String {
        "panicker".into()
    }
    fn act(&mut self, _: &PartyContext<'_>, _: &State, _: Option<&[u32]>) -> Action {
        panic!("strategy bug")
    }
    fn propose(&mut self, _: &PartyContext<'_>, _: &State) -> Option<Vec<u32>> {
        panic!("strategy bug")
    }
    fn vote(&mut self, _: &PartyContext<'_>, _: &State, _: &[u32], _: Option<&[u32]>) -> bool {
        panic!("strategy bug")
    }
}

#[test]
fn a_panicking_negotiator_ends_its_session_as_data() {
    let scenario = bundled("job-offer.toml");
    for protocol in protocols() {
        let config = SessionConfig::new(protocol, 40);
        let result = run_session(
            &scenario,
            &config,
            vec![negotiator("linear", 1).expect("known"), Box::new(Panicker)],
            mediator("shuttle", 2).ok(),
        )
        .expect("the session itself succeeds");
        assert_eq!(
            result.ended_by,
            EndReason::InvalidAction,
            "{}",
            protocol.name()
        );
        let message = result.trace.events.iter().find_map(|e| match &e.kind {
            EventKind::Invalid {
                by: Some(1),
                message,
            } => Some(message.clone()),
            _ => None,
        });
        assert!(
            message.is_some_and(|m| m.contains("panicked: strategy bug")),
            "{}",
            protocol.name()
        );
        assert_eq!(result.utilities, scenario.reservations());
    }
}

/// An offer binds its proposer only while it is worth what walking away pays it: when
/// the proposer's alternative has risen above its offer by the time the other side
/// accepts, the proposer is released, answers on its next turn, and nobody ends below
/// walking away.
#[test]
fn an_offer_whose_proposers_alternative_has_risen_above_it_does_not_bind() {
    use parley_core::{Alternative, Consequence, Curve};
    let base = bundled("job-offer.toml");
    let offer = vec![1; base.space().n_issues()];
    let worth = base.utilities()[0].value(&offer);
    // Party 0's alternative: worth a little less than the offer at first, much more
    // than it at the end (it passes the offer at t = 0.01 / 0.31).
    let rising = Alternative::new(vec![Consequence {
        label: "a better offer elsewhere".into(),
        probability: Curve::Constant(1.0),
        utility: Curve::Piecewise(vec![(0.0, worth - 0.01), (1.0, worth + 0.3)]),
    }])
    .expect("valid");
    let mut parties = base.parties().to_vec();
    parties[0].reservation = 0.0;
    parties[0].alternative = Some(rising);
    parties[1].reservation = 0.0;
    let scenario =
        parley_core::Scenario::new("rising", None, base.space().clone(), parties).expect("valid");
    // Party 0 offers at t = 0; party 1 accepts on the next step: t = 1/200 with 100
    // rounds (still worth more than the alternative), t = 1/4 with 2 (not).
    let play = |rounds| {
        run_session(
            &scenario,
            &saop(rounds),
            boxed(vec![
                Scripted(vec![Action::Offer(offer.clone())]),
                Scripted(vec![Action::Accept]),
            ]),
            None,
        )
        .expect("runs")
    };
    let (early, late) = (play(100), play(2));
    for result in [&early, &late] {
        let accepted = result
            .trace
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Accept { by: 1 }));
        assert!(accepted, "party 1 accepts");
        for (p, party) in scenario.parties().iter().enumerate() {
            assert!(result.utilities[p] >= party.walk_away(result.time) - 1e-12);
        }
    }
    assert!(scenario.acceptable(0, &offer, 0.005));
    assert_eq!(early.ended_by, EndReason::Agreement);
    assert_eq!(early.agreement.as_deref(), Some(offer.as_slice()));
    assert!(!scenario.acceptable(0, &offer, 0.25));
    // Released, party 0 answers on its next turn (here it walks away).
    assert_eq!(late.ended_by, EndReason::WalkAway);
    assert_eq!(late.agreement, None);
}

/// A built-in that says who it is with every move, and reports a model call.
struct Talker {
    inner: Box<dyn Negotiator>,
    me: usize,
}

impl Negotiator for Talker {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn observe(&mut self, ctx: &PartyContext<'_>, event: &parley_engine::Event) {
        self.inner.observe(ctx, event)
    }
    fn act(&mut self, ctx: &PartyContext<'_>, state: &State, standing: Option<&[u32]>) -> Action {
        self.inner.act(ctx, state, standing)
    }
    fn propose(&mut self, ctx: &PartyContext<'_>, state: &State) -> Option<Vec<u32>> {
        self.inner.propose(ctx, state)
    }
    fn vote(&mut self, ctx: &PartyContext<'_>, s: &State, t: &[u32], c: Option<&[u32]>) -> bool {
        self.inner.vote(ctx, s, t, c)
    }
    fn message(&mut self) -> Option<String> {
        Some(format!("  words of party {}  ", self.me))
    }
    fn model_calls(&mut self) -> Vec<parley_engine::ModelCall> {
        vec![parley_engine::ModelCall {
            prompt: format!("private prompt of party {}", self.me),
            reply: "{}".into(),
            note: String::new(),
        }]
    }
}

/// A built-in mediator that writes to everyone and to party 0's room alone.
struct Writer(Box<dyn parley_engine::Mediator>);

impl parley_engine::Mediator for Writer {
    fn name(&self) -> String {
        self.0.name()
    }
    fn observe(&mut self, ctx: &parley_engine::MediatorContext<'_>, e: &parley_engine::Event) {
        self.0.observe(ctx, e)
    }
    fn text(&mut self, ctx: &parley_engine::MediatorContext<'_>, state: &State) -> Tabled {
        self.0.text(ctx, state)
    }
    fn progress(&self) -> f64 {
        self.0.progress()
    }
    fn messages(&mut self) -> Vec<(Option<usize>, String)> {
        vec![
            (None, "to everyone".into()),
            (Some(0), "to party 0 alone".into()),
            (Some(7), "to nobody".into()),
        ]
    }
}

#[test]
fn messages_and_model_calls_reach_only_whom_the_policy_says() {
    use parley_engine::Recipient;
    let scenario = bundled("job-offer.toml");
    for protocol in [
        ProtocolKind::staged(20),
        ProtocolKind::Shuttle,
        ProtocolKind::Saop,
    ] {
        let negotiators: Vec<Box<dyn Negotiator>> = (0..2)
            .map(|i| {
                Box::new(Talker {
                    inner: negotiator("conceder", i as u64).expect("known"),
                    me: i,
                }) as Box<dyn Negotiator>
            })
            .collect();
        let med = protocol.default_mediator().map(|m| {
            Box::new(Writer(mediator(m, 3).expect("known"))) as Box<dyn parley_engine::Mediator>
        });
        let result = run_session(
            &scenario,
            &SessionConfig::new(protocol, 20),
            negotiators,
            med,
        )
        .expect("runs");
        let all = &result.trace.events;
        // Words are trimmed; a message to a room that does not exist is dropped.
        assert!(all.iter().any(
            |e| matches!(&e.kind, EventKind::Message { text, .. } if text == "words of party 0")
        ));
        assert!(!all
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Message { text, .. } if text == "to nobody")));
        // While talks go through the mediator a party writes to it alone; in direct
        // talks to everyone.
        for e in all {
            if let EventKind::Message {
                from: Some(_), to, ..
            } = &e.kind
            {
                let direct = matches!(protocol, ProtocolKind::Saop)
                    || all.iter().any(|p| {
                        p.seq < e.seq
                            && matches!(
                                p.kind,
                                EventKind::Phase {
                                    to: parley_engine::Phase::Direct,
                                    ..
                                }
                            )
                    });
                assert_eq!(
                    *to,
                    if direct {
                        Recipient::All
                    } else {
                        Recipient::Mediator
                    }
                );
            }
        }
        for party in 0..2 {
            let seen = view(&result.trace, Viewer::Party(party));
            for e in &seen.events {
                match &e.kind {
                    EventKind::ModelCall { by, .. } => assert_eq!(*by, Some(party)),
                    EventKind::Message { from, to, text } => match to {
                        Recipient::All => {}
                        Recipient::Mediator => assert_eq!(*from, Some(party), "{text}"),
                        Recipient::Party(p) => {
                            assert!(*p == party || *from == Some(party), "{text}")
                        }
                    },
                    _ => {}
                }
            }
            let heard = seen
                .events
                .iter()
                .any(|e| matches!(&e.kind, EventKind::Message { text, .. } if text == "to party 0 alone"));
            assert_eq!(heard, party == 0 && protocol.default_mediator().is_some());
        }
        let mediator_view = view(&result.trace, Viewer::Mediator);
        assert!(mediator_view
            .events
            .iter()
            .all(|e| !matches!(e.kind, EventKind::ModelCall { by: Some(_), .. })));
        // The owner's trace keeps every call.
        assert!(all.iter().any(|e| matches!(&e.kind, EventKind::ModelCall { by: Some(1), call } if call.prompt == "private prompt of party 1")));
    }
}
