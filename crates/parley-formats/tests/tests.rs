//! Integration tests of parley-formats.

mod conformance;
mod corpus;
