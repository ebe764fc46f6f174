//! GeniusWeb JSON profiles: read (both spellings of the value-set types, numbers,
//! scaling, the reservation bid), written, round-tripped, and refused clearly.

use std::path::{Path, PathBuf};

use parley_formats::{geniusweb, load, Format};

const DOMAIN: &str = r#""domain": {"name": "lunch", "issuesValues": {
    "dish": {"values": ["soup", "pasta", "steak"]},
    "minutes": {"values": ["15", "30", "45", "60"]}}}"#;

/// Ann: a profile whose best outcome is worth 0.8 to GeniusWeb (the tables' best
/// values are 1.0 and 0.5, weights 0.6 and 0.4).
fn ann() -> String {
    format!(
        r#"{{"LinearAdditiveUtilitySpace": {{"name": "ann", {DOMAIN},
        "issueWeights": {{"dish": 0.6, "minutes": 0.4}},
        "issueUtilities": {{
          "dish": {{"discreteutils": {{"valueUtilities": {{"soup": 0.2, "pasta": 1, "steak": 0.5}}}}}},
          "minutes": {{"numberutils": {{"lowValue": 15, "lowUtility": 0.0, "highValue": 60, "highUtility": 0.5}}}}}},
        "reservationBid": {{"issuevalues": {{"dish": "steak", "minutes": "15"}}}}}}}}"#
    )
}

/// Bob: spelled as GeniusWeb's Python port writes it; no reservation bid.
fn bob() -> String {
    format!(
        r#"{{"LinearAdditiveUtilitySpace": {{"name": "bob", {DOMAIN},
        "issueWeights": {{"dish": 0.5, "minutes": 0.5}},
        "issueUtilities": {{
          "dish": {{"DiscreteValueSetUtilities": {{"valueUtilities": {{"soup": 1, "pasta": 0.3, "steak": 0}}}}}},
          "minutes": {{"DiscreteValueSetUtilities": {{"valueUtilities": {{"15": 1, "30": 0.6, "45": 0.3, "60": 0}}}}}}}},
        "reservationBid": null}}}}"#
    )
}

fn folder(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    dir
}

fn utility(s: &parley_core::Scenario, party: usize, labels: &[&str]) -> f64 {
    let o = s.space().outcome_from_labels(labels).expect("outcome");
    s.utilities()[party].value(&o)
}

#[test]
fn a_geniusweb_folder_reads_scaled_to_a_best_of_one() {
    let dir = folder(&[
        ("ann.json", ann()),
        ("bob.json", bob()),
        ("notes.txt", "x".into()),
    ]);
    assert_eq!(Format::of_path(dir.path()), Some(Format::GeniusWeb));
    let loaded = load(dir.path()).expect("reads");
    let s = &loaded.scenario;
    assert_eq!(s.name(), "lunch");
    let names: Vec<&str> = s.parties().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["ann", "bob"]);
    // Issues come in name order; values in the domain's order.
    assert_eq!(s.space().issues()[0].name(), "dish");
    // Ann, GeniusWeb: 0.6·u_dish + 0.4·(0.5·(m − 15)/45); best 0.6 + 0.2 = 0.8.
    let gw = |dish: f64, minutes: f64| 0.6 * dish + 0.4 * (0.5 * (minutes - 15.0) / 45.0);
    for (d, dv) in [("soup", 0.2), ("pasta", 1.0), ("steak", 0.5)] {
        for m in ["15", "30", "45", "60"] {
            let want = gw(dv, m.parse().expect("number")) / 0.8;
            let got = utility(s, 0, &[d, m]);
            assert!((got - want).abs() < 1e-12, "{d} {m}: {got} vs {want}");
        }
    }
    // The reservation bid (steak, 15): 0.3 to GeniusWeb, 0.375 once scaled.
    assert!((s.parties()[0].reservation - 0.375).abs() < 1e-12);
    assert_eq!(s.parties()[1].reservation, 0.0);
    // Bob's best is worth 1 already: no note for him.
    assert!(
        loaded
            .notes
            .iter()
            .any(|n| n.contains("ann.json") && n.contains("0.8")),
        "{:?}",
        loaded.notes
    );
    assert!(
        !loaded
            .notes
            .iter()
            .any(|n| n.contains("bob.json: utilities")),
        "{:?}",
        loaded.notes
    );
}

fn bundled(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name)
}

#[test]
fn linear_scenarios_round_trip_through_geniusweb() {
    for name in ["job-offer.toml", "supplier-contract.toml"] {
        let original = load(&bundled(name)).expect("bundled").scenario;
        let dir = tempfile::tempdir().expect("tempdir");
        let notes = geniusweb::write_folder(&original, dir.path()).expect("writes");
        assert!(notes.iter().all(|n| n.contains("reservation")), "{notes:?}");
        let back = load(dir.path()).expect("reads back").scenario;
        assert_eq!(back.n_parties(), original.n_parties());
        let space = original.space();
        let cards = space.cardinalities();
        let mut outcome = vec![0u32; cards.len()];
        loop {
            let labels = space.outcome_labels(&outcome);
            // Issues may come back in another order: match them by name.
            let mut map = std::collections::BTreeMap::new();
            for (issue, label) in space.issues().iter().zip(&labels) {
                map.insert(issue.name().to_string(), label.clone());
            }
            let again = back
                .space()
                .outcome_from_issue_labels(&map)
                .expect("same values");
            for p in 0..original.n_parties() {
                let (a, b) = (
                    original.utilities()[p].value(&outcome),
                    back.utilities()[p].value(&again),
                );
                assert!(
                    (a - b).abs() < 1e-12,
                    "{name} party {p} {labels:?}: {a} vs {b}"
                );
            }
            let mut k = cards.len();
            loop {
                if k == 0 {
                    break;
                }
                k -= 1;
                outcome[k] += 1;
                if outcome[k] < cards[k] {
                    break;
                }
                outcome[k] = 0;
            }
            if outcome.iter().all(|&v| v == 0) {
                break;
            }
        }
        // The reservation bids are worth exactly the reservation values here.
        for p in 0..original.n_parties() {
            let (a, b) = (
                original.parties()[p].reservation,
                back.parties()[p].reservation,
            );
            assert!(
                b >= a - 1e-12 && b - a < 0.05,
                "{name} party {p}: {a} → {b}"
            );
        }
    }
}

#[test]
fn bad_profiles_are_refused_with_file_and_field() {
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (vec![("ann.json", ann())], "at least two"),
        (
            vec![
                ("ann.json", ann()),
                ("bob.json", bob().replace("\"issueWeights\"", "\"weights\"")),
            ],
            "issueWeights",
        ),
        (
            vec![
                ("ann.json", ann()),
                ("bob.json", bob().replace("\"soup\": 1,", "\"soup\": 1.5,")),
            ],
            "[0, 1]",
        ),
        (
            vec![
                ("ann.json", ann()),
                (
                    "bob.json",
                    bob().replace("\"steak\": 0}", "\"steak\": 0, \"fish\": 1}"),
                ),
            ],
            "fish",
        ),
        (
            vec![
                ("ann.json", ann()),
                (
                    "bob.json",
                    bob().replace("\"steak\"]}", "\"steak\", \"fish\"]}"),
                ),
            ],
            "same domain",
        ),
        (
            vec![
                ("ann.json", ann()),
                ("bob.json", "{\"LinearAdditiveUtilitySpace\": ".into()),
            ],
            "bob.json",
        ),
    ];
    for (files, says) in cases {
        let dir = folder(&files);
        let err = match load(dir.path()) {
            Ok(_) => panic!("{says}: read a bad folder"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(says), "{says}: {err}");
    }
}
