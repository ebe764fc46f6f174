//! Property tests of the analysis against naive oracles that enumerate every outcome.

use parley_core::analysis::{analyze, decode, AnalysisConfig, Method};
use parley_core::{
    Bound, HyperRectangles, Issue, IssueKind, IssueTerm, LinearAdditive, OutcomeSpace, Party,
    Rectangle, Scenario, UtilityFunction, ValueFunction,
};
use proptest::prelude::*;

/// A small random scenario description: value counts, per-party evaluations.
#[derive(Clone, Debug)]
struct Spec {
    cards: Vec<u32>,
    /// [party][issue][value] small integers, so ties are frequent.
    evals: Vec<Vec<Vec<u8>>>,
    /// [party][issue] weights.
    weights: Vec<Vec<u8>>,
    reservations: Vec<u8>,
    /// Per party: use hyper-rectangles (derived from the evaluations) instead.
    nonlinear: Vec<bool>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (1usize..4, 1usize..5).prop_flat_map(|(n_issues, n_parties)| {
        (
            proptest::collection::vec(1u32..5, n_issues),
            proptest::collection::vec(0u8..6, n_parties),
            proptest::collection::vec(any::<bool>(), n_parties),
        )
            .prop_flat_map(move |(cards, reservations, nonlinear)| {
                let evals = proptest::collection::vec(
                    cards
                        .iter()
                        .map(|&c| proptest::collection::vec(0u8..5, c as usize))
                        .collect::<Vec<_>>(),
                    n_parties,
                );
                let weights = proptest::collection::vec(
                    proptest::collection::vec(0u8..4, n_issues),
                    n_parties,
                );
                (
                    Just(cards),
                    evals,
                    weights,
                    Just(reservations),
                    Just(nonlinear),
                )
            })
            .prop_map(|(cards, evals, weights, reservations, nonlinear)| Spec {
                cards,
                evals,
                weights,
                reservations,
                nonlinear,
            })
    })
}

/// Builds the scenario; `issue_order` and `value_orders` permute issues and values.
fn build(
    spec: &Spec,
    issue_order: &[usize],
    value_orders: &[Vec<u32>],
    allow_nonlinear: bool,
) -> Scenario {
    let issues = issue_order
        .iter()
        .map(|&i| {
            let values = value_orders[i].iter().map(|v| format!("v{v}")).collect();
            Issue::new(format!("i{i}"), IssueKind::Discrete { values }).expect("valid issue")
        })
        .collect();
    let space = OutcomeSpace::new(issues).expect("valid space");
    let parties = (0..spec.evals.len())
        .map(|p| {
            let utility = if allow_nonlinear && spec.nonlinear[p] {
                // One rectangle per (issue, value) with that value's evaluation: the same
                // function as the linear one with equal weights, written as constraints,
                // plus a pairwise rectangle to make it genuinely nonlinear.
                let mut rectangles = Vec::new();
                for (pos, &i) in issue_order.iter().enumerate() {
                    for (slot, &v) in value_orders[i].iter().enumerate() {
                        rectangles.push(Rectangle {
                            utility: spec.evals[p][i][v as usize] as f64,
                            include: vec![Bound {
                                issue: pos,
                                lo: slot as u32,
                                hi: slot as u32,
                            }],
                            exclude: vec![],
                        });
                    }
                }
                if issue_order.len() >= 2 {
                    // Original issues 0 and 1 at their original value 0, wherever the
                    // permutation put them.
                    let at = |i: usize| {
                        let pos = issue_order
                            .iter()
                            .position(|&x| x == i)
                            .expect("permutation");
                        let slot = value_orders[i]
                            .iter()
                            .position(|&v| v == 0)
                            .expect("permutation") as u32;
                        Bound {
                            issue: pos,
                            lo: slot,
                            hi: slot,
                        }
                    };
                    rectangles.push(Rectangle {
                        utility: 3.0,
                        include: vec![],
                        exclude: vec![at(0), at(1)],
                    });
                }
                UtilityFunction::HyperRectangles(HyperRectangles {
                    max: 20.0,
                    rectangles,
                })
            } else {
                let terms = issue_order
                    .iter()
                    .enumerate()
                    .map(|(pos, &i)| IssueTerm {
                        issue: pos,
                        // Written as clean decimals (0.1 … 0.4): weights are taken as the
                        // decimals they are written as, so 0.1 + 0.2 style float noise
                        // would make them different rationals.
                        weight: format!("0.{}", spec.weights[p][i] + 1)
                            .parse()
                            .expect("decimal"),
                        value_function: ValueFunction::Table(
                            value_orders[i]
                                .iter()
                                .map(|&v| spec.evals[p][i][v as usize] as f64)
                                .collect(),
                        ),
                    })
                    .collect();
                UtilityFunction::Linear(LinearAdditive { terms })
            };
            Party {
                name: format!("p{p}"),
                utility,
                reservation: spec.reservations[p] as f64 / 10.0,
                discount: 1.0,
                alternative: None,
                red_lines: Vec::new(),
            }
        })
        .collect();
    Scenario::new("prop", None, space, parties).expect("valid scenario")
}

fn identity(spec: &Spec) -> (Vec<usize>, Vec<Vec<u32>>) {
    (
        (0..spec.cards.len()).collect(),
        spec.cards.iter().map(|&c| (0..c).collect()).collect(),
    )
}

fn all_outcomes(scenario: &Scenario) -> Vec<Vec<f64>> {
    let cards = scenario.space().cardinalities();
    let count = scenario.space().outcome_count().as_u64().expect("small");
    let mut outcome = vec![0; cards.len()];
    (0..count)
        .map(|i| {
            decode(i, &cards, &mut outcome);
            scenario.evaluate(&outcome).expect("valid outcome")
        })
        .collect()
}

const EPS: f64 = 1e-9;

fn dominates_or_equals(q: &[f64], p: &[f64]) -> bool {
    q.iter().zip(p).all(|(a, b)| *a >= b - EPS)
}

fn strictly_dominates(q: &[f64], p: &[f64]) -> bool {
    dominates_or_equals(q, p) && q.iter().zip(p).any(|(a, b)| *a > b + EPS)
}

/// The same vectors, each matched within 1e-9 (float noise may reorder near-ties).
fn same_vectors(a: &[Vec<f64>], b: &[Vec<f64>]) -> bool {
    let close = |x: &Vec<f64>, y: &Vec<f64>| x.iter().zip(y).all(|(p, q)| (p - q).abs() < 1e-9);
    a.len() == b.len()
        && a.iter().all(|x| b.iter().any(|y| close(x, y)))
        && b.iter().all(|y| a.iter().any(|x| close(x, y)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn frontier_is_exactly_the_nondominated_set(spec in spec(), nonlinear in any::<bool>()) {
        let (issues, values) = identity(&spec);
        let scenario = build(&spec, &issues, &values, nonlinear);
        let outcomes = all_outcomes(&scenario);
        for method in [Method::Auto, Method::Enumerate] {
            let analysis = analyze(&scenario, &AnalysisConfig { method, ..AnalysisConfig::default() }).expect("analysis");
            prop_assert!(analysis.pareto_exact);
            let front: Vec<Vec<f64>> = analysis.pareto.iter().map(|p| p.utilities.clone()).collect();
            // Each frontier point is attained by its outcome and not dominated.
            for p in &analysis.pareto {
                let u = scenario.evaluate(&p.outcome).expect("valid outcome");
                prop_assert!(u.iter().zip(&p.utilities).all(|(a, b)| (a - b).abs() < EPS));
                prop_assert!(!outcomes.iter().any(|o| strictly_dominates(o, &p.utilities)));
            }
            // Distinct vectors.
            for (i, a) in front.iter().enumerate() {
                for b in &front[i + 1..] {
                    prop_assert!(a.iter().zip(b).any(|(x, y)| (x - y).abs() > EPS), "duplicate frontier vector");
                }
            }
            // Every outcome is dominated by or equal to a frontier point.
            for o in &outcomes {
                prop_assert!(front.iter().any(|f| dominates_or_equals(f, o)));
            }
            // Special points against brute force over rational outcomes.
            let r = scenario.reservations();
            let rational: Vec<&Vec<f64>> = outcomes.iter().filter(|o| o.iter().zip(&r).all(|(u, r)| *u >= r - EPS)).collect();
            match &analysis.nash {
                None => prop_assert!(rational.is_empty()),
                Some(nash) => {
                    let best = rational.iter().map(|o| o.iter().zip(&r).map(|(u, r)| (u - r).max(0.0)).product::<f64>()).fold(f64::NEG_INFINITY, f64::max);
                    prop_assert!((nash.value - best).abs() < 1e-9, "nash {} vs {}", nash.value, best);
                    prop_assert!(front.iter().any(|f| f.iter().zip(&nash.utilities).all(|(a, b)| (a - b).abs() < EPS)), "nash off the frontier");
                    let welfare = rational.iter().map(|o| o.iter().sum::<f64>()).fold(f64::NEG_INFINITY, f64::max);
                    prop_assert!((analysis.max_welfare.as_ref().expect("welfare").value - welfare).abs() < 1e-9);
                    let ks = analysis.kalai_smorodinsky.as_ref().expect("ks");
                    prop_assert!(front.iter().any(|f| f.iter().zip(&ks.utilities).all(|(a, b)| (a - b).abs() < EPS)), "ks off the frontier");
                }
            }
            let ideal: Vec<f64> = (0..r.len()).map(|i| outcomes.iter().map(|o| o[i]).fold(f64::NEG_INFINITY, f64::max)).collect();
            let opposition = outcomes.iter().map(|o| o.iter().zip(&ideal).map(|(u, b)| (b - u).powi(2)).sum::<f64>().sqrt()).fold(f64::INFINITY, f64::min);
            prop_assert!((analysis.opposition - opposition).abs() < 1e-9);
        }
    }

    #[test]
    fn results_do_not_depend_on_issue_or_value_order(spec in spec(), nonlinear in any::<bool>(), seed in any::<u64>()) {
        let (issues, values) = identity(&spec);
        let base = analyze(&build(&spec, &issues, &values, nonlinear), &AnalysisConfig::default()).expect("analysis");
        // A seeded permutation of issues and of each issue's values.
        let mut state = seed | 1;
        let mut next = || { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state };
        let mut issue_order = issues.clone();
        for i in (1..issue_order.len()).rev() { let j = (next() % (i as u64 + 1)) as usize; issue_order.swap(i, j); }
        let mut value_orders = values.clone();
        for order in &mut value_orders {
            for i in (1..order.len()).rev() { let j = (next() % (i as u64 + 1)) as usize; order.swap(i, j); }
        }
        let permuted = analyze(&build(&spec, &issue_order, &value_orders, nonlinear), &AnalysisConfig::default()).expect("analysis");
        let front = |a: &parley_core::analysis::Analysis| a.pareto.iter().map(|p| p.utilities.clone()).collect::<Vec<_>>();
        prop_assert!(same_vectors(&front(&base), &front(&permuted)), "frontiers differ");
        let value = |p: &Option<parley_core::analysis::SpecialPoint>| p.as_ref().map(|p| p.value);
        for (a, b) in [
            (value(&base.nash), value(&permuted.nash)),
            (value(&base.kalai_smorodinsky), value(&permuted.kalai_smorodinsky)),
            (value(&base.max_welfare), value(&permuted.max_welfare)),
        ] {
            prop_assert!(matches!((a, b), (None, None)) || matches!((a, b), (Some(x), Some(y)) if (x - y).abs() < 1e-9), "{a:?} vs {b:?}");
        }
        prop_assert!((base.opposition - permuted.opposition).abs() < 1e-9);
    }
}

#[test]
fn search_finds_the_exact_frontier_of_a_small_nonlinear_space() {
    let spec = Spec {
        cards: vec![4, 3, 4, 3],
        evals: vec![
            vec![
                vec![0, 1, 2, 4],
                vec![3, 0, 1],
                vec![4, 2, 1, 0],
                vec![0, 2, 4],
            ],
            vec![
                vec![4, 2, 1, 0],
                vec![0, 4, 1],
                vec![1, 4, 2, 0],
                vec![4, 0, 2],
            ],
        ],
        weights: vec![vec![1, 1, 1, 1], vec![1, 1, 1, 1]],
        reservations: vec![0, 0],
        nonlinear: vec![true, true],
    };
    let (issues, values) = identity(&spec);
    let scenario = build(&spec, &issues, &values, true);
    let exact = analyze(
        &scenario,
        &AnalysisConfig {
            method: Method::Enumerate,
            ..AnalysisConfig::default()
        },
    )
    .expect("analysis");
    let searched = analyze(
        &scenario,
        &AnalysisConfig {
            method: Method::Search,
            time_budget: std::time::Duration::from_millis(300),
            ..AnalysisConfig::default()
        },
    )
    .expect("analysis");
    assert!(!searched.pareto_exact);
    let front = |a: &parley_core::analysis::Analysis| {
        a.pareto
            .iter()
            .map(|p| p.utilities.clone())
            .collect::<Vec<_>>()
    };
    assert!(same_vectors(&front(&exact), &front(&searched)));
}

#[test]
fn a_work_budget_makes_the_search_repeatable() {
    // A space too big to search out in the budget, so the result depends on where the
    // search stops: with a work budget it stops at the same place every time, and on
    // any number of threads.
    let cards = vec![7u32; 9];
    let evals: Vec<Vec<Vec<u8>>> = (0..2u8)
        .map(|p| {
            (0..9u8)
                .map(|i| {
                    (0..7u8)
                        .map(|v| (v * (3 + p) + i * (1 + 2 * p)) % 7)
                        .collect()
                })
                .collect()
        })
        .collect();
    let spec = Spec {
        cards,
        evals,
        weights: vec![vec![1; 9], vec![1; 9]],
        reservations: vec![0, 0],
        nonlinear: vec![true, true],
    };
    let (issues, values) = identity(&spec);
    let scenario = build(&spec, &issues, &values, true);
    let config = AnalysisConfig {
        method: Method::Search,
        work_budget: Some(20_000),
        ..AnalysisConfig::default()
    };
    let front = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        let analysis = pool
            .install(|| analyze(&scenario, &config))
            .expect("analysis");
        let stats = analysis.search.expect("searched");
        assert!(
            stats.evaluations >= 20_000 && stats.evaluations < 40_000,
            "{stats:?}"
        );
        analysis
            .pareto
            .iter()
            .map(|p| (p.utilities.clone(), p.outcome.clone()))
            .collect::<Vec<_>>()
    };
    let first = front(1);
    assert!(!first.is_empty());
    assert_eq!(first, front(1));
    assert_eq!(first, front(3));
}

#[test]
fn additive_method_refuses_nonlinear_utilities() {
    let spec = Spec {
        cards: vec![2, 2],
        evals: vec![vec![vec![0, 1], vec![1, 0]]],
        weights: vec![vec![1, 1]],
        reservations: vec![0],
        nonlinear: vec![true],
    };
    let (issues, values) = identity(&spec);
    let scenario = build(&spec, &issues, &values, true);
    let err = analyze(
        &scenario,
        &AnalysisConfig {
            method: Method::Additive,
            ..AnalysisConfig::default()
        },
    )
    .expect_err("not additive");
    assert!(err.to_string().contains("linear-additive"), "{err}");
}
