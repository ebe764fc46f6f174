//! Integration tests of parley-engine.

mod protocols;
