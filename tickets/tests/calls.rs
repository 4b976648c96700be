//! Call log on both backends.

mod common;

use common::at;
use guichet_tickets::{CallOutcome, CallState, CallUpdate, NewCall, Store};

fn new_call(id: &str, number: &str, when: &str) -> NewCall {
    NewCall {
        sip_call_id: id.to_owned(),
        line: "8585".to_owned(),
        caller_number: number.to_owned(),
        caller_name: Some("Jeanne Martin".to_owned()),
        person_id: None,
        vip: false,
        p0: false,
        arrived_at: at(when),
    }
}

both_backends!(a_call_life_is_recorded_with_every_timestamp, |store| {
    let id = store
        .open_call(&new_call(
            "abc@host",
            "+33140158000",
            "2026-03-02T09:00:00Z",
        ))
        .await
        .unwrap();
    // Durable before answer: a second handle on the same database sees it.
    let rec = store.call(id).await.unwrap();
    assert_eq!(rec.state, CallState::Ivr);
    assert_eq!(rec.outcome, None);
    store
        .update_call(
            id,
            &CallUpdate::IvrExited {
                at: at("2026-03-02T09:00:20Z"),
                node: "menu".into(),
            },
        )
        .await
        .unwrap();
    store
        .update_call(
            id,
            &CallUpdate::Queued {
                at: at("2026-03-02T09:00:21Z"),
                queue: "support".into(),
            },
        )
        .await
        .unwrap();
    store
        .update_call(
            id,
            &CallUpdate::Offered {
                at: at("2026-03-02T09:00:30Z"),
                agent: "alice".into(),
            },
        )
        .await
        .unwrap();
    store
        .update_call(
            id,
            &CallUpdate::Answered {
                at: at("2026-03-02T09:00:35Z"),
                agent: "alice".into(),
            },
        )
        .await
        .unwrap();
    store
        .close_call(id, CallOutcome::Answered, at("2026-03-02T09:07:35Z"), true)
        .await
        .unwrap();
    assert_eq!(store.call(id).await.unwrap().state, CallState::WrapUp);
    store
        .update_call(
            id,
            &CallUpdate::WrapUpEnded {
                at: at("2026-03-02T09:08:35Z"),
            },
        )
        .await
        .unwrap();
    let rec = store.call(id).await.unwrap();
    assert_eq!(rec.state, CallState::Ended);
    assert_eq!(rec.outcome, Some(CallOutcome::Answered));
    assert_eq!(rec.queue.as_deref(), Some("support"));
    assert_eq!(rec.agent.as_deref(), Some("alice"));
    assert_eq!(rec.ivr_exit_node.as_deref(), Some("menu"));
    assert_eq!(rec.ivr_exited_at, Some(at("2026-03-02T09:00:20Z")));
    assert_eq!(rec.queued_at, Some(at("2026-03-02T09:00:21Z")));
    assert_eq!(rec.offered_at, Some(at("2026-03-02T09:00:30Z")));
    assert_eq!(rec.answered_at, Some(at("2026-03-02T09:00:35Z")));
    assert_eq!(rec.ended_at, Some(at("2026-03-02T09:07:35Z")));
    assert_eq!(rec.wrap_up_ended_at, Some(at("2026-03-02T09:08:35Z")));
    assert!(!rec.interrupted);
    let kinds: Vec<String> = store
        .call_events(id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "arrived",
            "ivr_exited",
            "queued",
            "offered",
            "answered",
            "ended",
            "wrap_up_ended"
        ]
    );
});

both_backends!(updating_an_unknown_call_is_not_found, |store| {
    let err = store
        .update_call(
            999,
            &CallUpdate::Queued {
                at: at("2026-03-02T09:00:00Z"),
                queue: "q".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            guichet_tickets::StoreError::NotFound {
                what: "call",
                id: 999
            }
        ),
        "{err}"
    );
    // And no orphan event was left behind by the failed transaction.
    assert!(store.call_events(999).await.unwrap().is_empty());
});

both_backends!(in_flight_calls_are_marked_interrupted_at_start, |store| {
    let done = store
        .open_call(&new_call("1", "+33140158000", "2026-03-02T09:00:00Z"))
        .await
        .unwrap();
    store
        .close_call(
            done,
            CallOutcome::AbandonedInIvr,
            at("2026-03-02T09:00:10Z"),
            false,
        )
        .await
        .unwrap();
    let queued = store
        .open_call(&new_call("2", "+33140158001", "2026-03-02T09:01:00Z"))
        .await
        .unwrap();
    store
        .update_call(
            queued,
            &CallUpdate::Queued {
                at: at("2026-03-02T09:01:10Z"),
                queue: "support".into(),
            },
        )
        .await
        .unwrap();
    let talking = store
        .open_call(&new_call("3", "+33140158002", "2026-03-02T09:02:00Z"))
        .await
        .unwrap();
    store
        .update_call(
            talking,
            &CallUpdate::Answered {
                at: at("2026-03-02T09:02:10Z"),
                agent: "bob".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(store.calls_in_flight().await.unwrap().len(), 2);

    let marked = store
        .mark_in_flight_interrupted(at("2026-03-02T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(marked, 2);
    let q = store.call(queued).await.unwrap();
    assert!(q.interrupted);
    assert_eq!(q.state, CallState::Queued, "last state is kept");
    let t = store.call(talking).await.unwrap();
    assert!(t.interrupted);
    assert_eq!(t.state, CallState::Answered);
    assert!(!store.call(done).await.unwrap().interrupted);
    let last = store.call_events(queued).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.detail.as_deref()),
        ("interrupted", Some("queued"))
    );
    assert!(store.calls_in_flight().await.unwrap().is_empty());
    // Running it again marks nothing more.
    assert_eq!(
        store
            .mark_in_flight_interrupted(at("2026-03-02T11:00:00Z"))
            .await
            .unwrap(),
        0
    );
});

both_backends!(caller_history_and_period_queries, |store| {
    for (i, when) in [
        "2026-03-01T08:00:00Z",
        "2026-03-02T08:00:00Z",
        "2026-03-03T08:00:00Z",
    ]
    .iter()
    .enumerate()
    {
        let id = store
            .open_call(&new_call(&format!("a{i}"), "+33611223344", when))
            .await
            .unwrap();
        store
            .close_call(
                id,
                CallOutcome::Answered,
                at(when) + chrono::Duration::minutes(5),
                false,
            )
            .await
            .unwrap();
    }
    store
        .open_call(&new_call("other", "+33699999999", "2026-03-02T09:00:00Z"))
        .await
        .unwrap();
    let history = store.caller_history("+33611223344", 10).await.unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(
        history[0].arrived_at,
        at("2026-03-03T08:00:00Z"),
        "newest first"
    );
    assert_eq!(
        store.caller_history("+33611223344", 2).await.unwrap().len(),
        2
    );
    let day2 = store
        .calls_between(at("2026-03-02T00:00:00Z"), at("2026-03-03T00:00:00Z"))
        .await
        .unwrap();
    let ids: Vec<&str> = day2.iter().map(|c| c.sip_call_id.as_str()).collect();
    assert_eq!(ids, ["a1", "other"]);
});

both_backends!(a_reopened_store_keeps_finished_calls, |store| {
    let id = store
        .open_call(&new_call("x", "4521", "2026-03-02T09:00:00Z"))
        .await
        .unwrap();
    store
        .close_call(id, CallOutcome::Closed, at("2026-03-02T09:00:05Z"), false)
        .await
        .unwrap();
    let rows = store
        .calls_between(at("2026-03-01T00:00:00Z"), at("2026-04-01T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].caller_number, "4521");
    assert_eq!(rows[0].outcome, Some(CallOutcome::Closed));
});

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("new.db").display());
    let store = Store::open(&url).await.unwrap();
    let id = store
        .open_call(&new_call("w", "+33140158000", "2026-03-02T09:00:00Z"))
        .await
        .unwrap();
    drop(store);
    // Reopening applies no migration twice and finds the call.
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.call(id).await.unwrap().sip_call_id, "w");
    assert!(dir.path().join("new.db-wal").exists(), "WAL file present");
    println!("sqlite_file_is_created_in_wal_mode_and_survives_reopen ran on sqlite");
}

#[tokio::test]
async fn unsupported_urls_are_refused_without_leaking_passwords() {
    let err = Store::open("mysql://root:secret@localhost/db")
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("unsupported"), "{msg}");
    assert!(!msg.contains("secret"), "{msg}");
}

#[tokio::test]
async fn an_in_memory_sqlite_store_reads_what_it_wrote() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    let id = store
        .open_call(&new_call("m", "4521", "2026-03-02T09:00:00Z"))
        .await
        .unwrap();
    assert_eq!(store.calls_in_flight().await.unwrap()[0].id, id);
    println!("an_in_memory_sqlite_store_reads_what_it_wrote ran on sqlite");
}
