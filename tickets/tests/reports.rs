//! Reports on both backends: the ACD definitions reconciled through the
//! call log, the 15 published months of the Culture service desk, and the
//! CSV / XLSX exports holding the same numbers.

mod common;

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use common::at;
use guichet_tickets::reports::{ReportPeriod, default_zone, write_report_csv, write_report_xlsx};
use guichet_tickets::ticket::{Nature, NewTicket, SlaOutcome, TicketAction};
use guichet_tickets::{CallOutcome, CallUpdate, FinishedCall, NewCall, Store};

fn call(id: &str, when: DateTime<Utc>) -> NewCall {
    NewCall {
        sip_call_id: id.to_owned(),
        line: "8585".to_owned(),
        caller_number: "+33140158000".to_owned(),
        caller_name: None,
        person_id: None,
        vip: false,
        p0: false,
        arrived_at: when,
    }
}

/// Plays one call of the `docs/statistics.md` example through the call log
/// API, times in seconds after 09:00:00 UTC on Monday 2 March 2026.
#[allow(clippy::too_many_arguments)]
async fn play(
    store: &Store,
    name: &str,
    vip: bool,
    queues: &[(&str, i64)],
    offered: Option<(&str, i64)>,
    answered: Option<i64>,
    ended: i64,
    wrap_up_end: Option<i64>,
    outcome: CallOutcome,
) {
    let t = |s: i64| at("2026-03-02T09:00:00Z") + Duration::seconds(s);
    let first = queues.first().map_or(ended, |q| q.1);
    let mut c = call(name, t(first - 30));
    c.vip = vip;
    let id = store.open_call(&c).await.unwrap();
    if queues.is_empty() {
        store
            .close_call(id, outcome, t(ended), false)
            .await
            .unwrap();
        return;
    }
    store
        .update_call(
            id,
            &CallUpdate::IvrExited {
                at: t(first),
                node: "menu".into(),
            },
        )
        .await
        .unwrap();
    for (i, (q, s)) in queues.iter().enumerate() {
        if i > 0 {
            store
                .update_call(
                    id,
                    &CallUpdate::Overflowed {
                        at: t(*s),
                        target: (*q).to_owned(),
                    },
                )
                .await
                .unwrap();
        }
        store
            .update_call(
                id,
                &CallUpdate::Queued {
                    at: t(*s),
                    queue: (*q).to_owned(),
                },
            )
            .await
            .unwrap();
    }
    if let Some((agent, s)) = offered {
        store
            .update_call(
                id,
                &CallUpdate::Offered {
                    at: t(s),
                    agent: agent.to_owned(),
                },
            )
            .await
            .unwrap();
    }
    if let (Some(s), Some((agent, _))) = (answered, offered) {
        store
            .update_call(
                id,
                &CallUpdate::Answered {
                    at: t(s),
                    agent: agent.to_owned(),
                },
            )
            .await
            .unwrap();
    }
    store
        .close_call(id, outcome, t(ended), wrap_up_end.is_some())
        .await
        .unwrap();
    if let Some(s) = wrap_up_end {
        store
            .update_call(id, &CallUpdate::WrapUpEnded { at: t(s) })
            .await
            .unwrap();
    }
}

both_backends!(store_report_reconciles_with_the_acd_definitions, |store| {
    use CallOutcome::*;
    play(
        &store,
        "A",
        false,
        &[("support", 0)],
        Some(("alice", 5)),
        Some(10),
        310,
        Some(370),
        Answered,
    )
    .await;
    play(
        &store,
        "B",
        true,
        &[("support", 60)],
        Some(("bob", 70)),
        Some(75),
        495,
        None,
        Answered,
    )
    .await;
    play(
        &store,
        "C",
        false,
        &[("support", 400)],
        Some(("alice", 440)),
        Some(445),
        685,
        Some(715),
        Answered,
    )
    .await;
    play(
        &store,
        "D",
        false,
        &[("support", 500)],
        None,
        None,
        503,
        None,
        AbandonedInQueue,
    )
    .await;
    play(
        &store,
        "E",
        false,
        &[("support", 600)],
        Some(("bob", 650)),
        None,
        690,
        None,
        AbandonedWhileRinging,
    )
    .await;
    play(
        &store,
        "F",
        false,
        &[("support", 700)],
        None,
        None,
        820,
        None,
        OverflowedExternal,
    )
    .await;
    play(&store, "G", false, &[], None, None, 800, None, Closed).await;
    play(
        &store,
        "H",
        false,
        &[("support", 900), ("backup", 960)],
        Some(("carol", 970)),
        Some(980),
        1080,
        Some(1100),
        Answered,
    )
    .await;
    play(
        &store,
        "J",
        false,
        &[],
        None,
        None,
        1200,
        None,
        AbandonedInIvr,
    )
    .await;

    let days = store
        .report(
            at("2026-03-02T00:00:00Z"),
            at("2026-03-03T00:00:00Z"),
            ReportPeriod::Day,
            default_zone(),
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        days.len(),
        2,
        "2 and 3 March local days overlap the UTC range"
    );
    let day = &days[0];
    assert_eq!(day.label, "2026-03-02");
    let c = &day.calls;
    // Service totals of docs/statistics.md: each call once.
    assert_eq!(
        (c.presented, c.answered, c.abandoned, c.overflowed),
        (7, 4, 2, 1)
    );
    assert_eq!(
        (
            c.short_abandoned,
            c.abandoned_while_ringing,
            c.presented_vip
        ),
        (1, 1, 1)
    );
    assert_eq!((c.answer_rate.numerator, c.answer_rate.denominator), (4, 7));
    assert_eq!(
        (c.service_level.numerator, c.service_level.denominator),
        (3, 6)
    );
    assert_eq!(c.aht.mean(), Some(Duration::milliseconds(292_500)));
    assert_eq!(
        c.asa.mean(),
        Some(Duration::milliseconds(22_500)),
        "(10 + 15 + 45 + 20) / 4"
    );
    assert_eq!(c.longest_wait_ms, 120_000);
    // And exactly what acd::stats computes from the same stored facts.
    let facts = store
        .call_facts_between(at("2026-03-02T00:00:00Z"), at("2026-03-03T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        *c,
        guichet_acd::stats::service_totals(&facts, &Default::default())
    );
    assert_eq!(days[1].label, "2026-03-03");
    assert_eq!(days[1].calls.presented, 0);
});

const VOLUMES: &str = include_str!("../../data/service-desk-volumes.csv");

struct Month {
    start: NaiveDate,
    presented: u32,
    served: u32,
    tickets: u32,
}

fn months() -> Vec<Month> {
    VOLUMES
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Month {
                start: NaiveDate::parse_from_str(&format!("{}-01", f[0]), "%Y-%m-%d").unwrap(),
                presented: f[1].parse().unwrap(),
                served: f[2].parse().unwrap(),
                tickets: f[3].parse().unwrap(),
            }
        })
        .collect()
}

/// Spreads a month's calls over its days, 9:00 to 17:59 Paris time.
fn instant(m: &Month, i: u32) -> DateTime<Utc> {
    let days = (m.start + chrono::Months::new(1) - m.start).num_days() as u32;
    let day = m.start + chrono::Days::new(u64::from(i % days));
    let minute = (i / days) * 7 % 540;
    let local = day.and_hms_opt(9 + minute / 60, minute % 60, 0).unwrap();
    default_zone()
        .from_local_datetime(&local)
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

async fn load_volumes(store: &Store) {
    for m in months() {
        let mut calls = Vec::with_capacity(m.presented as usize + 5);
        for i in 0..m.presented {
            let t = instant(&m, i);
            let served = i < m.served;
            calls.push(FinishedCall {
                call: call(&format!("{}-{i}", m.start), t),
                queue: Some("support".into()),
                agent: served.then(|| "agent".to_owned()),
                queued_at: Some(t + Duration::seconds(30)),
                answered_at: served.then(|| t + Duration::seconds(45)),
                ended_at: t + if served {
                    Duration::seconds(465)
                } else {
                    Duration::seconds(120)
                },
                wrap_up_ended_at: served.then(|| t + Duration::seconds(525)),
                outcome: if served {
                    CallOutcome::Answered
                } else {
                    CallOutcome::AbandonedInQueue
                },
            });
        }
        // Calls on a closed line are not presented and must not move the rates.
        for i in 0..5 {
            let t = instant(&m, i) - Duration::hours(2);
            calls.push(FinishedCall {
                call: call(&format!("{}-closed-{i}", m.start), t),
                queue: None,
                agent: None,
                queued_at: None,
                answered_at: None,
                ended_at: t + Duration::seconds(20),
                wrap_up_ended_at: None,
                outcome: CallOutcome::Closed,
            });
        }
        store.record_finished_calls(&calls).await.unwrap();
        let tickets: Vec<(NewTicket, DateTime<Utc>)> = (0..m.tickets)
            .map(|i| {
                let nature = if i % 3 == 0 {
                    Nature::Request
                } else {
                    Nature::Incident
                };
                (
                    NewTicket::simplified(nature, "Ticket", "Usager"),
                    instant(&m, i),
                )
            })
            .collect();
        store.create_tickets(&tickets, "import").await.unwrap();
    }
}

fn pct1(v: Option<f64>) -> f64 {
    (v.unwrap() * 10.0).round() / 10.0
}

both_backends!(the_fifteen_published_months_reconcile, |store| {
    load_volumes(&store).await;
    let report = store
        .report(
            at("2024-01-01T00:00:00+01:00"),
            at("2025-04-01T00:00:00+02:00"),
            ReportPeriod::Month,
            default_zone(),
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(report.len(), 15);
    let published = [
        94.2, 87.6, 92.4, 80.9, 74.0, 77.7, 72.3, 83.2, 89.0, 89.5, 89.6, 87.8, 89.2, 91.3, 84.8,
    ];
    for ((r, m), rate) in report.iter().zip(months()).zip(published) {
        assert_eq!(r.start, m.start);
        assert_eq!(r.calls.presented, u64::from(m.presented), "{}", r.label);
        assert_eq!(r.calls.answered, u64::from(m.served), "{}", r.label);
        assert_eq!(
            r.calls.abandoned,
            u64::from(m.presented - m.served),
            "{}",
            r.label
        );
        assert_eq!(pct1(r.calls.answer_rate.percent()), rate, "{}", r.label);
        assert!(
            (pct1(r.calls.abandon_rate.percent()) - (100.0 - rate)).abs() < 0.051,
            "{}",
            r.label
        );
        assert_eq!(r.tickets.opened.total, u64::from(m.tickets), "{}", r.label);
        assert_eq!(r.calls.asa.mean(), Some(Duration::seconds(15)));
        assert_eq!(
            r.calls.aht.mean(),
            Some(Duration::seconds(480)),
            "7 min talk + 1 min wrap-up"
        );
    }
    assert_eq!(report[6].label, "2024-07");
    assert_eq!(report[6].calls.answer_rate.to_string(), "72,3 %");

    let quarters = store
        .report(
            at("2025-01-01T00:00:00+01:00"),
            at("2025-04-01T00:00:00+02:00"),
            ReportPeriod::Quarter,
            default_zone(),
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(quarters.len(), 1);
    assert_eq!(quarters[0].label, "T1 2025");
    assert_eq!(
        (quarters[0].calls.presented, quarters[0].calls.answered),
        (6707, 5926)
    );
    assert_eq!(pct1(quarters[0].calls.answer_rate.percent()), 88.4);
    assert_eq!(quarters[0].tickets.opened.total, 5635);
    assert_eq!(
        quarters[0].tickets.opened.by_nature.get("request"),
        Some(&(714 + 564 + 601))
    );

    // Weekly history: weeks start on Monday and add up to the same days.
    let weeks = store
        .report(
            at("2024-07-01T00:00:00+02:00"),
            at("2024-08-01T00:00:00+02:00"),
            ReportPeriod::Week,
            default_zone(),
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(weeks.len(), 5);
    assert_eq!(
        weeks[0].start,
        NaiveDate::from_ymd_opt(2024, 7, 1).unwrap(),
        "a Monday"
    );
    assert_eq!(
        weeks[4].start,
        NaiveDate::from_ymd_opt(2024, 7, 29).unwrap()
    );
    let days = store
        .report(
            at("2024-07-01T00:00:00+02:00"),
            at("2024-08-05T00:00:00+02:00"),
            ReportPeriod::Day,
            default_zone(),
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(days.len(), 35);
    assert_eq!(
        weeks.iter().map(|w| w.calls.presented).sum::<u64>(),
        days.iter().map(|d| d.calls.presented).sum::<u64>()
    );
    let july_days: u64 = days
        .iter()
        .filter(|d| d.start.month() == 7)
        .map(|d| d.calls.presented)
        .sum();
    assert_eq!(july_days, 2994);

    // Exports: the XLSX cells hold the numbers of the CSV.
    let mut csv_bytes = Vec::new();
    write_report_csv(&report, &mut csv_bytes).unwrap();
    let xlsx = write_report_xlsx(&report).unwrap();
    let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(xlsx)).unwrap();
    let range = wb.worksheet_range("Indicateurs").unwrap();
    let mut rdr = csv::Reader::from_reader(csv_bytes.as_slice());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_owned).collect();
    let xl_header: Vec<String> = range
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(header, xl_header);
    let csv_rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(csv_rows.len(), 15);
    for (i, rec) in csv_rows.iter().enumerate() {
        let xl_row: Vec<&Data> = range.rows().nth(i + 1).unwrap().iter().collect();
        assert_eq!(xl_row.len(), rec.len());
        for (cell, field) in xl_row.iter().zip(rec.iter()) {
            match cell {
                Data::Float(v) => assert_eq!(*v, field.parse::<f64>().unwrap(), "row {i}: {field}"),
                Data::Int(v) => assert_eq!(*v as f64, field.parse::<f64>().unwrap()),
                Data::String(s) => assert_eq!(s, field),
                Data::Empty => assert_eq!(field, ""),
                other => panic!("unexpected cell {other:?}"),
            }
        }
    }
    assert_eq!(&csv_rows[6][0], "2024-07");
    assert_eq!(&csv_rows[6][2], "2994");
    assert_eq!(&csv_rows[6][3], "2165");
    // Nothing refused for overload in the published figures; the answer rate follows.
    assert_eq!(&csv_rows[6][7], "0");
    assert_eq!(&csv_rows[6][8], "72.3");
});

both_backends!(ticket_indicators_by_period, |store| {
    let g = store.create_support_group("N2").await.unwrap();
    let cat = store.create_category("Messagerie", None).await.unwrap();
    let t0 = at("2026-03-02T09:00:00Z");
    let mut a = NewTicket::simplified(Nature::Assistance, "a", "x");
    a.category_id = Some(cat);
    a.group_id = Some(g);
    let a = store.create_ticket(&a, "s", t0).await.unwrap();
    let mut b = NewTicket::simplified(Nature::Request, "b", "y");
    b.vip = true;
    let b = store
        .create_ticket(&b, "s", t0 + Duration::days(1))
        .await
        .unwrap();
    let c = store
        .create_ticket(
            &NewTicket::simplified(Nature::Incident, "c", "z"),
            "s",
            t0 + Duration::days(2),
        )
        .await
        .unwrap();
    // a: resolved, reopened, resolved again; SLA met. b: resolved, breached. c stays open.
    store
        .transition_ticket(a, &TicketAction::Resolve, "s", t0 + Duration::hours(1))
        .await
        .unwrap();
    store
        .transition_ticket(
            a,
            &TicketAction::Reopen("encore".into()),
            "s",
            t0 + Duration::hours(2),
        )
        .await
        .unwrap();
    store
        .transition_ticket(a, &TicketAction::Resolve, "s", t0 + Duration::hours(3))
        .await
        .unwrap();
    store
        .set_sla_outcome(a, SlaOutcome::Met, None, "sla", t0 + Duration::hours(3))
        .await
        .unwrap();
    store
        .transition_ticket(b, &TicketAction::Resolve, "s", t0 + Duration::days(1))
        .await
        .unwrap();
    store
        .set_sla_outcome(b, SlaOutcome::Breached, None, "sla", t0 + Duration::days(1))
        .await
        .unwrap();
    store
        .close_resolved_tickets(t0 + Duration::days(20), Duration::days(14))
        .await
        .unwrap();

    let weeks = store
        .report(
            at("2026-03-02T00:00:00Z"),
            at("2026-03-30T00:00:00+02:00"),
            ReportPeriod::Week,
            default_zone(),
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(weeks.len(), 4);
    let w1 = &weeks[0].tickets;
    assert_eq!(w1.opened.total, 3);
    assert_eq!(
        w1.opened.by_nature.get("incident"),
        Some(&2),
        "assistance counted as incident"
    );
    assert_eq!(w1.opened.by_nature.get("request"), Some(&1));
    assert_eq!(w1.opened.by_category.get("Messagerie"), Some(&1));
    assert_eq!(w1.opened.by_group.get("N2"), Some(&1));
    assert_eq!(w1.opened.by_priority.get("P0"), Some(&1));
    assert_eq!(w1.vip_or_p0_opened, 1);
    assert_eq!(w1.resolved.total, 2);
    assert_eq!((w1.sla_met, w1.sla_breached, w1.sla_excluded), (1, 1, 0));
    assert_eq!(
        (w1.reopen_rate.numerator, w1.reopen_rate.denominator),
        (1, 2)
    );
    assert_eq!(
        w1.in_progress.total, 1,
        "c is still open at the end of the week"
    );
    assert_eq!(w1.closed.total, 0);
    let w3 = &weeks[2].tickets;
    assert_eq!(
        store.ticket(c).await.unwrap().status,
        guichet_tickets::ticket::TicketStatus::New
    );
    assert_eq!(
        (w3.opened.total, w3.closed.total, w3.in_progress.total),
        (0, 2, 1)
    );
});

both_backends!(call_exports_stream_any_period_in_csv_and_xlsx, |store| {
    let t0 = at("2026-03-02T09:00:00Z");
    let mut calls = Vec::new();
    for i in 0..2_500 {
        let t = t0 + Duration::seconds(i * 60);
        calls.push(FinishedCall {
            call: call(&format!("e{i}"), t),
            queue: Some("support".into()),
            agent: Some("alice".into()),
            queued_at: Some(t + Duration::seconds(5)),
            answered_at: Some(t + Duration::seconds(15)),
            ended_at: t + Duration::seconds(300),
            wrap_up_ended_at: None,
            outcome: CallOutcome::Answered,
        });
    }
    store.record_finished_calls(&calls).await.unwrap();
    // 2026-03-02 09:00Z + 1000 minutes = 2026-03-02T09:00 .. 2026-03-03T01:39.
    let (from, to) = (t0 + Duration::minutes(1_000), t0 + Duration::minutes(2_000));
    let mut out = Vec::new();
    let n = store.export_calls_csv(from, to, &mut out).await.unwrap();
    assert_eq!(n, 1_000);
    let mut rdr = csv::Reader::from_reader(out.as_slice());
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1_000);
    assert_eq!(&rows[0][1], "e1000");
    assert_eq!(&rows[999][1], "e1999");
    assert_eq!(&rows[0][4], "answered");
    assert_eq!(&rows[0][11], (t0 + Duration::minutes(1_000)).to_rfc3339());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("appels.xlsx");
    assert_eq!(
        store.export_calls_xlsx(from, to, &path).await.unwrap(),
        1_000
    );
    let mut wb: Xlsx<_> = calamine::open_workbook(&path).unwrap();
    let range = wb.worksheet_range("Appels").unwrap();
    assert_eq!(range.height(), 1_001);
    for (i, rec) in rows.iter().enumerate().step_by(97) {
        let xl: Vec<String> = range
            .rows()
            .nth(i + 1)
            .unwrap()
            .iter()
            .map(|c| c.to_string())
            .collect();
        let csv_fields: Vec<&str> = rec.iter().collect();
        assert_eq!(xl, csv_fields, "row {i}");
    }
    // An empty period exports only the header.
    let mut empty = Vec::new();
    assert_eq!(
        store
            .export_calls_csv(
                from - Duration::days(30),
                from - Duration::days(29),
                &mut empty
            )
            .await
            .unwrap(),
        0
    );
    assert_eq!(String::from_utf8(empty).unwrap().lines().count(), 1);
});
