//! Dashboards on both backends: the `docs/statistics.md` example played
//! through the call log, checked per queue, per agent and per hour against
//! the hand-computed figures; ticket counts by nature, priority, category
//! and SLA; exports holding the same cells as the tables; API tokens
//! stored by hash and revoked.

mod common;

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use chrono::{DateTime, Duration, Utc};
use common::at;
use guichet_tickets::api_tokens::TokenRole;
use guichet_tickets::dashboard::{DashboardTable, Granularity, write_table_csv, write_table_xlsx};
use guichet_tickets::reports::{Cell, default_zone};
use guichet_tickets::ticket::{Nature, NewTicket, SlaOutcome, TicketAction};
use guichet_tickets::{CallOutcome, CallUpdate, NewCall, Store};

/// One call of the statistics example: seconds after 09:00:00 UTC on
/// Monday 2 March 2026.
struct Play<'a> {
    queues: &'a [(&'a str, i64)],
    agent: Option<(&'a str, i64)>,
    answered: Option<i64>,
    ended: i64,
    wrap_up_end: Option<i64>,
    outcome: CallOutcome,
}

async fn play(store: &Store, id: &str, p: Play<'_>) {
    let t = |s: i64| at("2026-03-02T09:00:00Z") + Duration::seconds(s);
    let first = p.queues.first().map_or(p.ended, |q| q.1);
    let call = store
        .open_call(&NewCall {
            sip_call_id: id.to_owned(),
            line: "8585".to_owned(),
            caller_number: "+33140158000".to_owned(),
            caller_name: None,
            person_id: None,
            vip: false,
            p0: false,
            arrived_at: t(first - 30),
        })
        .await
        .unwrap();
    if !p.queues.is_empty() {
        let exited = CallUpdate::IvrExited {
            at: t(first),
            node: "menu".into(),
        };
        store.update_call(call, &exited).await.unwrap();
    }
    for (i, (q, s)) in p.queues.iter().enumerate() {
        if i > 0 {
            let over = CallUpdate::Overflowed {
                at: t(*s),
                target: (*q).to_owned(),
            };
            store.update_call(call, &over).await.unwrap();
        }
        let queued = CallUpdate::Queued {
            at: t(*s),
            queue: (*q).to_owned(),
        };
        store.update_call(call, &queued).await.unwrap();
    }
    if let Some((agent, s)) = p.agent {
        let offered = CallUpdate::Offered {
            at: t(s),
            agent: agent.to_owned(),
        };
        store.update_call(call, &offered).await.unwrap();
        if let Some(a) = p.answered {
            let answered = CallUpdate::Answered {
                at: t(a),
                agent: agent.to_owned(),
            };
            store.update_call(call, &answered).await.unwrap();
        }
    }
    store
        .close_call(call, p.outcome, t(p.ended), p.wrap_up_end.is_some())
        .await
        .unwrap();
    if let Some(s) = p.wrap_up_end {
        let done = CallUpdate::WrapUpEnded { at: t(s) };
        store.update_call(call, &done).await.unwrap();
    }
}

/// The ten calls of the `docs/statistics.md` example.
pub async fn play_statistics_example(store: &Store) {
    use CallOutcome::*;
    let calls = [
        (
            "A",
            &[("support", 0)][..],
            Some(("alice", 5)),
            Some(10),
            310,
            Some(370),
            Answered,
        ),
        (
            "B",
            &[("support", 60)],
            Some(("bob", 70)),
            Some(75),
            495,
            None,
            Answered,
        ),
        (
            "C",
            &[("support", 400)],
            Some(("alice", 440)),
            Some(445),
            685,
            Some(715),
            Answered,
        ),
        (
            "D",
            &[("support", 500)],
            None,
            None,
            503,
            None,
            AbandonedInQueue,
        ),
        (
            "E",
            &[("support", 600)],
            Some(("bob", 650)),
            None,
            690,
            None,
            AbandonedWhileRinging,
        ),
        (
            "F",
            &[("support", 700)],
            None,
            None,
            820,
            None,
            OverflowedExternal,
        ),
        ("G", &[], None, None, 800, None, Closed),
        (
            "H",
            &[("support", 900), ("backup", 960)],
            Some(("carol", 970)),
            Some(980),
            1080,
            Some(1100),
            Answered,
        ),
        ("J", &[], None, None, 1200, None, AbandonedInIvr),
    ];
    for (id, queues, agent, answered, ended, wrap_up_end, outcome) in calls {
        play(
            store,
            id,
            Play {
                queues,
                agent,
                answered,
                ended,
                wrap_up_end,
                outcome,
            },
        )
        .await;
    }
}

fn number(c: &Cell) -> Option<f64> {
    match c {
        Cell::Number(n) => *n,
        Cell::Text(_) => None,
    }
}

fn day() -> (DateTime<Utc>, DateTime<Utc>) {
    // Monday 2 March 2026, Paris local day (UTC+1).
    (at("2026-03-01T23:00:00Z"), at("2026-03-02T23:00:00Z"))
}

both_backends!(dashboard_matches_the_hand_computed_example, |store| {
    play_statistics_example(&store).await;
    let (from, to) = day();
    let d = store
        .dashboard(
            from,
            to,
            Granularity::Hour,
            default_zone(),
            &Default::default(),
        )
        .await
        .unwrap();
    // 24 local hours; every call entered a queue between 10:00 and 10:16 Paris time.
    assert_eq!(d.series.len(), 24);
    assert_eq!(d.series[10].label, "2026-03-02 10 h");
    assert_eq!(d.series[10].calls.presented, 7, "A B C D E F H₂");
    assert_eq!(d.series.iter().map(|b| b.calls.presented).sum::<u64>(), 7);
    // Service totals: each call once (H₁ left out).
    let t = &d.totals;
    assert_eq!(
        (t.presented, t.answered, t.abandoned, t.overflowed),
        (7, 4, 2, 1)
    );
    assert_eq!(
        (t.service_level.numerator, t.service_level.denominator),
        (3, 6)
    );
    assert_eq!(t.aht.mean(), Some(Duration::milliseconds(292_500)));
    // The call log keeps one record per call, in its last queue: H counts in
    // backup only (not as H₁ in support, as the ACD's per-visit facts would).
    // Queue support: A B C D E F presented 6, answered 3, abandoned 2 (D short),
    // answer rate 3/6, SL 2/(6 − 1), ASA 70/3 s, AHT 350 s.
    let s = &d.by_queue["support"];
    assert_eq!(
        (s.presented, s.answered, s.abandoned, s.overflowed),
        (6, 3, 2, 1)
    );
    assert_eq!((s.answer_rate.numerator, s.answer_rate.denominator), (3, 6));
    assert_eq!(
        (s.service_level.numerator, s.service_level.denominator),
        (2, 5)
    );
    assert_eq!(s.asa.mean(), Some(Duration::milliseconds(23_333)));
    assert_eq!(s.aht.mean(), Some(Duration::seconds(350)));
    assert_eq!(d.by_queue["backup"].service_level.percent(), Some(100.0));
    assert!(!d.by_queue.contains_key(""), "G and J reached no queue");
    assert_eq!(d.by_queue.len(), 2);
    // Agents: alice answered 2 with AHT 315 s; bob presented 2, answered 1.
    let alice = &d.by_agent["alice"];
    assert_eq!((alice.presented, alice.answered), (2, 2));
    assert_eq!(alice.aht.mean(), Some(Duration::seconds(315)));
    let bob = &d.by_agent["bob"];
    assert_eq!(
        (bob.presented, bob.answered, bob.abandoned_while_ringing),
        (2, 1, 1)
    );

    // The tables carry the same figures, rounded to one decimal.
    let queues = d.table(DashboardTable::Queues);
    assert_eq!(queues.header[0], "File");
    let support_row = queues
        .rows
        .iter()
        .find(|r| r[0] == Cell::Text("support".into()))
        .unwrap();
    let values: Vec<Option<f64>> = support_row[1..].iter().map(number).collect();
    assert_eq!(
        values,
        vec![
            Some(6.0),
            Some(3.0),
            Some(2.0),
            Some(50.0),
            Some(33.3),
            Some(40.0),
            Some(23.3),
            Some(350.0)
        ]
    );
    let series = d.table(DashboardTable::Series);
    assert_eq!(series.rows.len(), 25, "24 hours and the total row");
    let total = series.rows.last().unwrap();
    assert_eq!(total[0], Cell::Text("Total".into()));
    assert_eq!(number(&total[1]), Some(7.0));
    assert_eq!(number(&total[6]), Some(50.0), "service level 3 / 6");

    // The CSV and XLSX exports write exactly the table's cells.
    let mut csv_bytes = Vec::new();
    write_table_csv(&queues, &mut csv_bytes).unwrap();
    let csv_text = String::from_utf8(csv_bytes).unwrap();
    assert!(
        csv_text.contains("support,6,3,2,50,33.3,40,23.3,350"),
        "{csv_text}"
    );
    let xlsx = write_table_xlsx(&queues, "Files").unwrap();
    let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(xlsx)).unwrap();
    let range = book.worksheet_range("Files").unwrap();
    let row = range
        .rows()
        .find(|r| r[0] == Data::String("support".into()))
        .unwrap();
    assert_eq!(row[1], Data::Float(6.0));
    assert_eq!(row[6], Data::Float(40.0));

    // A day by day view of the week holds the same totals on Monday.
    let week = store
        .dashboard(
            from,
            from + Duration::days(7),
            Granularity::Day,
            default_zone(),
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(week.series.len(), 7);
    assert_eq!(week.series[0].calls, d.totals);
    assert_eq!(week.totals, d.totals);
});

both_backends!(
    dashboard_counts_tickets_by_nature_priority_category_and_sla,
    |store| {
        let cat = store.create_category("Messagerie", None).await.unwrap();
        let t0 = at("2026-03-02T09:00:00Z");
        let mut a = NewTicket::simplified(Nature::Assistance, "a", "x");
        a.category_id = Some(cat);
        let a = store.create_ticket(&a, "s", t0).await.unwrap();
        let b = store
            .create_ticket(&NewTicket::simplified(Nature::Request, "b", "y"), "s", t0)
            .await
            .unwrap();
        for (id, verdict) in [(a, SlaOutcome::Met), (b, SlaOutcome::Breached)] {
            store
                .transition_ticket(id, &TicketAction::Resolve, "s", t0 + Duration::hours(1))
                .await
                .unwrap();
            store
                .set_sla_outcome(id, verdict, None, "sla", t0 + Duration::hours(1))
                .await
                .unwrap();
        }
        let (from, to) = day();
        let d = store
            .dashboard(
                from,
                to,
                Granularity::Hour,
                default_zone(),
                &Default::default(),
            )
            .await
            .unwrap();
        let table = d.table(DashboardTable::Tickets);
        let find = |group: &str, value: &str| {
            table
                .rows
                .iter()
                .find(|r| r[0] == Cell::Text(group.into()) && r[1] == Cell::Text(value.into()))
                .and_then(|r| number(&r[2]))
        };
        assert_eq!(
            find("Nature", "incident"),
            Some(1.0),
            "assistance counts as incident"
        );
        assert_eq!(find("Nature", "demande"), Some(1.0));
        assert_eq!(find("Catégorie", "Messagerie"), Some(1.0));
        assert_eq!(find("Catégorie", "(sans catégorie)"), Some(1.0));
        assert_eq!(find("SLA", "respecté"), Some(1.0));
        assert_eq!(find("SLA", "dépassé"), Some(1.0));
        assert_eq!(find("SLA", "exclu"), Some(0.0));
        let priorities: f64 = table
            .rows
            .iter()
            .filter(|r| r[0] == Cell::Text("Priorité".into()))
            .filter_map(|r| number(&r[2]))
            .sum();
        assert_eq!(priorities, 2.0);
        // Too many buckets are refused rather than computed.
        assert!(
            store
                .dashboard(
                    from,
                    from + Duration::days(30),
                    Granularity::Hour,
                    default_zone(),
                    &Default::default()
                )
                .await
                .is_err()
        );
    }
);

both_backends!(api_tokens_are_stored_by_hash_and_revoked, |store| {
    let now = at("2026-03-02T09:00:00Z");
    let id = store
        .create_api_token(
            "ITSM ministère",
            TokenRole::Statistics,
            "hash-1",
            "gch_abcd",
            "root",
            now,
        )
        .await
        .unwrap();
    let live = store.live_api_token("hash-1").await.unwrap().unwrap();
    assert_eq!(
        (live.id, live.role, live.name.as_str()),
        (id, TokenRole::Statistics, "ITSM ministère")
    );
    assert!(store.live_api_token("hash-2").await.unwrap().is_none());
    store
        .touch_api_token(id, now + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(
        store.api_tokens().await.unwrap()[0].last_used_at,
        Some(now + Duration::minutes(1))
    );
    assert!(
        store
            .revoke_api_token(id, "root", now + Duration::minutes(2))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_api_token(id, "root", now + Duration::minutes(3))
            .await
            .unwrap()
    );
    assert!(store.live_api_token("hash-1").await.unwrap().is_none());
    let journal = store
        .journal_between(now, now + Duration::hours(1))
        .await
        .unwrap();
    let actions: Vec<&str> = journal.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, vec!["api_token.create", "api_token.revoke"]);
    assert!(
        store
            .create_api_token(" ", TokenRole::Supervisor, "hash-3", "gch_x", "root", now)
            .await
            .is_err()
    );
});
