//! Seeded calls and tickets of the dashboard tests (`tests/dashboard_api.rs`,
//! `tests/dashboard_browser.rs`), with their hand-computed figures.

#![allow(dead_code)]

use chrono::{DateTime, Duration, Utc};
use guichet_tickets::ticket::{Nature, NewTicket, SlaOutcome, TicketAction};
use guichet_tickets::{CallOutcome, CallUpdate, NewCall, Store};

/// 2026-11-24 07:00:00 UTC (08:00 in Paris), the test clock's day, before it starts.
pub fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T07:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + Duration::seconds(seconds)
}

/// One seeded call: queue entry, agent offered and answered, end, wrap-up end.
struct Seed {
    queue: Option<(&'static str, i64)>,
    agent: Option<(&'static str, i64)>,
    answered: Option<i64>,
    ended: i64,
    wrap_up_end: Option<i64>,
    outcome: CallOutcome,
}

/// Five presented calls and one on a closed line:
/// - A louvre-hotline, amelie: wait 10 s, talk 300 s, wrap-up 60 s;
/// - B louvre-hotline, bruno: wait 15 s, talk 420 s;
/// - C culture-incidents, amelie: wait 45 s, talk 240 s, wrap-up 30 s;
/// - D louvre-hotline: abandoned after 3 s (short abandon);
/// - E culture-incidents, ringing at bruno: abandoned after 90 s;
/// - F: closed, never presented.
///
/// Totals: presented 5, answered 3, abandoned 2; answer rate 3/5 = 60 %, abandon rate 40 %;
/// service level (A, B within 20 s) 2 / (5 − 1) = 50 %; ASA 70/3 = 23,3 s;
/// AHT (360 + 420 + 270) / 3 = 350 s.
fn seeds() -> Vec<Seed> {
    use CallOutcome::*;
    let s = |queue, agent, answered, ended, wrap_up_end, outcome| Seed {
        queue,
        agent,
        answered,
        ended,
        wrap_up_end,
        outcome,
    };
    vec![
        s(
            Some(("louvre-hotline", 0)),
            Some(("amelie.martin", 5)),
            Some(10),
            310,
            Some(370),
            Answered,
        ),
        s(
            Some(("louvre-hotline", 60)),
            Some(("bruno.petit", 70)),
            Some(75),
            495,
            None,
            Answered,
        ),
        s(
            Some(("culture-incidents", 400)),
            Some(("amelie.martin", 440)),
            Some(445),
            685,
            Some(715),
            Answered,
        ),
        s(
            Some(("louvre-hotline", 500)),
            None,
            None,
            503,
            None,
            AbandonedInQueue,
        ),
        s(
            Some(("culture-incidents", 600)),
            Some(("bruno.petit", 650)),
            None,
            690,
            None,
            AbandonedWhileRinging,
        ),
        s(None, None, None, 800, None, Closed),
    ]
}

pub async fn seed(store: &Store) {
    for (i, c) in seeds().into_iter().enumerate() {
        let first = c.queue.map_or(c.ended, |q| q.1);
        let id = store
            .open_call(&NewCall {
                sip_call_id: format!("seed-{i}"),
                line: "8585".to_owned(),
                caller_number: "+33140158000".to_owned(),
                caller_name: None,
                person_id: None,
                vip: false,
                p0: false,
                arrived_at: t(first - 20),
            })
            .await
            .unwrap();
        if let Some((queue, at)) = c.queue {
            let exited = CallUpdate::IvrExited {
                at: t(at),
                node: "menu".into(),
            };
            store.update_call(id, &exited).await.unwrap();
            let queued = CallUpdate::Queued {
                at: t(at),
                queue: queue.to_owned(),
            };
            store.update_call(id, &queued).await.unwrap();
        }
        if let Some((agent, at)) = c.agent {
            let offered = CallUpdate::Offered {
                at: t(at),
                agent: agent.to_owned(),
            };
            store.update_call(id, &offered).await.unwrap();
            if let Some(a) = c.answered {
                let answered = CallUpdate::Answered {
                    at: t(a),
                    agent: agent.to_owned(),
                };
                store.update_call(id, &answered).await.unwrap();
            }
        }
        store
            .close_call(id, c.outcome, t(c.ended), c.wrap_up_end.is_some())
            .await
            .unwrap();
        if let Some(w) = c.wrap_up_end {
            let done = CallUpdate::WrapUpEnded { at: t(w) };
            store.update_call(id, &done).await.unwrap();
        }
    }
    // Two tickets resolved the same morning: one SLA met, one breached.
    for (nature, verdict) in [
        (Nature::Incident, SlaOutcome::Met),
        (Nature::Request, SlaOutcome::Breached),
    ] {
        let ticket = store
            .create_ticket(
                &NewTicket::simplified(nature, "objet", "description"),
                "seed",
                t(100),
            )
            .await
            .unwrap();
        store
            .transition_ticket(ticket, &TicketAction::Resolve, "seed", t(1000))
            .await
            .unwrap();
        store
            .set_sla_outcome(ticket, verdict, None, "sla", t(1000))
            .await
            .unwrap();
    }
}
