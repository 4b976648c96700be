//! Opening hours, business-time arithmetic, DST and zones, spec validation.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use guichet_calendar::{
    Calendar, CalendarError, CalendarSpec, HolidayRegion, OpenState, WeeklyHours,
};

const PARIS: Tz = chrono_tz::Europe::Paris;

/// A Paris wall-clock instant (unambiguous ones only).
fn paris(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    PARIS
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

fn spec_from_toml(text: &str) -> CalendarSpec {
    toml::from_str(text).unwrap()
}

fn sunday_only(range: &str) -> Calendar {
    let hours = WeeklyHours {
        sunday: vec![range.to_owned()],
        ..Default::default()
    };
    Calendar::new(&CalendarSpec {
        zone: "Europe/Paris".into(),
        hours,
        holidays: vec![],
        exceptions: vec![],
    })
    .unwrap()
}

#[test]
fn louvre_edges_of_the_day() {
    let c = Calendar::louvre_hotline();
    // Monday 8 December 2025, CET (UTC+1).
    assert!(!c.is_open(paris(2025, 12, 8, 8, 59)));
    assert!(c.is_open(paris(2025, 12, 8, 9, 0)));
    assert!(c.is_open(paris(2025, 12, 8, 17, 59)));
    assert!(!c.is_open(paris(2025, 12, 8, 18, 0)));
    assert_eq!(c.state_at(paris(2025, 12, 8, 18, 0)), OpenState::Closed);
    // Saturday closed.
    assert!(!c.is_open(paris(2025, 12, 6, 12, 0)));
}

#[test]
fn culture_edges_and_lunch_break_ranges() {
    let c = Calendar::culture_service_desk();
    assert!(!c.is_open(paris(2026, 6, 2, 7, 59)));
    assert!(c.is_open(paris(2026, 6, 2, 8, 0)));
    assert!(c.is_open(paris(2026, 6, 2, 18, 29)));
    assert!(!c.is_open(paris(2026, 6, 2, 18, 30)));

    let split = Calendar::new(&spec_from_toml(
        r#"
        [hours]
        monday = ["08:00-12:00", "13:00-18:30"]
        "#,
    ))
    .unwrap();
    assert!(split.is_open(paris(2026, 6, 1, 11, 59)));
    assert!(!split.is_open(paris(2026, 6, 1, 12, 30)));
    assert_eq!(
        split.next_open(paris(2026, 6, 1, 12, 30)),
        Some(paris(2026, 6, 1, 13, 0))
    );
    assert_eq!(
        split.next_close(paris(2026, 6, 1, 9, 0)),
        Some(paris(2026, 6, 1, 12, 0))
    );
    assert_eq!(
        split.business_duration(paris(2026, 6, 1, 0, 0), paris(2026, 6, 2, 0, 0)),
        TimeDelta::minutes(9 * 60 + 30)
    );
}

#[test]
fn holidays_close_the_whole_day_with_their_name() {
    let c = Calendar::culture_service_desk();
    // Ascension, Thursday 14 May 2026.
    assert_eq!(
        c.state_at(paris(2026, 5, 14, 10, 0)),
        OpenState::Holiday { name: "Ascension" }
    );
    assert!(!c.is_open(paris(2026, 5, 14, 10, 0)));
    assert_eq!(
        c.next_open(paris(2026, 5, 14, 10, 0)),
        Some(paris(2026, 5, 15, 8, 0))
    );
}

#[test]
fn next_open_and_close_over_a_weekend() {
    let c = Calendar::louvre_hotline();
    let fri_evening = paris(2025, 12, 5, 18, 30);
    assert_eq!(c.next_open(fri_evening), Some(paris(2025, 12, 8, 9, 0)));
    assert_eq!(c.next_close(fri_evening), Some(fri_evening));
    let fri_noon = paris(2025, 12, 5, 12, 0);
    assert_eq!(c.next_open(fri_noon), Some(fri_noon));
    assert_eq!(c.next_close(fri_noon), Some(paris(2025, 12, 5, 18, 0)));
}

#[test]
fn business_time_across_weekend_and_holiday() {
    let louvre = Calendar::louvre_hotline();
    // Friday 17:00 -> Monday 10:00: one hour on Friday, one on Monday.
    let a = paris(2025, 12, 5, 17, 0);
    let b = paris(2025, 12, 8, 10, 0);
    assert_eq!(louvre.business_duration(a, b), TimeDelta::hours(2));
    assert_eq!(louvre.add_business(a, TimeDelta::hours(2)), Some(b));
    // Wednesday 24 December 17:00 -> Friday 26 10:00 (Christmas closed).
    let a = paris(2025, 12, 24, 17, 0);
    let b = paris(2025, 12, 26, 10, 0);
    assert_eq!(louvre.business_duration(a, b), TimeDelta::hours(2));
    // In Alsace-Moselle the 26th is closed too: Monday 29th 10:00.
    let mut spec = CalendarSpec::louvre_hotline();
    spec.holidays = vec![HolidayRegion::AlsaceMoselle];
    let alsace = Calendar::new(&spec).unwrap();
    assert_eq!(
        alsace.add_business(a, TimeDelta::hours(2)),
        Some(paris(2025, 12, 29, 10, 0))
    );
    assert_eq!(
        alsace.state_at(paris(2025, 12, 26, 10, 0)),
        OpenState::Holiday {
            name: "Saint-Étienne"
        }
    );
}

#[test]
fn add_business_ends_exactly_at_closing_time_not_next_morning() {
    let c = Calendar::louvre_hotline();
    let t = paris(2025, 12, 8, 9, 0);
    assert_eq!(
        c.add_business(t, TimeDelta::hours(9)),
        Some(paris(2025, 12, 8, 18, 0))
    );
    assert_eq!(
        c.add_business(t, TimeDelta::hours(9) + TimeDelta::seconds(1)),
        Some(paris(2025, 12, 9, 9, 0) + TimeDelta::seconds(1))
    );
    assert_eq!(c.add_business(t, TimeDelta::zero()), Some(t));
}

#[test]
fn dst_spring_forward_2025_and_2026_loses_the_skipped_hour() {
    // 30 March 2025 and 29 March 2026: 02:00 CET -> 03:00 CEST (01:00 UTC).
    for (y, m, d) in [(2025, 3, 30), (2026, 3, 29)] {
        let day = Calendar::business_duration;
        let c = sunday_only("01:00-04:00");
        let whole = day(&c, utc(y, m, d - 1, 12, 0), utc(y, m, d + 1, 0, 0));
        assert_eq!(whole, TimeDelta::hours(2), "{y}: 01:00-04:00 spans the gap");
        // Opens 01:00 CET = 00:00 UTC, closes 04:00 CEST = 02:00 UTC.
        assert_eq!(
            c.next_open(utc(y, m, d - 1, 12, 0)),
            Some(utc(y, m, d, 0, 0))
        );
        assert_eq!(c.next_close(utc(y, m, d, 0, 30)), Some(utc(y, m, d, 2, 0)));
        // A range entirely inside the gap never opens that day.
        let gap = sunday_only("02:00-03:00");
        assert_eq!(
            gap.business_duration(utc(y, m, d, 0, 0), utc(y, m, d, 23, 0)),
            TimeDelta::zero()
        );
        // A range starting in the gap opens when the gap ends.
        let half = sunday_only("02:30-04:00");
        assert_eq!(half.next_open(utc(y, m, d, 0, 0)), Some(utc(y, m, d, 1, 0)));
        assert_eq!(
            half.business_duration(utc(y, m, d, 0, 0), utc(y, m, d, 23, 0)),
            TimeDelta::hours(1)
        );
    }
}

#[test]
fn dst_fall_back_2025_and_2026_counts_the_repeated_hour_twice() {
    // 26 October 2025 and 25 October 2026: 03:00 CEST -> 02:00 CET (01:00 UTC).
    for (y, m, d) in [(2025, 10, 26), (2026, 10, 25)] {
        let c = sunday_only("01:00-04:00");
        assert_eq!(
            c.business_duration(utc(y, m, d - 1, 12, 0), utc(y, m, d + 1, 0, 0)),
            TimeDelta::hours(4),
            "{y}: 01:00-04:00 spans the repeated hour"
        );
        assert_eq!(
            c.next_open(utc(y, m, d - 1, 12, 0)),
            Some(utc(y, m, d - 1, 23, 0))
        );
        assert_eq!(c.next_close(utc(y, m, d, 0, 0)), Some(utc(y, m, d, 3, 0)));
        // 02:15-02:45 happens twice: 00:15-00:45 UTC (CEST) and 01:15-01:45 UTC (CET).
        let twice = sunday_only("02:15-02:45");
        assert!(twice.is_open(utc(y, m, d, 0, 30)));
        assert!(!twice.is_open(utc(y, m, d, 0, 50)));
        assert!(twice.is_open(utc(y, m, d, 1, 30)));
        assert_eq!(
            twice.business_duration(utc(y, m, d, 0, 0), utc(y, m, d, 23, 0)),
            TimeDelta::hours(1)
        );
        assert_eq!(
            twice.next_close(utc(y, m, d, 0, 20)),
            Some(utc(y, m, d, 0, 45))
        );
    }
}

#[test]
fn a_working_week_across_a_dst_change_keeps_its_length() {
    let c = Calendar::culture_service_desk();
    // Monday 23 March 2026 08:00 CET to Monday 30 March 08:00 CEST: 5 x 10.5 h.
    let a = paris(2026, 3, 23, 8, 0);
    let b = paris(2026, 3, 30, 8, 0);
    assert_eq!(c.business_duration(a, b), TimeDelta::minutes(5 * 630));
    // Friday 27 March 2026 18:00 CET + 1 h -> Monday 30 March 08:30 CEST.
    assert_eq!(
        c.add_business(paris(2026, 3, 27, 18, 0), TimeDelta::hours(1)),
        Some(utc(2026, 3, 30, 6, 30))
    );
    // Same in October 2025: Friday 24 18:00 CEST + 1 h -> Monday 27 08:30 CET.
    assert_eq!(
        c.add_business(paris(2025, 10, 24, 18, 0), TimeDelta::hours(1)),
        Some(utc(2025, 10, 27, 7, 30))
    );
}

#[test]
fn instants_from_any_zone_get_the_same_answer() {
    let c = Calendar::culture_service_desk();
    let cayenne: Tz = chrono_tz::America::Cayenne;
    // 7:59 in Cayenne on 1 July 2025 is 12:59 in Paris: open.
    let t = cayenne.with_ymd_and_hms(2025, 7, 1, 7, 59, 0).unwrap();
    assert!(c.is_open(t.with_timezone(&Utc)));
    // 13:30 in Cayenne is 18:30 in Paris: closed.
    let t = cayenne.with_ymd_and_hms(2025, 7, 1, 13, 30, 0).unwrap();
    assert!(!c.is_open(t.with_timezone(&Utc)));
    // In winter 13:30 Cayenne is 17:30 Paris: open.
    let t = cayenne.with_ymd_and_hms(2026, 1, 13, 13, 30, 0).unwrap();
    assert!(c.is_open(t.with_timezone(&Utc)));
}

/// REQUIREMENTS §3.1: the DAC may call the Paris desk (8:00-18:30 Paris) only
/// during their own working day. Summer windows are the tender's table; in
/// winter Paris moves one hour and most DOMs do not, so the windows shift.
#[test]
fn dac_windows_summer_table_and_winter_shift() {
    let c = Calendar::culture_service_desk();
    let t = |h: u32, m: u32| NaiveTime::from_hms_opt(h, m, 0).unwrap();
    // (zone, DAC working day, summer local window, winter local window)
    type Row = (
        Tz,
        (NaiveTime, NaiveTime),
        (NaiveTime, NaiveTime),
        (NaiveTime, NaiveTime),
    );
    let rows: [Row; 7] = [
        (
            chrono_tz::America::Cayenne,
            (t(8, 0), t(23, 59)),
            (t(8, 0), t(13, 30)),
            (t(8, 0), t(14, 30)),
        ),
        (
            chrono_tz::America::Martinique,
            (t(8, 0), t(23, 59)),
            (t(8, 0), t(12, 30)),
            (t(8, 0), t(13, 30)),
        ),
        (
            chrono_tz::America::Guadeloupe,
            (t(8, 0), t(23, 59)),
            (t(8, 0), t(12, 30)),
            (t(8, 0), t(13, 30)),
        ),
        (
            chrono_tz::Indian::Reunion,
            (t(0, 0), t(23, 59)),
            (t(10, 0), t(20, 30)),
            (t(11, 0), t(21, 30)),
        ),
        (
            chrono_tz::Indian::Mayotte,
            (t(0, 0), t(23, 59)),
            (t(9, 0), t(19, 30)),
            (t(10, 0), t(20, 30)),
        ),
        (
            chrono_tz::America::Miquelon,
            (t(8, 0), t(23, 59)),
            (t(8, 0), t(14, 30)),
            (t(8, 0), t(14, 30)),
        ),
        (
            chrono_tz::Pacific::Noumea,
            (t(0, 0), t(20, 0)),
            (t(17, 0), t(20, 0)),
            (t(18, 0), t(20, 0)),
        ),
    ];
    let summer = NaiveDate::from_ymd_opt(2025, 7, 1).unwrap();
    let winter = NaiveDate::from_ymd_opt(2026, 1, 13).unwrap();
    for (zone, (from, to), s, w) in rows {
        for (date, want) in [(summer, s), (winter, w)] {
            let got = c.local_windows_within(date, zone, from, to);
            assert_eq!(got.len(), 1, "{zone} {date}");
            assert_eq!((got[0].0.time(), got[0].1.time()), want, "{zone} {date}");
        }
    }
    // Guyane in Paris time: 13:00-18:30 in summer, 12:00-18:30 in winter.
    let g = c.local_windows_within(summer, chrono_tz::America::Cayenne, t(8, 0), t(23, 59));
    let start = chrono_tz::America::Cayenne
        .from_local_datetime(&g[0].0)
        .single()
        .unwrap();
    assert_eq!(start.with_timezone(&PARIS).time(), t(13, 0));
    let g = c.local_windows_within(winter, chrono_tz::America::Cayenne, t(8, 0), t(23, 59));
    let start = chrono_tz::America::Cayenne
        .from_local_datetime(&g[0].0)
        .single()
        .unwrap();
    assert_eq!(start.with_timezone(&PARIS).time(), t(12, 0));
}

#[test]
fn exceptions_override_hours_and_holidays() {
    let c = Calendar::new(&spec_from_toml(
        r#"
        zone = "Europe/Paris"
        holidays = ["metropole"]
        [hours]
        monday = ["09:00-18:00"]
        tuesday = ["09:00-18:00"]
        wednesday = ["09:00-18:00"]
        thursday = ["09:00-18:00"]
        friday = ["09:00-18:00"]
        [[exceptions]]
        date = "2026-12-24"
        hours = ["09:00-12:00"]
        label = "Veille de Noël"
        [[exceptions]]
        date = "2026-08-10"
        until = "2026-08-14"
        label = "Fermeture estivale"
        [[exceptions]]
        date = "2026-05-14"
        hours = ["10:00-16:00"]
        label = "Permanence de l'Ascension"
        [[exceptions]]
        date = "2026-06-06"
        hours = ["09:00-13:00"]
        label = "Samedi de déménagement"
        "#,
    ))
    .unwrap();
    assert!(c.is_open(paris(2026, 12, 24, 11, 0)));
    assert_eq!(
        c.state_at(paris(2026, 12, 24, 14, 0)),
        OpenState::ExceptionalClosure {
            label: "Veille de Noël".into()
        }
    );
    for day in 10..=14 {
        assert_eq!(
            c.state_at(paris(2026, 8, day, 10, 0)),
            OpenState::ExceptionalClosure {
                label: "Fermeture estivale".into()
            }
        );
    }
    assert!(c.is_open(paris(2026, 8, 17, 10, 0)));
    assert!(c.is_open(paris(2026, 5, 14, 10, 0)));
    assert!(!c.is_open(paris(2026, 5, 14, 9, 30)));
    assert!(c.is_open(paris(2026, 6, 6, 9, 30)));
    assert_eq!(
        c.next_open(paris(2026, 8, 7, 18, 0)),
        Some(paris(2026, 8, 17, 9, 0))
    );
}

#[test]
fn validation_errors_name_the_field() {
    let err = |text: &str| Calendar::new(&spec_from_toml(text)).unwrap_err();
    let e = err(r#"
        [hours]
        monday = ["08:00-12:00", "11:00-13:00"]
    "#);
    assert_eq!(
        e.to_string(),
        "hours.monday[1]: ranges overlap 08:00-12:00 and 11:00-13:00"
    );
    let e = err(r#"
        [hours]
        tuesday = ["13:00-18:00", "08:00-13:30"]
    "#);
    assert_eq!(
        e.to_string(),
        "hours.tuesday[1]: ranges overlap 08:00-13:30 and 13:00-18:00"
    );
    let e = err(r#"
        [hours]
        friday = ["8h-12h"]
    "#);
    assert!(
        matches!(&e, CalendarError::BadRange { field, .. } if field == "hours.friday[0]"),
        "{e}"
    );
    let e = err(r#"
        [hours]
        friday = ["18:00-08:00"]
    "#);
    assert!(
        e.to_string().starts_with("hours.friday[0]: bad time range"),
        "{e}"
    );
    let e = err(r#"
        [hours]
        friday = ["08:00-24:30"]
    "#);
    assert!(e.to_string().starts_with("hours.friday[0]:"), "{e}");
    let e = err(r#"
        zone = "Europe/Pariss"
        [hours]
    "#);
    assert_eq!(
        e,
        CalendarError::UnknownZone {
            field: "zone".into(),
            value: "Europe/Pariss".into()
        }
    );
    let e = err(r#"
        [hours]
        [[exceptions]]
        date = "2026-08-10"
        until = "2026-08-01"
    "#);
    assert!(e.to_string().starts_with("exceptions[0].until:"), "{e}");
    let e = err(r#"
        [hours]
        [[exceptions]]
        date = "2026-08-10"
        until = "2026-08-14"
        [[exceptions]]
        date = "2026-08-12"
    "#);
    assert!(e.to_string().starts_with("exceptions[1].date:"), "{e}");
    let e = err(r#"
        [hours]
        [[exceptions]]
        date = "2026-08-10"
        hours = ["09:00-25:00"]
    "#);
    assert!(e.to_string().starts_with("exceptions[0].hours[0]:"), "{e}");
    // Unknown fields are refused by serde.
    let bad: Result<CalendarSpec, _> = toml::from_str("[hours]\nmondey = [\"08:00-12:00\"]\n");
    assert!(bad.is_err());
    let bad: Result<CalendarSpec, _> = toml::from_str("holidays = [\"bretagne\"]\n[hours]\n");
    assert!(bad.is_err());
}

#[test]
fn defaults_from_the_tenders() {
    let spec = spec_from_toml("[hours]\nmonday = [\"09:00-18:00\"]\n");
    assert_eq!(spec.zone, "Europe/Paris");
    assert_eq!(spec.holidays, vec![HolidayRegion::Metropole]);
    let louvre = Calendar::louvre_hotline();
    let culture = Calendar::culture_service_desk();
    let week = (paris(2026, 6, 1, 0, 0), paris(2026, 6, 8, 0, 0));
    assert_eq!(
        louvre.business_duration(week.0, week.1),
        TimeDelta::hours(45)
    );
    assert_eq!(
        culture.business_duration(week.0, week.1),
        TimeDelta::minutes(5 * 630)
    );
    // Whit Monday 25 May 2026 is closed for both.
    let whit = (paris(2026, 5, 25, 0, 0), paris(2026, 5, 26, 0, 0));
    assert_eq!(louvre.business_duration(whit.0, whit.1), TimeDelta::zero());
    assert_eq!(culture.business_duration(whit.0, whit.1), TimeDelta::zero());
}

#[test]
fn always_open_is_elapsed_time() {
    let c = Calendar::always_open();
    let a = paris(2026, 3, 28, 12, 0);
    let b = paris(2026, 4, 6, 12, 0); // across DST, Easter Monday, weekends
    assert_eq!(c.business_duration(a, b), b - a);
    assert_eq!(c.add_business(a, b - a), Some(b));
    assert!(c.is_open(a));
    assert_eq!(c.next_close(a), None);
}

#[test]
fn never_open_calendar_answers_none() {
    let c = Calendar::new(&spec_from_toml("[hours]\n")).unwrap();
    assert_eq!(c.next_open(paris(2026, 1, 1, 0, 0)), None);
    assert_eq!(
        c.add_business(paris(2026, 1, 1, 0, 0), TimeDelta::hours(1)),
        None
    );
    assert_eq!(
        c.next_close(paris(2026, 1, 1, 0, 0)),
        Some(paris(2026, 1, 1, 0, 0))
    );
}

#[test]
fn open_intervals_and_business_days() {
    let c = Calendar::louvre_hotline();
    // Thursday 14 May 2026 (Ascension) to Tuesday 19 May 12:00.
    let got = c.open_intervals(paris(2026, 5, 14, 0, 0), paris(2026, 5, 19, 12, 0));
    assert_eq!(
        got,
        vec![
            (paris(2026, 5, 15, 9, 0), paris(2026, 5, 15, 18, 0)),
            (paris(2026, 5, 18, 9, 0), paris(2026, 5, 18, 18, 0)),
            (paris(2026, 5, 19, 9, 0), paris(2026, 5, 19, 12, 0)),
        ]
    );
    let d = |m: u32, day: u32| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
    assert!(!c.is_business_day(d(5, 14)));
    assert!(c.is_business_day(d(5, 15)));
    assert!(!c.is_business_day(d(5, 16)));
    assert_eq!(c.holiday_on(d(5, 14)), Some("Ascension"));
    assert_eq!(c.holiday_on(d(5, 15)), None);
}
