//! Integration tests of parley-engine.

#[allow(dead_code)]
#[path = "../../parley-formats/tests/corpus.rs"]
mod corpus;
mod isolation;
mod mediation;
mod negotiators;
mod protocols;
mod red_lines;
mod side_channels;
