//! guichet-calendar: opening hours and French public holidays, and the
//! business-hours arithmetic the rest of Guichet relies on (is the line open?
//! when does it reopen? what instant is N business hours after T?).
//!
//! Sans-IO: no clock is ever read; every instant is passed in as
//! `DateTime<Utc>` and the hours are read in the calendar's IANA zone, so a
//! question asked from Cayenne and one asked from Paris get the same answer.
//!
//! Public API:
//! - [`holidays`]`(year, region)` and [`HolidayRegion`]: the French public
//!   holidays (11 national days, Alsace-Moselle, overseas departments);
//! - [`CalendarSpec`] (serde, embedded in the binary's TOML) and
//!   [`Calendar::new`], whose [`CalendarError`]s name the offending field;
//! - [`Calendar`]: [`state_at`](Calendar::state_at), [`is_open`](Calendar::is_open),
//!   [`next_open`](Calendar::next_open), [`next_close`](Calendar::next_close),
//!   [`business_duration`](Calendar::business_duration),
//!   [`add_business`](Calendar::add_business), [`local_windows`](Calendar::local_windows).
//!
//! ```
//! use chrono::{TimeDelta, TimeZone, Utc};
//! use guichet_calendar::Calendar;
//!
//! let desk = Calendar::louvre_hotline(); // Mon-Fri 9:00-18:00 Paris
//! // Friday 5 December 2025, 17:00 Paris (16:00 UTC): 4 business hours later
//! // is Monday 8 December, 12:00 Paris.
//! let t = Utc.with_ymd_and_hms(2025, 12, 5, 16, 0, 0).unwrap();
//! let due = desk.add_business(t, TimeDelta::hours(4)).unwrap();
//! assert_eq!(due, Utc.with_ymd_and_hms(2025, 12, 8, 11, 0, 0).unwrap());
//! ```

mod calendar;
mod holidays;
mod spec;

pub use calendar::{Calendar, OpenInterval, OpenState};
pub use holidays::{Holiday, HolidayRegion, easter_sunday, holiday_on, holidays};
pub use spec::{CalendarError, CalendarSpec, ExceptionSpec, WeeklyHours};
