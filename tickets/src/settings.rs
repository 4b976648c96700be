//! Settings the configuration file defines and the administration pages change: SLA grids,
//! calendars' weekly opening hours, agents' queues and levels. Each change is a new row (a
//! version) journaled in the same transaction, with the value before and after; the newest
//! row of a (kind, name) is in force, over the configuration (docs/web.md).
//!
//! Values are opaque text (JSON in practice): the store keeps them, the binary gives them
//! their meaning.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::admin::journal_in;
use crate::store::{Store, StoreError, from_ms, to_ms};

/// Kind of an SLA policy (grid) version; name: the policy's name.
pub const SLA_POLICY: &str = "sla_policy";
/// Kind of a calendar's weekly hours; name: the calendar's name.
pub const CALENDAR_HOURS: &str = "calendar_hours";
/// Kind of an agent's queues and levels; name: the agent's login.
pub const AGENT_QUEUES: &str = "agent_queues";

/// The journal line written with a setting change.
#[derive(Debug, Clone, Copy)]
pub struct SettingJournal<'a> {
    /// Journal action, e.g. `agent.queue`.
    pub action: &'a str,
    /// Journal subject, e.g. `agent:amelie.martin`.
    pub subject: &'a str,
    /// Readable value before.
    pub before: Option<&'a str>,
    /// Readable value after.
    pub after: Option<&'a str>,
}

/// One saved version of a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSetting {
    /// Row id: increases with every save, whatever the kind.
    pub id: i64,
    /// What it is ([`SLA_POLICY`], [`CALENDAR_HOURS`], [`AGENT_QUEUES`]).
    pub kind: String,
    /// Which one (policy, calendar or agent).
    pub name: String,
    /// The value (JSON).
    pub value: String,
    /// Who saved it.
    pub author: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

fn setting_from_row(r: &sqlx::any::AnyRow) -> Result<StoredSetting, StoreError> {
    Ok(StoredSetting {
        id: r.try_get(0)?,
        kind: r.try_get(1)?,
        name: r.try_get(2)?,
        value: r.try_get(3)?,
        author: r.try_get(4)?,
        created_at: from_ms(r.try_get(5)?),
    })
}

impl Store {
    /// Saves a new version of the setting `kind`/`name` and journals it (action
    /// `settings.KIND`, subject `KIND:NAME`) with `before` (the value in force until now, the
    /// configuration's when nothing was saved yet) and the new value. Returns the row id.
    pub async fn save_setting(
        &self,
        kind: &str,
        name: &str,
        before: Option<&str>,
        value: &str,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let journal = SettingJournal {
            action: &format!("settings.{kind}"),
            subject: &format!("{kind}:{name}"),
            before,
            after: Some(value),
        };
        self.save_setting_journaled(kind, name, value, &journal, author, now)
            .await
    }

    /// Saves a new version of the setting `kind`/`name` with the journal line `journal`, in
    /// one transaction. Returns the row id.
    pub async fn save_setting_journaled(
        &self,
        kind: &str,
        name: &str,
        value: &str,
        journal: &SettingJournal<'_>,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.writer.begin().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO admin_settings (kind, name, value, author, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(kind)
        .bind(name)
        .bind(value)
        .bind(author)
        .bind(to_ms(now))
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        journal_in(
            &mut tx,
            now,
            author,
            journal.action,
            journal.subject,
            journal.before,
            journal.after,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The version in force of every setting of `kind` (the newest per name), by name.
    pub async fn current_settings(&self, kind: &str) -> Result<Vec<StoredSetting>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.id, s.kind, s.name, s.value, s.author, s.created_at FROM admin_settings s \
             WHERE s.kind = $1 AND s.id = (SELECT MAX(n.id) FROM admin_settings n \
             WHERE n.kind = s.kind AND n.name = s.name) ORDER BY s.name",
        )
        .bind(kind)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(setting_from_row).collect()
    }

    /// The id of the newest saved version of any setting (0: none): a node follows other
    /// nodes' changes by watching it grow.
    pub async fn latest_setting_id(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) FROM admin_settings")
            .fetch_one(&self.reader)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Every version ever saved of `kind` (oldest first): SLA clocks keep the grid they
    /// started under, so the SLA runner needs them all.
    pub async fn setting_versions(&self, kind: &str) -> Result<Vec<StoredSetting>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, name, value, author, created_at FROM admin_settings \
             WHERE kind = $1 ORDER BY id",
        )
        .bind(kind)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(setting_from_row).collect()
    }
}
