//! The SLA engine: every open ticket's clock, one timer table, inputs in,
//! events out. Sans-IO: `now` is always passed in.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use guichet_calendar::Calendar;
use serde::{Deserialize, Serialize};

use super::autoclose::auto_close_with_history;
use super::calendar_history::CalendarHistory;
use super::clock::{Due, Exclusion, Hold, SlaClock, SlaVerdict, TargetKind, TargetState, TicketId};
use super::policy::{
    ClockStart, PauseReason, SlaConfigError, SlaConfigSpec, SlaPolicy, SlaPolicySpec, TicketFacts,
};
use crate::priority::Priority;

/// The actor recorded for what the engine does by itself.
pub const ENGINE_ACTOR: &str = "sla";

/// What happened to a ticket, with the instant it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlaInput {
    /// The ticket was created. `held_by`: a condition under which the clock
    /// does not start (LOUVRE-IT 532-544), until [`SlaInput::Resumed`].
    Created {
        /// Policy name.
        policy: String,
        /// Priority, nature, catalogue flag.
        facts: TicketFacts,
        /// Does-not-start condition, if any.
        held_by: Option<PauseReason>,
    },
    /// First (or further) assignment to a group or person: takes charge, and
    /// starts the resolution clock under a `clock_starts = "assignment"` policy.
    Assigned,
    /// The ticket waits; the clock pauses if the policy pauses for `reason`.
    Paused {
        /// Why.
        reason: PauseReason,
    },
    /// The wait is over (or the does-not-start condition is lifted).
    Resumed,
    /// Escalated to another support group.
    Escalated,
    /// Resolved.
    Resolved,
    /// Reopened after resolution.
    Reopened,
    /// The ticket moves to another policy; the time already run is kept.
    PolicyChanged {
        /// New policy name.
        policy: String,
    },
    /// Priority (severity) changed by a person, with a reason.
    PriorityChanged {
        /// New priority.
        priority: Priority,
        /// Reason validated with the user.
        reason: String,
    },
    /// Due date moved by a person, with a reason (CULTURE 901-909).
    DueDateChanged {
        /// New resolution deadline.
        due: DateTime<Utc>,
        /// Reason validated with the user.
        reason: String,
    },
    /// Excluded from indicators (CULTURE 886-899).
    Excluded {
        /// The external reason.
        justification: String,
        /// Who accepted it.
        approver: String,
    },
}

impl SlaInput {
    fn name(&self) -> &'static str {
        match self {
            SlaInput::Created { .. } => "created",
            SlaInput::Assigned => "assigned",
            SlaInput::Paused { .. } => "paused",
            SlaInput::Resumed => "resumed",
            SlaInput::Escalated => "escalated",
            SlaInput::Resolved => "resolved",
            SlaInput::Reopened => "reopened",
            SlaInput::PolicyChanged { .. } => "policy_changed",
            SlaInput::PriorityChanged { .. } => "priority_changed",
            SlaInput::DueDateChanged { .. } => "due_date_changed",
            SlaInput::Excluded { .. } => "excluded",
        }
    }
}

/// One line for the ticket's audit trail (same shape as the store's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaAudit {
    /// Ticket.
    pub ticket: TicketId,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (`sla` for the engine itself).
    pub actor: String,
    /// What changed: `sla_policy`, `sla_pause`, `priority`, `due_date`, `sla_exclusion`.
    pub field: String,
    /// Old value.
    pub old_value: Option<String>,
    /// New value.
    pub new_value: Option<String>,
    /// Reason given (or the engine's explanation, in French).
    pub reason: Option<String>,
}

/// What the engine tells the switchboard and the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlaEvent {
    /// A target passed its at-risk threshold.
    AtRisk {
        /// Ticket.
        ticket: TicketId,
        /// Which target.
        target: TargetKind,
        /// When the threshold was crossed.
        at: DateTime<Utc>,
        /// The deadline it is at risk of missing.
        due: Option<DateTime<Utc>>,
    },
    /// A target's deadline passed.
    Breached {
        /// Ticket.
        ticket: TicketId,
        /// Which target.
        target: TargetKind,
        /// The deadline.
        due: DateTime<Utc>,
    },
    /// Automatic priority bump (LOUVRE-IT 562).
    PriorityBumped {
        /// Ticket.
        ticket: TicketId,
        /// Before.
        from: Priority,
        /// After.
        to: Priority,
        /// When.
        at: DateTime<Utc>,
    },
    /// A line for the audit trail.
    Audit(SlaAudit),
}

/// Why an input was refused. Messages are in French: agents read them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SlaError {
    /// No clock for this ticket.
    #[error("aucun suivi de délai pour le ticket {0}")]
    UnknownTicket(TicketId),
    /// A clock already exists.
    #[error("le ticket {0} a déjà un suivi de délai")]
    AlreadyTracked(TicketId),
    /// Unknown policy name.
    #[error("politique de délai inconnue : {0}")]
    UnknownPolicy(String),
    /// A reason (or justification, or approver) is required.
    #[error("{0} est obligatoire")]
    Required(&'static str),
    /// The policy forbids this change.
    #[error("la politique {policy} n'autorise pas {what}")]
    NotAllowed {
        /// Policy.
        policy: String,
        /// What was attempted.
        what: &'static str,
    },
    /// The input makes no sense in the clock's state.
    #[error("action {input} impossible : le ticket est {state}")]
    InvalidState {
        /// The input.
        input: &'static str,
        /// The state, in French.
        state: &'static str,
    },
    /// The new due date leaves no business time.
    #[error("la nouvelle échéance doit laisser du temps ouvré après maintenant")]
    DueDateTooEarly,
}

/// One target's figures at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetStatus {
    /// State.
    pub state: TargetState,
    /// The limit in business time.
    pub limit: TimeDelta,
    /// Business time consumed so far.
    pub consumed: TimeDelta,
    /// Deadline, when the clock runs (or passed).
    pub due: Option<DateTime<Utc>>,
}

/// A ticket's SLA figures at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaStatus {
    /// Policy name.
    pub policy: String,
    /// Current priority.
    pub priority: Priority,
    /// Current pause, if any.
    pub paused: Option<PauseReason>,
    /// Verdict so far.
    pub verdict: SlaVerdict,
    /// Take-charge target, if the policy sets one.
    pub take_charge: Option<TargetStatus>,
    /// Resolution target, if the policy sets one.
    pub resolve: Option<TargetStatus>,
}

/// Every tracked ticket's clock, with one timer table.
#[derive(Debug, Clone)]
pub struct SlaEngine {
    policies: BTreeMap<String, SlaPolicy>,
    calendars: BTreeMap<String, CalendarHistory>,
    clocks: HashMap<TicketId, SlaClock>,
    timers: BTreeSet<(DateTime<Utc>, TicketId)>,
    scheduled: HashMap<TicketId, DateTime<Utc>>,
    events: VecDeque<SlaEvent>,
}

impl SlaEngine {
    /// Validates the policies of an `[sla]`-style section against the named
    /// calendars; error fields read `policies.NAME.…`.
    pub fn new(
        config: &SlaConfigSpec,
        calendars: BTreeMap<String, Calendar>,
    ) -> Result<Self, SlaConfigError> {
        Self::build(&config.policies, "policies.", calendars)
    }

    /// Validates a bare map of policies (the binary's `[sla_policies]`)
    /// against the named calendars; error fields read `NAME.…`, e.g.
    /// `louvre.targets[1].resolve`.
    pub fn from_policies(
        policies: &BTreeMap<String, SlaPolicySpec>,
        calendars: BTreeMap<String, Calendar>,
    ) -> Result<Self, SlaConfigError> {
        Self::build(policies, "", calendars)
    }

    fn build(
        specs: &BTreeMap<String, SlaPolicySpec>,
        prefix: &str,
        calendars: BTreeMap<String, Calendar>,
    ) -> Result<Self, SlaConfigError> {
        let mut policies = BTreeMap::new();
        for (name, spec) in specs {
            let path = format!("{prefix}{name}");
            let policy = SlaPolicy::new(&path, spec)?;
            if !calendars.contains_key(&policy.calendar) {
                return Err(SlaConfigError {
                    field: format!("{path}.calendar"),
                    reason: format!("no calendar named {:?}", policy.calendar),
                });
            }
            policies.insert(name.clone(), policy);
        }
        Ok(SlaEngine {
            policies,
            calendars: calendars
                .into_iter()
                .map(|(name, calendar)| (name, CalendarHistory::new(calendar)))
                .collect(),
            clocks: HashMap::new(),
            timers: BTreeSet::new(),
            scheduled: HashMap::new(),
            events: VecDeque::new(),
        })
    }

    /// The validated policy named `name`.
    pub fn policy(&self, name: &str) -> Option<&SlaPolicy> {
        self.policies.get(name)
    }

    /// Applies `input` to `ticket` at `now`. Deadlines that fell before `now`
    /// fire first, at their own instants.
    pub fn handle(
        &mut self,
        ticket: TicketId,
        now: DateTime<Utc>,
        actor: &str,
        input: SlaInput,
    ) -> Result<(), SlaError> {
        if let SlaInput::Created {
            policy,
            facts,
            held_by,
        } = input
        {
            if self.clocks.contains_key(&ticket) {
                return Err(SlaError::AlreadyTracked(ticket));
            }
            let p = self
                .policies
                .get(&policy)
                .ok_or_else(|| SlaError::UnknownPolicy(policy.clone()))?;
            let clock = SlaClock::new(&policy, p, facts, now, held_by);
            let mut audit = |field: &str, new: String, reason: Option<String>| {
                self.events.push_back(SlaEvent::Audit(SlaAudit {
                    ticket,
                    at: now,
                    actor: actor.to_owned(),
                    field: field.to_owned(),
                    old_value: None,
                    new_value: Some(new),
                    reason,
                }));
            };
            audit("sla_policy", policy.clone(), None);
            if let Some(reason) = held_by {
                let r = if clock.hold.is_some() {
                    "le délai ne démarre pas tant que cette condition dure"
                } else {
                    "motif sans effet sur le délai selon la politique"
                };
                audit("sla_pause", reason.label().to_owned(), Some(r.to_owned()));
            }
            self.clocks.insert(ticket, clock);
            self.reschedule(ticket);
            return Ok(());
        }
        let name = input.name();
        let mut clock = self
            .clocks
            .remove(&ticket)
            .ok_or(SlaError::UnknownTicket(ticket))?;
        let now = clock.monotonic(now);
        let result = self
            .advance(ticket, &mut clock, now)
            .and_then(|()| self.apply(ticket, &mut clock, now, actor, input));
        if result.is_err() {
            tracing::debug!(ticket, input = name, "SLA input refused");
        }
        self.clocks.insert(ticket, clock);
        self.reschedule(ticket);
        result
    }

    /// When the engine next needs [`handle_timeout`](Self::handle_timeout).
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        self.timers.first().map(|(at, _)| *at)
    }

    /// Fires every at-risk, breach and bump due at or before `now`.
    pub fn handle_timeout(&mut self, now: DateTime<Utc>) {
        while let Some(&(at, ticket)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, ticket));
            self.scheduled.remove(&ticket);
            if let Some(mut clock) = self.clocks.remove(&ticket) {
                let now = clock.monotonic(now);
                if let Err(e) = self.advance(ticket, &mut clock, now) {
                    tracing::warn!(ticket, error = %e, "SLA clock could not advance");
                }
                self.clocks.insert(ticket, clock);
                self.reschedule(ticket);
            }
        }
    }

    /// The next event to deliver.
    pub fn poll_event(&mut self) -> Option<SlaEvent> {
        self.events.pop_front()
    }

    /// The ticket's verdict so far.
    pub fn verdict(&self, ticket: TicketId) -> Option<SlaVerdict> {
        self.clocks.get(&ticket).map(SlaClock::verdict)
    }

    /// The ticket's figures at `now`.
    pub fn status(&self, ticket: TicketId, now: DateTime<Utc>) -> Option<SlaStatus> {
        let clock = self.clocks.get(&ticket)?;
        let (policy, cal) = self.policy_and_calendar(&clock.policy).ok()?;
        let now = now.max(clock.last_now);
        let target = |kind: TargetKind| {
            let limit = clock.limit(policy, kind)?;
            let state = clock.state(kind);
            if state == TargetState::NotApplicable {
                return None;
            }
            Some(TargetStatus {
                state,
                limit,
                consumed: clock.consumed(cal, kind, now),
                due: clock.deadline(policy, cal, kind),
            })
        };
        Some(SlaStatus {
            policy: clock.policy.clone(),
            priority: clock.facts.priority,
            paused: clock.hold.map(|h| h.reason),
            verdict: clock.verdict(),
            take_charge: target(TargetKind::TakeCharge),
            resolve: target(TargetKind::Resolve),
        })
    }

    /// The ticket's clock, for the store to persist (serde).
    pub fn export(&self, ticket: TicketId) -> Option<&SlaClock> {
        self.clocks.get(&ticket)
    }

    /// Puts back a persisted clock (after a restart), then fires what fell
    /// due while it was away, at the instants it fell due.
    pub fn restore(
        &mut self,
        ticket: TicketId,
        clock: SlaClock,
        now: DateTime<Utc>,
    ) -> Result<(), SlaError> {
        if self.clocks.contains_key(&ticket) {
            return Err(SlaError::AlreadyTracked(ticket));
        }
        if !self.policies.contains_key(&clock.policy) {
            return Err(SlaError::UnknownPolicy(clock.policy.clone()));
        }
        let mut clock = clock;
        let now = clock.monotonic(now);
        let result = self.advance(ticket, &mut clock, now);
        self.clocks.insert(ticket, clock);
        self.reschedule(ticket);
        result
    }

    /// Stops tracking `ticket` (closed), returning its final clock.
    pub fn forget(&mut self, ticket: TicketId) -> Option<SlaClock> {
        if let Some(at) = self.scheduled.remove(&ticket) {
            self.timers.remove(&(at, ticket));
        }
        self.clocks.remove(&ticket)
    }

    /// When a ticket resolved at `resolved_at` under `policy` closes by
    /// itself (CULTURE 911-916).
    pub fn auto_close_at(&self, policy: &str, resolved_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (p, cal) = self.policy_and_calendar(policy).ok()?;
        auto_close_with_history(
            resolved_at,
            p.auto_close.after_days,
            p.auto_close.counting,
            cal,
        )
    }

    /// Adds the policy `name` (an administrator's new version of a grid), validated against
    /// the engine's calendars. Clocks keep the policy they started under: a new version is
    /// a new name, and only tickets created afterwards are given it.
    pub fn add_policy(&mut self, name: &str, spec: &SlaPolicySpec) -> Result<(), SlaConfigError> {
        let policy = SlaPolicy::new(name, spec)?;
        if !self.calendars.contains_key(&policy.calendar) {
            return Err(SlaConfigError {
                field: format!("{name}.calendar"),
                reason: format!("no calendar named {:?}", policy.calendar),
            });
        }
        self.policies.insert(name.to_owned(), policy);
        Ok(())
    }

    /// Makes `calendar` the calendar `name` from `effective_from` on (weekly hours or
    /// exceptional days changed by an administrator at that instant) and re-plans the
    /// deadline of every clock counted in it. Business time before `effective_from` stays
    /// counted with the calendar that was in force then; from it on, the new one applies: a
    /// closure added for a later day stops the clocks that day, a closure added for today
    /// stops them from now, and the morning already run stays counted. Unknown names are
    /// added (no policy uses them yet).
    pub fn set_calendar(&mut self, name: &str, calendar: Calendar, effective_from: DateTime<Utc>) {
        match self.calendars.get_mut(name) {
            Some(history) => history.change(effective_from, calendar),
            None => {
                self.calendars
                    .insert(name.to_owned(), CalendarHistory::new(calendar));
            }
        }
        self.replan_calendar(name);
    }

    /// Replaces the whole history of calendar `name` (rebuilt from the stored changes, e.g.
    /// by another node's change or at start) and re-plans every clock counted in it.
    pub fn set_calendar_history(&mut self, name: &str, history: CalendarHistory) {
        self.calendars.insert(name.to_owned(), history);
        self.replan_calendar(name);
    }

    /// The versions of calendar `name`.
    pub fn calendar_history(&self, name: &str) -> Option<&CalendarHistory> {
        self.calendars.get(name)
    }

    fn replan_calendar(&mut self, name: &str) {
        let affected: Vec<TicketId> = self
            .clocks
            .iter()
            .filter(|(_, clock)| {
                self.policies
                    .get(&clock.policy)
                    .is_some_and(|p| p.calendar == name)
            })
            .map(|(id, _)| *id)
            .collect();
        for ticket in affected {
            self.reschedule(ticket);
        }
    }

    /// Number of tracked tickets.
    pub fn len(&self) -> usize {
        self.clocks.len()
    }

    /// Whether no ticket is tracked.
    pub fn is_empty(&self) -> bool {
        self.clocks.is_empty()
    }

    fn policy_and_calendar(&self, name: &str) -> Result<(&SlaPolicy, &CalendarHistory), SlaError> {
        lookup(&self.policies, &self.calendars, name)
    }

    fn reschedule(&mut self, ticket: TicketId) {
        if let Some(at) = self.scheduled.remove(&ticket) {
            self.timers.remove(&(at, ticket));
        }
        let Some(clock) = self.clocks.get(&ticket) else {
            return;
        };
        let Ok((policy, cal)) = self.policy_and_calendar(&clock.policy) else {
            return;
        };
        if let Some((at, _)) = clock.next_due(policy, cal) {
            self.timers.insert((at, ticket));
            self.scheduled.insert(ticket, at);
        }
    }

    fn advance(
        &mut self,
        ticket: TicketId,
        clock: &mut SlaClock,
        now: DateTime<Utc>,
    ) -> Result<(), SlaError> {
        advance(
            &self.policies,
            &self.calendars,
            &mut self.events,
            ticket,
            clock,
            now,
        )
    }

    fn apply(
        &mut self,
        ticket: TicketId,
        clock: &mut SlaClock,
        now: DateTime<Utc>,
        actor: &str,
        input: SlaInput,
    ) -> Result<(), SlaError> {
        let mut audits: Vec<AuditLine> = Vec::new();
        let closed_state = if clock.exclusion.is_some() {
            Some("exclu des indicateurs")
        } else if clock.resolved {
            Some("résolu")
        } else {
            None
        };
        match input {
            SlaInput::Created { .. } => return Err(SlaError::AlreadyTracked(ticket)),
            SlaInput::Assigned => {
                if let Some(state) = closed_state {
                    return Err(SlaError::InvalidState {
                        input: "assigned",
                        state,
                    });
                }
                let policy = self.policy_and_calendar(&clock.policy)?.0;
                if clock.assigned_at.is_none() {
                    clock.assigned_at = Some(now);
                    if let TargetState::Running { .. } = clock.take_charge {
                        clock.take_charge = TargetState::Met {
                            at: now,
                            by_escalation: false,
                        };
                    }
                }
                if policy.clock_starts == ClockStart::Assignment && clock.resolve_from.is_none() {
                    clock.resolve_from = Some(now);
                }
            }
            SlaInput::Paused { reason } => {
                if let Some(state) = closed_state {
                    return Err(SlaError::InvalidState {
                        input: "paused",
                        state,
                    });
                }
                let policy = self.policy_and_calendar(&clock.policy)?.0;
                if policy.pauses_for(reason) {
                    let old = clock.hold.map(|h| h.reason.label().to_owned());
                    clock.stop_running(now);
                    let since = clock.hold.map_or(now, |h| h.since);
                    clock.hold = Some(Hold { reason, since });
                    audits.push((
                        "sla_pause",
                        old,
                        Some(reason.label().to_owned()),
                        Some("délai suspendu".to_owned()),
                    ));
                } else {
                    audits.push((
                        "sla_pause",
                        None,
                        Some(reason.label().to_owned()),
                        Some("motif sans effet sur le délai selon la politique".to_owned()),
                    ));
                }
            }
            SlaInput::Resumed => {
                if let Some(state) = closed_state {
                    return Err(SlaError::InvalidState {
                        input: "resumed",
                        state,
                    });
                }
                if let Some(hold) = clock.hold.take() {
                    clock.running_since = Some(now);
                    audits.push((
                        "sla_pause",
                        Some(hold.reason.label().to_owned()),
                        None,
                        Some("délai repris".to_owned()),
                    ));
                }
            }
            SlaInput::Escalated => {
                if let Some(state) = closed_state {
                    return Err(SlaError::InvalidState {
                        input: "escalated",
                        state,
                    });
                }
                let (policy, cal) = self.policy_and_calendar(&clock.policy)?;
                let within = clock.rule(policy).and_then(|r| r.escalate_within);
                if let (Some(within), TargetState::Running { .. }) = (within, clock.resolve)
                    && clock.consumed(cal, TargetKind::Resolve, now) <= within
                {
                    clock.resolve = TargetState::Met {
                        at: now,
                        by_escalation: true,
                    };
                }
                clock.escalated_at = Some(now);
            }
            SlaInput::Resolved => {
                if let Some(state) = closed_state {
                    return Err(SlaError::InvalidState {
                        input: "resolved",
                        state,
                    });
                }
                clock.stop_running(now);
                clock.hold = None;
                clock.resolved = true;
                clock.resolved_at = Some(now);
                for kind in [TargetKind::TakeCharge, TargetKind::Resolve] {
                    if let TargetState::Running { .. } = clock.state(kind) {
                        set_state(
                            clock,
                            kind,
                            TargetState::Met {
                                at: now,
                                by_escalation: false,
                            },
                        );
                    }
                }
            }
            SlaInput::Reopened => {
                if clock.exclusion.is_some() || !clock.resolved {
                    return Err(SlaError::InvalidState {
                        input: "reopened",
                        state: closed_state.unwrap_or("ouvert"),
                    });
                }
                clock.resolved = false;
                clock.reopen_count += 1;
                clock.running_since = Some(now);
                if let TargetState::Met { .. } = clock.resolve {
                    clock.resolve = TargetState::Running {
                        at_risk_sent: false,
                    };
                }
                let policy = self.policy_and_calendar(&clock.policy)?.0;
                clock.reselect(policy);
                audits.push((
                    "sla_reopen",
                    None,
                    Some(clock.reopen_count.to_string()),
                    Some("délai de résolution repris".to_owned()),
                ));
            }
            SlaInput::PolicyChanged { policy: name } => {
                if let Some(state) = closed_state {
                    return Err(SlaError::InvalidState {
                        input: "policy_changed",
                        state,
                    });
                }
                let new = self
                    .policies
                    .get(&name)
                    .ok_or_else(|| SlaError::UnknownPolicy(name.clone()))?;
                let old = std::mem::replace(&mut clock.policy, name.clone());
                if new.clock_starts == ClockStart::Creation && clock.resolve_from.is_none() {
                    clock.resolve_from = Some(clock.created_at);
                }
                if let Some(hold) = clock.hold
                    && !new.pauses_for(hold.reason)
                {
                    clock.hold = None;
                    clock.running_since = Some(now);
                }
                clock.reselect(new);
                audits.push(("sla_policy", Some(old), Some(name), None));
            }
            SlaInput::PriorityChanged { priority, reason } => {
                if let Some(state) = closed_state {
                    return Err(SlaError::InvalidState {
                        input: "priority_changed",
                        state,
                    });
                }
                let policy = self.policy_and_calendar(&clock.policy)?.0;
                if !policy.allow_priority_changes {
                    return Err(SlaError::NotAllowed {
                        policy: clock.policy.clone(),
                        what: "le changement de priorité",
                    });
                }
                let reason = required(reason, "le motif du changement de priorité")?;
                let old = clock.facts.priority;
                clock.facts.priority = priority;
                clock.reselect(policy);
                audits.push((
                    "priority",
                    Some(old.code().to_owned()),
                    Some(priority.code().to_owned()),
                    Some(reason),
                ));
            }
            SlaInput::DueDateChanged { due, reason } => {
                if let Some(state) = closed_state {
                    return Err(SlaError::InvalidState {
                        input: "due_date_changed",
                        state,
                    });
                }
                let (policy, cal) = self.policy_and_calendar(&clock.policy)?;
                if !policy.allow_due_date_changes {
                    return Err(SlaError::NotAllowed {
                        policy: clock.policy.clone(),
                        what: "le changement d'échéance",
                    });
                }
                let reason = required(reason, "le motif du changement d'échéance")?;
                if !matches!(clock.resolve, TargetState::Running { .. }) {
                    return Err(SlaError::InvalidState {
                        input: "due_date_changed",
                        state: "sans délai de résolution en cours",
                    });
                }
                let ahead = cal.business_duration(now, due);
                if ahead <= TimeDelta::zero() {
                    return Err(SlaError::DueDateTooEarly);
                }
                let old = clock.deadline(policy, cal, TargetKind::Resolve);
                let limit = clock.consumed(cal, TargetKind::Resolve, now) + ahead;
                clock.resolve_limit_override_secs = Some(limit.num_seconds());
                clock.resolve = TargetState::Running {
                    at_risk_sent: false,
                };
                let new = clock.deadline(policy, cal, TargetKind::Resolve);
                audits.push((
                    "due_date",
                    old.map(|t| t.to_rfc3339()),
                    new.map(|t| t.to_rfc3339()),
                    Some(reason),
                ));
            }
            SlaInput::Excluded {
                justification,
                approver,
            } => {
                if clock.exclusion.is_some() {
                    return Err(SlaError::InvalidState {
                        input: "excluded",
                        state: "exclu des indicateurs",
                    });
                }
                let justification = required(justification, "la justification")?;
                let approver = required(approver, "le nom de la personne qui valide l'exclusion")?;
                clock.stop_running(now);
                clock.hold = None;
                audits.push((
                    "sla_exclusion",
                    None,
                    Some(format!("validée par {approver}")),
                    Some(justification.clone()),
                ));
                clock.exclusion = Some(Exclusion {
                    at: now,
                    justification,
                    approver,
                    actor: actor.to_owned(),
                });
            }
        }
        for (field, old_value, new_value, reason) in audits {
            self.events.push_back(SlaEvent::Audit(SlaAudit {
                ticket,
                at: now,
                actor: actor.to_owned(),
                field: field.to_owned(),
                old_value,
                new_value,
                reason,
            }));
        }
        // A change may put a deadline in the past (e.g. a shorter target):
        // settle it now rather than at the next timeout.
        self.advance(ticket, clock, now)
    }
}

/// Field, old value, new value, reason.
type AuditLine = (&'static str, Option<String>, Option<String>, Option<String>);

fn set_state(clock: &mut SlaClock, kind: TargetKind, state: TargetState) {
    match kind {
        TargetKind::TakeCharge => clock.take_charge = state,
        TargetKind::Resolve => clock.resolve = state,
    }
}

fn required(text: String, what: &'static str) -> Result<String, SlaError> {
    let t = text.trim();
    if t.is_empty() {
        Err(SlaError::Required(what))
    } else {
        Ok(t.to_owned())
    }
}

/// Fires, in order, everything due at or before `now`.
fn advance(
    policies: &BTreeMap<String, SlaPolicy>,
    calendars: &BTreeMap<String, CalendarHistory>,
    events: &mut VecDeque<SlaEvent>,
    ticket: TicketId,
    clock: &mut SlaClock,
    now: DateTime<Utc>,
) -> Result<(), SlaError> {
    let (policy, cal) = lookup(policies, calendars, &clock.policy)?;
    // Each step settles one target state or the bump, so a few suffice;
    // the bound only guards against a logic error looping forever.
    for _ in 0..16 {
        let Some((at, due)) = clock.next_due(policy, cal) else {
            break;
        };
        if at > now {
            break;
        }
        match due {
            Due::AtRisk(kind) => {
                if let TargetState::Running { .. } = clock.state(kind) {
                    set_state(clock, kind, TargetState::Running { at_risk_sent: true });
                }
                tracing::debug!(ticket, ?kind, %at, "SLA target at risk");
                events.push_back(SlaEvent::AtRisk {
                    ticket,
                    target: kind,
                    at,
                    due: clock.deadline(policy, cal, kind),
                });
            }
            Due::Breach(kind) => {
                set_state(clock, kind, TargetState::Breached { due: at });
                tracing::debug!(ticket, ?kind, %at, "SLA target breached");
                events.push_back(SlaEvent::Breached {
                    ticket,
                    target: kind,
                    due: at,
                });
            }
            Due::Bump => {
                let from = clock.facts.priority;
                let to = match clock.rule(policy).and_then(|r| r.bump) {
                    Some((_, to)) => to,
                    None => break,
                };
                clock.facts.priority = to;
                clock.bumped_from = Some(from);
                clock.resolve_from = Some(at);
                clock.resolve_limit_override_secs = None;
                clock.reselect(policy);
                events.push_back(SlaEvent::PriorityBumped {
                    ticket,
                    from,
                    to,
                    at,
                });
                events.push_back(SlaEvent::Audit(SlaAudit {
                    ticket,
                    at,
                    actor: ENGINE_ACTOR.to_owned(),
                    field: "priority".to_owned(),
                    old_value: Some(from.code().to_owned()),
                    new_value: Some(to.code().to_owned()),
                    reason: Some(
                        "relèvement automatique : non traité dans le délai prévu".to_owned(),
                    ),
                }));
            }
        }
    }
    Ok(())
}

fn lookup<'a>(
    policies: &'a BTreeMap<String, SlaPolicy>,
    calendars: &'a BTreeMap<String, CalendarHistory>,
    name: &str,
) -> Result<(&'a SlaPolicy, &'a CalendarHistory), SlaError> {
    let policy = policies
        .get(name)
        .ok_or_else(|| SlaError::UnknownPolicy(name.to_owned()))?;
    // Checked in `SlaEngine::new`: every policy's calendar exists.
    let cal = calendars
        .get(&policy.calendar)
        .ok_or_else(|| SlaError::UnknownPolicy(name.to_owned()))?;
    Ok((policy, cal))
}
