//! Overload and shutdown, end to end: above the configured number of concurrent calls new
//! calls get 503 with Retry-After and the call in progress is untouched; on SIGTERM the server
//! refuses new calls the same way, lets the call in progress finish, then exits cleanly.
//! Each refused call is in the call log (outcome refused, with its reason) and the day's
//! figures count it as presented and not answered.

mod support;

use std::time::Duration;

use guichet_tickets::{CallOutcome, Store};
use support::*;

const OTHER_NUMBER: &str = "+33140205050";

async fn wait_for_answer(db: &Db, number: &str) {
    let store = Store::open(&db.url()).await.expect("store");
    for _ in 0..200 {
        let history = store.caller_history(number, 1).await.expect("history");
        if history.first().is_some_and(|c| c.answered_at.is_some()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the call was not answered");
}

/// The refused call of `number` is in the call log: closed at once as refused (not answered,
/// not interrupted), its reason in a `refused` event.
async fn assert_refused(store: &Store, number: &str, reason: &str) {
    let history = store.caller_history(number, 5).await.expect("history");
    let refused: Vec<_> = history
        .iter()
        .filter(|c| c.outcome == Some(CallOutcome::Refused))
        .collect();
    assert_eq!(refused.len(), 1, "{history:?}");
    let call = refused[0];
    assert_eq!(call.line, "8585");
    assert!(call.answered_at.is_none() && !call.interrupted, "{call:?}");
    assert_eq!(call.ended_at, Some(call.arrived_at), "{call:?}");
    let events = store.call_events(call.id).await.expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.kind == "refused" && e.detail.as_deref() == Some(reason)),
        "{events:?}"
    );
}

/// The day's figures of the dashboards (Paris time): presented, answered, refused.
async fn day_figures(store: &Store) -> guichet_acd::stats::Indicators {
    let day: chrono::DateTime<chrono::Utc> = "2026-11-23T23:00:00Z".parse().expect("day");
    store
        .dashboard(
            day,
            day + chrono::Duration::days(1),
            guichet_tickets::dashboard::Granularity::Hour,
            chrono_tz::Europe::Paris,
            &guichet_acd::stats::StatsParams::default(),
        )
        .await
        .expect("dashboard")
        .totals
}

#[tokio::test(flavor = "multi_thread")]
async fn above_max_concurrent_calls_new_calls_get_503_and_the_call_in_progress_goes_on() {
    if !have("sipp") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::Sqlite(dir.path().join("overload.db"));
    let server = Server::start(
        dir.path(),
        &db,
        &ServerOptions {
            clock_start: OPEN_HOURS,
            edits: vec![
                md5_only(),
                (
                    "max_concurrent_calls = 500",
                    "max_concurrent_calls = 1".to_owned(),
                ),
            ],
        },
    );
    let phone_port = free_udp_port();
    let phone = answering_desk_phone(dir.path(), "amelie", phone_port, 4000);
    register_desk_phone(dir.path(), &server, "1001", "demo-1001-secret", phone_port);
    let first = caller(
        dir.path(),
        "first",
        &server,
        "8585",
        VIP_NUMBER,
        &dtmf_pcap("1"),
        100,
    );
    wait_for_answer(&db, VIP_NUMBER).await;
    refused_caller(dir.path(), "second", &server, "8585", OTHER_NUMBER)
        .expect_success(Duration::from_secs(10), &server);
    first.expect_success(Duration::from_secs(30), &server);
    phone.expect_success(Duration::from_secs(10), &server);
    let store = Store::open(&db.url()).await.expect("store");
    let history = store.caller_history(VIP_NUMBER, 1).await.expect("history");
    assert_eq!(history[0].outcome, Some(CallOutcome::Answered));
    // The refused call was presented all the same: it is in the call log and the figures
    // count it as presented and not answered.
    assert_refused(&store, OTHER_NUMBER, "too_many_calls").await;
    let day = day_figures(&store).await;
    assert_eq!(
        (day.presented, day.answered, day.refused),
        (2, 1, 1),
        "{day:?}"
    );
    assert_eq!(
        (day.answer_rate.numerator, day.answer_rate.denominator),
        (1, 2)
    );
    let metrics = reqwest::get(format!("http://{}/metrics", server.http))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("guichet_sip_responses_sent_total{code=\"503\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("guichet_calls_refused_total{reason=\"too_many_calls\"} 1")
            && metrics.contains("guichet_calls_refused_unrecorded_total 0"),
        "{metrics}"
    );
    // Media counters summed over the calls' legs, released ones included: the answered
    // call's caller and agent legs are closed, its prompt was sent, the clock is healthy.
    let counter = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from {metrics}"))
    };
    assert!(counter("guichet_media_sessions_released_total") >= 2);
    assert!(counter("guichet_media_packets_sent_total") > 100);
    assert!(counter("guichet_media_clock_ticks_total") > 1000);
    assert!(
        counter("guichet_media_clock_ticks_late_total") * 100
            <= counter("guichet_media_clock_ticks_total"),
        "{metrics}"
    );
    counter("guichet_media_packets_lost_total");
    counter("guichet_media_packets_late_total");
    // Each finished call logs its caller leg's media quality once.
    assert!(
        server
            .log()
            .lines()
            .any(|l| l.contains("caller media") && l.contains("packets_sent=")),
        "{}",
        server.log()
    );
    // Operators see the overload at warning level.
    assert!(
        server
            .log()
            .lines()
            .any(|l| l.contains("WARN") && l.contains("calls refused with 503")),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_sigterm_new_calls_get_503_the_call_in_progress_finishes_and_the_server_exits() {
    if !have("sipp") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::Sqlite(dir.path().join("drain.db"));
    let mut server = Server::start(
        dir.path(),
        &db,
        &ServerOptions {
            clock_start: OPEN_HOURS,
            edits: vec![md5_only()],
        },
    );
    let phone_port = free_udp_port();
    let phone = answering_desk_phone(dir.path(), "amelie", phone_port, 4000);
    register_desk_phone(dir.path(), &server, "1001", "demo-1001-secret", phone_port);
    let first = caller(
        dir.path(),
        "first",
        &server,
        "8585",
        VIP_NUMBER,
        &dtmf_pcap("1"),
        100,
    );
    wait_for_answer(&db, VIP_NUMBER).await;
    server.signal("TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    refused_caller(dir.path(), "late", &server, "8585", OTHER_NUMBER)
        .expect_success(Duration::from_secs(10), &server);
    first.expect_success(Duration::from_secs(30), &server);
    phone.expect_success(Duration::from_secs(10), &server);
    let status = server.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "exit {status}: {}", server.log());
    let store = Store::open(&db.url()).await.expect("store");
    let history = store.caller_history(VIP_NUMBER, 1).await.expect("history");
    assert_eq!(history[0].outcome, Some(CallOutcome::Answered));
    assert!(!history[0].interrupted);
    // The call refused for the shutdown was recorded before the exit.
    assert_refused(&store, OTHER_NUMBER, "shutdown").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn above_max_calls_per_second_a_new_call_gets_503_and_the_call_in_progress_goes_on() {
    if !have("sipp") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::Sqlite(dir.path().join("rate.db"));
    let server = Server::start(
        dir.path(),
        &db,
        &ServerOptions {
            clock_start: OPEN_HOURS,
            edits: vec![
                md5_only(),
                (
                    "max_calls_per_second = 50",
                    "max_calls_per_second = 1".to_owned(),
                ),
            ],
        },
    );
    // Both SIPp processes start together; the second sends its INVITE 300 ms later, inside
    // the same second as the first call's, which was admitted.
    let second = refused_caller_after(dir.path(), "second", &server, "8585", OTHER_NUMBER, 300);
    let first = caller(
        dir.path(),
        "first",
        &server,
        "8585",
        VIP_NUMBER,
        &dtmf_pcap("1"),
        100,
    );
    second.expect_success(Duration::from_secs(10), &server);
    // The first call was not disturbed: nobody is logged in, so it goes through the IVR and
    // ends with a callback request, as without the refused call.
    first.expect_success(Duration::from_secs(40), &server);
    let store = Store::open(&db.url()).await.expect("store");
    let history = store.caller_history(VIP_NUMBER, 1).await.expect("history");
    assert_eq!(history[0].outcome, Some(CallOutcome::OverflowedCallback));
    assert_refused(&store, OTHER_NUMBER, "call_rate").await;
    // A second later the rate window has moved on: a new call is taken again.
    caller(
        dir.path(),
        "third",
        &server,
        "8585",
        OTHER_NUMBER,
        &dtmf_pcap("1"),
        4000,
    )
    .expect_success(Duration::from_secs(40), &server);
    let metrics = reqwest::get(format!("http://{}/metrics", server.http))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("guichet_sip_responses_sent_total{code=\"503\"} 1"),
        "{metrics}"
    );
    assert_eq!(
        store
            .caller_history(OTHER_NUMBER, 1)
            .await
            .expect("history")[0]
            .outcome,
        Some(CallOutcome::OverflowedCallback)
    );
    let day = day_figures(&store).await;
    assert_eq!(
        (day.presented, day.answered, day.refused, day.overflowed),
        (3, 0, 1, 2),
        "{day:?}"
    );
    assert!(
        metrics.contains("guichet_calls_refused_total{reason=\"call_rate\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_refused_calls_is_recorded_within_the_budget_and_counted_beyond_it() {
    if !have("sipp") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::Sqlite(dir.path().join("flood.db"));
    let server = Server::start(
        dir.path(),
        &db,
        &ServerOptions {
            clock_start: OPEN_HOURS,
            edits: vec![
                md5_only(),
                // Every call is over the limit; five refusals a second get a record.
                (
                    "max_concurrent_calls = 500",
                    "max_concurrent_calls = 0\nrefused_calls_recorded_per_second = 5".to_owned(),
                ),
            ],
        },
    );
    const CALLS: u64 = 300;
    let media = free_even_port_range(4);
    let started = std::time::Instant::now();
    Sipp::start(
        dir.path(),
        "flood",
        "caller_refused_503.xml",
        &[
            "-s".into(),
            "8585".into(),
            "-key".into(),
            "caller".into(),
            OTHER_NUMBER.into(),
            "-p".into(),
            free_udp_port().to_string(),
            "-mp".into(),
            media.to_string(),
            // 300 calls at 300 a second: every one gets its 503.
            "-m".into(),
            CALLS.to_string(),
            "-r".into(),
            "300".into(),
            server.sip_addr().to_string(),
        ],
    )
    .expect_success(Duration::from_secs(20), &server);
    let flood_secs = started.elapsed().as_secs_f64();
    // The counts are handed to the writer once a second.
    let store = Store::open(&db.url()).await.expect("store");
    let day: chrono::DateTime<chrono::Utc> = "2026-11-23T23:00:00Z".parse().expect("day");
    let mut total = 0;
    for _ in 0..40 {
        let by_reason = store
            .refusals_between(day, day + chrono::Duration::days(1))
            .await
            .expect("refusals");
        total = by_reason.iter().map(|(_, n)| n).sum::<u64>();
        if total == CALLS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(total, CALLS, "every refusal recorded or counted");
    let recorded = store
        .caller_history(OTHER_NUMBER, 1000)
        .await
        .expect("history");
    assert!(
        recorded
            .iter()
            .all(|c| c.outcome == Some(CallOutcome::Refused)),
        "{recorded:?}"
    );
    // Five a second at most: the flood lasted about a second (SIPp's own pacing).
    let budget = 5 * (flood_secs.ceil() as usize + 1);
    assert!(
        (5..=budget).contains(&recorded.len()),
        "{} records in {flood_secs:.1} s",
        recorded.len()
    );
    let day_figures = day_figures(&store).await;
    assert_eq!(
        (
            day_figures.presented,
            day_figures.refused,
            day_figures.answered
        ),
        (CALLS, CALLS, 0)
    );
    let metrics = reqwest::get(format!("http://{}/metrics", server.http))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let unrecorded = CALLS - recorded.len() as u64;
    assert!(
        metrics.contains(&format!(
            "guichet_calls_refused_total{{reason=\"too_many_calls\"}} {CALLS}"
        )) && metrics.contains(&format!(
            "guichet_calls_refused_unrecorded_total {unrecorded}"
        )),
        "{metrics}"
    );
    println!(
        "{CALLS} refusals in {flood_secs:.2} s: {} recorded, {unrecorded} counted",
        recorded.len()
    );
}
