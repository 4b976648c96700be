//! Two `guichet serve` processes on one PostgreSQL database: weekly hours saved through the
//! administration API of node B, which does not run the SLA clocks, reach node A, which
//! does, through A's settings follower (every 2 s): A's switchboard opens the line (a caller
//! of A hears the closed-hours answer before, the IVR after), and A's SLA runner counts the
//! new hours from the instant B saved them. PostgreSQL only (SQLite
//! serves a single node); skipped with a printed reason when `GUICHET_TEST_POSTGRES_URL` is
//! not set, and failing then under `CI=true`.

mod support;
#[path = "support/web.rs"]
mod web;

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use guichet_tickets::Store;
use guichet_tickets::settings::CALENDAR_HOURS;
use guichet_tickets::ticket::{Nature, NewTicket, Priority};
use reqwest::header::COOKIE;
use serde_json::{Value, json};
use support::*;
use web::*;

const ADMIN_PASSWORD: &str = "Guichet-Admin-2026!";
const DEMO_PASSWORD: &str = "Guichet-Demo-2026!";

/// Both nodes run as if it were Tuesday 24 November 2026, 07:00 in Paris: the Louvre line
/// (Monday to Friday 09:00-18:00) is closed.
const CLOCK_START: &str = "2026-11-24T06:00:00Z";

/// Waits (at most `within`) until the server's log contains `text`.
fn wait_for_log(server: &Server, text: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while !server.log().contains(text) {
        assert!(
            Instant::now() < deadline,
            "no {text:?} in the log: {}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET path` with a session cookie, as JSON.
async fn get_json(server: &Server, cookie: &str, path: &str) -> Value {
    let response = http()
        .get(format!("http://{}{path}", server.http))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.expect("JSON")
}

/// Whether the queue `name` is open in the node's live ACD picture.
async fn queue_open(server: &Server, cookie: &str, name: &str) -> bool {
    let snapshot = get_json(server, cookie, "/api/v1/snapshot").await;
    snapshot["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .find(|q| q["name"] == name)
        .unwrap_or_else(|| panic!("no queue {name}: {snapshot}"))["open"]
        .as_bool()
        .expect("open flag")
}

/// The instants of the SLA runner's `sla_at_risk` lines of `ticket`.
async fn at_risk_lines(store: &Store, ticket: i64) -> Vec<DateTime<Utc>> {
    store
        .ticket_audit(ticket)
        .await
        .expect("audit")
        .into_iter()
        .filter(|a| a.field == "sla_at_risk" && a.actor == "sla")
        .map(|a| a.at)
        .collect()
}

/// Calls the Louvre line of `server` from `number` and returns what its IVR found when it
/// checked the opening hours (the call's `hours_checked` event), once logged; the caller
/// hangs up then. `after`: the id of the caller's previous call, if any.
async fn hours_heard(
    store: &Store,
    server: &Server,
    number: &str,
    after: Option<i64>,
) -> (i64, String) {
    let call = caller(
        &server.dir,
        "louvre",
        server,
        "8585",
        number,
        &dtmf_pcap("1"),
        100,
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let newest = store
            .caller_history(number, 1)
            .await
            .expect("history")
            .into_iter()
            .next()
            .filter(|c| Some(c.id) != after);
        if let Some(record) = newest {
            let events = store.call_events(record.id).await.expect("events");
            if let Some(detail) = events
                .iter()
                .filter_map(|e| e.detail.as_deref())
                .find(|d| d.contains("hours_checked"))
            {
                drop(call);
                return (record.id, detail.to_owned());
            }
        }
        assert!(
            Instant::now() < deadline,
            "no hours check logged for the call: {}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hours_saved_on_a_node_that_does_not_run_the_sla_clocks_reach_the_one_that_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(db) = databases(dir.path(), "settings_two_nodes")
        .await
        .into_iter()
        .find(|db| matches!(db, Db::Postgres(_)))
    else {
        eprintln!(
            "skipped: two nodes share a database only on PostgreSQL, and GUICHET_TEST_POSTGRES_URL is not set"
        );
        return;
    };
    let store = Store::open(&db.url()).await.expect("store");

    // A P0 ticket (2 business hours on the Louvre grid, at risk at 1 h 30) opened Monday
    // 23 November at 16:30:01 Paris: by Monday's close it has run 1 h 29 min 59 s, so it
    // is at risk after one more business second: Tuesday 09:00:01 with the usual hours.
    let opened = Utc
        .with_ymd_and_hms(2026, 11, 23, 15, 30, 1)
        .single()
        .expect("instant");
    let draft = NewTicket::simplified(Nature::Incident, "Serveur de fichiers arrêté", "M. Roux");
    let ticket = store
        .create_ticket(&draft, "amelie.martin", opened)
        .await
        .expect("ticket");
    store
        .change_priority(ticket, Priority::P0, "direction", "amelie.martin", opened)
        .await
        .expect("priority");

    let options = ServerOptions {
        clock_start: CLOCK_START,
        edits: vec![md5_only()],
    };
    let dir_a = dir.path().join("node-a");
    let dir_b = dir.path().join("node-b");
    for d in [&dir_a, &dir_b] {
        std::fs::create_dir_all(d).expect("node dir");
    }
    let node_a = Server::start(&dir_a, &db, &options);
    wait_for_log(
        &node_a,
        "this node runs the SLA clocks",
        Duration::from_secs(15),
    );
    let node_b = Server::start(&dir_b, &db, &options);
    wait_for_log(
        &node_b,
        "another node runs the SLA clocks",
        Duration::from_secs(15),
    );

    // Before the change: node A's line is closed and its runner, which restored the clock,
    // has nothing due before 09:00:01.
    let supervisor_a = session_cookie(&node_a, "chloe.durand", DEMO_PASSWORD).await;
    assert!(!queue_open(&node_a, &supervisor_a, "louvre-hotline").await);
    let sipp = have("sipp");
    let before = if sipp {
        let (id, hours) = hours_heard(&store, &node_a, ORDINARY_NUMBER, None).await;
        assert!(hours.contains(r#""state":"closed""#), "{hours}");
        Some(id)
    } else {
        None
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while store
        .ticket(ticket)
        .await
        .expect("ticket")
        .sla_state
        .is_none()
    {
        assert!(Instant::now() < deadline, "node A never saved the clock");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(at_risk_lines(&store, ticket).await.is_empty());

    // An administrator opens the Louvre line on Tuesdays from 06:00, through node B.
    let (cookie_b, csrf_b) = session_and_csrf(&node_b, "admin", ADMIN_PASSWORD).await;
    let hours = get_json(&node_b, &cookie_b, "/api/v1/admin/calendars/hours").await;
    let mut week = hours
        .as_array()
        .expect("calendars")
        .iter()
        .find(|c| c["name"] == "louvre")
        .expect("louvre hours")["value"]
        .clone();
    week["tuesday"] = json!(["06:00-18:00"]);
    let response = http()
        .put(format!(
            "http://{}/api/v1/admin/calendars/louvre/hours",
            node_b.http
        ))
        .header(COOKIE, &cookie_b)
        .header("x-csrf-token", &csrf_b)
        .body(week.to_string())
        .send()
        .await
        .expect("PUT hours");
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let saved = Instant::now();
    let saved_at = store
        .current_settings(CALENDAR_HOURS)
        .await
        .expect("settings")
        .into_iter()
        .find(|s| s.name == "louvre")
        .expect("stored hours")
        .created_at;

    // Node A follows (its settings follower looks every 2 s, its runner passes every
    // second): its switchboard opens the line, and its runner writes the at-risk event one
    // business second after the instant node B saved the hours (the time before is counted
    // with the hours in force then: none on Tuesday before the change). Node A's clock is
    // ahead of node B's (it started first), so that instant is already past for it.
    let bound = Duration::from_secs(8);
    let (mut line_opened, mut runner_followed) = (None, None);
    while line_opened.is_none() || runner_followed.is_none() {
        if line_opened.is_none() && queue_open(&node_a, &supervisor_a, "louvre-hotline").await {
            line_opened = Some(saved.elapsed());
        }
        let at_risk = at_risk_lines(&store, ticket).await;
        if runner_followed.is_none() && !at_risk.is_empty() {
            assert_eq!(at_risk, vec![saved_at + TimeDelta::seconds(1)]);
            runner_followed = Some(saved.elapsed());
        }
        assert!(
            saved.elapsed() < bound,
            "node A did not follow within {bound:?} (line opened after {line_opened:?}, \
             at-risk written after {runner_followed:?}): {}",
            node_a.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "node A followed node B's hours: line open after {line_opened:?}, \
         SLA at-risk written after {runner_followed:?}"
    );
    // A caller of the Louvre line on node A is now let in: its IVR finds the line open.
    if sipp {
        let (_, hours) = hours_heard(&store, &node_a, ORDINARY_NUMBER, before).await;
        assert!(hours.contains(r#""state":"open""#), "{hours}");
    }

    // Node A's ticket form reads the same clock: threatened, due 30 min 1 s after the
    // change (2 h in all), in Paris time.
    let due = (saved_at + TimeDelta::seconds(30 * 60 + 1))
        .with_timezone(&chrono_tz::Europe::Paris)
        .format("%d/%m/%Y à %H:%M")
        .to_string();
    let agent_a = session_cookie(&node_a, "amelie.martin", DEMO_PASSWORD).await;
    let page = http()
        .get(format!(
            "http://{}/agent/dossier?ticket_id={ticket}",
            node_a.http
        ))
        .header(COOKIE, &agent_a)
        .send()
        .await
        .expect("ticket form")
        .text()
        .await
        .expect("page");
    let line = page
        .split("<p id=\"delai-sla\">")
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .unwrap_or_else(|| panic!("no SLA line on node A's ticket form: {page}"));
    assert!(
        line.starts_with(&format!("Délai de résolution menacé : échéance le {due}")),
        "{line}"
    );
    drop(node_b);
    drop(node_a);
    store.close().await;
}
