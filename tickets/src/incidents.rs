//! The major-incident log (CULTURE 2239-2249: « journal des évènements (incidents de masse,
//! évènements majeurs, dates de début et fin et statut) »): supervisors declare an incident,
//! follow it through its statuses with timestamped updates, and close it. Every change is
//! written to the event journal in the same transaction (who, when, before, after).

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::admin::journal_in;
use crate::store::{Store, StoreError, from_ms, get_opt_time, opt_ms, parse_col, to_ms};
use crate::text_enum::text_enum;

text_enum! {
    /// Where a major incident stands.
    pub enum IncidentStatus {
        /// Declared, being qualified (« ouvert »).
        Open => "open",
        /// Support groups are working on it (« en cours de résolution »).
        Resolving => "resolving",
        /// Service restored (« résolu »): the incident's end.
        Resolved => "resolved",
        /// Closed after the support groups agreed (« clos »); no further change.
        Closed => "closed",
    }
}

impl IncidentStatus {
    /// The French word supervisors read.
    pub fn label_fr(self) -> &'static str {
        match self {
            IncidentStatus::Open => "ouvert",
            IncidentStatus::Resolving => "en cours de résolution",
            IncidentStatus::Resolved => "résolu",
            IncidentStatus::Closed => "clos",
        }
    }

    /// Whether the service is still degraded (the incident has not ended).
    pub fn is_ongoing(self) -> bool {
        matches!(self, IncidentStatus::Open | IncidentStatus::Resolving)
    }
}

/// A major incident to declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIncident {
    /// Short title, in French (« Panne de la messagerie »).
    pub title: String,
    /// Lines, applications or services affected, as the supervisor writes them.
    pub services: String,
    /// What is known.
    pub description: String,
    /// The helpdesk line whose crisis message announces it, if any.
    pub crisis_line: Option<String>,
}

/// A stored major incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// Row id (the incident number supervisors quote).
    pub id: i64,
    /// What was declared.
    pub declared: NewIncident,
    /// Current status.
    pub status: IncidentStatus,
    /// Who declared it.
    pub opened_by: String,
    /// Start: when it was declared.
    pub started_at: DateTime<Utc>,
    /// End: when it was resolved (or closed without going through « résolu »).
    pub ended_at: Option<DateTime<Utc>>,
    /// When it was closed, and by whom.
    pub closed_at: Option<DateTime<Utc>>,
    /// Who closed it.
    pub closed_by: Option<String>,
}

impl Incident {
    /// How long the incident lasted, or has lasted so far at `now`.
    pub fn duration(&self, now: DateTime<Utc>) -> chrono::Duration {
        (self.ended_at.unwrap_or(now) - self.started_at).max(chrono::Duration::zero())
    }
}

/// One timestamped step in an incident's life: the declaration, a status change, a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentUpdate {
    /// Row id.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub author: String,
    /// Status before (none for the declaration).
    pub status_before: Option<IncidentStatus>,
    /// Status after.
    pub status_after: IncidentStatus,
    /// What was said (may be empty on a bare status change).
    pub note: String,
}

/// Which incidents to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    /// Only this status.
    pub status: Option<IncidentStatus>,
    /// Only incidents that were going on at some point of `[from, to)`.
    pub from: Option<DateTime<Utc>>,
    /// See `from`.
    pub to: Option<DateTime<Utc>>,
    /// Case-insensitive words found in the title, services or description.
    pub text: Option<String>,
}

/// Count and cumulated duration of major incidents over a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IncidentTotals {
    /// Incidents going on at some point of the period.
    pub count: u32,
    /// Their time inside the period (an incident still going on counts up to `now`).
    pub total_secs: i64,
}

const INCIDENT_COLUMNS: &str = "id, title, services, description, crisis_line, status, opened_by, \
     started_at, ended_at, closed_at, closed_by";

fn incident_from_row(r: &AnyRow) -> Result<Incident, StoreError> {
    Ok(Incident {
        id: r.try_get(0)?,
        declared: NewIncident {
            title: r.try_get(1)?,
            services: r.try_get(2)?,
            description: r.try_get(3)?,
            crisis_line: r.try_get(4)?,
        },
        status: parse_col("major_incidents.status", r.try_get(5)?)?,
        opened_by: r.try_get(6)?,
        started_at: from_ms(r.try_get(7)?),
        ended_at: get_opt_time(r, 8)?,
        closed_at: get_opt_time(r, 9)?,
        closed_by: r.try_get(10)?,
    })
}

fn update_from_row(r: &AnyRow) -> Result<IncidentUpdate, StoreError> {
    let before: Option<String> = r.try_get(3)?;
    Ok(IncidentUpdate {
        id: r.try_get(0)?,
        at: from_ms(r.try_get(1)?),
        author: r.try_get(2)?,
        status_before: before
            .map(|b| parse_col("major_incident_updates.status_before", b))
            .transpose()?,
        status_after: parse_col("major_incident_updates.status_after", r.try_get(4)?)?,
        note: r.try_get(5)?,
    })
}

/// The journal's text for an incident's state: status and, when ended, the end.
fn describe(i: &Incident) -> String {
    let mut s = format!(
        "« {} » ({}), statut : {}",
        i.declared.title,
        i.declared.services,
        i.status.label_fr()
    );
    if let Some(end) = i.ended_at {
        s.push_str(&format!(", fin : {}", end.to_rfc3339()));
    }
    s
}

fn check_declaration(n: &NewIncident) -> Result<(), StoreError> {
    let long = |field: &'static str, value: &str, max: usize| {
        if value.chars().count() > max {
            Err(StoreError::Invalid {
                field,
                reason: format!("{max} caractères au plus"),
            })
        } else {
            Ok(())
        }
    };
    if n.title.trim().is_empty() {
        return Err(StoreError::Invalid {
            field: "title",
            reason: "le titre est obligatoire".to_owned(),
        });
    }
    if n.services.trim().is_empty() {
        return Err(StoreError::Invalid {
            field: "services",
            reason: "indiquez les lignes ou services touchés".to_owned(),
        });
    }
    long("title", &n.title, 200)?;
    long("services", &n.services, 500)?;
    long("description", &n.description, 5000)
}

impl Store {
    /// Declares a major incident (status « ouvert », started at `now`); journaled as
    /// `incident.declare`. Returns it.
    pub async fn declare_incident(
        &self,
        n: &NewIncident,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Incident, StoreError> {
        check_declaration(n)?;
        let n = NewIncident {
            title: n.title.trim().to_owned(),
            services: n.services.trim().to_owned(),
            description: n.description.trim().to_owned(),
            crisis_line: n.crisis_line.clone().filter(|l| !l.trim().is_empty()),
        };
        let mut tx = self.writer.begin().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO major_incidents (title, services, description, crisis_line, status, \
             opened_by, started_at, ended_at, closed_at, closed_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, NULL) RETURNING {INCIDENT_COLUMNS}"
        ))
        .bind(&n.title)
        .bind(&n.services)
        .bind(&n.description)
        .bind(&n.crisis_line)
        .bind(IncidentStatus::Open.as_str())
        .bind(actor)
        .bind(to_ms(now))
        .fetch_one(&mut *tx)
        .await?;
        let incident = incident_from_row(&row)?;
        insert_update(
            &mut tx,
            incident.id,
            now,
            actor,
            None,
            IncidentStatus::Open,
            &n.description,
        )
        .await?;
        journal_in(
            &mut tx,
            now,
            actor,
            "incident.declare",
            &format!("incident:{}", incident.id),
            None,
            Some(&describe(&incident)),
        )
        .await?;
        tx.commit().await?;
        Ok(incident)
    }

    /// Adds an update to incident `id`: a note, a new status, or both. Resolving or closing
    /// sets the end (the first time); going back to « ouvert » or « en cours de résolution »
    /// clears it. A closed incident takes no more updates. Journaled as `incident.update`
    /// (or `incident.close`) with the state before and after.
    pub async fn update_incident(
        &self,
        id: i64,
        status: Option<IncidentStatus>,
        note: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Incident, StoreError> {
        let note = note.trim();
        if note.chars().count() > 5000 {
            return Err(StoreError::Invalid {
                field: "note",
                reason: "5000 caractères au plus".to_owned(),
            });
        }
        let mut tx = self.writer.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {INCIDENT_COLUMNS} FROM major_incidents WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound {
            what: "incident",
            id,
        })?;
        let before = incident_from_row(&row)?;
        if before.status == IncidentStatus::Closed {
            return Err(StoreError::Invalid {
                field: "status",
                reason: "cet incident est clos : il ne peut plus changer".to_owned(),
            });
        }
        let new_status = status.unwrap_or(before.status);
        if new_status == before.status && note.is_empty() {
            return Err(StoreError::Invalid {
                field: "note",
                reason: "changez le statut ou écrivez un point d'avancement".to_owned(),
            });
        }
        let ended_at = if new_status.is_ongoing() {
            None
        } else {
            Some(before.ended_at.unwrap_or(now))
        };
        let closing = new_status == IncidentStatus::Closed;
        let row = sqlx::query(&format!(
            "UPDATE major_incidents SET status = $2, ended_at = $3, closed_at = $4, closed_by = $5 \
             WHERE id = $1 RETURNING {INCIDENT_COLUMNS}"
        ))
        .bind(id)
        .bind(new_status.as_str())
        .bind(opt_ms(ended_at))
        .bind(opt_ms(closing.then_some(now)))
        .bind(closing.then_some(actor))
        .fetch_one(&mut *tx)
        .await?;
        let after = incident_from_row(&row)?;
        insert_update(
            &mut tx,
            id,
            now,
            actor,
            Some(before.status),
            new_status,
            note,
        )
        .await?;
        let mut new_value = describe(&after);
        if !note.is_empty() {
            new_value.push_str(&format!(" — {note}"));
        }
        journal_in(
            &mut tx,
            now,
            actor,
            if closing {
                "incident.close"
            } else {
                "incident.update"
            },
            &format!("incident:{id}"),
            Some(&describe(&before)),
            Some(&new_value),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// One incident and its updates, oldest first.
    pub async fn incident(
        &self,
        id: i64,
    ) -> Result<Option<(Incident, Vec<IncidentUpdate>)>, StoreError> {
        let Some(row) = sqlx::query(&format!(
            "SELECT {INCIDENT_COLUMNS} FROM major_incidents WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await?
        else {
            return Ok(None);
        };
        let incident = incident_from_row(&row)?;
        let updates = sqlx::query(
            "SELECT id, at, author, status_before, status_after, note \
             FROM major_incident_updates WHERE incident_id = $1 ORDER BY at, id",
        )
        .bind(id)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(update_from_row)
        .collect::<Result<Vec<_>, _>>()?;
        Ok(Some((incident, updates)))
    }

    /// Incidents matching `filter`, newest first.
    pub async fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        // Far bounds instead of optional SQL parameters keep one query for both engines.
        let from = filter.from.map_or(i64::MIN, to_ms);
        let to = filter.to.map_or(i64::MAX, to_ms);
        let rows = sqlx::query(&format!(
            "SELECT {INCIDENT_COLUMNS} FROM major_incidents \
             WHERE ($1 = '' OR status = $1) AND started_at < $2 \
             AND (ended_at IS NULL OR ended_at >= $3) ORDER BY started_at DESC, id DESC"
        ))
        .bind(filter.status.map_or("", |s| s.as_str()))
        .bind(to)
        .bind(from)
        .fetch_all(&self.reader)
        .await?;
        let words: Vec<String> = filter
            .text
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        // Matched here rather than in SQL: SQLite's LOWER folds ASCII only, and the log
        // holds a few incidents a month.
        let mut out = Vec::new();
        for row in &rows {
            let i = incident_from_row(row)?;
            let hay = format!(
                "{} {} {}",
                i.declared.title, i.declared.services, i.declared.description
            )
            .to_lowercase();
            if words.iter().all(|w| hay.contains(w.as_str())) {
                out.push(i);
            }
        }
        Ok(out)
    }

    /// Incidents not ended yet (« ouvert », « en cours de résolution »), newest first.
    pub async fn ongoing_incidents(&self) -> Result<Vec<Incident>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {INCIDENT_COLUMNS} FROM major_incidents WHERE status IN ($1, $2) \
             ORDER BY started_at DESC, id DESC"
        ))
        .bind(IncidentStatus::Open.as_str())
        .bind(IncidentStatus::Resolving.as_str())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(incident_from_row).collect()
    }

    /// Count and time of the incidents going on during `[from, to)`, each clipped to the
    /// period; one still going on counts up to `now`.
    pub async fn incident_totals(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<IncidentTotals, StoreError> {
        let list = self
            .incidents(&IncidentFilter {
                from: Some(from),
                to: Some(to),
                ..IncidentFilter::default()
            })
            .await?;
        let mut totals = IncidentTotals::default();
        for i in list {
            let start = i.started_at.max(from);
            let end = i.ended_at.unwrap_or(now).min(to);
            totals.count += 1;
            totals.total_secs += (end - start).num_seconds().max(0);
        }
        Ok(totals)
    }
}

async fn insert_update(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    incident: i64,
    at: DateTime<Utc>,
    author: &str,
    before: Option<IncidentStatus>,
    after: IncidentStatus,
    note: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO major_incident_updates (incident_id, at, author, status_before, status_after, note) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(incident)
    .bind(to_ms(at))
    .bind(author)
    .bind(before.map(IncidentStatus::as_str))
    .bind(after.as_str())
    .bind(note)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
