//! Integration tests of parley-engine.

mod isolation;
mod mediation;
mod negotiators;
mod protocols;
mod red_lines;
mod side_channels;
