//! A party whose alternative to a deal changes over time: built-in negotiators weigh
//! every deal against what walking away pays at that moment, and no session ends
//! with a party below it.

use parley_engine::negotiators::{negotiator, role_seed, NEGOTIATORS};
use parley_engine::{run_session, ProtocolKind, SessionConfig};

/// The seller's alternative grows from poor (0.1) to good (0.8) after the middle of
/// the talks (a rival buyer appears); the buyer's is a fixed 0.2. Discounted, as in
/// Genius.
const SCENARIO: &str = r#"
name = "a rival appears"

[[issues]]
name = "price"
type = "integer"
min = 0
max = 20

[[issues]]
name = "delivery"
values = ["slow", "standard", "fast"]

[[parties]]
name = "buyer"
reservation = 0.2
discount = 0.95
[parties.utility]
issues = [
  { issue = "price", weight = 0.7, linear = { slope = -0.05, offset = 1.0 } },
  { issue = "delivery", weight = 0.3, values = { slow = 0.0, standard = 0.5, fast = 1.0 } },
]

[[parties]]
name = "seller"
discount = 0.95
[parties.alternative]
consequences = [
  { label = "rival buyer", probability = [[0.0, 0.0], [0.5, 0.0], [0.7, 1.0], [1.0, 1.0]], utility = 0.8 },
  { label = "no one else", probability = [[0.0, 1.0], [0.5, 1.0], [0.7, 0.0], [1.0, 0.0]], utility = 0.1 },
]
[parties.utility]
issues = [
  { issue = "price", weight = 0.8, linear = { slope = 0.05, offset = 0.0 } },
  { issue = "delivery", weight = 0.2, values = { slow = 1.0, standard = 0.5, fast = 0.0 } },
]
"#;

#[test]
fn no_built_in_negotiator_ends_below_its_alternative_at_that_moment() {
    let scenario = parley_formats::native::parse_toml(SCENARIO, "rival.toml").expect("loads");
    let mut sessions = 0;
    let mut no_deal = 0;
    for a in NEGOTIATORS {
        for b in NEGOTIATORS {
            for seed in 0..3u64 {
                let config = SessionConfig::new(ProtocolKind::Saop, 40);
                let negotiators = vec![
                    negotiator(a, role_seed(seed, 0)).expect("built-in"),
                    negotiator(b, role_seed(seed, 1)).expect("built-in"),
                ];
                let result = run_session(&scenario, &config, negotiators, None).expect("runs");
                sessions += 1;
                for (p, party) in scenario.parties().iter().enumerate() {
                    let walk_away = party.walk_away(result.time);
                    assert!(
                        result.utilities[p] > walk_away - 1e-9,
                        "{a} vs {b} (seed {seed}): {} got {} against {walk_away} for walking \
                         away at t = {}",
                        party.name,
                        result.utilities[p],
                        result.time
                    );
                }
                if result.agreement.is_none() {
                    no_deal += 1;
                }
                // No deal pays v(t_end), discounted.
                if result.agreement.is_none() {
                    let seller = &scenario.parties()[1];
                    let expected = seller.reservation_at(result.time) * 0.95f64.powf(result.time);
                    assert!((result.utilities[1] - expected).abs() < 1e-12);
                }
            }
        }
    }
    assert_eq!(sessions, NEGOTIATORS.len() * NEGOTIATORS.len() * 3);
    // The rival makes some talks end without a deal (else the test shows nothing
    // about walking away), but not all.
    assert!(
        no_deal > 0 && no_deal < sessions,
        "{no_deal} of {sessions} without a deal"
    );
}

fn boulwares(scenario: &parley_core::Scenario, seed: u64) -> parley_engine::SessionResult {
    let config = SessionConfig {
        seed,
        ..SessionConfig::new(ProtocolKind::Saop, 100)
    };
    let negotiators = vec![
        negotiator("boulware", role_seed(seed, 0)).expect("built-in"),
        negotiator("boulware", role_seed(seed, 1)).expect("built-in"),
    ];
    run_session(scenario, &config, negotiators, None).expect("runs")
}

/// `breakdown = 0.3`: most boulware sessions collapse before a deal, the same way for
/// the same seed; every party then gets what walking away pays at that moment. With
/// no breakdown risk, nothing changes.
#[test]
fn breakdown_risk_ends_talks_deterministically() {
    let risky_text = SCENARIO.replacen(
        "name = \"a rival appears\"\n",
        "name = \"a rival appears\"\nbreakdown = 0.3\n",
        1,
    );
    let risky = parley_formats::native::parse_toml(&risky_text, "risky.toml").expect("loads");
    assert_eq!(risky.breakdown(), 0.3);
    let calm = parley_formats::native::parse_toml(SCENARIO, "calm.toml").expect("loads");
    let mut broke = 0;
    for seed in 0..40u64 {
        let result = boulwares(&risky, seed);
        let again = boulwares(&risky, seed);
        assert_eq!(result.agreement, again.agreement);
        assert_eq!(result.ended_by, again.ended_by);
        assert_eq!(result.rounds, again.rounds);
        if result.ended_by.name() == "breakdown" {
            broke += 1;
            assert!(result.agreement.is_none());
            for (p, party) in risky.parties().iter().enumerate() {
                assert!((result.utilities[p] - party.walk_away(result.time)).abs() < 1e-12);
            }
        }
        let calm_result = boulwares(&calm, seed);
        assert_ne!(calm_result.ended_by.name(), "breakdown");
    }
    assert!(broke > 30, "{broke} of 40 sessions broke down");
    // A chance outside [0, 1) is an error naming the file.
    for bad in ["breakdown = 1.0", "breakdown = -0.1"] {
        let text = SCENARIO.replacen(
            "name = \"a rival appears\"\n",
            &format!("name = \"a rival appears\"\n{bad}\n"),
            1,
        );
        let error = parley_formats::native::parse_toml(&text, "risky.toml")
            .expect_err(bad)
            .to_string();
        assert!(
            error.contains("risky.toml") && error.contains("breakdown"),
            "{error}"
        );
    }
}
