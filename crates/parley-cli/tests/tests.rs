//! Integration tests of the `parley` binary: snapshots of its output and its errors.

mod cli;
mod tournament;
