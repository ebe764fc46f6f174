//! The web UI in a real browser: `tests/browser/run.mjs` (Playwright driving Debian's
//! Chromium) against the `parley` binary built for these tests.

use std::path::Path;
use std::process::Command;

use crate::cli::root;

#[test]
#[ignore = "needs node, Chromium (PARLEY_CHROMIUM, default /usr/bin/chromium) and `npm ci` in tests/browser: .ci/run installs them"]
fn the_web_ui_plays_a_persons_seat_to_an_agreement() {
    // Not while a language model takes the cores (its tests take this turn too).
    let _turn = crate::llm::ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let dir = root().join("tests/browser");
    let chromium = std::env::var("PARLEY_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let ready =
        node && Path::new(&chromium).exists() && dir.join("node_modules/playwright-core").exists();
    assert!(
        ready,
        "the browser test needs node, Chromium at {chromium} and `npm ci` in {} (.ci/run installs them)",
        dir.display()
    );
    let out = Command::new("node")
        .arg("run.mjs")
        .current_dir(&dir)
        .env("PARLEY_BIN", env!("CARGO_BIN_EXE_parley"))
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the browser test failed:\n{text}");
}
