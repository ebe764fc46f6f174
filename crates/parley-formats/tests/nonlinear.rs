//! The frontier search on the ANAC 2014 nonlinear scenarios covers the published
//! frontiers (2-D hypervolume, reference point (0, 0)).

use std::time::Duration;

use parley_core::analysis::{analyze, AnalysisConfig};
use parley_formats::genius::read_folder;

use crate::corpus::{corpus, reference_files};

/// Hypervolume of a 2-D maximisation front with reference point (0, 0).
fn hypervolume(points: &[[f64; 2]]) -> f64 {
    let mut pts = points.to_vec();
    pts.sort_by(|a, b| b[0].total_cmp(&a[0]));
    let (mut area, mut best_y) = (0.0, 0.0);
    for [x, y] in pts {
        if y > best_y {
            area += x * (y - best_y);
            best_y = y;
        }
    }
    area
}

#[test]
fn hypervolume_of_a_staircase() {
    assert!((hypervolume(&[[1.0, 0.5], [0.5, 1.0]]) - 0.75).abs() < 1e-12);
    assert!((hypervolume(&[[1.0, 0.5], [0.9, 0.4], [0.5, 1.0]]) - 0.75).abs() < 1e-12);
}

#[test]
#[ignore = "needs the ANAC corpus ($PARLEY_SCENARIOS, default ../shared/scenarios): scripts/fetch-corpus, see docs/corpus.md"]
fn search_covers_the_published_nonlinear_frontiers() {
    let corpus = corpus();
    // The budget is 60 s; 3 s already suffices, and keeps CI short.
    let budget = Duration::from_secs(3);
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for rel in reference_files(&corpus) {
        let reference: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(corpus.join("reference").join(format!("{rel}.json")))
                .expect("readable"),
        )
        .expect("JSON");
        let Some(published) = reference.get("published_pareto").and_then(|p| p.as_array()) else {
            continue;
        };
        let published: Vec<[f64; 2]> = published
            .iter()
            .map(|p| {
                [
                    p[0].as_f64().expect("number"),
                    p[1].as_f64().expect("number"),
                ]
            })
            .collect();
        let scenario = read_folder(&corpus.join("genius").join(&rel))
            .expect("loads")
            .scenario;
        let config = AnalysisConfig {
            time_budget: budget,
            seed: 1,
            ..AnalysisConfig::default()
        };
        let analysis = analyze(&scenario, &config).expect("analysis");
        assert!(
            !analysis.pareto_exact,
            "{rel}: a searched frontier is not proven exact"
        );
        let ours: Vec<[f64; 2]> = analysis
            .pareto
            .iter()
            .map(|p| [p.utilities[0], p.utilities[1]])
            .collect();
        // Every point found is attained by its outcome.
        for p in &analysis.pareto {
            let u = scenario.evaluate(&p.outcome).expect("valid outcome");
            assert!((u[0] - p.utilities[0]).abs() < 1e-12 && (u[1] - p.utilities[1]).abs() < 1e-12);
        }
        let ratio = hypervolume(&ours) / hypervolume(&published);
        let beats = ours
            .iter()
            .filter(|o| !published.iter().any(|p| p[0] >= o[0] && p[1] >= o[1]))
            .count();
        rows.push(format!(
            "{rel}: hypervolume ratio {ratio:.4}, {} points, {beats} beyond the published frontier",
            ours.len()
        ));
        if ratio < 0.99 {
            failures.push(format!("{rel}: ratio {ratio:.4} < 0.99"));
        }
    }
    eprintln!("{}", rows.join("\n"));
    assert!(
        rows.len() >= 8,
        "expected the ANAC 2014 scenarios, found {}",
        rows.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
