//! `guichet simulate`: the staffing simulator of the `acd` room, with the working days of
//! the `calendar` room (French public holidays are not working days).

use anyhow::Context as _;
use chrono::{Datelike, NaiveDate, Weekday};
use guichet_acd::sim::{SimParams, format_reports, simulate_csv};
use guichet_calendar::{HolidayRegion, holiday_on};

/// The 15 months of calls presented and served published in the Ministry of Culture tender
/// (CULTURE 2765-2781), as `data/service-desk-volumes.csv`.
pub const PUBLISHED_VOLUMES: &str = include_str!("../data/service-desk-volumes.csv");

/// A working day of a metropolitan service desk: Monday to Friday, not a public holiday.
pub fn is_working_day(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
        && holiday_on(date, HolidayRegion::Metropole).is_none()
}

/// Runs the simulation and returns the French table it prints.
pub fn run(csv: &str, agents: u32, patience_secs: u32, seed: u64) -> anyhow::Result<String> {
    anyhow::ensure!(agents > 0, "--agents must be at least 1");
    let params = SimParams {
        agents,
        patience_mean: chrono::TimeDelta::seconds(i64::from(patience_secs)),
        seed,
        ..SimParams::default()
    };
    let reports = simulate_csv(csv, &params, is_working_day).context("cannot simulate")?;
    Ok(format_reports(&reports))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holidays_and_weekends_are_not_working_days() {
        let ascension_2024 = NaiveDate::from_ymd_opt(2024, 5, 9).unwrap_or_default();
        let saturday = NaiveDate::from_ymd_opt(2024, 5, 11).unwrap_or_default();
        let friday = NaiveDate::from_ymd_opt(2024, 5, 10).unwrap_or_default();
        assert!(!is_working_day(ascension_2024));
        assert!(!is_working_day(saturday));
        assert!(is_working_day(friday));
    }

    #[test]
    fn the_published_months_replay_and_july_2024_is_compared_to_72_3() {
        let table = run(PUBLISHED_VOLUMES, 3, 120, 2024).unwrap_or_default();
        let july = table
            .lines()
            .find(|l| l.starts_with("2024-07"))
            .unwrap_or_else(|| panic!("no July 2024 row in\n{table}"));
        assert!(july.contains("72,3"), "{july}");
        assert_eq!(table.lines().filter(|l| l.starts_with("202")).count(), 15);
    }
}
