//! Counters the binary exposes on `/metrics`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Methods counted one by one; anything else lands in `other`.
pub const COUNTED_METHODS: [&str; 10] = [
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "UPDATE", "PRACK", "other",
];

/// Plain atomics, read with [`SipCounters::snapshot`].
#[derive(Debug)]
pub struct SipCounters {
    requests: [AtomicU64; 10],
    responses_sent: [AtomicU64; 600],
    responses_received: [AtomicU64; 600],
    /// Malformed messages that could not be answered and were dropped.
    pub dropped_malformed: AtomicU64,
    /// Malformed requests answered with a 4xx/5xx by the validation front.
    pub rejected_malformed: AtomicU64,
    /// Successful REGISTER (including refreshes and unregisters).
    pub registrations: AtomicU64,
    /// Failed digest authentications.
    pub auth_failures: AtomicU64,
    /// Requests refused because the source was rate-limited.
    pub auth_rate_limited: AtomicU64,
    /// Dialogs (calls) currently alive.
    pub active_dialogs: AtomicI64,
    /// Requests refused with 503 because the intake queue was full.
    pub overload_rejections: AtomicU64,
}

/// A copy of the counters at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountersSnapshot {
    /// (method, count) for [`COUNTED_METHODS`].
    pub requests: Vec<(&'static str, u64)>,
    /// (status code, count) for codes sent at least once.
    pub responses_sent: Vec<(u16, u64)>,
    /// (status code, count) for codes received at least once.
    pub responses_received: Vec<(u16, u64)>,
    /// See [`SipCounters::dropped_malformed`].
    pub dropped_malformed: u64,
    /// See [`SipCounters::rejected_malformed`].
    pub rejected_malformed: u64,
    /// See [`SipCounters::registrations`].
    pub registrations: u64,
    /// See [`SipCounters::auth_failures`].
    pub auth_failures: u64,
    /// See [`SipCounters::auth_rate_limited`].
    pub auth_rate_limited: u64,
    /// See [`SipCounters::active_dialogs`].
    pub active_dialogs: i64,
    /// See [`SipCounters::overload_rejections`].
    pub overload_rejections: u64,
}

impl Default for SipCounters {
    fn default() -> Self {
        SipCounters {
            requests: std::array::from_fn(|_| AtomicU64::new(0)),
            responses_sent: std::array::from_fn(|_| AtomicU64::new(0)),
            responses_received: std::array::from_fn(|_| AtomicU64::new(0)),
            dropped_malformed: AtomicU64::new(0),
            rejected_malformed: AtomicU64::new(0),
            registrations: AtomicU64::new(0),
            auth_failures: AtomicU64::new(0),
            auth_rate_limited: AtomicU64::new(0),
            active_dialogs: AtomicI64::new(0),
            overload_rejections: AtomicU64::new(0),
        }
    }
}

impl SipCounters {
    pub(crate) fn count_request(&self, method: &str) {
        let i = COUNTED_METHODS[..9]
            .iter()
            .position(|m| *m == method)
            .unwrap_or(9);
        self.requests[i].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_sent(&self, code: u16) {
        if let Some(c) = self.responses_sent.get(usize::from(code).wrapping_sub(100)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn count_received(&self, code: u16) {
        if let Some(c) = self
            .responses_received
            .get(usize::from(code).wrapping_sub(100))
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Number of requests received with this method (`"other"` for the rest).
    pub fn requests(&self, method: &str) -> u64 {
        COUNTED_METHODS
            .iter()
            .position(|m| *m == method)
            .map_or(0, |i| self.requests[i].load(Ordering::Relaxed))
    }

    /// Number of responses sent with this code.
    pub fn responses_sent(&self, code: u16) -> u64 {
        self.responses_sent
            .get(usize::from(code).wrapping_sub(100))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Copy every counter.
    pub fn snapshot(&self) -> CountersSnapshot {
        let codes = |a: &[AtomicU64; 600]| {
            a.iter()
                .enumerate()
                .filter_map(|(i, c)| {
                    let v = c.load(Ordering::Relaxed);
                    // i < 600, so the code fits in u16.
                    (v > 0).then(|| (u16::try_from(i + 100).unwrap_or(u16::MAX), v))
                })
                .collect()
        };
        CountersSnapshot {
            requests: COUNTED_METHODS
                .iter()
                .zip(&self.requests)
                .map(|(m, c)| (*m, c.load(Ordering::Relaxed)))
                .collect(),
            responses_sent: codes(&self.responses_sent),
            responses_received: codes(&self.responses_received),
            dropped_malformed: self.dropped_malformed.load(Ordering::Relaxed),
            rejected_malformed: self.rejected_malformed.load(Ordering::Relaxed),
            registrations: self.registrations.load(Ordering::Relaxed),
            auth_failures: self.auth_failures.load(Ordering::Relaxed),
            auth_rate_limited: self.auth_rate_limited.load(Ordering::Relaxed),
            active_dialogs: self.active_dialogs.load(Ordering::Relaxed),
            overload_rejections: self.overload_rejections.load(Ordering::Relaxed),
        }
    }
}
