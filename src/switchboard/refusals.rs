//! Calls refused with 503 (overload or shutdown) leave a trace.
//!
//! A refused call was presented to the helpdesk: if it vanished, the answer rate (answered ÷
//! presented) would look best exactly when callers are turned away. So each refusal is
//! recorded through the call-log writer (`guichet_tickets::refusals`), batched like every
//! other write. A flood must not make the writer its bottleneck, nor the directory: the
//! record carries the number as it came, with no directory lookup (so never VIP), and only
//! [`Refusals::per_second`] refusals a second are recorded one by one; the rest are counted
//! per minute, line and reason and handed over once a second as one row each, which the
//! statistics add to the presented calls. The totals are also exposed as metrics
//! ([`RefusalCounters`]). The 503 itself goes at once: it ends no call in progress, so
//! nothing waits for the commit (a `kill -9` in that millisecond loses only the trace).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use guichet_tickets::call_log::CallLogWriter;
use guichet_tickets::refusals::{RefusalCount, RefusalReason, RefusedCall, minute_start};

/// Calls refused with 503 since the start, for the metrics.
#[derive(Debug, Default)]
pub struct RefusalCounters {
    too_many_calls: AtomicU64,
    call_rate: AtomicU64,
    shutdown: AtomicU64,
    /// Of which counted only (beyond the per-second budget), without a record of their own.
    unrecorded: AtomicU64,
}

impl RefusalCounters {
    /// Refusals since the start, by reason.
    pub fn by_reason(&self) -> [(RefusalReason, u64); 3] {
        [
            (
                RefusalReason::TooManyCalls,
                self.too_many_calls.load(Ordering::Relaxed),
            ),
            (
                RefusalReason::CallRate,
                self.call_rate.load(Ordering::Relaxed),
            ),
            (
                RefusalReason::Shutdown,
                self.shutdown.load(Ordering::Relaxed),
            ),
        ]
    }

    /// Refusals counted without a record of their own.
    pub fn unrecorded(&self) -> u64 {
        self.unrecorded.load(Ordering::Relaxed)
    }

    fn count(&self, reason: RefusalReason) {
        let counter = match reason {
            RefusalReason::TooManyCalls => &self.too_many_calls,
            RefusalReason::CallRate => &self.call_rate,
            RefusalReason::Shutdown => &self.shutdown,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The switchboard's record of refusals: a per-second budget of records, counts beyond it.
pub(super) struct Refusals {
    /// Refusals recorded one by one per second at most.
    per_second: u32,
    window_start: Option<DateTime<Utc>>,
    recorded_in_window: u32,
    /// Counted refusals not yet handed to the writer, by (minute, line, reason).
    counted: HashMap<(DateTime<Utc>, String, RefusalReason), u64>,
    pub(super) counters: Arc<RefusalCounters>,
}

/// What became of one refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trace {
    /// A call record of its own.
    Recorded,
    /// Counted only (the second's budget was spent).
    Counted,
}

impl Refusals {
    pub(super) fn new(per_second: u32) -> Self {
        Refusals {
            per_second,
            window_start: None,
            recorded_in_window: 0,
            counted: HashMap::new(),
            counters: Arc::default(),
        }
    }

    /// Traces the refusal of `call`: its record if the second's budget allows, a count
    /// otherwise.
    pub(super) fn refuse(&mut self, call: RefusedCall, log: &CallLogWriter) -> Trace {
        self.counters.count(call.reason);
        let now = call.at;
        if self
            .window_start
            .is_none_or(|start| (now - start).num_milliseconds() >= 1000)
        {
            self.window_start = Some(now);
            self.recorded_in_window = 0;
        }
        if self.recorded_in_window < self.per_second {
            self.recorded_in_window += 1;
            log.refused(call);
            return Trace::Recorded;
        }
        self.counters.unrecorded.fetch_add(1, Ordering::Relaxed);
        *self
            .counted
            .entry((minute_start(now), call.line, call.reason))
            .or_default() += 1;
        Trace::Counted
    }

    /// Hands the counts gathered since the last call to the writer (once a second, and at
    /// shutdown before the last flush).
    pub(super) fn hand_over_counts(&mut self, log: &CallLogWriter) {
        for ((minute, line, reason), refused) in self.counted.drain() {
            log.refusal_count(RefusalCount {
                minute,
                line,
                reason,
                refused,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(at: DateTime<Utc>, reason: RefusalReason) -> RefusedCall {
        RefusedCall {
            sip_call_id: "c".to_owned(),
            line: "8585".to_owned(),
            caller_number: "+33140158210".to_owned(),
            caller_name: None,
            at,
            reason,
        }
    }

    #[tokio::test]
    async fn beyond_the_budget_of_a_second_refusals_are_counted_by_minute_and_the_next_second_records_again()
     {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("r.db").display());
        let store = guichet_tickets::Store::open(&url).await.expect("store");
        let (log, _task) = CallLogWriter::start(store.clone());
        let mut refusals = Refusals::new(2);
        let t0: DateTime<Utc> = "2026-11-24T10:00:59.700Z".parse().expect("instant");
        let traces: Vec<Trace> = (0..5)
            .map(|i| {
                let at = t0 + chrono::Duration::milliseconds(100 * i);
                refusals.refuse(refused(at, RefusalReason::CallRate), &log)
            })
            .collect();
        assert_eq!(
            traces,
            [
                Trace::Recorded,
                Trace::Recorded,
                Trace::Counted,
                Trace::Counted,
                Trace::Counted
            ]
        );
        // A second later the budget is whole again.
        let later = t0 + chrono::Duration::milliseconds(1000);
        assert_eq!(
            refusals.refuse(refused(later, RefusalReason::Shutdown), &log),
            Trace::Recorded
        );
        refusals.hand_over_counts(&log);
        // Handed over once: a second hand-over adds nothing.
        refusals.hand_over_counts(&log);
        log.flush().await;

        let hour = t0 - chrono::Duration::minutes(30);
        let counts = store
            .refusal_counts_between(hour, hour + chrono::Duration::hours(1))
            .await
            .expect("counts");
        let minutes: Vec<(String, u64)> = counts
            .iter()
            .map(|c| (c.minute.format("%H:%M:%S").to_string(), c.refused))
            .collect();
        // Counted: 59.9 s in minute 10:00, 00.0 and 00.1 s in 10:01.
        assert_eq!(
            minutes,
            [("10:00:00".to_owned(), 1), ("10:01:00".to_owned(), 2)]
        );
        let by_reason = store
            .refusals_between(hour, hour + chrono::Duration::hours(1))
            .await
            .expect("refusals");
        assert_eq!(
            by_reason,
            [
                (RefusalReason::TooManyCalls, 0),
                (RefusalReason::CallRate, 5),
                (RefusalReason::Shutdown, 1)
            ]
        );
        let totals = refusals.counters.by_reason();
        assert_eq!(totals[1], (RefusalReason::CallRate, 5));
        assert_eq!(totals[2], (RefusalReason::Shutdown, 1));
        assert_eq!(refusals.counters.unrecorded(), 3);
    }
}
