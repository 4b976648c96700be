//! The live SLA runner against a real store (SQLite, and PostgreSQL when
//! `GUICHET_TEST_POSTGRES_URL` is set): tickets on the Louvre line get their at-risk and
//! breach events at the business-hours instants of the Louvre grid (Ascension Day and the
//! weekend skipped), written once each, across restarts of the runner.

mod support;

use chrono::{DateTime, TimeZone, Utc};
use guichet::sla_runner::{SlaRunner, engine_for, live_policy};
use guichet_tickets::Store;
use guichet_tickets::sla::SlaVerdict;
use guichet_tickets::ticket::{Nature, NewTicket, Priority, TicketAction, WaitingReason};
use support::*;

fn utc(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, d, h, m, 0)
        .single()
        .expect("instant")
}

async fn sla_lines(store: &Store, ticket: i64, field: &str) -> Vec<DateTime<Utc>> {
    store
        .ticket_audit(ticket)
        .await
        .expect("audit")
        .into_iter()
        .filter(|a| a.field == field && a.actor == "sla")
        .map(|a| a.at)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn louvre_tickets_get_at_risk_then_breach_once_across_restarts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = guichet::config::load_demo().expect("demo config").config;
    let policy = live_policy(&config).expect("the Louvre line names a policy");
    assert_eq!(policy, "louvre");
    for db in databases(dir.path(), "sla_runner").await {
        let store = Store::open(&db.url()).await.expect("store");
        let engine = engine_for(&config).expect("engine");

        // Ticket A: Wednesday 13 May 2026, 17:00 Paris, P1 (4 business hours). One hour on
        // Wednesday, Thursday 14 is Ascension Day: at risk (3 h) Friday 11:00, breached
        // Friday 12:00 Paris (09:00 and 10:00 UTC).
        let created_a = utc(13, 15, 0);
        let mut runner = SlaRunner::start(store.clone(), engine.clone(), policy.clone(), created_a)
            .await
            .expect("runner");
        let draft = NewTicket::simplified(Nature::Incident, "Imprimante bloquée", "Mme Dupont");
        let a = store
            .create_ticket(&draft, "agent1", created_a)
            .await
            .expect("ticket A");
        store
            .change_priority(a, Priority::P1, "service bloqué", "agent1", created_a)
            .await
            .expect("priority");
        runner.step(utc(13, 15, 1)).await.expect("step");
        let saved = store.ticket(a).await.expect("ticket").sla_state;
        assert!(
            saved.is_some(),
            "the clock is saved as soon as the ticket is seen"
        );
        runner.step(utc(15, 8, 59)).await.expect("step");
        assert!(sla_lines(&store, a, "sla_at_risk").await.is_empty());
        runner.step(utc(15, 9, 30)).await.expect("step");
        assert_eq!(
            sla_lines(&store, a, "sla_at_risk").await,
            vec![utc(15, 9, 0)]
        );
        assert!(sla_lines(&store, a, "sla_breached").await.is_empty());
        runner.step(utc(15, 10, 30)).await.expect("step");
        assert_eq!(
            sla_lines(&store, a, "sla_breached").await,
            vec![utc(15, 10, 0)]
        );
        drop(runner);

        // Restart: nothing is fired twice.
        let mut runner = SlaRunner::start(
            store.clone(),
            engine.clone(),
            policy.clone(),
            utc(15, 10, 31),
        )
        .await
        .expect("restart");
        runner.step(utc(15, 10, 32)).await.expect("step");
        assert_eq!(sla_lines(&store, a, "sla_at_risk").await.len(), 1);
        assert_eq!(sla_lines(&store, a, "sla_breached").await.len(), 1);

        // Ticket B: Friday 15 May, 16:00 Paris, P1: two hours on Friday, the weekend skipped,
        // at risk Monday 18 May 10:00, breached 11:00 Paris (08:00 and 09:00 UTC). The
        // runner is stopped over the weekend and restarted after both instants: they fire at
        // start-up, at their own instants, once.
        let created_b = utc(15, 14, 0);
        let b = store
            .create_ticket(&draft, "agent2", created_b)
            .await
            .expect("ticket B");
        store
            .change_priority(b, Priority::P1, "service bloqué", "agent2", created_b)
            .await
            .expect("priority");
        runner.step(utc(15, 14, 1)).await.expect("step");
        drop(runner);
        let mut runner = SlaRunner::start(
            store.clone(),
            engine.clone(),
            policy.clone(),
            utc(18, 9, 30),
        )
        .await
        .expect("restart");
        runner.step(utc(18, 9, 31)).await.expect("step");
        drop(runner);
        let mut runner = SlaRunner::start(
            store.clone(),
            engine.clone(),
            policy.clone(),
            utc(18, 9, 40),
        )
        .await
        .expect("restart");
        runner.step(utc(18, 9, 41)).await.expect("step");
        assert_eq!(
            sla_lines(&store, b, "sla_at_risk").await,
            vec![utc(18, 8, 0)]
        );
        assert_eq!(
            sla_lines(&store, b, "sla_breached").await,
            vec![utc(18, 9, 0)]
        );
        assert_eq!(sla_lines(&store, a, "sla_breached").await.len(), 1);

        // Supervisors see them in the journal; the store gives the ticket's status.
        let journal = store
            .journal_between(utc(13, 0, 0), utc(19, 0, 0))
            .await
            .expect("journal");
        let count = |action: &str| journal.iter().filter(|j| j.action == action).count();
        assert_eq!(count("sla.at_risk"), 2, "{journal:?}");
        assert_eq!(count("sla.breached"), 2, "{journal:?}");
        let ticket_b = store.ticket(b).await.expect("ticket");
        assert_eq!(ticket_b.sla_outcome.map(|o| o.as_str()), Some("breached"));
        let status = store
            .ticket_sla_status(b, &engine, utc(18, 10, 0))
            .await
            .expect("status")
            .expect("a saved clock");
        assert_eq!(status.verdict, SlaVerdict::Breached);
        assert_eq!(
            guichet::sla_runner::status_sentence(&status, &config),
            "Délai de résolution dépassé (échéance le 18/05/2026 à 11:00)."
        );
        assert_eq!(status.resolve.and_then(|r| r.due), Some(utc(18, 9, 0)));
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_ticket_does_not_breach_and_a_closed_one_is_forgotten() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = guichet::config::load_demo().expect("demo config").config;
    let policy = live_policy(&config).expect("policy");
    for db in databases(dir.path(), "sla_runner_pause").await {
        let store = Store::open(&db.url()).await.expect("store");
        let engine = engine_for(&config).expect("engine");
        // P0 (2 h) created Tuesday 19 May 2026 09:00 Paris; the agent waits for the user
        // at 10:00 (one hour consumed) until Wednesday 09:00 Paris: no breach in between;
        // at risk (1 h 30) Wednesday 09:30, breached 10:00 Paris (07:30 and 08:00 UTC).
        let created = utc(19, 7, 0);
        let mut runner = SlaRunner::start(store.clone(), engine.clone(), policy.clone(), created)
            .await
            .expect("runner");
        let draft = NewTicket::simplified(Nature::Incident, "Poste en panne", "M. Bernard");
        let id = store
            .create_ticket(&draft, "agent1", created)
            .await
            .expect("ticket");
        store
            .change_priority(id, Priority::P0, "directeur", "agent1", created)
            .await
            .expect("priority");
        store
            .transition_ticket(id, &TicketAction::Start, "agent1", created)
            .await
            .expect("start");
        runner.step(utc(19, 7, 1)).await.expect("step");
        store
            .transition_ticket(
                id,
                &TicketAction::Wait(WaitingReason::User),
                "agent1",
                utc(19, 8, 0),
            )
            .await
            .expect("wait");
        runner.step(utc(19, 8, 1)).await.expect("step");
        runner.step(utc(19, 16, 0)).await.expect("step");
        assert!(sla_lines(&store, id, "sla_at_risk").await.is_empty());
        assert!(sla_lines(&store, id, "sla_breached").await.is_empty());
        store
            .transition_ticket(id, &TicketAction::Resume, "agent1", utc(20, 7, 0))
            .await
            .expect("resume");
        runner.step(utc(20, 7, 1)).await.expect("step");
        let status = store
            .ticket_sla_status(id, &engine, utc(20, 7, 1))
            .await
            .expect("status")
            .expect("a saved clock");
        assert_eq!(
            guichet::sla_runner::status_sentence(&status, &config),
            "Délai de résolution : échéance le 20/05/2026 à 10:00, 0 h 59 ouvrées restantes."
        );
        runner.step(utc(20, 8, 5)).await.expect("step");
        assert_eq!(
            sla_lines(&store, id, "sla_at_risk").await,
            vec![utc(20, 7, 30)]
        );
        assert_eq!(
            sla_lines(&store, id, "sla_breached").await,
            vec![utc(20, 8, 0)]
        );
        store
            .transition_ticket(id, &TicketAction::Resolve, "agent1", utc(20, 9, 0))
            .await
            .expect("resolve");
        store
            .transition_ticket(id, &TicketAction::Close, "agent1", utc(20, 9, 1))
            .await
            .expect("close");
        runner.step(utc(20, 9, 2)).await.expect("step");
        assert_eq!(runner.engine().len(), 0, "a closed ticket has no clock");
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ticket_follows_the_sla_policy_of_the_line_its_call_came_in_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = guichet::config::load_demo().expect("demo config").config;
    let policies = guichet::sla_runner::live_policies(&config).expect("lines name policies");
    assert_eq!(
        policies.by_line.get("4400").map(String::as_str),
        Some("culture")
    );
    for db in databases(dir.path(), "sla_runner_lines").await {
        let store = Store::open(&db.url()).await.expect("store");
        let engine = engine_for(&config).expect("engine");
        let at = utc(19, 8, 0);
        let mut runner = SlaRunner::start(store.clone(), engine.clone(), policies.clone(), at)
            .await
            .expect("runner");
        let mut ids = Vec::new();
        for (line, sip_call_id) in [("4400", "culture-call"), ("8585", "louvre-call")] {
            let call = store
                .open_call(&guichet_tickets::calls::NewCall {
                    sip_call_id: sip_call_id.to_owned(),
                    line: line.to_owned(),
                    caller_number: "+33140150000".to_owned(),
                    caller_name: None,
                    person_id: None,
                    vip: false,
                    p0: false,
                    arrived_at: at,
                })
                .await
                .expect("call");
            let mut draft = NewTicket::simplified(Nature::Incident, "Messagerie", "M. Roux");
            draft.call_id = Some(call);
            ids.push(
                store
                    .create_ticket(&draft, "agent1", at)
                    .await
                    .expect("ticket"),
            );
        }
        // A ticket with no call follows the default (the first line's policy).
        let draft = NewTicket::simplified(Nature::Request, "Badge", "Mme Petit");
        ids.push(
            store
                .create_ticket(&draft, "agent1", at)
                .await
                .expect("ticket"),
        );
        runner.step(utc(19, 8, 1)).await.expect("step");
        let mut followed = Vec::new();
        for id in ids {
            let status = store
                .ticket_sla_status(id, runner.engine(), utc(19, 8, 2))
                .await
                .expect("status")
                .expect("a clock");
            followed.push(status.policy);
        }
        assert_eq!(followed, vec!["culture", "louvre", "louvre"]);
    }
}

/// The `sla_policy` line the engine wrote on a ticket: the grid its clock runs under.
async fn policy_line(store: &Store, ticket: i64) -> Option<String> {
    store
        .ticket_audit(ticket)
        .await
        .expect("audit")
        .into_iter()
        .find(|a| a.field == "sla_policy")
        .and_then(|a| a.new_value)
}

#[tokio::test(flavor = "multi_thread")]
async fn administrators_changes_reach_the_live_clocks_and_survive_a_restart() {
    use guichet::live_settings;
    use guichet::sla_runner::SlaChange;
    use guichet_tickets::admin::NewCalendarException;
    use guichet_tickets::settings::{CALENDAR_HOURS, SLA_POLICY};

    let dir = tempfile::tempdir().expect("temp dir");
    let config = guichet::config::load_demo().expect("demo config").config;
    let policies = guichet::sla_runner::live_policies(&config).expect("policies");
    for db in databases(dir.path(), "sla_runner_admin").await {
        let store = Store::open(&db.url()).await.expect("store");
        let (engine, newest) = live_settings::sla_engine(&store, &config)
            .await
            .expect("engine");
        assert!(newest.is_empty(), "nothing saved yet");
        let mut runner = SlaRunner::start(
            store.clone(),
            engine,
            live_settings::with_versions(policies.clone(), newest),
            utc(15, 14, 0),
        )
        .await
        .expect("runner");
        let handle = runner.handle();

        // Ticket A: Friday 15 May 2026, 16:00 Paris, P1 (4 business hours): two hours on
        // Friday, then Monday 18 May would see it at risk at 10:00 and breached at 11:00.
        let draft = NewTicket::simplified(Nature::Incident, "Poste bloqué", "M. Martin");
        let a = store
            .create_ticket(&draft, "agent1", utc(15, 14, 0))
            .await
            .expect("ticket A");
        store
            .change_priority(a, Priority::P1, "service bloqué", "agent1", utc(15, 14, 0))
            .await
            .expect("priority");
        runner.step(utc(15, 14, 1)).await.expect("step");

        // An administrator closes the Louvre line on Monday 18 May: the calendar's history
        // (configuration + store, the closure from 14:02 UTC Friday on) goes to the running
        // clocks, which skip that day.
        let closure = NewCalendarException {
            calendar: "louvre".to_owned(),
            date: chrono::NaiveDate::from_ymd_opt(2026, 5, 18).expect("date"),
            until: None,
            hours: None,
            label: "Fermeture exceptionnelle".to_owned(),
        };
        store
            .add_calendar_exception(&closure, "admin", utc(15, 14, 2))
            .await
            .expect("closure");
        let history = live_settings::calendar_history(&store, &config, "louvre")
            .await
            .expect("history")
            .expect("louvre calendar");
        assert!(handle.send(SlaChange::Calendar {
            name: "louvre".to_owned(),
            history,
        }));

        // And gives P1 tickets 8 business hours from now on.
        let mut grid = config.sla_policies["louvre"].clone();
        let p1 = grid
            .targets
            .iter_mut()
            .find(|t| t.priority == Some(guichet_tickets::priority::Priority::P1))
            .expect("P1 row");
        p1.resolve = Some("8h".to_owned());
        let row = store
            .save_setting(
                SLA_POLICY,
                "louvre",
                None,
                &serde_json::to_string(&grid).expect("json"),
                "admin",
                utc(15, 14, 3),
            )
            .await
            .expect("saved grid");
        let version = live_settings::version_name("louvre", row);
        assert!(handle.send(SlaChange::Policy {
            name: "louvre".to_owned(),
            version: version.clone(),
            spec: grid,
        }));
        runner.step(utc(15, 14, 5)).await.expect("step");

        // Ticket B, Friday 16:10 Paris, P1 under the new grid: 1 h 50 on Friday, Monday
        // closed, at risk (6 h) Tuesday 13:10 and breached (8 h) Tuesday 15:10 Paris.
        let b = store
            .create_ticket(&draft, "agent2", utc(15, 14, 10))
            .await
            .expect("ticket B");
        store
            .change_priority(b, Priority::P1, "service bloqué", "agent2", utc(15, 14, 10))
            .await
            .expect("priority");
        runner.step(utc(15, 14, 11)).await.expect("step");
        assert_eq!(policy_line(&store, a).await.as_deref(), Some("louvre"));
        assert_eq!(policy_line(&store, b).await, Some(version.clone()));

        // Monday passes without an event; ticket A (4 h, its own grid) is at risk Tuesday
        // 10:00 and breached 11:00 Paris.
        runner.step(utc(18, 15, 0)).await.expect("step");
        assert!(sla_lines(&store, a, "sla_at_risk").await.is_empty());
        runner.step(utc(19, 9, 30)).await.expect("step");
        assert_eq!(
            sla_lines(&store, a, "sla_at_risk").await,
            vec![utc(19, 8, 0)]
        );
        assert_eq!(
            sla_lines(&store, a, "sla_breached").await,
            vec![utc(19, 9, 0)]
        );
        assert!(sla_lines(&store, b, "sla_at_risk").await.is_empty());
        drop(runner);

        // A restart rebuilds the same engine from the configuration and the store: ticket B
        // keeps the new grid and the closed Monday.
        let (engine, newest) = live_settings::sla_engine(&store, &config)
            .await
            .expect("engine");
        assert_eq!(newest.get("louvre"), Some(&version));
        let mut runner = SlaRunner::start(
            store.clone(),
            engine,
            live_settings::with_versions(policies.clone(), newest),
            utc(19, 11, 30),
        )
        .await
        .expect("restart");
        runner.step(utc(19, 11, 31)).await.expect("step");
        assert_eq!(
            sla_lines(&store, b, "sla_at_risk").await,
            vec![utc(19, 11, 10)]
        );
        assert!(sla_lines(&store, b, "sla_breached").await.is_empty());
        runner.step(utc(19, 13, 30)).await.expect("step");
        assert_eq!(
            sla_lines(&store, b, "sla_breached").await,
            vec![utc(19, 13, 10)]
        );
        assert_eq!(sla_lines(&store, a, "sla_breached").await.len(), 1);

        // Weekly hours saved for a calendar replace the configured ones at the next build.
        let mut hours = config.calendars["louvre"].hours.clone();
        hours.wednesday = vec!["14:00-18:00".to_owned()];
        store
            .save_setting(
                CALENDAR_HOURS,
                "louvre",
                None,
                &serde_json::to_string(&hours).expect("json"),
                "admin",
                utc(19, 14, 0),
            )
            .await
            .expect("saved hours");
        let calendars = live_settings::calendars(&store, &config)
            .await
            .expect("calendars");
        assert!(
            !calendars["louvre"].is_open(utc(20, 8, 0)),
            "10:00 Paris now closed"
        );
        assert!(calendars["louvre"].is_open(utc(20, 12, 0)));
        assert!(
            calendars["culture"].is_open(utc(20, 8, 0)),
            "other calendars unchanged"
        );
        let journal = store
            .journal_between(utc(15, 0, 0), utc(20, 0, 0))
            .await
            .expect("journal");
        assert!(journal.iter().any(|j| j.action == "settings.sla_policy"
            && j.subject == "sla_policy:louvre"
            && j.new_value.as_deref().is_some_and(|v| v.contains("8h"))));
        assert!(
            journal
                .iter()
                .any(|j| j.action == "settings.calendar_hours")
        );
        store.close().await;
    }
}

/// Waits (at most 15 s) until `check` holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn start_node(
    store: &Store,
    config: &guichet::config::Config,
    clock: guichet::clock::Clock,
    name: &str,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::watch::Receiver<bool>,
) {
    use guichet::sla_leader::{SlaNode, lead};
    let node = SlaNode {
        store: store.clone(),
        config: std::sync::Arc::new(config.clone()),
        policies: guichet::sla_runner::live_policies(config).expect("policies"),
        clock,
        name: name.to_owned(),
        retry: std::time::Duration::from_millis(300),
    };
    let (leading_tx, leading) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(lead(
        node,
        guichet::sla_runner::SlaChannel::default(),
        leading_tx,
    ));
    (task, leading)
}

#[tokio::test(flavor = "multi_thread")]
async fn one_node_runs_the_sla_clocks_and_another_takes_over_when_it_dies() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = guichet::config::load_demo().expect("demo config").config;
    for db in databases(dir.path(), "sla_leader").await {
        // Two nodes: two stores (two pools) on one database.
        let store_a = Store::open(&db.url()).await.expect("store A");
        let store_b = Store::open(&db.url()).await.expect("store B");
        let postgres = matches!(store_a.backend(), guichet_tickets::Backend::Postgres);

        // As in the first test: a P1 ticket of Wednesday 13 May 17:00 Paris is at risk on
        // Friday 15 May 09:00 UTC. Both nodes' clocks start two seconds before.
        let created = utc(13, 15, 0);
        let draft = NewTicket::simplified(Nature::Incident, "Imprimante bloquée", "Mme Dupont");
        let a = store_a
            .create_ticket(&draft, "agent1", created)
            .await
            .expect("ticket");
        store_a
            .change_priority(a, Priority::P1, "service bloqué", "agent1", created)
            .await
            .expect("priority");
        let clock =
            guichet::clock::Clock::starting_at(utc(15, 9, 0) - chrono::TimeDelta::seconds(2));

        let (node_a, mut leading_a) = start_node(&store_a, &config, clock, "nœud A");
        leading_a.wait_for(|l| *l).await.expect("node A leads");
        let (node_b, leading_b) = start_node(&store_b, &config, clock, "nœud B");
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        if !postgres {
            // SQLite serves a single node: its runner always runs.
            assert!(*leading_b.borrow(), "on SQLite every runner runs");
            node_a.abort();
            node_b.abort();
            continue;
        }
        assert!(
            !*leading_b.borrow(),
            "node B must not run the clocks while node A does"
        );

        eventually("node A writes the at-risk event", || async {
            !sla_lines(&store_a, a, "sla_at_risk").await.is_empty()
        })
        .await;

        // Node A dies: its task (and the database session holding the lock) is gone without
        // releasing anything, as with kill -9.
        node_a.abort();
        let _ = node_a.await;
        let mut leading_b = leading_b;
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            leading_b.wait_for(|l| *l),
        )
        .await
        .expect("node B takes over within 10 s")
        .expect("node B leads");

        // Node B restored the clock from sla_state: a later change is applied to it...
        let before = store_b.last_audit_id().await.expect("last audit id");
        store_b
            .change_priority(a, Priority::P1, "confirmée", "agent1", clock.now())
            .await
            .expect("priority");
        eventually("node B applies the later change", || async {
            let state = store_b.ticket(a).await.expect("ticket").sla_state;
            state
                .as_deref()
                .and_then(guichet_tickets::sla_live::SavedSla::parse)
                .is_some_and(|s| s.audit_id > before)
        })
        .await;
        // ... and the at-risk event stays written exactly once.
        assert_eq!(
            sla_lines(&store_b, a, "sla_at_risk").await,
            vec![utc(15, 9, 0)]
        );
        node_b.abort();
    }
}

/// The SLA runner's own audit lines for `field`: (old, new) values.
async fn sla_changes(
    store: &Store,
    ticket: i64,
    field: &str,
) -> Vec<(Option<String>, Option<String>)> {
    store
        .ticket_audit(ticket)
        .await
        .expect("audit")
        .into_iter()
        .filter(|a| a.field == field && a.actor == "sla")
        .map(|a| (a.old_value, a.new_value))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn escalation_due_date_change_and_exclusion_reach_the_live_clock() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = guichet::config::load_demo().expect("demo config").config;
    let policy = live_policy(&config).expect("policy");
    for db in databases(dir.path(), "sla_runner_changes").await {
        let store = Store::open(&db.url()).await.expect("store");
        let engine = engine_for(&config).expect("engine");
        let level2 = store.create_support_group("Niveau 2").await.expect("group");
        // Three tickets created Tuesday 19 May 2026 09:00 Paris (07:00 UTC) on the Louvre
        // grid (09:00-18:00): one P3 (3 days) and two P1 (4 business hours: at risk
        // 12:00, due 13:00 Paris).
        let created = utc(19, 7, 0);
        let mut runner = SlaRunner::start(store.clone(), engine.clone(), policy.clone(), created)
            .await
            .expect("runner");
        let new_ticket =
            |title: &'static str| NewTicket::simplified(Nature::Incident, title, "Mme Petit");
        let escalated = store
            .create_ticket(&new_ticket("Badge refusé"), "agent1", created)
            .await
            .expect("ticket");
        let moved = store
            .create_ticket(&new_ticket("Écran noir"), "agent1", created)
            .await
            .expect("ticket");
        let excluded = store
            .create_ticket(&new_ticket("Coupure réseau"), "agent1", created)
            .await
            .expect("ticket");
        for id in [moved, excluded] {
            store
                .change_priority(id, Priority::P1, "service bloqué", "agent1", created)
                .await
                .expect("priority");
        }
        runner.step(utc(19, 7, 1)).await.expect("step");

        // 10:00 Paris, one business hour run: the P3 is escalated to level 2 as a P1
        // (due 13:00 Paris), the second ticket's deadline moves to Wednesday 16:00 Paris
        // with the user's agreement, the third is excluded (site power cut).
        let at = utc(19, 8, 0);
        store
            .escalate_ticket(
                escalated,
                level2,
                Some(Priority::P1),
                "panne générale",
                "agent1",
                at,
            )
            .await
            .expect("escalate");
        store
            .change_due_date(
                moved,
                utc(20, 14, 0),
                "l'usager est absent jusqu'à demain",
                "agent1",
                at,
            )
            .await
            .expect("due date");
        store
            .exclude_from_sla(
                excluded,
                "coupure électrique du site",
                "M. Leroy",
                "agent1",
                at,
            )
            .await
            .expect("exclude");
        runner.step(utc(19, 8, 1)).await.expect("step");

        let t = store.ticket(escalated).await.expect("ticket");
        assert_eq!((t.group_id, t.priority), (Some(level2), Priority::P1));
        let sentence = |id| {
            let (store, engine, config) = (&store, &engine, &config);
            async move {
                let status = store
                    .ticket_sla_status(id, engine, utc(19, 8, 1))
                    .await
                    .expect("status")
                    .expect("a saved clock");
                guichet::sla_runner::status_sentence(&status, config)
            }
        };
        let text = sentence(escalated).await;
        assert!(text.contains("échéance le 19/05/2026 à 13:00"), "{text}");
        let text = sentence(moved).await;
        assert!(text.contains("échéance le 20/05/2026 à 16:00"), "{text}");
        assert_eq!(
            sentence(excluded).await,
            "Ticket exclu des indicateurs de délai."
        );
        assert_eq!(
            sla_changes(&store, moved, "due_date").await,
            vec![(
                Some(utc(19, 11, 0).to_rfc3339()),
                Some(utc(20, 14, 0).to_rfc3339())
            )],
            "the runner audits the old and new deadlines"
        );
        assert_eq!(
            sla_changes(&store, excluded, "sla_exclusion").await.len(),
            1
        );

        // Wednesday evening: the escalated ticket breached at 13:00 Paris Tuesday, the
        // moved one at its new deadline, the excluded one never.
        runner.step(utc(20, 16, 0)).await.expect("step");
        assert_eq!(
            sla_lines(&store, escalated, "sla_breached").await,
            vec![utc(19, 11, 0)]
        );
        assert_eq!(
            sla_lines(&store, moved, "sla_breached").await,
            vec![utc(20, 14, 0)]
        );
        assert!(sla_lines(&store, excluded, "sla_at_risk").await.is_empty());
        assert!(sla_lines(&store, excluded, "sla_breached").await.is_empty());
        assert_eq!(
            store.ticket(excluded).await.expect("ticket").sla_outcome,
            Some(guichet_tickets::ticket::SlaOutcome::Excluded)
        );
        // A restart keeps all three where they are.
        drop(runner);
        let mut runner = SlaRunner::start(
            store.clone(),
            engine.clone(),
            policy.clone(),
            utc(20, 16, 1),
        )
        .await
        .expect("runner");
        runner.step(utc(21, 16, 0)).await.expect("step");
        assert_eq!(sla_lines(&store, moved, "sla_breached").await.len(), 1);
        assert!(sla_lines(&store, excluded, "sla_breached").await.is_empty());
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn open_p1_tickets_are_chased_up_every_24_hours() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = guichet::config::load_demo().expect("demo config").config;
    let policy = live_policy(&config).expect("policy");
    for db in databases(dir.path(), "sla_runner_chase").await {
        let store = Store::open(&db.url()).await.expect("store");
        let engine = engine_for(&config).expect("engine");
        // Monday 18 May 2026 07:00 UTC: a P1 and a P3 ticket.
        let created = utc(18, 7, 0);
        let mut runner = SlaRunner::start(store.clone(), engine.clone(), policy.clone(), created)
            .await
            .expect("runner");
        let draft = NewTicket::simplified(Nature::Incident, "Messagerie coupée", "Mme Roux");
        let urgent = store
            .create_ticket(&draft, "agent1", created)
            .await
            .expect("ticket");
        store
            .change_priority(urgent, Priority::P1, "direction", "agent1", created)
            .await
            .expect("priority");
        let routine = store
            .create_ticket(&draft, "agent1", created)
            .await
            .expect("ticket");
        runner.step(utc(18, 7, 1)).await.expect("step");
        runner.step(utc(19, 6, 59)).await.expect("step");
        assert!(sla_lines(&store, urgent, "chase_up").await.is_empty());
        // 24 h without a chase-up: the runner chases it up, once.
        runner.step(utc(19, 7, 0)).await.expect("step");
        runner.step(utc(19, 7, 1)).await.expect("step");
        assert_eq!(
            sla_lines(&store, urgent, "chase_up").await,
            vec![utc(19, 7, 0)]
        );
        // An agent's chase-up at 12:00 restarts the cycle: next one Wednesday 12:00,
        // across a restart of the runner.
        store
            .add_note(
                urgent,
                guichet_tickets::ticket::NoteKind::ChaseUp,
                "agent2",
                "Relance du groupe réseau",
                utc(19, 12, 0),
            )
            .await
            .expect("chase-up note");
        runner.step(utc(19, 12, 1)).await.expect("step");
        runner.step(utc(20, 11, 59)).await.expect("step");
        drop(runner);
        let mut runner = SlaRunner::start(
            store.clone(),
            engine.clone(),
            policy.clone(),
            utc(20, 11, 59),
        )
        .await
        .expect("runner");
        assert_eq!(sla_lines(&store, urgent, "chase_up").await.len(), 1);
        runner.step(utc(20, 12, 0)).await.expect("step");
        assert_eq!(
            sla_lines(&store, urgent, "chase_up").await,
            vec![utc(19, 7, 0), utc(20, 12, 0)]
        );
        let trail = store.ticket_audit(urgent).await.expect("audit");
        assert_eq!(
            guichet::sla_runner::chase_up::chase_summary(&trail).as_deref(),
            Some("Relances : 3 (dont 2 automatiques), la dernière le 20/05/2026 à 14:00.")
        );
        // Resolved: no more chase-ups; the P3 ticket never had one.
        store
            .transition_ticket(urgent, &TicketAction::Resolve, "agent1", utc(20, 13, 0))
            .await
            .expect("resolve");
        runner.step(utc(20, 13, 1)).await.expect("step");
        runner.step(utc(22, 13, 0)).await.expect("step");
        assert_eq!(sla_lines(&store, urgent, "chase_up").await.len(), 2);
        assert!(sla_lines(&store, routine, "chase_up").await.is_empty());
        store.close().await;
    }
}

/// A calendar change counts from the instant it was saved: a closure added for today at
/// 14:00 keeps the morning, removing it at 16:00 reopens the clock from then (the closed two
/// hours stay closed), and a restart rebuilds the same figures from the stored changes.
#[tokio::test(flavor = "multi_thread")]
async fn calendar_changes_count_from_when_they_were_saved_and_survive_a_restart() {
    use guichet::live_settings;
    use guichet::sla_runner::SlaChange;
    use guichet_tickets::admin::NewCalendarException;

    let dir = tempfile::tempdir().expect("temp dir");
    let config = guichet::config::load_demo().expect("demo config").config;
    let policies = guichet::sla_runner::live_policies(&config).expect("policies");
    for db in databases(dir.path(), "sla_calendar_history").await {
        let store = Store::open(&db.url()).await.expect("store");
        let (engine, newest) = live_settings::sla_engine(&store, &config)
            .await
            .expect("engine");
        let mut runner = SlaRunner::start(
            store.clone(),
            engine,
            live_settings::with_versions(policies.clone(), newest.clone()),
            utc(19, 7, 0),
        )
        .await
        .expect("runner");
        let handle = runner.handle();
        let send_history = |store: Store| {
            let config = config.clone();
            let handle = handle.clone();
            async move {
                let history = live_settings::calendar_history(&store, &config, "louvre")
                    .await
                    .expect("history")
                    .expect("louvre");
                assert!(handle.send(SlaChange::Calendar {
                    name: "louvre".to_owned(),
                    history,
                }));
            }
        };

        // A P2 ticket (8 business hours on the Louvre grid) opened Tuesday 19 May 2026 at
        // 09:00 Paris (07:00 UTC): due 17:00 Paris.
        let draft = NewTicket::simplified(Nature::Incident, "Messagerie lente", "M. Bernard");
        let t = store
            .create_ticket(&draft, "agent1", utc(19, 7, 0))
            .await
            .expect("ticket");
        store
            .change_priority(t, Priority::P2, "gêne importante", "agent1", utc(19, 7, 0))
            .await
            .expect("priority");
        runner.step(utc(19, 7, 1)).await.expect("step");
        let resolve = |s: Option<guichet_tickets::sla::SlaStatus>| {
            let r = s.expect("status").resolve.expect("resolution target");
            (r.consumed, r.due)
        };
        let hours = chrono::TimeDelta::hours;

        // 14:00 Paris: today is closed from now on. The five hours of the morning stay
        // counted; three are left for Wednesday: due 12:00 Paris.
        let closure = store
            .add_calendar_exception(
                &NewCalendarException {
                    calendar: "louvre".to_owned(),
                    date: chrono::NaiveDate::from_ymd_opt(2026, 5, 19).expect("date"),
                    until: None,
                    hours: None,
                    label: "Fermeture exceptionnelle".to_owned(),
                },
                "admin",
                utc(19, 12, 0),
            )
            .await
            .expect("closure");
        send_history(store.clone()).await;
        runner.step(utc(19, 12, 1)).await.expect("step");
        assert_eq!(
            resolve(runner.engine().status(t, utc(19, 13, 0))),
            (hours(5), Some(utc(20, 10, 0)))
        );

        // 16:00 Paris: the closure is withdrawn. 14:00-16:00 stays closed; the clock runs
        // again until 18:00 (seven hours), at risk (six) at 17:00, due Wednesday 10:00.
        store
            .remove_calendar_exception(closure, "admin", utc(19, 14, 0))
            .await
            .expect("removed");
        send_history(store.clone()).await;
        runner.step(utc(19, 15, 30)).await.expect("step");
        assert_eq!(
            sla_lines(&store, t, "sla_at_risk").await,
            vec![utc(19, 15, 0)]
        );
        assert_eq!(
            resolve(runner.engine().status(t, utc(19, 17, 0))),
            (hours(7), Some(utc(20, 8, 0)))
        );
        drop(runner);

        // A restart rebuilds the same history from the store: the same figures, read as the
        // ticket form does and by the new runner, which breaches Wednesday 10:00 Paris.
        let (engine, newest) = live_settings::sla_engine(&store, &config)
            .await
            .expect("engine");
        assert_eq!(
            engine
                .calendar_history("louvre")
                .map(|h| h.changes().collect::<Vec<_>>()),
            Some(vec![utc(19, 12, 0), utc(19, 14, 0)])
        );
        assert_eq!(
            resolve(
                store
                    .ticket_sla_status(t, &engine, utc(19, 17, 0))
                    .await
                    .expect("status")
            ),
            (hours(7), Some(utc(20, 8, 0)))
        );
        let mut runner = SlaRunner::start(
            store.clone(),
            engine,
            live_settings::with_versions(policies.clone(), newest),
            utc(20, 7, 0),
        )
        .await
        .expect("restart");
        runner.step(utc(20, 8, 30)).await.expect("step");
        assert_eq!(
            sla_lines(&store, t, "sla_at_risk").await,
            vec![utc(19, 15, 0)]
        );
        assert_eq!(
            sla_lines(&store, t, "sla_breached").await,
            vec![utc(20, 8, 0)]
        );
        // The removed closure is no longer listed, but kept for the history.
        assert!(
            store
                .calendar_exceptions(Some("louvre"))
                .await
                .expect("exceptions")
                .is_empty()
        );
        store.close().await;
    }
}
