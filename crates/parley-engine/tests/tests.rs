//! Integration tests of parley-engine.

mod isolation;
mod mediation;
mod protocols;
mod side_channels;
