//! Automatic deterrence: a sans-IO controller per line that watches load samples and decides
//! when to switch the deterrence message on and off.
//!
//! Load in: [`DeterrenceController::observe`] (calls waiting, longest wait, from the ACD) and
//! [`DeterrenceController::record_arrival`] (one per call entering the line, for the
//! 10-minute count). Decisions out: [`DeterrenceController::poll_decision`], to be applied to
//! the [`crate::MessageBoard`] (which returns the journal entry). Deterrence switches on as
//! soon as any threshold is reached, and off once load has stayed under every threshold for
//! `clear_after_secs`.

use std::collections::VecDeque;
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

/// Window of the "calls in the last 10 minutes" threshold.
pub const ARRIVAL_WINDOW: TimeDelta = TimeDelta::minutes(10);

fn default_calls_waiting() -> Option<u32> {
    Some(8)
}
fn default_longest_wait_secs() -> Option<u64> {
    Some(300)
}
fn default_calls_last_10_min() -> Option<u32> {
    Some(20)
}
fn default_clear_after_secs() -> u64 {
    600
}

/// Thresholds of automatic deterrence for one line. A threshold left out (set to none in code)
/// is not used. The defaults are our own choice (the tenders give none): about five times the
/// Culture peak of ~22 calls an hour.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeterrenceThresholds {
    /// Switch on when at least this many calls are waiting in the line's queues (8 by default).
    #[serde(default = "default_calls_waiting")]
    pub calls_waiting: Option<u32>,
    /// Switch on when the longest current wait reaches this many seconds (300 by default).
    #[serde(default = "default_longest_wait_secs")]
    pub longest_wait_secs: Option<u64>,
    /// Switch on when at least this many calls arrived in the last 10 minutes (20 by default).
    #[serde(default = "default_calls_last_10_min")]
    pub calls_last_10_min: Option<u32>,
    /// Switch off once load has stayed under every threshold this many seconds (600 by default).
    #[serde(default = "default_clear_after_secs")]
    pub clear_after_secs: u64,
}

impl Default for DeterrenceThresholds {
    fn default() -> Self {
        Self {
            calls_waiting: default_calls_waiting(),
            longest_wait_secs: default_longest_wait_secs(),
            calls_last_10_min: default_calls_last_10_min(),
            clear_after_secs: default_clear_after_secs(),
        }
    }
}

/// A threshold setting is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ThresholdError {
    /// A threshold is zero (it would keep deterrence on forever).
    #[error("deterrence threshold `{field}` must be greater than zero")]
    Zero {
        /// The field name.
        field: &'static str,
    },
    /// No threshold at all.
    #[error(
        "deterrence thresholds: set at least one of `calls_waiting`, `longest_wait_secs`, `calls_last_10_min`"
    )]
    NoThreshold,
}

impl DeterrenceThresholds {
    /// Checks the thresholds; errors name the offending field.
    pub fn validate(&self) -> Result<(), ThresholdError> {
        if self.calls_waiting == Some(0) {
            return Err(ThresholdError::Zero {
                field: "calls_waiting",
            });
        }
        if self.longest_wait_secs == Some(0) {
            return Err(ThresholdError::Zero {
                field: "longest_wait_secs",
            });
        }
        if self.calls_last_10_min == Some(0) {
            return Err(ThresholdError::Zero {
                field: "calls_last_10_min",
            });
        }
        if self.calls_waiting.is_none()
            && self.longest_wait_secs.is_none()
            && self.calls_last_10_min.is_none()
        {
            return Err(ThresholdError::NoThreshold);
        }
        Ok(())
    }
}

/// The line's load at one instant, from the ACD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadSample {
    /// Calls waiting in the line's queues.
    pub calls_waiting: u32,
    /// Longest current wait, in seconds.
    pub longest_wait_secs: u64,
}

/// A threshold that was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeterrenceReason {
    /// Calls waiting reached the threshold.
    CallsWaiting {
        /// Measured.
        value: u32,
        /// Threshold.
        threshold: u32,
    },
    /// Longest wait reached the threshold.
    LongestWait {
        /// Measured, seconds.
        value_secs: u64,
        /// Threshold, seconds.
        threshold_secs: u64,
    },
    /// Arrivals in the last 10 minutes reached the threshold.
    RecentCalls {
        /// Measured.
        value: u32,
        /// Threshold.
        threshold: u32,
    },
}

impl fmt::Display for DeterrenceReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeterrenceReason::CallsWaiting { value, threshold } => {
                write!(f, "appels en attente {value} (seuil {threshold})")
            }
            DeterrenceReason::LongestWait {
                value_secs,
                threshold_secs,
            } => write!(
                f,
                "attente la plus longue {value_secs} s (seuil {threshold_secs} s)"
            ),
            DeterrenceReason::RecentCalls { value, threshold } => {
                write!(f, "appels reçus sur 10 minutes {value} (seuil {threshold})")
            }
        }
    }
}

/// What the controller decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeterrenceDecision {
    /// Switch automatic deterrence on.
    Activate {
        /// Line.
        line: String,
        /// Thresholds reached.
        reasons: Vec<DeterrenceReason>,
    },
    /// Switch automatic deterrence off: load stayed under the thresholds long enough.
    Clear {
        /// Line.
        line: String,
    },
}

/// Sans-IO controller of automatic deterrence for one line.
#[derive(Debug, Clone)]
pub struct DeterrenceController {
    line: String,
    thresholds: DeterrenceThresholds,
    active: bool,
    /// False after a supervisor removed deterrence by hand while load was still high: the
    /// controller then waits for load to fall under the thresholds before it may switch on
    /// again, so it does not fight the supervisor.
    armed: bool,
    last_sample: LoadSample,
    arrivals: VecDeque<DateTime<Utc>>,
    calm_since: Option<DateTime<Utc>>,
    decisions: VecDeque<DeterrenceDecision>,
}

impl DeterrenceController {
    /// A controller for `line`, inactive.
    pub fn new(line: &str, thresholds: DeterrenceThresholds) -> Result<Self, ThresholdError> {
        thresholds.validate()?;
        Ok(Self {
            line: line.to_owned(),
            thresholds,
            active: false,
            armed: true,
            last_sample: LoadSample::default(),
            arrivals: VecDeque::new(),
            calm_since: None,
            decisions: VecDeque::new(),
        })
    }

    /// Whether the controller currently holds deterrence on.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// A new load sample.
    pub fn observe(&mut self, sample: LoadSample, now: DateTime<Utc>) {
        self.last_sample = sample;
        self.evaluate(now);
    }

    /// A call entered the line.
    pub fn record_arrival(&mut self, now: DateTime<Utc>) {
        self.arrivals.push_back(now);
        self.evaluate(now);
    }

    /// A supervisor removed the deterrence message by hand: stop holding it on, and do not
    /// switch it on again before load has fallen under the thresholds.
    pub fn cleared_by_hand(&mut self, now: DateTime<Utc>) {
        self.active = false;
        self.calm_since = None;
        self.armed = self.reasons(now).is_empty();
    }

    /// Time-driven re-evaluation (arrivals leaving the window, calm period elapsed).
    pub fn handle_timeout(&mut self, now: DateTime<Utc>) {
        self.evaluate(now);
    }

    /// When to call [`DeterrenceController::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        let window = self.arrivals.front().map(|t| *t + ARRIVAL_WINDOW);
        let calm = match (self.active, self.calm_since) {
            (true, Some(since)) => Some(since + self.clear_after()),
            _ => None,
        };
        match (window, calm) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next decision to apply, if any.
    pub fn poll_decision(&mut self) -> Option<DeterrenceDecision> {
        self.decisions.pop_front()
    }

    fn clear_after(&self) -> TimeDelta {
        TimeDelta::seconds(
            i64::try_from(self.thresholds.clear_after_secs).unwrap_or(i64::MAX / 1_000),
        )
    }

    fn reasons(&mut self, now: DateTime<Utc>) -> Vec<DeterrenceReason> {
        while self
            .arrivals
            .front()
            .is_some_and(|t| *t + ARRIVAL_WINDOW <= now)
        {
            self.arrivals.pop_front();
        }
        let mut reasons = Vec::new();
        if let Some(threshold) = self.thresholds.calls_waiting
            && self.last_sample.calls_waiting >= threshold
        {
            reasons.push(DeterrenceReason::CallsWaiting {
                value: self.last_sample.calls_waiting,
                threshold,
            });
        }
        if let Some(threshold_secs) = self.thresholds.longest_wait_secs
            && self.last_sample.longest_wait_secs >= threshold_secs
        {
            reasons.push(DeterrenceReason::LongestWait {
                value_secs: self.last_sample.longest_wait_secs,
                threshold_secs,
            });
        }
        let recent = u32::try_from(self.arrivals.len()).unwrap_or(u32::MAX);
        if let Some(threshold) = self.thresholds.calls_last_10_min
            && recent >= threshold
        {
            reasons.push(DeterrenceReason::RecentCalls {
                value: recent,
                threshold,
            });
        }
        reasons
    }

    fn evaluate(&mut self, now: DateTime<Utc>) {
        let reasons = self.reasons(now);
        if !reasons.is_empty() {
            self.calm_since = None;
            if !self.active && self.armed {
                self.active = true;
                self.decisions.push_back(DeterrenceDecision::Activate {
                    line: self.line.clone(),
                    reasons,
                });
            }
            return;
        }
        self.armed = true;
        if !self.active {
            return;
        }
        let since = *self.calm_since.get_or_insert(now);
        if now - since >= self.clear_after() {
            self.active = false;
            self.calm_since = None;
            self.decisions.push_back(DeterrenceDecision::Clear {
                line: self.line.clone(),
            });
        }
    }
}
