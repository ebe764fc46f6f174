//! The server over real HTTP and WebSocket connections on loopback.

mod common;
mod input;
mod privacy;
mod side_channels;
mod talks;
