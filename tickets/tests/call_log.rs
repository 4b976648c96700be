//! The call log's write-behind writer on both backends: batched writes land exactly as
//! one-by-one writes would, in order, and one bad write costs only itself.

mod common;

use chrono::TimeDelta;
use common::at;
use guichet_tickets::call_log::{CallLogWrite, CallLogWriter};
use guichet_tickets::{CallOutcome, CallState, CallUpdate, NewCall};

fn new_call(n: usize) -> NewCall {
    NewCall {
        sip_call_id: format!("load-{n}@host"),
        line: "8585".to_owned(),
        caller_number: format!("+3314099{n:04}"),
        caller_name: None,
        person_id: None,
        vip: true,
        p0: false,
        arrived_at: at("2026-11-24T09:00:00Z") + TimeDelta::milliseconds(n as i64),
    }
}

/// The writes of one answered call, as the switchboard hands them over.
fn life_of(call: i64, n: usize) -> Vec<CallLogWrite> {
    let t0 = at("2026-11-24T09:00:00Z") + TimeDelta::milliseconds(n as i64);
    let t = |ms: i64| t0 + TimeDelta::milliseconds(ms);
    vec![
        CallLogWrite::Event {
            call,
            at: t(1),
            kind: "ivr".into(),
            detail: format!("{{\"entered\":\"accueil\",\"call\":{n}}}"),
        },
        CallLogWrite::Update {
            call,
            update: CallUpdate::IvrExited {
                at: t(3450),
                node: "file_vip".into(),
            },
        },
        CallLogWrite::Update {
            call,
            update: CallUpdate::Queued {
                at: t(3451),
                queue: "louvre-hotline".into(),
            },
        },
        CallLogWrite::Update {
            call,
            update: CallUpdate::Offered {
                at: t(3460),
                agent: format!("charge.{n:05}"),
            },
        },
        CallLogWrite::Update {
            call,
            update: CallUpdate::Answered {
                at: t(3500),
                agent: format!("charge.{n:05}"),
            },
        },
        CallLogWrite::Close {
            call,
            outcome: CallOutcome::Answered,
            at: t(5000),
            wrap_up: true,
        },
        CallLogWrite::Update {
            call,
            update: CallUpdate::WrapUpEnded { at: t(5000) },
        },
    ]
}

const EXPECTED_KINDS: [&str; 8] = [
    "arrived",
    "ivr",
    "ivr_exited",
    "queued",
    "offered",
    "answered",
    "ended",
    "wrap_up_ended",
];

both_backends!(
    batched_writes_of_many_calls_land_in_order_with_every_field,
    |store| {
        let calls: Vec<NewCall> = (0..150).map(new_call).collect();
        let ids = store.open_calls(&calls).await.unwrap();
        let (log, task) = CallLogWriter::start(store.clone());
        // Interleaved as under load: step k of every call, then step k + 1.
        let lives: Vec<Vec<CallLogWrite>> = ids
            .iter()
            .enumerate()
            .map(|(n, &id)| {
                // With its legs' audio quality just before its close, as the switchboard
                // hands it: 300 rows in the batches' multi-row INSERTs.
                let mut life = life_of(id, n);
                life.insert(5, quality_write(id, n));
                life
            })
            .collect();
        for step in 0..lives[0].len() {
            for life in &lives {
                log.write(life[step].clone());
            }
        }
        log.flush().await;
        for (n, &id) in ids.iter().enumerate() {
            let rec = store.call(id).await.unwrap();
            assert_eq!(rec.state, CallState::Ended, "call {n}");
            assert_eq!(rec.outcome, Some(CallOutcome::Answered));
            assert_eq!(rec.ivr_exit_node.as_deref(), Some("file_vip"));
            assert_eq!(rec.queue.as_deref(), Some("louvre-hotline"));
            let agent = format!("charge.{n:05}");
            assert_eq!(rec.agent.as_deref(), Some(agent.as_str()));
            let arrived = rec.arrived_at;
            assert_eq!(
                rec.answered_at.map(|t| (t - arrived).num_milliseconds()),
                Some(3500)
            );
            assert_eq!(
                rec.ended_at.map(|t| (t - arrived).num_milliseconds()),
                Some(5000)
            );
            assert!(rec.wrap_up_ended_at.is_some());
            let events = store.call_events(id).await.unwrap();
            let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
            assert_eq!(kinds, EXPECTED_KINDS, "call {n}");
            let ivr = format!("{{\"entered\":\"accueil\",\"call\":{n}}}");
            assert_eq!(events[1].detail.as_deref(), Some(ivr.as_str()));
            assert_eq!(events[6].detail.as_deref(), Some("answered"));
            let CallLogWrite::MediaQuality { legs, .. } = quality_write(id, n) else {
                unreachable!()
            };
            assert_eq!(store.call_quality(id).await.unwrap(), legs, "call {n}");
        }
        // The task ends once every handle is gone.
        drop(log);
        tokio::time::timeout(std::time::Duration::from_secs(10), task)
            .await
            .expect("writer task ends")
            .unwrap();
    }
);

both_backends!(a_bad_write_in_a_batch_costs_only_itself, |store| {
    let ids = store.open_calls(&[new_call(1), new_call(2)]).await.unwrap();
    let (log, _task) = CallLogWriter::start(store.clone());
    let missing = ids[1] + 1000;
    log.write(CallLogWrite::Update {
        call: ids[0],
        update: CallUpdate::Queued {
            at: at("2026-11-24T09:00:04Z"),
            queue: "louvre-hotline".into(),
        },
    });
    // An update of a record that does not exist is skipped (no event row either).
    log.write(CallLogWrite::Update {
        call: missing,
        update: CallUpdate::Queued {
            at: at("2026-11-24T09:00:04Z"),
            queue: "louvre-hotline".into(),
        },
    });
    // An event of a record that does not exist breaks the batch's foreign key: the batch is
    // replayed write by write.
    log.write(CallLogWrite::Event {
        call: missing,
        at: at("2026-11-24T09:00:04Z"),
        kind: "ivr".into(),
        detail: "{}".into(),
    });
    log.write(CallLogWrite::Close {
        call: ids[1],
        outcome: CallOutcome::AbandonedInIvr,
        at: at("2026-11-24T09:00:05Z"),
        wrap_up: false,
    });
    log.flush().await;
    let first = store.call(ids[0]).await.unwrap();
    assert_eq!(first.state, CallState::Queued);
    assert_eq!(first.queue.as_deref(), Some("louvre-hotline"));
    let second = store.call(ids[1]).await.unwrap();
    assert_eq!(second.state, CallState::Ended);
    assert_eq!(second.outcome, Some(CallOutcome::AbandonedInIvr));
    let kinds: Vec<String> = store
        .call_events(ids[1])
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["arrived", "ended"]);
    assert!(store.call_events(missing).await.unwrap().is_empty());
});

both_backends!(
    records_opened_through_the_writer_are_committed_before_their_id_is_returned,
    |store| {
        let (log, _task) = CallLogWriter::start(store.clone());
        // Many arrivals at once share commits; each id comes back once its row is durable.
        let opening: Vec<_> = (0..40)
            .map(|n| {
                let log = log.clone();
                tokio::spawn(async move { log.open_call(new_call(n)).await })
            })
            .collect();
        let mut ids = Vec::new();
        for (n, task) in opening.into_iter().enumerate() {
            let id = task.await.unwrap().unwrap();
            // Read through another connection, without flushing: already there.
            let rec = store.call(id).await.unwrap();
            assert_eq!(rec.sip_call_id, format!("load-{n}@host"));
            assert_eq!(rec.state, CallState::Ivr);
            assert!(rec.vip);
            let events = store.call_events(id).await.unwrap();
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].kind, "arrived");
            assert_eq!(events[0].detail.as_deref(), Some("8585"));
            ids.push(id);
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 40, "one record per arrival");
    }
);

both_backends!(
    changes_of_one_call_folded_in_a_batch_keep_the_first_offer_and_the_last_agent,
    |store| {
        let ids = store.open_calls(&[new_call(7)]).await.unwrap();
        let id = ids[0];
        let (log, _task) = CallLogWriter::start(store.clone());
        let t = |s: &str| at(&format!("2026-11-24T09:00:{s}Z"));
        // Offered to Amélie, no answer, re-offered to Bruno who answers: handed over
        // together, so they fold into one UPDATE.
        for update in [
            CallUpdate::Queued {
                at: t("04"),
                queue: "louvre-hotline".into(),
            },
            CallUpdate::Offered {
                at: t("05"),
                agent: "amelie.martin".into(),
            },
            CallUpdate::Offered {
                at: t("20"),
                agent: "bruno.petit".into(),
            },
            CallUpdate::Answered {
                at: t("24"),
                agent: "bruno.petit".into(),
            },
        ] {
            log.write(CallLogWrite::Update { call: id, update });
        }
        log.flush().await;
        let rec = store.call(id).await.unwrap();
        assert_eq!(rec.offered_at, Some(t("05")), "the first offer's instant");
        assert_eq!(rec.answered_at, Some(t("24")));
        assert_eq!(rec.agent.as_deref(), Some("bruno.petit"));
        assert_eq!(rec.state, CallState::Answered, "the last state");
        // A later batch still keeps the first offer (COALESCE against the stored value).
        log.write(CallLogWrite::Update {
            call: id,
            update: CallUpdate::Offered {
                at: t("40"),
                agent: "chloe.roux".into(),
            },
        });
        log.flush().await;
        let rec = store.call(id).await.unwrap();
        assert_eq!(rec.offered_at, Some(t("05")));
        assert_eq!(rec.agent.as_deref(), Some("chloe.roux"));
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
                "arrived", "queued", "offered", "offered", "answered", "offered"
            ]
        );
    }
);

both_backends!(
    a_commit_point_resolves_once_the_writes_before_it_are_committed,
    |store| {
        let calls: Vec<NewCall> = (0..60).map(new_call).collect();
        let ids = store.open_calls(&calls).await.unwrap();
        let (log, _task) = CallLogWriter::start(store.clone());
        // Each call's close is followed by its commit point, as the switchboard does before
        // answering a BYE; the calls after it keep arriving meanwhile.
        let mut points = Vec::new();
        for (n, &id) in ids.iter().enumerate() {
            for write in life_of(id, n) {
                log.write(write);
            }
            points.push(tokio::spawn(log.commit_point()));
        }
        for (n, (point, &id)) in points.into_iter().zip(&ids).enumerate() {
            point.await.unwrap();
            // Read through another connection: the close is already there.
            let rec = store.call(id).await.unwrap();
            assert_eq!(rec.state, CallState::Ended, "call {n}");
            assert_eq!(rec.outcome, Some(CallOutcome::Answered));
            assert!(rec.ended_at.is_some() && rec.wrap_up_ended_at.is_some());
        }
    }
);

fn leg_quality(
    leg: guichet_tickets::call_quality::MediaLeg,
    received: u64,
    lost: u64,
    remote: Option<u8>,
) -> guichet_tickets::call_quality::LegQuality {
    guichet_tickets::call_quality::LegQuality::estimate(
        leg,
        guichet_tickets::call_quality::LegCounters {
            packets_sent: received + 3,
            packets_received: received,
            packets_lost: lost,
            late_packets: 2,
            jitter_max_us: 4_625,
            jitter_final_us: 1_250,
            remote_fraction_lost: remote,
        },
        60.0,
    )
}

/// The quality write of call `n` (its own counts, so that rows cannot be swapped unseen).
fn quality_write(call: i64, n: usize) -> CallLogWrite {
    use guichet_tickets::call_quality::MediaLeg;
    CallLogWrite::MediaQuality {
        call,
        legs: vec![
            leg_quality(MediaLeg::Caller, 1000 + n as u64, n as u64 % 7, None),
            leg_quality(MediaLeg::Agent, 500 + n as u64, 0, Some(n as u8)),
        ],
    }
}

both_backends!(
    media_quality_goes_through_the_writer_with_the_closing_write,
    |store| {
        use guichet_tickets::call_quality::{AudioVerdict, MediaLeg};
        let ids = store
            .open_calls(&[new_call(1), new_call(2), new_call(3)])
            .await
            .unwrap();
        let (log, task) = CallLogWriter::start(store.clone());
        let caller = leg_quality(MediaLeg::Caller, 1500, 0, None);
        let agent = leg_quality(MediaLeg::Agent, 1480, 20, Some(5));
        // Handed over in one burst with the call's closing writes (one batch), agent first:
        // the store gives the caller leg first.
        for w in life_of(ids[0], 1) {
            log.write(w);
        }
        log.write(CallLogWrite::MediaQuality {
            call: ids[0],
            legs: vec![agent, caller],
        });
        log.write(CallLogWrite::MediaQuality {
            call: ids[1],
            legs: vec![leg_quality(MediaLeg::Caller, 0, 0, None)],
        });
        log.flush().await;
        assert_eq!(
            store.call_quality(ids[0]).await.unwrap(),
            vec![caller, agent]
        );
        assert_eq!(store.call(ids[0]).await.unwrap().state, CallState::Ended);
        let stored = store.call_quality(ids[1]).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].counters.packets_received, 0);
        assert_eq!(stored[0].verdict(), AudioVerdict::Bad);
        // No media stored: nothing.
        assert!(store.call_quality(ids[2]).await.unwrap().is_empty());
        // Read back with the calls of a period.
        let from = at("2026-11-24T08:00:00Z");
        let by_call = store
            .call_quality_between(from, from + TimeDelta::hours(2))
            .await
            .unwrap();
        assert_eq!(by_call.len(), 2);
        assert_eq!(by_call[&ids[0]], vec![caller, agent]);
        assert!(
            store
                .call_quality_between(from, from + TimeDelta::minutes(30))
                .await
                .unwrap()
                .is_empty()
        );
        // The period's totals, counted by the database: call 1 clean (caller MOS 4.38, agent
        // 2 % lost → degraded), call 2 silent (bad): 2 measured, 2 degraded.
        let totals = store
            .audio_totals_between(from, from + TimeDelta::hours(2))
            .await
            .unwrap();
        assert_eq!(agent.verdict(), AudioVerdict::Degraded, "{agent:?}");
        assert_eq!((totals.measured, totals.degraded), (2, 2));
        let none = store
            .audio_totals_between(from, from + TimeDelta::minutes(30))
            .await
            .unwrap();
        assert_eq!((none.measured, none.degraded), (0, 0));
        // A second row for the same leg is refused and costs only itself.
        log.write(CallLogWrite::MediaQuality {
            call: ids[1],
            legs: vec![leg_quality(MediaLeg::Caller, 9, 0, None)],
        });
        log.write(CallLogWrite::MediaQuality {
            call: ids[2],
            legs: vec![caller],
        });
        log.flush().await;
        assert_eq!(store.call_quality(ids[1]).await.unwrap(), stored);
        assert_eq!(store.call_quality(ids[2]).await.unwrap(), vec![caller]);
        // Call 3 measured, clean: counted, not degraded.
        let totals = store
            .audio_totals_between(from, from + TimeDelta::hours(2))
            .await
            .unwrap();
        assert_eq!((totals.measured, totals.degraded), (3, 2));
        // Direct write, as imports and tests use it.
        store.record_call_quality(ids[2], &[agent]).await.unwrap();
        // Call 3's agent leg degraded: so is the call.
        let totals = store
            .audio_totals_between(from, from + TimeDelta::hours(2))
            .await
            .unwrap();
        assert_eq!((totals.measured, totals.degraded), (3, 3));
        assert_eq!(
            store.call_quality(ids[2]).await.unwrap(),
            vec![caller, agent]
        );
        drop(log);
        tokio::time::timeout(std::time::Duration::from_secs(10), task)
            .await
            .expect("writer task ends")
            .unwrap();
    }
);
