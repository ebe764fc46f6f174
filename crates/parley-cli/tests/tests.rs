//! Integration tests of the `parley` binary: snapshots of its output and its errors.

mod browser;
mod cli;
#[allow(dead_code)]
#[path = "../../parley-formats/tests/corpus.rs"]
mod corpus;
mod llm;
mod python;
mod readme;
mod serve;
mod tournament;
mod zone;
