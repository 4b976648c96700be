//! SLA core: business-hours clocks for tickets, sans-IO.
//!
//! One [`SlaEngine`] holds the clock of every open ticket and one timer
//! table. The switchboard (or the store's replay at start-up) feeds it
//! [`SlaInput`]s with an explicit `now` through [`SlaEngine::handle`], wakes
//! it at [`SlaEngine::poll_timeout`] with [`SlaEngine::handle_timeout`], and
//! drains [`SlaEvent`]s (at risk, breached, priority bumped, audit lines) with
//! [`SlaEngine::poll_event`]. A clock is persisted as [`SlaClock`] (serde)
//! via [`SlaEngine::export`] and put back with [`SlaEngine::restore`].
//!
//! Policies ([`SlaPolicySpec`], serde) say which targets apply (per
//! priority, nature, out-of-catalogue flag), in business time of a named
//! [`guichet_calendar::Calendar`]; whether the resolution clock starts at
//! creation or assignment; which waits pause it; the at-risk threshold;
//! whether due-date and priority changes are allowed; and automatic closure
//! ([`auto_close_at`]). Ready-made: [`SlaPolicySpec::louvre`] and
//! [`SlaPolicySpec::culture_service_desk`]. Definitions: `docs/sla.md`.

mod autoclose;
mod calendar_history;
mod clock;
mod engine;
mod policy;
#[cfg(test)]
mod tests;

pub use autoclose::auto_close_at;
pub use calendar_history::CalendarHistory;
pub use clock::{Exclusion, Hold, SlaClock, SlaVerdict, TargetKind, TargetState, TicketId};
pub use engine::{
    ENGINE_ACTOR, SlaAudit, SlaEngine, SlaError, SlaEvent, SlaInput, SlaStatus, TargetStatus,
};
pub use policy::{
    AutoCloseSpec, ClockStart, DayCounting, Nature, PauseReason, SlaConfigError, SlaConfigSpec,
    SlaPolicy, SlaPolicySpec, Target, TargetSpec, TicketFacts, parse_duration,
};
