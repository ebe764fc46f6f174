//! The server over real HTTP and WebSocket connections on loopback.

mod audit;
mod common;
mod compat;
mod faults;
mod guard;
mod input;
mod limits;
mod privacy;
mod side_channels;
mod talks;
