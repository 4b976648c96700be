//! guichet-media
pub mod config;
pub mod dtmf;
mod engine;
pub mod g711;
pub mod jitter;
pub mod player;
pub mod ports;
pub mod rtp;

pub use config::{ConfigError, MediaConfig};
pub use engine::{
    BridgeId, DtmfSource, LocalMedia, MediaEngine, MediaError, MediaEvent, MediaHandle,
    MonitorMode, PlaybackEnd, PlaybackId, RemoteMedia, SessionId, SessionStats,
};
pub use g711::Codec;
pub use player::{Audio, AudioError, Playlist};
