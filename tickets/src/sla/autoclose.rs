//! Automatic closure of resolved tickets (CULTURE 911-916), counted with the
//! calendar rather than as a raw number of seconds.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use guichet_calendar::Calendar;

use super::calendar_history::CalendarHistory;
use super::policy::DayCounting;

/// When a ticket resolved at `resolved_at` closes by itself: `days` later,
/// counted as civil days in the calendar's zone (same wall-clock time N
/// dates later, so a DST change does not shift it by an hour) or as business
/// days of the calendar (same wall-clock time on the N-th later date on which
/// the calendar opens). `None` only if the calendar offers no such day within
/// ten years.
pub fn auto_close_at(
    resolved_at: DateTime<Utc>,
    days: u32,
    counting: DayCounting,
    calendar: &Calendar,
) -> Option<DateTime<Utc>> {
    auto_close_in(resolved_at, days, counting, calendar.zone(), |date| {
        calendar.is_business_day(date)
    })
}

/// [`auto_close_at`] with a calendar's history: each later date is a business day or not
/// according to the version in force when it begins.
pub(crate) fn auto_close_with_history(
    resolved_at: DateTime<Utc>,
    days: u32,
    counting: DayCounting,
    history: &CalendarHistory,
) -> Option<DateTime<Utc>> {
    auto_close_in(resolved_at, days, counting, history.zone(), |date| {
        history.is_business_day(date)
    })
}

fn auto_close_in(
    resolved_at: DateTime<Utc>,
    days: u32,
    counting: DayCounting,
    zone: chrono_tz::Tz,
    is_business_day: impl Fn(NaiveDate) -> bool,
) -> Option<DateTime<Utc>> {
    let local = resolved_at.with_timezone(&zone).naive_local();
    let target_date = match counting {
        DayCounting::CalendarDays => local.date() + Duration::days(i64::from(days)),
        DayCounting::BusinessDays => {
            let mut date = local.date();
            let mut left = days;
            let mut guard = 0;
            while left > 0 {
                date = date.succ_opt()?;
                if is_business_day(date) {
                    left -= 1;
                }
                guard += 1;
                if guard > 3660 {
                    return None;
                }
            }
            date
        }
    };
    wall_clock_to_utc(zone, target_date.and_time(local.time()))
}

/// The instant a wall-clock time denotes: the earlier one when it happens
/// twice, the end of the gap when it does not exist.
fn wall_clock_to_utc(zone: chrono_tz::Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    if let Some(t) = zone.from_local_datetime(&local).earliest() {
        return Some(t.with_timezone(&Utc));
    }
    // In a spring-forward gap: the first valid minute after it.
    (1..=180).find_map(|m| {
        zone.from_local_datetime(&(local + Duration::minutes(m)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}
