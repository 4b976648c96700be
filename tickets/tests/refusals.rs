//! Calls refused with 503 (overload, shutdown) on both backends: the ones recorded one by
//! one and the ones only counted per minute land through the call-log writer's batches, and
//! the dashboards and reports count both as presented and not answered.

mod common;

use chrono::{Duration, TimeDelta};
use chrono_tz::Europe::Paris;
use common::at;
use guichet_acd::stats::StatsParams;
use guichet_tickets::call_log::{CallLogWrite, CallLogWriter};
use guichet_tickets::dashboard::Granularity;
use guichet_tickets::refusals::{RefusalCount, RefusalReason, RefusedCall};
use guichet_tickets::reports::ReportPeriod;
use guichet_tickets::{CallOutcome, NewCall};

both_backends!(
    refused_calls_are_recorded_or_counted_and_counted_as_presented_not_answered,
    |store| {
        let (log, task) = CallLogWriter::start(store.clone());
        // One answered call at 10:00 (Paris 11:00).
        let t0 = at("2026-11-24T10:00:00Z");
        let answered = log
            .open_call(NewCall {
                sip_call_id: "answered@host".to_owned(),
                line: "8585".to_owned(),
                caller_number: "+33140150001".to_owned(),
                caller_name: None,
                person_id: None,
                vip: false,
                p0: false,
                arrived_at: t0,
            })
            .await
            .unwrap();
        for update in [
            guichet_tickets::CallUpdate::Queued {
                at: t0 + TimeDelta::seconds(3),
                queue: "louvre".to_owned(),
            },
            guichet_tickets::CallUpdate::Answered {
                at: t0 + TimeDelta::seconds(8),
                agent: "amelie".to_owned(),
            },
        ] {
            log.write(CallLogWrite::Update {
                call: answered,
                update,
            });
        }
        log.write(CallLogWrite::Close {
            call: answered,
            outcome: CallOutcome::Answered,
            at: t0 + TimeDelta::seconds(60),
            wrap_up: false,
        });
        // Two refusals recorded (too many calls, then shutdown), 250 counted in one minute.
        let refused = |n: i64, reason| RefusedCall {
            sip_call_id: format!("refused-{n}@host"),
            line: "8585".to_owned(),
            caller_number: format!("+3314015100{n}"),
            caller_name: Some("Standard".to_owned()),
            at: t0 + TimeDelta::seconds(10 + n),
            reason,
        };
        log.refused(refused(1, RefusalReason::TooManyCalls));
        log.refused(refused(2, RefusalReason::Shutdown));
        for _ in 0..2 {
            log.refusal_count(RefusalCount {
                minute: t0 + TimeDelta::seconds(42),
                line: "8585".to_owned(),
                reason: RefusalReason::CallRate,
                refused: 125,
            });
        }
        log.flush().await;

        let history = store.caller_history("+33140151001", 5).await.unwrap();
        assert_eq!(history.len(), 1, "{history:?}");
        let call = &history[0];
        assert_eq!(call.outcome, Some(CallOutcome::Refused));
        assert_eq!(call.caller_name.as_deref(), Some("Standard"));
        assert_eq!(call.line, "8585");
        assert_eq!(call.arrived_at, t0 + TimeDelta::seconds(11));
        assert_eq!(call.ended_at, Some(call.arrived_at));
        assert!(!call.vip && !call.interrupted && call.answered_at.is_none());
        let events: Vec<(String, Option<String>)> = store
            .call_events(call.id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.kind, e.detail))
            .collect();
        assert_eq!(
            events,
            [
                ("arrived".to_owned(), Some("8585".to_owned())),
                ("refused".to_owned(), Some("too_many_calls".to_owned())),
                ("ended".to_owned(), Some("refused".to_owned())),
            ]
        );
        // A restart marks nothing of these interrupted.
        assert!(store.calls_in_flight().await.unwrap().is_empty());

        let day = at("2026-11-23T23:00:00Z");
        let counts = store
            .refusal_counts_between(day, day + Duration::days(1))
            .await
            .unwrap();
        assert_eq!(
            counts,
            [RefusalCount {
                minute: t0,
                line: "8585".to_owned(),
                reason: RefusalReason::CallRate,
                refused: 250,
            }]
        );
        assert_eq!(
            store
                .refusals_between(day, day + Duration::days(1))
                .await
                .unwrap(),
            [
                (RefusalReason::TooManyCalls, 1),
                (RefusalReason::CallRate, 250),
                (RefusalReason::Shutdown, 1),
            ]
        );

        let params = StatsParams::default();
        let dashboard = store
            .dashboard(
                day,
                day + Duration::days(1),
                Granularity::Hour,
                Paris,
                &params,
            )
            .await
            .unwrap();
        let totals = dashboard.totals;
        assert_eq!(
            (totals.presented, totals.answered, totals.refused),
            (253, 1, 252)
        );
        assert_eq!(
            (totals.answer_rate.numerator, totals.answer_rate.denominator),
            (1, 253)
        );
        // The 11:00 (Paris) bucket holds them all; refused calls reach no queue.
        let eleven = dashboard
            .series
            .iter()
            .find(|b| b.label.ends_with(" 11 h"))
            .expect("11:00 bucket");
        assert_eq!((eleven.calls.presented, eleven.calls.refused), (253, 252));
        assert_eq!(dashboard.by_queue["louvre"].presented, 1);

        let report = store
            .report(
                day,
                day + Duration::days(1),
                ReportPeriod::Day,
                Paris,
                &params,
            )
            .await
            .unwrap();
        assert_eq!(report.len(), 1);
        assert_eq!(
            (report[0].calls.presented, report[0].calls.refused),
            (253, 252)
        );
        drop(log);
        task.await.unwrap();
    }
);
