//! API tokens: named bearer tokens that let a program (a ministry's ITSM, a
//! statistics tool) call the JSON API without a browser session.
//!
//! The store never sees a token in clear: the web room hashes it (SHA-256)
//! and passes the hash, plus a short prefix that lets admins recognise a
//! token in the list. Creation and revocation go to the event journal.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::store::{JournalEntry, Store, StoreError, from_ms, get_opt_time, to_ms};
use crate::text_enum::text_enum;

text_enum! {
    /// What a token may do.
    pub enum TokenRole {
        /// Read the statistics (reports, dashboards) and nothing else.
        Statistics => "statistics",
        /// Everything a supervisor may do through the API, writes included.
        Supervisor => "supervisor",
    }
}

/// A stored API token (its hash, never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Store id.
    pub id: i64,
    /// Name given by the admin (`ITSM ministère`…).
    pub name: String,
    /// What it may do.
    pub role: TokenRole,
    /// First characters of the token, to recognise it.
    pub prefix: String,
    /// Admin who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Last accepted use.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

const TOKEN_COLUMNS: &str =
    "id, name, role, prefix, created_by, created_at, last_used_at, revoked_at";

fn token_from_row(r: &sqlx::any::AnyRow) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        role: crate::store::parse_col("api_tokens.role", r.try_get(2)?)?,
        prefix: r.try_get(3)?,
        created_by: r.try_get(4)?,
        created_at: from_ms(r.try_get(5)?),
        last_used_at: get_opt_time(r, 6)?,
        revoked_at: get_opt_time(r, 7)?,
    })
}

impl Store {
    /// Stores a new token by its hash; journaled as `api_token.create`.
    pub async fn create_api_token(
        &self,
        name: &str,
        role: TokenRole,
        token_hash: &str,
        prefix: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(StoreError::Invalid {
                field: "name",
                reason: "le nom du jeton doit compter de 1 à 100 caractères".to_owned(),
            });
        }
        let row = sqlx::query(
            "INSERT INTO api_tokens (name, role, token_hash, prefix, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(token_hash)
        .bind(prefix)
        .bind(actor)
        .bind(to_ms(now))
        .fetch_one(&self.writer)
        .await?;
        let id: i64 = row.try_get(0)?;
        self.journal(&JournalEntry {
            at: now,
            actor: actor.to_owned(),
            action: "api_token.create".to_owned(),
            subject: format!("api_token:{id}"),
            old_value: None,
            new_value: Some(format!("{name} ({}, {prefix}…)", role.as_str())),
        })
        .await?;
        Ok(id)
    }

    /// Every token, newest first.
    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id DESC"
        ))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// The live (not revoked) token with this hash.
    pub async fn live_api_token(&self, token_hash: &str) -> Result<Option<ApiToken>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL"
        ))
        .bind(token_hash)
        .fetch_optional(&self.writer)
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    /// Records an accepted use of a token.
    pub async fn touch_api_token(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(to_ms(now))
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Revokes a token; journaled as `api_token.revoke`. Returns whether it
    /// was live.
    pub async fn revoke_api_token(
        &self,
        id: i64,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1, revoked_by = $2 \
             WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(to_ms(now))
        .bind(actor)
        .bind(id)
        .execute(&self.writer)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.journal(&JournalEntry {
            at: now,
            actor: actor.to_owned(),
            action: "api_token.revoke".to_owned(),
            subject: format!("api_token:{id}"),
            old_value: Some("actif".to_owned()),
            new_value: Some("révoqué".to_owned()),
        })
        .await?;
        Ok(true)
    }
}
