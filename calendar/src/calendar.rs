//! The validated calendar and its business-hours arithmetic.
//!
//! Definition used throughout: the calendar is open at instant `u` when the
//! local wall-clock time of `u` (in the calendar's zone) falls inside one of the
//! ranges of that local date. This one rule settles DST: a range crossing the
//! spring-forward gap loses the skipped hour, a range crossing the repeated
//! autumn hour gains it, exactly as a person watching a wall clock would see.

use std::collections::BTreeMap;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone,
    Utc,
};
use chrono_tz::Tz;

use crate::holidays::{HolidayRegion, holiday_on};
use crate::spec::{CalendarError, CalendarSpec, MinuteRange, parse_day};

/// How far the searches look ahead before giving up (ten years of days).
const HORIZON_DAYS: i64 = 3660;
/// A day's wall-clock instants lie within [midnight - 14 h, midnight + 24 h + 12 h]
/// in UTC, since every zone's offset is within -12 h..+14 h.
const MAX_EAST: i64 = 14 * 3600;
const MAX_WEST: i64 = 12 * 3600;

/// What the calendar says about one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenState {
    /// Inside an opening range (weekly hours or exceptional opening).
    Open,
    /// Outside the hours of an ordinary day.
    Closed,
    /// A public holiday (the whole local day), with its French name.
    Holiday {
        /// E.g. "Ascension".
        name: &'static str,
    },
    /// An exceptional closure, or outside the hours of an exceptional day.
    ExceptionalClosure {
        /// The label given in the configuration.
        label: String,
    },
}

#[derive(Debug, Clone)]
struct DayOverride {
    ranges: Vec<MinuteRange>,
    label: String,
}

/// Opening hours in a zone, with holidays and exceptions: answers "is it
/// open?", "when does it next open/close?" and business-time arithmetic.
/// Every instant in and out is UTC, so a question asked from any zone gets the
/// same answer.
#[derive(Debug, Clone)]
pub struct Calendar {
    zone: Tz,
    weekly: [Vec<MinuteRange>; 7],
    regions: Vec<HolidayRegion>,
    exceptions: BTreeMap<NaiveDate, DayOverride>,
}

/// One opening interval `[start, end)` in UTC.
pub type OpenInterval = (DateTime<Utc>, DateTime<Utc>);

impl Calendar {
    /// Validates `spec`; errors name the offending field.
    pub fn new(spec: &CalendarSpec) -> Result<Self, CalendarError> {
        let zone: Tz = spec.zone.parse().map_err(|_| CalendarError::UnknownZone {
            field: "zone".to_owned(),
            value: spec.zone.clone(),
        })?;
        let mut weekly: [Vec<MinuteRange>; 7] = Default::default();
        for (i, (name, ranges)) in spec.hours.days().into_iter().enumerate() {
            weekly[i] = parse_day(&format!("hours.{name}"), ranges)?;
        }
        let mut regions = spec.holidays.clone();
        regions.sort();
        regions.dedup();
        let mut exceptions = BTreeMap::new();
        for (i, ex) in spec.exceptions.iter().enumerate() {
            let field = format!("exceptions[{i}]");
            let ranges = match &ex.hours {
                Some(h) => parse_day(&format!("{field}.hours"), h)?,
                None => Vec::new(),
            };
            let until = ex.until.unwrap_or(ex.date);
            let days = (until - ex.date).num_days();
            if days < 0 {
                return Err(CalendarError::BadException {
                    field: format!("{field}.until"),
                    reason: format!("{until} is before date {}", ex.date),
                });
            }
            if days > 365 {
                return Err(CalendarError::BadException {
                    field: format!("{field}.until"),
                    reason: "a period may cover at most 366 days".to_owned(),
                });
            }
            let mut day = ex.date;
            for _ in 0..=days {
                let prev = exceptions.insert(
                    day,
                    DayOverride {
                        ranges: ranges.clone(),
                        label: ex.label.clone(),
                    },
                );
                if prev.is_some() {
                    return Err(CalendarError::BadException {
                        field: format!("{field}.date"),
                        reason: format!("{day} is already covered by an earlier exception"),
                    });
                }
                day = day.succ_opt().unwrap_or(day);
            }
        }
        Ok(Calendar {
            zone,
            weekly,
            regions,
            exceptions,
        })
    }

    /// Louvre hotline: Mon-Fri 9:00-18:00 Paris, closed on public holidays.
    pub fn louvre_hotline() -> Self {
        Self::from_builtin(&CalendarSpec::louvre_hotline())
    }

    /// Culture service desk: Mon-Fri 8:00-18:30 Paris, closed on public holidays.
    pub fn culture_service_desk() -> Self {
        Self::from_builtin(&CalendarSpec::culture_service_desk())
    }

    /// Always open: business time equals elapsed time.
    pub fn always_open() -> Self {
        Self::from_builtin(&CalendarSpec::always_open())
    }

    fn from_builtin(spec: &CalendarSpec) -> Self {
        match Calendar::new(spec) {
            Ok(c) => c,
            // The built-in specs are constants covered by tests.
            Err(e) => unreachable!("built-in calendar spec is invalid: {e}"),
        }
    }

    /// The zone in which the hours are read.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The name of the public holiday on local `date`, if any.
    pub fn holiday_on(&self, date: NaiveDate) -> Option<&'static str> {
        self.regions.iter().find_map(|r| holiday_on(date, *r))
    }

    /// Whether the calendar opens at all on local `date` (after holidays and
    /// exceptions): a "business day".
    pub fn is_business_day(&self, date: NaiveDate) -> bool {
        !self.ranges_on(date).is_empty()
    }

    /// The state of the calendar at `t`.
    pub fn state_at(&self, t: DateTime<Utc>) -> OpenState {
        if self.is_open(t) {
            return OpenState::Open;
        }
        let date = t.with_timezone(&self.zone).date_naive();
        if let Some(ex) = self.exceptions.get(&date) {
            return OpenState::ExceptionalClosure {
                label: ex.label.clone(),
            };
        }
        match self.holiday_on(date) {
            Some(name) => OpenState::Holiday { name },
            None => OpenState::Closed,
        }
    }

    /// Whether `t` is inside an opening range.
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        self.intervals_from(t, 3)
            .next()
            .is_some_and(|(start, _)| start <= t)
    }

    /// The first instant at or after `t` at which the calendar is open (`t`
    /// itself when open), or `None` if it never opens within ten years.
    pub fn next_open(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.intervals_from(t, HORIZON_DAYS)
            .next()
            .map(|(start, _)| start.max(t))
    }

    /// The first instant at or after `t` at which the calendar is closed (`t`
    /// itself when closed), or `None` if it stays open for ten years.
    pub fn next_close(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut it = self.intervals_from(t, HORIZON_DAYS);
        let (start, mut end) = match it.next() {
            Some(first) => first,
            None => return Some(t),
        };
        if start > t {
            return Some(t);
        }
        for (s, e) in it {
            if s > end {
                return Some(end);
            }
            end = end.max(e);
        }
        None
    }

    /// Business time between `a` and `b` (zero when `b <= a`).
    pub fn business_duration(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> TimeDelta {
        if b <= a {
            return TimeDelta::zero();
        }
        let days = (b - a).num_days() + 3;
        let mut total = TimeDelta::zero();
        for (s, e) in self.intervals_from(a, days) {
            if s >= b {
                break;
            }
            total += e.min(b) - s.max(a);
        }
        total
    }

    /// The earliest instant `x` such that `business_duration(t, x) == d`;
    /// `t` when `d` is zero or negative, `None` when the calendar does not
    /// offer `d` of business time within ten years after `t`.
    pub fn add_business(&self, t: DateTime<Utc>, d: TimeDelta) -> Option<DateTime<Utc>> {
        if d <= TimeDelta::zero() {
            return Some(t);
        }
        let mut remaining = d;
        let horizon = HORIZON_DAYS.max(d.num_days() * 4 + 14);
        for (s, e) in self.intervals_from(t, horizon) {
            let s = s.max(t);
            let available = e - s;
            if available >= remaining {
                return Some(s + remaining);
            }
            remaining -= available;
        }
        None
    }

    /// The opening intervals overlapping `[from, to)`, clipped to it, in order.
    pub fn open_intervals(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<OpenInterval> {
        if to <= from {
            return Vec::new();
        }
        let days = (to - from).num_days() + 3;
        self.intervals_from(from, days)
            .take_while(|(s, _)| *s < to)
            .map(|(s, e)| (s.max(from), e.min(to)))
            .collect()
    }

    /// The opening intervals of the calendar's local `date`, as wall-clock
    /// times in `viewer`'s zone: what a caller elsewhere reads on their own
    /// clock (e.g. the Paris service desk seen from Cayenne).
    pub fn local_windows(
        &self,
        date: NaiveDate,
        viewer: Tz,
    ) -> Vec<(NaiveDateTime, NaiveDateTime)> {
        self.day_intervals(date)
            .into_iter()
            .map(|(s, e)| {
                (
                    s.with_timezone(&viewer).naive_local(),
                    e.with_timezone(&viewer).naive_local(),
                )
            })
            .collect()
    }

    /// Like [`local_windows`](Self::local_windows), clipped to the viewer's
    /// own working day `[day_start, day_end)` (taken on the local date where
    /// each window starts). This is the overseas DAC rule of the Culture
    /// tender: a Guyane caller reaches the Paris desk only when Paris is open
    /// *and* it is working time in Cayenne.
    pub fn local_windows_within(
        &self,
        date: NaiveDate,
        viewer: Tz,
        day_start: NaiveTime,
        day_end: NaiveTime,
    ) -> Vec<(NaiveDateTime, NaiveDateTime)> {
        self.local_windows(date, viewer)
            .into_iter()
            .filter_map(|(s, e)| {
                let lo = s.date().and_time(day_start);
                let hi = s.date().and_time(day_end);
                let (s, e) = (s.max(lo), e.min(hi));
                (s < e).then_some((s, e))
            })
            .collect()
    }

    /// The ranges that apply on local `date`.
    fn ranges_on(&self, date: NaiveDate) -> &[MinuteRange] {
        if let Some(ex) = self.exceptions.get(&date) {
            return &ex.ranges;
        }
        if self.holiday_on(date).is_some() {
            return &[];
        }
        &self.weekly[date.weekday().num_days_from_monday() as usize]
    }

    /// The UTC instants whose wall-clock time lies in the ranges of `date`,
    /// sorted and disjoint.
    fn day_intervals(&self, date: NaiveDate) -> Vec<OpenInterval> {
        let ranges = self.ranges_on(date);
        if ranges.is_empty() {
            return Vec::new();
        }
        let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        let segments = offset_segments(
            self.zone,
            midnight - Duration::seconds(MAX_EAST),
            midnight + Duration::days(1) + Duration::seconds(MAX_WEST),
        );
        let mut out: Vec<OpenInterval> = Vec::new();
        for r in ranges {
            let start = midnight + Duration::minutes(i64::from(r.start));
            let end = midnight + Duration::minutes(i64::from(r.end));
            for &(seg_start, seg_end, offset) in &segments {
                // u is in the range when u + offset lies in [start, end).
                let s = (start - offset).max(seg_start);
                let e = (end - offset).min(seg_end);
                if s < e {
                    out.push((s, e));
                }
            }
        }
        out.sort();
        merge_overlapping(out)
    }

    fn intervals_from(&self, from: DateTime<Utc>, max_days: i64) -> OpenIntervals<'_> {
        let first_day = from
            .with_timezone(&self.zone)
            .date_naive()
            .pred_opt()
            .unwrap_or(NaiveDate::MIN);
        OpenIntervals {
            calendar: self,
            from,
            next_day: first_day,
            days_left: max_days.max(3),
            buffer: Vec::new(),
        }
    }
}

fn merge_overlapping(sorted: Vec<OpenInterval>) -> Vec<OpenInterval> {
    let mut out: Vec<OpenInterval> = Vec::with_capacity(sorted.len());
    for (s, e) in sorted {
        match out.last_mut() {
            Some(last) if s < last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Splits `[lo, hi)` into pieces of constant UTC offset. Assumes at most one
/// transition between two points a day or so apart, which holds for every zone
/// in the tz database (transitions are months apart).
fn offset_segments(
    zone: Tz,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>, TimeDelta)> {
    let offset = |u: DateTime<Utc>| {
        TimeDelta::seconds(i64::from(
            zone.offset_from_utc_datetime(&u.naive_utc())
                .fix()
                .local_minus_utc(),
        ))
    };
    let mut out = Vec::with_capacity(2);
    let mut a = lo;
    let mut guard = 0;
    while a < hi {
        let oa = offset(a);
        if offset(hi) == oa || guard > 4 {
            out.push((a, hi, oa));
            break;
        }
        // Smallest second h in (a, hi] whose offset differs from a's.
        let (mut l, mut h) = (a, hi);
        while (h - l).num_seconds() > 1 {
            let m = l + TimeDelta::seconds((h - l).num_seconds() / 2);
            if offset(m) == oa {
                l = m;
            } else {
                h = m;
            }
        }
        out.push((a, h, oa));
        a = h;
        guard += 1;
    }
    out
}

/// Opening intervals in time order from a starting instant. Intervals that
/// only touch (a range ending at 24:00, the next day starting at 00:00) are
/// yielded separately; overlapping ones are merged.
struct OpenIntervals<'a> {
    calendar: &'a Calendar,
    from: DateTime<Utc>,
    next_day: NaiveDate,
    days_left: i64,
    buffer: Vec<OpenInterval>,
}

impl OpenIntervals<'_> {
    /// No instant of a day at or after `next_day` lies before this.
    fn lower_bound_of_next_day(&self) -> DateTime<Utc> {
        self.next_day
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            - Duration::seconds(MAX_EAST)
    }
}

impl Iterator for OpenIntervals<'_> {
    type Item = OpenInterval;

    fn next(&mut self) -> Option<OpenInterval> {
        loop {
            while self.days_left > 0
                && self
                    .buffer
                    .first()
                    .is_none_or(|&(_, end)| self.lower_bound_of_next_day() < end)
            {
                let day = self.calendar.day_intervals(self.next_day);
                let from = self.from;
                self.buffer
                    .extend(day.into_iter().filter(|&(_, e)| e > from));
                self.buffer.sort();
                self.buffer = merge_overlapping(std::mem::take(&mut self.buffer));
                self.next_day = self.next_day.succ_opt()?;
                self.days_left -= 1;
            }
            if self.buffer.is_empty() {
                return None;
            }
            let first = self.buffer.remove(0);
            if first.1 > self.from {
                return Some(first);
            }
        }
    }
}
