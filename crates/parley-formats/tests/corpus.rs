//! Where the shared scenario corpus is.

use std::path::PathBuf;

/// The corpus folder (with `genius/` and `reference/` inside): `$PARLEY_SCENARIOS`,
/// else `../shared/scenarios` beside the repository.
///
/// Tests that need it are `#[ignore = "needs the ANAC corpus: …"]`, so that a run
/// without it reports them as ignored, with the reason; they run with
/// `--include-ignored` (as `.ci/run` does), and then a missing corpus is a failure
/// that says where to get it.
pub fn corpus() -> PathBuf {
    let dir = std::env::var_os("PARLEY_SCENARIOS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/scenarios")
        });
    assert!(
        dir.join("genius").is_dir() && dir.join("reference").is_dir(),
        "the scenario corpus is not at {} (set PARLEY_SCENARIOS to a folder with genius/ and reference/; \
         scripts/fetch-corpus downloads the Genius scenarios and regenerates the reference analyses, \
         see docs/corpus.md)",
        dir.display()
    );
    dir
}

/// Every reference file below `reference/`, as paths relative to it without `.json`.
pub fn reference_files(corpus: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![corpus.join("reference")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("reference folder is readable") {
            let path = entry.expect("readable entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let rel = path
                    .strip_prefix(corpus.join("reference"))
                    .expect("below reference/")
                    .with_extension("");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}
