//! guichet-acd: the ACD room decides who answers whom.
//!
//! One job: queue the calls the IVR routes, offer them to agents, overflow
//! them by rule, announce position and expected wait, and compute the ACD
//! statistics from stored call facts. It is a sans-IO engine: no clock, no
//! sockets, no database; time is always passed in as `now`.
//!
//! Public API:
//! - [`stats`]: [`stats::CallFacts`], [`stats::Outcome`], [`stats::StatsParams`],
//!   [`stats::Indicators`] and the grouping helpers [`stats::by_queue`],
//!   [`stats::by_agent`], [`stats::by_period`], [`stats::service_totals`].

pub mod stats;
