//! `kill -9` in the middle of calls: a second process writes call records
//! and is killed with SIGKILL; the finished calls are intact and the calls in
//! flight are marked interrupted at the next start. Both backends.
//! Also: the PostgreSQL databases a killed test run left behind are dropped
//! by the next run.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use chrono::Duration;
use common::at;
use guichet_tickets::{CallOutcome, CallUpdate, NewCall, Store};

const CHILD_ENV: &str = "GUICHET_CRASH_CHILD_URL";
const FINISHED: i64 = 40;
const IN_FLIGHT: i64 = 7;

/// The child's work: finish 40 calls, leave 7 in flight, say so, then wait
/// to be killed.
async fn child(url: &str) {
    let store = Store::open(url).await.expect("child opens the store");
    let t0 = at("2026-03-02T09:00:00Z");
    for i in 0..FINISHED + IN_FLIGHT {
        let t = t0 + Duration::seconds(i * 10);
        let id = store
            .open_call(&NewCall {
                sip_call_id: format!("crash-{i}"),
                line: "8585".into(),
                caller_number: "4521".into(),
                caller_name: None,
                person_id: None,
                vip: false,
                p0: false,
                arrived_at: t,
            })
            .await
            .unwrap();
        store
            .update_call(
                id,
                &CallUpdate::Queued {
                    at: t + Duration::seconds(2),
                    queue: "support".into(),
                },
            )
            .await
            .unwrap();
        if i < FINISHED {
            store
                .update_call(
                    id,
                    &CallUpdate::Answered {
                        at: t + Duration::seconds(5),
                        agent: "alice".into(),
                    },
                )
                .await
                .unwrap();
            store
                .close_call(id, CallOutcome::Answered, t + Duration::seconds(8), false)
                .await
                .unwrap();
        }
    }
    println!("READY");
    std::thread::sleep(std::time::Duration::from_secs(60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_calls_loses_no_finished_call() {
    if let Ok(url) = std::env::var(CHILD_ENV) {
        child(&url).await;
        return;
    }
    for db in common::databases("kill_9_mid_calls").await {
        println!(
            "kill_9_mid_calls_loses_no_finished_call ran on {}",
            db.label
        );
        let mut proc = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "kill_9_mid_calls_loses_no_finished_call",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, &db.url)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the writer process");
        let stdout = proc.stdout.take().unwrap();
        let ready = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("READY"));
        assert!(ready, "the writer process never got ready");
        proc.kill().expect("SIGKILL the writer"); // Child::kill is SIGKILL on Unix.
        proc.wait().unwrap();

        // "Next start": a fresh handle on the same database.
        db.store.close().await;
        let store = Store::open(&db.url).await.unwrap();
        let marked = store
            .mark_in_flight_interrupted(at("2026-03-02T12:00:00Z"))
            .await
            .unwrap();
        assert_eq!(marked, IN_FLIGHT as u64);
        let calls = store
            .calls_between(at("2026-03-02T00:00:00Z"), at("2026-03-03T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!(calls.len() as i64, FINISHED + IN_FLIGHT);
        let finished: Vec<_> = calls
            .iter()
            .filter(|c| c.outcome == Some(CallOutcome::Answered))
            .collect();
        assert_eq!(finished.len() as i64, FINISHED);
        assert!(
            finished
                .iter()
                .all(|c| !c.interrupted && c.answered_at.is_some() && c.ended_at.is_some())
        );
        let interrupted: Vec<_> = calls.iter().filter(|c| c.interrupted).collect();
        assert_eq!(interrupted.len() as i64, IN_FLIGHT);
        assert!(
            interrupted
                .iter()
                .all(|c| c.queue.as_deref() == Some("support") && c.ended_at.is_none())
        );
        store.close().await;
        db.cleanup().await;
    }
}

/// Above the kernel's PID_MAX_LIMIT (4,194,304): never a running process.
const DEAD_PID: u32 = 4_194_305;

#[test]
fn test_database_names_give_their_creating_process() {
    use common::pg_cleanup::creator_pid;
    assert_eq!(creator_pid("guichet_e2e_call_path_1234_56789"), Some(1234));
    assert_eq!(creator_pid("guichet_t_open_ticket_77_0"), Some(77));
    assert_eq!(creator_pid("guichet_test"), None);
    assert_eq!(creator_pid("guichet_t_nopid"), None);
    assert_eq!(creator_pid("other_t_x_12_0"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn databases_left_by_a_dead_test_process_are_dropped() {
    use sqlx::Connection as _;
    let Ok(admin_url) = std::env::var("GUICHET_TEST_POSTGRES_URL") else {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "GUICHET_TEST_POSTGRES_URL is required under CI=true"
        );
        return;
    };
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("admin connection");
    let dead = format!("guichet_t_sweep_{DEAD_PID}_0");
    let alive = format!("guichet_t_sweep_{}_999", std::process::id());
    for name in [&dead, &alive] {
        common::pg_cleanup::drop_database(&mut admin, name).await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
    }
    common::pg_cleanup::sweep_stale_test_databases(&mut admin).await;
    let left: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'guichet\\_t\\_sweep\\_%'",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(
        !left.contains(&dead),
        "the dead process's database is dropped: {left:?}"
    );
    assert!(
        left.contains(&alive),
        "a live process's database is kept: {left:?}"
    );
    common::pg_cleanup::drop_test_database(&admin_url, &alive).await;
}
