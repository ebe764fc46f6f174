//! The server over real HTTP and WebSocket connections on loopback.

mod audit;
mod common;
mod faults;
mod guard;
mod input;
mod privacy;
mod side_channels;
mod talks;
