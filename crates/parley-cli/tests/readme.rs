//! The README's shell examples, run in order as a reader would run them, so that they
//! cannot drift from what the binary does.
//!
//! Every `sh` block of README.md is a list of commands. `parley` is the binary built
//! for these tests (on PATH through a folder of its own), `cargo run --release --` is
//! read as `parley`, and `cargo test`, `cargo install` and `pip install` lines are left
//! out (this test is itself `cargo test`; the Python package has its own test). The
//! commands run with `sh -c` in a fresh folder that holds the repository's `scenarios/`
//! and, as `../shared/scenarios`, the corpus; each must exit with status 0.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::root;

/// One shell block of the README: its first line number and its commands.
struct Block {
    line: usize,
    commands: Vec<String>,
}

/// The `sh` blocks of the README, in order.
fn blocks(readme: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    for (k, line) in readme.lines().enumerate() {
        let trimmed = line.trim();
        match &mut current {
            None if trimmed == "```sh" => {
                current = Some(Block {
                    line: k + 1,
                    commands: Vec::new(),
                })
            }
            None => {}
            Some(_) if trimmed == "```" => out.extend(current.take()),
            Some(block) => {
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    continue;
                }
                let command = trimmed
                    .strip_prefix("cargo run --release --")
                    .map_or_else(|| trimmed.to_string(), |rest| format!("parley{rest}"));
                let skipped = ["cargo test", "cargo install", "pip install"];
                if !skipped.iter().any(|s| command.starts_with(s)) {
                    block.commands.push(command);
                }
            }
        }
    }
    out
}

/// A fresh folder laid out as a clone next to the corpus: `work/scenarios` and
/// `shared/scenarios`; the commands run in `work/`. Returns it and the folder put
/// first on PATH (holding `parley`).
fn workspace(corpus: Option<&Path>) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let work = dir.path().join("work");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&work).expect("work folder");
    std::fs::create_dir_all(&bin).expect("bin folder");
    symlink(&root().join("scenarios"), &work.join("scenarios"));
    symlink(Path::new(env!("CARGO_BIN_EXE_parley")), &bin.join("parley"));
    if let Some(corpus) = corpus {
        std::fs::create_dir_all(dir.path().join("shared")).expect("shared folder");
        symlink(corpus, &dir.path().join("shared/scenarios"));
    }
    (dir, work, bin)
}

#[cfg(unix)]
fn symlink(from: &Path, to: &Path) {
    std::os::unix::fs::symlink(from, to).expect("symlink");
}

#[cfg(not(unix))]
fn symlink(from: &Path, to: &Path) {
    if from.is_dir() {
        std::os::windows::fs::symlink_dir(from, to).expect("symlink");
    } else {
        std::os::windows::fs::symlink_file(from, to).expect("symlink");
    }
}

/// Runs the commands of `blocks` in order in `work`; fails on the first that does not
/// exit with status 0, naming it and its README line.
fn run_all(blocks: &[Block], work: &Path, bin: &Path) -> usize {
    let path = std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .expect("PATH");
    let mut ran = 0;
    for block in blocks {
        for command in &block.commands {
            let out = Command::new("sh")
                .args(["-c", command])
                .current_dir(work)
                .env("PATH", &path)
                .output()
                .expect("sh runs");
            assert!(
                out.status.success(),
                "README block at line {}: `{command}` failed ({}):\n{}\n{}",
                block.line,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            ran += 1;
        }
    }
    ran
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md")
}

fn needs_corpus(block: &Block) -> bool {
    block.commands.iter().any(|c| c.contains("../shared/"))
}

#[test]
fn readme_commands_on_the_bundled_scenarios_succeed_in_order() {
    let all = blocks(&readme());
    let bundled: Vec<Block> = all.into_iter().filter(|b| !needs_corpus(b)).collect();
    let (_dir, work, bin) = workspace(None);
    let ran = run_all(&bundled, &work, &bin);
    // The Quickstart's main job, the analyses, the runs, the tournament, the conversions.
    assert!(
        ran >= 10,
        "only {ran} commands found in the README's sh blocks"
    );
    assert!(work.join("bundled/summary.json").is_file());
    assert!(work.join("job-offer-genius").is_dir());
}

#[test]
#[ignore = "needs the ANAC corpus ($PARLEY_SCENARIOS, default ../shared/scenarios): scripts/fetch-corpus, see docs/corpus.md"]
fn readme_commands_on_the_corpus_succeed_in_order() {
    let corpus = crate::corpus::corpus();
    let with_corpus: Vec<Block> = blocks(&readme()).into_iter().filter(needs_corpus).collect();
    assert!(!with_corpus.is_empty(), "no README block uses the corpus");
    let (_dir, work, bin) = workspace(Some(&corpus));
    let ran = run_all(&with_corpus, &work, &bin);
    assert!(ran >= 6, "only {ran} corpus commands found");
    assert!(work.join("merged").is_dir());
}
