//! Integration tests of the `parley` binary: snapshots of its output and its errors.

mod browser;
mod cli;
mod python;
mod serve;
mod tournament;
mod zone;
