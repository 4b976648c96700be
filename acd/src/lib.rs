//! guichet-acd: the ACD room decides who answers whom.
//!
//! One job: queue the calls the IVR routes, offer them to agents, overflow
//! them by rule, announce position and expected wait, keep the live picture
//! for the wallboard, and compute the ACD statistics from stored call facts.
//! It is a sans-IO engine: no clock, no sockets, no database, no unseeded
//! randomness; time is always passed in as `now`.
//!
//! Public API:
//! - [`AcdConfig`] (embedded in the binary's TOML as `[acd]`), with
//!   [`QueueConfig`], [`AgentConfig`], [`Membership`], [`OverflowRule`],
//!   [`Strategy`]; [`AcdConfig::validate`] names the offending item/field.
//! - [`Acd`]: the engine. Inputs: [`Acd::enqueue`], [`Acd::set_priority`],
//!   [`Acd::call_ended`], [`Acd::agent_answered`], [`Acd::offer_failed`],
//!   [`Acd::login`], [`Acd::logout`], [`Acd::pause`], [`Acd::unpause`],
//!   [`Acd::end_wrap_up`], [`Acd::extend_wrap_up`], [`Acd::set_queue_open`].
//!   Outputs: [`Acd::poll_action`] ([`Action`]: ring, cancel ring, announce,
//!   transfer, callback, reject, release), [`Acd::poll_event`] ([`Event`]:
//!   every change, including [`Event::CallFinished`] with the record for the
//!   store), [`Acd::poll_timeout`] / [`Acd::handle_timeout`], and
//!   [`Acd::snapshot`] for the wallboard.
//! - [`stats`]: [`stats::CallFacts`], [`stats::Outcome`], [`stats::StatsParams`],
//!   [`stats::Indicators`] and the grouping helpers [`stats::by_queue`],
//!   [`stats::by_agent`], [`stats::by_period`], [`stats::service_totals`].
//! - [`sim`]: the staffing simulator replaying monthly volumes through the
//!   real engine ([`sim::simulate_months`]).

mod config;
mod engine;
pub mod sim;
pub mod stats;

#[cfg(test)]
mod proptests;

pub use config::{
    AcdConfig, AgentConfig, ConfigError, Membership, OverflowRule, QueueConfig, Strategy,
};
pub use engine::{
    ABSENT, Acd, AcdError, Action, AgentId, AgentSnapshot, AgentStatus, CallId, Event, Priority,
    QueueSnapshot, RejectReason, Snapshot, WaitingCallView,
};
