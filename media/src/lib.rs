//! guichet-media
pub mod dtmf;
pub mod g711;
pub mod jitter;
pub mod player;
pub mod ports;
pub mod rtp;
