//! Crisis and deterrence messages per line, as the switchboard keeps them live.
//!
//! The [`MessageBoard`] is plain data the switchboard owns and updates; sessions read it at
//! the moment a caller reaches a crisis or deterrence node, so a change is heard by the next
//! caller who gets there. Every change returns a [`JournalEntry`] for the event journal, and
//! only supervisors and administrators may change messages by hand.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::deterrence::{DeterrenceDecision, DeterrenceReason};

/// The two kinds of line messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Message de crise: played first to every caller while active.
    Crisis,
    /// Message de dissuasion: played before queueing while active.
    Deterrence,
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MessageKind::Crisis => "message de crise",
            MessageKind::Deterrence => "message de dissuasion",
        })
    }
}

/// What is played for a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum MessageAudio {
    /// A catalogue prompt (or its administrator's recording).
    Prompt(String),
    /// A WAV file, typically synthesised from the typed text by [`crate::tts`].
    File(PathBuf),
}

/// Roles of Guichet accounts, as far as messages are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Helpdesk agent: may not change messages.
    Agent,
    /// Team manager or incident manager.
    Supervisor,
    /// Administrator.
    Admin,
}

impl Role {
    /// Whether this role may set or remove crisis and deterrence messages.
    pub fn may_change_messages(self) -> bool {
        matches!(self, Role::Supervisor | Role::Admin)
    }
}

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Account name (nominative account).
    pub name: String,
    /// Role of the account.
    pub role: Role,
}

/// A message as set on a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineMessage {
    /// The French text (what the audio says; shown on the wallboard).
    pub text: String,
    /// What is played.
    pub audio: MessageAudio,
    /// When it starts being played.
    pub starts_at: DateTime<Utc>,
    /// When it stops being played, if it has an end.
    pub ends_at: Option<DateTime<Utc>>,
    /// Account name of whoever set it (`automatique` for automatic deterrence).
    pub author: String,
}

impl LineMessage {
    /// Whether the message is in force at `now` (start inclusive, end exclusive).
    pub fn is_active_at(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && self.ends_at.is_none_or(|end| now < end)
    }
}

/// A message a supervisor wants to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageDraft {
    /// The French text.
    pub text: String,
    /// What is played.
    pub audio: MessageAudio,
    /// Start; `None` means now.
    pub starts_at: Option<DateTime<Utc>>,
    /// Optional end.
    pub ends_at: Option<DateTime<Utc>>,
}

/// What happened to a message, for the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalAction {
    /// A message was put in place where none was.
    Activated,
    /// A message replaced another.
    Changed,
    /// A message was removed (by hand or because load fell back).
    Removed,
    /// A message reached its end time.
    Expired,
}

/// One event-journal entry: who, when, line, kind, old and new.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JournalEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Line (e.g. `8585`).
    pub line: String,
    /// Crisis or deterrence.
    pub kind: MessageKind,
    /// What happened.
    pub action: JournalAction,
    /// Account name, or `automatique` for automatic changes.
    pub actor: String,
    /// Role of the account; `None` for automatic changes.
    pub actor_role: Option<Role>,
    /// The message before.
    pub old: Option<LineMessage>,
    /// The message after.
    pub new: Option<LineMessage>,
    /// Why, in French (thresholds crossed, load back to normal...), when automatic.
    pub reason: Option<String>,
}

/// Why a message change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// Agents may not change messages.
    #[error(
        "account `{actor}` with role {role:?} may not change messages (supervisor or admin only)"
    )]
    Forbidden {
        /// Account name.
        actor: String,
        /// Its role.
        role: Role,
    },
    /// The text is empty.
    #[error("the message text is empty")]
    EmptyText,
    /// The end is not after the start (or already past).
    #[error("the message ends ({ends_at}) before it starts or before now")]
    EndNotAfterStart {
        /// The end given.
        ends_at: DateTime<Utc>,
    },
}

/// Name written in the journal and as author for automatic deterrence.
pub const AUTOMATIC_ACTOR: &str = "automatique";

/// Text of the automatic deterrence message when a line has none configured.
pub const DEFAULT_DETERRENCE_TEXT: &str = "En raison d'un nombre d'appels exceptionnel, le temps d'attente est plus long que d'habitude. Vous pouvez aussi déclarer votre demande sur le portail.";
/// Prompt of the automatic deterrence message when a line has none configured.
pub const DEFAULT_DETERRENCE_PROMPT: &str = "dissuasion_defaut";

/// Crisis and deterrence messages of every line.
#[derive(Debug, Clone, Default)]
pub struct MessageBoard {
    manual: BTreeMap<(String, MessageKind), LineMessage>,
    automatic_deterrence: BTreeMap<String, LineMessage>,
    automatic_templates: BTreeMap<String, (String, MessageAudio)>,
}

impl MessageBoard {
    /// An empty board.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets what the automatic deterrence plays on `line` (else [`DEFAULT_DETERRENCE_PROMPT`]).
    pub fn set_automatic_deterrence_template(
        &mut self,
        line: &str,
        text: String,
        audio: MessageAudio,
    ) {
        self.automatic_templates
            .insert(line.to_owned(), (text, audio));
    }

    /// The message of `kind` in force on `line` at `now`: a message set by hand wins over
    /// automatic deterrence.
    pub fn active(
        &self,
        line: &str,
        kind: MessageKind,
        now: DateTime<Utc>,
    ) -> Option<&LineMessage> {
        let manual = self
            .manual
            .get(&(line.to_owned(), kind))
            .filter(|m| m.is_active_at(now));
        match (manual, kind) {
            (Some(m), _) => Some(m),
            (None, MessageKind::Deterrence) => self.automatic_deterrence.get(line),
            (None, MessageKind::Crisis) => None,
        }
    }

    /// The message set by hand (active or scheduled), if any.
    pub fn manual(&self, line: &str, kind: MessageKind) -> Option<&LineMessage> {
        self.manual.get(&(line.to_owned(), kind))
    }

    /// Whether deterrence on `line` is currently switched on automatically.
    pub fn automatic_deterrence_active(&self, line: &str) -> bool {
        self.automatic_deterrence.contains_key(line)
    }

    /// Sets (or replaces) a message by hand. Refused for agents.
    pub fn set(
        &mut self,
        actor: &Actor,
        line: &str,
        kind: MessageKind,
        draft: MessageDraft,
        now: DateTime<Utc>,
    ) -> Result<JournalEntry, MessageError> {
        check_role(actor)?;
        if draft.text.trim().is_empty() {
            return Err(MessageError::EmptyText);
        }
        let starts_at = draft.starts_at.unwrap_or(now);
        if let Some(end) = draft.ends_at
            && (end <= starts_at || end <= now)
        {
            return Err(MessageError::EndNotAfterStart { ends_at: end });
        }
        let new = LineMessage {
            text: draft.text,
            audio: draft.audio,
            starts_at,
            ends_at: draft.ends_at,
            author: actor.name.clone(),
        };
        let old = self
            .manual
            .insert((line.to_owned(), kind), new.clone())
            .or_else(|| match kind {
                MessageKind::Deterrence => self.automatic_deterrence.get(line).cloned(),
                MessageKind::Crisis => None,
            });
        tracing::info!(line, %kind, actor = %actor.name, "line message set");
        Ok(JournalEntry {
            at: now,
            line: line.to_owned(),
            kind,
            action: if old.is_some() {
                JournalAction::Changed
            } else {
                JournalAction::Activated
            },
            actor: actor.name.clone(),
            actor_role: Some(actor.role),
            old,
            new: Some(new),
            reason: None,
        })
    }

    /// Removes a message by hand (for deterrence, also the automatic one). Refused for agents.
    /// Returns `None` when there was nothing to remove. After removing automatic deterrence,
    /// tell the line's [`crate::DeterrenceController`] with `cleared_by_hand`.
    pub fn remove(
        &mut self,
        actor: &Actor,
        line: &str,
        kind: MessageKind,
        now: DateTime<Utc>,
    ) -> Result<Option<JournalEntry>, MessageError> {
        check_role(actor)?;
        let manual = self.manual.remove(&(line.to_owned(), kind));
        let automatic = match kind {
            MessageKind::Deterrence => self.automatic_deterrence.remove(line),
            MessageKind::Crisis => None,
        };
        let Some(old) = manual.or(automatic) else {
            return Ok(None);
        };
        tracing::info!(line, %kind, actor = %actor.name, "line message removed");
        Ok(Some(JournalEntry {
            at: now,
            line: line.to_owned(),
            kind,
            action: JournalAction::Removed,
            actor: actor.name.clone(),
            actor_role: Some(actor.role),
            old: Some(old),
            new: None,
            reason: None,
        }))
    }

    /// Applies a decision of a [`crate::DeterrenceController`]; returns the journal entry
    /// when it changed anything.
    pub fn apply_deterrence(
        &mut self,
        decision: &DeterrenceDecision,
        now: DateTime<Utc>,
    ) -> Option<JournalEntry> {
        match decision {
            DeterrenceDecision::Activate { line, reasons } => {
                if self.automatic_deterrence.contains_key(line) {
                    return None;
                }
                let (text, audio) = self.automatic_templates.get(line).cloned().unwrap_or((
                    DEFAULT_DETERRENCE_TEXT.to_owned(),
                    MessageAudio::Prompt(DEFAULT_DETERRENCE_PROMPT.to_owned()),
                ));
                let new = LineMessage {
                    text,
                    audio,
                    starts_at: now,
                    ends_at: None,
                    author: AUTOMATIC_ACTOR.to_owned(),
                };
                self.automatic_deterrence.insert(line.clone(), new.clone());
                tracing::info!(line, "automatic deterrence switched on");
                Some(JournalEntry {
                    at: now,
                    line: line.clone(),
                    kind: MessageKind::Deterrence,
                    action: JournalAction::Activated,
                    actor: AUTOMATIC_ACTOR.to_owned(),
                    actor_role: None,
                    old: None,
                    new: Some(new),
                    reason: Some(describe_reasons(reasons)),
                })
            }
            DeterrenceDecision::Clear { line } => {
                let old = self.automatic_deterrence.remove(line)?;
                tracing::info!(line, "automatic deterrence switched off");
                Some(JournalEntry {
                    at: now,
                    line: line.clone(),
                    kind: MessageKind::Deterrence,
                    action: JournalAction::Removed,
                    actor: AUTOMATIC_ACTOR.to_owned(),
                    actor_role: None,
                    old: Some(old),
                    new: None,
                    reason: Some("charge revenue sous les seuils".to_owned()),
                })
            }
        }
    }

    /// Drops the messages whose end has passed at `now`, with one journal entry each.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Vec<JournalEntry> {
        let expired: Vec<(String, MessageKind)> = self
            .manual
            .iter()
            .filter(|(_, m)| m.ends_at.is_some_and(|end| end <= now))
            .map(|(k, _)| k.clone())
            .collect();
        expired
            .into_iter()
            .filter_map(|key| {
                let old = self.manual.remove(&key)?;
                Some(JournalEntry {
                    at: now,
                    line: key.0,
                    kind: key.1,
                    action: JournalAction::Expired,
                    actor: AUTOMATIC_ACTOR.to_owned(),
                    actor_role: None,
                    old: Some(old),
                    new: None,
                    reason: Some("fin de diffusion atteinte".to_owned()),
                })
            })
            .collect()
    }

    /// The next instant at which [`MessageBoard::expire`] has something to do.
    pub fn next_expiry(&self) -> Option<DateTime<Utc>> {
        self.manual.values().filter_map(|m| m.ends_at).min()
    }
}

fn check_role(actor: &Actor) -> Result<(), MessageError> {
    if actor.role.may_change_messages() {
        Ok(())
    } else {
        tracing::warn!(actor = %actor.name, "message change refused: role not allowed");
        Err(MessageError::Forbidden {
            actor: actor.name.clone(),
            role: actor.role,
        })
    }
}

fn describe_reasons(reasons: &[DeterrenceReason]) -> String {
    let parts: Vec<String> = reasons.iter().map(ToString::to_string).collect();
    format!("seuils franchis : {}", parts.join(", "))
}
