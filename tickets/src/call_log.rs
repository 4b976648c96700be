//! The call log's write-behind writer: the switchboard hands it the state changes of its
//! calls and goes on at once; one task commits them in batches.
//!
//! Under load the switchboard writes a dozen rows per call (every IVR step, queue, offer,
//! answer, end). Awaiting each write in its own transaction made the switchboard's single
//! task wait on the database for most of its time, late with every prompt and every
//! answer. Here every write that is waiting when the task wakes goes into **one**
//! transaction: one `UPDATE` per call that changed (a call's IVR exit, queue, offer and
//! answer, often handed over within a few milliseconds, fold into one), the event rows in a
//! few multi-row `INSERT`s. An idle log commits each write as soon as it arrives (a batch of one), so a
//! finished call is durable within a commit's time; under load the batches grow and the
//! commits per second stay few.
//!
//! Order is kept: writes are applied in the order they were handed over, and
//! [`CallLogWriter::flush`] returns once everything handed over before it is committed.
//! A batch that fails is rolled back and replayed write by write, so one bad write (a
//! record that does not exist) costs only itself, with a warning.

use chrono::{DateTime, Utc};
use sqlx::Row as _;
use tokio::sync::{mpsc, oneshot};

use crate::call_quality::{LegQuality, QUALITY_INSERT, QUALITY_WIDTH, bind_quality};
use crate::calls::{
    Assignment, CallLogQuery, EventRow, apply_changes, close_change, insert_call, merge_changes,
    update_change,
};
use crate::refusals::{RefusalCount, RefusedCall, add_count, insert_refused, refused_events};
use crate::store::{Store, StoreError, to_ms};
use crate::{CallOutcome, CallUpdate, NewCall};

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 512;

/// Event rows per multi-row `INSERT`: a batch's rows go in chunks of these sizes (largest
/// first), so that only these few statements are ever prepared and cached.
const INSERT_CHUNKS: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

/// One write to the call log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallLogWrite {
    /// A state change of call `call` and its event ([`Store::update_call`]).
    Update {
        /// Record id.
        call: i64,
        /// The change.
        update: CallUpdate,
    },
    /// The end of call `call` ([`Store::close_call`]).
    Close {
        /// Record id.
        call: i64,
        /// How it ended.
        outcome: CallOutcome,
        /// Hang-up instant.
        at: DateTime<Utc>,
        /// The agent is now in wrap-up (the record waits for its end).
        wrap_up: bool,
    },
    /// A free-form event of call `call` ([`Store::append_call_event`]).
    Event {
        /// Record id.
        call: i64,
        /// When.
        at: DateTime<Utc>,
        /// Kind (`ivr`, ...).
        kind: String,
        /// Detail.
        detail: String,
    },
    /// The audio quality of call `call`'s legs, counted when its media was released
    /// ([`Store::record_call_quality`]).
    MediaQuality {
        /// Record id.
        call: i64,
        /// One entry per leg that had an RTP session.
        legs: Vec<LegQuality>,
    },
}

impl CallLogWrite {
    fn call(&self) -> i64 {
        match self {
            CallLogWrite::Update { call, .. }
            | CallLogWrite::Close { call, .. }
            | CallLogWrite::Event { call, .. }
            | CallLogWrite::MediaQuality { call, .. } => *call,
        }
    }

    /// The columns this write sets (none for a bare event) and its event row; `None` for a
    /// write to another table than the record and its events.
    fn change(&self) -> Option<(Vec<Assignment>, EventRow)> {
        Some(match self {
            CallLogWrite::MediaQuality { .. } => return None,
            CallLogWrite::Update { update, .. } => update_change(update),
            CallLogWrite::Close {
                outcome,
                at,
                wrap_up,
                ..
            } => close_change(*outcome, *at, *wrap_up),
            CallLogWrite::Event {
                at, kind, detail, ..
            } => (
                Vec::new(),
                EventRow {
                    at: *at,
                    kind: kind.clone(),
                    detail: Some(detail.clone()),
                },
            ),
        })
    }
}

enum Request {
    Write(CallLogWrite),
    /// A new record, durable (committed) when its id is sent back.
    Open(Box<NewCall>, oneshot::Sender<Result<i64, StoreError>>),
    Flush(oneshot::Sender<()>),
    /// A call refused with 503, recorded on its own (record closed at once).
    Refused(Box<RefusedCall>),
    /// Refusals beyond the budget, counted.
    RefusalCount(RefusalCount),
}

/// A request of a batch: a write, or a new record whose id goes back once committed.
enum Batched {
    Write(CallLogWrite),
    Open(Box<NewCall>, oneshot::Sender<Result<i64, StoreError>>),
    Refused(Box<RefusedCall>),
    RefusalCount(RefusalCount),
}

/// Handle on the call-log writer task. Cheap to clone; the task ends once every handle is
/// dropped and what they handed over is committed.
#[derive(Debug, Clone)]
pub struct CallLogWriter {
    tx: mpsc::UnboundedSender<Request>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Write(w) => f.debug_tuple("Write").field(w).finish(),
            Request::Open(call, _) => f.debug_tuple("Open").field(call).finish(),
            Request::Flush(_) => f.write_str("Flush"),
            Request::Refused(call) => f.debug_tuple("Refused").field(call).finish(),
            Request::RefusalCount(count) => f.debug_tuple("RefusalCount").field(count).finish(),
        }
    }
}

impl CallLogWriter {
    /// Starts the writer task on the current tokio runtime.
    pub fn start(store: Store) -> (CallLogWriter, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(store, rx));
        (CallLogWriter { tx }, task)
    }

    /// Hands a write over; never waits. A write handed over after the task has stopped (the
    /// runtime is shutting down) is lost, with a warning.
    pub fn write(&self, write: CallLogWrite) {
        if let Err(e) = self.tx.send(Request::Write(write))
            && let Request::Write(w) = e.0
        {
            tracing::warn!(call = w.call(), "call-log writer stopped: write lost");
        }
    }

    /// Opens the record of an arriving call ([`Store::open_call`]) in the next batch and
    /// returns its id once committed: durable before the call is answered, at the cost of
    /// one shared commit instead of one each.
    pub async fn open_call(&self, call: NewCall) -> Result<i64, StoreError> {
        let (reply, wait) = oneshot::channel();
        if self.tx.send(Request::Open(Box::new(call), reply)).is_err() {
            return Err(StoreError::Invalid {
                field: "call_log",
                reason: "le journal des appels est arrêté".to_owned(),
            });
        }
        wait.await.unwrap_or_else(|_| {
            Err(StoreError::Invalid {
                field: "call_log",
                reason: "le journal des appels est arrêté".to_owned(),
            })
        })
    }

    /// Hands over the record of a call refused with 503 (closed at once, outcome
    /// `Refused`, its reason in a `refused` event); never waits.
    pub fn refused(&self, call: RefusedCall) {
        if self.tx.send(Request::Refused(Box::new(call))).is_err() {
            tracing::warn!("call-log writer stopped: refused call not recorded");
        }
    }

    /// Hands over refusals counted beyond the budget; never waits.
    pub fn refusal_count(&self, count: RefusalCount) {
        if self.tx.send(Request::RefusalCount(count)).is_err() {
            tracing::warn!("call-log writer stopped: refusal count lost");
        }
    }

    /// Returns once every write handed over before this call is committed (or failed).
    pub async fn flush(&self) {
        self.commit_point().await;
    }

    /// Marks the writes handed over so far, now, and returns a future that resolves once
    /// they are all committed (or failed), to await elsewhere: e.g. a task that answers a
    /// caller's BYE only once the call's close is durable, while the switchboard goes on.
    /// It joins the next batch like any write (no commit of its own), so it waits at most
    /// for the batch being written and the next one.
    pub fn commit_point(&self) -> impl Future<Output = ()> + Send + 'static {
        let (done, wait) = oneshot::channel();
        let sent = self.tx.send(Request::Flush(done)).is_ok();
        async move {
            if sent {
                let _ = wait.await;
            }
        }
    }
}

async fn run(store: Store, mut rx: mpsc::UnboundedReceiver<Request>) {
    let mut writes = Vec::with_capacity(MAX_BATCH);
    let mut flushes = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        // Everything already waiting joins this batch, up to MAX_BATCH writes.
        while let Some(request) = next.take() {
            match request {
                Request::Write(w) => writes.push(Batched::Write(w)),
                Request::Open(call, reply) => writes.push(Batched::Open(call, reply)),
                Request::Flush(done) => flushes.push(done),
                Request::Refused(call) => writes.push(Batched::Refused(call)),
                Request::RefusalCount(count) => writes.push(Batched::RefusalCount(count)),
            }
            if writes.len() >= MAX_BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !writes.is_empty() {
            write_batch(&store, std::mem::take(&mut writes)).await;
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Commits `batch` in one transaction, or, if that fails, each request in its own; then
/// sends the new records' ids.
async fn write_batch(store: &Store, batch: Vec<Batched>) {
    match try_batch(store, &batch).await {
        Ok((opened, missing)) => {
            for call in missing {
                tracing::warn!(record = call, "call record not updated: no such call");
            }
            let mut opened = opened.into_iter();
            for request in batch {
                if let Batched::Open(_, reply) = request
                    && let Some(id) = opened.next()
                {
                    let _ = reply.send(Ok(id));
                }
            }
        }
        Err(e) => {
            tracing::warn!(
                writes = batch.len(),
                error = %e,
                "call-log batch failed: writing one by one"
            );
            for request in batch {
                match request {
                    Batched::Write(w) => {
                        if let Err(e) = write_one(store, &w).await {
                            tracing::warn!(record = w.call(), error = %e, "call record not updated");
                        }
                    }
                    Batched::Open(call, reply) => {
                        let _ = reply.send(store.open_call(&call).await);
                    }
                    Batched::Refused(call) => {
                        if let Err(e) = store.record_refused_call(&call).await {
                            tracing::warn!(error = %e, "refused call not recorded");
                        }
                    }
                    Batched::RefusalCount(count) => {
                        if let Err(e) = store.add_refusal_count(&count).await {
                            tracing::warn!(error = %e, refused = count.refused, "refusal count lost");
                        }
                    }
                }
            }
        }
    }
}

/// The batch in one transaction: the new records, then **one** `UPDATE` per call that
/// changed (its changes of the batch folded in order, as if run one after the other), then
/// the event rows in multi-row `INSERT`s, in the order handed over. Returns the ids of the
/// records opened (in order) and the records an update found missing (their update and
/// close event rows are not written, as [`Store::update_call`] would not write them).
async fn try_batch(store: &Store, batch: &[Batched]) -> Result<(Vec<i64>, Vec<i64>), StoreError> {
    let mut opened = Vec::new();
    // (call, row, written only if the call's UPDATE finds it)
    let mut events: Vec<(i64, EventRow, bool)> = Vec::with_capacity(batch.len());
    let mut patches: Vec<(i64, Vec<Assignment>)> = Vec::new();
    let mut patch_of: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    // (call, leg) rows of other tables, inserted after the records' updates, in order.
    let mut qualities: Vec<(i64, &LegQuality)> = Vec::new();
    let mut tx = store.writer.begin().await?;
    for request in batch {
        match request {
            Batched::Open(call, _) => {
                let id = insert_call(call).fetch_one(&mut *tx).await?.try_get(0)?;
                opened.push(id);
                let arrived = EventRow {
                    at: call.arrived_at,
                    kind: "arrived".to_owned(),
                    detail: Some(call.line.clone()),
                };
                events.push((id, arrived, false));
            }
            Batched::Refused(call) => {
                let id: i64 = insert_refused(call).fetch_one(&mut *tx).await?.try_get(0)?;
                events.extend(refused_events(call).map(|e| (id, e, false)));
            }
            Batched::RefusalCount(count) => {
                add_count(count).execute(&mut *tx).await?;
            }
            Batched::Write(CallLogWrite::MediaQuality { call, legs }) => {
                qualities.extend(legs.iter().map(|q| (*call, q)));
            }
            Batched::Write(w) => {
                let Some((columns, event)) = w.change() else {
                    continue;
                };
                let guarded = !columns.is_empty();
                if guarded {
                    let index = *patch_of.entry(w.call()).or_insert_with(|| {
                        patches.push((w.call(), Vec::new()));
                        patches.len() - 1
                    });
                    merge_changes(&mut patches[index].1, columns);
                }
                events.push((w.call(), event, guarded));
            }
        }
    }
    let mut missing = Vec::new();
    for (call, columns) in &patches {
        if apply_changes(&mut tx, *call, columns).await? == 0 {
            missing.push(*call);
        }
    }
    events.retain(|(call, _, guarded)| !(*guarded && missing.contains(call)));
    insert_legs(&mut tx, &qualities).await?;
    insert_rows(
        &mut tx,
        &events,
        insert_events_sql,
        |query, (call, event, _)| {
            query
                .bind(*call)
                .bind(to_ms(event.at))
                .bind(event.kind.clone())
                .bind(event.detail.clone())
        },
    )
    .await?;
    tx.commit().await?;
    Ok((opened, missing))
}

async fn write_one(store: &Store, write: &CallLogWrite) -> Result<(), StoreError> {
    match write {
        CallLogWrite::Update { call, update } => store.update_call(*call, update).await,
        CallLogWrite::Close {
            call,
            outcome,
            at,
            wrap_up,
        } => store.close_call(*call, *outcome, *at, *wrap_up).await,
        CallLogWrite::Event {
            call,
            at,
            kind,
            detail,
        } => store.append_call_event(*call, *at, kind, detail).await,
        CallLogWrite::MediaQuality { call, legs } => store.record_call_quality(*call, legs).await,
    }
}

/// Inserts the `(call, leg)` rows of `call_media_quality` in multi-row `INSERT`s.
pub(crate) async fn insert_legs(
    conn: &mut sqlx::AnyConnection,
    legs: &[(i64, &LegQuality)],
) -> Result<(), StoreError> {
    insert_rows(conn, legs, insert_quality_sql, |query, (call, q)| {
        bind_quality(query, *call, q)
    })
    .await
}

/// Inserts `rows` in multi-row `INSERT`s of the [`INSERT_CHUNKS`] sizes (largest first):
/// `sql(index)` is the statement for `INSERT_CHUNKS[index]` rows, `bind` binds one row.
async fn insert_rows<T>(
    conn: &mut sqlx::AnyConnection,
    rows: &[T],
    sql: fn(usize) -> &'static str,
    bind: impl Fn(CallLogQuery, &T) -> CallLogQuery,
) -> Result<(), StoreError> {
    let mut rest = rows;
    for (index, &size) in INSERT_CHUNKS.iter().enumerate() {
        while rest.len() >= size {
            let (chunk, tail) = rest.split_at(size);
            let mut query = sqlx::query(sql(index));
            for row in chunk {
                query = bind(query, row);
            }
            query.execute(&mut *conn).await?;
            rest = tail;
        }
    }
    Ok(())
}

/// `{head} VALUES (...), (...)` with `width` parameters a row, for each of the
/// [`INSERT_CHUNKS`] sizes.
fn multi_row_inserts(head: &str, width: usize) -> Vec<String> {
    INSERT_CHUNKS
        .iter()
        .map(|&rows| {
            let values: Vec<String> = (0..rows)
                .map(|r| {
                    let params: Vec<String> =
                        (1..=width).map(|c| format!("${}", r * width + c)).collect();
                    format!("({})", params.join(", "))
                })
                .collect();
            format!("{head} VALUES {}", values.join(", "))
        })
        .collect()
}

/// `INSERT INTO call_events ... VALUES (...), (...)` for `INSERT_CHUNKS[index]` rows, built
/// once per size.
fn insert_events_sql(index: usize) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    SQL.get_or_init(|| multi_row_inserts("INSERT INTO call_events (call_id, at, kind, detail)", 4))
        [index]
        .as_str()
}

/// The same for the legs' rows of `call_media_quality`.
fn insert_quality_sql(index: usize) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    SQL.get_or_init(|| multi_row_inserts(QUALITY_INSERT, QUALITY_WIDTH))[index].as_str()
}
