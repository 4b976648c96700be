//! Port allocation, symmetric RTP, RTCP reports, statistics, no-media.
mod common;

use common::*;
use guichet_media::rtp::RtcpReport;
use guichet_media::{Codec, MediaError, MediaEvent};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ports_are_even_pairs_and_never_leak() {
    // Eight ports: four pairs.
    let base = free_port_range(8);
    let (media, _events) = engine_in(base, base + 7);
    for round in 0..3 {
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(media.allocate_rtp().unwrap());
        }
        assert!(
            matches!(media.allocate_rtp(), Err(MediaError::PortsExhausted)),
            "round {round}"
        );
        let mut ports: Vec<u16> = got.iter().map(|l| l.addr.port()).collect();
        ports.sort();
        assert_eq!(ports, vec![base, base + 2, base + 4, base + 6]);
        // RTCP is bound on the odd port next to each RTP port.
        assert!(std::net::UdpSocket::bind(("127.0.0.1", base + 1)).is_err());
        assert_eq!(media.ports_in_use(), 4);
        for l in &got {
            media.release(l.session).unwrap();
        }
        assert!(matches!(
            media.release(got[0].session),
            Err(MediaError::UnknownSession(_))
        ));
        assert_eq!(media.ports_in_use(), 0);
        assert_eq!(media.session_count(), 0);
        // Sockets close once the receive tasks and the clock drop them.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        std::net::UdpSocket::bind(("127.0.0.1", base)).is_ok(),
        "socket closed after release"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latches_to_actual_source_reports_rtcp_and_counts_loss() {
    let (media, mut events) = engine(10);
    let local = media.allocate_rtp().unwrap();
    let sdp_peer = Peer::new(); // the address the SDP announced (never sends)
    let mut nat_peer = Peer::new(); // where packets really come from
    sdp_peer.attach(&media, local.session, Codec::Pcmu, None);
    // 50 packets with 5 missing (sequence gaps) from the NAT address.
    for i in 0..55 {
        if i % 11 == 5 {
            nat_peer.skip(1);
        } else {
            nat_peer.send_audio(local.addr, Codec::Pcmu, &[0; 160]);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let e = wait_event(&mut events, Duration::from_secs(1), |e| {
        matches!(e, MediaEvent::RemoteLatched { .. })
    })
    .await;
    assert_eq!(
        e,
        Some(MediaEvent::RemoteLatched {
            session: local.session,
            addr: nat_peer.addr()
        })
    );
    // A third party cannot hijack the stream: once latched, the RTP socket is
    // connected to the source, so the kernel drops the intruder's packet.
    let mut intruder = Peer::new();
    intruder.send_audio(local.addr, Codec::Pcmu, &[0; 160]);
    // Media goes to the latched address.
    media
        .play(
            local.session,
            guichet_media::Playlist {
                items: vec![guichet_media::Audio::from_samples(vec![0; 800])],
                ..Default::default()
            },
        )
        .unwrap();
    let got = nat_peer.receive(Duration::from_millis(200), Duration::from_secs(1));
    assert_eq!(got.len(), 5);
    assert!(
        sdp_peer
            .receive(Duration::from_millis(50), Duration::from_millis(50))
            .is_empty()
    );
    // RTCP goes to the RTP port + 1 of the latched address: listen there.
    let rtcp = std::net::UdpSocket::bind(("127.0.0.1", nat_peer.addr().port() + 1));
    let stats = media.stats(local.session).unwrap();
    assert_eq!(stats.packets_received, 50);
    // The first packet is the probation packet of RFC 3550 A.1.
    assert_eq!(stats.packets_lost, 5);
    assert_eq!(stats.foreign_packets, 0, "filtered by the connected socket");
    assert_eq!(stats.packets_sent, 5);
    if let Ok(rtcp) = rtcp {
        rtcp.set_read_timeout(Some(Duration::from_millis(2500)))
            .unwrap();
        let mut buf = [0u8; 1500];
        let (n, _) = rtcp
            .recv_from(&mut buf)
            .expect("an RTCP report within the 1 s interval");
        let report = RtcpReport::parse(&buf[..n]).unwrap();
        let sender = report.sender.expect("we sent media: a sender report");
        assert_eq!(sender.packet_count, 5);
        assert_eq!(sender.octet_count, 800);
        assert_eq!(report.blocks.len(), 1);
        assert_eq!(report.blocks[0].ssrc, 0xCAFE);
        assert_eq!(report.blocks[0].cumulative_lost, 5);
        assert_eq!(report.blocks[0].fraction_lost, (5 * 256 / 54) as u8);
        // The remote's own RR about us shows up in the stats.
        let our_ssrc = got[0].ssrc;
        let rr = RtcpReport {
            ssrc: 0xCAFE,
            sender: None,
            blocks: vec![guichet_media::rtp::ReportBlock {
                ssrc: our_ssrc,
                fraction_lost: 64,
                jitter: 80,
                ..Default::default()
            }],
        };
        let mut out = Vec::new();
        rr.write(&mut out);
        rtcp.send_to(&out, (local.addr.ip(), local.addr.port() + 1))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stats = media.stats(local.session).unwrap();
        assert_eq!(stats.remote_fraction_lost, Some(0.25));
        assert_eq!(stats.remote_jitter_ms, Some(10.0));
    } else {
        eprintln!("NOTICE: RTCP port of the peer is taken; RTCP part skipped");
    }
    // No packets for the timeout (1 s here): one NoMedia event.
    let e = wait_event(&mut events, Duration::from_secs(3), |e| {
        matches!(e, MediaEvent::NoMedia { .. })
    })
    .await;
    assert_eq!(
        e,
        Some(MediaEvent::NoMedia {
            session: local.session
        })
    );
    // Engine-wide totals (for /metrics) keep the session's counters once it is released.
    let before = media.totals();
    assert_eq!(before.sessions_released, 0);
    assert_eq!(before.packets_received, 50);
    assert_eq!(before.packets_lost, 5);
    assert_eq!(before.foreign_packets, 0);
    media.release(local.session).unwrap();
    let after = media.totals();
    assert_eq!(after.sessions_released, 1);
    assert_eq!(
        (
            after.packets_received,
            after.packets_lost,
            after.foreign_packets
        ),
        (50, 5, 0)
    );
    assert!(after.packets_sent >= 5 && after.clock_ticks > 1000);
}

/// A re-INVITE (new remote media) must let the session latch a new source:
/// the socket connected to the first source would otherwise drop it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_remote_unlatches_and_the_next_source_is_latched_and_heard() {
    let (media, mut events) = engine(4);
    let local = media.allocate_rtp().unwrap();
    let mut first = Peer::new();
    first.attach(&media, local.session, Codec::Pcmu, None);
    for _ in 0..5 {
        first.send_audio(local.addr, Codec::Pcmu, &[0; 160]);
    }
    let latched = |addr| MediaEvent::RemoteLatched {
        session: local.session,
        addr,
    };
    let e = wait_event(&mut events, Duration::from_secs(1), |e| {
        matches!(e, MediaEvent::RemoteLatched { .. })
    })
    .await;
    assert_eq!(e, Some(latched(first.addr())));
    assert_eq!(
        connected_remote_port(local.addr.port()),
        Some(first.addr().port()),
        "the latched socket sends without an address"
    );
    // Every packet of the first source read before the call moves: one still queued in the
    // socket at `set_remote` would be the first packet after it, and latch its source again.
    let read_all = tokio::time::timeout(Duration::from_secs(2), async {
        while media.stats(local.session).unwrap().packets_received < 5 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(
        read_all.is_ok(),
        "the first source's 5 packets were not all read"
    );
    // The call moves (re-INVITE): a new SDP and a new source.
    let mut second = Peer::new();
    second.attach(&media, local.session, Codec::Pcmu, None);
    for _ in 0..5 {
        second.send_audio(local.addr, Codec::Pcmu, &[0; 160]);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let e = wait_event(&mut events, Duration::from_secs(1), |e| {
        matches!(e, MediaEvent::RemoteLatched { .. })
    })
    .await;
    assert_eq!(e, Some(latched(second.addr())));
    assert_eq!(
        connected_remote_port(local.addr.port()),
        Some(second.addr().port())
    );
    assert_eq!(media.stats(local.session).unwrap().packets_received, 10);
    // Now the first source is the stranger, and the audio goes to the second.
    first.send_audio(local.addr, Codec::Pcmu, &[0; 160]);
    media
        .play(
            local.session,
            guichet_media::Playlist {
                items: vec![guichet_media::Audio::from_samples(vec![0; 480])],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        second
            .receive(Duration::from_millis(200), Duration::from_secs(1))
            .len(),
        3
    );
    assert!(
        first
            .receive(Duration::from_millis(50), Duration::from_millis(50))
            .is_empty()
    );
    assert_eq!(media.stats(local.session).unwrap().packets_received, 10);
}

/// A phone that goes away while Guichet still sends to it: the connected
/// socket gets ICMP port-unreachable errors on sends and reads. They must
/// cost nothing more than the lost packets: the receive thread goes on
/// serving the other calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_gone_away_does_not_disturb_the_other_calls() {
    let (media, mut events) = engine(4);
    let gone = media.allocate_rtp().unwrap();
    let staying = media.allocate_rtp().unwrap();
    let mut gone_peer = Peer::new();
    let mut staying_peer = Peer::new();
    gone_peer.attach(&media, gone.session, Codec::Pcmu, None);
    staying_peer.attach(&media, staying.session, Codec::Pcmu, None);
    gone_peer.send_audio(gone.addr, Codec::Pcmu, &[0; 160]);
    staying_peer.send_audio(staying.addr, Codec::Pcmu, &[0; 160]);
    for _ in 0..2 {
        wait_event(&mut events, Duration::from_secs(1), |e| {
            matches!(e, MediaEvent::RemoteLatched { .. })
        })
        .await
        .expect("both sources latched");
    }
    drop(gone_peer);
    let one_second = guichet_media::Playlist {
        items: vec![guichet_media::Audio::from_samples(vec![0; 8000])],
        ..Default::default()
    };
    media.play(gone.session, one_second.clone()).unwrap();
    media.play(staying.session, one_second).unwrap();
    for _ in 0..20 {
        staying_peer.send_audio(staying.addr, Codec::Pcmu, &[0; 160]);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let received = staying_peer.receive(Duration::from_millis(300), Duration::from_secs(2));
    assert!(received.len() >= 45, "{} packets", received.len());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(media.stats(staying.session).unwrap().packets_received, 21);
    assert_eq!(media.stats(gone.session).unwrap().packets_received, 1);
}

/// The remote port an IPv4 UDP socket bound to `local_port` is connected to
/// (`/proc/net/udp`), or `None` when it is not connected.
fn connected_remote_port(local_port: u16) -> Option<u16> {
    let table = std::fs::read_to_string("/proc/net/udp").expect("/proc/net/udp");
    table.lines().skip(1).find_map(|line| {
        let mut fields = line.split_whitespace().skip(1);
        let local = fields.next()?;
        let remote = fields.next()?;
        let port_of = |a: &str| u16::from_str_radix(a.rsplit(':').next()?, 16).ok();
        (port_of(local)? == local_port).then(|| port_of(remote).filter(|p| *p != 0))?
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_releases_everything_and_bad_requests_are_errors() {
    let (media, mut events) = engine(10);
    let a = media.allocate_rtp().unwrap();
    let b = media.allocate_rtp().unwrap();
    assert!(matches!(
        media.bridge(a.session, a.session),
        Err(MediaError::AlreadyBridged(_))
    ));
    assert!(matches!(
        media.inject_digit(a.session, 'x', 100),
        Err(MediaError::InvalidDigit('x'))
    ));
    assert!(matches!(
        media.webrtc_accept("v=0"),
        Err(MediaError::WebRtcDisabled)
    ));
    let bridge = media.bridge(a.session, b.session).unwrap();
    media
        .play(
            a.session,
            guichet_media::Playlist {
                items: vec![guichet_media::Audio::from_samples(vec![1; 8000])],
                ..Default::default()
            },
        )
        .unwrap();
    media.shutdown();
    assert_eq!(media.session_count(), 0);
    assert_eq!(media.ports_in_use(), 0);
    assert!(matches!(
        media.stats(a.session),
        Err(MediaError::UnknownSession(_))
    ));
    let mut ended = false;
    let mut stopped = false;
    while let Some(e) = wait_event(&mut events, Duration::from_millis(300), |_| true).await {
        match e {
            MediaEvent::BridgeEnded { bridge: id } => ended |= id == bridge,
            MediaEvent::PlaybackFinished {
                reason: guichet_media::PlaybackEnd::Stopped,
                ..
            } => stopped = true,
            _ => {}
        }
    }
    assert!(
        ended && stopped,
        "bridge ended and playback stopped on shutdown"
    );
}
