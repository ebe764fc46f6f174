//! Files with control or invisible characters in a label are refused with an error that
//! names the file, the place and the character; labels spelled in NFD find the NFC value.

use parley_formats::{genius, native};

/// A native JSON scenario with these issue name, value names and party name.
fn json(issue: &str, values: [&str; 2], party: &str, evaluated: [&str; 2]) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("a string");
    format!(
        r#"{{"name": "labels", "issues": [{{"name": {issue}, "values": [{v0}, {v1}]}}],
  "parties": [{{"name": {party}, "utility": {{"issues": [
    {{"issue": {issue}, "weight": 1, "values": {{{e0}: 1, {e1}: 0}}}}]}}}}]}}"#,
        issue = q(issue),
        v0 = q(values[0]),
        v1 = q(values[1]),
        party = q(party),
        e0 = q(evaluated[0]),
        e1 = q(evaluated[1]),
    )
}

fn json_error(text: &str) -> String {
    native::parse_json(text, "labels.json")
        .expect_err("must be refused")
        .to_string()
}

fn assert_mentions(message: &str, needles: &[&str]) {
    for needle in needles {
        assert!(
            message.contains(needle),
            "message {message:?} lacks {needle:?}"
        );
    }
}

#[test]
fn native_json_refuses_invisible_characters_and_says_where() {
    let message = json_error(&json(
        "colour",
        ["red", "bl\u{202e}ue"],
        "buyer",
        ["red", "blue"],
    ));
    assert_mentions(
        &message,
        &[
            "labels.json: line 1: issue 1 in the file: issue \"colour\": value 2 \"bl\\u{202e}ue\"",
            "the right-to-left override U+202E (a bidi control) at character 3",
        ],
    );
    assert!(!message.contains('\u{202e}'), "{message:?}");

    // JSON can spell a NUL as an escape.
    let message = json_error(&json(
        "col\u{0}our",
        ["red", "blue"],
        "buyer",
        ["red", "blue"],
    ));
    assert_mentions(
        &message,
        &[
            "labels.json: line 1: issue 1 in the file: issue name \"col\\0our\"",
            "the null character U+0000 (a control character) at character 4",
        ],
    );

    let message = json_error(&json(
        "colour",
        ["red", "blue"],
        "buy\u{200b}er",
        ["red", "blue"],
    ));
    assert_mentions(
        &message,
        &[
            "labels.json: name of party 1 \"buy\\u{200b}er\"",
            "the zero-width space U+200B (a zero-width character) at character 4",
        ],
    );
}

#[test]
fn native_twins_are_duplicates() {
    let message = json_error(&json(
        "drink",
        ["caf\u{e9}", "cafe\u{301}"],
        "buyer",
        ["caf\u{e9}", "cafe\u{301}"],
    ));
    assert_mentions(
        &message,
        &[
            "labels.json: issue \"drink\": value \"café\" is listed twice (values 1 and 2)",
            "\"café\" and \"cafe\\u{301}\" are the same label once normalised",
        ],
    );
    // Unique keys as written, one value once normalised.
    let message = json_error(&json(
        "drink",
        ["caf\u{e9}", "tea"],
        "buyer",
        ["caf\u{e9}", "cafe\u{301}"],
    ));
    assert_mentions(
        &message,
        &[
            "party \"buyer\": issue \"drink\"",
            "\"café\" and \"cafe\\u{301}\" are both the value \"café\"",
        ],
    );
}

#[test]
fn native_nfd_spellings_find_the_nfc_values() {
    // The issue and its values are written in NFC, the party's evaluations in NFD.
    let mut text = json(
        "caf\u{e9}",
        ["cr\u{e8}me", "lait"],
        "buyer",
        ["cre\u{300}me", "lait "],
    );
    text = text.replacen(
        "{\"issue\": \"caf\u{e9}\"",
        "{\"issue\": \"cafe\u{301}\"",
        1,
    );
    let scenario = native::parse_json(&text, "nfd.json").expect("loads");
    assert_eq!(scenario.space().issues()[0].name(), "caf\u{e9}");
    let u = scenario.evaluate(&[0]).expect("valid");
    assert!((u[0] - 1.0).abs() < 1e-12, "{u:?}");
    let outcome = scenario
        .space()
        .outcome_from_labels(&["lait"])
        .expect("a value");
    assert_eq!(scenario.evaluate(&outcome).expect("valid"), [0.0]);
}

fn write_folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    dir
}

fn domain(issue: &str, value: &str) -> String {
    format!(
        r#"<negotiation_template><utility_space><objective index="0" name="root">
<issue index="1" name="{issue}" type="discrete">
<item index="1" value="red"/>
<item index="2" value="{value}"/></issue>
</objective></utility_space></negotiation_template>"#
    )
}

fn profile(issue: &str, value: &str) -> String {
    format!(
        r#"<utility_space><objective index="0" name="root">
<issue index="1" name="{issue}" type="discrete"><item value="red" evaluation="2"/><item value="{value}" evaluation="1"/></issue>
<weight index="1" value="1"/>
</objective></utility_space>"#
    )
}

fn genius_error(files: &[(&str, &str)]) -> String {
    let dir = write_folder(files);
    genius::read_folder(dir.path())
        .expect_err("must be refused")
        .to_string()
}

#[test]
fn genius_refuses_invisible_characters_and_names_file_and_line() {
    // An override written as a character reference: the value on line 4.
    let message = genius_error(&[
        ("d.xml", &domain("colour", "bl&#x202E;ue")),
        ("p1.xml", &profile("colour", "blue")),
    ]);
    assert_mentions(
        &message,
        &[
            "d.xml: line 4: <item>: issue \"colour\": value \"bl\\u{202e}ue\"",
            "the right-to-left override U+202E (a bidi control) at character 3",
        ],
    );
    // A zero-width space in the issue name, written as the character itself.
    let message = genius_error(&[
        ("d.xml", &domain("col\u{200b}our", "blue")),
        ("p1.xml", &profile("colour", "blue")),
    ]);
    assert_mentions(
        &message,
        &[
            "d.xml: line 2: <issue>: issue name \"col\\u{200b}our\"",
            "the zero-width space U+200B",
        ],
    );
    // A tab as a character reference survives XML attribute normalisation: refused.
    let message = genius_error(&[
        ("d.xml", &domain("colour", "blue&#9;")),
        ("p1.xml", &profile("colour", "blue")),
    ]);
    assert_mentions(&message, &["d.xml: line 4", "the tab U+0009"]);
    // XML 1.0 cannot hold a NUL at all, not even as a reference: a syntax error.
    let message = genius_error(&[
        ("d.xml", &domain("colour", "bl&#0;ue")),
        ("p1.xml", &profile("colour", "blue")),
    ]);
    assert_mentions(&message, &["d.xml", "not well-formed XML"]);
    // A party is named by its profile's file name.
    let message = genius_error(&[
        ("d.xml", &domain("colour", "blue")),
        ("p\u{202e}1.xml", &profile("colour", "blue")),
    ]);
    assert_mentions(
        &message,
        &[
            "p\u{202e}1.xml: file name: party name (the profile's file name) \"p\\u{202e}1\"",
            "the right-to-left override U+202E",
        ],
    );
}

#[test]
fn genius_twins_are_duplicates_and_nfd_profiles_find_nfc_values() {
    let message = genius_error(&[
        ("d.xml", &domain("drink", "red ")),
        ("p1.xml", &profile("drink", "red")),
    ]);
    assert_mentions(
        &message,
        &[
            "d.xml: issue \"drink\": value \"red\" is listed twice (values 1 and 2)",
            "\"red\" and \"red \" are the same label once normalised",
        ],
    );

    // Domain in NFC, profile in NFD (issue name and value): matched, no notes about it.
    let dir = write_folder(&[
        ("d.xml", &domain("caf\u{e9}", "cr\u{e8}me")),
        ("p1.xml", &profile("cafe\u{301}", "cre\u{300}me")),
    ]);
    let loaded = genius::read_folder(dir.path()).expect("loads");
    assert!(loaded.notes.is_empty(), "{:?}", loaded.notes);
    let u = loaded.scenario.evaluate(&[1]).expect("valid");
    assert!((u[0] - 0.5).abs() < 1e-12, "{u:?}");
}
