//! `kill -9` in the middle of calls: a second process writes call records
//! and is killed with SIGKILL; the finished calls are intact and the calls in
//! flight are marked interrupted at the next start. Both backends.

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
