//! Integration tests of parley-core.

mod analysis_props;
mod labels;
mod zone;
