//! The configuration form of a calendar (embedded in the binary's TOML) and its
//! validation errors.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::holidays::HolidayRegion;

/// A calendar as written in the configuration.
///
/// ```toml
/// zone = "Europe/Paris"
/// holidays = ["metropole"]
/// [hours]
/// monday = ["08:00-12:00", "13:00-18:30"]
/// friday = ["08:00-17:00"]
/// [[exceptions]]
/// date = "2026-12-24"
/// hours = ["08:00-12:00"]
/// label = "Veille de Noël"
/// [[exceptions]]
/// date = "2026-08-10"
/// until = "2026-08-14"
/// label = "Fermeture estivale"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// IANA time zone in which the hours are read. Default `Europe/Paris`.
    #[serde(default = "default_zone")]
    pub zone: String,
    /// Opening hours for each day of the week (local wall-clock time).
    pub hours: WeeklyHours,
    /// Public-holiday regions whose days are closed (the union is taken).
    /// Default `["metropole"]`; an empty list means no public holidays.
    #[serde(default = "default_regions")]
    pub holidays: Vec<HolidayRegion>,
    /// Exceptional closures and openings by date; they override both the
    /// weekly hours and public holidays.
    #[serde(default)]
    pub exceptions: Vec<ExceptionSpec>,
}

/// Opening ranges per weekday, each `"HH:MM-HH:MM"` (end after start, `24:00`
/// allowed as an end). A day left out is closed. Ranges of one day must not
/// overlap; touching ranges are merged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyHours {
    /// Monday ranges.
    #[serde(default)]
    pub monday: Vec<String>,
    /// Tuesday ranges.
    #[serde(default)]
    pub tuesday: Vec<String>,
    /// Wednesday ranges.
    #[serde(default)]
    pub wednesday: Vec<String>,
    /// Thursday ranges.
    #[serde(default)]
    pub thursday: Vec<String>,
    /// Friday ranges.
    #[serde(default)]
    pub friday: Vec<String>,
    /// Saturday ranges.
    #[serde(default)]
    pub saturday: Vec<String>,
    /// Sunday ranges.
    #[serde(default)]
    pub sunday: Vec<String>,
}

impl WeeklyHours {
    /// The same ranges Monday to Friday, weekend closed.
    pub fn weekdays(ranges: &[&str]) -> Self {
        let v: Vec<String> = ranges.iter().map(|s| (*s).to_owned()).collect();
        WeeklyHours {
            monday: v.clone(),
            tuesday: v.clone(),
            wednesday: v.clone(),
            thursday: v.clone(),
            friday: v,
            saturday: Vec::new(),
            sunday: Vec::new(),
        }
    }

    /// `(field name, ranges)` Monday first, in the order of `chrono::Weekday`.
    pub(crate) fn days(&self) -> [(&'static str, &Vec<String>); 7] {
        [
            ("monday", &self.monday),
            ("tuesday", &self.tuesday),
            ("wednesday", &self.wednesday),
            ("thursday", &self.thursday),
            ("friday", &self.friday),
            ("saturday", &self.saturday),
            ("sunday", &self.sunday),
        ]
    }
}

/// An exceptional day (or run of days): closed when `hours` is absent or empty,
/// otherwise open exactly during `hours` (even on a weekend or a holiday).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionSpec {
    /// First day concerned (`YYYY-MM-DD`, local date).
    pub date: NaiveDate,
    /// Last day concerned, inclusive (default: `date`). At most 366 days.
    #[serde(default)]
    pub until: Option<NaiveDate>,
    /// Ranges open on those days; absent or empty means closed all day.
    #[serde(default)]
    pub hours: Option<Vec<String>>,
    /// What callers and agents are told, e.g. "Fermeture exceptionnelle".
    #[serde(default)]
    pub label: String,
}

fn default_zone() -> String {
    "Europe/Paris".to_owned()
}

fn default_regions() -> Vec<HolidayRegion> {
    vec![HolidayRegion::Metropole]
}

impl CalendarSpec {
    /// Louvre hotline (LOUVRE-IT 398-402): Monday to Friday 9:00-18:00 without
    /// interruption, Paris time, closed on public holidays.
    pub fn louvre_hotline() -> Self {
        CalendarSpec {
            zone: default_zone(),
            hours: WeeklyHours::weekdays(&["09:00-18:00"]),
            holidays: default_regions(),
            exceptions: Vec::new(),
        }
    }

    /// Ministry of Culture service desk (CULTURE 297-316): Monday to Friday
    /// 8:00-18:30, Paris time, closed on public holidays.
    pub fn culture_service_desk() -> Self {
        CalendarSpec {
            zone: default_zone(),
            hours: WeeklyHours::weekdays(&["08:00-18:30"]),
            holidays: default_regions(),
            exceptions: Vec::new(),
        }
    }

    /// Every minute of every day (no holidays), in UTC: "calendar time", for
    /// deadlines that are not counted in business hours.
    pub fn always_open() -> Self {
        let all = vec!["00:00-24:00".to_owned()];
        CalendarSpec {
            zone: "UTC".to_owned(),
            hours: WeeklyHours {
                monday: all.clone(),
                tuesday: all.clone(),
                wednesday: all.clone(),
                thursday: all.clone(),
                friday: all.clone(),
                saturday: all.clone(),
                sunday: all,
            },
            holidays: Vec::new(),
            exceptions: Vec::new(),
        }
    }
}

/// Why a [`CalendarSpec`] was refused. `field` is the path of the offending
/// item in the spec, e.g. `hours.monday[1]` or `exceptions[2].until`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CalendarError {
    /// The zone is not an IANA time-zone name.
    #[error("{field}: unknown time zone {value:?} (expected an IANA name such as Europe/Paris)")]
    UnknownZone {
        /// Path of the field.
        field: String,
        /// The value found.
        value: String,
    },
    /// A range is not `HH:MM-HH:MM` with the end after the start.
    #[error("{field}: bad time range {value:?}: {reason}")]
    BadRange {
        /// Path of the field.
        field: String,
        /// The value found.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two ranges of the same day overlap.
    #[error("{field}: ranges overlap {first} and {second}")]
    Overlap {
        /// Path of the range declared last of the two.
        field: String,
        /// The range that starts first.
        first: String,
        /// The range that starts inside it.
        second: String,
    },
    /// An exception's period is empty, too long or overlaps another exception.
    #[error("{field}: {reason}")]
    BadException {
        /// Path of the field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A validated range in minutes since local midnight, `start < end <= 1440`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct MinuteRange {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl fmt::Display for MinuteRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

fn parse_clock(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

fn parse_range(field: &str, value: &str) -> Result<MinuteRange, CalendarError> {
    let bad = |reason| CalendarError::BadRange {
        field: field.to_owned(),
        value: value.to_owned(),
        reason,
    };
    let (a, b) = value
        .split_once('-')
        .ok_or_else(|| bad("expected HH:MM-HH:MM"))?;
    let start = parse_clock(a).ok_or_else(|| bad("start is not a time HH:MM"))?;
    let end = parse_clock(b).ok_or_else(|| bad("end is not a time HH:MM (24:00 allowed)"))?;
    if start == 24 * 60 {
        return Err(bad("start cannot be 24:00"));
    }
    if end <= start {
        return Err(bad(
            "end must be after start (split a night shift over two days)",
        ));
    }
    Ok(MinuteRange { start, end })
}

/// Parses and checks the ranges of one day; returns them sorted and merged
/// where they touch.
pub(crate) fn parse_day(field: &str, ranges: &[String]) -> Result<Vec<MinuteRange>, CalendarError> {
    let mut parsed: Vec<(usize, MinuteRange)> = Vec::with_capacity(ranges.len());
    for (i, value) in ranges.iter().enumerate() {
        let r = parse_range(&format!("{field}[{i}]"), value)?;
        parsed.push((i, r));
    }
    let mut sorted = parsed.clone();
    sorted.sort_by_key(|(_, r)| *r);
    for pair in sorted.windows(2) {
        let (ia, a) = pair[0];
        let (ib, b) = pair[1];
        if b.start < a.end {
            return Err(CalendarError::Overlap {
                field: format!("{field}[{}]", ia.max(ib)),
                first: a.to_string(),
                second: b.to_string(),
            });
        }
    }
    let mut merged: Vec<MinuteRange> = Vec::with_capacity(sorted.len());
    for (_, r) in sorted {
        match merged.last_mut() {
            Some(last) if last.end == r.start => last.end = r.end,
            _ => merged.push(r),
        }
    }
    Ok(merged)
}
