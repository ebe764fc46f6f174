//! The zone of agreement over time against a brute force: random small scenarios with
//! alternatives that change over time and red lines; every outcome is enumerated at
//! every moment (counts, Nash points) and on a fine grid of times (the closing time).

use parley_core::analysis::{analyze, decode, AnalysisConfig, Method};
use parley_core::{
    Alternative, Consequence, Curve, Issue, IssueKind, IssueTerm, LinearAdditive, OutcomeSpace,
    Party, RedLine, Scenario, UtilityFunction, ValueFunction,
};
use proptest::prelude::*;

/// Breakpoints a curve may use (besides 0 and 1).
const KNOTS: [f64; 5] = [0.15, 0.3, 0.45, 0.6, 0.8];

/// An alternative's shape: the bad consequence's chance at 0, at the knot and at 1,
/// which knot, the good consequence's utility at 0 and at 1, the bad one's utility (all
/// in tenths but the knot).
type Lottery = (u8, u8, u8, usize, u8, u8, u8);

#[derive(Clone, Debug)]
struct Spec {
    cards: Vec<u32>,
    /// [party][issue][value] evaluations and [party][issue] weights.
    evals: Vec<Vec<Vec<u8>>>,
    weights: Vec<Vec<u8>>,
    /// Per party: `None` a constant reservation (the u8 / 10), or an alternative of two
    /// consequences: the chance of the bad one at 0, at a knot and at 1, the knot, and
    /// both consequences' utilities (the good one's moving linearly to a second value,
    /// mostly rising, so that zones close mid-way).
    alternatives: Vec<Result<u8, Lottery>>,
    /// Per party, per issue: a refused value (`None`: no red line there).
    red_lines: Vec<Vec<Option<u8>>>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (2usize..=3, proptest::collection::vec(2u32..=4, 2..=3)).prop_flat_map(|(n, cards)| {
        let m = cards.len();
        (
            Just(cards),
            proptest::collection::vec(
                proptest::collection::vec(proptest::collection::vec(0u8..=9, 4), m),
                n,
            ),
            proptest::collection::vec(proptest::collection::vec(1u8..=3, m), n),
            proptest::collection::vec(
                prop_oneof![
                    1 => (0u8..=6).prop_map(Ok),
                    3 => (0u8..=10, 0u8..=10, 0u8..=10, 0usize..KNOTS.len(), 0u8..=8, 5u8..=10, 0u8..=4)
                        .prop_map(Err),
                ],
                n,
            ),
            proptest::collection::vec(
                proptest::collection::vec(prop_oneof![3 => Just(None), 1 => (0u8..4).prop_map(Some)], m),
                n,
            ),
        )
            .prop_map(|(cards, evals, weights, alternatives, red_lines)| Spec {
                cards,
                evals,
                weights,
                alternatives,
                red_lines,
            })
    })
}

fn build(spec: &Spec) -> Scenario {
    let issues = spec
        .cards
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            Issue::new(
                format!("i{i}"),
                IssueKind::Discrete {
                    values: (0..c).map(|v| format!("v{v}")).collect(),
                },
            )
            .expect("issue")
        })
        .collect();
    let space = OutcomeSpace::new(issues).expect("space");
    let parties = (0..spec.evals.len())
        .map(|p| {
            // Weights in tenths, written as the decimals they are (0.3, not 3/9), so that
            // utilities are exact decimals as in real files.
            let m = spec.cards.len();
            let mut tenths: Vec<u8> = spec.weights[p][..m - 1].to_vec();
            tenths.push(10 - tenths.iter().sum::<u8>());
            let terms = spec
                .cards
                .iter()
                .enumerate()
                .map(|(i, &c)| IssueTerm {
                    issue: i,
                    weight: f64::from(tenths[i]) / 10.0,
                    value_function: ValueFunction::Table(
                        (0..c as usize)
                            .map(|v| f64::from(spec.evals[p][i][v]) + 1.0)
                            .collect(),
                    ),
                })
                .collect();
            let (reservation, alternative) = match spec.alternatives[p] {
                Ok(r) => (f64::from(r) / 10.0, None),
                Err((p0, pk, p1, knot, good0, good1, bad)) => {
                    let chance = |x: u8| f64::from(x) / 10.0;
                    let bad_chance = vec![
                        (0.0, chance(p0)),
                        (KNOTS[knot], chance(pk)),
                        (1.0, chance(p1)),
                    ];
                    let good_chance = bad_chance.iter().map(|&(t, q)| (t, 1.0 - q)).collect();
                    let alternative = Alternative::new(vec![
                        Consequence {
                            label: "calm".into(),
                            probability: Curve::Piecewise(good_chance),
                            utility: Curve::Piecewise(vec![
                                (0.0, chance(good0)),
                                (1.0, chance(good1)),
                            ]),
                        },
                        Consequence {
                            label: "clash".into(),
                            probability: Curve::Piecewise(bad_chance),
                            utility: Curve::Constant(chance(bad)),
                        },
                    ])
                    .expect("valid alternative");
                    (alternative.value(0.0), Some(alternative))
                }
            };
            let red_lines = spec.red_lines[p]
                .iter()
                .enumerate()
                .filter_map(|(i, refused)| {
                    let v = u32::from((*refused)?) % spec.cards[i];
                    Some(RedLine {
                        issue: i,
                        never: vec![v],
                        ..RedLine::default()
                    })
                })
                .collect();
            Party {
                name: format!("p{p}"),
                utility: UtilityFunction::Linear(LinearAdditive { terms }),
                reservation,
                discount: 1.0,
                alternative,
                red_lines,
            }
        })
        .collect();
    Scenario::new("zone", None, space, parties).expect("valid scenario")
}

/// Every outcome with each party's utility.
fn outcomes(scenario: &Scenario) -> Vec<(Vec<u32>, Vec<f64>)> {
    let cards = scenario.space().cardinalities();
    let count = scenario.space().outcome_count().as_u64().expect("small");
    (0..count)
        .map(|i| {
            let mut outcome = vec![0; cards.len()];
            decode(i, &cards, &mut outcome);
            let utils = scenario.evaluate(&outcome).expect("valid");
            (outcome, utils)
        })
        .collect()
}

/// The outcomes acceptable to every party at `t`, the brute-force way.
fn acceptable_at<'a>(
    scenario: &'a Scenario,
    all: &'a [(Vec<u32>, Vec<f64>)],
    t: f64,
) -> impl Iterator<Item = &'a (Vec<u32>, Vec<f64>)> + 'a {
    all.iter().filter(move |(outcome, utils)| {
        (0..scenario.n_parties()).all(|i| {
            utils[i] >= scenario.parties()[i].reservation_at(t) - 1e-12
                && !scenario.red_lines(i).crosses(outcome)
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn the_zone_over_time_matches_a_brute_force(spec in spec(), enumerate in any::<bool>()) {
        let scenario = build(&spec);
        let config = AnalysisConfig {
            method: if enumerate { Method::Enumerate } else { Method::Additive },
            ..AnalysisConfig::default()
        };
        let analysis = analyze(&scenario, &config).expect("analysis");
        let all = outcomes(&scenario);

        // The moments: 0, 1 and every breakpoint, in order.
        let mut expected_times = vec![0.0, 1.0];
        for p in scenario.parties() {
            if let Some(a) = &p.alternative {
                expected_times.extend(a.breakpoints());
            }
        }
        expected_times.sort_by(f64::total_cmp);
        expected_times.dedup();
        let times: Vec<f64> = analysis.zone.moments.iter().map(|m| m.t).collect();
        prop_assert_eq!(&times, &expected_times);

        for moment in &analysis.zone.moments {
            let t = moment.t;
            for (i, p) in scenario.parties().iter().enumerate() {
                prop_assert!((moment.reserved[i] - p.reservation_at(t)).abs() < 1e-12);
            }
            let zone: Vec<_> = acceptable_at(&scenario, &all, t).collect();
            prop_assert_eq!(moment.rational_count, Some(zone.len() as u64), "count at t = {}", t);
            // Nash: the largest product of gains over what walking away is worth then.
            let best = zone
                .iter()
                .map(|(_, u)| {
                    u.iter()
                        .zip(&moment.reserved)
                        .map(|(x, r)| (x - r).max(0.0))
                        .product::<f64>()
                })
                .fold(None, |b: Option<f64>, x| Some(b.map_or(x, |b| b.max(x))));
            match (&moment.nash, best) {
                (None, None) => {}
                (Some(nash), Some(best)) => {
                    prop_assert!((nash.value - best).abs() < 1e-9, "Nash at t = {}: {} vs {}", t, nash.value, best);
                    prop_assert!(!scenario.red_lines_of_all().crosses(&nash.outcome));
                }
                (nash, best) => prop_assert!(false, "Nash at t = {}: {:?} vs brute force {:?}", t, nash, best),
            }
        }

        // The closing time against a grid of 10,001 times.
        let open = |t: f64| acceptable_at(&scenario, &all, t).next().is_some();
        let grid_first_closed = (0..=10_000).map(|k| f64::from(k) / 10_000.0).find(|&t| !open(t));
        match analysis.zone.closes_at {
            None => prop_assert!(grid_first_closed.is_none(), "closes on the grid at {:?}", grid_first_closed),
            Some(c) => {
                prop_assert!((0.0..1.0).contains(&c));
                // Open up to the closing time (on the grid), closed just after it.
                for k in 0..=10_000 {
                    let t = f64::from(k) / 10_000.0;
                    if t > c - 1e-9 {
                        break;
                    }
                    prop_assert!(open(t), "closed at {} before the closing time {}", t, c);
                }
                if c > 0.0 {
                    prop_assert!(open(c), "the zone is open at its closing time {}", c);
                } else {
                    prop_assert!(!open(0.0) || !open(1e-5));
                }
                prop_assert!(!open((c + 1e-5).min(1.0)), "still open just after {}", c);
                let g = grid_first_closed.expect("closed somewhere on the grid");
                prop_assert!(g >= c - 1e-9, "grid closes at {} before {}", g, c);
            }
        }
    }
}

#[test]
fn a_lottery_that_worsens_closes_the_zone_when_the_threat_outweighs_the_best_deal() {
    // One issue, three values; A's utilities 0, 0.5, 1 and B's 1, 0.5, 0. B's
    // alternative: "calm" (0.2) with chance 1 until t = 0.4, then the chance of a
    // "strike" worth 0.9 to B (B gains from it) rises linearly to 1 at t = 0.8.
    // v_B(t) = 0.2 + 0.7·(t − 0.4)/0.4 on [0.4, 0.8]. A's reservation is 0.5, so A
    // takes "halves" or "A keeps"; B takes "B keeps" and, while v_B ≤ 0.5, "halves".
    // The zone is {halves} until v_B passes 0.5: t = 0.4 + 0.3·0.4/0.7 = 0.571428…
    let space = OutcomeSpace::new(vec![Issue::new(
        "split",
        IssueKind::Discrete {
            values: vec!["B keeps".into(), "halves".into(), "A keeps".into()],
        },
    )
    .expect("issue")])
    .expect("space");
    let linear = |table: Vec<f64>| {
        UtilityFunction::Linear(LinearAdditive {
            terms: vec![IssueTerm {
                issue: 0,
                weight: 1.0,
                value_function: ValueFunction::Table(table),
            }],
        })
    };
    let strike = Alternative::new(vec![
        Consequence {
            label: "calm".into(),
            probability: Curve::Piecewise(vec![(0.0, 1.0), (0.4, 1.0), (0.8, 0.0), (1.0, 0.0)]),
            utility: Curve::Constant(0.2),
        },
        Consequence {
            label: "strike".into(),
            probability: Curve::Piecewise(vec![(0.0, 0.0), (0.4, 0.0), (0.8, 1.0), (1.0, 1.0)]),
            utility: Curve::Constant(0.9),
        },
    ])
    .expect("valid");
    let parties = vec![
        Party {
            name: "A".into(),
            utility: linear(vec![0.0, 0.5, 1.0]),
            reservation: 0.5,
            discount: 1.0,
            alternative: None,
            red_lines: Vec::new(),
        },
        Party {
            name: "B".into(),
            utility: linear(vec![1.0, 0.5, 0.0]),
            reservation: 0.2,
            discount: 1.0,
            alternative: Some(strike),
            red_lines: Vec::new(),
        },
    ];
    let scenario = Scenario::new("strike", None, space, parties).expect("valid");
    let analysis = analyze(&scenario, &AnalysisConfig::default()).expect("analysis");
    let closes = analysis.zone.closes_at.expect("the zone closes");
    assert!((closes - (0.4 + 0.3 * 0.4 / 0.7)).abs() < 1e-9, "{closes}");
    let times: Vec<f64> = analysis.zone.moments.iter().map(|m| m.t).collect();
    assert_eq!(times, vec![0.0, 0.4, 0.8, 1.0]);
    let counts: Vec<Option<u64>> = analysis
        .zone
        .moments
        .iter()
        .map(|m| m.rational_count)
        .collect();
    assert_eq!(counts, vec![Some(1), Some(1), Some(0), Some(0)]);
    assert!(analysis.zone.moments[2].nash.is_none());
}
