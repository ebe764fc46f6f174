//! Bad files get clear errors that say where and what; no input panics.

use std::path::Path;

use parley_formats::{genius, native};
use proptest::prelude::*;

fn toml_error(text: &str) -> String {
    native::parse_toml(text, "bad.toml")
        .expect_err("must be rejected")
        .to_string()
}

const GOOD: &str = r#"
name = "t"
[[issues]]
name = "colour"
values = ["red", "blue"]
[[issues]]
name = "n"
type = "integer"
min = 0
max = 3
[[parties]]
name = "a"
reservation = 0.2
[parties.utility]
[[parties.utility.issues]]
issue = "colour"
weight = 1
values = { red = 1, blue = 0 }
"#;

#[test]
fn good_fixture_loads() {
    native::parse_toml(GOOD, "good.toml").expect("the base of the bad cases is good");
}

#[test]
fn errors_name_the_file_the_place_and_what_was_expected() {
    let cases: &[(&str, &[&str])] = &[
        (
            &GOOD.replace("blue = 0", "green = 0"),
            &["bad.toml", "party \"a\"", "\"green\" is not a value"],
        ),
        (
            &GOOD.replace(", blue = 0", ""),
            &["party \"a\"", "missing \"blue\""],
        ),
        (
            &GOOD.replace("issue = \"colour\"", "issue = \"color\""),
            &["issue \"color\"", "no such issue"],
        ),
        (
            &GOOD.replace("reservation = 0.2", "reservaton = 0.2"),
            &["bad.toml", "line", "unknown field `reservaton`"],
        ),
        (
            &GOOD.replace("max = 3", "max = 3.5"),
            &["issue \"n\"", "whole number"],
        ),
        (
            &GOOD.replace("max = 3", "max = -1"),
            &["issue \"n\"", "greater than max"],
        ),
        (
            &GOOD.replace("weight = 1", "weight = -1"),
            &["party \"a\"", "weight -1"],
        ),
        (
            &GOOD.replace(
                "values = { red = 1, blue = 0 }",
                "linear = { slope = 1, offset = 0 }",
            ),
            &["discrete", "linear"],
        ),
        (
            &GOOD.replace("[[parties]]", "[[parties]"),
            &["bad.toml", "line"],
        ),
        (
            &GOOD.replace(
                "values = [\"red\", \"blue\"]",
                "values = [\"red\", \"red\"]",
            ),
            &["listed twice"],
        ),
        (
            &format!("{GOOD}\n[[parties]]\nname = \"a\"\n[parties.utility]\n"),
            &["two parties have this name"],
        ),
        (
            &GOOD.replace("reservation = 0.2", "discount = 0"),
            &["discount factor 0"],
        ),
        (
            &GOOD.replace("reservation = 0.2", "reservation = 5.0"),
            &["the reservation value 5 must be in [0, 1]"],
        ),
        (
            &GOOD.replace("reservation = 0.2", "reservation = -3.0"),
            &["the reservation value -3 must be in [0, 1]"],
        ),
    ];
    for (text, needles) in cases {
        let message = toml_error(text);
        for needle in *needles {
            assert!(
                message.contains(needle),
                "message {message:?} lacks {needle:?}"
            );
        }
    }
}

#[test]
fn json_errors_say_line_and_column() {
    let message = native::parse_json("{\"name\": \"x\", \"issues\": [}", "bad.json")
        .expect_err("broken JSON")
        .to_string();
    assert!(
        message.contains("bad.json") && message.contains("line 1"),
        "{message}"
    );
}

fn write_folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    dir
}

const DOMAIN: &str = r#"<negotiation_template><utility_space><objective index="0" name="root">
<issue index="1" name="colour" type="discrete"><item index="1" value="red"/><item index="2" value="blue"/></issue>
<issue index="3" name="n" type="integer" lowerbound="0" upperbound="4"/>
</objective></utility_space></negotiation_template>"#;

const PROFILE: &str = r#"<utility_space><objective index="0" name="root">
<issue index="1" name="colour" type="discrete"><item value="red" evaluation="2"/><item value="blue" evaluation="1"/></issue>
<issue index="3" name="n" type="integer"><evaluator ftype="linear" slope="0.25" offset="0"/></issue>
<weight index="1" value="0.5"/><weight index="3" value="0.5"/>
</objective><reservation value="0.3"/></utility_space>"#;

#[test]
fn genius_quirks_load_with_notes() {
    // Issues numbered 1 and 3, a stray log file and a non-XML pareto file.
    let dir = write_folder(&[
        ("d.xml", DOMAIN),
        ("p1.xml", PROFILE),
        ("log.xml", "<Tournament/>"),
        ("pareto.xml", "\n0.5, 0.5\n"),
    ]);
    let loaded = genius::read_folder(dir.path()).expect("loads");
    assert_eq!(loaded.scenario.n_parties(), 1);
    assert!(
        loaded.notes.iter().any(|n| n.contains("log.xml")),
        "{:?}",
        loaded.notes
    );
    assert!(
        loaded.notes.iter().any(|n| n.contains("pareto.xml")),
        "{:?}",
        loaded.notes
    );
    let u = loaded.scenario.evaluate(&[0, 4]).expect("valid");
    assert!((u[0] - 1.0).abs() < 1e-12);
}

#[test]
fn genius_errors_name_file_and_line() {
    let broken = PROFILE.replace("slope=\"0.25\"", "slope=\"steep\"");
    let dir = write_folder(&[("d.xml", DOMAIN), ("p1.xml", &broken)]);
    let message = genius::read_folder(dir.path())
        .expect_err("bad slope")
        .to_string();
    assert!(
        message.contains("p1.xml") && message.contains("line 3") && message.contains("\"steep\""),
        "{message}"
    );

    let unclosed = PROFILE.replace("</objective>", "");
    let dir = write_folder(&[("d.xml", DOMAIN), ("p1.xml", &unclosed)]);
    let message = genius::read_folder(dir.path())
        .expect_err("not XML")
        .to_string();
    assert!(
        message.contains("p1.xml") && message.contains("not well-formed XML"),
        "{message}"
    );

    let dir = write_folder(&[("p1.xml", PROFILE)]);
    let message = genius::read_folder(dir.path())
        .expect_err("no domain")
        .to_string();
    assert!(message.contains("no Genius domain file"), "{message}");

    let message = parley_formats::load(Path::new("/no/such/scenario.toml"))
        .expect_err("missing")
        .to_string();
    assert!(message.contains("/no/such/scenario.toml"), "{message}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn native_parsers_never_panic(text in ".{0,400}") {
        let _ = native::parse_toml(&text, "fuzz.toml");
        let _ = native::parse_json(&text, "fuzz.json");
    }

    #[test]
    fn mutated_native_files_never_panic(pos in 0usize..2000, cut in 0usize..40, insert in "[-0-9a-z\\[\\]{}=\",. \n]{0,12}") {
        let pos = pos.min(GOOD.len());
        let end = (pos + cut).min(GOOD.len());
        if GOOD.is_char_boundary(pos) && GOOD.is_char_boundary(end) {
            let text = format!("{}{}{}", &GOOD[..pos], insert, &GOOD[end..]);
            let _ = native::parse_toml(&text, "fuzz.toml");
        }
    }

    #[test]
    fn mutated_genius_files_never_panic(which in 0usize..2, pos in 0usize..800, cut in 0usize..30, insert in "[-0-9a-z<>/=\" .]{0,12}") {
        let base = if which == 0 { DOMAIN } else { PROFILE };
        let pos = pos.min(base.len());
        let end = (pos + cut).min(base.len());
        let mutated = format!("{}{}{}", &base[..pos], insert, &base[end..]);
        let (domain, profile) = if which == 0 { (mutated.as_str(), PROFILE) } else { (DOMAIN, mutated.as_str()) };
        let dir = write_folder(&[("d.xml", domain), ("p1.xml", profile)]);
        let _ = genius::read_folder(dir.path());
    }
}
