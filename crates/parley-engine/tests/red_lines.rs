//! Red lines and alternatives that change over time, in every protocol: no built-in
//! negotiator proposes, offers or accepts an outcome across its own red line or worth
//! less to it than walking away at that moment, no mediator puts a text across anyone's
//! red line, so no agreement ever crosses one and nobody ends below what walking away
//! would have paid it (property test over random scenarios, negotiators, protocols,
//! confidences and seeds); the engine refuses a strategy that breaks the red lines.

use parley_core::{
    Alternative, Consequence, Curve, Issue, IssueKind, IssueTerm, LinearAdditive, OutcomeSpace,
    Party, RedLine, Scenario, UtilityFunction, ValueFunction,
};
use parley_engine::negotiators::{mediator, negotiator};
use parley_engine::session::Indirect;
use parley_engine::{
    run_session, Action, EndReason, EventKind, Negotiator, PartyContext, ProtocolKind,
    SessionConfig, State,
};
use proptest::prelude::*;

use crate::protocols::invalid_message;

/// A random bilateral or trilateral scenario with red lines: discrete issues plus one
/// integer issue, random linear utilities, and per party a red line on some issues
/// (never every value of an issue).
#[derive(Clone, Debug)]
struct Spec {
    cards: Vec<u32>,
    years: (i64, i64),
    weights: Vec<Vec<u8>>,
    evals: Vec<Vec<Vec<u8>>>,
    reservations: Vec<u8>,
    /// Per party, per issue: refused values as a bit mask (the integer issue: a bound).
    refused: Vec<Vec<u16>>,
    bounds: Vec<(Option<u8>, Option<u8>)>,
    /// Per party: an alternative worth a/10 at t = 0 and b/10 at t = 1 (linear), or
    /// the fixed reservation value.
    alternatives: Vec<Option<(u8, u8)>>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (2usize..=3, proptest::collection::vec(2u32..=5, 2..=3)).prop_flat_map(|(n, cards)| {
        let m = cards.len() + 1;
        (
            Just(cards.clone()),
            (0i64..3, 2i64..6),
            proptest::collection::vec(proptest::collection::vec(1u8..=9, m), n),
            proptest::collection::vec(
                proptest::collection::vec(proptest::collection::vec(0u8..=10, 8), m),
                n,
            ),
            proptest::collection::vec(0u8..=6, n),
            proptest::collection::vec(
                proptest::collection::vec(prop_oneof![2 => Just(0u16), 1 => 1u16..64], cards.len()),
                n,
            ),
            proptest::collection::vec((any::<Option<u8>>(), any::<Option<u8>>()), n),
            proptest::collection::vec(proptest::option::of((0u8..=8, 0u8..=9)), n),
        )
            .prop_map(
                |(
                    cards,
                    (lo, span),
                    weights,
                    evals,
                    reservations,
                    refused,
                    bounds,
                    alternatives,
                )| {
                    Spec {
                        cards,
                        years: (lo, lo + span),
                        weights,
                        evals,
                        reservations,
                        refused,
                        bounds,
                        alternatives,
                    }
                },
            )
    })
}

fn build(spec: &Spec) -> Scenario {
    let mut issues: Vec<Issue> = spec
        .cards
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            Issue::new(
                format!("issue{i}"),
                IssueKind::Discrete {
                    values: (0..c).map(|v| format!("v{v}")).collect(),
                },
            )
            .expect("issue")
        })
        .collect();
    issues.push(
        Issue::new(
            "years",
            IssueKind::Integer {
                min: spec.years.0,
                max: spec.years.1,
            },
        )
        .expect("issue"),
    );
    let space = OutcomeSpace::new(issues).expect("space");
    let cards = space.cardinalities();
    let parties = (0..spec.weights.len())
        .map(|p| {
            let total: f64 = spec.weights[p].iter().map(|&w| f64::from(w)).sum();
            let terms = cards
                .iter()
                .enumerate()
                .map(|(i, &c)| IssueTerm {
                    issue: i,
                    weight: f64::from(spec.weights[p][i]) / total,
                    value_function: ValueFunction::Table(
                        (0..c as usize)
                            .map(|v| f64::from(spec.evals[p][i][v % 8]) + 0.5)
                            .collect(),
                    ),
                })
                .collect();
            let mut red_lines: Vec<RedLine> = spec.refused[p]
                .iter()
                .enumerate()
                .filter_map(|(i, &mask)| {
                    // Never every value: keep the lowest value the mask leaves, or value 0.
                    let mut never: Vec<u32> =
                        (0..cards[i]).filter(|v| mask & (1 << v) != 0).collect();
                    if never.len() as u32 == cards[i] {
                        never.remove(0);
                    }
                    (!never.is_empty()).then(|| RedLine {
                        issue: i,
                        never,
                        ..RedLine::default()
                    })
                })
                .collect();
            let (below, above) = spec.bounds[p];
            let (lo, hi) = spec.years;
            let within = |x: u8| (lo + i64::from(x) % (hi - lo + 1)) as f64;
            let (below, above) = (below.map(within), above.map(within));
            // Keep at least one year allowed.
            if below.is_some() || above.is_some() {
                let above = match (below, above) {
                    (Some(b), Some(a)) if a < b => Some(b),
                    _ => above,
                };
                red_lines.push(RedLine {
                    issue: cards.len() - 1,
                    below,
                    above,
                    ..RedLine::default()
                });
            }
            let alternative = spec.alternatives[p].map(|(a, b)| {
                Alternative::new(vec![Consequence {
                    label: "elsewhere".into(),
                    probability: Curve::Constant(1.0),
                    utility: Curve::Piecewise(vec![
                        (0.0, f64::from(a) / 10.0),
                        (1.0, f64::from(b) / 10.0),
                    ]),
                }])
                .expect("valid alternative")
            });
            Party {
                name: format!("p{p}"),
                utility: UtilityFunction::Linear(LinearAdditive { terms }),
                reservation: alternative
                    .as_ref()
                    .map_or(f64::from(spec.reservations[p]) / 10.0, |a| a.value(0.0)),
                discount: 1.0,
                alternative,
                red_lines,
            }
        })
        .collect();
    Scenario::new("red lines", None, space, parties).expect("valid scenario")
}

fn protocol(k: u8) -> ProtocolKind {
    match k % 5 {
        0 => ProtocolKind::Saop,
        1 => ProtocolKind::SingleText,
        2 => ProtocolKind::Shuttle,
        3 => ProtocolKind::Staged {
            indirect: Indirect::Shuttle,
            threshold: 0.6,
            indirect_rounds: 10,
        },
        _ => ProtocolKind::Staged {
            indirect: Indirect::SingleText,
            threshold: 0.6,
            indirect_rounds: 10,
        },
    }
}

const NEGOTIATORS: [&str; 7] = [
    "boulware",
    "conceder",
    "linear",
    "random",
    "tit-for-tat",
    "frequency",
    "hardliner",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn no_agreement_ever_crosses_a_red_line(
        spec in spec(),
        kind in 0u8..5,
        picks in proptest::collection::vec(0usize..NEGOTIATORS.len(), 3),
        confide in proptest::collection::vec(any::<bool>(), 3),
        hill in any::<bool>(),
        post in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let scenario = build(&spec);
        let n = scenario.n_parties();
        let protocol = protocol(kind);
        let mut config = SessionConfig::new(protocol, 30);
        config.confide = confide[..n].to_vec();
        config.post_settlement = post;
        config.seed = seed;
        let negotiators = (0..n)
            .map(|i| negotiator(NEGOTIATORS[picks[i]], seed ^ i as u64).expect("known"))
            .collect();
        let single = matches!(
            protocol,
            ProtocolKind::SingleText | ProtocolKind::Staged { indirect: Indirect::SingleText, .. }
        );
        let mediator_name = if single || hill { "hill-climber" } else { "shuttle" };
        let mediator = protocol.needs_mediator().then(|| mediator(mediator_name, seed).expect("known"));
        let result = run_session(&scenario, &config, negotiators, mediator).expect("runs");
        // No built-in strategy broke a rule (the engine would have recorded it).
        for event in &result.trace.events {
            if let EventKind::Invalid { by, message } = &event.kind {
                prop_assert!(false, "invalid action by {by:?}: {message}");
            }
        }
        let all = scenario.red_lines_of_all();
        let mut standing: Option<Vec<u32>> = None;
        for event in &result.trace.events {
            match &event.kind {
                EventKind::Offer { from, outcome } | EventKind::Proposal { from, outcome } => {
                    prop_assert!(!scenario.red_lines(*from).crosses(outcome),
                        "party {from} put {outcome:?}, across its own red line");
                    prop_assert!(
                        scenario.acceptable(*from, outcome, event.time),
                        "party {} put {:?}, worth less to it than walking away at t = {}",
                        from, outcome, event.time
                    );
                    if matches!(event.kind, EventKind::Offer { .. }) {
                        standing = Some(outcome.clone());
                    }
                }
                EventKind::Text { outcome } | EventKind::Default { outcome }
                | EventKind::Carry { outcome, .. } => {
                    prop_assert!(!all.crosses(outcome), "the mediator put {outcome:?} across a red line");
                    if !matches!(event.kind, EventKind::Carry { .. }) {
                        standing = Some(outcome.clone());
                    }
                }
                EventKind::Accept { by } => {
                    let offer = standing.as_ref().expect("an offer stands");
                    prop_assert!(!scenario.red_lines(*by).crosses(offer),
                        "party {by} accepted {offer:?}, across its own red line");
                    prop_assert!(
                        scenario.acceptable(*by, offer, event.time),
                        "party {} accepted {:?}, worth less to it than walking away at t = {}",
                        by, offer, event.time
                    );
                }
                _ => {}
            }
        }
        // Nobody ends with less than walking away would have paid it then.
        for (i, party) in scenario.parties().iter().enumerate() {
            prop_assert!(
                result.utilities[i] >= party.walk_away(result.time) - 1e-12,
                "party {} ends with {} < {} (ended by {})",
                i, result.utilities[i], party.walk_away(result.time), result.ended_by.name()
            );
        }
        if let Some(agreement) = &result.agreement {
            prop_assert!(!all.crosses(agreement), "agreement {agreement:?} crosses a red line");
            for i in 0..n {
                prop_assert!(scenario.red_lines(i).crossed(agreement).is_none());
            }
        }
    }
}

/// Offers one fixed outcome, accepts whatever stands after that.
struct Stubborn(Vec<u32>, bool);

impl Negotiator for Stubborn {
    fn name(&self) -> String {
        "stubborn".into()
    }
    fn act(&mut self, _: &PartyContext<'_>, _: &State, standing: Option<&[u32]>) -> Action {
        if self.1 && standing.is_some() {
            return Action::Accept;
        }
        self.1 = true;
        Action::Offer(self.0.clone())
    }
    fn propose(&mut self, _: &PartyContext<'_>, _: &State) -> Option<Vec<u32>> {
        Some(self.0.clone())
    }
    fn vote(&mut self, _: &PartyContext<'_>, _: &State, _: &[u32], _: Option<&[u32]>) -> bool {
        true
    }
}

/// Two parties, opposed on every issue; party 0 refuses value v0 of issue0.
fn base_spec() -> Spec {
    Spec {
        cards: vec![3, 2],
        years: (1, 3),
        weights: vec![vec![1, 1, 1]; 2],
        evals: vec![
            vec![vec![1, 5, 9, 0, 0, 0, 0, 0]; 3],
            vec![vec![9, 5, 1, 0, 0, 0, 0, 0]; 3],
        ],
        reservations: vec![0, 0],
        refused: vec![vec![0b001, 0], vec![0, 0]],
        bounds: vec![(None, None), (None, None)],
        alternatives: vec![None, None],
    }
}

fn two_party_with_red_line() -> Scenario {
    build(&base_spec())
}

#[test]
fn the_engine_refuses_an_offer_or_acceptance_across_the_partys_own_red_line() {
    let scenario = two_party_with_red_line();
    // Party 0 never accepts value v0 of issue0.
    let crossing = vec![0, 0, 0];
    let config = SessionConfig::new(ProtocolKind::Saop, 10);
    let result = run_session(
        &scenario,
        &config,
        vec![
            Box::new(Stubborn(crossing.clone(), false)),
            Box::new(Stubborn(vec![1, 0, 0], false)),
        ],
        None,
    )
    .expect("runs");
    assert_eq!(result.ended_by, EndReason::InvalidAction);
    let message = invalid_message(&result.trace, Some(0)).expect("party 0 broke the rule");
    assert!(
        message.contains("offer rejected") && message.contains("own red line on issue \"issue0\""),
        "{message}"
    );
    // Party 1 may offer it (it is not its red line), but party 0 may not accept it.
    let result = run_session(
        &scenario,
        &config,
        vec![
            Box::new(Stubborn(vec![1, 0, 0], true)),
            Box::new(Stubborn(crossing, false)),
        ],
        None,
    )
    .expect("runs");
    assert_eq!(result.ended_by, EndReason::InvalidAction);
    let message = invalid_message(&result.trace, Some(0)).expect("party 0 broke the rule");
    assert!(message.contains("acceptance rejected"), "{message}");
}

#[test]
fn built_in_negotiators_never_take_a_red_line_deal_even_when_it_is_their_best() {
    // Party 0's best value of issue0 is v2 … but it is party 1's red line, and party
    // 0's own red line is v0: every agreement has issue0 = v1.
    let mut spec = base_spec();
    spec.refused[1][0] = 0b100;
    let scenario = build(&spec);
    for name in NEGOTIATORS {
        for other in ["conceder", "boulware", "random"] {
            let result = run_session(
                &scenario,
                &SessionConfig::new(ProtocolKind::Saop, 40),
                vec![
                    negotiator(name, 1).expect("known"),
                    negotiator(other, 2).expect("known"),
                ],
                None,
            )
            .expect("runs");
            if let Some(agreement) = &result.agreement {
                assert_eq!(agreement[0], 1, "{name} vs {other}: {agreement:?}");
            }
        }
    }
}
