//! What the administration pages changed over the configuration, as the running server
//! applies it: calendars (weekly hours and exceptional days from the store on top of the
//! configured calendar) and SLA grids (each saved version a policy of its own, so a running
//! clock keeps the grid it started under). The same functions build the start-up state and
//! the live updates, so a restart gives exactly what the running server had.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use chrono::{DateTime, Utc};
use guichet_calendar::{Calendar, CalendarSpec, ExceptionSpec, WeeklyHours};
use guichet_tickets::Store;
use guichet_tickets::settings::{CALENDAR_HOURS, SLA_POLICY};
use guichet_tickets::sla::{CalendarHistory, SlaEngine, SlaPolicySpec};

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

/// The versions of calendar `name` since the configuration's, each from the instant an
/// administrator changed it (weekly hours saved, exceptional day added or removed), for the
/// SLA clocks: business time is counted with the calendar in force at each instant, so a
/// change never rewrites time already counted and a restart counts the same. A stored
/// state the calendar does not accept (the configuration changed under it) is skipped with a
/// warning; the newest version is what [`calendar_spec`] gives.
pub async fn calendar_history(
    store: &Store,
    config: &Config,
    name: &str,
) -> anyhow::Result<Option<CalendarHistory>> {
    let Some(configured) = config.calendars.get(name) else {
        return Ok(None);
    };
    let mut hours: Vec<(DateTime<Utc>, WeeklyHours)> = Vec::new();
    for saved in store.setting_versions(CALENDAR_HOURS).await? {
        if saved.name == name {
            let value = serde_json::from_str(&saved.value)
                .with_context(|| format!("stored weekly hours of calendar {name} unreadable"))?;
            hours.push((saved.created_at, value));
        }
    }
    let mut exceptions = store.calendar_exception_history(name).await?;
    // The order calendar_spec lists them in, so the newest version is the same calendar.
    exceptions.sort_by_key(|(e, _)| (e.exception.date, e.id));
    let mut changes: Vec<DateTime<Utc>> = hours
        .iter()
        .map(|(at, _)| *at)
        .chain(exceptions.iter().map(|(e, _)| e.created_at))
        .chain(exceptions.iter().filter_map(|(_, removed)| *removed))
        .collect();
    changes.sort_unstable();
    changes.dedup();
    let mut history = CalendarHistory::new(Calendar::new(configured)?);
    for at in changes {
        let mut spec = configured.clone();
        if let Some((_, h)) = hours.iter().rev().find(|(saved, _)| *saved <= at) {
            spec.hours = h.clone();
        }
        let in_force = exceptions
            .iter()
            .filter(|(e, removed)| e.created_at <= at && removed.is_none_or(|r| r > at));
        for (e, _) in in_force {
            spec.exceptions.push(ExceptionSpec {
                date: e.exception.date,
                until: e.exception.until,
                hours: e.exception.hours.clone(),
                label: e.exception.label.clone(),
            });
        }
        match Calendar::new(&spec) {
            Ok(calendar) => history.change(at, calendar),
            Err(e) => {
                tracing::warn!(calendar = %name, %at, error = %e, "stored calendar change not applied")
            }
        }
    }
    Ok(Some(history))
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
/// stored changes (each from the instant it was made, [`calendar_history`]), and every saved version of a grid under its [`version_name`]; with, per
/// policy, the name new tickets get (its newest version).
pub async fn sla_engine(
    store: &Store,
    config: &Config,
) -> anyhow::Result<(SlaEngine, HashMap<String, String>)> {
    let mut histories = BTreeMap::new();
    for name in config.calendars.keys() {
        if let Some(history) = calendar_history(store, config, name).await? {
            histories.insert(name.clone(), history);
        }
    }
    let current = histories
        .iter()
        .map(|(name, history)| (name.clone(), history.current().clone()))
        .collect();
    let mut engine = SlaEngine::from_policies(&config.sla_policies, current)?;
    for (name, history) in histories {
        engine.set_calendar_history(&name, history);
    }
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

/// Applies the agents' queues and levels saved from the supervisors' page over the
/// configuration's `[[agents]]` (at start, once the switchboard runs): each saved agent gets
/// exactly the saved membership. An agent or queue no longer configured is skipped with a
/// warning.
pub async fn apply_stored_memberships(
    store: &Store,
    switchboard: &crate::switchboard::SwitchboardHandle,
) -> anyhow::Result<()> {
    let saved = store
        .current_settings(guichet_tickets::settings::AGENT_QUEUES)
        .await?;
    if saved.is_empty() {
        return Ok(());
    }
    let snapshot = switchboard.snapshot().await?;
    for setting in saved {
        let wanted: BTreeMap<String, u8> = match serde_json::from_str(&setting.value) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(agent = %setting.name, error = %e, "saved queues unreadable");
                continue;
            }
        };
        let Some(agent) = snapshot
            .agents
            .iter()
            .find(|a| a.agent.as_str() == setting.name)
        else {
            tracing::warn!(agent = %setting.name, "saved queues of an agent no longer configured");
            continue;
        };
        let current: BTreeMap<&str, u8> =
            agent.queues.iter().map(|(q, l)| (q.as_str(), *l)).collect();
        let removed = current
            .keys()
            .filter(|q| !wanted.contains_key(**q))
            .map(|q| ((*q).to_owned(), None));
        let changed = wanted
            .iter()
            .filter(|(q, l)| current.get(q.as_str()) != Some(*l))
            .map(|(q, l)| (q.clone(), Some(*l)));
        let changes: Vec<(String, Option<u8>)> = changed.chain(removed).collect();
        for (queue, level) in changes {
            let change = crate::switchboard::AgentChange::SetQueue {
                queue: queue.clone(),
                level,
            };
            if let Err(e) = switchboard.agent(&setting.name, change).await {
                tracing::warn!(agent = %setting.name, %queue, error = %e, "saved queue not applied");
            }
        }
    }
    Ok(())
}

fn in_force<T>(
    name: &str,
    value: T,
    saved: Option<&guichet_tickets::settings::StoredSetting>,
    lines: impl Iterator<Item = String>,
) -> guichet_web::admin_settings::InForce<T> {
    guichet_web::admin_settings::InForce {
        name: name.to_owned(),
        value,
        saved_by: saved.map(|s| s.author.clone()),
        saved_at: saved.map(|s| s.created_at),
        lines: lines.collect(),
    }
}

/// The configured lines `uses` picks, as `8585 (Hotline informatique du Louvre)`.
fn lines_using<'a>(
    config: &'a Config,
    uses: impl Fn(&crate::config::LineSection) -> bool + 'a,
) -> impl Iterator<Item = String> + 'a {
    config
        .lines
        .iter()
        .filter(move |l| uses(l))
        .map(|l| format!("{} ({})", l.number, l.name))
}

/// Every configured SLA grid in force, with who saved it.
pub async fn sla_policies_in_force(
    store: &Store,
    config: &Config,
) -> anyhow::Result<Vec<guichet_web::admin_settings::InForce<SlaPolicySpec>>> {
    let saved = store.current_settings(SLA_POLICY).await?;
    let mut out = Vec::new();
    for (name, configured) in &config.sla_policies {
        let stored = saved.iter().find(|s| &s.name == name);
        let value = match stored {
            Some(s) => serde_json::from_str(&s.value)
                .with_context(|| format!("stored SLA policy {name} unreadable"))?,
            None => configured.clone(),
        };
        let lines = lines_using(config, |l| l.sla_policy.as_ref() == Some(name));
        out.push(in_force(name, value, stored, lines));
    }
    Ok(out)
}

/// Every configured calendar's weekly hours in force, with who saved them.
pub async fn calendar_hours_in_force(
    store: &Store,
    config: &Config,
) -> anyhow::Result<Vec<guichet_web::admin_settings::InForce<WeeklyHours>>> {
    let saved = store.current_settings(CALENDAR_HOURS).await?;
    let mut out = Vec::new();
    for (name, configured) in &config.calendars {
        let stored = saved.iter().find(|s| &s.name == name);
        let value = match stored {
            Some(s) => serde_json::from_str(&s.value)
                .with_context(|| format!("stored weekly hours of calendar {name} unreadable"))?,
            None => configured.hours.clone(),
        };
        let lines = lines_using(config, |l| &l.calendar == name);
        out.push(in_force(name, value, stored, lines));
    }
    Ok(out)
}

/// Checks the grid `spec` for the configured policy `name` (French error naming the
/// field), stores it as a new version (journaled, before and after) and returns the
/// change for the running SLA runner.
pub async fn save_sla_policy(
    store: &Store,
    config: &Config,
    name: &str,
    spec: SlaPolicySpec,
    actor: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<crate::sla_runner::SlaChange, String> {
    let internal = |e: &dyn std::fmt::Display| {
        tracing::warn!(policy = name, error = %e, "SLA policy not saved");
        "la base de données a refusé la modification".to_owned()
    };
    if !config.sla_policies.contains_key(name) {
        return Err(format!("politique SLA inconnue : « {name} »"));
    }
    if !config.calendars.contains_key(&spec.calendar) {
        return Err(format!("Calendrier : « {} » n'existe pas", spec.calendar));
    }
    guichet_tickets::sla::SlaPolicy::new(name, &spec)
        .map_err(|e| format!("politique refusée, champ « {} » : {}", e.field, e.reason))?;
    let before = sla_policy(store, config, name)
        .await
        .map_err(|e| internal(&e))?
        .map(|s| serde_json::to_string(&s))
        .transpose()
        .map_err(|e| internal(&e))?;
    let value = serde_json::to_string(&spec).map_err(|e| internal(&e))?;
    let row = store
        .save_setting(SLA_POLICY, name, before.as_deref(), &value, actor, now)
        .await
        .map_err(|e| internal(&e))?;
    Ok(crate::sla_runner::SlaChange::Policy {
        name: name.to_owned(),
        version: version_name(name, row),
        spec,
    })
}

/// Checks the weekly hours `hours` of the configured calendar `name` with its exceptional
/// days (French error), stores them (journaled, before and after) and returns the calendar
/// now in force.
pub async fn save_calendar_hours(
    store: &Store,
    config: &Config,
    name: &str,
    hours: WeeklyHours,
    actor: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<CalendarSpec, String> {
    let internal = |e: &dyn std::fmt::Display| {
        tracing::warn!(calendar = name, error = %e, "weekly hours not saved");
        "la base de données a refusé la modification".to_owned()
    };
    let mut spec = calendar_spec(store, config, name)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| format!("calendrier inconnu : « {name} »"))?;
    let before = serde_json::to_string(&spec.hours).map_err(|e| internal(&e))?;
    spec.hours = hours;
    Calendar::new(&spec).map_err(|e| format!("horaires refusés : {e}"))?;
    let value = serde_json::to_string(&spec.hours).map_err(|e| internal(&e))?;
    store
        .save_setting(CALENDAR_HOURS, name, Some(&before), &value, actor, now)
        .await
        .map_err(|e| internal(&e))?;
    Ok(spec)
}

/// How often a node looks for settings changed by another node on the same database.
pub const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Applies on this node the calendars, SLA grids and agents' queues that another node on the
/// same database saved (this node's own changes are applied at once by the web backend; seeing
/// them again here changes nothing).
pub struct SettingsFollower {
    store: Store,
    config: std::sync::Arc<Config>,
    switchboard: crate::switchboard::SwitchboardHandle,
    sla: Option<crate::sla_runner::SlaRunnerHandle>,
    /// Newest settings row applied.
    last_setting: i64,
    /// Each calendar as last applied.
    calendars: BTreeMap<String, CalendarSpec>,
}

impl SettingsFollower {
    /// Starts from what the node applied at start.
    pub async fn new(
        store: Store,
        config: std::sync::Arc<Config>,
        switchboard: crate::switchboard::SwitchboardHandle,
        sla: Option<crate::sla_runner::SlaRunnerHandle>,
    ) -> anyhow::Result<SettingsFollower> {
        let mut calendars = BTreeMap::new();
        for name in config.calendars.keys() {
            if let Some(spec) = calendar_spec(&store, &config, name).await? {
                calendars.insert(name.clone(), spec);
            }
        }
        Ok(SettingsFollower {
            last_setting: store.latest_setting_id().await?,
            store,
            config,
            switchboard,
            sla,
            calendars,
        })
    }

    /// One look: calendars whose hours or exceptional days changed, new grid versions, and
    /// agents' queues saved since the last look.
    pub async fn follow(&mut self) -> anyhow::Result<()> {
        for name in self.config.calendars.keys() {
            let Some(spec) = calendar_spec(&self.store, &self.config, name).await? else {
                continue;
            };
            if self.calendars.get(name) == Some(&spec) {
                continue;
            }
            match Calendar::new(&spec) {
                Ok(_) => {
                    tracing::info!(calendar = %name, "calendar changed in the database applied");
                    if let Some(sla) = &self.sla
                        && let Some(history) =
                            calendar_history(&self.store, &self.config, name).await?
                    {
                        sla.send(crate::sla_runner::SlaChange::Calendar {
                            name: name.clone(),
                            history,
                        });
                    }
                    self.switchboard.set_calendar(name, spec.clone()).await?;
                }
                Err(e) => {
                    tracing::warn!(calendar = %name, error = %e, "stored calendar not applied")
                }
            }
            self.calendars.insert(name.clone(), spec);
        }
        let latest = self.store.latest_setting_id().await?;
        if latest <= self.last_setting {
            return Ok(());
        }
        if let Some(sla) = &self.sla {
            for saved in self.store.setting_versions(SLA_POLICY).await? {
                if saved.id <= self.last_setting {
                    continue;
                }
                match serde_json::from_str::<SlaPolicySpec>(&saved.value) {
                    Ok(spec) => {
                        sla.send(crate::sla_runner::SlaChange::Policy {
                            version: version_name(&saved.name, saved.id),
                            name: saved.name,
                            spec,
                        });
                    }
                    Err(e) => {
                        tracing::warn!(policy = %saved.name, error = %e, "stored SLA policy unreadable")
                    }
                }
            }
        }
        apply_stored_memberships(&self.store, &self.switchboard).await?;
        self.last_setting = latest;
        Ok(())
    }
}

/// Follows other nodes' changes every [`FOLLOW_EVERY`] until the process stops.
pub async fn follow(mut follower: SettingsFollower) {
    loop {
        tokio::time::sleep(FOLLOW_EVERY).await;
        if let Err(e) = follower.follow().await {
            tracing::warn!(error = %e, "settings saved by other nodes not applied; retrying");
        }
    }
}
