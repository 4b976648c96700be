//! The `guichet` binary's library half: configuration, server start-up and (as it lands) the
//! switchboard that wires the rooms together. `src/main.rs` is the command line on top; the
//! end-to-end tests in `tests/` use this library to start servers in-process.

pub mod audio_cache;
pub mod clock;
pub mod config;
pub mod live_settings;
pub mod message;
pub mod prompts;
pub mod server;
pub mod simulate;
pub mod sla_leader;
pub mod sla_runner;
pub mod switchboard;
pub mod web_backend;
