//! Red lines (`[[parties.red_lines]]`) read, checked, written back and exported; and
//! every validation error of a party (reservation, alternative, red lines) names the
//! file, the line, the party and the field.

use parley_formats::native;

/// Two parties, each with red lines; `east` also has an alternative whose chances
/// change over time.
const SCENARIO: &str = r#"name = "enrichment talks"

[[issues]]
name = "enrichment"
values = ["none", "3.67%", "20%", "60%"]

[[issues]]
name = "years"
type = "integer"
min = 5
max = 15

[[parties]]
name = "west"
reservation = 0.2
[parties.utility]
issues = [
  { issue = "enrichment", weight = 0.7, values = { "none" = 1, "3.67%" = 0.6, "20%" = 0.1, "60%" = 0 } },
  { issue = "years", weight = 0.3, linear = { slope = 0.1, offset = 0 } },
]
[[parties.red_lines]]
issue = "enrichment"
never = ["20%", "60%"]
[[parties.red_lines]]
issue = "years"
below = 8
never = [14, "15"]

[[parties]]
name = "east"
[parties.alternative]
consequences = [
  { label = "status quo holds", probability = [[0.0, 0.8], [0.5, 0.8], [0.6, 0.2], [1.0, 0.2]], utility = 0.5 },
  { label = "sanctions tighten", probability = [[0.0, 0.2], [0.5, 0.2], [0.6, 0.8], [1.0, 0.8]], utility = 0.1 },
]
[parties.utility]
issues = [
  { issue = "enrichment", weight = 0.6, values = { "none" = 0, "3.67%" = 0.5, "20%" = 0.9, "60%" = 1 } },
  { issue = "years", weight = 0.4, linear = { slope = -0.1, offset = 1 } },
]
[[parties.red_lines]]
issue = "enrichment"
never = [
  "none",
]
[[parties.red_lines]]
issue = "years"
above = 12
"#;

/// The line (from 1) on which `needle` first occurs in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} is not in the text"));
    line_at(text, at)
}

/// The line (from 1) of byte `at` of `text`.
fn line_at(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count() + 1
}

/// `text` with `from` replaced (exactly once) by `to`.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} must occur once");
    text.replacen(from, to, 1)
}

#[test]
fn red_lines_are_read_resolved_and_enforced() {
    let scenario = native::parse_toml(SCENARIO, "talks.toml").expect("loads");
    let west = &scenario.parties()[0].red_lines;
    assert_eq!(west.len(), 2);
    assert_eq!((west[0].issue, west[0].never.clone()), (0, vec![2, 3]));
    // 14 written as a number and 15 as a string: both values of the integer issue.
    assert_eq!((west[1].issue, west[1].never.clone()), (1, vec![9, 10]));
    assert_eq!((west[1].below, west[1].above), (Some(8.0), None));
    let east = &scenario.parties()[1].red_lines;
    assert_eq!(
        (east[0].never.clone(), east[1].above),
        (vec![0], Some(12.0))
    );
    // 3.67% and 9 years cross no line; 20% crosses west's, 7 years west's, 13 east's.
    assert!(scenario.acceptable(0, &[1, 4], 0.0) && scenario.acceptable(1, &[1, 4], 0.0));
    assert!(
        !scenario.acceptable(0, &[2, 4], 0.0),
        "20% crosses west's line"
    );
    assert!(!scenario.acceptable(0, &[1, 2], 0.0), "7 years is below 8");
    assert!(
        !scenario.acceptable(1, &[1, 8], 0.0),
        "13 years is above 12"
    );
    assert!(
        scenario.red_lines_of_all().crosses(&[0, 4]),
        "none crosses east's"
    );
}

#[test]
fn red_lines_survive_a_round_trip_through_toml_and_json() {
    let original = native::parse_toml(SCENARIO, "talks.toml").expect("loads");
    let toml = native::to_toml(&original).expect("writes TOML");
    assert!(toml.contains("[[parties.red_lines]]"), "{toml}");
    let from_toml = native::parse_toml(&toml, "again.toml").expect("reads TOML back");
    let json = native::to_json(&original).expect("writes JSON");
    assert!(json.contains("\"red_lines\""), "{json}");
    let from_json = native::parse_json(&json, "again.json").expect("reads JSON back");
    for again in [&from_toml, &from_json] {
        assert_eq!(again.parties(), original.parties());
        assert_eq!(native::to_model(again), native::to_model(&original));
    }
    // A party without red lines writes none.
    let east = SCENARIO.find("name = \"east\"").expect("east");
    let cut = east
        + SCENARIO[east..]
            .find("[[parties.red_lines]]")
            .expect("east's lines");
    let plain = native::parse_toml(&SCENARIO[..cut], "plain.toml").expect("loads");
    assert!(plain.parties()[1].red_lines.is_empty());
    let toml = native::to_toml(&plain).expect("writes TOML");
    assert_eq!(toml.matches("[[parties.red_lines]]").count(), 2, "{toml}");
}

#[test]
fn red_lines_on_a_real_issue_take_numbers_and_numeric_strings() {
    let text = edit(
        SCENARIO,
        "type = \"integer\"\nmin = 5\nmax = 15\n",
        "type = \"real\"\nmin = 5\nmax = 15\nsteps = 21\n",
    );
    let text = edit(&text, "never = [14, \"15\"]", "never = [14.5, \" 15 \"]");
    let scenario = native::parse_toml(&text, "real.toml").expect("loads");
    assert_eq!(scenario.parties()[0].red_lines[1].never, vec![19, 20]);
    let json = native::to_json(&scenario).expect("writes");
    let again = native::parse_json(&json, "real.json").expect("reads back");
    assert_eq!(again.parties(), scenario.parties());
}

/// Every validation error of a party: the file, `line N` (of the key, element or
/// table at fault), the party and the field.
#[test]
fn every_party_error_names_the_file_line_party_and_field() {
    // The east party's red-line tables: the first and the second.
    let east_red_lines = |text: &str, nth: usize| {
        let east = text.find("name = \"east\"").expect("east");
        let at = text[east..]
            .match_indices("[[parties.red_lines]]")
            .nth(nth)
            .expect("a red-line table")
            .0;
        line_at(text, east + at)
    };
    let west_years_table = line_of(SCENARIO, "[[parties.red_lines]]\nissue = \"years\"");
    struct Case {
        text: String,
        line: usize,
        party: &'static str,
        field: &'static str,
    }
    let case = |text: String, line: usize, party: &'static str, field: &'static str| Case {
        text,
        line,
        party,
        field,
    };
    let both = edit(
        SCENARIO,
        "name = \"east\"\n",
        "name = \"east\"\nreservation = 0.3\n",
    );
    let no_bound = edit(
        SCENARIO,
        "issue = \"years\"\nabove = 12\n",
        "issue = \"years\"\n",
    );
    let cases = [
        // The reservation value.
        case(
            edit(SCENARIO, "reservation = 0.2", "reservation = 5.0"),
            line_of(SCENARIO, "reservation = 0.2"),
            "west",
            "reservation: the reservation value 5 must be in [0, 1]",
        ),
        case(
            edit(SCENARIO, "reservation = 0.2", "reservation = -3.0"),
            line_of(SCENARIO, "reservation = 0.2"),
            "west",
            "reservation: the reservation value -3 must be in [0, 1]",
        ),
        case(
            edit(
                SCENARIO,
                "reservation = 0.2",
                "reservation = 0.2\ndiscount = 0",
            ),
            line_of(SCENARIO, "reservation = 0.2") + 1,
            "west",
            "discount: the discount factor 0 must be in (0, 1]",
        ),
        // The alternative.
        case(
            both.clone(),
            line_of(&both, "reservation = 0.3"),
            "east",
            "give either `reservation` or `alternative`, not both",
        ),
        case(
            edit(
                SCENARIO,
                "[[0.0, 0.8], [0.5, 0.8]",
                "[[0.1, 0.8], [0.5, 0.8]",
            ),
            line_of(SCENARIO, "\"status quo holds\""),
            "east",
            "alternative.consequences[0] (\"status quo holds\").probability: a curve starts \
             at t = 0 and ends at t = 1",
        ),
        case(
            edit(
                SCENARIO,
                "[0.6, 0.8], [1.0, 0.8]]",
                "[0.6, 0.8], [0.9, 0.8]]",
            ),
            line_of(SCENARIO, "\"sanctions tighten\""),
            "east",
            "alternative.consequences[1] (\"sanctions tighten\").probability: a curve starts \
             at t = 0 and ends at t = 1",
        ),
        case(
            edit(SCENARIO, "[0.5, 0.2], [0.6, 0.8]", "[0.6, 0.2], [0.5, 0.8]"),
            line_of(SCENARIO, "\"sanctions tighten\""),
            "east",
            "alternative.consequences[1] (\"sanctions tighten\").probability: t must rise \
             from point to point (0.6 then 0.5)",
        ),
        case(
            edit(SCENARIO, "[0.6, 0.2], [1.0, 0.2]", "[0.6, 0.3], [1.0, 0.2]"),
            line_of(SCENARIO, "consequences = ["),
            "east",
            "alternative.consequences: the probabilities sum to 1.1 at t = 0.6, not 1",
        ),
        case(
            edit(SCENARIO, "utility = 0.1 }", "utility = 1.5 }"),
            line_of(SCENARIO, "\"sanctions tighten\""),
            "east",
            "alternative.consequences[1] (\"sanctions tighten\").utility: 1.5 is not in [0, 1]",
        ),
        case(
            edit(
                SCENARIO,
                "utility = 0.5 }",
                "utility = [[0.0, 0.5], [1.0, -0.2]] }",
            ),
            line_of(SCENARIO, "\"status quo holds\""),
            "east",
            "alternative.consequences[0] (\"status quo holds\").utility: the value -0.2 at \
             t = 1 is not in [0, 1]",
        ),
        // Red lines.
        case(
            edit(
                SCENARIO,
                "issue = \"years\"\nabove = 12",
                "issue = \"yeers\"\nabove = 12",
            ),
            line_of(SCENARIO, "issue = \"years\"\nabove = 12"),
            "east",
            "red_lines[1].issue: there is no issue \"yeers\" in `issues`",
        ),
        case(
            edit(SCENARIO, "  \"none\",\n]", "  \"nothing\",\n]"),
            line_of(SCENARIO, "  \"none\",\n]"),
            "east",
            "red_lines[0] (issue \"enrichment\").never: \"nothing\" is not a value of the issue",
        ),
        case(
            edit(SCENARIO, "never = [14, \"15\"]", "never = [14, \"16\"]"),
            line_of(SCENARIO, "never = [14, \"15\"]"),
            "west",
            "red_lines[1] (issue \"years\").never: \"16\" is not a value of the issue",
        ),
        case(
            edit(
                SCENARIO,
                "never = [\"20%\", \"60%\"]",
                "never = [\"20%\", \"60%\"]\nabove = 2",
            ),
            line_of(SCENARIO, "never = [\"20%\", \"60%\"]") + 1,
            "west",
            "red_lines[0] (issue \"enrichment\").above: only integer and real issues have \
             bounds",
        ),
        case(
            no_bound.clone(),
            east_red_lines(&no_bound, 1),
            "east",
            "red_lines[1] (issue \"years\"): a red line needs `never`, `below` or `above`",
        ),
        case(
            edit(SCENARIO, "below = 8", "below = 20"),
            west_years_table,
            "west",
            "red_lines[1] (issue \"years\"): the red lines refuse every value of the issue",
        ),
        case(
            edit(SCENARIO, "above = 12", "above = nan"),
            east_red_lines(SCENARIO, 1),
            "east",
            "red_lines[1] (issue \"years\"): above: NaN is not a number",
        ),
    ];
    for Case {
        text,
        line,
        party,
        field,
    } in cases
    {
        let error = native::parse_toml(&text, "talks.toml")
            .expect_err(field)
            .to_string();
        let prefix = format!("talks.toml: line {line}: party \"{party}\": ");
        assert!(error.starts_with(&prefix), "{error}\nlacks {prefix:?}");
        assert!(error.contains(field), "{error}\nlacks {field:?}");
    }
}

#[test]
fn an_unknown_key_in_a_red_line_is_refused_with_its_line() {
    let text = edit(SCENARIO, "above = 12", "abov = 12");
    let error = native::parse_toml(&text, "talks.toml")
        .expect_err("unknown key")
        .to_string();
    let line = line_of(&text, "abov = 12");
    assert!(
        error.contains("talks.toml")
            && error.contains(&format!("line {line}"))
            && error.contains("unknown field `abov`"),
        "{error}"
    );
    let json = native::to_json(&native::parse_toml(SCENARIO, "talks.toml").expect("loads"))
        .expect("writes")
        .replacen("\"below\"", "\"bellow\"", 1);
    let error = native::parse_json(&json, "talks.json")
        .expect_err("unknown key")
        .to_string();
    assert!(
        error.contains("talks.json")
            && error.contains(&format!("line {}", line_of(&json, "\"bellow\"")))
            && error.contains("unknown field `bellow`"),
        "{error}"
    );
}

/// JSON files get lines too: the serde model is located in the text when a check fails.
#[test]
fn json_errors_name_the_line_too() {
    let scenario = native::parse_toml(SCENARIO, "talks.toml").expect("loads");
    let json = native::to_json(&scenario).expect("writes");
    let cases = [
        (
            "\"reservation\": 0.2",
            "\"reservation\": 5.0",
            "west",
            "reservation: the reservation value 5",
        ),
        // East's `never` list, pretty-printed, holds "none" on a line of its own.
        (
            "\"none\"\n",
            "\"nothing\"\n",
            "east",
            "red_lines[0] (issue \"enrichment\").never",
        ),
        (
            "\"utility\": 0.1",
            "\"utility\": 1.5",
            "east",
            "consequences[1] (\"sanctions tighten\").utility",
        ),
    ];
    for (from, to, party, field) in cases {
        let text = edit(&json, from, to);
        let error = native::parse_json(&text, "talks.json")
            .expect_err(from)
            .to_string();
        let prefix = format!(
            "talks.json: line {}: party \"{party}\": ",
            line_of(&text, to)
        );
        assert!(error.starts_with(&prefix), "{error}\nlacks {prefix:?}");
        assert!(error.contains(field), "{error}\nlacks {field:?}");
    }
}

/// Genius has no red lines: a profile says they were left out, and reads back without.
#[test]
fn a_genius_export_leaves_red_lines_out_and_says_so() {
    let scenario = native::parse_toml(SCENARIO, "talks.toml").expect("loads");
    let dir = tempfile::tempdir().expect("tempdir");
    parley_formats::genius::write_folder(&scenario, dir.path()).expect("writes");
    for party in ["west", "east"] {
        let profile =
            std::fs::read_to_string(dir.path().join(format!("{party}.xml"))).expect("profile");
        assert!(
            profile.contains("<!-- parley: this party has red lines")
                && profile.contains("they are left out -->"),
            "{profile}"
        );
    }
    let back = parley_formats::genius::read_folder(dir.path()).expect("reads back");
    assert!(back
        .scenario
        .parties()
        .iter()
        .all(|p| p.red_lines.is_empty()));
    // A party without red lines gets no such comment.
    let plain = native::parse_toml(
        &edit(
            SCENARIO,
            "[[parties.red_lines]]\nissue = \"enrichment\"\nnever = [\"20%\", \"60%\"]\n\
             [[parties.red_lines]]\nissue = \"years\"\nbelow = 8\nnever = [14, \"15\"]\n",
            "",
        ),
        "plain.toml",
    )
    .expect("loads");
    let dir = tempfile::tempdir().expect("tempdir");
    parley_formats::genius::write_folder(&plain, dir.path()).expect("writes");
    let west = std::fs::read_to_string(dir.path().join("west.xml")).expect("profile");
    assert!(!west.contains("red lines"), "{west}");
}
