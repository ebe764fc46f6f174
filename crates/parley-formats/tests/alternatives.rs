//! The alternative to a deal as a lottery over time (`[parties.alternative]`): read,
//! checked, valued and written back.

use parley_formats::native;

const SCENARIO: &str = r#"
name = "border talks"

[[issues]]
name = "troops"
values = ["withdraw", "stay"]

[[parties]]
name = "north"
[parties.alternative]
consequences = [
  { label = "status quo holds", probability = [[0.0, 0.8], [0.5, 0.8], [0.6, 0.2], [1.0, 0.2]], utility = 0.5 },
  { label = "border clash",     probability = [[0.0, 0.2], [0.5, 0.2], [0.6, 0.8], [1.0, 0.8]], utility = 0.1 },
]
[parties.utility]
issues = [{ issue = "troops", weight = 1.0, values = { withdraw = 1.0, stay = 0.0 } }]

[[parties]]
name = "south"
reservation = 0.3
[parties.utility]
issues = [{ issue = "troops", weight = 1.0, values = { withdraw = 0.0, stay = 1.0 } }]
"#;

#[test]
fn an_alternative_is_read_and_valued_over_time() {
    let scenario = native::parse_toml(SCENARIO, "border.toml").expect("loads");
    let north = &scenario.parties()[0];
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(close(north.reservation_at(0.0), 0.42));
    assert!(close(north.reservation_at(0.55), 0.3));
    assert!(close(north.reservation_at(1.0), 0.18));
    assert!(close(north.reservation, 0.42), "the reservation is v(0)");
    let south = &scenario.parties()[1];
    assert!(close(south.reservation_at(0.9), 0.3));
    // Written back and read again, unchanged.
    let json = native::to_json(&scenario).expect("writes");
    let again = native::parse_json(&json, "border.json").expect("reads back");
    assert_eq!(again.parties()[0].alternative, north.alternative);
    assert!(again.parties()[1].alternative.is_none());
}

#[test]
fn a_bad_alternative_is_an_error_naming_the_party_and_field() {
    let cases = [
        (
            SCENARIO.replace(
                "name = \"north\"\n",
                "name = \"north\"\nreservation = 0.4\n",
            ),
            "party \"north\": give either `reservation` or `alternative`, not both",
        ),
        (
            SCENARIO.replace("[0.6, 0.2], [1.0, 0.2]", "[0.6, 0.3], [1.0, 0.2]"),
            "the probabilities sum to 1.1 at t = 0.6",
        ),
        (
            SCENARIO.replace("utility = 0.1 }", "utility = 1.5 }"),
            "border.toml: line 13: party \"north\": alternative.consequences[1] (\"border \
             clash\").utility: 1.5 is not in [0, 1]",
        ),
        (
            SCENARIO.replace("[[0.0, 0.8], [0.5, 0.8]", "[[0.1, 0.8], [0.5, 0.8]"),
            "starts at t = 0",
        ),
        (
            SCENARIO.replace("reservation = 0.3", "reservation = 22.6"),
            "the reservation value 22.6 must be in [0, 1]",
        ),
    ];
    for (text, needle) in cases {
        let error = native::parse_toml(&text, "border.toml")
            .expect_err(needle)
            .to_string();
        assert!(error.contains("border.toml"), "{error}");
        assert!(error.contains(needle), "{error}\nlacks {needle:?}");
    }
}

/// Genius takes one reservation value: an alternative is written as its value at the
/// start, with a comment saying so, and reads back as that value.
#[test]
fn a_genius_export_writes_the_alternative_at_the_start_and_says_so() {
    let scenario = native::parse_toml(SCENARIO, "border.toml").expect("loads");
    let dir = tempfile::tempdir().expect("tempdir");
    parley_formats::genius::write_folder(&scenario, dir.path()).expect("writes");
    let profiles: Vec<String> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .filter_map(|e| std::fs::read_to_string(e.expect("entry").path()).ok())
        .filter(|text| text.contains("<reservation"))
        .collect();
    assert!(profiles
        .iter()
        .any(|p| p.contains("lottery that changes over time") && p.contains("(0.42")));
    let back = parley_formats::genius::read_folder(dir.path()).expect("reads back");
    let north = back
        .scenario
        .parties()
        .iter()
        .find(|p| p.name.contains("north"))
        .expect("north");
    assert!((north.reservation - 0.42).abs() < 1e-12);
    assert!(north.alternative.is_none());
}
