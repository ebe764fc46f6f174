//! Runs the real binary on bundled scenarios and fixtures.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn parley(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the binary runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The report without its timing, which changes from run to run.
pub fn redact_timing(text: &str) -> String {
    text.lines()
        .map(|line| match line.find(" ms)") {
            Some(end) => {
                let start = line[..end].rfind("; ").map_or(0, |s| s + 2);
                format!("{}<time>{}", &line[..start], &line[end + 3..])
            }
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn analyze_report_of_the_job_offer() {
    let out = parley(&["analyze", "scenarios/job-offer.toml", "--show", "6"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(redact_timing(&out.stdout));
}

#[test]
fn analyze_json_of_the_flagship() {
    let out = parley(&["analyze", "scenarios/oman-talks.toml", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("valid JSON");
    let expected = [
        "name",
        "parties",
        "issues",
        "outcome_count",
        "reserved",
        "pareto",
        "pareto_exact",
        "nash",
        "kalai_smorodinsky",
        "max_welfare",
        "opposition",
        "zopa",
        "zopa_closes_at",
    ];
    let mut keys: Vec<&str> = json
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut sorted = expected.to_vec();
    sorted.sort_unstable();
    assert_eq!(keys, sorted);
    // The keys are printed in the documented order.
    let positions: Vec<usize> = expected
        .iter()
        .map(|k| {
            out.stdout
                .find(&format!("\n  \"{k}\":"))
                .expect("top-level key")
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert_eq!(
        json["parties"],
        serde_json::json!(["united-states", "iran"])
    );
    assert_eq!(json["pareto_exact"], true);
    // The flagship's zone of agreement closes before the ultimatum (t = 0.6) and
    // opens again after it (see the scenario's header).
    let closes = json["zopa_closes_at"].as_f64().expect("the zone closes");
    assert!((0.5..0.6).contains(&closes), "{closes}");
    let zopa = json["zopa"].as_array().expect("zopa");
    let at = |t: f64| zopa.iter().find(|m| m["t"] == t).expect("moment");
    assert_eq!(at(0.6)["rational_count"], 0);
    assert!(at(0.6)["nash"].is_null());
    assert!(at(0.7)["rational_count"].as_u64().expect("count") > 0);
    insta::assert_json_snapshot!(json);
}

#[test]
fn methods_agree_on_the_supplier_contract() {
    let run = |method: &str| {
        let out = parley(&[
            "analyze",
            "scenarios/supplier-contract.toml",
            "--json",
            "--method",
            method,
        ]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        serde_json::from_str::<serde_json::Value>(&out.stdout).expect("JSON")
    };
    let additive = run("additive");
    let enumerate = run("enumerate");
    assert_eq!(
        additive["pareto"].as_array().map(Vec::len),
        enumerate["pareto"].as_array().map(Vec::len)
    );
    for key in ["nash", "kalai_smorodinsky", "max_welfare"] {
        let (a, b) = (
            additive[key]["value"].as_f64(),
            enumerate[key]["value"].as_f64(),
        );
        assert!(
            matches!((a, b), (Some(a), Some(b)) if (a - b).abs() < 1e-12),
            "{key}: {a:?} vs {b:?}"
        );
    }
}

#[test]
fn plot_writes_an_svg() {
    let dir = tempfile::tempdir().expect("temp dir");
    let svg = dir.path().join("plot.svg");
    let out = parley(&[
        "analyze",
        "scenarios/oman-talks.toml",
        "--plot",
        svg.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(&svg).expect("svg written");
    assert!(text.starts_with("<svg") && text.contains("Nash") && text.contains("utility of iran"));
}

#[test]
fn convert_round_trips_through_json_and_genius() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("job.json");
    let genius = dir.path().join("job-genius");
    let back = dir.path().join("back.toml");
    let p = |p: &Path| p.to_str().expect("utf-8 path").to_string();
    assert_eq!(
        parley(&["convert", "scenarios/job-offer.toml", &p(&json)]).code,
        0
    );
    assert_eq!(
        parley(&["convert", &p(&json), &p(&genius), "--to", "genius"]).code,
        0
    );
    assert_eq!(parley(&["convert", &p(&genius), &p(&back)]).code, 0);
    let report = |path: &str| parley(&["analyze", path, "--json"]).stdout;
    let original: serde_json::Value =
        serde_json::from_str(&report("scenarios/job-offer.toml")).expect("JSON");
    let converted: serde_json::Value = serde_json::from_str(&report(&p(&back))).expect("JSON");
    assert_eq!(original["pareto"], converted["pareto"]);
    assert_eq!(original["nash"], converted["nash"]);
}

#[test]
fn bad_input_exits_non_zero_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"x\"\n[[issues]]\nname = \"a\"\nvalues = [\"1\"]\n[[parties]]\nname = \"p\"\nreservaton = 1\n[parties.utility]\n").expect("write");
    let out = parley(&["analyze", bad.to_str().expect("utf-8")]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with("error: loading scenario"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("line 7") && out.stderr.contains("reservaton"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"));

    let out = parley(&["analyze", "no/such/file.toml"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("no/such/file.toml") && out.stderr.contains("No such file"),
        "{}",
        out.stderr
    );

    let out = parley(&["analyze", "scenarios/job-offer.toml", "--budget", "0"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("--budget"), "{}", out.stderr);

    let out = parley(&["convert", "scenarios/job-offer.toml", "out.xyz"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("cannot tell the output format"),
        "{}",
        out.stderr
    );
}

#[test]
#[ignore = "needs the ANAC corpus ($PARLEY_SCENARIOS, default ../shared/scenarios): scripts/fetch-corpus, see docs/corpus.md"]
fn genius_folder_from_the_corpus_prints_its_notes() {
    let corpus = crate::corpus::corpus();
    let folder = corpus.join("genius/y2012/FitnessA");
    let out = parley(&["analyze", folder.to_str().expect("utf-8"), "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("note: Fitness-A-prof1: weights of non-issue objectives [1] ignored"),
        "{}",
        out.stderr
    );
    let quiet = parley(&["analyze", folder.to_str().expect("utf-8"), "--json", "-q"]);
    assert!(quiet.stderr.is_empty());
}

#[test]
fn run_transcript_of_the_flagship_is_deterministic() {
    let args = [
        "run",
        "scenarios/oman-talks.toml",
        "--confide",
        "all",
        "--seed",
        "3",
    ];
    let first = parley(&args);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.stdout, parley(&args).stdout);
    insta::assert_snapshot!(first.stdout);
}

#[test]
fn run_json_has_the_documented_shape() {
    for protocol in ["saop", "single-text", "shuttle", "staged"] {
        let out = parley(&[
            "run",
            "scenarios/job-offer.toml",
            "--protocol",
            protocol,
            "--negotiators",
            "conceder,linear",
            "--json",
        ]);
        assert_eq!(out.code, 0, "{protocol}: {}", out.stderr);
        let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
        let mut keys: Vec<&str> = json
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "agreement",
                "ended_by",
                "nash_distance",
                "pareto_distance",
                "phases",
                "rounds",
                "utilities"
            ]
        );
    }
}

#[test]
fn run_writes_full_and_per_party_traces() {
    let dir = tempfile::tempdir().expect("temp dir");
    let full = dir.path().join("full.jsonl");
    let us = dir.path().join("us.jsonl");
    let p = |p: &Path| p.to_str().expect("utf-8").to_string();
    let base = [
        "run",
        "scenarios/oman-talks.toml",
        "--protocol",
        "shuttle",
        "--negotiators",
        "conceder,conceder",
    ];
    assert_eq!(
        parley(&[&base[..], &["--trace", &p(&full)]].concat()).code,
        0
    );
    assert_eq!(
        parley(&[&base[..], &["--trace", &p(&us), "--view", "united-states"]].concat()).code,
        0
    );
    let full = std::fs::read_to_string(&full).expect("trace");
    let us = std::fs::read_to_string(&us).expect("view");
    assert!(full.lines().count() > us.lines().count());
    assert!(full.contains("\"from\":\"iran\"") && full.contains("\"type\":\"proposal\""));
    for line in us.lines() {
        let event: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        if event["type"] == "proposal" {
            assert_eq!(event["from"], "united-states");
        }
        if event["type"] == "carry" {
            assert_eq!(event["to"], "united-states");
        }
        if event["type"] == "vote" {
            assert_eq!(event["by"], "united-states");
        }
    }
    let out = parley(
        &[
            &base[..],
            &["--trace", &p(&dir.path().join("x")), "--view", "oman"],
        ]
        .concat(),
    );
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("no party \"oman\""), "{}", out.stderr);
    let out = parley(&[
        "run",
        "scenarios/oman-talks.toml",
        "--negotiators",
        "boulware",
    ]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("2 parties"), "{}", out.stderr);
    let out = parley(&[
        "run",
        "scenarios/oman-talks.toml",
        "--negotiators",
        "boulware:e=x,linear",
    ]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("e=\"x\" is not a number"),
        "{}",
        out.stderr
    );
}
