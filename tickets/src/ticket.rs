//! Tickets (dossiers): nature, call-taking fields, lifecycle, tasks, notes,
//! links to calls, parent/child mass incidents, typologies, support groups,
//! and the audit trail every change writes.

use chrono::{DateTime, Duration, Utc};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::store::{Store, StoreError, from_ms, get_bool, get_opt_time, parse_col, to_ms};
use crate::text_enum::text_enum;

text_enum! {
    /// What a ticket is about. Assistance is counted as an incident.
    pub enum Nature {
        /// A malfunction.
        Incident => "incident",
        /// A service request, made of tasks.
        Request => "request",
        /// Usage help or information; counted as an incident.
        Assistance => "assistance",
    }
}

impl Nature {
    /// The nature under which indicators count this ticket
    /// (assistance is counted as an incident, CULTURE 588).
    pub fn counted_as(self) -> Nature {
        match self {
            Nature::Assistance => Nature::Incident,
            other => other,
        }
    }
}

text_enum! {
    /// Which call-taking form filled the ticket (LOUVRE-IT 1239-1242).
    pub enum Form {
        /// Simplified call-taking: identity, nature, title.
        Simplified => "simplified",
        /// Complete call-taking: every qualification field is required.
        Complete => "complete",
    }
}

text_enum! {
    /// Lifecycle status.
    pub enum TicketStatus {
        /// Just created.
        New => "new",
        /// Given to a group or a person.
        Assigned => "assigned",
        /// Being worked on.
        InProgress => "in_progress",
        /// Waiting (SLA paused) for a [`WaitingReason`].
        Waiting => "waiting",
        /// Resolved; closes automatically after the configured delay.
        Resolved => "resolved",
        /// Closed (final).
        Closed => "closed",
    }
}

text_enum! {
    /// Why a ticket waits.
    pub enum WaitingReason {
        /// An appointment with the user.
        Appointment => "appointment",
        /// Equipment awaited (delivery or repair).
        Delivery => "delivery",
        /// Waiting for the user.
        User => "user",
        /// Waiting for a third party.
        ThirdParty => "third_party",
    }
}

pub use crate::priority::{Impact, Priority, Urgency};
text_enum! {
    /// Note kind.
    pub enum NoteKind {
        /// Information note.
        Note => "note",
        /// A user's chase-up (relance).
        ChaseUp => "chase_up",
    }
}

text_enum! {
    /// Final SLA verdict of a ticket, as the SLA core decided it.
    pub enum SlaOutcome {
        /// Deadline met.
        Met => "met",
        /// Deadline breached.
        Breached => "breached",
        /// Excluded from indicators (justified and approved).
        Excluded => "excluded",
    }
}

/// Urgency × impact → priority with `crate::priority` (CULTURE 2989-3008);
/// VIP or P0 window → P0. A ticket qualified without urgency or impact (the
/// simplified form) gets P3 unless the caller's standing raises it.
pub fn compute_priority(
    urgency: Option<Urgency>,
    impact: Option<Impact>,
    vip: bool,
    p0: bool,
) -> Priority {
    let standing = crate::priority::CallerStanding {
        vip,
        in_p0_window: p0,
    };
    match (urgency, impact) {
        (Some(u), Some(i)) => crate::priority::priority(u, i, standing).0,
        _ if vip || p0 => Priority::P0,
        _ => Priority::P3,
    }
}

/// Stored text of an urgency (its serde name).
pub fn urgency_str(u: Urgency) -> &'static str {
    u.code()
}

/// Stored text of an impact (its serde name).
pub fn impact_str(i: Impact) -> &'static str {
    i.code()
}

fn parse_urgency(column: &'static str, v: String) -> Result<Urgency, StoreError> {
    Urgency::from_code(&v).ok_or(StoreError::Corrupt { column, value: v })
}

fn parse_impact(column: &'static str, v: String) -> Result<Impact, StoreError> {
    Impact::from_code(&v).ok_or(StoreError::Corrupt { column, value: v })
}

fn parse_priority(column: &'static str, v: String) -> Result<Priority, StoreError> {
    Priority::ALL
        .into_iter()
        .find(|p| p.code() == v)
        .ok_or(StoreError::Corrupt { column, value: v })
}

/// A task of a request, assignable to a support group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    /// What to do.
    pub title: String,
    /// Support group in charge.
    pub group_id: Option<i64>,
    /// Person in charge.
    pub assignee: Option<String>,
}

/// The call-taking fields of a new ticket (CULTURE 700-722).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    /// Nature.
    pub nature: Nature,
    /// Form used (decides which fields are required).
    pub form: Form,
    /// Short description.
    pub title: String,
    /// Directory person of the requester, if identified.
    pub requester_person_id: Option<i64>,
    /// Requester name as said on the phone.
    pub requester_name: String,
    /// Entity (direction, DRAC…).
    pub entity: Option<String>,
    /// Site.
    pub site: Option<String>,
    /// VIP requester.
    pub vip: bool,
    /// Requester in a P0 window.
    pub p0: bool,
    /// Symptom.
    pub symptom: Option<String>,
    /// Diagnosis.
    pub diagnosis: Option<String>,
    /// Technical domain.
    pub technical_domain: Option<String>,
    /// Urgency.
    pub urgency: Option<Urgency>,
    /// Impact.
    pub impact: Option<Impact>,
    /// Category (typology or sub-category).
    pub category_id: Option<i64>,
    /// Support group assigned at creation.
    pub group_id: Option<i64>,
    /// Person assigned at creation.
    pub assignee: Option<String>,
    /// Parent ticket (mass incident).
    pub parent_id: Option<i64>,
    /// Tasks (requests only).
    pub tasks: Vec<NewTask>,
    /// Call that created the ticket.
    pub call_id: Option<i64>,
}

impl NewTicket {
    /// A simplified-form ticket with only the required fields.
    pub fn simplified(nature: Nature, title: &str, requester_name: &str) -> NewTicket {
        NewTicket {
            nature,
            form: Form::Simplified,
            title: title.to_owned(),
            requester_person_id: None,
            requester_name: requester_name.to_owned(),
            entity: None,
            site: None,
            vip: false,
            p0: false,
            symptom: None,
            diagnosis: None,
            technical_domain: None,
            urgency: None,
            impact: None,
            category_id: None,
            group_id: None,
            assignee: None,
            parent_id: None,
            tasks: Vec::new(),
            call_id: None,
        }
    }

    /// Checks the fields the form requires; errors name the field (French reason).
    pub fn validate(&self) -> Result<(), StoreError> {
        fn missing(field: &'static str) -> StoreError {
            StoreError::Invalid {
                field,
                reason: "obligatoire".to_owned(),
            }
        }
        fn blank(v: &Option<String>) -> bool {
            v.as_deref().is_none_or(|s| s.trim().is_empty())
        }
        if self.title.trim().is_empty() {
            return Err(missing("title"));
        }
        if self.requester_name.trim().is_empty() {
            return Err(missing("requester_name"));
        }
        if !self.tasks.is_empty() && self.nature != Nature::Request {
            return Err(StoreError::Invalid {
                field: "tasks",
                reason: "seule une demande peut comporter des tâches".to_owned(),
            });
        }
        if self.form == Form::Complete {
            for (field, value) in [
                ("entity", &self.entity),
                ("site", &self.site),
                ("symptom", &self.symptom),
                ("diagnosis", &self.diagnosis),
                ("technical_domain", &self.technical_domain),
            ] {
                if blank(value) {
                    return Err(missing(field));
                }
            }
            if self.urgency.is_none() {
                return Err(missing("urgency"));
            }
            if self.impact.is_none() {
                return Err(missing("impact"));
            }
            if self.category_id.is_none() {
                return Err(missing("category_id"));
            }
        }
        Ok(())
    }
}

/// A ticket as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// Id.
    pub id: i64,
    /// Nature.
    pub nature: Nature,
    /// Form.
    pub form: Form,
    /// Status.
    pub status: TicketStatus,
    /// Waiting reason when waiting.
    pub waiting_reason: Option<WaitingReason>,
    /// Title.
    pub title: String,
    /// Requester person.
    pub requester_person_id: Option<i64>,
    /// Requester name.
    pub requester_name: String,
    /// Entity.
    pub entity: Option<String>,
    /// Site.
    pub site: Option<String>,
    /// VIP.
    pub vip: bool,
    /// P0 window.
    pub p0: bool,
    /// Symptom.
    pub symptom: Option<String>,
    /// Diagnosis.
    pub diagnosis: Option<String>,
    /// Technical domain.
    pub technical_domain: Option<String>,
    /// Urgency.
    pub urgency: Option<Urgency>,
    /// Impact.
    pub impact: Option<Impact>,
    /// Priority.
    pub priority: Priority,
    /// Category.
    pub category_id: Option<i64>,
    /// Support group.
    pub group_id: Option<i64>,
    /// Assignee login.
    pub assignee: Option<String>,
    /// Parent (mass incident).
    pub parent_id: Option<i64>,
    /// Creator.
    pub created_by: String,
    /// Creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Last resolution.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Closure.
    pub closed_at: Option<DateTime<Utc>>,
    /// Times reopened.
    pub reopen_count: i64,
    /// SLA verdict.
    pub sla_outcome: Option<SlaOutcome>,
    /// Serialised SLA clock state (owned by the SLA core).
    pub sla_state: Option<String>,
}

/// One line of a ticket's audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// Field changed (`status`, `priority`, `created`…).
    pub field: String,
    /// Old value.
    pub old_value: Option<String>,
    /// New value.
    pub new_value: Option<String>,
    /// Reason given.
    pub reason: Option<String>,
}

/// A note or chase-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Kind.
    pub kind: NoteKind,
    /// Author.
    pub author: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Text.
    pub body: String,
}

/// A task as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// Group.
    pub group_id: Option<i64>,
    /// Assignee.
    pub assignee: Option<String>,
    /// Done at.
    pub done_at: Option<DateTime<Utc>>,
}

/// A lifecycle action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketAction {
    /// Start work (new/assigned → in progress).
    Start,
    /// Wait (assigned/in progress → waiting).
    Wait(WaitingReason),
    /// Resume (waiting → in progress).
    Resume,
    /// Resolve (any open status → resolved).
    Resolve,
    /// Reopen (resolved → in progress), with a reason.
    Reopen(String),
    /// Close (resolved → closed).
    Close,
}

impl TicketAction {
    fn target(&self) -> TicketStatus {
        match self {
            TicketAction::Start | TicketAction::Resume | TicketAction::Reopen(_) => {
                TicketStatus::InProgress
            }
            TicketAction::Wait(_) => TicketStatus::Waiting,
            TicketAction::Resolve => TicketStatus::Resolved,
            TicketAction::Close => TicketStatus::Closed,
        }
    }

    fn allowed_from(&self, from: TicketStatus) -> bool {
        use TicketStatus::*;
        match self {
            TicketAction::Start => matches!(from, New | Assigned),
            TicketAction::Wait(_) => matches!(from, Assigned | InProgress),
            TicketAction::Resume => from == Waiting,
            TicketAction::Resolve => matches!(from, New | Assigned | InProgress | Waiting),
            TicketAction::Reopen(_) | TicketAction::Close => from == Resolved,
        }
    }
}

/// A typology or sub-category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Id.
    pub id: i64,
    /// Parent typology, for a sub-category.
    pub parent_id: Option<i64>,
    /// Name.
    pub name: String,
    /// Offered in forms.
    pub active: bool,
}

const TICKET_COLUMNS: &str = "id, nature, form, status, waiting_reason, title, requester_person_id, \
     requester_name, entity, site, vip, p0, symptom, diagnosis, technical_domain, urgency, impact, \
     priority, category_id, group_id, assignee_login, parent_id, created_by, created_at, updated_at, \
     resolved_at, closed_at, reopen_count, sla_outcome, sla_state";

fn opt_enum<T: std::str::FromStr>(
    r: &AnyRow,
    idx: usize,
    column: &'static str,
) -> Result<Option<T>, StoreError> {
    r.try_get::<Option<String>, _>(idx)?
        .map(|v| parse_col(column, v))
        .transpose()
}

fn ticket_from_row(r: &AnyRow) -> Result<Ticket, StoreError> {
    Ok(Ticket {
        id: r.try_get(0)?,
        nature: parse_col("tickets.nature", r.try_get(1)?)?,
        form: parse_col("tickets.form", r.try_get(2)?)?,
        status: parse_col("tickets.status", r.try_get(3)?)?,
        waiting_reason: opt_enum(r, 4, "tickets.waiting_reason")?,
        title: r.try_get(5)?,
        requester_person_id: r.try_get(6)?,
        requester_name: r.try_get(7)?,
        entity: r.try_get(8)?,
        site: r.try_get(9)?,
        vip: get_bool(r, 10)?,
        p0: get_bool(r, 11)?,
        symptom: r.try_get(12)?,
        diagnosis: r.try_get(13)?,
        technical_domain: r.try_get(14)?,
        urgency: r
            .try_get::<Option<String>, _>(15)?
            .map(|v| parse_urgency("tickets.urgency", v))
            .transpose()?,
        impact: r
            .try_get::<Option<String>, _>(16)?
            .map(|v| parse_impact("tickets.impact", v))
            .transpose()?,
        priority: parse_priority("tickets.priority", r.try_get(17)?)?,
        category_id: r.try_get(18)?,
        group_id: r.try_get(19)?,
        assignee: r.try_get(20)?,
        parent_id: r.try_get(21)?,
        created_by: r.try_get(22)?,
        created_at: from_ms(r.try_get(23)?),
        updated_at: from_ms(r.try_get(24)?),
        resolved_at: get_opt_time(r, 25)?,
        closed_at: get_opt_time(r, 26)?,
        reopen_count: r.try_get(27)?,
        sla_outcome: opt_enum(r, 28, "tickets.sla_outcome")?,
        sla_state: r.try_get(29)?,
    })
}

// One argument per column of an audit row; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn audit(
    tx: &mut Transaction<'static, Any>,
    ticket: i64,
    at: DateTime<Utc>,
    actor: &str,
    field: &str,
    old: Option<&str>,
    new: Option<&str>,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ticket_audit (ticket_id, at, actor, field, old_value, new_value, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(ticket)
    .bind(to_ms(at))
    .bind(actor)
    .bind(field)
    .bind(old)
    .bind(new)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) async fn load_for_update(
    tx: &mut Transaction<'static, Any>,
    id: i64,
) -> Result<Ticket, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound { what: "ticket", id })?;
    ticket_from_row(&row)
}

async fn insert_ticket(
    tx: &mut Transaction<'static, Any>,
    t: &NewTicket,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let priority = compute_priority(t.urgency, t.impact, t.vip, t.p0);
    let status = if t.group_id.is_some() || t.assignee.is_some() {
        TicketStatus::Assigned
    } else {
        TicketStatus::New
    };
    let id: i64 = sqlx::query(
            "INSERT INTO tickets (nature, form, status, title, requester_person_id, requester_name, \
             entity, site, vip, p0, symptom, diagnosis, technical_domain, urgency, impact, priority, \
             category_id, group_id, assignee_login, parent_id, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
             $19, $20, $21, $22, $22) RETURNING id",
        )
        .bind(t.nature.as_str())
        .bind(t.form.as_str())
        .bind(status.as_str())
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
        .bind(&t.assignee)
        .bind(t.parent_id)
        .bind(actor)
        .bind(to_ms(now))
        .fetch_one(&mut **tx)
        .await?
        .try_get(0)?;
    audit(
        tx,
        id,
        now,
        actor,
        "created",
        None,
        Some(status.as_str()),
        None,
    )
    .await?;
    for task in &t.tasks {
        sqlx::query(
            "INSERT INTO ticket_tasks (ticket_id, title, group_id, assignee_login, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(&task.title)
        .bind(task.group_id)
        .bind(&task.assignee)
        .bind(to_ms(now))
        .execute(&mut **tx)
        .await?;
    }
    if let Some(call) = t.call_id {
        sqlx::query("INSERT INTO ticket_calls (ticket_id, call_id) VALUES ($1, $2)")
            .bind(id)
            .bind(call)
            .execute(&mut **tx)
            .await?;
    }
    Ok(id)
}

impl Store {
    /// Creates a ticket (with its tasks, its call link and its first audit
    /// line) in one transaction: on any failure nothing is left behind.
    /// The priority is computed from urgency × impact, VIP and P0.
    pub async fn create_ticket(
        &self,
        t: &NewTicket,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        t.validate()?;
        let mut tx = self.writer.begin().await?;
        let id = insert_ticket(&mut tx, t, actor, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Creates many tickets in one transaction (imports from another tool,
    /// simulations, benchmarks): all or nothing.
    pub async fn create_tickets(
        &self,
        tickets: &[(NewTicket, DateTime<Utc>)],
        actor: &str,
    ) -> Result<Vec<i64>, StoreError> {
        for (t, _) in tickets {
            t.validate()?;
        }
        let mut ids = Vec::with_capacity(tickets.len());
        let mut tx = self.writer.begin().await?;
        for (t, at) in tickets {
            ids.push(insert_ticket(&mut tx, t, actor, *at).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// One ticket.
    pub async fn ticket(&self, id: i64) -> Result<Ticket, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await?
        .ok_or(StoreError::NotFound { what: "ticket", id })?;
        ticket_from_row(&row)
    }

    /// Applies a lifecycle action; an action the current status forbids is
    /// refused with [`StoreError::IllegalTransition`] and changes nothing.
    pub async fn transition_ticket(
        &self,
        id: i64,
        action: &TicketAction,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Ticket, StoreError> {
        let mut tx = self.writer.begin().await?;
        let before = load_for_update(&mut tx, id).await?;
        let to = action.target();
        if !action.allowed_from(before.status) {
            return Err(StoreError::IllegalTransition {
                from: before.status,
                to,
            });
        }
        let waiting = match action {
            TicketAction::Wait(r) => Some(r.as_str()),
            _ => None,
        };
        let reason = match action {
            TicketAction::Reopen(r) => Some(r.as_str()),
            _ => waiting,
        };
        let now_ms = to_ms(now);
        let done = sqlx::query(
            "UPDATE tickets SET status = $2, waiting_reason = $3, updated_at = $4, \
             resolved_at = CASE WHEN $2 = 'resolved' THEN $4 ELSE resolved_at END, \
             closed_at = CASE WHEN $2 = 'closed' THEN $4 ELSE closed_at END, \
             reopen_count = reopen_count + $5 \
             WHERE id = $1 AND status = $6",
        )
        .bind(id)
        .bind(to.as_str())
        .bind(waiting)
        .bind(now_ms)
        .bind(i64::from(matches!(action, TicketAction::Reopen(_))))
        .bind(before.status.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            // Someone else changed it between our read and our write.
            return Err(StoreError::IllegalTransition {
                from: before.status,
                to,
            });
        }
        audit(
            &mut tx,
            id,
            now,
            actor,
            "status",
            Some(before.status.as_str()),
            Some(to.as_str()),
            reason,
        )
        .await?;
        let after = load_for_update(&mut tx, id).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Assigns a ticket to a group and/or a person; a new ticket becomes
    /// assigned. Resolved and closed tickets cannot be reassigned.
    pub async fn assign_ticket(
        &self,
        id: i64,
        group_id: Option<i64>,
        assignee: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        let before = load_for_update(&mut tx, id).await?;
        if matches!(before.status, TicketStatus::Resolved | TicketStatus::Closed) {
            return Err(StoreError::IllegalTransition {
                from: before.status,
                to: TicketStatus::Assigned,
            });
        }
        let status = if before.status == TicketStatus::New {
            TicketStatus::Assigned
        } else {
            before.status
        };
        sqlx::query(
            "UPDATE tickets SET group_id = $2, assignee_login = $3, status = $4, updated_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(group_id)
        .bind(assignee)
        .bind(status.as_str())
        .bind(to_ms(now))
        .execute(&mut *tx)
        .await?;
        let old = format!(
            "{:?}/{}",
            before.group_id,
            before.assignee.as_deref().unwrap_or("")
        );
        let new = format!("{:?}/{}", group_id, assignee.unwrap_or(""));
        audit(
            &mut tx,
            id,
            now,
            actor,
            "assignment",
            Some(&old),
            Some(&new),
            None,
        )
        .await?;
        if status != before.status {
            audit(
                &mut tx,
                id,
                now,
                actor,
                "status",
                Some(before.status.as_str()),
                Some(status.as_str()),
                None,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Revises the priority; a reason is required and audited.
    pub async fn change_priority(
        &self,
        id: i64,
        priority: Priority,
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if reason.trim().is_empty() {
            return Err(StoreError::Invalid {
                field: "reason",
                reason: "un motif est obligatoire pour changer la priorité".to_owned(),
            });
        }
        let mut tx = self.writer.begin().await?;
        let before = load_for_update(&mut tx, id).await?;
        sqlx::query("UPDATE tickets SET priority = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(priority.code())
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            id,
            now,
            actor,
            "priority",
            Some(before.priority.code()),
            Some(priority.code()),
            Some(reason),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds a note or a chase-up (relance).
    pub async fn add_note(
        &self,
        id: i64,
        kind: NoteKind,
        author: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        load_for_update(&mut tx, id).await?;
        sqlx::query("INSERT INTO ticket_notes (ticket_id, kind, author, at, body) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(kind.as_str())
            .bind(author)
            .bind(to_ms(now))
            .bind(body)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE tickets SET updated_at = $2 WHERE id = $1")
            .bind(id)
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await?;
        audit(&mut tx, id, now, author, kind.as_str(), None, None, None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Notes and chase-ups of a ticket, oldest first.
    pub async fn ticket_notes(&self, id: i64) -> Result<Vec<Note>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, author, at, body FROM ticket_notes WHERE ticket_id = $1 ORDER BY at, id",
        )
        .bind(id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Note {
                    kind: parse_col("ticket_notes.kind", r.try_get(0)?)?,
                    author: r.try_get(1)?,
                    at: from_ms(r.try_get(2)?),
                    body: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Adds a task to a request.
    pub async fn add_task(
        &self,
        id: i64,
        task: &NewTask,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.writer.begin().await?;
        let t = load_for_update(&mut tx, id).await?;
        if t.nature != Nature::Request {
            return Err(StoreError::Invalid {
                field: "tasks",
                reason: "seule une demande peut comporter des tâches".to_owned(),
            });
        }
        let task_id: i64 = sqlx::query(
            "INSERT INTO ticket_tasks (ticket_id, title, group_id, assignee_login, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(id)
        .bind(&task.title)
        .bind(task.group_id)
        .bind(&task.assignee)
        .bind(to_ms(now))
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        audit(
            &mut tx,
            id,
            now,
            actor,
            "task",
            None,
            Some(&task.title),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(task_id)
    }

    /// Marks a task done (audited on its ticket).
    pub async fn complete_task(
        &self,
        task_id: i64,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        let row = sqlx::query(
            "SELECT ticket_id, title FROM ticket_tasks WHERE id = $1 AND done_at IS NULL",
        )
        .bind(task_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound {
            what: "open task",
            id: task_id,
        })?;
        let ticket: i64 = row.try_get(0)?;
        let title: String = row.try_get(1)?;
        sqlx::query("UPDATE ticket_tasks SET done_at = $2 WHERE id = $1")
            .bind(task_id)
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            ticket,
            now,
            actor,
            "task_done",
            None,
            Some(&title),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Tasks of a ticket.
    pub async fn ticket_tasks(&self, id: i64) -> Result<Vec<Task>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, title, group_id, assignee_login, done_at FROM ticket_tasks WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Task {
                    id: r.try_get(0)?,
                    title: r.try_get(1)?,
                    group_id: r.try_get(2)?,
                    assignee: r.try_get(3)?,
                    done_at: get_opt_time(r, 4)?,
                })
            })
            .collect()
    }

    /// Attaches a call to an existing ticket.
    pub async fn link_call(
        &self,
        ticket: i64,
        call: i64,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        load_for_update(&mut tx, ticket).await?;
        sqlx::query("INSERT INTO ticket_calls (ticket_id, call_id) VALUES ($1, $2)")
            .bind(ticket)
            .bind(call)
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            ticket,
            now,
            actor,
            "call",
            None,
            Some(&call.to_string()),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Calls linked to a ticket (ids, oldest first).
    pub async fn ticket_calls(&self, ticket: i64) -> Result<Vec<i64>, StoreError> {
        let rows =
            sqlx::query("SELECT call_id FROM ticket_calls WHERE ticket_id = $1 ORDER BY call_id")
                .bind(ticket)
                .fetch_all(&self.reader)
                .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Attaches `child` to the mass-incident `parent` (one level only: a
    /// parent cannot itself be a child). Only parents are counted in reports.
    pub async fn set_parent(
        &self,
        child: i64,
        parent: i64,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if child == parent {
            return Err(StoreError::Invalid {
                field: "parent_id",
                reason: "un ticket ne peut pas être son propre parent".to_owned(),
            });
        }
        let mut tx = self.writer.begin().await?;
        let p = load_for_update(&mut tx, parent).await?;
        if p.parent_id.is_some() {
            return Err(StoreError::Invalid {
                field: "parent_id",
                reason: "le ticket parent est lui-même rattaché à un parent".to_owned(),
            });
        }
        let c = load_for_update(&mut tx, child).await?;
        sqlx::query("UPDATE tickets SET parent_id = $2, updated_at = $3 WHERE id = $1")
            .bind(child)
            .bind(parent)
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await?;
        // Children of the child move under the new parent, keeping one level.
        sqlx::query("UPDATE tickets SET parent_id = $2 WHERE parent_id = $1")
            .bind(child)
            .bind(parent)
            .execute(&mut *tx)
            .await?;
        let old = c.parent_id.map(|v| v.to_string());
        audit(
            &mut tx,
            child,
            now,
            actor,
            "parent",
            old.as_deref(),
            Some(&parent.to_string()),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Closes every resolved ticket whose last resolution is at least
    /// `after` old (14 days by default in the tenders). Returns their ids.
    pub async fn close_resolved_tickets(
        &self,
        now: DateTime<Utc>,
        after: Duration,
    ) -> Result<Vec<i64>, StoreError> {
        let cutoff = to_ms(now - after);
        let mut tx = self.writer.begin().await?;
        let rows = sqlx::query(
            "SELECT id FROM tickets WHERE status = 'resolved' AND resolved_at <= $1 ORDER BY id",
        )
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await?;
        let ids: Vec<i64> = rows
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        for &id in &ids {
            sqlx::query("UPDATE tickets SET status = 'closed', closed_at = $2, updated_at = $2 WHERE id = $1")
                .bind(id)
                .bind(to_ms(now))
                .execute(&mut *tx)
                .await?;
            audit(
                &mut tx,
                id,
                now,
                "system",
                "status",
                Some("resolved"),
                Some("closed"),
                Some("clôture automatique"),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Saves the SLA core's serialised clock state.
    pub async fn save_sla_state(&self, id: i64, state: &str) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE tickets SET sla_state = $2 WHERE id = $1")
            .bind(id)
            .bind(state)
            .execute(&self.writer)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "ticket", id });
        }
        Ok(())
    }

    /// Records the SLA verdict (audited, with the justification for exclusions).
    pub async fn set_sla_outcome(
        &self,
        id: i64,
        outcome: SlaOutcome,
        reason: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        let before = load_for_update(&mut tx, id).await?;
        sqlx::query("UPDATE tickets SET sla_outcome = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(outcome.as_str())
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            id,
            now,
            actor,
            "sla_outcome",
            before.sla_outcome.map(SlaOutcome::as_str),
            Some(outcome.as_str()),
            reason,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The audit trail of a ticket, oldest first.
    pub async fn ticket_audit(&self, id: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, actor, field, old_value, new_value, reason FROM ticket_audit \
             WHERE ticket_id = $1 ORDER BY at, id",
        )
        .bind(id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    at: from_ms(r.try_get(0)?),
                    actor: r.try_get(1)?,
                    field: r.try_get(2)?,
                    old_value: r.try_get(3)?,
                    new_value: r.try_get(4)?,
                    reason: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// Creates a support group; returns its id.
    pub async fn create_support_group(&self, name: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("INSERT INTO support_groups (name) VALUES ($1) RETURNING id")
            .bind(name)
            .fetch_one(&self.writer)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Creates a typology (no parent) or a sub-category; returns its id.
    pub async fn create_category(
        &self,
        name: &str,
        parent_id: Option<i64>,
    ) -> Result<i64, StoreError> {
        if name.trim().is_empty() {
            return Err(StoreError::Invalid {
                field: "name",
                reason: "obligatoire".to_owned(),
            });
        }
        let row =
            sqlx::query("INSERT INTO categories (parent_id, name) VALUES ($1, $2) RETURNING id")
                .bind(parent_id)
                .bind(name)
                .fetch_one(&self.writer)
                .await?;
        Ok(row.try_get(0)?)
    }

    /// Renames a category or (de)activates it; the typology list is editable.
    pub async fn update_category(
        &self,
        id: i64,
        name: &str,
        active: bool,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE categories SET name = $2, active = $3 WHERE id = $1")
            .bind(id)
            .bind(name)
            .bind(active)
            .execute(&self.writer)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "category",
                id,
            });
        }
        Ok(())
    }

    /// Every category, typologies first then by name.
    pub async fn categories(&self) -> Result<Vec<Category>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, parent_id, name, active FROM categories ORDER BY COALESCE(parent_id, id), parent_id IS NOT NULL, name",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Category {
                    id: r.try_get(0)?,
                    parent_id: r.try_get(1)?,
                    name: r.try_get(2)?,
                    active: get_bool(r, 3)?,
                })
            })
            .collect()
    }
}
