//! Property: adding d of business time then measuring it gives back d, and the
//! result is the earliest such instant.

use chrono::{DateTime, TimeDelta, Utc};
use guichet_calendar::{Calendar, CalendarSpec};
use proptest::prelude::*;

fn calendars() -> Vec<Calendar> {
    let split: CalendarSpec = toml::from_str(
        r#"
        holidays = ["alsace_moselle"]
        [hours]
        monday = ["08:00-12:00", "13:00-18:30"]
        tuesday = ["00:00-02:30", "22:00-24:00"]
        saturday = ["01:30-03:30"]
        sunday = ["02:00-03:00", "20:00-24:00"]
        "#,
    )
    .unwrap();
    let cayenne: CalendarSpec = toml::from_str(
        "zone = \"America/Cayenne\"\nholidays = [\"guyane\"]\n[hours]\nwednesday = [\"07:45-16:15\"]\n",
    )
    .unwrap();
    vec![
        Calendar::louvre_hotline(),
        Calendar::culture_service_desk(),
        Calendar::new(&split).unwrap(),
        Calendar::new(&cayenne).unwrap(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn duration_of_added_business_time_round_trips(
        which in 0usize..4,
        // 2024-01-01 .. 2031-01-01
        start in 1_704_067_200i64..1_924_992_000i64,
        seconds in 1i64..(45 * 86_400),
    ) {
        let c = &calendars()[which];
        let t = DateTime::<Utc>::from_timestamp(start, 0).unwrap();
        let d = TimeDelta::seconds(seconds);
        let x = c.add_business(t, d).unwrap();
        prop_assert!(x > t);
        prop_assert_eq!(c.business_duration(t, x), d);
        prop_assert!(c.business_duration(t, x - TimeDelta::seconds(1)) < d);
        // The result is an open instant or the end of an opening.
        prop_assert!(c.is_open(x - TimeDelta::seconds(1)));
    }
}
