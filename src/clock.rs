//! The switchboard's clock: wall-clock time, shifted by a fixed offset when a test or a
//! demonstration asks to run "as if" at another date (closed hours, a holiday).

use chrono::{DateTime, TimeDelta, Utc};

/// Wall-clock time plus a fixed offset; time still flows at the real rate.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    offset: TimeDelta,
}

impl Clock {
    /// The real time.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that reads `start` now and advances in real time from there.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            offset: start - Utc::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }

    /// The tokio instant at which this clock will read `at` (now if `at` is past).
    pub fn instant_of(&self, at: DateTime<Utc>) -> tokio::time::Instant {
        let wait = (at - self.now()).to_std().unwrap_or_default();
        tokio::time::Instant::now() + wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shifted_clock_reads_its_start_date() {
        let start = DateTime::parse_from_rfc3339("2026-05-14T10:00:00+02:00")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        let clock = Clock::starting_at(start);
        let drift = (clock.now() - start).num_milliseconds().abs();
        assert!(drift < 1_000, "drift {drift} ms");
    }
}
