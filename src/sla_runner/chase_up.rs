//! The 24 h chase-up cycle of P0/P1 tickets (CULTURE 2258-2261): every open
//! P0 or P1 ticket is chased up at least every 24 hours, whatever group
//! holds it. A chase-up is a `chase_up` audit row: an agent's (a chase-up
//! note) or, when none came for 24 hours, the runner's own (actor `sla`).
//! This keeps, per urgent open ticket, the instant of its last chase-up
//! (or of the moment it became urgent), and says which cycles fell due.

use chrono::{DateTime, TimeDelta, Utc};
use guichet_tickets::sla::ENGINE_ACTOR;
use guichet_tickets::ticket::{AuditEntry, Priority, TicketStatus};
use std::collections::HashMap;

/// Audit field of a chase-up (the chase-up note's kind).
pub const CHASE_FIELD: &str = "chase_up";

/// The longest a P0/P1 ticket goes without a chase-up.
pub const CHASE_UP_EVERY: TimeDelta = TimeDelta::hours(24);

/// Whether tickets of this priority are chased up every 24 h.
pub fn chased(priority: Priority) -> bool {
    matches!(priority, Priority::P0 | Priority::P1)
}

/// Per urgent open ticket, the instant its current 24 h cycle started.
#[derive(Debug, Default)]
pub struct ChaseCycle {
    since: HashMap<i64, DateTime<Utc>>,
}

impl ChaseCycle {
    /// Starts (or keeps) the cycle of a ticket seen open with `priority`
    /// at `at`; an open ticket no longer P0/P1 leaves the cycle.
    pub fn track(&mut self, ticket: i64, priority: Priority, at: DateTime<Utc>) {
        if chased(priority) {
            self.since.entry(ticket).or_insert(at);
        } else {
            self.since.remove(&ticket);
        }
    }

    /// Follows one audit row of a tracked ticket (`priority`: the ticket's
    /// priority after it): a chase-up restarts the cycle, resolution or
    /// closure ends it, a reopening or a rise to P0/P1 starts it.
    pub fn observe(&mut self, ticket: i64, entry: &AuditEntry, priority: Priority) {
        if entry.field == CHASE_FIELD {
            // Rows may be read again after a restart: never move a cycle back.
            if chased(priority) {
                let since = self.since.entry(ticket).or_insert(entry.at);
                *since = (*since).max(entry.at);
            }
            return;
        }
        let ends = entry.field == "status"
            && entry.new_value.as_deref().is_some_and(|v| {
                v == TicketStatus::Resolved.as_str() || v == TicketStatus::Closed.as_str()
            });
        if ends {
            self.since.remove(&ticket);
        } else {
            self.track(ticket, priority, entry.at);
        }
    }

    /// Forgets a ticket (closed, or its clock dropped).
    pub fn forget(&mut self, ticket: i64) {
        self.since.remove(&ticket);
    }

    /// The chase-ups due by `now`, one per elapsed 24 h cycle, oldest first
    /// per ticket; each restarts its ticket's cycle at its own instant.
    pub fn take_due(&mut self, now: DateTime<Utc>) -> Vec<(i64, DateTime<Utc>)> {
        let mut due = Vec::new();
        for (ticket, since) in &mut self.since {
            while *since + CHASE_UP_EVERY <= now {
                *since += CHASE_UP_EVERY;
                due.push((*ticket, *since));
            }
        }
        due.sort();
        due
    }

    /// The next instant a chase-up falls due, if any ticket is in the cycle.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.since.values().min().map(|s| *s + CHASE_UP_EVERY)
    }
}

/// The ticket form's sentence about a ticket's chase-ups (agents' and
/// automatic), in French, times in Paris; `None` when it has had none.
pub fn chase_summary(trail: &[AuditEntry]) -> Option<String> {
    let chases: Vec<&AuditEntry> = trail.iter().filter(|a| a.field == CHASE_FIELD).collect();
    let last = chases.iter().map(|a| a.at).max()?;
    let automatic = chases.iter().filter(|a| a.actor == ENGINE_ACTOR).count();
    Some(format!(
        "Relances : {} (dont {automatic} automatique{}), la dernière le {}.",
        chases.len(),
        if automatic > 1 { "s" } else { "" },
        last.with_timezone(&chrono_tz::Europe::Paris)
            .format("%d/%m/%Y à %H:%M")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 18, 0, 0, 0)
            .single()
            .expect("instant")
            + TimeDelta::hours(h)
    }

    fn row(field: &str, new: Option<&str>, h: i64) -> AuditEntry {
        AuditEntry {
            at: at(h),
            actor: "agent1".into(),
            field: field.into(),
            old_value: None,
            new_value: new.map(str::to_owned),
            reason: None,
        }
    }

    #[test]
    fn the_form_counts_agents_and_automatic_chase_ups() {
        assert_eq!(chase_summary(&[row("status", Some("assigned"), 1)]), None);
        let mut automatic = row("chase_up", None, 24);
        automatic.actor = ENGINE_ACTOR.into();
        let trail = [automatic, row("chase_up", None, 36)];
        assert_eq!(
            chase_summary(&trail).as_deref(),
            Some("Relances : 2 (dont 1 automatique), la dernière le 19/05/2026 à 14:00.")
        );
    }

    #[test]
    fn the_chase_field_is_the_chase_up_note_kind() {
        assert_eq!(
            CHASE_FIELD,
            guichet_tickets::ticket::NoteKind::ChaseUp.as_str()
        );
    }

    #[test]
    fn p1_is_chased_every_24_hours_and_an_agents_chase_up_restarts_the_cycle() {
        let mut cycle = ChaseCycle::default();
        cycle.track(1, Priority::P1, at(0));
        cycle.track(2, Priority::P3, at(0));
        assert_eq!(cycle.take_due(at(23)), vec![]);
        assert_eq!(cycle.take_due(at(24)), vec![(1, at(24))]);
        cycle.observe(1, &row("chase_up", None, 30), Priority::P1);
        assert_eq!(cycle.next_due(), Some(at(54)));
        assert_eq!(cycle.take_due(at(100)), vec![(1, at(54)), (1, at(78))]);
        cycle.observe(1, &row("status", Some("resolved"), 101), Priority::P1);
        assert_eq!(cycle.next_due(), None);
        cycle.observe(2, &row("priority", Some("P0"), 102), Priority::P0);
        assert_eq!(cycle.take_due(at(126)), vec![(2, at(126))]);
    }
}
