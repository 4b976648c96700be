//! Calls refused at the helpdesk's door with 503: the server was overloaded (too many calls
//! in progress, or arriving too fast) or shutting down.
//!
//! Such a call was presented to the helpdesk, which did not take it: the answer rate
//! (answered ÷ presented) must count it, or a flood would vanish from the very figures that
//! should show it. So refusals are stored two ways, both written by the call-log writer in
//! its batches (never a commit of their own):
//!
//! - each refusal within the switchboard's per-second budget is a call record of its own,
//!   closed at once with outcome [`CallOutcome::Refused`] and a `refused` event naming the
//!   reason ([`RefusedCall`]);
//! - beyond the budget (a flood), refusals are only counted, per minute, line and reason, in
//!   `refused_call_counts` ([`RefusalCount`]), so that the writer never becomes the
//!   bottleneck of a flood.
//!
//! The records are call facts like any other ([`Store::call_facts_between`]); the dashboards
//! and reports add the counted ones to their figures with
//! [`guichet_acd::stats::Indicators::add_refused`] (never one fact per counted call: a flood
//! of a million refusals is one row a minute). Both count as presented and not answered.

use chrono::{DateTime, Timelike as _, Utc};
use sqlx::Row as _;

use crate::CallOutcome;
use crate::calls::{CallLogQuery, EventRow, outcome_str};
use crate::store::{Store, StoreError, from_ms, to_ms};
use crate::text_enum::text_enum;

text_enum! {
    /// Why a call was refused with 503.
    pub enum RefusalReason {
        /// As many calls in progress as `max_concurrent_calls`.
        TooManyCalls => "too_many_calls",
        /// More new calls this second than `max_calls_per_second`.
        CallRate => "call_rate",
        /// The server is stopping (SIGTERM).
        Shutdown => "shutdown",
    }
}

impl RefusalReason {
    /// The reason in French, for supervisors.
    pub fn label_fr(self) -> &'static str {
        match self {
            RefusalReason::TooManyCalls => "saturation : trop d'appels en cours",
            RefusalReason::CallRate => "saturation : trop d'appels par seconde",
            RefusalReason::Shutdown => "arrêt du serveur",
        }
    }
}

/// A call refused with 503, recorded on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedCall {
    /// SIP Call-ID of the refused INVITE.
    pub sip_call_id: String,
    /// The line dialled.
    pub line: String,
    /// The caller's number as it came (no directory lookup: a flood must not load the
    /// directory; the record is therefore never VIP).
    pub caller_number: String,
    /// Display name from the From header, if any.
    pub caller_name: Option<String>,
    /// When the call was refused (its arrival and its end).
    pub at: DateTime<Utc>,
    /// Why.
    pub reason: RefusalReason,
}

/// Refusals beyond the budget, counted: `refused` more calls to `line` for `reason` in the
/// minute starting at `minute`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalCount {
    /// Start of the minute (seconds and below are dropped when written).
    pub minute: DateTime<Utc>,
    /// The line dialled.
    pub line: String,
    /// Why.
    pub reason: RefusalReason,
    /// How many.
    pub refused: u64,
}

const INSERT_REFUSED: &str = "INSERT INTO calls (sip_call_id, line, state, outcome, caller_number, \
     caller_name, vip, p0, arrived_at, ended_at) VALUES ($1, $2, 'ended', $3, $4, $5, $6, $6, $7, $7) \
     RETURNING id";

const ADD_COUNT: &str = "INSERT INTO refused_call_counts (minute_start, line, reason, refused) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (minute_start, line, reason) \
     DO UPDATE SET refused = refused_call_counts.refused + excluded.refused";

/// The start of the minute of `t` (the key of `refused_call_counts`).
pub fn minute_start(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_second(0)
        .and_then(|m| m.with_nanosecond(0))
        .unwrap_or(t)
}

/// The `INSERT` of a refused call's record (closed, outcome `refused`), returning its id.
pub(crate) fn insert_refused(call: &RefusedCall) -> CallLogQuery {
    sqlx::query(INSERT_REFUSED)
        .bind(call.sip_call_id.clone())
        .bind(call.line.clone())
        .bind(outcome_str(CallOutcome::Refused))
        .bind(call.caller_number.clone())
        .bind(call.caller_name.clone())
        .bind(false)
        .bind(to_ms(call.at))
}

/// The event rows of a refused call's record: arrived, refused (with the reason), ended.
pub(crate) fn refused_events(call: &RefusedCall) -> [EventRow; 3] {
    let event = |kind: &str, detail: &str| EventRow {
        at: call.at,
        kind: kind.to_owned(),
        detail: Some(detail.to_owned()),
    };
    [
        event("arrived", &call.line),
        event("refused", call.reason.as_str()),
        event("ended", outcome_str(CallOutcome::Refused)),
    ]
}

/// The upsert adding `count` to its minute's row.
pub(crate) fn add_count(count: &RefusalCount) -> CallLogQuery {
    sqlx::query(ADD_COUNT)
        .bind(to_ms(minute_start(count.minute)))
        .bind(count.line.clone())
        .bind(count.reason.as_str())
        .bind(i64::try_from(count.refused).unwrap_or(i64::MAX))
}

impl Store {
    /// Records one refused call (its record, closed, and its events) in one transaction.
    /// The switchboard goes through [`crate::call_log::CallLogWriter::refused`] instead,
    /// batched; this is the writer's fallback when a batch fails.
    pub async fn record_refused_call(&self, call: &RefusedCall) -> Result<i64, StoreError> {
        let mut tx = self.writer.begin().await?;
        let id: i64 = insert_refused(call).fetch_one(&mut *tx).await?.try_get(0)?;
        for event in refused_events(call) {
            sqlx::query(
                "INSERT INTO call_events (call_id, at, kind, detail) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(to_ms(event.at))
            .bind(event.kind)
            .bind(event.detail)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Adds counted refusals to their minute's row.
    pub async fn add_refusal_count(&self, count: &RefusalCount) -> Result<(), StoreError> {
        add_count(count).execute(&self.writer).await?;
        Ok(())
    }

    /// The counted refusals (beyond the budget) of the minutes in `[from, to)`, one entry per
    /// minute, line and reason.
    pub async fn refusal_counts_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<RefusalCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT minute_start, line, reason, refused FROM refused_call_counts \
             WHERE minute_start >= $1 AND minute_start < $2 ORDER BY minute_start, line, reason",
        )
        .bind(to_ms(from))
        .bind(to_ms(to))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                let reason: String = r.try_get(2)?;
                Ok(RefusalCount {
                    minute: from_ms(r.try_get(0)?),
                    line: r.try_get(1)?,
                    reason: reason.parse().map_err(|()| StoreError::Corrupt {
                        column: "refused_call_counts.reason",
                        value: reason,
                    })?,
                    refused: u64::try_from(r.try_get::<i64, _>(3)?).unwrap_or(0),
                })
            })
            .collect()
    }

    /// How many calls were refused with 503 in `[from, to)`, by reason: the recorded ones
    /// and the counted ones.
    pub async fn refusals_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(RefusalReason, u64)>, StoreError> {
        let mut totals: Vec<(RefusalReason, u64)> =
            RefusalReason::ALL.iter().map(|r| (*r, 0)).collect();
        let mut add = |reason: &str, n: i64| -> Result<(), StoreError> {
            let reason: RefusalReason = reason.parse().map_err(|()| StoreError::Corrupt {
                column: "refusal reason",
                value: reason.to_owned(),
            })?;
            if let Some(entry) = totals.iter_mut().find(|(r, _)| *r == reason) {
                entry.1 += u64::try_from(n).unwrap_or(0);
            }
            Ok(())
        };
        let recorded = sqlx::query(
            "SELECT e.detail, COUNT(*) FROM calls c JOIN call_events e ON e.call_id = c.id \
             WHERE c.arrived_at >= $1 AND c.arrived_at < $2 AND c.outcome = $3 \
             AND e.kind = 'refused' GROUP BY e.detail",
        )
        .bind(to_ms(from))
        .bind(to_ms(to))
        .bind(outcome_str(CallOutcome::Refused))
        .fetch_all(&self.reader)
        .await?;
        for r in &recorded {
            add(&r.try_get::<String, _>(0)?, r.try_get(1)?)?;
        }
        for count in self.refusal_counts_between(from, to).await? {
            add(
                count.reason.as_str(),
                i64::try_from(count.refused).unwrap_or(i64::MAX),
            )?;
        }
        Ok(totals)
    }
}
