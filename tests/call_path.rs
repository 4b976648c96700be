//! The path of a call, for real: SIPp callers dial the Louvre line 8585 of a running
//! `guichet serve`, go through the French SVI, wait in the queue, and are answered by an
//! agent's desk phone (another SIPp, registered with digest authentication); the call log
//! is then checked in the store, on SQLite and on PostgreSQL.

mod support;

use std::time::Duration;

use guichet_tickets::call_quality::{AudioVerdict, MediaLeg};
use guichet_tickets::{CallOutcome, Store};
use support::caller_media::CallerMedia;
use support::*;

/// Thursday 14 May 2026, 10:00 in Paris: Ascension Day, a public holiday.
const ASCENSION_2026: &str = "2026-05-14T10:00:00+02:00";
/// Thursday 6 May 2027, 10:00 in Paris: Ascension again (Easter 28 March + 39 days), so the
/// moveable feast is computed for each year, not listed.
const ASCENSION_2027: &str = "2027-05-06T10:00:00+02:00";
/// Tuesday 24 November 2026, 20:00 in Paris: after closing time.
const EVENING: &str = "2026-11-24T20:00:00+01:00";
/// Sophie Garnier, an ordinary caller of the demo directory (P0 only in December-January).
const GARNIER_NUMBER: &str = "+33140158210";

#[tokio::test(flavor = "multi_thread")]
async fn a_vip_reaches_an_agent_and_the_call_is_logged_with_every_timestamp() {
    if !have("sipp") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for db in databases(dir.path(), "vip").await {
        let run = tempfile::tempdir_in(dir.path()).expect("run dir");
        let server = Server::start(
            run.path(),
            &db,
            &ServerOptions {
                clock_start: OPEN_HOURS,
                edits: vec![md5_only()],
            },
        );
        let phone_port = free_udp_port();
        let phone = answering_desk_phone(run.path(), "amelie", phone_port, 1500);
        register_desk_phone(run.path(), &server, "1001", "demo-1001-secret", phone_port);

        // The caller talks all along (the test plays its audio: a tone every 20 ms), so the
        // call's stored audio quality can be checked against what was sent.
        let caller_media = CallerMedia::start(600.0).await;
        let call = caller_media.caller(run.path(), "vip", server.sip_addr(), "8585", VIP_NUMBER);
        call.expect_success(Duration::from_secs(60), &server);
        phone.expect_success(Duration::from_secs(10), &server);
        let sent_by_caller = caller_media.packets_sent();
        drop(caller_media);

        let record = closed_record(&db, VIP_NUMBER).await;
        println!("{db:?}: {record:?}");
        assert_eq!(record.outcome, Some(CallOutcome::Answered));
        assert_eq!(record.line, "8585");
        assert!(record.vip, "the directory marks this caller VIP");
        assert_eq!(record.agent.as_deref(), Some("amelie.martin"));
        assert_eq!(record.queue.as_deref(), Some("louvre-hotline"));
        assert_eq!(record.caller_name.as_deref(), Some("Claire Lefèvre"));
        // VIPs skip the menu: they leave the SVI at the VIP queue node of the flow.
        assert_eq!(record.ivr_exit_node.as_deref(), Some("file_vip"));
        let arrived = record.arrived_at;
        let ivr = record.ivr_exited_at.expect("IVR exit time");
        let queued = record.queued_at.expect("queued time");
        let offered = record.offered_at.expect("offered time");
        let answered = record.answered_at.expect("answered time");
        let ended = record.ended_at.expect("end time");
        assert!(
            arrived <= ivr && ivr <= queued && queued <= offered,
            "{record:?}"
        );
        assert!(offered <= answered && answered < ended, "{record:?}");
        // The clock of the test server starts on a Tuesday at 10:00 in Paris.
        assert_eq!(arrived.date_naive().to_string(), "2026-11-24");
        let talk = (ended - answered).num_milliseconds();
        assert!((1000..10_000).contains(&talk), "talk {talk} ms");

        // The audio quality of both legs is in the call record (written by the call log
        // with the call's closing writes).
        let store = Store::open(&db.url()).await.expect("store");
        let legs = store.call_quality(record.id).await.expect("quality");
        println!("{db:?}: {legs:?}, caller sent {sent_by_caller} packets");
        assert_eq!(legs.len(), 2, "caller and agent legs: {legs:?}");
        let (caller_leg, agent_leg) = (&legs[0].counters, &legs[1].counters);
        assert_eq!(legs[0].leg, MediaLeg::Caller);
        assert_eq!(legs[1].leg, MediaLeg::Agent);
        // The caller talked from Guichet's first packet (the welcome) to the hang-up: 50
        // packets a second of the call, every one received on loopback (the last few may
        // still be in flight when the session is released).
        let call_ms = (ended - arrived).num_milliseconds() as u64;
        assert!(
            caller_leg.packets_received <= sent_by_caller
                && caller_leg.packets_received + 10 >= sent_by_caller,
            "received {} of {sent_by_caller} sent",
            caller_leg.packets_received
        );
        assert!(
            caller_leg.packets_received.abs_diff(call_ms / 20) <= call_ms / 20 / 10 + 10,
            "{} packets over a {call_ms} ms call",
            caller_leg.packets_received
        );
        assert_eq!(caller_leg.packets_lost, 0, "{caller_leg:?}");
        assert!(caller_leg.packets_sent > caller_leg.packets_received / 2);
        assert!(caller_leg.jitter_max_us >= caller_leg.jitter_final_us);
        assert!(caller_leg.jitter_max_us < 20_000, "{caller_leg:?}");
        // The desk phone echoes what it hears (the caller through the bridge) while talking.
        let talk_packets = talk as u64 / 20;
        assert!(
            agent_leg.packets_received >= talk_packets / 2
                && agent_leg.packets_received <= talk_packets + 10,
            "agent leg {agent_leg:?} for {talk} ms of talk"
        );
        assert_eq!(agent_leg.packets_lost, 0, "{agent_leg:?}");
        assert!(legs[0].mos() > 4.3, "{:?}", legs[0]);
        assert_eq!(legs[0].verdict(), AudioVerdict::Good);

        // A ticket was opened for the agent, linked to the call, VIP so P0.
        let ticket = opened_ticket(&store, record.person_id.expect("person")).await;
        assert_eq!(
            store.ticket_calls(ticket).await.expect("calls"),
            vec![record.id]
        );
        let t = store.ticket(ticket).await.expect("ticket");
        println!("{t:?}");
        assert_eq!(t.assignee.as_deref(), Some("amelie.martin"));
        assert!(t.vip);
        assert_eq!(
            t.priority,
            guichet_tickets::priority::Priority::P0,
            "VIP → P0"
        );
        // The live SLA runner picks the new ticket up and saves its clock (Louvre policy).
        let mut saved = None;
        for _ in 0..60 {
            saved = store.ticket(ticket).await.expect("ticket").sla_state;
            if saved.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let saved = saved.expect("the SLA clock of the ticket was not saved");
        assert!(saved.contains("\"louvre\""), "{saved}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ordinary_caller_chooses_1_in_the_menu_by_rfc4733_and_reaches_an_agent() {
    if !have("sipp") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for db in databases(dir.path(), "menu").await {
        let run = tempfile::tempdir_in(dir.path()).expect("run dir");
        let server = Server::start(
            run.path(),
            &db,
            &ServerOptions {
                clock_start: OPEN_HOURS,
                edits: vec![md5_only()],
            },
        );
        let phone_port = free_udp_port();
        let phone = answering_desk_phone(run.path(), "amelie", phone_port, 1000);
        register_desk_phone(run.path(), &server, "1001", "demo-1001-secret", phone_port);
        // The welcome lasts 2.7 s; the key arrives while the menu prompt plays (barge-in).
        let call = caller(
            run.path(),
            "menu",
            &server,
            "8585",
            ORDINARY_NUMBER,
            &dtmf_pcap("1"),
            4000,
        );
        call.expect_success(Duration::from_secs(60), &server);
        phone.expect_success(Duration::from_secs(10), &server);

        let record = closed_record(&db, ORDINARY_NUMBER).await;
        assert_eq!(record.outcome, Some(CallOutcome::Answered), "{record:?}");
        assert!(!record.vip);
        assert_eq!(record.agent.as_deref(), Some("amelie.martin"));
        let store = Store::open(&db.url()).await.expect("store");
        let choice = menu_choice(&store, record.id).await;
        assert!(choice.contains("\"choice\":\"1\""), "{choice}");
        assert!(choice.contains("rfc4733"), "{choice}");
        let wait = (record.answered_at.expect("answered") - record.queued_at.expect("queued"))
            .num_milliseconds();
        assert!(wait >= 0, "{record:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn on_ascension_day_and_after_hours_the_caller_hears_closed_and_the_call_is_logged_closed() {
    if !have("sipp") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::Sqlite(dir.path().join("closed.db"));
    for (when, number) in [
        (ASCENSION_2026, ORDINARY_NUMBER),
        (ASCENSION_2027, GARNIER_NUMBER),
        (EVENING, VIP_NUMBER),
    ] {
        let run = tempfile::tempdir_in(dir.path()).expect("run dir");
        let server = Server::start(
            run.path(),
            &db,
            &ServerOptions {
                clock_start: when,
                edits: vec![md5_only()],
            },
        );
        let call = caller(
            run.path(),
            "closed",
            &server,
            "8585",
            number,
            &dtmf_pcap("1"),
            100,
        );
        call.expect_success(Duration::from_secs(40), &server);
        let record = closed_record(&db, number).await;
        assert_eq!(
            record.outcome,
            Some(CallOutcome::Closed),
            "{when}: {record:?}"
        );
        assert!(record.queued_at.is_none(), "{record:?}");
        let store = Store::open(&db.url()).await.expect("store");
        let events = store.call_events(record.id).await.expect("events");
        let hours = events
            .iter()
            .filter_map(|e| e.detail.as_deref())
            .find(|d| d.contains("hours_checked"))
            .unwrap_or_else(|| panic!("no hours check in {events:?}"));
        if when == ASCENSION_2026 || when == ASCENSION_2027 {
            assert!(hours.contains("Ascension"), "{hours}");
        } else {
            assert!(hours.contains("closed"), "{hours}");
        }
    }
}
