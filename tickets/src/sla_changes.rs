//! The ticket changes that move an SLA clock without being a status, an
//! assignment or a plain priority revision: escalation to another support
//! group (possibly raising the priority), a due date moved with the user's
//! agreement (CULTURE 901-909) and an exclusion from the indicators
//! (CULTURE 886-899). Each writes its audit rows in the same transaction as
//! the change, so the live SLA runner, which follows the audit rows, applies
//! it to the clock (`src/sla_runner.rs`).

use chrono::{DateTime, Utc};
use sqlx::{Any, Transaction};

use crate::store::{Store, StoreError, to_ms};
use crate::ticket::{Priority, SlaOutcome, TicketStatus, audit, load_for_update};

/// Audit field of an escalation: old and new support group ids, the reason.
pub const ESCALATION_FIELD: &str = "escalation";
/// Audit field of a due-date change: the new deadline (RFC 3339), the reason.
pub const DUE_DATE_FIELD: &str = "due_date";
/// Audit field of an exclusion: who approved it, the justification.
pub const EXCLUSION_FIELD: &str = "sla_exclusion";

fn required<'a>(value: &'a str, field: &'static str, what: &str) -> Result<&'a str, StoreError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(StoreError::Invalid {
            field,
            reason: format!("{what} est obligatoire"),
        });
    }
    Ok(value)
}

fn still_open(status: TicketStatus, field: &'static str) -> Result<(), StoreError> {
    if matches!(status, TicketStatus::Resolved | TicketStatus::Closed) {
        return Err(StoreError::Invalid {
            field,
            reason: "le ticket est déjà résolu ou clos".to_owned(),
        });
    }
    Ok(())
}

/// One audit row of a change: field, old value, new value, reason.
type Row<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);

/// Writes the rows of one change, in order, in its transaction.
async fn audit_rows(
    tx: &mut Transaction<'static, Any>,
    id: i64,
    now: DateTime<Utc>,
    actor: &str,
    rows: &[Row<'_>],
) -> Result<(), StoreError> {
    for &(field, old, new, reason) in rows {
        audit(tx, id, now, actor, field, old, new, reason).await?;
    }
    Ok(())
}

impl Store {
    /// Escalates a ticket to another support group (the person it was with
    /// no longer holds it), raising its priority to `raise_to` when given.
    /// Writes an `escalation` audit row, and a `priority` row when the
    /// priority rises.
    pub async fn escalate_ticket(
        &self,
        id: i64,
        group_id: i64,
        raise_to: Option<Priority>,
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let reason = required(reason, "reason", "le motif de l'escalade")?;
        let mut tx = self.writer.begin().await?;
        let before = load_for_update(&mut tx, id).await?;
        still_open(before.status, "status")?;
        // Priorities sort most urgent first: raising means a smaller value.
        let raised = match raise_to {
            Some(p) if p < before.priority => Some(p),
            Some(p) if p == before.priority => None,
            Some(_) => {
                return Err(StoreError::Invalid {
                    field: "priority",
                    reason: "une escalade ne peut que relever la priorité".to_owned(),
                });
            }
            None => None,
        };
        let priority = raised.unwrap_or(before.priority);
        sqlx::query(
            "UPDATE tickets SET group_id = $2, assignee_login = NULL, priority = $3, updated_at = $4 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(group_id)
        .bind(priority.code())
        .bind(to_ms(now))
        .execute(&mut *tx)
        .await?;
        let old_group = before.group_id.map(|g| g.to_string());
        let new_group = group_id.to_string();
        let mut rows: Vec<Row> = vec![(
            ESCALATION_FIELD,
            old_group.as_deref(),
            Some(&new_group),
            Some(reason),
        )];
        if let Some(p) = raised {
            rows.push((
                "priority",
                Some(before.priority.code()),
                Some(p.code()),
                Some(reason),
            ));
        }
        audit_rows(&mut tx, id, now, actor, &rows).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Moves the resolution deadline to `due`, with the reason agreed with
    /// the user. The store checks the reason and that `due` is ahead; the
    /// SLA runner re-plans the clock and audits the old and new deadlines
    /// (or refuses when the ticket's policy forbids due-date changes).
    pub async fn change_due_date(
        &self,
        id: i64,
        due: DateTime<Utc>,
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let reason = required(reason, "reason", "le motif du changement d'échéance")?;
        if due <= now {
            return Err(StoreError::Invalid {
                field: "due",
                reason: "la nouvelle échéance doit être dans le futur".to_owned(),
            });
        }
        let mut tx = self.writer.begin().await?;
        let before = load_for_update(&mut tx, id).await?;
        still_open(before.status, "status")?;
        sqlx::query("UPDATE tickets SET updated_at = $2 WHERE id = $1")
            .bind(id)
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await?;
        let due_text = due.to_rfc3339();
        let row = (DUE_DATE_FIELD, None, Some(due_text.as_str()), Some(reason));
        audit_rows(&mut tx, id, now, actor, &[row]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Excludes a ticket from the SLA indicators for an external reason
    /// (`justification`), accepted by `approver`: the verdict becomes
    /// `excluded` and the SLA runner stops the clock.
    pub async fn exclude_from_sla(
        &self,
        id: i64,
        justification: &str,
        approver: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let justification = required(justification, "justification", "la justification")?;
        let approver = required(
            approver,
            "approver",
            "le nom de la personne qui valide l'exclusion",
        )?;
        let mut tx = self.writer.begin().await?;
        let before = load_for_update(&mut tx, id).await?;
        if before.sla_outcome == Some(SlaOutcome::Excluded) {
            return Err(StoreError::Invalid {
                field: "sla_outcome",
                reason: "le ticket est déjà exclu des indicateurs".to_owned(),
            });
        }
        sqlx::query("UPDATE tickets SET sla_outcome = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(SlaOutcome::Excluded.as_str())
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await?;
        let rows = [
            (
                "sla_outcome",
                before.sla_outcome.map(SlaOutcome::as_str),
                Some(SlaOutcome::Excluded.as_str()),
                Some(justification),
            ),
            (EXCLUSION_FIELD, None, Some(approver), Some(justification)),
        ];
        audit_rows(&mut tx, id, now, actor, &rows).await?;
        tx.commit().await?;
        Ok(())
    }
}
