//! Every linear scenario of the shared corpus analyses exactly as its reference.

use parley_core::analysis::{analyze, AnalysisConfig};
use parley_formats::genius::read_folder;
use parley_formats::report::AnalysisReport;
use serde_json::Value;

use crate::corpus::{corpus, reference_files};

const TOL: f64 = 1e-6;

fn vectors(points: &Value) -> Vec<Vec<f64>> {
    points
        .as_array()
        .expect("pareto is an array")
        .iter()
        .map(|p| {
            p["utilities"]
                .as_array()
                .expect("utilities")
                .iter()
                .map(|u| u.as_f64().expect("number"))
                .collect()
        })
        .collect()
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= TOL)
}

/// Compares one scenario; returns the problems found.
fn compare(rel: &str, ours: &Value, reference: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for key in ["parties", "outcome_count"] {
        if ours[key] != reference[key] {
            problems.push(format!(
                "{key}: ours {} vs reference {}",
                ours[key], reference[key]
            ));
        }
    }
    let issue_names = |v: &Value| -> Vec<Value> {
        v["issues"]
            .as_array()
            .map(|a| a.iter().map(|i| i["name"].clone()).collect())
            .unwrap_or_default()
    };
    if issue_names(ours) != issue_names(reference) {
        problems.push("issue names differ".into());
    }
    let reserved = |v: &Value| -> Vec<f64> {
        v["reserved"]
            .as_array()
            .expect("reserved")
            .iter()
            .map(|x| x.as_f64().expect("number"))
            .collect()
    };
    if !close(&reserved(ours), &reserved(reference)) {
        problems.push("reserved differ".into());
    }
    let ours_front = vectors(&ours["pareto"]);
    let ref_front = vectors(&reference["pareto"]);
    if ours_front.len() != ref_front.len() {
        problems.push(format!(
            "frontier size: ours {} vs reference {}",
            ours_front.len(),
            ref_front.len()
        ));
    }
    let missing = ref_front
        .iter()
        .filter(|r| !ours_front.iter().any(|o| close(o, r)))
        .count();
    let extra = ours_front
        .iter()
        .filter(|o| !ref_front.iter().any(|r| close(o, r)))
        .count();
    if missing + extra > 0 {
        problems.push(format!(
            "frontier: {missing} reference vectors missing, {extra} extra"
        ));
    }
    for key in ["nash", "kalai_smorodinsky", "max_welfare"] {
        match (&ours[key], &reference[key]) {
            (Value::Null, Value::Null) => {}
            (o, r) if o.is_object() && r.is_object() => {
                let (ov, rv) = (
                    o["value"].as_f64().unwrap_or(f64::NAN),
                    r["value"].as_f64().unwrap_or(f64::NAN),
                );
                if (ov - rv).abs() > TOL {
                    problems.push(format!("{key}.value: ours {ov} vs reference {rv}"));
                }
            }
            (o, r) => problems.push(format!("{key}: ours {o} vs reference {r}")),
        }
    }
    let (oo, ro) = (
        ours["opposition"].as_f64(),
        reference["opposition"].as_f64(),
    );
    match (oo, ro) {
        (Some(a), Some(b)) if (a - b).abs() <= TOL => {}
        _ => problems.push(format!("opposition: ours {oo:?} vs reference {ro:?}")),
    }
    problems
        .into_iter()
        .map(|p| format!("{rel}: {p}"))
        .collect()
}

#[test]
#[ignore = "needs the ANAC corpus ($PARLEY_SCENARIOS, default ../shared/scenarios): scripts/fetch-corpus, see docs/corpus.md"]
fn every_linear_scenario_matches_its_reference() {
    let corpus = corpus();
    let mut checked = 0;
    let mut failures = Vec::new();
    for rel in reference_files(&corpus) {
        let reference: Value = serde_json::from_str(
            &std::fs::read_to_string(corpus.join("reference").join(format!("{rel}.json")))
                .expect("readable"),
        )
        .expect("reference is JSON");
        if reference.get("pareto").is_none() {
            continue; // published nonlinear frontier: see the search test
        }
        let folder = corpus.join("genius").join(&rel);
        let loaded = match read_folder(&folder) {
            Ok(loaded) => loaded,
            Err(e) => {
                failures.push(format!("{rel}: failed to load: {e}"));
                continue;
            }
        };
        let analysis =
            analyze(&loaded.scenario, &AnalysisConfig::default()).expect("analysis succeeds");
        let ours: Value =
            serde_json::from_str(&AnalysisReport::new(&loaded.scenario, &analysis).to_json())
                .expect("report is JSON");
        failures.extend(compare(&rel, &ours, &reference));
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} scenarios differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 100, "only {checked} reference scenarios found");
    eprintln!("{checked} linear scenarios match their reference");
}

/// The independent oracle that regenerates the references for a fetched corpus
/// (`scripts/reference.py`, Python's standard library and exact fractions) reproduces
/// every shared reference: so a corpus built with `scripts/fetch-corpus` checks parley
/// against the same answers.
#[test]
#[ignore = "needs the ANAC corpus ($PARLEY_SCENARIOS, default ../shared/scenarios) and python3: scripts/fetch-corpus, see docs/corpus.md"]
fn the_reference_oracle_reproduces_the_shared_references() {
    let corpus = corpus();
    let out = tempfile::tempdir().expect("tempdir");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/reference.py");
    let run = std::process::Command::new("python3")
        .arg(&script)
        .arg(corpus.join("genius"))
        .arg(out.path())
        .arg("--check")
        .arg(corpus.join("reference"))
        .output()
        .expect("python3 runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success(), "the oracle disagrees:\n{text}");
    let expected = reference_files(&corpus).len();
    assert!(
        text.contains(&format!("check: {expected} pass, 0 fail, 0 missing")),
        "not every reference was compared:\n{text}"
    );
}
