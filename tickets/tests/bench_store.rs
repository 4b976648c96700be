//! Store benchmarks, ignored by default (they take tens of seconds):
//!
//! ```text
//! GUICHET_TEST_POSTGRES_URL=postgres://… cargo test -p guichet-tickets --release \
//!     --test bench_store -- --ignored --nocapture --test-threads 1
//! ```
//!
//! Figures and the machine they were measured on are in `docs/store.md`.

mod common;

use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use guichet_tickets::reports::{ReportPeriod, default_zone};
use guichet_tickets::ticket::{Impact, Nature, NewTicket, TicketAction, Urgency};
use guichet_tickets::{CallOutcome, FinishedCall, NewCall, Store};

fn call(i: u64, at: DateTime<Utc>) -> NewCall {
    NewCall {
        sip_call_id: format!("bench-{i}@127.0.0.1"),
        line: "8585".into(),
        caller_number: format!("+3314015{:04}", i % 10_000),
        caller_name: Some("Appelant".into()),
        person_id: None,
        vip: i.is_multiple_of(40),
        p0: false,
        arrived_at: at,
    }
}

async fn write_rates(store: &Store, single: u64, batched: u64) {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
    let start = Instant::now();
    for i in 0..single {
        store
            .open_call(&call(i, t0 + Duration::seconds(i as i64)))
            .await
            .unwrap();
    }
    let s = start.elapsed();
    println!(
        "[{}] single: {single} calls opened, one transaction each, in {:.2} s = {:.0} calls/s",
        store.backend(),
        s.as_secs_f64(),
        single as f64 / s.as_secs_f64()
    );
    let batch: Vec<NewCall> = (0..batched)
        .map(|i| call(single + i, t0 + Duration::seconds(i as i64)))
        .collect();
    let start = Instant::now();
    for chunk in batch.chunks(1_000) {
        store.open_calls(chunk).await.unwrap();
    }
    let s = start.elapsed();
    println!(
        "[{}] batched: {batched} calls opened in transactions of 1000, in {:.2} s = {:.0} calls/s",
        store.backend(),
        s.as_secs_f64(),
        batched as f64 / s.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn bench_call_record_writes() {
    for db in common::databases("bench_writes").await {
        let (single, batched) = if db.label == "sqlite" {
            (5_000, 100_000)
        } else {
            (2_000, 40_000)
        };
        write_rates(&db.store, single, batched).await;
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn bench_monthly_report_over_a_year() {
    for db in common::databases("bench_report").await {
        let store = &db.store;
        let zone = default_zone();
        let year = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        // ≈ 60,000 calls and 50,000 tickets spread over 2025, working hours.
        let start = Instant::now();
        let mut calls = Vec::with_capacity(1_000);
        for i in 0..60_000u64 {
            let day = i % 365;
            let at = year
                + Duration::days(day as i64)
                + Duration::hours(8)
                + Duration::seconds(((i * 37) % 32_400) as i64);
            let answered = !i.is_multiple_of(7);
            calls.push(FinishedCall {
                call: call(i, at),
                queue: Some(if i % 3 == 0 {
                    "vip".into()
                } else {
                    "support".into()
                }),
                agent: answered.then(|| format!("agent{}", i % 50)),
                queued_at: Some(at + Duration::seconds(20)),
                answered_at: answered.then(|| at + Duration::seconds(20 + (i % 60) as i64)),
                ended_at: at + Duration::seconds(500),
                wrap_up_ended_at: answered.then(|| at + Duration::seconds(560)),
                outcome: if answered {
                    CallOutcome::Answered
                } else {
                    CallOutcome::AbandonedInQueue
                },
            });
            if calls.len() == 1_000 {
                store.record_finished_calls(&calls).await.unwrap();
                calls.clear();
            }
        }
        let group = store.create_support_group("N2").await.unwrap();
        let cat = store
            .create_category("Poste de travail", None)
            .await
            .unwrap();
        let mut tickets = Vec::with_capacity(1_000);
        for i in 0..50_000u64 {
            let at = year + Duration::minutes((i * 10) as i64 % (365 * 24 * 60));
            let mut t = NewTicket::simplified(
                [Nature::Incident, Nature::Request, Nature::Assistance][(i % 3) as usize],
                "Ticket de charge",
                "Usager",
            );
            t.urgency =
                Some([Urgency::Severe, Urgency::Elevee, Urgency::Moyenne][(i % 3) as usize]);
            t.impact =
                Some([Impact::Critique, Impact::Majeur, Impact::Modere][(i / 3 % 3) as usize]);
            t.group_id = i.is_multiple_of(2).then_some(group);
            t.category_id = (!i.is_multiple_of(5)).then_some(cat);
            tickets.push((t, at));
            if tickets.len() == 1_000 {
                store.create_tickets(&tickets, "bench").await.unwrap();
                tickets.clear();
            }
        }
        // Resolve a slice of them so resolved/closed counts are not empty.
        for id in (1..=2_000).step_by(2) {
            let _ = store
                .transition_ticket(
                    id,
                    &TicketAction::Resolve,
                    "bench",
                    year + Duration::days(200),
                )
                .await;
        }
        println!(
            "[{}] loaded 60,000 calls and 50,000 tickets in {:.1} s",
            db.label,
            start.elapsed().as_secs_f64()
        );

        let params = Default::default();
        let june = (
            zone.with_ymd_and_hms(2025, 6, 1, 0, 0, 0)
                .unwrap()
                .with_timezone(&Utc),
            zone.with_ymd_and_hms(2025, 7, 1, 0, 0, 0)
                .unwrap()
                .with_timezone(&Utc),
        );
        let mut best = f64::MAX;
        let mut presented = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let r = store
                .report(june.0, june.1, ReportPeriod::Month, zone, &params)
                .await
                .unwrap();
            best = best.min(t.elapsed().as_secs_f64());
            presented = r[0].calls.presented;
        }
        println!(
            "[{}] monthly report (one month, {presented} calls presented): best of 5 = {:.1} ms",
            db.label,
            best * 1000.0
        );
        let t = Instant::now();
        let r = store
            .report(
                zone.with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
                    .unwrap()
                    .with_timezone(&Utc),
                zone.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
                    .unwrap()
                    .with_timezone(&Utc),
                ReportPeriod::Month,
                zone,
                &params,
            )
            .await
            .unwrap();
        println!(
            "[{}] twelve monthly reports of 2025 in one call ({} calls, {} tickets): {:.1} ms",
            db.label,
            r.iter().map(|m| m.calls.presented).sum::<u64>(),
            r.iter().map(|m| m.tickets.opened.total).sum::<u64>(),
            t.elapsed().as_secs_f64() * 1000.0
        );
        db.cleanup().await;
    }
}
