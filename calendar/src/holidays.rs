//! French public holidays, computed rather than listed.
//!
//! The eleven national days (Code du travail, art. L3133-1) are common to every
//! region; Alsace-Moselle adds Good Friday and 26 December (local law kept since
//! 1918); each overseas department adds the day of the abolition of slavery
//! (décret n° 83-1003, and for Mayotte the law of 2011 that made it a department).

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

/// A set of French public holidays. Every region includes the 11 national days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HolidayRegion {
    /// Metropolitan France: the 11 national days only.
    Metropole,
    /// Bas-Rhin, Haut-Rhin and Moselle: adds Good Friday and 26 December.
    AlsaceMoselle,
    /// Guadeloupe: adds 27 May.
    Guadeloupe,
    /// Martinique: adds 22 May.
    Martinique,
    /// Guyane: adds 10 June.
    Guyane,
    /// La Réunion: adds 20 December.
    LaReunion,
    /// Mayotte: adds 27 April.
    Mayotte,
}

impl HolidayRegion {
    /// Every region, in declaration order.
    pub const ALL: [HolidayRegion; 7] = [
        HolidayRegion::Metropole,
        HolidayRegion::AlsaceMoselle,
        HolidayRegion::Guadeloupe,
        HolidayRegion::Martinique,
        HolidayRegion::Guyane,
        HolidayRegion::LaReunion,
        HolidayRegion::Mayotte,
    ];

    /// The region's name as an agent reads it.
    pub fn label(self) -> &'static str {
        match self {
            HolidayRegion::Metropole => "Métropole",
            HolidayRegion::AlsaceMoselle => "Alsace-Moselle",
            HolidayRegion::Guadeloupe => "Guadeloupe",
            HolidayRegion::Martinique => "Martinique",
            HolidayRegion::Guyane => "Guyane",
            HolidayRegion::LaReunion => "La Réunion",
            HolidayRegion::Mayotte => "Mayotte",
        }
    }
}

/// One public holiday: its date and its French name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Holiday {
    /// The civil date (the whole local day is a holiday).
    pub date: NaiveDate,
    /// French name, e.g. "Lundi de Pâques".
    pub name: &'static str,
}

const ABOLITION: &str = "Abolition de l'esclavage";

/// The public holidays of `year` in `region`, sorted by date.
///
/// Easter-dependent days are computed with the Gregorian computus, which is
/// defined for 1583-9999; outside that range only the fixed-date days are
/// returned.
pub fn holidays(year: i32, region: HolidayRegion) -> Vec<Holiday> {
    let mut out = Vec::with_capacity(14);
    let mut fixed = |month: u32, day: u32, name: &'static str| {
        if let Some(date) = NaiveDate::from_ymd_opt(year, month, day) {
            out.push(Holiday { date, name });
        }
    };
    fixed(1, 1, "Jour de l'An");
    fixed(5, 1, "Fête du Travail");
    fixed(5, 8, "Victoire 1945");
    fixed(7, 14, "Fête nationale");
    fixed(8, 15, "Assomption");
    fixed(11, 1, "Toussaint");
    fixed(11, 11, "Armistice 1918");
    fixed(12, 25, "Noël");
    match region {
        HolidayRegion::Metropole => {}
        HolidayRegion::AlsaceMoselle => fixed(12, 26, "Saint-Étienne"),
        HolidayRegion::Guadeloupe => fixed(5, 27, ABOLITION),
        HolidayRegion::Martinique => fixed(5, 22, ABOLITION),
        HolidayRegion::Guyane => fixed(6, 10, ABOLITION),
        HolidayRegion::LaReunion => fixed(12, 20, ABOLITION),
        HolidayRegion::Mayotte => fixed(4, 27, ABOLITION),
    }
    if let Some(easter) = easter_sunday(year) {
        let mut relative = |days: i64, name: &'static str| {
            out.push(Holiday {
                date: easter + Duration::days(days),
                name,
            });
        };
        relative(1, "Lundi de Pâques");
        relative(39, "Ascension");
        relative(50, "Lundi de Pentecôte");
        if region == HolidayRegion::AlsaceMoselle {
            relative(-2, "Vendredi saint");
        }
    }
    out.sort_by_key(|h| h.date);
    out
}

/// The name of the holiday falling on `date` in `region`, if any.
pub fn holiday_on(date: NaiveDate, region: HolidayRegion) -> Option<&'static str> {
    holidays(date.year(), region)
        .into_iter()
        .find(|h| h.date == date)
        .map(|h| h.name)
}

/// Easter Sunday of `year` (Gregorian), or `None` outside 1583-9999.
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let e = computus::gregorian(year).ok()?;
    NaiveDate::from_ymd_opt(e.year, e.month, e.day)
}
