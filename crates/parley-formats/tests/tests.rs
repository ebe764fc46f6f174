//! Integration tests of parley-formats.

mod alternatives;
mod bad_input;
mod conformance;
mod corpus;
mod geniusweb;
mod labels;
mod nonlinear;
mod red_lines;
mod report;
mod roundtrip;
