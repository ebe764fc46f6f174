//! Tournament tests: planning, sharding, resuming, summaries, and the ANAC corpus.

mod alternatives;
#[allow(dead_code)]
#[path = "../../parley-formats/tests/corpus.rs"]
mod corpus;
mod mediation;
mod tournament;
