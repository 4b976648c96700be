//! The live SLA runner: runs the `tickets` room's sans-IO SLA engine for every open ticket.
//!
//! It follows the tickets' audit rows by increasing id (every change leaves one, whoever made
//! it: the switchboard opening a ticket, the agent desk qualifying, assigning or resolving it,
//! the API), feeds them to the engine at their own instants, sleeps until the engine's next
//! timer, and writes each event with the ticket's clock in one transaction. The saved clock
//! carries the id of the last audit row applied, so a restart (even after `kill -9`) applies
//! every later row exactly once and fires only what was not yet written.

use chrono::{DateTime, Utc};
use guichet_tickets::Store;
use guichet_tickets::sla::{
    ENGINE_ACTOR, Nature as SlaNature, PauseReason, SlaEngine, SlaEvent, SlaInput, SlaStatus,
    SlaVerdict, TargetKind, TargetState, TicketFacts,
};
use guichet_tickets::sla_changes::{DUE_DATE_FIELD, ESCALATION_FIELD, EXCLUSION_FIELD};
use guichet_tickets::sla_live::{AuditRow, SavedSla, SlaWrite};
use guichet_tickets::ticket::{AuditEntry, Nature, Priority, Ticket, TicketStatus, WaitingReason};
use std::collections::{BTreeMap, HashMap};

use crate::clock::Clock;

pub mod chase_up;

/// How many audit rows one pass reads at most.
const BATCH: i64 = 500;

/// The runner's state: the engine, and where each ticket's clock is in the audit trail.
pub struct SlaRunner {
    store: Store,
    engine: SlaEngine,
    policies: LivePolicies,
    /// Last audit row read (all tickets).
    cursor: i64,
    /// Audit rows above this id are changes made after start-up.
    started_at_row: i64,
    /// Per tracked ticket: the last audit row applied to its clock.
    applied: HashMap<i64, i64>,
    /// Calendars and grids changed by administrators, applied at the next pass.
    changes: SlaChannel,
    /// The 24 h chase-up cycle of open P0/P1 tickets.
    chase: chase_up::ChaseCycle,
    /// Chase-ups fallen due, written by the next flush: (ticket, instant).
    due_chases: Vec<(i64, DateTime<Utc>)>,
}

/// The channel administrators' changes come through. A node keeps one for its whole life
/// and hands it to each runner it starts (it may lead, lose the lead and lead again:
/// `crate::sla_leader`).
#[derive(Debug)]
pub struct SlaChannel {
    tx: tokio::sync::mpsc::UnboundedSender<SlaChange>,
    rx: tokio::sync::mpsc::UnboundedReceiver<SlaChange>,
}

impl Default for SlaChannel {
    fn default() -> Self {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        SlaChannel { tx, rx }
    }
}

impl SlaChannel {
    /// Where administrators' changes are sent.
    pub fn handle(&self) -> SlaRunnerHandle {
        SlaRunnerHandle {
            tx: self.tx.clone(),
        }
    }

    /// Drops the queued changes: a runner built now reads them from the database already.
    pub fn discard_queued(&mut self) {
        while self.rx.try_recv().is_ok() {}
    }
}

/// A change an administrator made that the running engine takes over.
#[derive(Debug, Clone)]
pub enum SlaChange {
    /// A calendar's weekly hours or exceptional days changed: every clock counted in it is
    /// re-planned, business time before the change staying counted with the calendar in
    /// force then.
    Calendar {
        /// The calendar's name.
        name: String,
        /// Its versions as stored, the newest in force from the change on
        /// (`crate::live_settings::calendar_history`).
        history: guichet_tickets::sla::CalendarHistory,
    },
    /// A new version of an SLA grid: tickets created from now on follow it, running clocks
    /// keep the grid they started under.
    Policy {
        /// The policy's name (as lines name it).
        name: String,
        /// The engine name of this version (`crate::live_settings::version_name`).
        version: String,
        /// The grid.
        spec: guichet_tickets::sla::SlaPolicySpec,
    },
}

/// Sends administrators' changes to the running SLA runner (applied within a second).
#[derive(Debug, Clone)]
pub struct SlaRunnerHandle {
    tx: tokio::sync::mpsc::UnboundedSender<SlaChange>,
}

impl SlaRunnerHandle {
    /// Queues `change` for the runner; false when the runner has stopped.
    pub fn send(&self, change: SlaChange) -> bool {
        self.tx.send(change).is_ok()
    }
}

/// Which `[sla_policies]` entry live tickets follow: the first configured line that names
/// one, for tickets that are not tied to a line. `None`: no runner.
pub fn live_policy(config: &crate::config::Config) -> Option<String> {
    config.lines.iter().find_map(|l| l.sla_policy.clone())
}

/// The policies of live tickets: a ticket opened from a call follows the `sla_policy` of
/// the line that call came in on (the Culture hotline's grid for a 4400 call, the Louvre's
/// for 8585); any other ticket follows `default`.
#[derive(Debug, Clone)]
pub struct LivePolicies {
    /// For tickets with no call, or a call on a line without a policy.
    pub default: String,
    /// Dialled line number → policy name.
    pub by_line: HashMap<String, String>,
    /// Policy name → engine name of its newest version saved from the administration page
    /// (`crate::live_settings::version_name`); a policy absent here runs the configured grid.
    pub versions: HashMap<String, String>,
}

impl From<String> for LivePolicies {
    fn from(default: String) -> Self {
        LivePolicies {
            default,
            by_line: HashMap::new(),
            versions: HashMap::new(),
        }
    }
}

/// The live policies of a configuration; `None` when no line names a policy (no runner).
pub fn live_policies(config: &crate::config::Config) -> Option<LivePolicies> {
    let default = live_policy(config)?;
    let by_line = config
        .lines
        .iter()
        .filter_map(|l| Some((l.number.clone(), l.sla_policy.clone()?)))
        .collect();
    Some(LivePolicies {
        default,
        by_line,
        versions: HashMap::new(),
    })
}

/// Builds the engine for the configuration's `[sla_policies]` and calendars.
pub fn engine_for(config: &crate::config::Config) -> anyhow::Result<SlaEngine> {
    let mut calendars = BTreeMap::new();
    for (name, spec) in &config.calendars {
        calendars.insert(name.clone(), guichet_calendar::Calendar::new(spec)?);
    }
    Ok(SlaEngine::from_policies(&config.sla_policies, calendars)?)
}

fn facts(t: &Ticket) -> TicketFacts {
    TicketFacts {
        priority: t.priority,
        nature: match t.nature {
            Nature::Incident => SlaNature::Incident,
            Nature::Request => SlaNature::Request,
            Nature::Assistance => SlaNature::Assistance,
        },
        out_of_catalogue: false,
    }
}

fn pause_reason(w: Option<WaitingReason>) -> PauseReason {
    match w {
        Some(WaitingReason::Appointment) => PauseReason::Appointment,
        Some(WaitingReason::Delivery) => PauseReason::Delivery,
        Some(WaitingReason::ThirdParty) => PauseReason::ThirdParty,
        Some(WaitingReason::User) | None => PauseReason::User,
    }
}

fn parse_priority(code: &str) -> Option<Priority> {
    Priority::ALL.into_iter().find(|p| p.code() == code)
}

fn target_fr(t: TargetKind) -> &'static str {
    match t {
        TargetKind::TakeCharge => "prise en charge",
        _ => "résolution",
    }
}

impl SlaRunner {
    /// Loads every open ticket's clock (saved, or rebuilt from the ticket when absent) and
    /// fires what fell due while no runner ran, writing it.
    pub async fn start(
        store: Store,
        engine: SlaEngine,
        policies: impl Into<LivePolicies>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<SlaRunner> {
        let changes = SlaChannel::default();
        let started_at_row = store.last_audit_id().await?;
        let mut runner = SlaRunner {
            changes,
            store,
            engine,
            policies: policies.into(),
            cursor: started_at_row,
            started_at_row,
            applied: HashMap::new(),
            chase: chase_up::ChaseCycle::default(),
            due_chases: Vec::new(),
        };
        for id in runner.store.unclosed_ticket_ids().await? {
            let ticket = runner.store.ticket(id).await?;
            runner.start_chase_cycle(&ticket).await?;
            let saved = ticket.sla_state.as_deref().and_then(SavedSla::parse);
            match saved {
                Some(saved) => {
                    if let Err(e) = runner.engine.restore(id, saved.clock, now) {
                        tracing::warn!(ticket = id, error = %e, "SLA clock not restored");
                        continue;
                    }
                    runner.applied.insert(id, saved.audit_id);
                    runner.cursor = runner.cursor.min(saved.audit_id);
                }
                None => {
                    // No clock yet: start it at creation; the ticket's later audit rows
                    // (from row 0 of its trail) are replayed by the first pass.
                    let created = SlaInput::Created {
                        policy: runner.policy_for(id).await?,
                        facts: facts(&ticket),
                        held_by: None,
                    };
                    if let Err(e) =
                        runner
                            .engine
                            .handle(id, ticket.created_at, ENGINE_ACTOR, created)
                    {
                        tracing::warn!(ticket = id, error = %e, "SLA clock not started");
                        continue;
                    }
                    runner.applied.insert(id, 0);
                    runner.cursor = 0;
                }
            }
        }
        runner.flush(None).await?;
        Ok(runner)
    }

    /// Puts an open P0/P1 ticket in the chase-up cycle at start-up, from its
    /// last chase-up, else its last priority change, else its creation.
    async fn start_chase_cycle(&mut self, ticket: &Ticket) -> anyhow::Result<()> {
        if !chase_up::chased(ticket.priority) || ticket.status == TicketStatus::Resolved {
            return Ok(());
        }
        let trail = self.store.ticket_audit(ticket.id).await?;
        let last = |field: &str| trail.iter().rev().find(|a| a.field == field).map(|a| a.at);
        let since = last(chase_up::CHASE_FIELD)
            .or_else(|| last("priority"))
            .unwrap_or(ticket.created_at);
        self.chase.track(ticket.id, ticket.priority, since);
        Ok(())
    }

    /// Follows one audit row in the chase-up cycle (the runner's own rows are
    /// already accounted for).
    fn observe_chase(&mut self, row: &AuditRow) {
        if row.entry.actor == ENGINE_ACTOR {
            return;
        }
        let priority = self
            .applied
            .contains_key(&row.ticket)
            .then(|| self.engine.status(row.ticket, row.entry.at))
            .flatten()
            .map(|s| s.priority);
        match priority {
            Some(p) => self.chase.observe(row.ticket, &row.entry, p),
            None => self.chase.forget(row.ticket),
        }
    }

    /// The policy of a ticket: its first call's line's, else the default; in its newest
    /// version.
    async fn policy_for(&self, ticket: i64) -> anyhow::Result<String> {
        let mut policy = &self.policies.default;
        if let Some(&call) = self.store.ticket_calls(ticket).await?.first() {
            let line = self.store.call(call).await?.line;
            if let Some(p) = self.policies.by_line.get(&line) {
                policy = p;
            }
        }
        Ok(self.policies.versions.get(policy).unwrap_or(policy).clone())
    }

    /// Where administrators' changes are sent.
    pub fn handle(&self) -> SlaRunnerHandle {
        self.changes.handle()
    }

    /// Exchanges the runner's channel of administrators' changes with `other` (a node lends
    /// its channel to each runner it starts, and takes it back when the runner stops).
    pub fn swap_channel(&mut self, other: &mut SlaChannel) {
        std::mem::swap(&mut self.changes, other);
    }

    fn take_change(&mut self, change: SlaChange) {
        match change {
            SlaChange::Calendar { name, history } => {
                tracing::info!(calendar = %name, "SLA clocks follow the changed calendar");
                self.engine.set_calendar_history(&name, history);
            }
            SlaChange::Policy {
                name,
                version,
                spec,
            } => match self.engine.add_policy(&version, &spec) {
                Ok(()) => {
                    tracing::info!(policy = %name, %version, "new tickets follow the changed SLA policy");
                    self.policies.versions.insert(name, version);
                }
                Err(e) => tracing::warn!(policy = %name, error = %e, "SLA policy change refused"),
            },
        }
    }

    /// The engine (for status reads).
    pub fn engine(&self) -> &SlaEngine {
        &self.engine
    }

    /// One pass: applies every new audit row, then fires every timer due by `now`.
    pub async fn step(&mut self, now: DateTime<Utc>) -> anyhow::Result<()> {
        while let Ok(change) = self.changes.rx.try_recv() {
            self.take_change(change);
        }
        loop {
            let rows = self.store.audit_rows_after(self.cursor, BATCH).await?;
            let done = (rows.len() as i64) < BATCH;
            for row in rows {
                self.cursor = row.id;
                self.apply(&row).await?;
                self.observe_chase(&row);
            }
            if done {
                break;
            }
        }
        self.engine.handle_timeout(now);
        self.due_chases.extend(self.chase.take_due(now));
        self.flush(None).await
    }

    async fn apply(&mut self, row: &AuditRow) -> anyhow::Result<()> {
        let id = row.ticket;
        let e = &row.entry;
        if e.actor == ENGINE_ACTOR {
            return Ok(());
        }
        let tracked = self.applied.get(&id).copied();
        let input = match tracked {
            None if e.field == "created" && row.id > self.started_at_row => {
                let ticket = self.store.ticket(id).await?;
                SlaInput::Created {
                    policy: self.policy_for(id).await?,
                    facts: facts(&ticket),
                    held_by: None,
                }
            }
            None => return Ok(()),
            Some(last) if row.id <= last => return Ok(()),
            Some(_) => match self.input_for(id, e).await? {
                Some(input) => input,
                None => {
                    self.applied.insert(id, row.id);
                    if e.field == "status" && e.new_value.as_deref() == Some("closed") {
                        self.engine.forget(id);
                        self.applied.remove(&id);
                        return Ok(());
                    }
                    return self.flush(Some(id)).await;
                }
            },
        };
        if let Err(err) = self.engine.handle(id, e.at, &e.actor, input) {
            if e.field == DUE_DATE_FIELD {
                // A person asked for it: say why the clock did not follow.
                tracing::warn!(ticket = id, error = %err, "due-date change refused by the SLA policy");
            } else {
                tracing::debug!(ticket = id, field = %e.field, error = %err, "SLA input ignored");
            }
        }
        // A ticket recorded already resolved (the call-taking form's "solved online").
        if e.field == "created"
            && e.new_value.as_deref() == Some(TicketStatus::Resolved.as_str())
            && let Err(err) = self.engine.handle(id, e.at, &e.actor, SlaInput::Resolved)
        {
            tracing::debug!(ticket = id, error = %err, "SLA input ignored");
        }
        self.applied.insert(id, row.id);
        self.flush(Some(id)).await
    }

    /// Maps an audit line to an engine input (`None`: nothing for the clock).
    async fn input_for(&self, id: i64, e: &AuditEntry) -> anyhow::Result<Option<SlaInput>> {
        let old = e
            .old_value
            .as_deref()
            .and_then(|v| v.parse::<TicketStatus>().ok());
        let new = e
            .new_value
            .as_deref()
            .and_then(|v| v.parse::<TicketStatus>().ok());
        Ok(match e.field.as_str() {
            "assignment" => Some(SlaInput::Assigned),
            "status" => match (old, new) {
                (_, Some(TicketStatus::Waiting)) => {
                    let ticket = self.store.ticket(id).await?;
                    Some(SlaInput::Paused {
                        reason: pause_reason(ticket.waiting_reason),
                    })
                }
                (Some(TicketStatus::Waiting), _) => Some(SlaInput::Resumed),
                (_, Some(TicketStatus::Resolved)) => Some(SlaInput::Resolved),
                (Some(TicketStatus::Resolved), Some(s)) if s != TicketStatus::Closed => {
                    Some(SlaInput::Reopened)
                }
                (Some(TicketStatus::New), Some(TicketStatus::Assigned)) => Some(SlaInput::Assigned),
                _ => None,
            },
            "priority" => {
                let current = self.engine.status(id, e.at).map(|s| s.priority);
                e.new_value
                    .as_deref()
                    .and_then(parse_priority)
                    .filter(|p| Some(*p) != current)
                    .map(|priority| SlaInput::PriorityChanged {
                        priority,
                        reason: e
                            .reason
                            .clone()
                            .unwrap_or_else(|| "priorité révisée".to_owned()),
                    })
            }
            // Escalation, due-date change and exclusion (`guichet_tickets::sla_changes`).
            ESCALATION_FIELD => Some(SlaInput::Escalated),
            DUE_DATE_FIELD => e
                .new_value
                .as_deref()
                .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
                .map(|due| SlaInput::DueDateChanged {
                    due: due.with_timezone(&Utc),
                    reason: e.reason.clone().unwrap_or_default(),
                }),
            EXCLUSION_FIELD => Some(SlaInput::Excluded {
                justification: e.reason.clone().unwrap_or_default(),
                approver: e.new_value.clone().unwrap_or_default(),
            }),
            "qualification" => {
                let code = |v: &Option<String>| {
                    v.as_deref()
                        .and_then(|s| s.rsplit('/').next())
                        .and_then(parse_priority)
                };
                let (before, after) = (code(&e.old_value), code(&e.new_value));
                let current = self.engine.status(id, e.at).map(|s| s.priority);
                match after {
                    Some(p) if after != before && Some(p) != current => {
                        Some(SlaInput::PriorityChanged {
                            priority: p,
                            reason: "qualification de l'appel".to_owned(),
                        })
                    }
                    _ => None,
                }
            }
            _ => None,
        })
    }

    /// Writes the pending events, grouped by ticket, each with its ticket's clock; with
    /// `moved`, also saves that ticket's clock when no event came.
    async fn flush(&mut self, moved: Option<i64>) -> anyhow::Result<()> {
        let mut writes: BTreeMap<i64, SlaWrite> = BTreeMap::new();
        let blank = |ticket| SlaWrite {
            ticket,
            audit: Vec::new(),
            state: String::new(),
            priority: None,
            breached: false,
            journal: Vec::new(),
        };
        if let Some(id) = moved {
            writes.insert(id, blank(id));
        }
        for (ticket, at) in std::mem::take(&mut self.due_chases) {
            let Some(priority) = self.engine.status(ticket, at).map(|s| s.priority) else {
                continue;
            };
            let text = format!(
                "relance automatique : ticket {} sans relance depuis 24 h",
                priority.code()
            );
            let w = writes.entry(ticket).or_insert_with(|| blank(ticket));
            w.audit.push(AuditEntry {
                at,
                actor: ENGINE_ACTOR.to_owned(),
                field: chase_up::CHASE_FIELD.to_owned(),
                old_value: None,
                new_value: Some(priority.code().to_owned()),
                reason: Some(text.clone()),
            });
            w.journal.push((at, "sla.chase_up".to_owned(), text));
        }
        while let Some(event) = self.engine.poll_event() {
            let line = |at, field: &str, old: Option<String>, new: Option<String>, reason: &str| {
                AuditEntry {
                    at,
                    actor: ENGINE_ACTOR.to_owned(),
                    field: field.to_owned(),
                    old_value: old,
                    new_value: new,
                    reason: Some(reason.to_owned()),
                }
            };
            match event {
                SlaEvent::AtRisk {
                    ticket,
                    target,
                    at,
                    due,
                } => {
                    let due_text = due.map(|d| d.to_rfc3339());
                    let w = writes.entry(ticket).or_insert_with(|| blank(ticket));
                    let text = format!("délai de {} menacé", target_fr(target));
                    w.audit
                        .push(line(at, "sla_at_risk", None, due_text.clone(), &text));
                    w.journal.push((
                        at,
                        "sla.at_risk".to_owned(),
                        format!("{text} (échéance {})", due_text.unwrap_or_default()),
                    ));
                }
                SlaEvent::Breached {
                    ticket,
                    target,
                    due,
                } => {
                    let w = writes.entry(ticket).or_insert_with(|| blank(ticket));
                    let text = format!("délai de {} dépassé", target_fr(target));
                    w.audit.push(line(
                        due,
                        "sla_breached",
                        None,
                        Some(due.to_rfc3339()),
                        &text,
                    ));
                    w.breached = true;
                    w.journal.push((
                        due,
                        "sla.breached".to_owned(),
                        format!("{text} (échéance {})", due.to_rfc3339()),
                    ));
                }
                SlaEvent::PriorityBumped {
                    ticket,
                    from,
                    to,
                    at,
                } => {
                    let w = writes.entry(ticket).or_insert_with(|| blank(ticket));
                    w.audit.push(line(
                        at,
                        "priority",
                        Some(from.code().to_owned()),
                        Some(to.code().to_owned()),
                        "relèvement automatique de priorité (délai écoulé)",
                    ));
                    w.priority = Some(to);
                    self.chase.track(ticket, to, at);
                }
                SlaEvent::Audit(a) => {
                    let w = writes.entry(a.ticket).or_insert_with(|| blank(a.ticket));
                    w.audit.push(AuditEntry {
                        at: a.at,
                        actor: ENGINE_ACTOR.to_owned(),
                        field: a.field,
                        old_value: a.old_value,
                        new_value: a.new_value,
                        reason: a.reason,
                    });
                }
            }
        }
        for (id, mut w) in writes {
            let Some(clock) = self.engine.export(id) else {
                continue;
            };
            w.state = SavedSla {
                audit_id: self.applied.get(&id).copied().unwrap_or(self.cursor),
                clock: clock.clone(),
            }
            .to_json()?;
            self.store.write_sla(&w).await?;
        }
        Ok(())
    }
}

/// Runs the runner until the process stops: one pass a second at least, and at the
/// engine's next timer (read with the server's clock, so `--clock-start` works).
pub async fn run(runner: &mut SlaRunner, clock: Clock) {
    loop {
        if let Err(e) = runner.step(clock.now()).await {
            tracing::warn!(error = %e, "SLA runner pass failed; retrying");
        }
        let next_second = clock.now() + chrono::TimeDelta::seconds(1);
        let wake = runner
            .engine
            .poll_timeout()
            .map_or(next_second, |t| t.min(next_second));
        tokio::time::sleep_until(clock.instant_of(wake)).await;
    }
}

/// The ticket form's sentence about a ticket's SLA clock, in French, with the due date in
/// the policy calendar's time zone (Paris when it cannot be read).
pub fn status_sentence(status: &SlaStatus, config: &crate::config::Config) -> String {
    let zone: chrono_tz::Tz = config
        .sla_policies
        .get(crate::live_settings::policy_of(&status.policy))
        .and_then(|p| config.calendars.get(&p.calendar))
        .and_then(|c| c.zone.parse().ok())
        .unwrap_or(chrono_tz::Europe::Paris);
    if status.verdict == SlaVerdict::Excluded {
        return "Ticket exclu des indicateurs de délai.".to_owned();
    }
    let Some((kind, target)) = status
        .resolve
        .as_ref()
        .map(|t| ("résolution", t))
        .or_else(|| status.take_charge.as_ref().map(|t| ("prise en charge", t)))
    else {
        return format!(
            "Délai ({}) : aucun objectif pour cette priorité.",
            crate::live_settings::policy_of(&status.policy)
        );
    };
    let due = target.due.map(|d| {
        d.with_timezone(&zone)
            .format("%d/%m/%Y à %H:%M")
            .to_string()
    });
    let left = target.limit - target.consumed;
    let left_text = format!(
        "{} h {:02} ouvrées restantes",
        left.num_minutes().max(0) / 60,
        left.num_minutes().max(0) % 60
    );
    match (&target.state, due) {
        (TargetState::Breached { due }, _) => format!(
            "Délai de {kind} dépassé (échéance le {}).",
            due.with_timezone(&zone).format("%d/%m/%Y à %H:%M")
        ),
        (TargetState::Met { .. }, _) => format!("Délai de {kind} respecté."),
        (_, _) if status.paused.is_some() => {
            format!("Délai de {kind} en pause : {left_text}.")
        }
        (TargetState::Running { at_risk_sent: true }, Some(d)) => {
            format!("Délai de {kind} menacé : échéance le {d}, {left_text}.")
        }
        (_, Some(d)) => format!("Délai de {kind} : échéance le {d}, {left_text}."),
        (_, None) => format!("Délai de {kind} : {left_text}."),
    }
}
