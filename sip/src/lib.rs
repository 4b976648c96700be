//! # guichet-sip: Guichet's SIP signalling room
//!
//! One job: speak SIP (RFC 3261) on UDP and TCP for the contact centre — receive calls to the
//! helpdesk lines, ring agents' desk phones, place callbacks through a trunk, register desk
//! phones with digest authentication — and turn all of it into typed events and commands,
//! so the switchboard never sees a SIP message.
//!
//! Public API:
//! - [`SipEndpoint::start`] with a [`SipConfig`] binds UDP+TCP and returns the endpoint
//!   ([`SipEndpoint::local_addr`], [`SipEndpoint::handle`]) and a receiver of [`SipEvent`]s.
//! - [`SipHandle`] (cloneable) takes commands: [`SipHandle::ringing`], [`SipHandle::answer`],
//!   [`SipHandle::reject`], [`SipHandle::hang_up`], [`SipHandle::answer_bye`],
//!   [`SipHandle::answer_cancel`],
//!   [`SipHandle::ring_agent`], [`SipHandle::call_external`], [`SipHandle::reinvite`],
//!   [`SipHandle::set_lines`], [`SipHandle::set_credentials`], [`SipHandle::contacts_of`],
//!   [`SipHandle::counters`].
//! - [`sdp`]: the SDP model and offer/answer ([`sdp::answer`], [`sdp::offer`]).
//! - [`metrics::SipCounters`]: atomics for `/metrics`.
//! - [`validate`] and [`message`]: the validation front and parser (public for the fuzz
//!   target and benches).
//!
//! The SIP core is our own (see `docs/sip.md` for why rsipstack's transaction layer is not
//! used): a sans-IO state machine in `core` driven by a thin tokio layer in `endpoint`.

mod api;
mod core;
pub mod digest;
mod endpoint;
pub mod message;
pub mod metrics;
pub mod registrar;
pub mod sdp;
mod shared;
pub mod validate;

pub use api::{
    ByeAnswer, CallId, CallTarget, EndReason, IncomingCall, OutboundProgress, SipConfig,
    SipConfigError, SipError, SipEvent, TrunkConfig,
};
pub use endpoint::{SipEndpoint, SipHandle};
