//! The call log: one row per call with every timestamp of its life, and an
//! append-only list of events. Every write is its own transaction.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::store::{Store, StoreError, from_ms, get_bool, get_opt_time, opt_ms, parse_col, to_ms};
use crate::text_enum::text_enum;

text_enum! {
    /// Where a call is in its life.
    pub enum CallState {
        /// In the voice menu.
        Ivr => "ivr",
        /// Waiting in a queue.
        Queued => "queued",
        /// Ringing an agent.
        Offered => "offered",
        /// Talking to an agent.
        Answered => "answered",
        /// Hung up, the agent is still in wrap-up.
        WrapUp => "wrap_up",
        /// Over.
        Ended => "ended",
    }
}

/// How a call ended: the ACD room's outcome, so that figures computed from
/// the store reconcile exactly with `guichet_acd::stats`.
pub use guichet_acd::stats::Outcome as CallOutcome;

/// The stored text of an outcome (its serde snake_case name).
pub fn outcome_str(o: CallOutcome) -> &'static str {
    match o {
        CallOutcome::Answered => "answered",
        CallOutcome::AbandonedInQueue => "abandoned_in_queue",
        CallOutcome::AbandonedWhileRinging => "abandoned_while_ringing",
        CallOutcome::OverflowedToQueue => "overflowed_to_queue",
        CallOutcome::OverflowedExternal => "overflowed_external",
        CallOutcome::OverflowedCallback => "overflowed_callback",
        CallOutcome::Rejected => "rejected",
        CallOutcome::Refused => "refused",
        CallOutcome::Closed => "closed",
        CallOutcome::AbandonedInIvr => "abandoned_in_ivr",
    }
}

/// Parses a stored outcome.
pub fn parse_outcome(s: &str) -> Option<CallOutcome> {
    const ALL: [CallOutcome; 10] = [
        CallOutcome::Answered,
        CallOutcome::AbandonedInQueue,
        CallOutcome::AbandonedWhileRinging,
        CallOutcome::OverflowedToQueue,
        CallOutcome::OverflowedExternal,
        CallOutcome::OverflowedCallback,
        CallOutcome::Rejected,
        CallOutcome::Refused,
        CallOutcome::Closed,
        CallOutcome::AbandonedInIvr,
    ];
    ALL.into_iter().find(|o| outcome_str(*o) == s)
}

/// What the switchboard knows when a call arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCall {
    /// SIP Call-ID of the incoming leg.
    pub sip_call_id: String,
    /// Dialled line (`8585`…).
    pub line: String,
    /// Caller number, normalised (see [`crate::directory::normalize_number`]).
    pub caller_number: String,
    /// Display name from the From header, if any.
    pub caller_name: Option<String>,
    /// Directory person, if the number matched.
    pub person_id: Option<i64>,
    /// Caller is a VIP.
    pub vip: bool,
    /// Caller is in a P0 window.
    pub p0: bool,
    /// Arrival instant.
    pub arrived_at: DateTime<Utc>,
}

/// A state change of a call, written with its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallUpdate {
    /// Left the voice menu at `node`.
    IvrExited {
        /// When.
        at: DateTime<Utc>,
        /// Node of the flow it left from.
        node: String,
    },
    /// Entered `queue` (also after an overflow to another queue: the row
    /// then describes the last queue visit, as `acd::stats::service_totals`
    /// counts it).
    Queued {
        /// When.
        at: DateTime<Utc>,
        /// Queue name.
        queue: String,
    },
    /// Offered (ringing) to an agent.
    Offered {
        /// When.
        at: DateTime<Utc>,
        /// Agent login.
        agent: String,
    },
    /// Answered by an agent.
    Answered {
        /// When.
        at: DateTime<Utc>,
        /// Agent login.
        agent: String,
    },
    /// Overflowed to a target (queue, number or callback).
    Overflowed {
        /// When.
        at: DateTime<Utc>,
        /// Where to.
        target: String,
    },
    /// The agent finished wrap-up.
    WrapUpEnded {
        /// When.
        at: DateTime<Utc>,
    },
}

/// One call as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// Row id.
    pub id: i64,
    /// SIP Call-ID.
    pub sip_call_id: String,
    /// Dialled line.
    pub line: String,
    /// Last state.
    pub state: CallState,
    /// Outcome once ended.
    pub outcome: Option<CallOutcome>,
    /// Last queue.
    pub queue: Option<String>,
    /// Agent offered or answering.
    pub agent: Option<String>,
    /// Normalised caller number.
    pub caller_number: String,
    /// Caller display name.
    pub caller_name: Option<String>,
    /// Directory person.
    pub person_id: Option<i64>,
    /// VIP caller.
    pub vip: bool,
    /// P0 caller.
    pub p0: bool,
    /// Arrival.
    pub arrived_at: DateTime<Utc>,
    /// Left the voice menu.
    pub ivr_exited_at: Option<DateTime<Utc>>,
    /// Entered its last queue (after an overflow to another queue, the
    /// entry in the destination queue; earlier entries are in the events).
    pub queued_at: Option<DateTime<Utc>>,
    /// First offered to an agent.
    pub offered_at: Option<DateTime<Utc>>,
    /// Answered.
    pub answered_at: Option<DateTime<Utc>>,
    /// Hung up.
    pub ended_at: Option<DateTime<Utc>>,
    /// Wrap-up over.
    pub wrap_up_ended_at: Option<DateTime<Utc>>,
    /// Overflow target.
    pub overflow_target: Option<String>,
    /// Voice-menu node it left from.
    pub ivr_exit_node: Option<String>,
    /// The server stopped while this call was in flight.
    pub interrupted: bool,
}

/// One event of a call's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// Kind (`arrived`, `queued`, `answered`…).
    pub kind: String,
    /// Detail (queue, agent, node…).
    pub detail: Option<String>,
}

pub(crate) const CALL_COLUMNS: &str = "id, sip_call_id, line, state, outcome, queue, agent_login, \
     caller_number, caller_name, person_id, vip, p0, arrived_at, ivr_exited_at, queued_at, \
     offered_at, answered_at, ended_at, wrap_up_ended_at, overflow_target, ivr_exit_node, interrupted";

pub(crate) fn call_from_row(r: &AnyRow) -> Result<CallRecord, StoreError> {
    Ok(CallRecord {
        id: r.try_get(0)?,
        sip_call_id: r.try_get(1)?,
        line: r.try_get(2)?,
        state: parse_col("calls.state", r.try_get(3)?)?,
        outcome: r
            .try_get::<Option<String>, _>(4)?
            .map(|v| {
                parse_outcome(&v).ok_or(StoreError::Corrupt {
                    column: "calls.outcome",
                    value: v,
                })
            })
            .transpose()?,
        queue: r.try_get(5)?,
        agent: r.try_get(6)?,
        caller_number: r.try_get(7)?,
        caller_name: r.try_get(8)?,
        person_id: r.try_get(9)?,
        vip: get_bool(r, 10)?,
        p0: get_bool(r, 11)?,
        arrived_at: from_ms(r.try_get(12)?),
        ivr_exited_at: get_opt_time(r, 13)?,
        queued_at: get_opt_time(r, 14)?,
        offered_at: get_opt_time(r, 15)?,
        answered_at: get_opt_time(r, 16)?,
        ended_at: get_opt_time(r, 17)?,
        wrap_up_ended_at: get_opt_time(r, 18)?,
        overflow_target: r.try_get(19)?,
        ivr_exit_node: r.try_get(20)?,
        interrupted: get_bool(r, 21)?,
    })
}

const INSERT_CALL: &str = "INSERT INTO calls (sip_call_id, line, state, caller_number, caller_name, \
     person_id, vip, p0, arrived_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
const INSERT_EVENT: &str =
    "INSERT INTO call_events (call_id, at, kind, detail) VALUES ($1, $2, $3, $4)";

/// A finished call, for bulk loading (imports, simulations, benchmarks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedCall {
    /// The call as it arrived.
    pub call: NewCall,
    /// Queue, if it reached one.
    pub queue: Option<String>,
    /// Agent, if answered.
    pub agent: Option<String>,
    /// Queued instant.
    pub queued_at: Option<DateTime<Utc>>,
    /// Answer instant.
    pub answered_at: Option<DateTime<Utc>>,
    /// Hang-up instant.
    pub ended_at: DateTime<Utc>,
    /// Wrap-up end.
    pub wrap_up_ended_at: Option<DateTime<Utc>>,
    /// Outcome.
    pub outcome: CallOutcome,
}

impl Store {
    /// Opens the record of an arriving call, durably (committed before this
    /// returns), with its `arrived` event. Returns the record id.
    pub async fn open_call(&self, call: &NewCall) -> Result<i64, StoreError> {
        let mut tx = self.writer.begin().await?;
        let id: i64 = insert_call(call).fetch_one(&mut *tx).await?.try_get(0)?;
        sqlx::query(INSERT_EVENT)
            .bind(id)
            .bind(to_ms(call.arrived_at))
            .bind("arrived")
            .bind(&call.line)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::debug!(call = id, caller = %call.caller_number, "call record opened");
        Ok(id)
    }

    /// Writes a state change and its event in one transaction.
    pub async fn update_call(&self, id: i64, update: &CallUpdate) -> Result<(), StoreError> {
        let (columns, event) = update_change(update);
        let mut tx = self.writer.begin().await?;
        if apply_changes(&mut tx, id, &columns).await? == 0 {
            return Err(StoreError::NotFound { what: "call", id });
        }
        event.insert(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Closes a call: outcome and hang-up instant. When `wrap_up` is true
    /// the call stays in state `wrap_up` until [`CallUpdate::WrapUpEnded`].
    pub async fn close_call(
        &self,
        id: i64,
        outcome: CallOutcome,
        ended_at: DateTime<Utc>,
        wrap_up: bool,
    ) -> Result<(), StoreError> {
        let (columns, event) = close_change(outcome, ended_at, wrap_up);
        let mut tx = self.writer.begin().await?;
        if apply_changes(&mut tx, id, &columns).await? == 0 {
            return Err(StoreError::NotFound { what: "call", id });
        }
        event.insert(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Run once at start: every call not ended is marked `interrupted`
    /// (keeping its last state) and given an `interrupted` event at `now`.
    /// Returns how many calls were marked.
    pub async fn mark_in_flight_interrupted(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO call_events (call_id, at, kind, detail) \
             SELECT id, $1, 'interrupted', state FROM calls \
             WHERE ended_at IS NULL AND interrupted = $2",
        )
        .bind(to_ms(now))
        .bind(false)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(
            "UPDATE calls SET interrupted = $1 WHERE ended_at IS NULL AND interrupted = $2",
        )
        .bind(true)
        .bind(false)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if done.rows_affected() > 0 {
            tracing::warn!(
                count = done.rows_affected(),
                "calls in flight at last stop marked interrupted"
            );
        }
        Ok(done.rows_affected())
    }

    /// Writes many finished calls in one transaction (bulk loads and
    /// simulations). Returns their ids in order.
    pub async fn record_finished_calls(
        &self,
        calls: &[FinishedCall],
    ) -> Result<Vec<i64>, StoreError> {
        let mut ids = Vec::with_capacity(calls.len());
        let mut tx = self.writer.begin().await?;
        for c in calls {
            let state = if c.wrap_up_ended_at.is_some() || c.agent.is_none() {
                CallState::Ended
            } else {
                CallState::WrapUp
            };
            let id: i64 = sqlx::query(
                "INSERT INTO calls (sip_call_id, line, state, caller_number, caller_name, person_id, \
                 vip, p0, arrived_at, queue, agent_login, queued_at, answered_at, ended_at, \
                 wrap_up_ended_at, outcome) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id",
            )
            .bind(&c.call.sip_call_id)
            .bind(&c.call.line)
            .bind(state.as_str())
            .bind(&c.call.caller_number)
            .bind(&c.call.caller_name)
            .bind(c.call.person_id)
            .bind(c.call.vip)
            .bind(c.call.p0)
            .bind(to_ms(c.call.arrived_at))
            .bind(&c.queue)
            .bind(&c.agent)
            .bind(opt_ms(c.queued_at))
            .bind(opt_ms(c.answered_at))
            .bind(to_ms(c.ended_at))
            .bind(opt_ms(c.wrap_up_ended_at))
            .bind(outcome_str(c.outcome))
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Opens many calls in one transaction (batched durable writes).
    pub async fn open_calls(&self, calls: &[NewCall]) -> Result<Vec<i64>, StoreError> {
        let mut ids = Vec::with_capacity(calls.len());
        let mut tx = self.writer.begin().await?;
        for call in calls {
            let id: i64 = sqlx::query(INSERT_CALL)
                .bind(&call.sip_call_id)
                .bind(&call.line)
                .bind(CallState::Ivr.as_str())
                .bind(&call.caller_number)
                .bind(&call.caller_name)
                .bind(call.person_id)
                .bind(call.vip)
                .bind(call.p0)
                .bind(to_ms(call.arrived_at))
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
            sqlx::query(INSERT_EVENT)
                .bind(id)
                .bind(to_ms(call.arrived_at))
                .bind("arrived")
                .bind(&call.line)
                .execute(&mut *tx)
                .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// One call by id.
    pub async fn call(&self, id: i64) -> Result<CallRecord, StoreError> {
        let row = sqlx::query(&format!("SELECT {CALL_COLUMNS} FROM calls WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.reader)
            .await?
            .ok_or(StoreError::NotFound { what: "call", id })?;
        call_from_row(&row)
    }

    /// Events of one call, in order.
    pub async fn call_events(&self, id: i64) -> Result<Vec<CallEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, kind, detail FROM call_events WHERE call_id = $1 ORDER BY at, id",
        )
        .bind(id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CallEvent {
                    at: from_ms(r.try_get(0)?),
                    kind: r.try_get(1)?,
                    detail: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// One caller's history (normalised number), newest first, at most `limit`.
    pub async fn caller_history(
        &self,
        caller_number: &str,
        limit: i64,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM calls WHERE caller_number = $1 \
             ORDER BY arrived_at DESC, id DESC LIMIT $2"
        ))
        .bind(caller_number)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(call_from_row).collect()
    }

    /// Calls that arrived in `[from, to)`, oldest first.
    pub async fn calls_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM calls WHERE arrived_at >= $1 AND arrived_at < $2 \
             ORDER BY arrived_at, id"
        ))
        .bind(to_ms(from))
        .bind(to_ms(to))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(call_from_row).collect()
    }

    /// Calls not yet ended and not marked interrupted.
    pub async fn calls_in_flight(&self) -> Result<Vec<CallRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM calls WHERE ended_at IS NULL AND interrupted = $1 \
             ORDER BY arrived_at, id"
        ))
        .bind(false)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(call_from_row).collect()
    }
}

/// A statement of the call log bound to its arguments.
pub(crate) type CallLogQuery =
    sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments<'static>>;

/// The event row that goes with a state change of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventRow {
    pub(crate) at: DateTime<Utc>,
    pub(crate) kind: String,
    pub(crate) detail: Option<String>,
}

impl EventRow {
    /// The row inserted on its own.
    pub(crate) fn insert(self, id: i64) -> CallLogQuery {
        sqlx::query(INSERT_EVENT)
            .bind(id)
            .bind(to_ms(self.at))
            .bind(self.kind)
            .bind(self.detail)
    }
}

/// A value bound into a call-log statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SqlValue {
    Int(i64),
    Text(String),
    Static(&'static str),
}

/// One column a change of a call sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assignment {
    pub(crate) column: &'static str,
    /// Set only if still empty (`COALESCE`): the first offer's instant is kept.
    pub(crate) keep_first: bool,
    pub(crate) value: SqlValue,
}

fn set(column: &'static str, value: SqlValue) -> Assignment {
    Assignment {
        column,
        keep_first: false,
        value,
    }
}

/// The columns a state change sets, and its event row.
pub(crate) fn update_change(update: &CallUpdate) -> (Vec<Assignment>, EventRow) {
    use SqlValue::{Int, Static, Text};
    let (columns, at, kind, detail) = match update {
        CallUpdate::IvrExited { at, node } => (
            vec![
                set("ivr_exited_at", Int(to_ms(*at))),
                set("ivr_exit_node", Text(node.clone())),
            ],
            *at,
            "ivr_exited",
            Some(node.clone()),
        ),
        CallUpdate::Queued { at, queue } => (
            vec![
                set("queued_at", Int(to_ms(*at))),
                set("queue", Text(queue.clone())),
                set("state", Static(CallState::Queued.as_str())),
            ],
            *at,
            "queued",
            Some(queue.clone()),
        ),
        CallUpdate::Offered { at, agent } => (
            vec![
                Assignment {
                    column: "offered_at",
                    keep_first: true,
                    value: Int(to_ms(*at)),
                },
                set("agent_login", Text(agent.clone())),
                set("state", Static(CallState::Offered.as_str())),
            ],
            *at,
            "offered",
            Some(agent.clone()),
        ),
        CallUpdate::Answered { at, agent } => (
            vec![
                set("answered_at", Int(to_ms(*at))),
                set("agent_login", Text(agent.clone())),
                set("state", Static(CallState::Answered.as_str())),
            ],
            *at,
            "answered",
            Some(agent.clone()),
        ),
        CallUpdate::Overflowed { at, target } => (
            vec![set("overflow_target", Text(target.clone()))],
            *at,
            "overflowed",
            Some(target.clone()),
        ),
        CallUpdate::WrapUpEnded { at } => (
            vec![
                set("wrap_up_ended_at", Int(to_ms(*at))),
                set("state", Static(CallState::Ended.as_str())),
            ],
            *at,
            "wrap_up_ended",
            None,
        ),
    };
    (
        columns,
        EventRow {
            at,
            kind: kind.to_owned(),
            detail,
        },
    )
}

/// The columns that close a call, and its `ended` event row.
pub(crate) fn close_change(
    outcome: CallOutcome,
    ended_at: DateTime<Utc>,
    wrap_up: bool,
) -> (Vec<Assignment>, EventRow) {
    let state = if wrap_up {
        CallState::WrapUp
    } else {
        CallState::Ended
    };
    (
        vec![
            set("outcome", SqlValue::Static(outcome_str(outcome))),
            set("ended_at", SqlValue::Int(to_ms(ended_at))),
            set("state", SqlValue::Static(state.as_str())),
        ],
        EventRow {
            at: ended_at,
            kind: "ended".to_owned(),
            detail: Some(outcome_str(outcome).to_owned()),
        },
    )
}

/// Folds the columns of a later change into `patch`, as if both `UPDATE`s ran one after the
/// other: a later value replaces an earlier one, except for keep-first columns.
pub(crate) fn merge_changes(patch: &mut Vec<Assignment>, later: Vec<Assignment>) {
    for a in later {
        match patch.iter_mut().find(|p| p.column == a.column) {
            Some(p) if p.keep_first => {}
            Some(p) => *p = a,
            None => patch.push(a),
        }
    }
}

/// `UPDATE calls SET ... WHERE id = $1` with `columns`; returns the rows changed (0: no such
/// call).
pub(crate) async fn apply_changes(
    conn: &mut sqlx::AnyConnection,
    id: i64,
    columns: &[Assignment],
) -> Result<u64, StoreError> {
    let mut sql = String::from("UPDATE calls SET ");
    for (i, a) in columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        let column = a.column;
        let param = i + 2;
        if a.keep_first {
            sql.push_str(&format!("{column} = COALESCE({column}, ${param})"));
        } else {
            sql.push_str(&format!("{column} = ${param}"));
        }
    }
    sql.push_str(" WHERE id = $1");
    let mut query = sqlx::query(&sql).bind(id);
    for a in columns {
        query = match &a.value {
            SqlValue::Int(v) => query.bind(*v),
            SqlValue::Text(v) => query.bind(v.clone()),
            SqlValue::Static(v) => query.bind(*v),
        };
    }
    Ok(query.execute(conn).await?.rows_affected())
}

/// The `INSERT` of an arriving call's record (`RETURNING id`).
pub(crate) fn insert_call(call: &NewCall) -> CallLogQuery {
    sqlx::query(INSERT_CALL)
        .bind(call.sip_call_id.clone())
        .bind(call.line.clone())
        .bind(CallState::Ivr.as_str())
        .bind(call.caller_number.clone())
        .bind(call.caller_name.clone())
        .bind(call.person_id)
        .bind(call.vip)
        .bind(call.p0)
        .bind(to_ms(call.arrived_at))
}
