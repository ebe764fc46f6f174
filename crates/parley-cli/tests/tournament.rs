//! `parley tournament`: output, sharding and merging, a real kill and resume, errors.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli::{parley, root};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn tournament(out: &Path, extra: &[&str]) -> crate::cli::Output {
    let out = out.to_str().expect("utf-8 path");
    let mut args = vec![
        "tournament",
        "scenarios",
        "--rounds",
        "50",
        "--out",
        out,
        "-q",
    ];
    if !extra.contains(&"--negotiators") {
        args.extend(["--negotiators", "boulware,conceder,hardliner,frequency"]);
    }
    args.extend_from_slice(extra);
    parley(&args)
}

#[test]
fn tournament_summary_of_the_bundled_scenarios() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("t");
    let run = tournament(&out, &["--plot", "oman-talks"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let stdout = run.stdout.replace(out.to_str().expect("utf-8"), "<out>");
    insta::assert_snapshot!(stdout);
    let csv = read(&out.join("results.csv"));
    assert_eq!(csv.lines().count(), 1 + 3 * 12);
    assert!(csv.starts_with("session,scenario,protocol,"));
    let svg = read(&out.join("agreements-oman-talks.svg"));
    assert!(
        svg.contains("united-states played by boulware"),
        "legend names the roles"
    );
    assert!(read(&out.join("ranking.svg")).contains("frequency"));
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).expect("JSON");
    assert_eq!(summary["sessions"], 36);
    assert_eq!(summary["ranking"].as_array().map(Vec::len), Some(4));
}

#[test]
fn shards_merged_on_the_command_line_equal_one_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let whole = dir.path().join("whole");
    assert_eq!(tournament(&whole, &[]).code, 0);
    let mut shards = Vec::new();
    for shard in ["0/2", "1/2"] {
        let out = dir.path().join(shard.replace('/', "of"));
        let run = tournament(&out, &["--shard", shard]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        shards.push(out);
    }
    let merged = dir.path().join("merged");
    let mut args = vec!["tournament", "merge"];
    args.extend(shards.iter().map(|s| s.to_str().expect("utf-8")));
    args.extend(["--out", merged.to_str().expect("utf-8"), "-q"]);
    let run = parley(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for file in ["results.csv", "summary.json", "summary.md"] {
        assert_eq!(read(&whole.join(file)), read(&merged.join(file)), "{file}");
    }
}

/// Kills a running tournament with SIGKILL, resumes it, and compares with a run that
/// was never interrupted.
#[test]
fn a_killed_tournament_resumes_without_rerunning_or_losing_sessions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let killed = dir.path().join("killed");
    let args = |out: &Path| -> Vec<String> {
        [
            "tournament",
            "scenarios",
            "--negotiators",
            "boulware,conceder,linear,frequency",
            "--rounds",
            "1000",
            "--repetitions",
            "60",
            "--jobs",
            "2",
            "-q",
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([out.display().to_string()])
        .collect()
    };
    let total = 3 * 12 * 60;
    let mut child = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(args(&killed))
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let log = killed.join("results.jsonl");
    let started = Instant::now();
    loop {
        let lines = std::fs::read_to_string(&log).map_or(0, |s| s.lines().count());
        if lines >= 100 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let at_kill = read(&log);
    let complete = at_kill.matches('\n').count();
    assert!(
        complete < total,
        "killed mid-run ({complete} of {total} done)"
    );
    assert!(!killed.join("results.csv").exists());

    let mut resume = args(&killed);
    resume.push("--resume".into());
    let resume: Vec<&str> = resume.iter().map(String::as_str).collect();
    let run = parley(&resume);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let timing: serde_json::Value =
        serde_json::from_str(&read(&killed.join("timing.json"))).expect("JSON");
    assert_eq!(timing["sessions_already_done"], complete as u64);
    assert_eq!(
        timing["sessions_run"],
        (total - complete) as u64,
        "nothing ran twice"
    );
    // Every row written before the kill is still there, unchanged.
    let after = read(&log);
    let kept: String = at_kill.lines().map(|l| format!("{l}\n")).collect();
    assert!(after.starts_with(&kept));

    let whole = dir.path().join("whole");
    let uninterrupted = args(&whole);
    let uninterrupted: Vec<&str> = uninterrupted.iter().map(String::as_str).collect();
    assert_eq!(parley(&uninterrupted).code, 0);
    for file in ["results.csv", "summary.json", "summary.md"] {
        assert_eq!(read(&whole.join(file)), read(&killed.join(file)), "{file}");
    }
}

#[test]
fn tournament_errors_say_what_is_wrong() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("t");
    for (extra, expected) in [
        (vec!["--shard", "2/2"], "not a shard i/n"),
        (
            vec!["--negotiators", "boulware,nobody"],
            "unknown negotiator \"nobody\"",
        ),
        (vec!["--negotiators", "boulware,boulware"], "listed twice"),
        (vec!["--confide", "iran"], "`all` or `none`"),
        (vec!["--repetitions", "0"], "repetitions must be at least 1"),
        (
            vec!["--protocol", "shuttle", "--mediator", "oracle"],
            "unknown mediator",
        ),
        (vec!["--plot", "atlantis"], "no scenario \"atlantis\""),
    ] {
        let out = out.join(expected.len().to_string());
        let run = tournament(&out, &extra);
        assert_ne!(run.code, 0, "{extra:?}");
        assert!(run.stderr.contains(expected), "{extra:?}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"));
    }
    let run = parley(&[
        "tournament",
        "no/such/place",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no/such/place"), "{}", run.stderr);
    let run = parley(&[
        "tournament",
        "merge",
        "scenarios",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("holds no tournament"), "{}", run.stderr);
}
