//! What the live switchboard needs beyond the call record itself: free-form call events
//! (what the IVR did), the removal of a line's crisis or deterrence message, and the caller's
//! open ticket (a new call is attached to it rather than opening another).

use chrono::{DateTime, Utc};

use crate::admin::MessageKind;
use crate::store::{Store, StoreError, to_ms};

impl Store {
    /// Appends one event to a call's append-only event list.
    pub async fn append_call_event(
        &self,
        call_id: i64,
        at: DateTime<Utc>,
        kind: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO call_events (call_id, at, kind, detail) VALUES ($1, $2, $3, $4)")
            .bind(call_id)
            .bind(to_ms(at))
            .bind(kind)
            .bind(detail)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Deactivates the active versions of a line's message of `kind` (a supervisor removed
    /// it), journaled in the same transaction. Returns how many versions were deactivated.
    pub async fn deactivate_messages(
        &self,
        line: &str,
        kind: MessageKind,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "UPDATE messages SET active = $1 WHERE line = $2 AND kind = $3 AND active = $4",
        )
        .bind(false)
        .bind(line)
        .bind(kind.as_str())
        .bind(true)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "INSERT INTO journal (at, actor, action, subject, old_value, new_value) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(to_ms(now))
        .bind(actor)
        .bind(format!("message_{}_removed", kind.as_str()))
        .bind(format!("line:{line}"))
        .bind(Option::<String>::None)
        .bind(Option::<String>::None)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done)
    }
}

impl Store {
    /// The most recent ticket of `person` that is neither resolved nor closed, if any.
    pub async fn open_ticket_of_person(&self, person: i64) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT id FROM tickets WHERE requester_person_id = $1 \
             AND status NOT IN ('resolved', 'closed') ORDER BY id DESC LIMIT 1",
        )
        .bind(person)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| sqlx::Row::try_get::<i64, _>(&r, 0))
            .transpose()
            .map_err(StoreError::from)
    }
}

/// A pending callback request, as the switchboard needs it to place the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCallback {
    /// Request id.
    pub id: i64,
    /// The number to call back.
    pub number: String,
    /// The caller's name, when known.
    pub name: Option<String>,
    /// The queue whose agents call back.
    pub queue: String,
}

impl Store {
    /// The callback request `id` while it is still pending.
    pub async fn pending_callback(&self, id: i64) -> Result<Option<PendingCallback>, StoreError> {
        let row = sqlx::query(
            "SELECT id, number, name, queue FROM callback_requests WHERE id = $1 AND status = 'pending'",
        )
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| {
            Ok(PendingCallback {
                id: sqlx::Row::try_get(&r, 0)?,
                number: sqlx::Row::try_get(&r, 1)?,
                name: sqlx::Row::try_get(&r, 2)?,
                queue: sqlx::Row::try_get(&r, 3)?,
            })
        })
        .transpose()
        .map_err(|e: sqlx::Error| StoreError::from(e))
    }
}
