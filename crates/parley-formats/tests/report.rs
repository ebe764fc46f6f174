//! The JSON report of `parley analyze --json`: the zone of agreement over time.

use parley_core::analysis::{analyze, AnalysisConfig};
use parley_formats::native;
use parley_formats::report::AnalysisReport;
use serde_json::{json, Value};

/// A buyer whose alternative grows better over time (a rival seller is ever more
/// likely to appear), so the zone of agreement closes before the deadline; the seller
/// never sells below 3.
const SCENARIO: &str = r#"
name = "a rival appears"

[[issues]]
name = "price"
type = "integer"
min = 0
max = 10

[[parties]]
name = "buyer"
[parties.alternative]
consequences = [
  { label = "no rival", probability = [[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]], utility = 0.0 },
  { label = "rival",    probability = [[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]], utility = 0.9 },
]
[parties.utility]
issues = [{ issue = "price", weight = 1, linear = { slope = -0.1, offset = 1 } }]

[[parties]]
name = "seller"
reservation = 0.2
[parties.utility]
issues = [{ issue = "price", weight = 1, linear = { slope = 0.1, offset = 0 } }]
[[parties.red_lines]]
issue = "price"
below = 3
"#;

fn report(text: &str) -> (Value, parley_core::analysis::Analysis) {
    let scenario = native::parse_toml(text, "rival.toml").expect("loads");
    let analysis = analyze(&scenario, &AnalysisConfig::default()).expect("analyses");
    let json = AnalysisReport::new(&scenario, &analysis).to_json();
    (serde_json::from_str(&json).expect("valid JSON"), analysis)
}

#[test]
fn the_report_has_the_zone_of_agreement_over_time() {
    let (report, analysis) = report(SCENARIO);
    let zopa = report["zopa"].as_array().expect("zopa is an array");
    // t = 0, the breakpoint 0.5 and t = 1.
    let times: Vec<f64> = zopa.iter().map(|m| m["t"].as_f64().expect("t")).collect();
    assert_eq!(times, [0.0, 0.5, 1.0]);
    assert_eq!(zopa.len(), analysis.zone.moments.len());
    // At t = 0 walking away is worth nothing to the buyer: prices 3..=10 are in the
    // zone (the seller needs 0.2, so at least 2, and refuses less than 3); Nash at 6.
    assert_eq!(zopa[0]["reserved"], json!([0.0, 0.2]));
    assert_eq!(zopa[0]["rational_count"], json!(8));
    let nash = &zopa[0]["nash"];
    assert_eq!(nash["outcome"], json!(["6"]));
    assert!(nash["value"].as_f64().is_some_and(|v| v > 0.0), "{nash}");
    assert_eq!(nash["utilities"].as_array().map(Vec::len), Some(2));
    // At t = 0.5 the buyer's alternative is worth 0.45: prices 3..=5.
    assert_eq!(zopa[1]["rational_count"], json!(3));
    // At t = 1 it is worth 0.9 and no price is worth that to the buyer and acceptable
    // to the seller: the zone is empty, with no Nash point.
    assert_eq!(zopa[2]["rational_count"], json!(0));
    assert_eq!(zopa[2]["nash"], Value::Null);
    // It closes when v(t) = 0.9·t passes 0.7, what price 3 is worth to the buyer: at
    // t = 7/9.
    let closes = report["zopa_closes_at"].as_f64().expect("the zone closes");
    assert_eq!(Some(closes), analysis.zone.closes_at);
    assert!((closes - 7.0 / 9.0).abs() < 1e-9, "{closes}");
}

#[test]
fn a_zone_that_stays_open_closes_at_null() {
    let calm = SCENARIO.replace("utility = 0.9", "utility = 0.3");
    let (report, _) = report(&calm);
    assert_eq!(report["zopa_closes_at"], Value::Null);
    let zopa = report["zopa"].as_array().expect("zopa is an array");
    assert!(zopa.iter().all(|m| m["nash"].is_object()), "{report}");
}
