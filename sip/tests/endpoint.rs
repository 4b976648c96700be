//! The endpoint with hand-written peers on 127.0.0.1: malformed traffic over UDP and TCP,
//! ringing a registered desk phone, a trunk that challenges with digest.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use guichet_sip::digest::{AuthOutcome, DigestAlgorithm, DigestServer, StoredCredentials};
use guichet_sip::message::{Message, parse_head};
use guichet_sip::sdp::{self, LocalCapabilities};
use guichet_sip::{CallTarget, OutboundProgress, SipConfig, SipEndpoint, SipEvent, TrunkConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

async fn start(
    trunk: Option<TrunkConfig>,
) -> (SipEndpoint, tokio::sync::mpsc::UnboundedReceiver<SipEvent>) {
    let config = SipConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        lines: vec!["8585".into()],
        trunk,
        ..SipConfig::default()
    };
    SipEndpoint::start(config).await.expect("start")
}

async fn recv(sock: &UdpSocket) -> Message {
    let mut buf = vec![0u8; 65536];
    let (n, _) = tokio::time::timeout(Duration::from_secs(3), sock.recv_from(&mut buf))
        .await
        .expect("answer within 3 s")
        .expect("recv");
    let head = parse_head(&buf[..n]).expect("parsable");
    let mut m = head.message;
    m.body = buf[head.body_offset..n].to_vec();
    m
}

fn options(branch: &str, local: SocketAddr) -> String {
    format!(
        "OPTIONS sip:8585@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{branch};rport\r\nFrom: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:8585@127.0.0.1>\r\nCall-ID: {branch}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

#[tokio::test]
async fn torture_messages_over_udp_are_answered_or_counted_and_the_endpoint_survives() {
    let (ep, _rx) = start(None).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    for case in sipx_testkit::rfc4475::CASES {
        sock.send_to(case.bytes, ep.local_addr())
            .await
            .expect("send");
    }
    // Garbage and a truncated message too.
    sock.send_to(b"\x00\xff garbage", ep.local_addr())
        .await
        .expect("send");
    sock.send_to(
        b"INVITE sip:8585@h SIP/2.0\r\nVia: SIP/2.0/UDP x",
        ep.local_addr(),
    )
    .await
    .expect("send");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let local = sock.local_addr().expect("addr");
    sock.send_to(options("alive", local).as_bytes(), ep.local_addr())
        .await
        .expect("send");
    // Drain until the OPTIONS answer arrives: the endpoint is still serving.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        assert!(
            Instant::now() < deadline,
            "no answer to OPTIONS after the torture run"
        );
        let m = recv(&sock).await;
        if m.header("Call-ID") == Some("alive") {
            assert_eq!(m.status(), Some(200));
            break;
        }
    }
    let c = ep.handle().counters().snapshot();
    assert!(c.dropped_malformed >= 3, "dropped: {}", c.dropped_malformed);
    assert!(
        c.rejected_malformed >= 10,
        "rejected: {}",
        c.rejected_malformed
    );
    assert!(ep.handle().counters().responses_sent(505) == 1);
}

#[tokio::test]
async fn tcp_framing_by_content_length() {
    let (ep, mut rx) = start(None).await;
    let mut s = TcpStream::connect(ep.local_addr()).await.expect("connect");
    let local = s.local_addr().expect("addr");
    let body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let invite = format!(
        "INVITE sip:8585@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKtcp1\r\nFrom: \"A\" <sip:0611@127.0.0.1>;tag=a\r\nTo: <sip:8585@127.0.0.1>\r\nCall-ID: tcp-framing\r\nCSeq: 1 INVITE\r\nContact: <sip:a@{local};transport=tcp>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // Two messages in three writes, split inside the body: framing must reassemble them.
    let opts = options("tcp-opt", local).replace("UDP", "TCP");
    let all = format!("\r\n{invite}{opts}");
    let (a, rest) = all.split_at(200);
    let (b, c) = rest.split_at(invite.len() - 150);
    for part in [a, b, c] {
        s.write_all(part.as_bytes()).await.expect("write");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let ev = tokio::time::timeout(Duration::from_secs(3), rx.recv())
        .await
        .expect("event")
        .expect("open");
    let SipEvent::IncomingCall(call) = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(
        call.offer.expect("offer").audio().expect("audio").port,
        4000
    );
    let mut got = String::new();
    let mut buf = vec![0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(3);
    while !(got.contains("SIP/2.0 100 Trying") && got.contains("Call-ID: tcp-opt")) {
        assert!(Instant::now() < deadline, "responses: {got}");
        let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
            .await
            .expect("read")
            .expect("io");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    // A bad Content-Length on a stream cannot be framed: 400 and the connection closes.
    let bad = options("tcp-bad", local)
        .replace("UDP", "TCP")
        .replace("Content-Length: 0", "Content-Length: -5");
    s.write_all(bad.as_bytes()).await.expect("write");
    let mut rest = String::new();
    loop {
        let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
            .await
            .expect("read")
            .expect("io");
        if n == 0 {
            break;
        }
        rest.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(
        rest.contains("SIP/2.0 400 Malformed Content-Length"),
        "{rest}"
    );
}

#[tokio::test]
async fn rings_a_registered_phone_at_its_source_address() {
    let (ep, mut rx) = start(None).await;
    let h = ep.handle();
    h.set_credentials("1002", "pw-1002-long");
    let phone = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let local = phone.local_addr().expect("addr");
    let register = |cseq: u32, auth: Option<String>| {
        let mut m = format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKreg{cseq};rport\r\nFrom: <sip:1002@127.0.0.1>;tag=r\r\nTo: <sip:1002@127.0.0.1>\r\nCall-ID: reg-1002\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:1002@{local}>;expires=120\r\nMax-Forwards: 70\r\n"
        );
        if let Some(a) = auth {
            m.push_str(&format!("Authorization: {a}\r\n"));
        }
        m.push_str("Content-Length: 0\r\n\r\n");
        m
    };
    phone
        .send_to(register(1, None).as_bytes(), ep.local_addr())
        .await
        .expect("send");
    let challenge = recv(&phone).await;
    assert_eq!(challenge.status(), Some(401));
    let www: Vec<&str> = challenge
        .headers
        .iter()
        .filter(|h| h.name == "WWW-Authenticate")
        .map(|h| h.value.as_str())
        .collect();
    assert!(
        www[0].contains("algorithm=SHA-256") && www[1].contains("algorithm=MD5"),
        "{www:?}"
    );
    let auth = guichet_sip::digest::client_authorization(
        www[0],
        "1002",
        "pw-1002-long",
        "REGISTER",
        "sip:127.0.0.1",
        "c0ffee",
        1,
    )
    .expect("auth");
    phone
        .send_to(register(2, Some(auth)).as_bytes(), ep.local_addr())
        .await
        .expect("send");
    let ok = recv(&phone).await;
    assert_eq!(ok.status(), Some(200));
    assert!(
        ok.header("Contact")
            .is_some_and(|c| c.contains("expires=120"))
    );
    let ev = rx.recv().await.expect("event");
    assert!(matches!(ev, SipEvent::RegistrationChanged { ref user, .. } if user == "1002"));

    let offer = sdp::offer(
        &LocalCapabilities::default(),
        "127.0.0.1:20004".parse().expect("addr"),
        1,
        101,
    );
    let id = h
        .ring_agent(CallTarget::Registered("1002".into()), "8585", None, offer)
        .expect("ring");
    let inv = recv(&phone).await;
    assert_eq!(inv.method(), Some("INVITE"));
    assert_eq!(inv.header("Call-ID"), Some(id.0.as_str()));
    assert!(String::from_utf8_lossy(&inv.body).contains("telephone-event/8000"));
    assert!(
        h.ring_agent(
            CallTarget::Registered("9999".into()),
            "8585",
            None,
            sdp::offer(
                &LocalCapabilities::default(),
                "127.0.0.1:1".parse().expect("addr"),
                1,
                101
            )
        )
        .is_err()
    );
}

#[tokio::test]
async fn trunk_call_answers_a_digest_challenge() {
    let trunk = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let (ep, mut rx) = start(Some(TrunkConfig {
        address: trunk.local_addr().expect("addr"),
        domain: "operateur.example".into(),
        from_user: "0140000000".into(),
        username: Some("guichet".into()),
        password: Some("trunk-pass".into()),
    }))
    .await;
    let offer = sdp::offer(
        &LocalCapabilities::default(),
        "127.0.0.1:20006".parse().expect("addr"),
        1,
        101,
    );
    let id = ep
        .handle()
        .call_external("0612345678", offer)
        .expect("call");
    let inv = recv(&trunk).await;
    assert_eq!(inv.request_uri(), Some("sip:0612345678@operateur.example"));
    let mut server = DigestServer::new(
        "operateur",
        vec![DigestAlgorithm::Md5],
        Duration::from_secs(30),
        1,
    );
    let reply = |m: &Message, code: u16, extra: &str| {
        let mut r = format!("SIP/2.0 {code} X\r\n");
        for n in ["Via", "From", "Call-ID", "CSeq"] {
            r.push_str(&format!("{n}: {}\r\n", m.header(n).expect("header")));
        }
        r.push_str(&format!(
            "To: {};tag=trunk\r\n{extra}Content-Length: 0\r\n\r\n",
            m.header("To").expect("to")
        ));
        r
    };
    let ch = server.challenge(false, Instant::now()).remove(0);
    let src = ep.local_addr();
    trunk
        .send_to(
            reply(&inv, 407, &format!("Proxy-Authenticate: {ch}\r\n")).as_bytes(),
            src,
        )
        .await
        .expect("send");
    let ack = recv(&trunk).await;
    assert_eq!(ack.method(), Some("ACK"));
    let inv2 = recv(&trunk).await;
    assert_eq!(inv2.method(), Some("INVITE"));
    assert_eq!(inv2.cseq().expect("cseq").0, 2);
    let auth = inv2.header("Proxy-Authorization").expect("credentials");
    let creds = |u: &str| {
        (u == "guichet").then(|| StoredCredentials::new("guichet", "operateur", "trunk-pass"))
    };
    let outcome = server.verify(
        auth,
        "INVITE",
        "sip:0612345678@operateur.example",
        creds,
        Instant::now(),
    );
    assert_eq!(outcome, AuthOutcome::Ok("guichet".into()));
    trunk
        .send_to(reply(&inv2, 486, "").as_bytes(), src)
        .await
        .expect("send");
    let ev = tokio::time::timeout(Duration::from_secs(3), rx.recv())
        .await
        .expect("event")
        .expect("open");
    assert_eq!(
        ev,
        SipEvent::Outbound {
            call_id: id,
            progress: OutboundProgress::Failed { code: 486 }
        }
    );
}

#[tokio::test]
async fn overload_is_refused_with_503_and_every_request_is_answered_once() {
    let config = SipConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        max_pending_requests: 1,
        ..SipConfig::default()
    };
    let (ep, _rx) = SipEndpoint::start(config).await.expect("start");
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let local = sock.local_addr().expect("addr");
    // Bursts small enough for the kernel's socket buffer (larger ones are dropped by the
    // OS before the endpoint sees them), far larger than the intake queue of 1.
    const N: usize = 60;
    let (mut ok, mut busy) = (0u64, 0u64);
    let mut buf = vec![0u8; 65536];
    for round in 0..4 {
        for i in 0..N {
            sock.send_to(
                options(&format!("burst{round}-{i}"), local).as_bytes(),
                ep.local_addr(),
            )
            .await
            .expect("send");
        }
        let mut seen = std::collections::HashSet::new();
        while seen.len() < N {
            let got = tokio::time::timeout(Duration::from_secs(3), sock.recv_from(&mut buf)).await;
            let Ok(Ok((n, _))) = got else {
                panic!("round {round}: only {} of {N} answered", seen.len());
            };
            let m = parse_head(&buf[..n]).expect("parsable").message;
            assert!(
                seen.insert(m.header("Call-ID").expect("call-id").to_owned()),
                "answered twice"
            );
            match m.status() {
                Some(200) => ok += 1,
                Some(503) => {
                    assert_eq!(m.header("Retry-After"), Some("5"));
                    busy += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    eprintln!("4 bursts of {N}: {ok} answered, {busy} refused with 503");
    assert_eq!(ep.handle().counters().snapshot().overload_rejections, busy);
    assert!(ok >= 1);
}

/// After a stall, an answer that arrived in time must win over the retransmission timer that
/// fell due meanwhile. The test holds the runtime's only thread for 600 ms right after the
/// phone's 180 lands (a real stall: the endpoint's tasks cannot run), so when they run again
/// the 180 waits in the socket and Timer A (500 ms) is due at the same instant. No INVITE may
/// be retransmitted. Without serving arrivals first, the core fires the timer first in about
/// half of the rounds (the reader may not even have read the 180 yet).
#[tokio::test]
async fn an_answer_waiting_when_the_retransmission_timer_falls_due_stops_the_retransmission() {
    let (ep, _rx) = start(None).await;
    let h = ep.handle();
    let phone = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    phone.set_nonblocking(true).expect("nonblocking");
    let phone_addr = phone.local_addr().expect("addr");
    let mut buf = vec![0u8; 65_536];
    // Reads what the phone has received, letting the endpoint's tasks run in between, up to
    // `rounds` yields.
    async fn received(phone: &std::net::UdpSocket, buf: &mut [u8], rounds: usize) -> Vec<Message> {
        let mut got = Vec::new();
        for _ in 0..rounds {
            match phone.recv_from(buf) {
                Ok((n, _)) => {
                    let head = parse_head(&buf[..n]).expect("parsable");
                    got.push(head.message);
                }
                Err(_) => tokio::task::yield_now().await,
            }
        }
        got
    }
    for round in 0..8 {
        let offer = sdp::offer(
            &LocalCapabilities::default(),
            "127.0.0.1:20004".parse().expect("addr"),
            1,
            101,
        );
        h.ring_agent(
            CallTarget::Uri(format!("sip:1001@{phone_addr}")),
            "8585",
            None,
            offer,
        )
        .expect("ring");
        let invites = received(&phone, &mut buf, 200).await;
        assert_eq!(invites.len(), 1, "round {round}: {invites:?}");
        let invite = &invites[0];
        assert_eq!(invite.method(), Some("INVITE"));
        let mut ringing = String::from("SIP/2.0 180 Ringing\r\n");
        for name in ["Via", "From", "Call-ID", "CSeq"] {
            for value in invite.header_list(name) {
                ringing.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        let to = invite.header("To").expect("To");
        ringing.push_str(&format!(
            "To: {to};tag=phone{round}\r\nContact: <sip:1001@{phone_addr}>\r\nContent-Length: 0\r\n\r\n"
        ));
        phone
            .send_to(ringing.as_bytes(), ep.local_addr())
            .expect("send 180");
        // The 180 is in Guichet's socket; the stall lets Timer A fall due behind it.
        std::thread::sleep(Duration::from_millis(600));
        let after = received(&phone, &mut buf, 200).await;
        assert!(
            after.iter().all(|m| m.method() != Some("INVITE")),
            "round {round}: the INVITE was retransmitted although its 180 had arrived: {after:?}"
        );
    }
}
