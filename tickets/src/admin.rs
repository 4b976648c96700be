//! Agents, crisis/deterrence messages (versioned) and callback requests:
//! the rows the web and IVR rooms read and the supervisors edit. Every
//! change to an agent or a message is journaled in the same transaction.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::store::{Store, StoreError, from_ms, get_bool, get_opt_time, opt_ms, parse_col, to_ms};
use crate::text_enum::text_enum;

text_enum! {
    /// Kind of a live message.
    pub enum MessageKind {
        /// Crisis message, played first.
        Crisis => "crisis",
        /// Deterrence message, played when load is high.
        Deterrence => "deterrence",
    }
}

text_enum! {
    /// State of a callback request.
    pub enum CallbackStatus {
        /// To be called back.
        Pending => "pending",
        /// Called back.
        Done => "done",
        /// Dropped.
        Cancelled => "cancelled",
    }
}

/// A message version to save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Line (dialled number) it plays on.
    pub line: String,
    /// Crisis or deterrence.
    pub kind: MessageKind,
    /// Text (spoken by TTS when there is no audio file).
    pub text: String,
    /// Recorded audio file, if any.
    pub audio_path: Option<String>,
    /// Plays from (none: at once).
    pub starts_at: Option<DateTime<Utc>>,
    /// Plays until (none: until replaced or deactivated).
    pub ends_at: Option<DateTime<Utc>>,
    /// Whether this version is active.
    pub active: bool,
}

/// A stored message version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Row id.
    pub id: i64,
    /// Version number, 1, 2, … per line and kind.
    pub version: i64,
    /// The saved content.
    pub message: NewMessage,
    /// Supervisor who saved it.
    pub author: String,
    /// When it was saved.
    pub created_at: DateTime<Utc>,
}

/// An agent account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// Nominative login.
    pub login: String,
    /// Name shown on the wallboard.
    pub display_name: String,
    /// Roles (`agent`, `supervisor`, `admin`).
    pub roles: Vec<String>,
    /// SIP extension of the desk phone.
    pub sip_extension: Option<String>,
    /// Argon2 PHC string (never a clear password).
    pub password_hash: Option<String>,
    /// Account enabled.
    pub active: bool,
}

/// A callback request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// Id.
    pub id: i64,
    /// Call it came from.
    pub call_id: Option<i64>,
    /// Number to call back (normalised).
    pub number: String,
    /// Caller name, if known.
    pub name: Option<String>,
    /// Queue that owes the callback.
    pub queue: String,
    /// When requested.
    pub requested_at: DateTime<Utc>,
    /// Status.
    pub status: CallbackStatus,
    /// Agent who handled it.
    pub handled_by: Option<String>,
    /// When handled.
    pub handled_at: Option<DateTime<Utc>>,
}

const MESSAGE_COLUMNS: &str =
    "id, version, line, kind, text, audio_path, starts_at, ends_at, active, author, created_at";

fn message_from_row(r: &AnyRow) -> Result<Message, StoreError> {
    Ok(Message {
        id: r.try_get(0)?,
        version: r.try_get(1)?,
        message: NewMessage {
            line: r.try_get(2)?,
            kind: parse_col("messages.kind", r.try_get(3)?)?,
            text: r.try_get(4)?,
            audio_path: r.try_get(5)?,
            starts_at: get_opt_time(r, 6)?,
            ends_at: get_opt_time(r, 7)?,
            active: get_bool(r, 8)?,
        },
        author: r.try_get(9)?,
        created_at: from_ms(r.try_get(10)?),
    })
}

fn agent_from_row(r: &AnyRow) -> Result<Agent, StoreError> {
    let roles: String = r.try_get(2)?;
    Ok(Agent {
        login: r.try_get(0)?,
        display_name: r.try_get(1)?,
        roles: roles
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        sip_extension: r.try_get(3)?,
        password_hash: r.try_get(4)?,
        active: get_bool(r, 5)?,
    })
}

fn callback_from_row(r: &AnyRow) -> Result<Callback, StoreError> {
    Ok(Callback {
        id: r.try_get(0)?,
        call_id: r.try_get(1)?,
        number: r.try_get(2)?,
        name: r.try_get(3)?,
        queue: r.try_get(4)?,
        requested_at: from_ms(r.try_get(5)?),
        status: parse_col("callback_requests.status", r.try_get(6)?)?,
        handled_by: r.try_get(7)?,
        handled_at: get_opt_time(r, 8)?,
    })
}

pub(crate) async fn journal_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    subject: &str,
    old: Option<&str>,
    new: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO journal (at, actor, action, subject, old_value, new_value) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(to_ms(at))
    .bind(actor)
    .bind(action)
    .bind(subject)
    .bind(old)
    .bind(new)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Saves a new version of a line's crisis or deterrence message. An
    /// active version deactivates the previous ones of the same line and
    /// kind. Journaled (old text → new text) in the same transaction.
    pub async fn save_message(
        &self,
        m: &NewMessage,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<Message, StoreError> {
        if m.text.trim().is_empty() && m.audio_path.is_none() {
            return Err(StoreError::Invalid {
                field: "text",
                reason: "un message sans texte doit avoir un fichier audio".to_owned(),
            });
        }
        if let (Some(a), Some(b)) = (m.starts_at, m.ends_at)
            && b <= a
        {
            return Err(StoreError::Invalid {
                field: "ends_at",
                reason: "la fin doit suivre le début".to_owned(),
            });
        }
        let mut tx = self.writer.begin().await?;
        let previous = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE line = $1 AND kind = $2 ORDER BY version DESC LIMIT 1"
        ))
        .bind(&m.line)
        .bind(m.kind.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| message_from_row(&r))
        .transpose()?;
        let version = previous.as_ref().map_or(1, |p| p.version + 1);
        // A version that plays now replaces the versions playing now; versions scheduled
        // for later stay scheduled. A version scheduled for later replaces nothing yet: it
        // wins while its period lasts (the newest version in its period plays), and the
        // version playing before it plays again once it ends.
        let scheduled_later = m.starts_at.is_some_and(|a| a > now);
        if m.active && !scheduled_later {
            sqlx::query(
                "UPDATE messages SET active = $3 WHERE line = $1 AND kind = $2 \
                 AND (starts_at IS NULL OR starts_at <= $4)",
            )
            .bind(&m.line)
            .bind(m.kind.as_str())
            .bind(false)
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await?;
        }
        let row = sqlx::query(&format!(
            "INSERT INTO messages (line, kind, version, text, audio_path, starts_at, ends_at, author, active, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {MESSAGE_COLUMNS}"
        ))
        .bind(&m.line)
        .bind(m.kind.as_str())
        .bind(version)
        .bind(&m.text)
        .bind(&m.audio_path)
        .bind(opt_ms(m.starts_at))
        .bind(opt_ms(m.ends_at))
        .bind(author)
        .bind(m.active)
        .bind(to_ms(now))
        .fetch_one(&mut *tx)
        .await?;
        let saved = message_from_row(&row)?;
        let describe =
            |m: &NewMessage| format!("{}{}", if m.active { "" } else { "[inactif] " }, m.text);
        journal_in(
            &mut tx,
            now,
            author,
            "message.save",
            &format!("message:{}:{}", m.line, m.kind),
            previous.as_ref().map(|p| describe(&p.message)).as_deref(),
            Some(&describe(m)),
        )
        .await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// The message of `kind` that plays on `line` at `now`, if any.
    pub async fn active_message(
        &self,
        line: &str,
        kind: MessageKind,
        now: DateTime<Utc>,
    ) -> Result<Option<Message>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE line = $1 AND kind = $2 AND active = $3 \
             AND (starts_at IS NULL OR starts_at <= $4) AND (ends_at IS NULL OR ends_at > $4) \
             ORDER BY version DESC LIMIT 1"
        ))
        .bind(line)
        .bind(kind.as_str())
        .bind(true)
        .bind(to_ms(now))
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| message_from_row(&r)).transpose()
    }

    /// Every version of a line's message of `kind`, newest first.
    pub async fn message_history(
        &self,
        line: &str,
        kind: MessageKind,
    ) -> Result<Vec<Message>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE line = $1 AND kind = $2 ORDER BY version DESC"
        ))
        .bind(line)
        .bind(kind.as_str())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// Creates or updates an agent account (by login); journaled.
    pub async fn upsert_agent(
        &self,
        a: &Agent,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if a.login.trim().is_empty() {
            return Err(StoreError::Invalid {
                field: "login",
                reason: "obligatoire".to_owned(),
            });
        }
        let mut tx = self.writer.begin().await?;
        let old = sqlx::query(
            "SELECT login, display_name, roles, sip_extension, password_hash, active FROM agents WHERE login = $1",
        )
        .bind(&a.login)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| agent_from_row(&r))
        .transpose()?;
        sqlx::query(
            "INSERT INTO agents (login, display_name, roles, sip_extension, password_hash, active, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (login) DO UPDATE SET display_name = excluded.display_name, roles = excluded.roles, \
             sip_extension = excluded.sip_extension, password_hash = excluded.password_hash, active = excluded.active",
        )
        .bind(&a.login)
        .bind(&a.display_name)
        .bind(a.roles.join(","))
        .bind(&a.sip_extension)
        .bind(&a.password_hash)
        .bind(a.active)
        .bind(to_ms(now))
        .execute(&mut *tx)
        .await?;
        // The journal never holds password hashes.
        let describe = |a: &Agent| {
            format!(
                "{} [{}] poste {} {}",
                a.display_name,
                a.roles.join(","),
                a.sip_extension.as_deref().unwrap_or("-"),
                if a.active { "actif" } else { "désactivé" }
            )
        };
        journal_in(
            &mut tx,
            now,
            actor,
            if old.is_some() {
                "agent.update"
            } else {
                "agent.create"
            },
            &format!("agent:{}", a.login),
            old.as_ref().map(describe).as_deref(),
            Some(&describe(a)),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One agent by login.
    pub async fn agent(&self, login: &str) -> Result<Option<Agent>, StoreError> {
        let row = sqlx::query(
            "SELECT login, display_name, roles, sip_extension, password_hash, active FROM agents WHERE login = $1",
        )
        .bind(login)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| agent_from_row(&r)).transpose()
    }

    /// Every agent, by login.
    pub async fn agents(&self) -> Result<Vec<Agent>, StoreError> {
        let rows = sqlx::query(
            "SELECT login, display_name, roles, sip_extension, password_hash, active FROM agents ORDER BY login",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(agent_from_row).collect()
    }

    /// Records a callback request (an overflow to callback); returns its id.
    pub async fn create_callback(
        &self,
        call_id: Option<i64>,
        number: &str,
        name: Option<&str>,
        queue: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO callback_requests (call_id, number, name, queue, requested_at, status) \
             VALUES ($1, $2, $3, $4, $5, 'pending') RETURNING id",
        )
        .bind(call_id)
        .bind(number)
        .bind(name)
        .bind(queue)
        .bind(to_ms(now))
        .fetch_one(&self.writer)
        .await?;
        Ok(row.try_get(0)?)
    }

    /// Pending callbacks of a queue, oldest first.
    pub async fn pending_callbacks(&self, queue: &str) -> Result<Vec<Callback>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, call_id, number, name, queue, requested_at, status, handled_by, handled_at \
             FROM callback_requests WHERE queue = $1 AND status = 'pending' ORDER BY requested_at, id",
        )
        .bind(queue)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(callback_from_row).collect()
    }

    /// Marks a pending callback done or cancelled. A callback already
    /// handled is refused (two agents cannot both take it).
    pub async fn finish_callback(
        &self,
        id: i64,
        status: CallbackStatus,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if status == CallbackStatus::Pending {
            return Err(StoreError::Invalid {
                field: "status",
                reason: "un rappel se termine par « done » ou « cancelled »".to_owned(),
            });
        }
        let done = sqlx::query(
            "UPDATE callback_requests SET status = $2, handled_by = $3, handled_at = $4 \
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(by)
        .bind(to_ms(now))
        .execute(&self.writer)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "pending callback",
                id,
            });
        }
        Ok(())
    }

    /// Opens a web session for an agent. `id` is chosen by the web room;
    /// store a hash of the cookie value, never the cookie itself.
    pub async fn create_session(
        &self,
        id: &str,
        login: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO sessions (id, agent_id, created_at, expires_at) \
             SELECT $1, id, $3, $4 FROM agents WHERE login = $2 AND active = $5",
        )
        .bind(id)
        .bind(login)
        .bind(to_ms(now))
        .bind(to_ms(expires_at))
        .bind(true)
        .execute(&self.writer)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Invalid {
                field: "login",
                reason: format!("aucun agent actif « {login} »"),
            });
        }
        Ok(())
    }

    /// The login of a live session (not expired, not revoked, agent still active).
    pub async fn session_login(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT a.login FROM sessions s JOIN agents a ON a.id = s.agent_id \
             WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND a.active = $3",
        )
        .bind(id)
        .bind(to_ms(now))
        .bind(true)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Revokes a session (logout). Returns whether it was live.
    pub async fn revoke_session(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(to_ms(now))
                .execute(&self.writer)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every message version saved for later (active, starting after `now`), by start.
    pub async fn scheduled_messages(&self, now: DateTime<Utc>) -> Result<Vec<Message>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE active = $1 AND starts_at > $2 \
             ORDER BY starts_at, id"
        ))
        .bind(true)
        .bind(to_ms(now))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// Adds a message to the library of saved messages (or replaces the one of the same
    /// name); journaled. Returns its id.
    pub async fn save_library_message(
        &self,
        name: &str,
        text: &str,
        audio_path: Option<&str>,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::Invalid {
                field: "name",
                reason: "donnez un nom au message".to_owned(),
            });
        }
        if text.trim().is_empty() && audio_path.is_none() {
            return Err(StoreError::Invalid {
                field: "text",
                reason: "un message sans texte doit avoir un fichier audio".to_owned(),
            });
        }
        let mut tx = self.writer.begin().await?;
        let old: Option<String> = sqlx::query("SELECT text FROM saved_messages WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        let id: i64 = sqlx::query(
            "INSERT INTO saved_messages (name, text, audio_path, author, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET text = excluded.text, \
             audio_path = excluded.audio_path, author = excluded.author, created_at = excluded.created_at \
             RETURNING id",
        )
        .bind(name)
        .bind(text)
        .bind(audio_path)
        .bind(author)
        .bind(to_ms(now))
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        journal_in(
            &mut tx,
            now,
            author,
            "saved_message.save",
            &format!("saved_message:{name}"),
            old.as_deref(),
            Some(text),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The library of saved messages, by name.
    pub async fn library_messages(&self) -> Result<Vec<SavedMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, text, audio_path, author, created_at FROM saved_messages ORDER BY name",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(saved_from_row).collect()
    }

    /// One saved message.
    pub async fn library_message(&self, id: i64) -> Result<Option<SavedMessage>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, text, audio_path, author, created_at FROM saved_messages WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| saved_from_row(&r)).transpose()
    }

    /// Removes a saved message from the library; journaled.
    pub async fn remove_library_message(
        &self,
        id: i64,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        let row = sqlx::query("SELECT name, text FROM saved_messages WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound {
                what: "saved message",
                id,
            })?;
        let (name, text): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        sqlx::query("DELETE FROM saved_messages WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        journal_in(
            &mut tx,
            now,
            actor,
            "saved_message.remove",
            &format!("saved_message:{name}"),
            Some(&text),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A message of the library supervisors pick from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedMessage {
    /// Row id.
    pub id: i64,
    /// Unique name ("Panne messagerie", ...).
    pub name: String,
    /// Text (spoken by TTS when there is no audio file).
    pub text: String,
    /// Recorded audio file, if any.
    pub audio_path: Option<String>,
    /// Who saved it.
    pub author: String,
    /// When it was saved.
    pub created_at: DateTime<Utc>,
}

fn saved_from_row(r: &AnyRow) -> Result<SavedMessage, StoreError> {
    Ok(SavedMessage {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        text: r.try_get(2)?,
        audio_path: r.try_get(3)?,
        author: r.try_get(4)?,
        created_at: from_ms(r.try_get(5)?),
    })
}

/// An exceptional closure or opening of a calendar, added from the administration page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCalendarException {
    /// Calendar name (key of `[calendars]`).
    pub calendar: String,
    /// First day concerned (local date).
    pub date: chrono::NaiveDate,
    /// Last day concerned, inclusive (none: `date` only).
    pub until: Option<chrono::NaiveDate>,
    /// Ranges open on those days (`"HH:MM-HH:MM"`); none: closed all day.
    pub hours: Option<Vec<String>>,
    /// What callers and agents are told.
    pub label: String,
}

/// A stored calendar exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarException {
    /// Row id.
    pub id: i64,
    /// The exception.
    pub exception: NewCalendarException,
    /// Who added it.
    pub author: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

fn describe_exception(e: &NewCalendarException) -> String {
    let days = match e.until {
        Some(u) if u != e.date => format!("du {} au {}", e.date, u),
        _ => format!("le {}", e.date),
    };
    let hours = match &e.hours {
        Some(h) if !h.is_empty() => format!("ouvert {}", h.join(", ")),
        _ => "fermé".to_owned(),
    };
    format!("{days} : {hours} ({})", e.label)
}

fn exception_from_row(r: &AnyRow) -> Result<CalendarException, StoreError> {
    let day = |s: String| {
        chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|_| StoreError::Invalid {
            field: "calendar_exceptions.first_day",
            reason: format!("date illisible « {s} »"),
        })
    };
    let hours: Option<String> = r.try_get(4)?;
    Ok(CalendarException {
        id: r.try_get(0)?,
        exception: NewCalendarException {
            calendar: r.try_get(1)?,
            date: day(r.try_get(2)?)?,
            until: r.try_get::<Option<String>, _>(3)?.map(day).transpose()?,
            hours: hours.map(|h| {
                h.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            }),
            label: r.try_get(5)?,
        },
        author: r.try_get(6)?,
        created_at: from_ms(r.try_get(7)?),
    })
}

impl Store {
    /// Adds an exceptional closure or opening; journaled. Returns its id.
    pub async fn add_calendar_exception(
        &self,
        e: &NewCalendarException,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        if e.until.is_some_and(|u| u < e.date) {
            return Err(StoreError::Invalid {
                field: "until",
                reason: "le dernier jour précède le premier".to_owned(),
            });
        }
        let mut tx = self.writer.begin().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO calendar_exceptions (calendar, first_day, last_day, hours, label, author, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(&e.calendar)
        .bind(e.date.format("%Y-%m-%d").to_string())
        .bind(e.until.map(|u| u.format("%Y-%m-%d").to_string()))
        .bind(e.hours.as_ref().map(|h| h.join(",")))
        .bind(&e.label)
        .bind(author)
        .bind(to_ms(now))
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        journal_in(
            &mut tx,
            now,
            author,
            "calendar.exception.add",
            &format!("calendar:{}", e.calendar),
            None,
            Some(&describe_exception(e)),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Removes an exception from now on (the row keeps the instant of its removal: SLA clocks
    /// count past business time with the calendar in force then); journaled. Returns the
    /// calendar it belonged to.
    pub async fn remove_calendar_exception(
        &self,
        id: i64,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        let mut tx = self.writer.begin().await?;
        let row = sqlx::query(
            "SELECT id, calendar, first_day, last_day, hours, label, author, created_at \
             FROM calendar_exceptions WHERE id = $1 AND removed_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound {
            what: "calendar exception",
            id,
        })?;
        let old = exception_from_row(&row)?;
        sqlx::query("UPDATE calendar_exceptions SET removed_at = $2 WHERE id = $1")
            .bind(id)
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await?;
        journal_in(
            &mut tx,
            now,
            actor,
            "calendar.exception.remove",
            &format!("calendar:{}", old.exception.calendar),
            Some(&describe_exception(&old.exception)),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(old.exception.calendar)
    }

    /// The exceptions in force of a calendar (every calendar when `None`), by first day.
    pub async fn calendar_exceptions(
        &self,
        calendar: Option<&str>,
    ) -> Result<Vec<CalendarException>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, calendar, first_day, last_day, hours, label, author, created_at \
             FROM calendar_exceptions WHERE ($1 = '' OR calendar = $1) AND removed_at IS NULL \
             ORDER BY first_day, id",
        )
        .bind(calendar.unwrap_or(""))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(exception_from_row).collect()
    }

    /// Every exception ever added to `calendar`, removed ones included, each with the instant
    /// it was removed (`None`: still in force), oldest first: the calendar's history.
    pub async fn calendar_exception_history(
        &self,
        calendar: &str,
    ) -> Result<Vec<(CalendarException, Option<DateTime<Utc>>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, calendar, first_day, last_day, hours, label, author, created_at, removed_at \
             FROM calendar_exceptions WHERE calendar = $1 ORDER BY id",
        )
        .bind(calendar)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                let removed: Option<i64> = r.try_get(8)?;
                Ok((exception_from_row(r)?, removed.map(from_ms)))
            })
            .collect()
    }
}
