//! Every French public holiday 2024-2030, checked against hand-written tables
//! of the official dates (service-public.fr calendars).

use chrono::NaiveDate;
use guichet_calendar::{HolidayRegion, holidays};

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// (year, Good Friday, Easter Monday, Ascension, Whit Monday), written out by hand.
type MonthDay = (u32, u32);
const MOVABLE: [(i32, MonthDay, MonthDay, MonthDay, MonthDay); 7] = [
    (2024, (3, 29), (4, 1), (5, 9), (5, 20)),
    (2025, (4, 18), (4, 21), (5, 29), (6, 9)),
    (2026, (4, 3), (4, 6), (5, 14), (5, 25)),
    (2027, (3, 26), (3, 29), (5, 6), (5, 17)),
    (2028, (4, 14), (4, 17), (5, 25), (6, 5)),
    (2029, (3, 30), (4, 2), (5, 10), (5, 21)),
    (2030, (4, 19), (4, 22), (5, 30), (6, 10)),
];

fn national(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let (_, _, easter_monday, ascension, whit_monday) =
        *MOVABLE.iter().find(|row| row.0 == year).unwrap();
    vec![
        (d(year, 1, 1), "Jour de l'An"),
        (d(year, easter_monday.0, easter_monday.1), "Lundi de Pâques"),
        (d(year, 5, 1), "Fête du Travail"),
        (d(year, 5, 8), "Victoire 1945"),
        (d(year, ascension.0, ascension.1), "Ascension"),
        (d(year, whit_monday.0, whit_monday.1), "Lundi de Pentecôte"),
        (d(year, 7, 14), "Fête nationale"),
        (d(year, 8, 15), "Assomption"),
        (d(year, 11, 1), "Toussaint"),
        (d(year, 11, 11), "Armistice 1918"),
        (d(year, 12, 25), "Noël"),
    ]
}

fn expected(year: i32, region: HolidayRegion) -> Vec<(NaiveDate, &'static str)> {
    let mut v = national(year);
    let good_friday = MOVABLE.iter().find(|row| row.0 == year).unwrap().1;
    let slavery = "Abolition de l'esclavage";
    match region {
        HolidayRegion::Metropole => {}
        HolidayRegion::AlsaceMoselle => {
            v.push((d(year, good_friday.0, good_friday.1), "Vendredi saint"));
            v.push((d(year, 12, 26), "Saint-Étienne"));
        }
        HolidayRegion::Guadeloupe => v.push((d(year, 5, 27), slavery)),
        HolidayRegion::Martinique => v.push((d(year, 5, 22), slavery)),
        HolidayRegion::Guyane => v.push((d(year, 6, 10), slavery)),
        HolidayRegion::LaReunion => v.push((d(year, 12, 20), slavery)),
        HolidayRegion::Mayotte => v.push((d(year, 4, 27), slavery)),
    }
    v.sort();
    v
}

#[test]
fn every_holiday_2024_2030_in_every_region() {
    for year in 2024..=2030 {
        for region in HolidayRegion::ALL {
            let mut got: Vec<(NaiveDate, &str)> = holidays(year, region)
                .into_iter()
                .map(|h| (h.date, h.name))
                .collect();
            got.sort();
            assert_eq!(got, expected(year, region), "{year} {region:?}");
        }
    }
}

#[test]
fn counts_per_region() {
    assert_eq!(holidays(2026, HolidayRegion::Metropole).len(), 11);
    assert_eq!(holidays(2026, HolidayRegion::AlsaceMoselle).len(), 13);
    assert_eq!(holidays(2026, HolidayRegion::Guyane).len(), 12);
}

#[test]
fn holidays_are_sorted_and_easter_days_fall_on_the_right_weekday() {
    use chrono::{Datelike, Weekday};
    for year in 2024..=2030 {
        let list = holidays(year, HolidayRegion::AlsaceMoselle);
        assert!(list.windows(2).all(|w| w[0].date < w[1].date));
        for h in list {
            let expected = match h.name {
                "Lundi de Pâques" | "Lundi de Pentecôte" => Some(Weekday::Mon),
                "Ascension" => Some(Weekday::Thu),
                "Vendredi saint" => Some(Weekday::Fri),
                _ => None,
            };
            if let Some(wd) = expected {
                assert_eq!(h.date.weekday(), wd, "{} {}", h.name, h.date);
            }
        }
    }
}
