//! What the agent's desk reads and writes around a call: the call an agent is handling, the
//! caller's open tickets, the ticket a call is linked to, the qualification of a ticket
//! (simplified or complete call-taking form), the support groups and typologies offered in
//! forms, and the callbacks to make (pending requests and abandoned calls from identified
//! callers).

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::admin::Callback;
use crate::calls::{CALL_COLUMNS, CallRecord, call_from_row};
use crate::store::{Store, StoreError, get_bool, to_ms};
use crate::ticket::{NewTicket, Ticket, TicketStatus, compute_priority, impact_str, urgency_str};

/// A support group, as forms offer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportGroup {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
}

impl Store {
    /// The most recent call offered to or answered by `login` (the one the agent's phone rings
    /// for, is talking on, or has just finished).
    pub async fn agent_latest_call(&self, login: &str) -> Result<Option<CallRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM calls WHERE agent_login = $1 AND offered_at IS NOT NULL \
             ORDER BY offered_at DESC, id DESC LIMIT 1"
        ))
        .bind(login)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(call_from_row).transpose()
    }

    /// The tickets of `person` that are neither resolved nor closed, newest first.
    pub async fn open_tickets_of_person(
        &self,
        person: i64,
        limit: i64,
    ) -> Result<Vec<Ticket>, StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM tickets WHERE requester_person_id = $1 \
             AND status NOT IN ('resolved', 'closed') ORDER BY id DESC LIMIT $2",
        )
        .bind(person)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.ticket(r.try_get(0)?).await?);
        }
        Ok(out)
    }

    /// The tickets a call is linked to, oldest first.
    pub async fn tickets_of_call(&self, call: i64) -> Result<Vec<i64>, StoreError> {
        let rows =
            sqlx::query("SELECT ticket_id FROM ticket_calls WHERE call_id = $1 ORDER BY ticket_id")
                .bind(call)
                .fetch_all(&self.reader)
                .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Rewrites the call-taking fields of ticket `id` from a form (the switchboard's
    /// simplified draft completed by the agent, or a later correction): nature, form, title,
    /// requester, entity, site, symptom, diagnosis, domain, urgency, impact, category and
    /// group. The priority is recomputed (matrix, VIP and P0 → P0); a group given to a new
    /// ticket makes it assigned. Validated as on creation; audited as `qualification`.
    /// Resolved and closed tickets are refused.
    pub async fn qualify_ticket(
        &self,
        id: i64,
        t: &NewTicket,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Ticket, StoreError> {
        t.validate()?;
        let before = self.ticket(id).await?;
        if matches!(before.status, TicketStatus::Resolved | TicketStatus::Closed) {
            return Err(StoreError::Invalid {
                field: "ticket",
                reason: format!("le ticket n° {id} est déjà résolu ou clos"),
            });
        }
        let priority = compute_priority(t.urgency, t.impact, t.vip, t.p0);
        let status = if before.status == TicketStatus::New && t.group_id.is_some() {
            TicketStatus::Assigned
        } else {
            before.status
        };
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "UPDATE tickets SET nature = $2, form = $3, title = $4, requester_person_id = $5, \
             requester_name = $6, entity = $7, site = $8, vip = $9, p0 = $10, symptom = $11, \
             diagnosis = $12, technical_domain = $13, urgency = $14, impact = $15, priority = $16, \
             category_id = $17, group_id = COALESCE($18, group_id), status = $19, updated_at = $20 \
             WHERE id = $1 AND status = $21",
        )
        .bind(id)
        .bind(t.nature.as_str())
        .bind(t.form.as_str())
        .bind(&t.title)
        .bind(t.requester_person_id)
        .bind(&t.requester_name)
        .bind(&t.entity)
        .bind(&t.site)
        .bind(t.vip)
        .bind(t.p0)
        .bind(&t.symptom)
        .bind(&t.diagnosis)
        .bind(&t.technical_domain)
        .bind(t.urgency.map(urgency_str))
        .bind(t.impact.map(impact_str))
        .bind(priority.code())
        .bind(t.category_id)
        .bind(t.group_id)
        .bind(status.as_str())
        .bind(to_ms(now))
        .bind(before.status.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            // Changed between our read and our write: let the agent look again.
            return Err(StoreError::Invalid {
                field: "ticket",
                reason: format!("le ticket n° {id} a changé entre-temps : rechargez-le"),
            });
        }
        let audit = "INSERT INTO ticket_audit (ticket_id, at, actor, field, old_value, new_value, reason) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)";
        sqlx::query(audit)
            .bind(id)
            .bind(to_ms(now))
            .bind(actor)
            .bind("qualification")
            .bind(Some(format!(
                "{}/{}/{}",
                before.form.as_str(),
                before.nature.as_str(),
                before.priority.code()
            )))
            .bind(Some(format!(
                "{}/{}/{}",
                t.form.as_str(),
                t.nature.as_str(),
                priority.code()
            )))
            .bind(Option::<String>::None)
            .execute(&mut *tx)
            .await?;
        if status != before.status {
            sqlx::query(audit)
                .bind(id)
                .bind(to_ms(now))
                .bind(actor)
                .bind("status")
                .bind(Some(before.status.as_str()))
                .bind(Some(status.as_str()))
                .bind(Option::<String>::None)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.ticket(id).await
    }

    /// Active support groups, by name.
    pub async fn support_groups(&self) -> Result<Vec<SupportGroup>, StoreError> {
        let rows = sqlx::query("SELECT id, name, active FROM support_groups ORDER BY name")
            .fetch_all(&self.reader)
            .await?;
        let mut out = Vec::new();
        for r in &rows {
            if get_bool(r, 2)? {
                out.push(SupportGroup {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                });
            }
        }
        Ok(out)
    }

    /// Pending callback requests of every queue, oldest first.
    pub async fn all_pending_callbacks(&self) -> Result<Vec<Callback>, StoreError> {
        let rows = sqlx::query("SELECT id, queue FROM callback_requests WHERE status = 'pending'")
            .fetch_all(&self.reader)
            .await?;
        let mut queues: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String, _>(1))
            .collect::<Result<_, _>>()?;
        queues.sort();
        queues.dedup();
        let mut out = Vec::new();
        for q in &queues {
            out.extend(self.pending_callbacks(q).await?);
        }
        out.sort_by_key(|c| (c.requested_at, c.id));
        Ok(out)
    }

    /// Calls abandoned (in the queue or while ringing) since `since` by callers the
    /// directory identified, and not followed by a later answered call from the same number
    /// nor already turned into a callback request; newest first, at most `limit`.
    pub async fn abandoned_calls_to_return(
        &self,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM calls c WHERE c.arrived_at >= $1 AND c.person_id IS NOT NULL \
             AND c.outcome IN ('abandoned_in_queue', 'abandoned_while_ringing') \
             AND NOT EXISTS (SELECT 1 FROM calls a WHERE a.caller_number = c.caller_number \
                 AND a.arrived_at > c.arrived_at AND a.outcome = 'answered') \
             AND NOT EXISTS (SELECT 1 FROM callback_requests r WHERE r.call_id = c.id) \
             ORDER BY c.arrived_at DESC, c.id DESC LIMIT $2"
        ))
        .bind(to_ms(since))
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(call_from_row).collect()
    }
}
