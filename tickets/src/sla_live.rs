//! What the binary's live SLA runner reads and writes: the tickets' audit rows in the order
//! they were written (so every change is seen, whoever made it), the open tickets to track at
//! start-up, and one transaction per SLA event (audit line, saved clock, bumped priority,
//! breach verdict, journal entry for supervisors).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::admin::journal_in;
use crate::sla::{SlaClock, SlaEngine, SlaStatus};
use crate::store::{Store, StoreError, from_ms, to_ms};
use crate::ticket::{AuditEntry, Priority, SlaOutcome};

/// What `tickets.sla_state` holds for the live runner: the clock, and the id of the last
/// audit row applied to it (so a restart applies every later row once, and no earlier one).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedSla {
    /// Last audit row applied to the clock.
    pub audit_id: i64,
    /// The SLA core's clock.
    pub clock: SlaClock,
}

impl SavedSla {
    /// Reads a saved state; `None` if absent in this form (then the clock is rebuilt).
    pub fn parse(text: &str) -> Option<SavedSla> {
        serde_json::from_str(text).ok()
    }

    /// The JSON to save.
    pub fn to_json(&self) -> Result<String, StoreError> {
        serde_json::to_string(self).map_err(|e| StoreError::Invalid {
            field: "sla_state",
            reason: e.to_string(),
        })
    }
}

/// One row of `ticket_audit`, with its id (the order in which rows were written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Row id, increasing.
    pub id: i64,
    /// Ticket.
    pub ticket: i64,
    /// The line itself.
    pub entry: AuditEntry,
}

/// What one SLA event writes, all in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaWrite {
    /// Ticket.
    pub ticket: i64,
    /// Audit lines to append (actor, usually `sla`).
    pub audit: Vec<AuditEntry>,
    /// The clock state to save (`tickets.sla_state`).
    pub state: String,
    /// New priority after an automatic bump.
    pub priority: Option<Priority>,
    /// Set the ticket's verdict to breached.
    pub breached: bool,
    /// Journal entries for supervisors: (at, action, new value).
    pub journal: Vec<(DateTime<Utc>, String, String)>,
}

impl Store {
    /// Audit rows with an id above `after`, by increasing id, at most `limit`.
    pub async fn audit_rows_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, ticket_id, at, actor, field, old_value, new_value, reason FROM ticket_audit \
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRow {
                    id: r.try_get(0)?,
                    ticket: r.try_get(1)?,
                    entry: AuditEntry {
                        at: from_ms(r.try_get(2)?),
                        actor: r.try_get(3)?,
                        field: r.try_get(4)?,
                        old_value: r.try_get(5)?,
                        new_value: r.try_get(6)?,
                        reason: r.try_get(7)?,
                    },
                })
            })
            .collect()
    }

    /// The highest audit row id (0 when there is none).
    pub async fn last_audit_id(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) FROM ticket_audit")
            .fetch_one(&self.reader)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Ids of the tickets that are not closed, oldest first.
    pub async fn unclosed_ticket_ids(&self) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query("SELECT id FROM tickets WHERE status <> 'closed' ORDER BY id")
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Writes one SLA event (or a clock that moved) in one transaction.
    pub async fn write_sla(&self, w: &SlaWrite) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        for a in &w.audit {
            sqlx::query(
                "INSERT INTO ticket_audit (ticket_id, at, actor, field, old_value, new_value, reason) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(w.ticket)
            .bind(to_ms(a.at))
            .bind(&a.actor)
            .bind(&a.field)
            .bind(&a.old_value)
            .bind(&a.new_value)
            .bind(&a.reason)
            .execute(&mut *tx)
            .await?;
        }
        let done = sqlx::query("UPDATE tickets SET sla_state = $2 WHERE id = $1")
            .bind(w.ticket)
            .bind(&w.state)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "ticket",
                id: w.ticket,
            });
        }
        if let Some(p) = w.priority {
            sqlx::query("UPDATE tickets SET priority = $2 WHERE id = $1")
                .bind(w.ticket)
                .bind(p.code())
                .execute(&mut *tx)
                .await?;
        }
        if w.breached {
            // An exclusion decided by a person stands over a breach the runner writes late.
            sqlx::query(
                "UPDATE tickets SET sla_outcome = $2 WHERE id = $1 \
                 AND (sla_outcome IS NULL OR sla_outcome <> 'excluded')",
            )
            .bind(w.ticket)
            .bind(SlaOutcome::Breached.as_str())
            .execute(&mut *tx)
            .await?;
        }
        let subject = format!("ticket:{}", w.ticket);
        for (at, action, new) in &w.journal {
            journal_in(&mut tx, *at, "sla", action, &subject, None, Some(new)).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The ticket's SLA figures at `now`, from its saved clock (`None` when the ticket has
    /// no saved clock). `engine` gives the policies and calendars; it is not changed.
    pub async fn ticket_sla_status(
        &self,
        id: i64,
        engine: &SlaEngine,
        now: DateTime<Utc>,
    ) -> Result<Option<SlaStatus>, StoreError> {
        let ticket = self.ticket(id).await?;
        let Some(state) = ticket.sla_state else {
            return Ok(None);
        };
        let Some(saved) = SavedSla::parse(&state) else {
            return Ok(None);
        };
        let mut scratch = engine.clone();
        scratch.forget(id);
        if scratch.restore(id, saved.clock, now).is_err() {
            return Ok(None);
        }
        Ok(scratch.status(id, now))
    }
}
