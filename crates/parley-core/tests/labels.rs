//! Labels are stored NFC-normalised, refused when they hold control or invisible
//! characters, and found by any canonically equivalent spelling.

use parley_core::label::{self, CharClass, LabelProblem};
use parley_core::{
    Error, Issue, IssueKind, IssueTerm, LinearAdditive, OutcomeSpace, Party, Scenario,
    UtilityFunction, ValueFunction, MAX_LABEL_CHARS,
};
use proptest::prelude::*;

const CAFE_NFC: &str = "caf\u{e9}";
const CAFE_NFD: &str = "cafe\u{301}";

fn discrete(name: &str, values: &[&str]) -> Result<Issue, Error> {
    Issue::new(
        name,
        IssueKind::Discrete {
            values: values.iter().map(|v| v.to_string()).collect(),
        },
    )
}

fn party(name: &str) -> Party {
    Party {
        name: name.into(),
        utility: UtilityFunction::Linear(LinearAdditive {
            terms: vec![IssueTerm {
                issue: 0,
                weight: 1.0,
                value_function: ValueFunction::Table(vec![1.0, 0.0]),
            }],
        }),
        reservation: 0.0,
        discount: 1.0,
        alternative: None,
        red_lines: Vec::new(),
    }
}

fn scenario(name: &str, parties: &[&str]) -> Result<Scenario, Error> {
    let space = OutcomeSpace::new(vec![discrete("drink", &[CAFE_NFC, "tea"])?])?;
    Scenario::new(
        name,
        None,
        space,
        parties.iter().map(|p| party(p)).collect(),
    )
}

/// The problem `normalize` finds in `raw`.
fn problem(raw: &str) -> LabelProblem {
    label::normalize("label", raw)
        .expect_err("refused")
        .problem()
        .clone()
}

#[test]
fn nfd_input_is_stored_as_nfc() {
    assert_eq!(
        label::normalize("label", CAFE_NFD).expect("valid"),
        CAFE_NFC
    );
    let issue = discrete(&format!("{CAFE_NFD} size"), &[CAFE_NFD, "tea"]).expect("valid");
    assert_eq!(issue.name(), format!("{CAFE_NFC} size"));
    assert_eq!(issue.value_label(0), CAFE_NFC);
    // Hangul: conjoining jamo compose into the syllable.
    assert_eq!(
        label::normalize("label", "\u{1100}\u{1161}").expect("valid"),
        "\u{ac00}"
    );
}

#[test]
fn outer_whitespace_is_trimmed_and_inner_kept() {
    assert_eq!(
        label::normalize("label", "  5% + jobs ").expect("valid"),
        "5% + jobs"
    );
    // The no-break space is a space separator (Zs), not an invisible format character.
    assert_eq!(
        label::normalize("label", "10\u{a0}kg").expect("valid"),
        "10\u{a0}kg"
    );
}

#[test]
fn nfc_nfd_twins_are_duplicate_values() {
    let message = discrete("drink", &[CAFE_NFC, "tea", CAFE_NFD])
        .expect_err("twins")
        .to_string();
    assert_eq!(
        message,
        "issue \"drink\": value \"café\" is listed twice (values 1 and 3): \"café\" and \"cafe\\u{301}\" \
         are the same label once normalised (Unicode NFC, outer whitespace removed)"
    );
    let message = discrete("drink", &["tea", "tea "])
        .expect_err("twins")
        .to_string();
    assert!(message.contains("\"tea\" and \"tea \""), "{message}");
    let message = discrete("drink", &["tea", "tea"])
        .expect_err("duplicate")
        .to_string();
    assert_eq!(
        message,
        "issue \"drink\": value \"tea\" is listed twice (values 1 and 2)"
    );
}

#[test]
fn nfc_nfd_twins_are_duplicate_issues_and_parties() {
    let twins = OutcomeSpace::new(vec![
        discrete(CAFE_NFC, &["a"]).expect("valid"),
        discrete(CAFE_NFD, &["b"]).expect("valid"),
    ]);
    assert!(
        matches!(&twins, Err(Error::InvalidIssue { what, .. }) if what.contains("two issues")),
        "{twins:?}"
    );
    let message = scenario("s", &["Zo\u{eb}", "Zoe\u{308}"])
        .expect_err("twins")
        .to_string();
    assert!(
        message.contains("two parties have this name")
            && message.contains("\"Zoë\" and \"Zoe\\u{308}\" are the same label"),
        "{message}"
    );
}

#[test]
fn each_refused_class_is_named_with_its_position() {
    let cases: &[(&str, char, CharClass, usize, &str)] = &[
        (
            "a\0b",
            '\0',
            CharClass::Control,
            2,
            "the null character U+0000",
        ),
        (
            "ab\u{7}",
            '\u{7}',
            CharClass::Control,
            3,
            "U+0007 (a control character)",
        ),
        ("a\tb", '\t', CharClass::Control, 2, "the tab U+0009"),
        ("a\nb", '\n', CharClass::Control, 2, "the line feed U+000A"),
        ("\u{85}x", '\u{85}', CharClass::Control, 1, "U+0085"),
        (
            "pr\u{202e}ice",
            '\u{202e}',
            CharClass::Bidi,
            3,
            "the right-to-left override U+202E (a bidi control)",
        ),
        (
            "\u{2066}x\u{2069}",
            '\u{2066}',
            CharClass::Bidi,
            1,
            "the left-to-right isolate U+2066",
        ),
        (
            "x\u{2069}",
            '\u{2069}',
            CharClass::Bidi,
            2,
            "the pop directional isolate U+2069",
        ),
        (
            "x\u{200f}",
            '\u{200f}',
            CharClass::Bidi,
            2,
            "the right-to-left mark U+200F",
        ),
        (
            "red\u{200b}",
            '\u{200b}',
            CharClass::ZeroWidth,
            4,
            "the zero-width space U+200B (a zero-width character)",
        ),
        (
            "a\u{200d}b",
            '\u{200d}',
            CharClass::ZeroWidth,
            2,
            "the zero-width joiner U+200D",
        ),
        (
            "\u{feff}red",
            '\u{feff}',
            CharClass::ZeroWidth,
            1,
            "the byte order mark U+FEFF",
        ),
        (
            "ex\u{ad}ample",
            '\u{ad}',
            CharClass::Format,
            3,
            "the soft hyphen U+00AD (an invisible format character)",
        ),
        (
            "a\u{2062}b",
            '\u{2062}',
            CharClass::Format,
            2,
            "the invisible times U+2062",
        ),
        (
            "a\u{e0041}",
            '\u{e0041}',
            CharClass::Format,
            2,
            "the tag character U+E0041",
        ),
        (
            "a\u{2028}b",
            '\u{2028}',
            CharClass::LineBreak,
            2,
            "the line separator U+2028",
        ),
        (
            "\u{3164}",
            '\u{3164}',
            CharClass::Filler,
            1,
            "the Hangul filler U+3164",
        ),
        (
            "a\u{fdd0}",
            '\u{fdd0}',
            CharClass::Noncharacter,
            2,
            "U+FDD0 (a noncharacter)",
        ),
    ];
    for &(raw, character, class, position, named) in cases {
        assert_eq!(
            problem(raw),
            LabelProblem::Refused {
                character,
                class,
                position
            },
            "{raw:?}"
        );
        let message = label::normalize("issue name", raw)
            .expect_err("refused")
            .to_string();
        assert!(
            message.starts_with("issue name \"")
                && message.contains(named)
                && message.contains(&format!("at character {position};")),
            "{message}"
        );
        // The label is quoted with the invisible character escaped, never raw.
        assert!(!message.contains(character), "{message:?}");
    }
}

#[test]
fn positions_count_characters_of_the_label_as_given() {
    // "é" as two characters (NFD) counts two; "日本" are one character each.
    assert_eq!(
        problem("cafe\u{301}\u{200b}"),
        LabelProblem::Refused {
            character: '\u{200b}',
            class: CharClass::ZeroWidth,
            position: 6
        }
    );
    assert_eq!(
        problem("日本\u{202e}"),
        LabelProblem::Refused {
            character: '\u{202e}',
            class: CharClass::Bidi,
            position: 3
        }
    );
}

#[test]
fn empty_blank_and_long_labels_are_refused() {
    assert_eq!(problem(""), LabelProblem::Empty);
    assert_eq!(problem(" \u{a0}\u{3000} "), LabelProblem::Empty);
    let max = "é".repeat(MAX_LABEL_CHARS);
    assert_eq!(label::normalize("label", &max).expect("at the limit"), max);
    // NFD spelling of the same: twice the characters as given, the limit after NFC.
    let max_nfd = "e\u{301}".repeat(MAX_LABEL_CHARS);
    assert_eq!(
        label::normalize("label", &max_nfd).expect("at the limit"),
        max
    );
    let message = label::normalize("party name", &"x".repeat(MAX_LABEL_CHARS + 1))
        .expect_err("too long")
        .to_string();
    assert!(
        message.starts_with("party name \"xxxx")
            && message.contains("more characters)")
            && message.ends_with("has 257 characters, more than 256"),
        "{message}"
    );
    let huge = "y".repeat(1_000_000);
    let error = label::normalize("label", &huge).expect_err("too long");
    assert_eq!(error.problem(), &LabelProblem::TooLong { chars: 1_000_000 });
    assert!(error.label().len() <= 4 * MAX_LABEL_CHARS);
}

#[test]
fn constructors_refuse_bad_labels_and_say_which() {
    let message = discrete("pr\u{202e}ice", &["a"])
        .expect_err("override")
        .to_string();
    assert!(
        message.starts_with("issue name \"pr\\u{202e}ice\" contains the right-to-left override"),
        "{message}"
    );
    let message = discrete("colour", &["red", "bl\0ue"])
        .expect_err("NUL")
        .to_string();
    assert!(
        message.starts_with(
            "issue \"colour\": value 2 \"bl\\0ue\" contains the null character U+0000"
        ) && message.contains("at character 3"),
        "{message}"
    );
    let message = discrete(" ", &["a"]).expect_err("blank").to_string();
    assert_eq!(message, "issue name \" \" is empty or only whitespace");
    let message = scenario("s", &["buyer", "sel\u{200b}ler"])
        .expect_err("zero width")
        .to_string();
    assert!(
        message.starts_with("name of party 2 \"sel\\u{200b}ler\" contains the zero-width space"),
        "{message}"
    );
    let message = scenario("deal\u{2067}", &["buyer"])
        .expect_err("isolate")
        .to_string();
    assert!(
        message.starts_with("scenario name \"deal\\u{2067}\" contains the right-to-left isolate"),
        "{message}"
    );
    assert!(matches!(
        scenario("\t", &["buyer"]),
        Err(Error::InvalidLabel(_))
    ));
}

#[test]
fn scenario_and_party_names_are_stored_normalised() {
    let s = scenario(&format!(" {CAFE_NFD} deal "), &[CAFE_NFD, "tea drinker"]).expect("valid");
    assert_eq!(s.name(), format!("{CAFE_NFC} deal"));
    assert_eq!(s.parties()[0].name, CAFE_NFC);
}

#[test]
fn lookups_with_the_nfd_spelling_find_the_nfc_value() {
    let space = OutcomeSpace::new(vec![
        discrete(CAFE_NFC, &["cr\u{e8}me", "lait"]).expect("valid"),
        Issue::new("price", IssueKind::Integer { min: 0, max: 9 }).expect("valid"),
    ])
    .expect("valid");
    let issue = &space.issues()[0];
    assert_eq!(issue.value_index("cre\u{300}me"), Some(0));
    assert_eq!(issue.value_index(" lait "), Some(1));
    assert_eq!(issue.value_index("lait\u{200b}"), None);
    assert_eq!(space.issue_index(CAFE_NFD), Some(0));
    assert_eq!(
        space
            .outcome_from_labels(&["cre\u{300}me", " 7 "])
            .expect("labels are values"),
        [0, 7]
    );
    let pairs = [("price", "3"), (CAFE_NFD, "cre\u{300}me")];
    assert_eq!(
        space
            .outcome_from_issue_labels(pairs)
            .expect("a full outcome"),
        [0, 3]
    );
    let map: std::collections::BTreeMap<String, String> =
        [(CAFE_NFC.to_string(), "lait".to_string())].into();
    let missing = space.outcome_from_issue_labels(&map).expect_err("no price");
    assert!(missing.to_string().contains("issue \"price\" has no value"));
    let twice = space
        .outcome_from_issue_labels([(CAFE_NFC, "lait"), (CAFE_NFD, "lait"), ("price", "1")])
        .expect_err("twice");
    assert!(twice.to_string().contains("given twice"), "{twice}");
    let unknown = space
        .outcome_from_issue_labels([("pr\u{202e}ice", "1")])
        .expect_err("no such issue");
    assert!(
        unknown.to_string().contains("no issue \"pr\\u{202e}ice\""),
        "{unknown}"
    );

    let s = scenario("s", &[CAFE_NFC, "tea drinker"]).expect("valid");
    assert_eq!(s.party_index(CAFE_NFD), Some(0));
    assert_eq!(s.party_index("tea drinker "), Some(1));
    assert_eq!(s.party_index("nobody"), None);
    assert_eq!(label::position(["x", CAFE_NFC], CAFE_NFD), Some(1));
    assert!(label::same_label(CAFE_NFC, CAFE_NFD));
}

/// Characters that exercise the rules: ASCII, spaces, combining marks that compose or
/// reorder, Hangul jamo, and refused characters, plus any character at all.
fn label_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('a', 'e'),
        2 => Just(' '),
        1 => Just('\u{a0}'),
        1 => Just('\u{2000}'),
        3 => proptest::char::range('\u{300}', '\u{36f}'),
        1 => prop::sample::select(vec!['\u{1100}', '\u{1161}', '\u{11a8}', '\u{ac00}', '\u{344}', '\u{f900}']),
        1 => prop::sample::select(vec!['\0', '\t', '\u{7f}', '\u{ad}', '\u{200b}', '\u{200d}', '\u{202e}', '\u{2066}', '\u{feff}', '\u{e0041}', '\u{3164}']),
        2 => any::<char>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn normalize_is_idempotent_and_its_output_is_clean(
        raw in proptest::collection::vec(label_char(), 0..24).prop_map(|cs| cs.into_iter().collect::<String>())
    ) {
        match label::normalize("label", &raw) {
            Ok(label) => {
                prop_assert_eq!(label::normalize("label", &label), Ok(label.clone()));
                prop_assert!(label::canonical(&label) == label.as_str());
                prop_assert!(label::canonical(&raw) == label.as_str(), "lookups find it");
                prop_assert!(label.chars().all(|c| label::char_class(c).is_none()), "{:?}", label);
                prop_assert!(!label.trim().is_empty() && label.trim() == label);
                prop_assert!(label.chars().count() <= MAX_LABEL_CHARS);
            }
            Err(error) => match error.problem() {
                LabelProblem::Refused { character, class, position } => {
                    // The first refused character of the label as given.
                    let first = raw.chars().position(|c| label::char_class(c).is_some());
                    prop_assert_eq!(first, Some(position - 1));
                    prop_assert_eq!(raw.chars().nth(position - 1), Some(*character));
                    prop_assert_eq!(label::char_class(*character), Some(*class));
                }
                LabelProblem::Empty => prop_assert!(label::canonical(&raw).is_empty()),
                LabelProblem::StackedMarks { position } => {
                    // Counted on the normalised label: the mark over the limit ends a
                    // run of MAX_STACKED_MARKS + 1 marks.
                    let normalized: Vec<char> = label::canonical(&raw).chars().collect();
                    let run = &normalized[position - 1 - label::MAX_STACKED_MARKS..*position];
                    prop_assert!(run.iter().all(|c| is_mark(*c)), "{:?}", run);
                }
                other => prop_assert!(false, "unexpected {:?}", other),
            },
        }
    }
}

fn is_mark(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    matches!(
        c.general_category(),
        GeneralCategory::NonspacingMark
            | GeneralCategory::SpacingMark
            | GeneralCategory::EnclosingMark
    )
}

#[test]
fn invisible_characters_beyond_the_format_ones_are_refused() {
    for (raw, c) in [
        ("a\u{34f}b", '\u{34f}'),
        ("a\u{fe00}", '\u{fe00}'),
        ("\u{2800}", '\u{2800}'),
        ("x\u{180b}", '\u{180b}'),
        ("x\u{e0100}", '\u{e0100}'),
    ] {
        let error = label::normalize("value", raw).expect_err(raw);
        assert!(
            matches!(error.problem(), LabelProblem::Refused { character, class: CharClass::Invisible, .. } if *character == c),
            "{raw:?}: {error}"
        );
    }
    // The emoji presentation selector stays (a heart drawn as an emoji).
    assert_eq!(
        label::normalize("value", "\u{2764}\u{fe0f}").expect("emoji"),
        "\u{2764}\u{fe0f}"
    );
}

#[test]
fn stacked_combining_marks_are_refused() {
    assert!(label::normalize("value", "a\u{301}\u{302}\u{303}\u{304}").is_ok());
    let error = label::normalize("value", "za\u{301}\u{302}\u{303}\u{304}\u{305}\u{306}l")
        .expect_err("zalgo");
    assert_eq!(error.problem(), &LabelProblem::StackedMarks { position: 7 });
    assert!(
        error.to_string().contains("more than 4 combining marks"),
        "{error}"
    );
    // Vietnamese: a letter with two marks composes to one character.
    assert_eq!(
        label::normalize("value", "Vie\u{323}\u{302}t").expect("valid"),
        "Vi\u{1ec7}t"
    );
}

#[test]
fn lookalike_keys() {
    let key = label::lookalike_key;
    assert_eq!(key("Paypal"), key("paypal"));
    assert_eq!(key("p\u{430}ypal"), key("paypal"), "Cyrillic a");
    assert_eq!(key("\u{ff30}aypal"), key("paypal"), "full-width P");
    assert_eq!(key("high  price"), key("high price"));
    assert_eq!(key("rn"), key("m"));
    assert_eq!(key("\u{2764}\u{fe0f}"), key("\u{2764}"));
    assert_ne!(key("low"), key("high"));
    assert_ne!(key("10"), key("100"));
}

#[test]
fn lookalike_values_issues_and_parties_are_refused() {
    use parley_core::{Issue, IssueKind, OutcomeSpace};
    let discrete = |values: &[&str]| IssueKind::Discrete {
        values: values.iter().map(|v| v.to_string()).collect(),
    };
    let error = Issue::new("salary", discrete(&["low", "Low"])).expect_err("case twins");
    assert!(
        error
            .to_string()
            .contains(r#"values 1 and 2: "low" and "Low" look alike"#),
        "{error}"
    );
    let error =
        Issue::new("salary", discrete(&["paypal", "p\u{430}ypal"])).expect_err("Cyrillic a");
    assert!(error.to_string().contains("look alike"), "{error}");
    assert!(Issue::new("salary", discrete(&["low", "medium", "high"])).is_ok());
    let issues = vec![
        Issue::new("Salary", discrete(&["a", "b"])).expect("valid"),
        Issue::new("salary", discrete(&["a", "b"])).expect("valid"),
    ];
    let error = OutcomeSpace::new(issues).expect_err("issue twins");
    assert!(
        error
            .to_string()
            .contains(r#"issues 1 and 2: "Salary" and "salary" look alike"#),
        "{error}"
    );
}

#[test]
fn descriptions_keep_lines_and_refuse_hidden_text() {
    assert_eq!(
        label::normalize_text("description", " line one\r\n\tline two \n").expect("valid"),
        "line one\n\tline two"
    );
    let error = label::normalize_text("description", "pay \u{202e}001$").expect_err("override");
    assert!(
        error.to_string().contains("right-to-left override"),
        "{error}"
    );
    let long = "x".repeat(label::MAX_TEXT_CHARS + 1);
    let error = label::normalize_text("description", &long).expect_err("long");
    assert!(error.to_string().contains("more than 65536"), "{error}");
}
