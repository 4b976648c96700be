//! What the administration pages changed over the configuration, as the running server
//! applies it: calendars (weekly hours and exceptional days from the store on top of the
//! configured calendar) and SLA grids (each saved version a policy of its own, so a running
//! clock keeps the grid it started under). The same functions build the start-up state and
//! the live updates, so a restart gives exactly what the running server had.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use guichet_calendar::{Calendar, CalendarSpec, ExceptionSpec, WeeklyHours};
use guichet_tickets::Store;
use guichet_tickets::settings::{CALENDAR_HOURS, SLA_POLICY};
use guichet_tickets::sla::{SlaEngine, SlaPolicySpec};

use crate::config::Config;
use crate::sla_runner::LivePolicies;

/// The engine name of a saved version of an SLA grid: `culture@12` for row 12 of the
/// policy `culture`. The configuration's grid keeps the bare name.
pub fn version_name(policy: &str, row: i64) -> String {
    format!("{policy}@{row}")
}

/// The policy a (possibly versioned) engine name belongs to: `culture` for `culture@12`.
pub fn policy_of(engine_name: &str) -> &str {
    engine_name
        .rsplit_once('@')
        .map_or(engine_name, |(name, _)| name)
}

/// The calendar `name` in force: the configuration's, with the weekly hours saved from the
/// administration page when there are some, plus every stored exceptional day.
pub async fn calendar_spec(
    store: &Store,
    config: &Config,
    name: &str,
) -> anyhow::Result<Option<CalendarSpec>> {
    let Some(mut spec) = config.calendars.get(name).cloned() else {
        return Ok(None);
    };
    if let Some(hours) = stored_hours(store, name).await? {
        spec.hours = hours;
    }
    for e in store.calendar_exceptions(Some(name)).await? {
        spec.exceptions.push(ExceptionSpec {
            date: e.exception.date,
            until: e.exception.until,
            hours: e.exception.hours,
            label: e.exception.label,
        });
    }
    Ok(Some(spec))
}

/// The weekly hours saved for calendar `name`, if any.
pub async fn stored_hours(store: &Store, name: &str) -> anyhow::Result<Option<WeeklyHours>> {
    let saved = store.current_settings(CALENDAR_HOURS).await?;
    saved
        .into_iter()
        .find(|s| s.name == name)
        .map(|s| {
            serde_json::from_str(&s.value)
                .with_context(|| format!("stored weekly hours of calendar {name} unreadable"))
        })
        .transpose()
}

/// Every configured calendar in force (see [`calendar_spec`]). A stored change the calendar
/// no longer accepts (the configuration changed under it) is left out with a warning.
pub async fn calendars(
    store: &Store,
    config: &Config,
) -> anyhow::Result<BTreeMap<String, Calendar>> {
    let mut calendars = BTreeMap::new();
    for (name, configured) in &config.calendars {
        let spec = calendar_spec(store, config, name).await?;
        let calendar = match spec.as_ref().map(Calendar::new) {
            Some(Ok(calendar)) => calendar,
            Some(Err(e)) => {
                tracing::warn!(calendar = %name, error = %e, "stored calendar changes not applied");
                Calendar::new(configured)?
            }
            None => Calendar::new(configured)?,
        };
        calendars.insert(name.clone(), calendar);
    }
    Ok(calendars)
}

/// The SLA grid `name` in force: its newest saved version, else the configuration's.
/// `None`: no such policy.
pub async fn sla_policy(
    store: &Store,
    config: &Config,
    name: &str,
) -> anyhow::Result<Option<SlaPolicySpec>> {
    let saved = store.current_settings(SLA_POLICY).await?;
    if let Some(s) = saved.into_iter().find(|s| s.name == name) {
        return Ok(Some(serde_json::from_str(&s.value).with_context(|| {
            format!("stored SLA policy {name} unreadable")
        })?));
    }
    Ok(config.sla_policies.get(name).cloned())
}

/// Every SLA grid in force, by name (configured ones, edited or not).
pub async fn sla_policies(
    store: &Store,
    config: &Config,
) -> anyhow::Result<BTreeMap<String, SlaPolicySpec>> {
    let mut policies = BTreeMap::new();
    for name in config.sla_policies.keys() {
        if let Some(spec) = sla_policy(store, config, name).await? {
            policies.insert(name.clone(), spec);
        }
    }
    Ok(policies)
}

/// The SLA engine of a running server: the configured grids and calendars, the calendars'
/// stored changes, and every saved version of a grid under its [`version_name`]; with, per
/// policy, the name new tickets get (its newest version).
pub async fn sla_engine(
    store: &Store,
    config: &Config,
) -> anyhow::Result<(SlaEngine, HashMap<String, String>)> {
    let mut engine =
        SlaEngine::from_policies(&config.sla_policies, calendars(store, config).await?)?;
    let mut newest = HashMap::new();
    for saved in store.setting_versions(SLA_POLICY).await? {
        let name = version_name(&saved.name, saved.id);
        let added = serde_json::from_str::<SlaPolicySpec>(&saved.value)
            .map_err(|e| e.to_string())
            .and_then(|spec| engine.add_policy(&name, &spec).map_err(|e| e.to_string()));
        match added {
            Ok(()) => {
                newest.insert(saved.name, name);
            }
            Err(e) => tracing::warn!(policy = %name, error = %e, "stored SLA policy not loaded"),
        }
    }
    Ok((engine, newest))
}

/// The live policies of a configuration with the newest saved versions applied.
pub fn with_versions(mut policies: LivePolicies, newest: HashMap<String, String>) -> LivePolicies {
    policies.versions = newest;
    policies
}
