//! Integration tests of parley-engine.

mod mediation;
mod protocols;
