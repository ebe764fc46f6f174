//! The zone of agreement over time in `parley analyze`: the report's section and the
//! plot, on a small scenario whose zone closes before the deadline.

use std::path::Path;

use crate::cli::{parley, redact_timing};

/// A buyer and a seller, 3 × 3 outcomes. The buyer walks away with 0.45 throughout.
/// The seller's alternative is worth 0.2 until t = 0.5 ("no sale" for sure), then
/// another buyer becomes ever more likely: p(another buyer) = 2(t − 0.5) on [0.5, 1],
/// so v(t) = 0.9·p + 0.2·(1 − p) = 0.2 + 1.4(t − 0.5), and v(1) = 0.9.
///
/// Utilities (buyer, seller), with b_price, b_delivery the buyer's evaluations (1,
/// 0.5, 0 for low/mid/high and fast/standard/slow): buyer = 0.6·b_price +
/// 0.4·b_delivery, seller = 0.7·(1 − b_price) + 0.3·(1 − b_delivery).
///
/// | price, delivery | buyer | seller |
/// |-----------------|-------|--------|
/// | mid, standard   | 0.5   | 0.5    |
/// | mid, fast       | 0.7   | 0.35   |
/// | low, slow       | 0.6   | 0.3    |
/// | low, standard   | 0.8   | 0.15   |
/// | low, fast       | 1.0   | 0.0    |
/// | the other four  | < 0.45 for the buyer |
///
/// While the seller's walk-away value is 0.2 (t ≤ 0.5), the first three are acceptable
/// to both (3 outcomes); the Nash point maximises (buyer − 0.45)(seller − 0.2): 0.0375
/// at (mid, fast) against 0.015 for the other two, so it is (0.7, 0.35). The best the
/// seller can get from an outcome the buyer accepts is 0.5 (mid, standard), so the zone
/// closes when v(t) = 0.5: 0.2 + 1.4(t − 0.5) = 0.5, t = 0.5 + 3/14 = 0.714285714…
/// At t = 1 (v = 0.9) no outcome is acceptable to both.
const CLOSING_WINDOW: &str = r#"
name = "Closing window"

[[issues]]
name = "price"
values = ["low", "mid", "high"]

[[issues]]
name = "delivery"
values = ["fast", "standard", "slow"]

[[parties]]
name = "buyer"
reservation = 0.45

[parties.utility]
[[parties.utility.issues]]
issue = "price"
weight = 0.6
values = { low = 2, mid = 1, high = 0 }
[[parties.utility.issues]]
issue = "delivery"
weight = 0.4
values = { fast = 2, standard = 1, slow = 0 }

[[parties]]
name = "seller"

[parties.utility]
[[parties.utility.issues]]
issue = "price"
weight = 0.7
values = { low = 0, mid = 1, high = 2 }
[[parties.utility.issues]]
issue = "delivery"
weight = 0.3
values = { fast = 0, standard = 1, slow = 2 }

[parties.alternative]
consequences = [
  { label = "another buyer", probability = [[0.0, 0.0], [0.5, 0.0], [1.0, 1.0]], utility = 0.9 },
  { label = "no sale",       probability = [[0.0, 1.0], [0.5, 1.0], [1.0, 0.0]], utility = 0.2 },
]
"#;

fn write_fixture(dir: &Path) -> String {
    let path = dir.join("closing-window.toml");
    std::fs::write(&path, CLOSING_WINDOW).expect("write the fixture");
    path.to_str().expect("utf-8 path").to_string()
}

#[test]
fn analyze_reports_the_zone_closing_mid_way() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = write_fixture(dir.path());
    let out = parley(&["analyze", &scenario]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = redact_timing(&out.stdout);
    let zone = &report[report
        .find("Zone of agreement over time")
        .expect("a zone section")..];
    // The hand computation above: 3 outcomes and Nash (0.7, 0.35) at t = 0 and 0.5,
    // closed at t = 1, closing at 0.5 + 3/14.
    let rows: Vec<Vec<&str>> = zone
        .lines()
        .filter(|line| line.starts_with("  0.") || line.starts_with("  1."))
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["0.000000", "0.4500", "0.2000", "3", "0.7000", "0.3500"],
            vec!["0.500000", "0.4500", "0.2000", "3", "0.7000", "0.3500"],
            vec!["1.000000", "0.4500", "0.9000", "0", "none:", "the", "zone", "is", "closed"],
        ]
    );
    let closing = format!("The zone closes at t = {:.6}", 0.5 + 3.0 / 14.0);
    assert_eq!(closing, "The zone closes at t = 0.714286");
    assert!(zone.contains(&closing), "{zone}");
    insta::assert_snapshot!(report);
}

#[test]
fn analyze_plots_the_walk_away_lines_of_every_moment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = write_fixture(dir.path());
    let svg = dir.path().join("zone.svg");
    let out = parley(&[
        "analyze",
        &scenario,
        "--plot",
        svg.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(&svg).expect("svg written");
    assert!(text.starts_with("<svg"), "{}", &text[..text.len().min(200)]);
    // t = 0 and 0.5 draw the same lines; the closing time and the deadline get their own.
    for label in [
        "walk-away at t=0–0.5",
        "walk-away at t=0.714 (zone closes)",
        "walk-away at t=1 (zone closed)",
        "reservation value (constant)",
        "utility of seller",
        "Nash",
    ] {
        assert!(text.contains(label), "no {label:?} in the plot");
    }
}

#[test]
fn a_zone_that_does_not_change_takes_one_line() {
    let out = parley(&["analyze", "scenarios/job-offer.toml"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stdout.contains("Zone of agreement over time"));
    let zone: Vec<&str> = out
        .stdout
        .lines()
        .filter(|line| line.starts_with("zone "))
        .collect();
    assert_eq!(
        zone,
        ["zone       1076 outcomes acceptable to every party; it does not change over time"]
    );
}
