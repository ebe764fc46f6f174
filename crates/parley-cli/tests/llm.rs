//! `parley run` with language-model seats (docs/llm.md): without an endpoint, a clear
//! error; with one (in CI the local llama.cpp server, `scripts/llm-server`), the
//! issue's two commands end by the rules with the prompts and replies in the trace.

use std::sync::Mutex;

use crate::cli::{parley, root};

/// The local model serves one request at a time, and takes both cores while it does:
/// the tests here take turns, and the browser test (timed by a real browser) waits
/// for them.
pub(crate) static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn an_llm_seat_without_an_endpoint_says_what_to_set() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_parley"))
        .args([
            "run",
            "scenarios/job-offer.toml",
            "--negotiators",
            "llm,conceder",
        ])
        .current_dir(root())
        .env_remove("OPENAI_BASE_URL")
        .output()
        .expect("the binary runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("OPENAI_BASE_URL is not set") && stderr.contains("docs/llm.md"),
        "{stderr}"
    );
    let bad = parley(&[
        "run",
        "scenarios/job-offer.toml",
        "--negotiators",
        "llm:persona=grumpy,conceder",
    ]);
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr.contains("hawkish, neutral or cooperative"),
        "{}",
        bad.stderr
    );
}

fn endpoint() {
    assert!(
        std::env::var("OPENAI_BASE_URL").is_ok_and(|u| !u.trim().is_empty()),
        "this test needs an OpenAI-compatible endpoint in OPENAI_BASE_URL: `export \"$(scripts/llm-server start)\"` runs a local one (.ci/run does)"
    );
}

/// The trace's events, as JSON.
fn read_events(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("the trace")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON event"))
        .collect()
}

#[test]
#[ignore = "needs an OpenAI-compatible endpoint in OPENAI_BASE_URL: `export \"$(scripts/llm-server start)\"` runs a local one (.ci/run does)"]
fn llm_against_conceder_on_the_job_offer() {
    endpoint();
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("a temporary folder");
    let trace = dir.path().join("trace.jsonl");
    let out = parley(&[
        "run",
        "scenarios/job-offer.toml",
        "--negotiators",
        "llm:timeout=120:history=4:message_chars=80:max_tokens=400,conceder",
        "--rounds",
        "6",
        "--trace",
        trace.to_str().expect("a UTF-8 path"),
    ]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("played by llm:timeout=120"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("model      "), "{}", out.stdout);
    assert!(out.stdout.contains("ended      "), "{}", out.stdout);
    let events = read_events(&trace);
    let calls: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["type"] == "model-call")
        .collect();
    assert!(!calls.is_empty(), "the seat asked its model");
    for c in &calls {
        assert_eq!(c["by"], "candidate");
        assert!(c["prompt"]
            .as_str()
            .is_some_and(|p| p.contains("chat") || p.contains("messages")));
    }
    assert!(events.iter().all(|e| e["type"] != "invalid"), "{events:?}");
    // The candidate never ends below what walking away pays it (0.5; no discount).
    let summary = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("candidate ") && l.contains("utility"));
    if let Some(line) = summary {
        let u: f64 = line
            .split_whitespace()
            .last()
            .and_then(|x| x.parse().ok())
            .expect("a utility");
        assert!(u >= 0.5 - 1e-9, "{line}");
    }
}

#[test]
#[ignore = "needs an OpenAI-compatible endpoint in OPENAI_BASE_URL: `export \"$(scripts/llm-server start)\"` runs a local one (.ci/run does)"]
fn the_flagship_with_an_llm_mediator() {
    endpoint();
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("a temporary folder");
    let trace = dir.path().join("trace.jsonl");
    let out = parley(&[
        "run",
        "scenarios/oman-talks.toml",
        "--mediator",
        "llm:timeout=120:retries=1:history=4:message_chars=80:max_tokens=400",
        "--rounds",
        "6",
        "--trace",
        trace.to_str().expect("a UTF-8 path"),
    ]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let events = read_events(&trace);
    assert!(events
        .iter()
        .any(|e| e["type"] == "model-call" && e["by"] == "mediator"));
    assert!(
        events.iter().all(|e| e["type"] != "invalid"),
        "{}",
        out.stdout
    );
    // The owner's trace keeps every prompt; a party's view has none of the mediator's.
    let view = dir.path().join("iran.jsonl");
    let party = parley(&[
        "run",
        "scenarios/oman-talks.toml",
        "--mediator",
        "llm:timeout=120:retries=0:history=4:message_chars=80:max_tokens=400",
        "--rounds",
        "2",
        "--trace",
        view.to_str().expect("a UTF-8 path"),
        "--view",
        "iran",
    ]);
    assert_eq!(party.code, 0, "{}", party.stderr);
    assert!(read_events(&view).iter().all(|e| e["type"] != "model-call"));
}

#[path = "../../parley-llm/tests/fake/mod.rs"]
#[allow(dead_code)]
mod fake;

#[test]
fn a_tournament_seats_llm_against_built_ins() {
    // A scripted endpoint (in this test process) that always wants to walk away:
    // before its patience runs out the seat offers instead, so sessions go on.
    let model = fake::start(|_, _| {
        fake::Reply::Content(
            serde_json::json!({"action": "walk_away", "offer": {}, "message": "We are far apart."})
                .to_string(),
        )
    });
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = dir.path().join("t");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_parley"))
        .args([
            "tournament",
            "scenarios/job-offer.toml",
            "--negotiators",
            "llm:patience=0.5,conceder,best",
            "--protocol",
            "saop",
            "--rounds",
            "6",
            "--repetitions",
            "1",
            "--out",
            out.to_str().expect("a UTF-8 path"),
        ])
        .current_dir(root())
        .env("OPENAI_BASE_URL", &model.url)
        .output()
        .expect("the binary runs");
    assert!(
        run.status.success(),
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let rows = std::fs::read_to_string(out.join("results.jsonl")).expect("results");
    let rows: Vec<serde_json::Value> = rows
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect();
    // 3 competitors, every ordered pair of distinct ones: 6 sessions, 4 with the seat.
    assert_eq!(rows.len(), 6, "{rows:?}");
    let with_llm = rows
        .iter()
        .filter(|r| r.to_string().contains("llm:patience=0.5"))
        .count();
    assert_eq!(with_llm, 4);
    assert!(!model.requests().is_empty(), "the seat asked the endpoint");
    assert!(
        rows.iter().all(|r| !r.to_string().contains("invalid")),
        "{rows:?}"
    );
}

#[test]
fn a_run_with_a_wrong_key_says_why_the_fallback_played() {
    // The endpoint refuses the key: one request, the fallback plays the session, and
    // the summary says what to fix.
    let model = fake::start(|_, _| {
        fake::Reply::Status(
            401,
            r#"{"error": {"message": "Incorrect API key provided"}}"#.into(),
        )
    });
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_parley"))
        .args([
            "run",
            "scenarios/job-offer.toml",
            "--negotiators",
            "llm,conceder",
            "--rounds",
            "10",
        ])
        .current_dir(root())
        .env("OPENAI_BASE_URL", &model.url)
        .env("OPENAI_API_KEY", "sk-wrong")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(model.requests().len(), 1, "asked once");
    let line = stdout
        .lines()
        .find(|l| l.contains("first failure:"))
        .unwrap_or_else(|| panic!("no failure line in:\n{stdout}"));
    assert!(
        line.contains("HTTP 401") && line.contains("OPENAI_API_KEY"),
        "{line}"
    );
    assert!(
        stdout.contains("model      1 requests: 0 invalid replies, 1 failed requests")
            && stdout.contains("turns not asked (the endpoint refused the seat)"),
        "{stdout}"
    );
}
