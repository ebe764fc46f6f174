//! The Python package (`python/`): built into a virtual environment with maturin and
//! tested with pytest against the `parley` binary built for these tests.
//!
//! `PARLEY_PYTHON` names the environment's interpreter, which needs `maturin`, `numpy`
//! and `pytest` (`.ci/run` makes one: `target/python-venv`).

use std::path::PathBuf;
use std::process::Command;

use crate::cli::root;

#[test]
#[ignore = "needs a Python with maturin, numpy, pytest, negmas (PARLEY_PYTHON, default target/python-venv): .ci/run makes one"]
fn the_python_package_builds_and_its_tests_pass() {
    let python = std::env::var_os("PARLEY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/python-venv/bin/python"));
    let ready = Command::new(&python)
        .args(["-c", "import maturin, numpy, pytest"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ready,
        "the Python tests need an interpreter with maturin, numpy and pytest at {} \
         (set PARLEY_PYTHON; .ci/run makes one)",
        python.display()
    );
    let venv = python
        .parent()
        .and_then(|bin| bin.parent())
        .expect("the interpreter is in <venv>/bin");
    let run = |args: &[&str]| {
        let out = Command::new(&python)
            .args(args)
            .current_dir(root().join("python"))
            .env("VIRTUAL_ENV", venv)
            .env("PARLEY_BIN", env!("CARGO_BIN_EXE_parley"))
            .output()
            .expect("python runs");
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "python {args:?} failed:\n{text}");
        text
    };
    run(&["-m", "maturin", "develop", "--release", "--quiet"]);
    let report = run(&[
        "-m",
        "pytest",
        "tests",
        "-q",
        "-rs",
        "-p",
        "no:cacheprovider",
    ]);
    eprintln!("{report}");
    // Everything the Python tests need is here (this test runs where .ci/run set it
    // up): a skipped Python test would be a test that silently did not run.
    assert!(
        !report.contains("skipped"),
        "Python tests were skipped:\n{report}"
    );
}
