//! RFC 4733 towards a browser leg: an in-process str0m peer plays the
//! browser, offers telephone-event on a payload type of its own choosing
//! (110, not the engine's internal one), and checks that `send_dtmf` on
//! its session arrives as one event per digit, on that payload type, with
//! the requested duration.

mod common;

use guichet_media::{MediaConfig, MediaEngine};
use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::time::{Duration, Instant};
use str0m::format::{Codec, CodecExtra};
use str0m::media::{Direction, Frequency, MediaKind, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

/// The browser's telephone-event payload type.
const BROWSER_TELE_PT: u8 = 110;

/// One telephone event as the browser sees it: all packets sharing an RTP
/// timestamp are the same event (RFC 4733 §2.5.1).
#[derive(Debug, Default)]
struct SeenEvent {
    code: Option<u8>,
    longest: Duration,
    end_packets: usize,
    packets: usize,
    payload_types: Vec<u8>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_dtmf_reaches_a_browser_on_its_payload_type() {
    let port_min = common::free_port_range(2);
    let (media, _events) = MediaEngine::start(MediaConfig {
        bind_ip: "127.0.0.1".parse().unwrap(),
        port_min,
        port_max: port_min + 1,
        webrtc_port: Some(0),
        ..Default::default()
    })
    .unwrap();

    // The "browser": PCMU and telephone-event/8000 on PT 110.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let local = socket.local_addr().unwrap();
    let mut builder = Rtc::builder().clear_codecs().enable_pcmu(true, false);
    builder.codec_config().add_config(
        Pt::new_with_value(BROWSER_TELE_PT),
        None,
        Codec::Tele,
        Frequency::EIGHT_KHZ,
        None,
        Default::default(),
    );
    let mut rtc = builder.build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
    let mut change = rtc.sdp_api();
    change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let (offer, pending) = change.apply().unwrap();
    let offer_sdp = offer.to_sdp_string();
    assert!(
        offer_sdp.contains("a=rtpmap:110 telephone-event/8000"),
        "{offer_sdp}"
    );

    let (session, answer) = media.webrtc_accept(&offer_sdp).unwrap();
    let answer = str0m::change::SdpAnswer::from_sdp_string(&answer).unwrap();
    rtc.sdp_api().accept_answer(pending, answer).unwrap();

    let mut events: BTreeMap<u64, SeenEvent> = BTreeMap::new();
    let mut dtmf_sent = false;
    let mut complete_at: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = vec![0u8; 2000];
    loop {
        assert!(
            Instant::now() < deadline,
            "timed out; events seen: {events:?}"
        );
        // Drain the peer's output up to its next timeout.
        let timeout = loop {
            match rtc.poll_output().unwrap() {
                Output::Timeout(t) => break t,
                Output::Transmit(t) => {
                    socket.send_to(&t.contents, t.destination).unwrap();
                }
                Output::Event(Event::Connected) if !dtmf_sent => {
                    // 100 ms each, back to back: the engine spaces them.
                    media.send_dtmf(session, "1#", 100).unwrap();
                    dtmf_sent = true;
                }
                Output::Event(Event::MediaData(d)) => {
                    if let CodecExtra::Tele(ev) = d.codec_extra {
                        let seen = events.entry(d.time.numer()).or_default();
                        seen.code = Some(ev.event);
                        seen.longest = seen.longest.max(ev.duration);
                        seen.end_packets += ev.end as usize;
                        seen.packets += 1;
                        seen.payload_types.push(*d.pt);
                    }
                }
                Output::Event(_) => {}
            }
        };
        // Done once both digits have ended, after a grace period that
        // lets a (wrong) third event or the repeated end packets arrive.
        if events.len() >= 2 && events.values().all(|e| e.end_packets > 0) {
            let at = *complete_at.get_or_insert_with(Instant::now);
            if at.elapsed() > Duration::from_millis(300) {
                break;
            }
        }
        let wait = timeout
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(1), Duration::from_millis(5));
        socket.set_read_timeout(Some(wait)).unwrap();
        let input = match socket.recv_from(&mut buf) {
            Ok((n, source)) => Input::Receive(
                Instant::now(),
                Receive::new(Protocol::Udp, source, local, &buf[..n]).unwrap(),
            ),
            Err(_) => Input::Timeout(Instant::now()),
        };
        rtc.handle_input(input).unwrap();
    }

    assert!(dtmf_sent, "ICE/DTLS never connected");
    let seen: Vec<&SeenEvent> = events.values().collect();
    assert_eq!(seen.len(), 2, "one event per digit: {events:?}");
    assert_eq!(seen[0].code, Some(1), "first digit '1'");
    assert_eq!(seen[1].code, Some(11), "second digit '#'");
    for e in &seen {
        assert_eq!(e.longest, Duration::from_millis(100), "{e:?}");
        assert!(e.end_packets >= 1, "{e:?}");
        assert!(
            e.payload_types.iter().all(|pt| *pt == BROWSER_TELE_PT),
            "sent on the browser's payload type: {e:?}"
        );
    }
    media.shutdown();
}
