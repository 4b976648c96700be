//! A calendar's successive versions, each in force over a half-open interval of instants.
//!
//! An administrator who changes a calendar's opening hours or adds a closure at instant `T`
//! changes the calendar from `T` on: the business time a clock counted before `T` stays
//! counted with the calendar that was in force then (an SLA is measured contractually, and
//! time already counted must not change). Every business-time figure of the SLA core goes
//! through [`CalendarHistory`], which splits an interval at the versions' boundaries and
//! counts each part with the version in force over it.

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use guichet_calendar::Calendar;

/// A calendar's versions, ordered by the instant each takes effect. The first one has been
/// in force since always; each later one from its instant until the next one's.
#[derive(Debug, Clone)]
pub struct CalendarHistory {
    /// `(effective from, calendar)`, increasing instants; the first is `DateTime::MIN_UTC`.
    versions: Vec<(DateTime<Utc>, Calendar)>,
}

impl From<Calendar> for CalendarHistory {
    fn from(calendar: Calendar) -> Self {
        CalendarHistory::new(calendar)
    }
}

impl CalendarHistory {
    /// A calendar that has always been in force.
    pub fn new(calendar: Calendar) -> Self {
        CalendarHistory {
            versions: vec![(DateTime::<Utc>::MIN_UTC, calendar)],
        }
    }

    /// Makes `calendar` the one in force from `effective_from` on. Time before stays counted
    /// with the versions already there. A change dated before the newest version (a node
    /// whose clock lags) takes effect at the newest version's instant, so it never rewrites
    /// a period another change already governs; two changes at one instant: the later wins.
    pub fn change(&mut self, effective_from: DateTime<Utc>, calendar: Calendar) {
        let newest = self.versions.len() - 1;
        if effective_from <= self.versions[newest].0 && newest > 0 {
            self.versions[newest].1 = calendar;
        } else {
            self.versions.push((effective_from, calendar));
        }
    }

    /// The calendar in force at `t`.
    pub fn at(&self, t: DateTime<Utc>) -> &Calendar {
        let after = self.versions.partition_point(|(from, _)| *from <= t);
        &self.versions[after.saturating_sub(1)].1
    }

    /// The newest version (in force from its instant on).
    pub fn current(&self) -> &Calendar {
        &self.versions[self.versions.len() - 1].1
    }

    /// The instants at which a later version took effect, oldest first.
    pub fn changes(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.versions.iter().skip(1).map(|(from, _)| *from)
    }

    /// The calendars' time zone (the newest version's: a change of zone is not an
    /// administrator's change).
    pub fn zone(&self) -> chrono_tz::Tz {
        self.current().zone()
    }

    /// Each version's part of `[a, ∞)`: (start, end or `None` for the newest, calendar).
    fn spans_from(
        &self,
        a: DateTime<Utc>,
    ) -> impl Iterator<Item = (DateTime<Utc>, Option<DateTime<Utc>>, &Calendar)> + '_ {
        let first = self
            .versions
            .partition_point(|(from, _)| *from <= a)
            .saturating_sub(1);
        self.versions[first..]
            .iter()
            .enumerate()
            .map(move |(i, (from, calendar))| {
                let end = self.versions.get(first + i + 1).map(|(next, _)| *next);
                ((*from).max(a), end, calendar)
            })
    }

    /// Business time between `a` and `b` (zero when `b <= a`), each part counted with the
    /// version in force over it.
    pub fn business_duration(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> TimeDelta {
        if b <= a {
            return TimeDelta::zero();
        }
        let mut total = TimeDelta::zero();
        for (start, end, calendar) in self.spans_from(a) {
            if start >= b {
                break;
            }
            let end = end.map_or(b, |e| e.min(b));
            total += calendar.business_duration(start, end);
        }
        total
    }

    /// The earliest instant `x` such that `business_duration(t, x) == d`; `t` when `d` is
    /// zero or negative, `None` when the calendars do not offer it within ten years.
    pub fn add_business(&self, t: DateTime<Utc>, d: TimeDelta) -> Option<DateTime<Utc>> {
        if d <= TimeDelta::zero() {
            return Some(t);
        }
        let mut remaining = d;
        for (start, end, calendar) in self.spans_from(t) {
            let Some(end) = end else {
                return calendar.add_business(start, remaining);
            };
            let available = calendar.business_duration(start, end);
            if available >= remaining {
                return calendar.add_business(start, remaining);
            }
            remaining -= available;
        }
        None
    }

    /// Whether the calendar in force when the local `date` begins opens that day (a closure
    /// decided in advance for that day is part of it).
    pub fn is_business_day(&self, date: NaiveDate) -> bool {
        let start = self
            .zone()
            .from_local_datetime(&date.and_time(chrono::NaiveTime::MIN))
            .earliest()
            .map(|t| t.with_timezone(&Utc));
        match start {
            Some(start) => self.at(start).is_business_day(date),
            None => self.current().is_business_day(date),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use guichet_calendar::CalendarSpec;

    fn paris(d: u32, h: u32, min: u32) -> DateTime<Utc> {
        chrono_tz::Europe::Paris
            .with_ymd_and_hms(2026, 5, d, h, min, 0)
            .single()
            .expect("instant")
            .with_timezone(&Utc)
    }

    /// The Louvre calendar (Monday to Friday 09:00-18:00, Paris) with Tuesday's hours
    /// `tuesday`.
    fn louvre_with_tuesday(tuesday: &str) -> Calendar {
        louvre(tuesday, &[])
    }

    /// The Louvre calendar with Tuesday's hours `tuesday` and the local days `closed`
    /// ("2026-05-20") closed.
    pub(crate) fn louvre(tuesday: &str, closed: &[&str]) -> Calendar {
        let exceptions: Vec<serde_json::Value> = closed
            .iter()
            .map(|d| serde_json::json!({"date": d, "label": "Fermeture exceptionnelle"}))
            .collect();
        let spec: CalendarSpec = serde_json::from_value(serde_json::json!({
            "zone": "Europe/Paris",
            "holidays": ["metropole"],
            "hours": {
                "monday": ["09:00-18:00"],
                "tuesday": [tuesday],
                "wednesday": ["09:00-18:00"],
                "thursday": ["09:00-18:00"],
                "friday": ["09:00-18:00"],
            },
            "exceptions": exceptions,
        }))
        .expect("spec");
        Calendar::new(&spec).expect("calendar")
    }

    #[test]
    fn time_before_a_change_keeps_the_old_hours_and_time_after_follows_the_new() {
        // Tuesday 19 May 2026, 09:00-18:00; at 11:00 Tuesday becomes 09:00-12:00.
        let mut history = CalendarHistory::new(louvre_with_tuesday("09:00-18:00"));
        history.change(paris(19, 11, 0), louvre_with_tuesday("09:00-12:00"));
        assert_eq!(
            history.business_duration(paris(19, 9, 0), paris(19, 18, 0)),
            TimeDelta::hours(3)
        );
        // Before the change only the old hours count: 09:00-10:30.
        assert_eq!(
            history.business_duration(paris(19, 9, 0), paris(19, 10, 30)),
            TimeDelta::minutes(90)
        );
        // Four hours from 10:00: 10:00-12:00 today, then Wednesday 09:00-11:00.
        assert_eq!(
            history.add_business(paris(19, 10, 0), TimeDelta::hours(4)),
            Some(paris(20, 11, 0))
        );
        // Exactly what is left today ends at noon, not at the next opening.
        assert_eq!(
            history.add_business(paris(19, 10, 0), TimeDelta::hours(2)),
            Some(paris(19, 12, 0))
        );
        assert_eq!(
            history.changes().collect::<Vec<_>>(),
            vec![paris(19, 11, 0)]
        );
        // The old calendar is still the one in force before the change.
        assert!(history.at(paris(19, 10, 0)).is_open(paris(19, 15, 0)));
        assert!(!history.current().is_open(paris(19, 15, 0)));
    }

    #[test]
    fn a_change_dated_before_the_newest_one_never_rewrites_its_period() {
        let mut history = CalendarHistory::new(louvre_with_tuesday("09:00-18:00"));
        history.change(paris(19, 11, 0), louvre_with_tuesday("09:00-12:00"));
        history.change(paris(19, 10, 0), louvre_with_tuesday("09:00-11:30"));
        assert_eq!(
            history.changes().collect::<Vec<_>>(),
            vec![paris(19, 11, 0)]
        );
        assert_eq!(
            history.business_duration(paris(19, 9, 0), paris(19, 18, 0)),
            TimeDelta::minutes(150)
        );
    }
}
