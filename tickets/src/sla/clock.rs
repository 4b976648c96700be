//! One ticket's SLA clock: its persisted state and its transitions.
//!
//! The clock keeps the list of intervals during which it ran (UTC instants),
//! never a running total. Everything else is derived from that list with the
//! policy's calendar: consumed business time, deadlines, at-risk instants.
//! Hence a pause is never counted, a policy change re-counts the same intervals
//! in the new calendar (waiting time is not lost), and a deadline is an instant
//! computed by the calendar (right across DST). A calendar change counts from
//! the instant it was made ([`CalendarHistory`]).

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::calendar_history::CalendarHistory;
use super::policy::{ClockStart, PauseReason, SlaPolicy, Target, TicketFacts};
use crate::priority::Priority;

/// Ticket identifier, as in the store.
pub type TicketId = i64;

/// Which deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// Time to take charge (creation → assignment).
    TakeCharge,
    /// Time to resolve (or to escalate, where the policy allows it).
    Resolve,
}

impl TargetKind {
    /// French label.
    pub fn label(self) -> &'static str {
        match self {
            TargetKind::TakeCharge => "délai de prise en charge",
            TargetKind::Resolve => "délai de résolution",
        }
    }
}

/// Where one target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TargetState {
    /// The policy sets no such target for this ticket.
    NotApplicable,
    /// Counting (or paused with the clock).
    Running {
        /// The at-risk warning was already raised.
        at_risk_sent: bool,
    },
    /// Met at `at` (resolution, assignment, or escalation in time).
    Met {
        /// When.
        at: DateTime<Utc>,
        /// Met by escalating within the allowed delay.
        by_escalation: bool,
    },
    /// Breached; `due` is the deadline that passed.
    Breached {
        /// The deadline.
        due: DateTime<Utc>,
    },
}

/// The verdict for indicators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaVerdict {
    /// Some target still counts.
    Running,
    /// Every target met.
    Met,
    /// At least one target breached.
    Breached,
    /// Excluded from indicators with a justification and an approver.
    Excluded,
}

/// A wait that stops the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Why.
    pub reason: PauseReason,
    /// Since when.
    pub since: DateTime<Utc>,
}

/// An accepted exclusion from indicators (CULTURE 886-899).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exclusion {
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// The external reason.
    pub justification: String,
    /// Who approved it (e.g. the ministry at the weekly committee).
    pub approver: String,
    /// Who recorded it.
    pub actor: String,
}

/// A ticket's clock, as persisted by the store (serde, JSON in practice).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaClock {
    /// Name of the policy it runs under.
    pub policy: String,
    /// Priority, nature and catalogue flag the targets are selected on.
    pub facts: TicketFacts,
    /// Ticket creation.
    pub created_at: DateTime<Utc>,
    /// Closed intervals during which the clock ran.
    pub segments: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// Start of the current running interval, if running.
    pub running_since: Option<DateTime<Utc>>,
    /// The current pause, if paused (or not started, when set at creation).
    pub hold: Option<Hold>,
    /// From when the resolution target counts: creation, first assignment,
    /// or the last automatic bump. `None` until it starts.
    pub resolve_from: Option<DateTime<Utc>>,
    /// First assignment.
    pub assigned_at: Option<DateTime<Utc>>,
    /// Last escalation.
    pub escalated_at: Option<DateTime<Utc>>,
    /// Last resolution.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Whether the ticket is currently resolved.
    pub resolved: bool,
    /// Times reopened.
    pub reopen_count: u32,
    /// Take-charge target.
    pub take_charge: TargetState,
    /// Resolution target.
    pub resolve: TargetState,
    /// Resolution limit set by a due-date change, in business seconds.
    pub resolve_limit_override_secs: Option<i64>,
    /// The priority before an automatic bump, once bumped.
    pub bumped_from: Option<Priority>,
    /// Exclusion from indicators, once excluded.
    pub exclusion: Option<Exclusion>,
    /// Latest instant seen; earlier inputs are treated as happening now.
    pub last_now: DateTime<Utc>,
}

/// Something that happens to a clock at a computed instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    AtRisk(TargetKind),
    Breach(TargetKind),
    Bump,
}

impl SlaClock {
    pub(crate) fn new(
        policy_name: &str,
        policy: &SlaPolicy,
        facts: TicketFacts,
        now: DateTime<Utc>,
        held_by: Option<PauseReason>,
    ) -> Self {
        let hold = held_by
            .filter(|r| policy.pauses_for(*r))
            .map(|reason| Hold { reason, since: now });
        let mut clock = SlaClock {
            policy: policy_name.to_owned(),
            facts,
            created_at: now,
            segments: Vec::new(),
            running_since: if hold.is_some() { None } else { Some(now) },
            hold,
            resolve_from: match policy.clock_starts {
                ClockStart::Creation => Some(now),
                ClockStart::Assignment => None,
            },
            assigned_at: None,
            escalated_at: None,
            resolved_at: None,
            resolved: false,
            reopen_count: 0,
            take_charge: TargetState::NotApplicable,
            resolve: TargetState::NotApplicable,
            resolve_limit_override_secs: None,
            bumped_from: None,
            exclusion: None,
            last_now: now,
        };
        clock.reselect(policy);
        clock
    }

    /// The verdict so far.
    pub fn verdict(&self) -> SlaVerdict {
        if self.exclusion.is_some() {
            return SlaVerdict::Excluded;
        }
        let states = [self.take_charge, self.resolve];
        if states
            .iter()
            .any(|s| matches!(s, TargetState::Breached { .. }))
        {
            SlaVerdict::Breached
        } else if states
            .iter()
            .any(|s| matches!(s, TargetState::Running { .. }))
        {
            SlaVerdict::Running
        } else {
            SlaVerdict::Met
        }
    }

    /// The target rule for the current facts.
    pub(crate) fn rule<'p>(&self, policy: &'p SlaPolicy) -> Option<&'p Target> {
        policy.target_for(&self.facts)
    }

    pub(crate) fn limit(&self, policy: &SlaPolicy, kind: TargetKind) -> Option<TimeDelta> {
        let rule = self.rule(policy);
        match kind {
            TargetKind::TakeCharge => rule.and_then(|r| r.take_charge),
            TargetKind::Resolve => self
                .resolve_limit_override_secs
                .map(TimeDelta::seconds)
                .or_else(|| rule.and_then(|r| r.resolve)),
        }
    }

    fn counted_from(&self, kind: TargetKind) -> Option<DateTime<Utc>> {
        match kind {
            TargetKind::TakeCharge => Some(self.created_at),
            TargetKind::Resolve => self.resolve_from,
        }
    }

    pub(crate) fn state(&self, kind: TargetKind) -> TargetState {
        match kind {
            TargetKind::TakeCharge => self.take_charge,
            TargetKind::Resolve => self.resolve,
        }
    }

    fn state_mut(&mut self, kind: TargetKind) -> &mut TargetState {
        match kind {
            TargetKind::TakeCharge => &mut self.take_charge,
            TargetKind::Resolve => &mut self.resolve,
        }
    }

    /// Running intervals, the current one ending at `now`, clipped to start
    /// at `from`.
    fn intervals(
        &self,
        from: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let current = self.running_since.map(|s| (s, now.max(s)));
        self.segments
            .iter()
            .copied()
            .chain(current)
            .filter_map(|(s, e)| {
                let s = s.max(from);
                (s < e).then_some((s, e))
            })
            .collect()
    }

    /// Business time the target `kind` has consumed at `now`.
    pub(crate) fn consumed(
        &self,
        cal: &CalendarHistory,
        kind: TargetKind,
        now: DateTime<Utc>,
    ) -> TimeDelta {
        let Some(from) = self.counted_from(kind) else {
            return TimeDelta::zero();
        };
        self.intervals(from, now)
            .into_iter()
            .map(|(s, e)| cal.business_duration(s, e))
            .sum()
    }

    /// The instant at which target `kind` will have consumed `amount` of
    /// business time (possibly in the past), or `None` while the clock is
    /// stopped short of it.
    pub(crate) fn instant_reaching(
        &self,
        cal: &CalendarHistory,
        kind: TargetKind,
        amount: TimeDelta,
    ) -> Option<DateTime<Utc>> {
        let from = self.counted_from(kind)?;
        let mut acc = TimeDelta::zero();
        for &(s, e) in &self.segments {
            let s = s.max(from);
            if s >= e {
                continue;
            }
            let d = cal.business_duration(s, e);
            if acc + d >= amount {
                return cal.add_business(s, amount - acc);
            }
            acc += d;
        }
        let s = self.running_since?.max(from);
        cal.add_business(s, amount - acc)
    }

    /// The deadline of target `kind`, if it can be computed now.
    pub(crate) fn deadline(
        &self,
        policy: &SlaPolicy,
        cal: &CalendarHistory,
        kind: TargetKind,
    ) -> Option<DateTime<Utc>> {
        let limit = self.limit(policy, kind)?;
        self.instant_reaching(cal, kind, limit)
    }

    fn at_risk_amount(&self, policy: &SlaPolicy, kind: TargetKind) -> Option<TimeDelta> {
        let limit = self.limit(policy, kind)?;
        let base = match (kind, self.rule(policy).and_then(|r| r.escalate_within)) {
            (TargetKind::Resolve, Some(e)) if self.escalated_at.is_none() => e.min(limit),
            _ => limit,
        };
        let ms = (base.num_milliseconds() as f64 * policy.at_risk).round() as i64;
        Some(TimeDelta::milliseconds(ms.max(1)))
    }

    /// The next computed event and its instant.
    pub(crate) fn next_due(
        &self,
        policy: &SlaPolicy,
        cal: &CalendarHistory,
    ) -> Option<(DateTime<Utc>, Due)> {
        if self.exclusion.is_some() {
            return None;
        }
        let mut best: Option<(DateTime<Utc>, Due)> = None;
        let mut consider = |at: Option<DateTime<Utc>>, due: Due| {
            if let Some(at) = at
                && best.is_none_or(|(b, _)| at < b)
            {
                best = Some((at, due));
            }
        };
        for kind in [TargetKind::TakeCharge, TargetKind::Resolve] {
            if let TargetState::Running { at_risk_sent } = self.state(kind) {
                if !at_risk_sent {
                    let amount = self.at_risk_amount(policy, kind);
                    consider(
                        amount.and_then(|a| self.instant_reaching(cal, kind, a)),
                        Due::AtRisk(kind),
                    );
                }
                consider(self.deadline(policy, cal, kind), Due::Breach(kind));
            }
        }
        if matches!(self.resolve, TargetState::Running { .. })
            && self.bumped_from.is_none()
            // A due date agreed with the user replaces the automatic bump.
            && self.resolve_limit_override_secs.is_none()
            && let Some((after, _)) = self.rule(policy).and_then(|r| r.bump)
        {
            consider(
                self.instant_reaching(cal, TargetKind::Resolve, after),
                Due::Bump,
            );
        }
        best
    }

    /// Re-selects which targets apply after the facts or the policy changed.
    pub(crate) fn reselect(&mut self, policy: &SlaPolicy) {
        let rule = self.rule(policy).cloned();
        let has_take_charge = rule.as_ref().is_some_and(|r| r.take_charge.is_some());
        let has_resolve = self.resolve_limit_override_secs.is_some()
            || rule.as_ref().is_some_and(|r| r.resolve.is_some());
        let take_charge_open = self.assigned_at.is_none() && !self.resolved;
        let resolve_open = !self.resolved;
        for (kind, has, open) in [
            (TargetKind::TakeCharge, has_take_charge, take_charge_open),
            (TargetKind::Resolve, has_resolve, resolve_open),
        ] {
            let state = self.state_mut(kind);
            match *state {
                TargetState::Running { .. } if !has => *state = TargetState::NotApplicable,
                TargetState::Running { .. } => {
                    *state = TargetState::Running {
                        at_risk_sent: false,
                    }
                }
                TargetState::NotApplicable if has && open => {
                    *state = TargetState::Running {
                        at_risk_sent: false,
                    }
                }
                _ => {}
            }
        }
    }

    /// Stops the current running interval at `now`.
    pub(crate) fn stop_running(&mut self, now: DateTime<Utc>) {
        if let Some(s) = self.running_since.take()
            && s < now
        {
            self.segments.push((s, now));
        }
    }

    /// The latest of `now` and every instant already seen.
    pub(crate) fn monotonic(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        if now > self.last_now {
            self.last_now = now;
        }
        self.last_now
    }
}
