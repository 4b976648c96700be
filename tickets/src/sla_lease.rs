//! Which node runs the live SLA runner when several nodes share one database.
//!
//! On PostgreSQL the runner's node holds a session-level advisory lock on a connection of its
//! own, taken out of the pool for the runner's life: the server releases the lock as soon as
//! that session ends, whether the node stopped cleanly, crashed or was killed (`kill -9`), so
//! another node can take over. A SQLite database serves a single node: the lease is always
//! granted.

use sqlx::AnyConnection;
use sqlx::{Connection, Row};

use crate::store::{Backend, Store, StoreError};

/// The advisory lock key of the SLA runner ("guichet" + 0x01, read as a big-endian number):
/// one key for every node of one database.
pub const SLA_RUNNER_LOCK_KEY: i64 = 0x6775_6963_6865_7401;

/// The right to run the SLA runner, held until dropped (or until its connection is lost).
#[derive(Debug)]
pub struct SlaLease {
    /// The PostgreSQL session holding the advisory lock; `None` on SQLite.
    session: Option<AnyConnection>,
}

impl SlaLease {
    /// Whether the lease still holds: on PostgreSQL, whether the session holding the lock
    /// still answers (a lost session means the lock was released and another node may lead).
    pub async fn still_held(&mut self) -> bool {
        match self.session.as_mut() {
            Some(session) => session.ping().await.is_ok(),
            None => true,
        }
    }

    /// Gives the lease back at once (the other nodes may lead from their next attempt).
    pub async fn release(mut self) {
        if let Some(mut session) = self.session.take() {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(SLA_RUNNER_LOCK_KEY)
                .execute(&mut session)
                .await;
            if let Err(e) = unlocked {
                tracing::debug!(error = %e, "SLA lease not unlocked; closing its session");
            }
            // Closing the session releases the lock whatever happened above.
            let _ = session.close().await;
        }
    }
}

impl Store {
    /// Tries to become the node that runs the SLA runner: `Some` when this node leads (always
    /// on SQLite), `None` when another node of the same PostgreSQL database holds the lease.
    pub async fn try_lead_sla(&self) -> Result<Option<SlaLease>, StoreError> {
        if matches!(self.backend(), Backend::Sqlite) {
            return Ok(Some(SlaLease { session: None }));
        }
        // A session of its own, outside the pool: a pooled connection would keep the lock
        // after being handed back, for whichever query borrows it next.
        let mut session = self.writer.acquire().await?.detach();
        let row = sqlx::query("SELECT pg_try_advisory_lock($1)")
            .bind(SLA_RUNNER_LOCK_KEY)
            .fetch_one(&mut session)
            .await?;
        let locked: bool = row.try_get(0)?;
        if locked {
            Ok(Some(SlaLease {
                session: Some(session),
            }))
        } else {
            let _ = session.close().await;
            Ok(None)
        }
    }
}
