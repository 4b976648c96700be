//! What happens to calls that do not end in a conversation, end to end over real SIP:
//! the caller gives up while the agent's phone rings (the phone gets CANCEL, the record says
//! abandoned), nobody is logged in (overflow to a callback request that keeps the number),
//! and a `kill -9` of the server mid-call (finished calls intact, the one in flight marked
//! interrupted, the restarted server takes calls again). A call is finished once its caller
//! heard it end: a `kill -9` the instant the 200 OK to the caller's BYE, or Guichet's own
//! BYE, arrives finds the call with its real outcome; SIGTERM past the grace period closes
//! every call, and opens its ticket, before the exit.

mod support;

use std::time::Duration;

use guichet_tickets::{CallOutcome, Store};
use support::*;

const GARNIER_NUMBER: &str = "+33140158210";

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_who_hangs_up_while_the_agent_phone_rings_is_abandoned_and_the_phone_gets_cancel()
{
    if !have("sipp") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for db in databases(dir.path(), "abandon").await {
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
        let phone = unanswered_desk_phone(run.path(), "amelie", phone_port);
        register_desk_phone(run.path(), &server, "1001", "demo-1001-secret", phone_port);
        // The VIP path reaches the queue after 3.4 s; the caller gives up at 6 s, while the
        // phone rings (ring timeout 20 s).
        let call = impatient_caller(
            run.path(),
            "impatient",
            &server,
            "8585",
            VIP_NUMBER,
            100,
            6000,
        );
        call.expect_success(Duration::from_secs(30), &server);
        phone.expect_success(Duration::from_secs(10), &server);
        let record = closed_record(&db, VIP_NUMBER).await;
        assert_eq!(
            record.outcome,
            Some(CallOutcome::AbandonedWhileRinging),
            "{record:?}"
        );
        assert!(record.offered_at.is_some() && record.answered_at.is_none());
        let wait = record.ended_at.expect("end") - record.queued_at.expect("queued");
        assert!(
            (1_000..10_000).contains(&wait.num_milliseconds()),
            "wait {wait}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_nobody_logged_in_the_call_overflows_to_a_callback_request_with_the_number() {
    if !have("sipp") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for db in databases(dir.path(), "callback").await {
        let run = tempfile::tempdir_in(dir.path()).expect("run dir");
        let server = Server::start(
            run.path(),
            &db,
            &ServerOptions {
                clock_start: OPEN_HOURS,
                edits: vec![md5_only()],
            },
        );
        // No desk phone registered: the louvre-hotline rule sends the caller to a callback.
        let call = caller(
            run.path(),
            "callback",
            &server,
            "8585",
            VIP_NUMBER,
            &dtmf_pcap("1"),
            100,
        );
        call.expect_success(Duration::from_secs(40), &server);
        let record = closed_record(&db, VIP_NUMBER).await;
        assert_eq!(
            record.outcome,
            Some(CallOutcome::OverflowedCallback),
            "{record:?}"
        );
        let store = Store::open(&db.url()).await.expect("store");
        let pending = store
            .pending_callbacks("louvre-hotline")
            .await
            .expect("callbacks");
        assert_eq!(pending.len(), 1, "{pending:?}");
        assert_eq!(pending[0].number, VIP_NUMBER);
        assert_eq!(pending[0].call_id, Some(record.id));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_call_keeps_finished_calls_marks_the_call_in_flight_interrupted_and_restarts() {
    if !have("sipp") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for db in databases(dir.path(), "kill").await {
        let run = tempfile::tempdir_in(dir.path()).expect("run dir");
        let mut server = Server::start(
            run.path(),
            &db,
            &ServerOptions {
                clock_start: OPEN_HOURS,
                edits: vec![md5_only()],
            },
        );
        // A finished call first.
        let phone_port = free_udp_port();
        let phone = answering_desk_phone(run.path(), "amelie", phone_port, 500);
        register_desk_phone(run.path(), &server, "1001", "demo-1001-secret", phone_port);
        caller(
            run.path(),
            "first",
            &server,
            "8585",
            VIP_NUMBER,
            &dtmf_pcap("1"),
            100,
        )
        .expect_success(Duration::from_secs(40), &server);
        phone.expect_success(Duration::from_secs(10), &server);
        let finished = closed_record(&db, VIP_NUMBER).await;

        // A second call, in the menu when the server dies.
        let _in_flight = impatient_caller(
            run.path(),
            "second",
            &server,
            "8585",
            ORDINARY_NUMBER,
            100,
            30_000,
        );
        let store = Store::open(&db.url()).await.expect("store");
        let mut seen = false;
        for _ in 0..100 {
            if !store.calls_in_flight().await.expect("in flight").is_empty() {
                seen = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(seen, "the second call never reached the server");
        server.signal("KILL");
        server.wait_exit(Duration::from_secs(10));
        drop(server);

        // Restart on the same database.
        let restarted = Server::start(
            run.path(),
            &db,
            &ServerOptions {
                clock_start: OPEN_HOURS,
                edits: vec![md5_only()],
            },
        );
        let again = store.call(finished.id).await.expect("the finished call");
        assert_eq!(again, finished, "a finished call changed across the crash");
        let history = store
            .caller_history(ORDINARY_NUMBER, 10)
            .await
            .expect("history");
        assert_eq!(history.len(), 1);
        assert!(history[0].interrupted, "{:?}", history[0]);
        assert!(history[0].outcome.is_none());
        assert!(store.calls_in_flight().await.expect("in flight").is_empty());

        // And it takes calls again.
        let _third = caller(
            run.path(),
            "third",
            &restarted,
            "8585",
            GARNIER_NUMBER,
            &dtmf_pcap("1"),
            4000,
        );
        let store2 = Store::open(&db.url()).await.expect("store");
        let mut reached = false;
        for _ in 0..100 {
            if !store2
                .caller_history(GARNIER_NUMBER, 1)
                .await
                .expect("history")
                .is_empty()
            {
                reached = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(reached, "the restarted server did not take the call");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vip_who_calls_while_three_ordinary_callers_wait_is_answered_first() {
    if !have("sipp") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for db in databases(dir.path(), "vipfirst").await {
        let run = tempfile::tempdir_in(dir.path()).expect("run dir");
        let mut edits = vec![md5_only()];
        // Callers must wait for an agent rather than overflow to a callback.
        edits.push((
            "overflow = [{ no_agent_logged_in = true, callback = true }]\n",
            String::new(),
        ));
        let server = Server::start(
            run.path(),
            &db,
            &ServerOptions {
                clock_start: OPEN_HOURS,
                edits,
            },
        );
        let ordinary = ["+33140205050", "+33140158210", "+594594300100"];
        let mut waiting = Vec::new();
        for (i, number) in ordinary.iter().enumerate() {
            // Each presses 1 in the menu and waits up to 40 s.
            waiting.push(impatient_caller(
                run.path(),
                &format!("ordinary{i}"),
                &server,
                "8585",
                number,
                4000,
                40_000,
            ));
        }
        let store = Store::open(&db.url()).await.expect("store");
        // Wait until the three are in the queue.
        let mut queued = 0;
        for _ in 0..300 {
            queued = store
                .calls_in_flight()
                .await
                .expect("in flight")
                .iter()
                .filter(|c| c.queued_at.is_some())
                .count();
            if queued == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            queued, 3,
            "the ordinary callers did not all reach the queue"
        );
        let vip = caller(
            run.path(),
            "vip",
            &server,
            "8585",
            VIP_NUMBER,
            &dtmf_pcap("1"),
            100,
        );
        for _ in 0..100 {
            let calls = store.calls_in_flight().await.expect("in flight");
            if calls.iter().filter(|c| c.queued_at.is_some()).count() == 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Now an agent logs in with a desk phone: the first call offered must be the VIP's.
        let phone_port = free_udp_port();
        let phone = answering_desk_phone(run.path(), "amelie", phone_port, 500);
        register_desk_phone(run.path(), &server, "1001", "demo-1001-secret", phone_port);
        vip.expect_success(Duration::from_secs(30), &server);
        phone.expect_success(Duration::from_secs(10), &server);
        let record = closed_record(&db, VIP_NUMBER).await;
        assert_eq!(record.outcome, Some(CallOutcome::Answered), "{record:?}");
        for number in ordinary {
            let history = store.caller_history(number, 1).await.expect("history");
            assert!(
                history[0].answered_at.is_none(),
                "{number} was answered before the VIP: {:?}",
                history[0]
            );
            assert!(history[0].queued_at.expect("queued") < record.queued_at.expect("queued"));
        }
        drop(waiting);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn overflow_to_an_external_number_goes_out_through_the_trunk_and_bridges_the_caller() {
    if !have("sipp") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for db in databases(dir.path(), "external").await {
        let run = tempfile::tempdir_in(dir.path()).expect("run dir");
        // A SIPp UAS stands in for the trunk (the on-call technician's mobile, say): it
        // answers, talks for a second and hangs up.
        let trunk_port = free_udp_port();
        let trunk = answering_desk_phone(run.path(), "trunk", trunk_port, 1000);
        let mut edits = vec![md5_only()];
        edits.push((
            "overflow = [{ no_agent_logged_in = true, callback = true }]",
            "overflow = [{ no_agent_logged_in = true, to_number = \"0600000000\" }]".to_owned(),
        ));
        edits.push((
            "shutdown_grace_secs = 30\n",
            format!(
                "shutdown_grace_secs = 30\n\n[sip.trunk]\naddress = \"127.0.0.1:{trunk_port}\"\ncaller_id = \"8585\"\n"
            ),
        ));
        let server = Server::start(
            run.path(),
            &db,
            &ServerOptions {
                clock_start: OPEN_HOURS,
                edits,
            },
        );
        let call = caller(
            run.path(),
            "overflow",
            &server,
            "8585",
            VIP_NUMBER,
            &dtmf_pcap("1"),
            100,
        );
        trunk.expect_success(Duration::from_secs(30), &server);
        call.expect_success(Duration::from_secs(30), &server);
        let record = closed_record(&db, VIP_NUMBER).await;
        assert_eq!(
            record.outcome,
            Some(CallOutcome::OverflowedExternal),
            "{record:?}"
        );
        assert_eq!(record.overflow_target.as_deref(), Some("0600000000"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unanswered_offer_is_withdrawn_at_the_ring_timeout_and_re_offered_to_the_next_agent() {
    if !have("sipp") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for db in databases(dir.path(), "reoffer").await {
        let run = tempfile::tempdir_in(dir.path()).expect("run dir");
        let mut edits = vec![md5_only()];
        edits.push(("ring_timeout = 20", "ring_timeout = 3".to_owned()));
        let server = Server::start(
            run.path(),
            &db,
            &ServerOptions {
                clock_start: OPEN_HOURS,
                edits,
            },
        );
        // Amélie logs in first (longest idle: offered first) and does not pick up.
        let absent_port = free_udp_port();
        let absent = unanswered_desk_phone(run.path(), "amelie", absent_port);
        register_desk_phone(run.path(), &server, "1001", "demo-1001-secret", absent_port);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let present_port = free_udp_port();
        let present = answering_desk_phone(run.path(), "chloe", present_port, 800);
        register_desk_phone(
            run.path(),
            &server,
            "1003",
            "demo-1003-secret",
            present_port,
        );

        let call = caller(
            run.path(),
            "caller",
            &server,
            "8585",
            VIP_NUMBER,
            &dtmf_pcap("1"),
            100,
        );
        absent.expect_success(Duration::from_secs(30), &server);
        present.expect_success(Duration::from_secs(30), &server);
        call.expect_success(Duration::from_secs(30), &server);
        let record = closed_record(&db, VIP_NUMBER).await;
        assert_eq!(record.outcome, Some(CallOutcome::Answered), "{record:?}");
        assert_eq!(record.agent.as_deref(), Some("chloe.durand"));
        let store = Store::open(&db.url()).await.expect("store");
        let offers = store
            .call_events(record.id)
            .await
            .expect("events")
            .into_iter()
            .filter(|e| e.kind == "offered")
            .count();
        assert_eq!(offers, 2, "offered to Amélie, then to Chloé");
    }
}

/// A caller's phone reduced to what the durability test needs: INVITE, ACK, BYE over UDP,
/// so that the test knows the very instant the 200 OK to its BYE arrives.
struct BareCaller {
    socket: std::net::UdpSocket,
    /// Where the RTP the server sends lands (kept open so it is not refused).
    _rtp: std::net::UdpSocket,
    server: std::net::SocketAddr,
    call_id: String,
    from: String,
    /// The server's To (with its tag) and Contact, once answered.
    to: String,
    contact: String,
}

impl BareCaller {
    /// Calls `line` from `number` and returns once the call is answered and acknowledged.
    fn call(server: std::net::SocketAddr, line: &str, number: &str, n: usize) -> BareCaller {
        let mut caller = BareCaller::invite(server, line, number, n);
        let ok = caller.response_to("1 INVITE", Duration::from_secs(15));
        assert!(ok.starts_with("SIP/2.0 200"), "INVITE answered {ok}");
        caller.to = header(&ok, "To").expect("To").to_owned();
        if let Some(contact) = header(&ok, "Contact") {
            caller.contact = contact
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or_default()
                .to_owned();
        }
        let ack = format!(
            "ACK {} SIP/2.0\r\n{}Content-Length: 0\r\n\r\n",
            caller.contact,
            caller.headers("1 ACK", "ack")
        );
        caller.send(&ack);
        caller
    }

    /// Calls `line` from `number`, cancels at once (before the answer) and returns once the
    /// INVITE's 487 is in (acknowledged), with the time from the CANCEL to the 487.
    fn cancel_before_answer(
        server: std::net::SocketAddr,
        line: &str,
        number: &str,
        n: usize,
    ) -> Duration {
        let caller = BareCaller::invite(server, line, number, n);
        // Same branch as the INVITE: a CANCEL names the transaction it cancels.
        let cancel = format!(
            "CANCEL sip:{line}@{server} SIP/2.0\r\n{}Content-Length: 0\r\n\r\n",
            caller.headers("1 CANCEL", "inv")
        );
        let sent = std::time::Instant::now();
        caller.send(&cancel);
        let terminated = caller.response_to("1 INVITE", Duration::from_secs(10));
        let took = sent.elapsed();
        assert!(
            terminated.starts_with("SIP/2.0 487"),
            "cancelled INVITE answered {terminated}"
        );
        let to = header(&terminated, "To").expect("To");
        let ack = format!(
            "ACK sip:{line}@{server} SIP/2.0\r\n{}Content-Length: 0\r\n\r\n",
            caller.headers("1 ACK", "inv").replace(&caller.to, to)
        );
        caller.send(&ack);
        took
    }

    /// Sends an INVITE for `line` from `number` (call number `n` of the test).
    fn invite(server: std::net::SocketAddr, line: &str, number: &str, n: usize) -> BareCaller {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind SIP");
        let rtp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind RTP");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let local = socket.local_addr().expect("local");
        let rtp_port = rtp.local_addr().expect("rtp").port();
        let caller = BareCaller {
            socket,
            _rtp: rtp,
            server,
            call_id: format!("durable-{n}-{}@127.0.0.1", std::process::id()),
            from: format!("<sip:{number}@127.0.0.1>;tag=caller{n}"),
            to: format!("<sip:{line}@{server}>"),
            contact: format!("sip:{line}@{server}"),
        };
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
        );
        let invite = format!(
            "INVITE sip:{line}@{server} SIP/2.0\r\n{}Contact: <sip:caller@{local}>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            caller.headers("1 INVITE", "inv"),
            sdp.len()
        );
        caller.send(&invite);
        caller
    }

    fn headers(&self, cseq: &str, branch: &str) -> String {
        let local = self.socket.local_addr().expect("local");
        format!(
            "Via: SIP/2.0/UDP {local};branch=z9hG4bK{branch}-{};rport\r\nMax-Forwards: 70\r\n\
             From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq}\r\n",
            // Unique per call: a branch names a transaction.
            self.call_id.replace(['@', '.'], "-"),
            self.from,
            self.to,
            self.call_id
        )
    }

    fn send(&self, message: &str) {
        self.socket
            .send_to(message.as_bytes(), self.server)
            .expect("send");
    }

    /// The final response whose CSeq is `cseq`; anything else is skipped.
    fn response_to(&self, cseq: &str, within: Duration) -> String {
        let deadline = std::time::Instant::now() + within;
        let mut buf = vec![0u8; 65_536];
        while std::time::Instant::now() < deadline {
            let Ok((n, _)) = self.socket.recv_from(&mut buf) else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let final_response = text.starts_with("SIP/2.0 ") && !text.starts_with("SIP/2.0 1");
            if final_response && header(&text, "CSeq") == Some(cseq) {
                return text;
            }
        }
        panic!("no final response to {cseq} within {within:?}");
    }

    /// Hangs up and returns once the 200 OK to the BYE is in, with the time it took.
    fn hang_up(&self) -> Duration {
        let bye = format!(
            "BYE {} SIP/2.0\r\n{}Content-Length: 0\r\n\r\n",
            self.contact,
            self.headers("2 BYE", "bye")
        );
        let sent = std::time::Instant::now();
        self.send(&bye);
        let ok = self.response_to("2 BYE", Duration::from_secs(10));
        let took = sent.elapsed();
        assert!(ok.starts_with("SIP/2.0 200"), "BYE answered {ok}");
        took
    }
}

impl BareCaller {
    /// Waits for the server's BYE and answers it.
    fn expect_bye(&self, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        let mut buf = vec![0u8; 65_536];
        while std::time::Instant::now() < deadline {
            let Ok((n, from)) = self.socket.recv_from(&mut buf) else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !text.starts_with("BYE ") {
                continue;
            }
            let copied: String = ["Via", "From", "To", "Call-ID", "CSeq"]
                .iter()
                .filter_map(|h| header(&text, h).map(|v| format!("{h}: {v}\r\n")))
                .collect();
            let ok = format!("SIP/2.0 200 OK\r\n{copied}Content-Length: 0\r\n\r\n");
            self.socket.send_to(ok.as_bytes(), from).expect("send 200");
            return;
        }
        panic!("no BYE from the server within {within:?}");
    }
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_whose_bye_got_its_200_ok_keeps_its_real_outcome_across_an_immediate_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    for db in databases(dir.path(), "byekill").await {
        let run = tempfile::tempdir_in(dir.path()).expect("run dir");
        let options = ServerOptions {
            clock_start: OPEN_HOURS,
            edits: vec![md5_only()],
        };
        let server = Server::start(run.path(), &db, &options);
        // A few calls hung up in the menu, half a second after the answer; the server is
        // killed the instant the last BYE's 200 OK arrives.
        const CALLS: usize = 3;
        let mut delays = Vec::new();
        for n in 0..CALLS {
            let caller = BareCaller::call(server.sip, "8585", GARNIER_NUMBER, n);
            std::thread::sleep(Duration::from_millis(500));
            delays.push(caller.hang_up());
        }
        let history =
            kill_restart_and_read_history(server, &db, &options, "BYE to 200 OK", &delays).await;
        assert_eq!(history.len(), CALLS, "{history:?}");
        for record in &history {
            let ended = record.ended_at.expect("ended_at");
            let held = (ended - record.arrived_at).num_milliseconds();
            assert!(
                (400..2_500).contains(&held),
                "arrived to ended {held} ms: {record:?}"
            );
        }
    }
}

/// Kills the server (`kill -9`), prints how long the ending messages took, restarts it on
/// the same database and returns Garnier's calls, each checked finished in the IVR (not
/// `interrupted`), with nothing left in flight.
async fn kill_restart_and_read_history(
    mut server: Server,
    db: &Db,
    options: &ServerOptions<'_>,
    what: &str,
    delays: &[Duration],
) -> Vec<guichet_tickets::CallRecord> {
    server.child.kill().expect("kill -9");
    server.wait_exit(Duration::from_secs(10));
    let delays_ms: Vec<f64> = delays.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    println!(
        "{} {what} (ms, idle, waits for the close's commit): {delays_ms:.2?}",
        db.url().split(':').next().unwrap_or_default()
    );
    let run = server.dir.clone();
    drop(server);

    let restarted = Server::start(&run, db, options);
    let store = Store::open(&db.url()).await.expect("store");
    // The restart has marked whatever was in flight: nothing of ours may be.
    let history = store
        .caller_history(GARNIER_NUMBER, 10)
        .await
        .expect("history");
    for record in &history {
        assert!(
            !record.interrupted,
            "a finished call marked interrupted: {record:?}"
        );
        assert_eq!(
            record.outcome,
            Some(CallOutcome::AbandonedInIvr),
            "{record:?}"
        );
    }
    assert!(store.calls_in_flight().await.expect("in flight").is_empty());
    drop(restarted);
    history
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_cancelled_before_the_answer_keeps_its_real_outcome_across_a_kill_9_at_its_487() {
    let dir = tempfile::tempdir().expect("temp dir");
    for db in databases(dir.path(), "cancelkill").await {
        let run = tempfile::tempdir_in(dir.path()).expect("run dir");
        let options = ServerOptions {
            clock_start: OPEN_HOURS,
            edits: vec![md5_only()],
        };
        let server = Server::start(run.path(), &db, &options);
        // Callers who give up before the answer (CANCEL right behind the INVITE, while the
        // record is being written); the server is killed the instant the last 487 arrives.
        const CALLS: usize = 3;
        let delays: Vec<Duration> = (0..CALLS)
            .map(|n| BareCaller::cancel_before_answer(server.sip, "8585", GARNIER_NUMBER, n))
            .collect();
        let history =
            kill_restart_and_read_history(server, &db, &options, "CANCEL to 487", &delays).await;
        assert_eq!(history.len(), CALLS, "{history:?}");
        for record in &history {
            assert!(record.answered_at.is_none(), "{record:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_past_the_grace_period_ends_the_calls_with_their_outcomes_and_tickets_committed_before_exit()
 {
    if !have("sipp") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for db in databases(dir.path(), "termgrace").await {
        let run = tempfile::tempdir_in(dir.path()).expect("run dir");
        let mut server = Server::start(
            run.path(),
            &db,
            &ServerOptions {
                clock_start: OPEN_HOURS,
                edits: vec![
                    md5_only(),
                    (
                        "shutdown_grace_secs = 30",
                        "shutdown_grace_secs = 1".to_owned(),
                    ),
                ],
            },
        );
        // A VIP talking to the agent (who would talk for 20 s) and a caller in the menu when
        // SIGTERM comes, both still there when the 1 s grace period is over.
        let phone_port = free_udp_port();
        let _phone = answering_desk_phone(run.path(), "amelie", phone_port, 20_000);
        register_desk_phone(run.path(), &server, "1001", "demo-1001-secret", phone_port);
        let talking = BareCaller::call(server.sip, "8585", VIP_NUMBER, 0);
        let store = Store::open(&db.url()).await.expect("store");
        let mut answered = false;
        for _ in 0..200 {
            let history = store.caller_history(VIP_NUMBER, 1).await.expect("history");
            if history.first().is_some_and(|c| c.answered_at.is_some()) {
                answered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(answered, "the agent never answered");
        let in_menu = BareCaller::call(server.sip, "8585", GARNIER_NUMBER, 1);
        std::thread::sleep(Duration::from_millis(300));
        server.signal("TERM");
        in_menu.expect_bye(Duration::from_secs(5));
        talking.expect_bye(Duration::from_secs(5));
        let status = server.wait_exit(Duration::from_secs(15));
        assert!(status.success(), "exit {status}: {}", server.log());

        let history = store
            .caller_history(GARNIER_NUMBER, 10)
            .await
            .expect("history");
        assert_eq!(history.len(), 1, "{history:?}");
        let record = &history[0];
        assert!(!record.interrupted, "{record:?}");
        assert_eq!(
            record.outcome,
            Some(CallOutcome::AbandonedInIvr),
            "{record:?}"
        );
        // Ended by the server at the end of the grace period, about 1.3 s after it arrived.
        let held = (record.ended_at.expect("ended_at") - record.arrived_at).num_milliseconds();
        assert!((1_000..3_000).contains(&held), "arrived to ended {held} ms");

        let history = store.caller_history(VIP_NUMBER, 10).await.expect("history");
        assert_eq!(history.len(), 1, "{history:?}");
        let record = &history[0];
        assert!(!record.interrupted, "{record:?}");
        assert_eq!(record.outcome, Some(CallOutcome::Answered), "{record:?}");
        assert!(record.ended_at.is_some(), "{record:?}");
        // Its ticket draft was opened before the exit, linked to the call.
        let ticket = store
            .open_ticket_of_person(record.person_id.expect("person"))
            .await
            .expect("tickets")
            .expect("no ticket opened for the call ended at shutdown");
        assert_eq!(
            store.ticket_calls(ticket).await.expect("calls"),
            vec![record.id]
        );
        assert!(store.calls_in_flight().await.expect("in flight").is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_agent_hangs_up_the_caller_gets_bye_only_once_the_answered_call_is_committed() {
    if !have("sipp") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for db in databases(dir.path(), "agentbye").await {
        let run = tempfile::tempdir_in(dir.path()).expect("run dir");
        let options = ServerOptions {
            clock_start: OPEN_HOURS,
            edits: vec![md5_only()],
        };
        let mut server = Server::start(run.path(), &db, &options);
        let phone_port = free_udp_port();
        let phone = answering_desk_phone(run.path(), "amelie", phone_port, 500);
        register_desk_phone(run.path(), &server, "1001", "demo-1001-secret", phone_port);
        // VIP prompt (3.45 s), queue, the desk phone answers, talks 0.5 s and hangs up: the
        // switchboard ends the caller's leg with its own BYE. The server dies the instant
        // that BYE reaches the caller.
        let caller = BareCaller::call(server.sip, "8585", VIP_NUMBER, 0);
        caller.expect_bye(Duration::from_secs(30));
        server.child.kill().expect("kill -9");
        server.wait_exit(Duration::from_secs(10));
        // The agent's BYE was answered (after the same commit) before the caller's BYE left.
        phone.expect_success(Duration::from_secs(10), &server);
        drop(server);

        let restarted = Server::start(run.path(), &db, &options);
        let store = Store::open(&db.url()).await.expect("store");
        let history = store.caller_history(VIP_NUMBER, 10).await.expect("history");
        assert_eq!(history.len(), 1, "{history:?}");
        let record = &history[0];
        assert!(
            !record.interrupted,
            "a finished call marked interrupted: {record:?}"
        );
        assert_eq!(record.outcome, Some(CallOutcome::Answered), "{record:?}");
        assert_eq!(record.agent.as_deref(), Some("amelie.martin"), "{record:?}");
        let talk = (record.ended_at.expect("ended_at") - record.answered_at.expect("answered_at"))
            .num_milliseconds();
        assert!((400..3_000).contains(&talk), "answered to ended {talk} ms");
        drop(restarted);
    }
}
