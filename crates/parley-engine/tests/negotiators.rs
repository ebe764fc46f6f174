//! The ANAC classics and `best`: each one's documented behaviour, pinned in sessions
//! (`docs/negotiators.md`), the BOA blocks they are built from, and the one rule every
//! built-in keeps over the whole corpus: no session ends with a party below what
//! walking away pays at that moment.

use parley_core::Scenario;
use parley_engine::negotiators::{
    negotiator, role_seed, BayesianModel, ReservationEstimate, CLASSICS, NEGOTIATORS,
};
use parley_engine::{run_session, EventKind, ProtocolKind, SessionConfig, SessionResult};

use crate::protocols::{bundled, corpus};

fn play(scenario: &Scenario, a: &str, b: &str, rounds: u32, seed: u64) -> SessionResult {
    let config = SessionConfig {
        seed,
        ..SessionConfig::new(ProtocolKind::Saop, rounds)
    };
    run_session(
        scenario,
        &config,
        vec![
            negotiator(a, role_seed(seed, 0)).expect("built-in"),
            negotiator(b, role_seed(seed, 1)).expect("built-in"),
        ],
        None,
    )
    .expect("session runs")
}

/// The offers `party` made, with their time and their utility to it.
fn offers(scenario: &Scenario, result: &SessionResult, party: usize) -> Vec<(f64, Vec<u32>, f64)> {
    let u = &scenario.utilities()[party];
    result
        .trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Offer { from, outcome } if *from == party => {
                Some((e.time, outcome.clone(), u.value(outcome)))
            }
            _ => None,
        })
        .collect()
}

fn best_utility(scenario: &Scenario, party: usize) -> f64 {
    let cards = scenario.space().cardinalities();
    let mut outcome = vec![0u32; cards.len()];
    let count = scenario.space().outcome_count().as_u64().expect("small");
    (0..count)
        .map(|i| {
            parley_core::analysis::decode(i, &cards, &mut outcome);
            scenario.utilities()[party].value(&outcome)
        })
        .fold(0.0, f64::max)
}

/// A deal with a hardliner is worth having here: its best outcome (high price, slow,
/// blue) is worth 0.3 to the buyer, whose alternative is worth 0.2.
const HARD_BUT_FAIR: &str = r#"
name = "hard but fair"
[[issues]]
name = "price"
values = ["low", "mid", "high"]
[[issues]]
name = "delivery"
values = ["slow", "fast"]
[[issues]]
name = "colour"
values = ["red", "blue"]

[[parties]]
name = "buyer"
reservation = 0.2
[parties.utility]
issues = [
  { issue = "price", weight = 0.4, values = { low = 1.0, mid = 0.5, high = 0.0 } },
  { issue = "delivery", weight = 0.3, values = { slow = 0.0, fast = 1.0 } },
  { issue = "colour", weight = 0.3, values = { red = 0.0, blue = 1.0 } },
]

[[parties]]
name = "seller"
reservation = 0.1
[parties.utility]
issues = [
  { issue = "price", weight = 0.8, values = { low = 0.0, mid = 0.5, high = 1.0 } },
  { issue = "delivery", weight = 0.1, values = { slow = 1.0, fast = 0.0 } },
  { issue = "colour", weight = 0.1, values = { red = 0.0, blue = 1.0 } },
]
"#;

#[test]
fn every_classic_is_a_built_in_and_refuses_parameters() {
    for (name, _) in CLASSICS {
        assert!(NEGOTIATORS.contains(name), "{name} is listed");
        let made = negotiator(name, 1).expect("known");
        assert_eq!(made.name(), *name);
        let err = negotiator(&format!("{name}:e=2"), 1)
            .err()
            .expect("no parameters")
            .to_string();
        assert!(err.contains("takes no parameters"), "{err}");
    }
    assert!(negotiator("best:e=0", 1).is_err());
    assert!(negotiator("best:nash=2", 1).is_err());
    assert!(negotiator("best:x=1", 1).is_err());
    assert_eq!(
        negotiator("best", 1).expect("known").name(),
        parley_engine::negotiators::BEST
    );
}

/// MiCRO concedes only when the opponent has made as many distinct offers: against a
/// hardliner (one offer, repeated) it never gets past its second-best bid.
#[test]
fn micro_reciprocates_distinct_offers_only() {
    let scenario = bundled("supplier-contract.toml");
    let result = play(&scenario, "micro", "hardliner", 60, 3);
    let mut distinct: Vec<Vec<u32>> = offers(&scenario, &result, 0)
        .into_iter()
        .map(|(_, o, _)| o)
        .collect();
    distinct.sort();
    distinct.dedup();
    assert!(
        distinct.len() <= 2,
        "MiCRO made {} distinct bids",
        distinct.len()
    );
    // Against a conceder, which makes a new offer every turn, it concedes every turn.
    let result = play(&scenario, "micro", "conceder", 60, 3);
    let made = offers(&scenario, &result, 0);
    let mut seen: Vec<Vec<u32>> = made.iter().map(|(_, o, _)| o.clone()).collect();
    seen.sort();
    seen.dedup();
    assert!(
        seen.len() * 2 >= made.len(),
        "{} distinct of {}",
        seen.len(),
        made.len()
    );
    // Its offers never rise: each new one is the next lower bid.
    let utilities: Vec<f64> = made.iter().map(|(_, _, u)| *u).collect();
    let mut lowest = f64::INFINITY;
    for u in &utilities {
        assert!(*u <= lowest + 1e-9 || utilities.contains(u));
        lowest = lowest.min(*u);
    }
}

/// PonPoko's offers stay between its thresholds: never below 70% of its best.
#[test]
fn ponpoko_offers_between_its_thresholds() {
    let scenario = bundled("job-offer.toml");
    for seed in 0..10 {
        let result = play(&scenario, "ponpoko", "hardliner", 80, seed);
        let top = best_utility(&scenario, 0);
        for (t, _, u) in offers(&scenario, &result, 0) {
            assert!(
                u >= 0.7 * top - 1e-9,
                "seed {seed}: offer worth {u} at t = {t}"
            );
        }
    }
}

/// HardHeaded never offers below 0.585 (its minimum), and opens with its best bid.
#[test]
fn hardheaded_is_hard() {
    let scenario = bundled("supplier-contract.toml");
    let result = play(&scenario, "hardheaded", "conceder", 100, 1);
    let made = offers(&scenario, &result, 0);
    let top = best_utility(&scenario, 0);
    assert!(
        (made[0].2 - top).abs() < 0.02,
        "opens at {} of {top}",
        made[0].2
    );
    assert!(made.iter().all(|(_, _, u)| *u >= 0.585 - 1e-9));
}

/// TheFawkes, Atlas3, CUHKAgent and `best` without its ultimatum all reach a deal with
/// a hardliner: each concedes to the best offer heard by the deadline. AgentK accepts
/// below its target only with a probability that grows as t⁵: late, and not always.
#[test]
fn the_classics_that_concede_to_the_best_offer_heard_meet_a_hardliner() {
    let scenario =
        parley_formats::native::parse_toml(HARD_BUT_FAIR, "fair.toml").expect("fixture loads");
    let mut agentk = 0;
    for seed in 0..20 {
        let result = play(&scenario, "agentk", "hardliner", 100, seed);
        if result.agreement.is_some() {
            agentk += 1;
            assert!(result.time > 0.8, "AgentK gave in at t = {}", result.time);
        }
    }
    assert!((1..20).contains(&agentk), "AgentK agreed in {agentk} of 20");
    for name in ["thefawkes", "atlas3", "cuhk", "best:ultimatum=0"] {
        let result = play(&scenario, name, "hardliner", 100, 2);
        let deal = result
            .agreement
            .as_ref()
            .unwrap_or_else(|| panic!("{name} found no deal with a hardliner"));
        let hard = offers(&scenario, &result, 1);
        assert!(
            hard.iter().any(|(_, o, _)| o == deal),
            "{name}: the hardliner's own offer"
        );
    }
    // TheFawkes accepts below its target only late (AC_combi from t = 0.98).
    let result = play(&scenario, "thefawkes", "hardliner", 100, 2);
    assert!(
        result.time >= 0.97,
        "TheFawkes agreed at t = {}",
        result.time
    );
}

/// `best`, on its own last turn with the other still to answer, does not settle for an
/// offer heard that adds less than a quarter of what its floor adds to walking away: it
/// makes a last offer at its floor instead. A hardliner's 0.3 (walking away: 0.2) is
/// such an offer, so there is no deal; an agent that takes any deal worth its
/// alternative on the session's last turn (here a Classic) takes the ultimatum, which
/// is worth more to `best` than the hardliner's offer was.
#[test]
fn best_makes_an_ultimatum_rather_than_take_a_poor_offer() {
    let scenario =
        parley_formats::native::parse_toml(HARD_BUT_FAIR, "fair.toml").expect("fixture loads");
    let hard_offer = 0.3;
    let result = play(&scenario, "best", "hardliner", 100, 2);
    assert!(result.agreement.is_none(), "{:?}", result.agreement);
    let mine = offers(&scenario, &result, 0);
    let (t, _, last) = mine.last().expect("best offered");
    assert!(*t > 0.97, "its last offer came at t = {t}");
    assert!(*last > hard_offer + 0.1, "its ultimatum was worth {last}");

    let result = play(&scenario, "best", "agentk", 100, 2);
    let deal = result.agreement.as_ref().expect("agentk takes a deal");
    let u = scenario.utilities()[0].value(deal);
    assert!(u > hard_offer + 0.1, "best got {u}");
}

/// AgreeableAgent offers its best bid for the first tenth of the time; AgentGG offers
/// near-best bids for the first fifth.
#[test]
fn agreeable_and_agentgg_open_at_their_best() {
    let scenario = bundled("job-offer.toml");
    let top = best_utility(&scenario, 0);
    let result = play(&scenario, "agreeable", "hardliner", 100, 4);
    for (t, _, u) in offers(&scenario, &result, 0) {
        if t < 0.1 {
            assert!((u - top).abs() < 1e-9, "agreeable offered {u} at {t}");
        }
    }
    let result = play(&scenario, "agentgg", "hardliner", 100, 4);
    for (t, _, u) in offers(&scenario, &result, 0) {
        if t < 0.2 {
            assert!(u >= 0.98 * top - 1e-9, "agentgg offered {u} at {t}");
        }
    }
}

/// `best` exploits a conceder (it ends with more than the conceder) and does not
/// concede to a conceder before the end.
#[test]
fn best_exploits_a_conceder_and_still_agrees() {
    let scenario = bundled("supplier-contract.toml");
    for seed in 0..5 {
        let result = play(&scenario, "best", "conceder", 100, seed);
        assert!(result.agreement.is_some(), "seed {seed}: no deal");
        assert!(
            result.utilities[0] > result.utilities[1],
            "seed {seed}: best {} vs conceder {}",
            result.utilities[0],
            result.utilities[1]
        );
        let result = play(&scenario, "conceder", "best", 100, seed);
        assert!(
            result.utilities[1] > result.utilities[0],
            "seed {seed}, second"
        );
    }
}

/// The reservation estimate recovers a Boulware opponent's floor from its curve.
#[test]
fn the_reservation_estimate_reads_a_concession_curve() {
    for (r, e) in [(0.3, 0.5), (0.6, 1.0), (0.1, 2.0)] {
        let mut est = ReservationEstimate::default();
        for k in 0..50 {
            let t = f64::from(k) / 50.0;
            est.add(t, 1.0 - (1.0 - r) * t.powf(1.0 / e));
        }
        let (got, _) = est.estimate().expect("enough points");
        assert!((got - r).abs() < 0.05, "r = {r}, e = {e}: estimated {got}");
    }
    assert!(ReservationEstimate::default().estimate().is_none());
}

/// The Bayesian model, from a boulware's offers, ranks outcomes like the truth.
#[test]
fn the_bayesian_model_learns_from_offers() {
    let scenario = bundled("supplier-contract.toml");
    let result = play(&scenario, "hardliner", "boulware", 100, 5);
    let cards = scenario.space().cardinalities();
    let mut model = BayesianModel::new(&cards);
    for (t, outcome, _) in offers(&scenario, &result, 1) {
        model.learn(&outcome, t);
    }
    let truth = &scenario.utilities()[1];
    let count = scenario.space().outcome_count().as_u64().expect("small");
    let mut outcome = vec![0u32; cards.len()];
    let pairs: Vec<(f64, f64)> = (0..count)
        .map(|i| {
            parley_core::analysis::decode(i, &cards, &mut outcome);
            (model.utility(&outcome), truth.value(&outcome))
        })
        .collect();
    let n = pairs.len() as f64;
    let (mx, my) = (
        pairs.iter().map(|p| p.0).sum::<f64>() / n,
        pairs.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let cov: f64 = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sx: f64 = pairs.iter().map(|p| (p.0 - mx).powi(2)).sum::<f64>().sqrt();
    let sy: f64 = pairs.iter().map(|p| (p.1 - my).powi(2)).sum::<f64>().sqrt();
    let r = cov / (sx * sy);
    assert!(r > 0.3, "correlation {r}");
}

/// Over every scenario of the corpus (bilateral and multilateral, linear and not),
/// every built-in against `best`, a hardliner and a conceder, in each role: no party
/// ever ends below what walking away pays at the session's end.
#[test]
#[ignore = "needs the ANAC corpus ($PARLEY_SCENARIOS, default ../shared/scenarios): scripts/fetch-corpus, see docs/corpus.md"]
fn no_built_in_ends_below_walking_away_over_the_corpus() {
    let corpus = corpus();
    let mut folders: Vec<std::path::PathBuf> = Vec::new();
    let mut stack = vec![corpus.join("genius")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut has_xml = false;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "xml") {
                has_xml = true;
            }
        }
        if has_xml {
            folders.push(dir);
        }
    }
    folders.sort();
    let mut sessions = 0;
    let mut scenarios = 0;
    for folder in &folders {
        let Ok(loaded) = parley_formats::load(folder) else {
            continue;
        };
        let scenario = loaded.scenario;
        if scenario
            .space()
            .outcome_count()
            .as_u64()
            .is_none_or(|c| c > 100_000)
        {
            continue;
        }
        let n = scenario.n_parties();
        if n < 2 {
            continue;
        }
        scenarios += 1;
        let bids = std::sync::Arc::new(parley_engine::negotiators::BidCache::new(n));
        for name in NEGOTIATORS {
            for (k, other) in ["best", "hardliner", "conceder"].iter().enumerate() {
                let seed = (sessions as u64) ^ (k as u64);
                let role = sessions % n;
                let negotiators = (0..n)
                    .map(|p| {
                        let spec = if p == role { *name } else { *other };
                        negotiator(spec, role_seed(seed, p as u64)).expect("built-in")
                    })
                    .collect();
                let config = SessionConfig {
                    seed,
                    bids: Some(bids.clone()),
                    ..SessionConfig::new(ProtocolKind::Saop, 60)
                };
                let result = run_session(&scenario, &config, negotiators, None).expect("runs");
                sessions += 1;
                for (p, party) in scenario.parties().iter().enumerate() {
                    let walk_away = party.walk_away(result.time);
                    assert!(
                        result.utilities[p] > walk_away - 1e-9,
                        "{}: {name} vs {other}: {} got {} against {walk_away} for walking \
                         away at t = {}",
                        folder.display(),
                        party.name,
                        result.utilities[p],
                        result.time
                    );
                }
            }
        }
    }
    assert!(scenarios > 80, "{scenarios} scenarios");
    assert!(sessions > 3_000, "{sessions} sessions");
}
