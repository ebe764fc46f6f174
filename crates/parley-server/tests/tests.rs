//! The server over real HTTP and WebSocket connections on loopback.

mod agenda;
mod audit;
mod common;
mod compat;
mod faults;
mod guard;
mod input;
mod limits;
mod llm;
mod openapi;
mod owner;
mod privacy;
mod side_channels;
mod talks;
mod uploads;
