//! Native files round-trip; Genius folders survive conversion with identical analyses.

use std::path::Path;

use parley_core::analysis::{analyze, AnalysisConfig};
use parley_core::Scenario;
use parley_formats::report::AnalysisReport;
use parley_formats::{genius, native};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(name)
}

fn report(scenario: &Scenario) -> String {
    let analysis = analyze(scenario, &AnalysisConfig::default()).expect("analysis");
    let mut report = AnalysisReport::new(scenario, &analysis);
    report.name = String::new();
    report.to_json()
}

#[test]
fn tricky_fixture_means_what_the_format_says() {
    let scenario = parley_formats::load(&fixture("tricky.toml"))
        .expect("loads")
        .scenario;
    assert_eq!(scenario.space().outcome_count().as_u64(), Some(3 * 6 * 6));
    let outcome = scenario
        .space()
        .outcome_from_labels(&["red", "-2", "0.5"])
        .expect("labels are values");
    let u = scenario.evaluate(&outcome).expect("valid");
    // alice: weights 2,1,1 normalised to 1/2,1/4,1/4; red = 3/3; price e = 1.0; share e = clamp(2·0.5) = 1.
    assert!((u[0] - 1.0).abs() < 1e-12, "{u:?}");
    // bob: colour table max 0 → the issue counts 0; price −2 → e = 0.
    assert!(u[1].abs() < 1e-12, "{u:?}");
    // carol: red is outside the first rectangle; share 0.5 is outside [0.1, 0.3] → +4/10.
    assert!((u[2] - 0.4).abs() < 1e-12, "{u:?}");
    let outcome = scenario
        .space()
        .outcome_from_labels(&["blue", "3", "0.2"])
        .expect("values");
    let u = scenario.evaluate(&outcome).expect("valid");
    // bob: weights 0.5 + 0.5; colour counts 0, price 3 → e = clamp(0.25·5) = 1 → 0.5.
    assert!(
        (u[1] - 0.5).abs() < 1e-12 && (u[2] - 0.6).abs() < 1e-12,
        "{u:?}"
    );
}

#[test]
fn toml_and_json_round_trip() {
    let original = parley_formats::load(&fixture("tricky.toml"))
        .expect("loads")
        .scenario;
    let toml = native::to_toml(&original).expect("writes");
    let from_toml = native::parse_toml(&toml, "<toml>").expect("reads back");
    assert_eq!(native::to_model(&from_toml), native::to_model(&original));
    let json = native::to_json(&original).expect("writes");
    let from_json = native::parse_json(&json, "<json>").expect("reads back");
    assert_eq!(native::to_model(&from_json), native::to_model(&original));
    assert_eq!(report(&from_json), report(&original));
}

#[test]
fn bundled_scenarios_load_and_round_trip() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("scenarios/ exists") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let scenario = parley_formats::load(&path)
                .expect("bundled scenario loads")
                .scenario;
            let json = native::to_json(&scenario).expect("writes");
            let back = native::parse_json(&json, "<json>").expect("reads");
            assert_eq!(report(&back), report(&scenario), "{}", path.display());
            // Everything the file says survives, briefings included.
            assert_eq!(native::to_model(&back), native::to_model(&scenario));
            for p in 0..scenario.n_parties() {
                assert_eq!(back.briefing(p), scenario.briefing(p));
            }
            count += 1;
        }
    }
    assert!(
        count >= 3,
        "expected the flagship and the everyday scenarios"
    );
    let flagship = parley_formats::load(&dir.join("oman-talks.toml"))
        .expect("loads")
        .scenario;
    assert!(flagship
        .briefing(1)
        .is_some_and(|b| b.starts_with("You lead the Iranian delegation")));
}

#[test]
fn genius_round_trip_of_the_fixture() {
    let original = parley_formats::load(&fixture("tricky.toml"))
        .expect("loads")
        .scenario;
    // Genius rectangles bound integer issues only: keep the linear parties.
    let linear: Vec<_> = original.parties()[..2].to_vec();
    let scenario = Scenario::new("tricky", None, original.space().clone(), linear).expect("valid");
    let dir = tempfile::tempdir().expect("temp dir");
    genius::write_folder(&scenario, dir.path()).expect("writes");
    let back = genius::read_folder(dir.path())
        .expect("reads back")
        .scenario;
    // Real issues come back on Genius' default grid, so compare the integer/discrete part.
    assert_eq!(back.parties().len(), 2);
    assert_eq!(back.parties()[0].name, "alice");
    let outcome = back
        .space()
        .outcome_from_labels(&["red", "-2", "0.5"])
        .expect("values");
    let u = back.evaluate(&outcome).expect("valid");
    assert!((u[0] - 1.0).abs() < 1e-12 && u[1].abs() < 1e-12, "{u:?}");
}

#[test]
#[ignore = "needs the ANAC corpus ($PARLEY_SCENARIOS, default ../shared/scenarios): scripts/fetch-corpus, see docs/corpus.md"]
fn corpus_scenarios_survive_native_and_genius_conversion() {
    let corpus = crate::corpus::corpus();
    let mut checked = 0;
    for rel in crate::corpus::reference_files(&corpus) {
        let folder = corpus.join("genius").join(&rel);
        let scenario = genius::read_folder(&folder).expect("loads").scenario;
        let count = scenario
            .space()
            .outcome_count()
            .as_u64()
            .unwrap_or(u64::MAX);
        if count > 400_000
            || scenario.n_parties() > 12
            || !scenario.parties().iter().all(|p| p.utility.is_additive())
        {
            continue;
        }
        let expected = report(&scenario);
        let toml = native::to_toml(&scenario).expect("writes toml");
        let from_toml = native::parse_toml(&toml, &rel).expect("reads toml");
        assert_eq!(
            report(&from_toml),
            expected,
            "{rel}: TOML round trip changed the analysis"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        genius::write_folder(&scenario, dir.path()).expect("writes genius");
        let from_genius = genius::read_folder(dir.path())
            .expect("reads genius")
            .scenario;
        let same_order = from_genius
            .parties()
            .iter()
            .map(|p| &p.name)
            .eq(scenario.parties().iter().map(|p| &p.name));
        if same_order {
            assert_eq!(
                report(&from_genius),
                expected,
                "{rel}: Genius round trip changed the analysis"
            );
        }
        checked += 1;
    }
    assert!(checked >= 90, "only {checked} scenarios checked");
}
