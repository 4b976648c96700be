//! # guichet-media
//!
//! The room that carries every voice packet of Guichet: RTP/RTCP sessions
//! (RFC 3550) with G.711 audio, RFC 4733 DTMF, the prompt player, the
//! caller-agent bridge, the supervision mixer and the WebRTC endpoint for
//! browser agents (str0m). It depends on no other
//! guichet crate.
//!
//! ## Public API (what the switchboard calls)
//!
//! - [`MediaEngine::start`]`(`[`MediaConfig`]`)` inside a tokio runtime
//!   returns a [`MediaHandle`] and the stream of [`MediaEvent`]s.
//! - [`MediaHandle::allocate_rtp`] gives a [`LocalMedia`] (session id and
//!   local RTP port for the SDP answer); [`MediaHandle::set_remote`] takes
//!   the negotiated [`RemoteMedia`] (address, [`Codec`], payload type,
//!   telephone-event payload type); [`MediaHandle::release`] frees it.
//! - [`MediaHandle::play`] a [`Playlist`] of [`Audio`] (WAV or in-memory,
//!   looped or not, barge-in or not), [`MediaHandle::stop`].
//! - [`MediaHandle::send_dtmf`]; [`MediaHandle::inject_digit`] merges SIP
//!   INFO digits into the same event stream as RFC 4733 ones.
//! - [`MediaHandle::bridge`] / [`MediaHandle::unbridge`]: caller and agent
//!   legs, transcoding PCMU/PCMA, through a small jitter buffer.
//! - [`MediaHandle::monitor`]`(bridge, supervisor, `[`MonitorMode`]`)`
//!   (listen, whisper, barge; call again to switch), [`MediaHandle::unmonitor`].
//! - [`MediaHandle::stats`] ([`SessionStats`]: packets, bytes, loss,
//!   jitter, late packets, the remote's RTCP view) and
//!   [`MediaHandle::clock_health`] for `/metrics`.
//!
//! - WebRTC (browser agents, when `webrtc_port` is set):
//!   [`MediaHandle::webrtc_accept`]`(offer_sdp)` returns the session and
//!   the SDP answer, [`MediaHandle::webrtc_add_candidate`] for trickle ICE;
//!   the browser session is then a leg like any other (bridge, mixer,
//!   player, DTMF events, stats).
//!
//! Events: [`MediaEvent::Dtmf`], [`MediaEvent::PlaybackFinished`],
//! [`MediaEvent::RemoteLatched`] (symmetric RTP), [`MediaEvent::NoMedia`],
//! [`MediaEvent::BridgeEnded`].
//!
//! The protocol pieces are sans-IO and public for tests and benches:
//! [`g711`], [`rtp`] (packets, RTCP SR/RR, RFC 3550 reception statistics),
//! [`dtmf`], [`jitter`], [`player`], [`ports`].
//!
//! ## Timing model
//!
//! Two OS threads run alternate 1 ms ticks against deadlines computed from
//! the engine's start, so pacing never drifts; every stream sits in one of
//! 20 wheel slots and is visited exactly every 20 ms. A stream costs no
//! timer of its own: thousands share the one clock.
pub mod config;
pub mod dtmf;
mod engine;
pub mod g711;
pub mod jitter;
pub mod player;
pub mod ports;
mod receiver;
pub mod red;
pub mod rtp;
mod webrtc;

pub use config::{ConfigError, MediaConfig};
pub use engine::{
    BridgeId, DtmfSource, LocalMedia, MediaEngine, MediaError, MediaEvent, MediaHandle,
    MediaTotals, MonitorMode, PlaybackEnd, PlaybackId, RemoteMedia, SessionId, SessionStats,
};
pub use g711::Codec;
pub use player::{Audio, AudioError, Playlist};
