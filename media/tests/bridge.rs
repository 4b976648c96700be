//! Bridge (both directions, PCMU<->PCMA) and supervision mixer over UDP.
mod common;

use common::*;
use guichet_media::{Codec, MediaEvent, MonitorMode};
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

fn sox_tone(dir: &std::path::Path, freq: u32, seconds: u32) -> Vec<i16> {
    let path = dir.join(format!("tone{freq}.raw"));
    let st = Command::new("sox")
        .args([
            "-n", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", "-L", "-t", "raw",
        ])
        .arg(&path)
        .args([
            "synth",
            &seconds.to_string(),
            "sine",
            &freq.to_string(),
            "vol",
            "0.5",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::read(path)
        .unwrap()
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// sox `stat` of raw samples: (rough frequency, RMS amplitude).
fn sox_stat(dir: &std::path::Path, name: &str, pcm: &[i16]) -> (f64, f64) {
    let path = dir.join(name);
    std::fs::write(
        &path,
        pcm.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<_>>(),
    )
    .unwrap();
    let out = Command::new("sox")
        .args([
            "-t", "raw", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", "-L",
        ])
        .arg(&path)
        .args(["-n", "stat"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    let field = |key: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} in sox output: {text}"))
    };
    (field("Rough   frequency"), field("RMS     amplitude"))
}

/// Sends `pcm` as 20 ms packets paced from a fixed start (as a phone would).
fn stream(mut peer: Peer, to: SocketAddr, codec: Codec, pcm: Vec<i16>) -> Peer {
    pace_like_a_phone();
    let start = Instant::now();
    for (i, frame) in pcm.chunks(160).enumerate() {
        let due = start + Duration::from_millis(20 * i as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        peer.send_audio(to, codec, frame);
    }
    peer
}

fn decode(got: &[Received], codec: Codec) -> Vec<i16> {
    let mut pcm = Vec::new();
    for p in got {
        codec.decode(&p.payload, &mut pcm);
    }
    pcm
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_transcodes_both_ways_on_a_sox_tone() {
    if !have_sox() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (media, mut events) = engine(10);
    let caller = media.allocate_rtp().unwrap();
    let agent = media.allocate_rtp().unwrap();
    let (pc, pa) = (Peer::new(), Peer::new());
    pc.attach(&media, caller.session, Codec::Pcmu, None);
    pa.attach(&media, agent.session, Codec::Pcma, None);
    let bridge = media.bridge(caller.session, agent.session).unwrap();
    assert!(
        media.bridge(caller.session, agent.session).is_err(),
        "already bridged"
    );

    let tone_c = sox_tone(dir.path(), 1000, 2);
    let tone_a = sox_tone(dir.path(), 440, 2);
    let pc_rx = pc.socket.try_clone().unwrap();
    let pa_rx = pa.socket.try_clone().unwrap();
    let (ca, aa) = (caller.addr, agent.addr);
    let s1 = std::thread::spawn(move || stream(pc, ca, Codec::Pcmu, tone_c));
    let s2 = std::thread::spawn(move || stream(pa, aa, Codec::Pcma, tone_a));
    let r1 = std::thread::spawn(move || receive_on(pc_rx));
    let r2 = std::thread::spawn(move || receive_on(pa_rx));
    let (pc, _pa) = (s1.join().unwrap(), s2.join().unwrap());
    let (at_caller, at_agent) = (r1.join().unwrap(), r2.join().unwrap());

    // The agent leg hears the caller's 1 kHz tone, encoded in A-law.
    assert!(at_agent.iter().all(|p| p.payload_type == 8));
    assert!(at_caller.iter().all(|p| p.payload_type == 0));
    // Every one of the 100 frames of each tone, both ways: the test's phone threads and
    // the engine's clock and receive threads run at real-time priority, so a busy machine
    // does not make audio late for the jitter buffer.
    assert_eq!(
        (at_agent.len(), at_caller.len()),
        (100, 100),
        "caller {:?}, agent {:?}",
        media.stats(caller.session),
        media.stats(agent.session)
    );
    let (f_agent, rms_agent) = sox_stat(dir.path(), "agent.raw", &decode(&at_agent, Codec::Pcma));
    let (f_caller, rms_caller) =
        sox_stat(dir.path(), "caller.raw", &decode(&at_caller, Codec::Pcmu));
    let (_, rms_src) = sox_stat(dir.path(), "src.raw", &sox_tone(dir.path(), 1000, 2));
    println!(
        "agent side: {f_agent} Hz rms {rms_agent}; caller side: {f_caller} Hz rms {rms_caller}; source rms {rms_src}"
    );
    assert!((f_agent - 1000.0).abs() < 30.0, "agent hears {f_agent} Hz");
    assert!(
        (f_caller - 440.0).abs() < 20.0,
        "caller hears {f_caller} Hz"
    );
    assert!(
        (rms_agent / rms_src - 1.0).abs() < 0.05,
        "level kept: {rms_agent} vs {rms_src}"
    );
    assert!(
        (rms_caller / rms_src - 1.0).abs() < 0.05,
        "level kept: {rms_caller} vs {rms_src}"
    );
    let stats = media.stats(agent.session).unwrap();
    assert_eq!(stats.packets_received, 100);
    assert_eq!(stats.packets_lost, 0);

    // Releasing one leg ends the bridge cleanly; the other leg stays and
    // no longer forwards anything.
    media.release(agent.session).unwrap();
    let e = wait_event(&mut events, Duration::from_secs(1), |e| {
        matches!(e, MediaEvent::BridgeEnded { .. })
    })
    .await;
    assert_eq!(e, Some(MediaEvent::BridgeEnded { bridge }));
    assert!(media.unbridge(bridge).is_err());
    let mut pc = pc;
    pc.send_audio(caller.addr, Codec::Pcmu, &[100; 160]);
    assert!(media.stats(caller.session).is_ok());
    let caller2 = media.allocate_rtp().unwrap();
    let agent2 = media.allocate_rtp().unwrap();
    assert!(
        media.bridge(caller.session, agent2.session).is_ok(),
        "caller can be bridged again"
    );
    let _ = caller2;
}

fn receive_on(socket: std::net::UdpSocket) -> Vec<Received> {
    let peer = PeerRx(socket);
    peer.receive()
}

struct PeerRx(std::net::UdpSocket);
impl PeerRx {
    fn receive(&self) -> Vec<Received> {
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        let start = Instant::now();
        let mut last = Instant::now();
        while start.elapsed() < Duration::from_secs(6)
            && last.elapsed() < Duration::from_millis(600)
        {
            if let Ok((n, _)) = self.0.recv_from(&mut buf) {
                last = Instant::now();
                if let Ok(p) = guichet_media::rtp::RtpPacket::parse(&buf[..n]) {
                    out.push(Received {
                        at: last,
                        marker: p.marker,
                        payload_type: p.payload_type,
                        sequence: p.sequence,
                        timestamp: p.timestamp,
                        ssrc: p.ssrc,
                        payload: p.payload.to_vec(),
                    });
                }
            }
        }
        out
    }
}

/// Level (mean decoded sample) heard by a peer over ~300 ms while the
/// three parties send constant levels.
fn heard_levels(legs: &mut [(Peer, SocketAddr, i16)]) -> Vec<f64> {
    // Drop what arrived before this measurement (previous mode).
    for (peer, _, _) in legs.iter() {
        peer.socket.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 2048];
        while peer.socket.recv_from(&mut buf).is_ok() {}
    }
    let start = Instant::now();
    let mut received: Vec<Vec<i16>> = vec![Vec::new(); legs.len()];
    for i in 0..20u64 {
        let due = start + Duration::from_millis(20 * i);
        if let Some(w) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(w);
        }
        for (peer, to, level) in legs.iter_mut() {
            peer.send_audio(*to, Codec::Pcmu, &[*level; 160]);
        }
        for (k, (peer, _, _)) in legs.iter().enumerate() {
            peer.socket.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 2048];
            while let Ok((n, _)) = peer.socket.recv_from(&mut buf) {
                if let Ok(p) = guichet_media::rtp::RtpPacket::parse(&buf[..n]) {
                    Codec::Pcmu.decode(p.payload, &mut received[k]);
                }
            }
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    received
        .iter()
        .map(|r| {
            // Skip the start (jitter buffer priming, mode switch).
            let tail = &r[r.len().saturating_sub(800)..];
            if tail.is_empty() {
                0.0
            } else {
                tail.iter().map(|&s| s as f64).sum::<f64>() / tail.len() as f64
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervision_listen_whisper_barge_and_switching() {
    let (media, _events) = engine(10);
    let c = media.allocate_rtp().unwrap();
    let a = media.allocate_rtp().unwrap();
    let s = media.allocate_rtp().unwrap();
    let (pc, pa, ps) = (Peer::new(), Peer::new(), Peer::new());
    pc.attach(&media, c.session, Codec::Pcmu, None);
    pa.attach(&media, a.session, Codec::Pcmu, None);
    ps.attach(&media, s.session, Codec::Pcmu, None);
    let bridge = media.bridge(c.session, a.session).unwrap();
    let media2 = media.clone();
    let (cs, as_, ss) = (c.session, a.session, s.session);
    let result = tokio::task::spawn_blocking(move || {
        let mut legs = [
            (pc, c.addr, 1000i16),
            (pa, a.addr, 2000),
            (ps, s.addr, 4000),
        ];
        let close = |got: f64, want: f64| (got - want).abs() <= want.abs() * 0.04 + 40.0;
        let mut log = Vec::new();
        for (mode, want) in [
            (None, [2000.0, 1000.0, 0.0]),
            (Some(MonitorMode::Listen), [2000.0, 1000.0, 3000.0]),
            (Some(MonitorMode::Whisper), [2000.0, 5000.0, 3000.0]),
            (Some(MonitorMode::Barge), [6000.0, 5000.0, 3000.0]),
            (Some(MonitorMode::Listen), [2000.0, 1000.0, 3000.0]),
        ] {
            if let Some(m) = mode {
                media2.monitor(bridge, ss, m).unwrap();
            }
            let got = heard_levels(&mut legs);
            log.push(format!(
                "{mode:?}: caller {:.0} agent {:.0} supervisor {:.0}",
                got[0], got[1], got[2]
            ));
            for k in 0..3 {
                assert!(
                    close(got[k], want[k]),
                    "{mode:?}: leg {k} hears {} instead of {}\n{}",
                    got[k],
                    want[k],
                    log.join("\n")
                );
            }
        }
        // Supervisor leaves: the call goes on, the supervisor hears nothing.
        media2.unmonitor(bridge).unwrap();
        let got = heard_levels(&mut legs);
        assert!(
            close(got[0], 2000.0) && close(got[1], 1000.0) && got[2] == 0.0,
            "{got:?}"
        );
        log
    })
    .await
    .unwrap();
    println!("{}", result.join("\n"));
    // A released supervisor does not end the call.
    media.monitor(bridge, ss, MonitorMode::Listen).unwrap();
    media.release(ss).unwrap();
    assert!(media.unbridge(bridge).is_ok());
    assert!(media.stats(cs).is_ok() && media.stats(as_).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jitter_buffer_restores_order_of_reordered_packets() {
    // Packets come in bursts of two every 40 ms: a 100 ms buffer absorbs
    // that plus the scheduling noise of a shared test machine.
    let port_min = free_port_range(10);
    let (media, _events) = guichet_media::MediaEngine::start(guichet_media::MediaConfig {
        bind_ip: "127.0.0.1".parse().unwrap(),
        port_min,
        port_max: port_min + 9,
        jitter_buffer_ms: 100,
        ..Default::default()
    })
    .unwrap();
    let caller = media.allocate_rtp().unwrap();
    let agent = media.allocate_rtp().unwrap();
    let (pc, pa) = (Peer::new(), Peer::new());
    pc.attach(&media, caller.session, Codec::Pcmu, None);
    pa.attach(&media, agent.session, Codec::Pcmu, None);
    media.bridge(caller.session, agent.session).unwrap();
    // 30 frames with distinct levels, sent in pairs swapped (..., 5,4,7,6)
    // every 40 ms: each frame within the 40 ms buffer delay.
    let to = caller.addr;
    let levels: Vec<i16> = (0..30).map(|i| 500 + 100 * i).collect();
    let sent = levels.clone();
    let got = tokio::task::spawn_blocking(move || {
        let levels = sent;
        pace_like_a_phone();
        let start = Instant::now();
        let base_seq = 1000u16;
        for pair in 0..15 {
            let due = start + Duration::from_millis(40 * pair as u64);
            if let Some(w) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(w);
            }
            // The first two pairs in order: RFC 3550 A.1 validates a new
            // source after two sequential packets.
            let order = if pair < 2 { [0, 1] } else { [1, 0] };
            for k in order {
                let i = pair * 2 + k;
                let mut payload = Vec::new();
                Codec::Pcmu.encode(&[levels[i]; 160], &mut payload);
                let mut buf = Vec::new();
                guichet_media::rtp::RtpPacket {
                    marker: false,
                    payload_type: 0,
                    sequence: base_seq + i as u16,
                    timestamp: 160 * i as u32,
                    ssrc: 7,
                    payload: &payload,
                }
                .write(&mut buf);
                pc.socket.send_to(&buf, to).unwrap();
            }
        }
        pa.receive(Duration::from_millis(300), Duration::from_secs(3))
    })
    .await
    .unwrap();
    let heard: Vec<i16> = got
        .iter()
        .map(|p| Codec::Pcmu.decode_sample(p.payload[0]))
        .collect();
    let expected: Vec<i16> = levels
        .iter()
        .map(|&l| Codec::Pcmu.decode_sample(Codec::Pcmu.encode_sample(l)))
        .collect();
    assert_eq!(heard, expected, "all 30 frames, in sequence order");
    let stats = media.stats(caller.session).unwrap();
    assert_eq!(
        stats.reordered_packets, 13,
        "each swapped pair has one packet behind the highest seq"
    );
    assert_eq!(stats.late_packets, 0, "none too late for the jitter buffer");
}

/// Sends `pcm` in packets of `ptime_ms` (10, 30, 40 ms...) paced from a fixed start.
fn stream_ptime(
    mut peer: Peer,
    to: SocketAddr,
    codec: Codec,
    pcm: Vec<i16>,
    ptime_ms: u64,
) -> Peer {
    pace_like_a_phone();
    let start = Instant::now();
    for (i, frame) in pcm.chunks(8 * ptime_ms as usize).enumerate() {
        let due = start + Duration::from_millis(ptime_ms * i as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        peer.send_audio(to, codec, frame);
    }
    peer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legs_sending_30_ms_and_10_ms_packets_are_retimed_to_20_ms_without_losing_audio() {
    if !have_sox() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (media, _events) = engine(10);
    let caller = media.allocate_rtp().unwrap();
    let agent = media.allocate_rtp().unwrap();
    let (pc, pa) = (Peer::new(), Peer::new());
    pc.attach(&media, caller.session, Codec::Pcmu, None);
    pa.attach(&media, agent.session, Codec::Pcma, None);
    media.bridge(caller.session, agent.session).unwrap();

    // The caller's phone packs 30 ms per packet, the agent's 10 ms.
    let tone_c = sox_tone(dir.path(), 1000, 2);
    let tone_a = sox_tone(dir.path(), 440, 2);
    let pc_rx = pc.socket.try_clone().unwrap();
    let pa_rx = pa.socket.try_clone().unwrap();
    let (ca, aa) = (caller.addr, agent.addr);
    let s1 = std::thread::spawn(move || stream_ptime(pc, ca, Codec::Pcmu, tone_c, 30));
    let s2 = std::thread::spawn(move || stream_ptime(pa, aa, Codec::Pcma, tone_a, 10));
    let r1 = std::thread::spawn(move || receive_on(pc_rx));
    let r2 = std::thread::spawn(move || receive_on(pa_rx));
    let _ = (s1.join().unwrap(), s2.join().unwrap());
    let (at_caller, at_agent) = (r1.join().unwrap(), r2.join().unwrap());

    // Guichet sends 20 ms packets both ways, and the two seconds of each tone arrive whole:
    // 100 packets of 160 samples (not 67 of 240 nor 200 of 80, as packet-by-packet playout
    // would give), none late and none skipped: the phone threads of the test and the
    // engine's clock and receive threads run at real-time priority (see common::pace_like_a_phone;
    // before they did, a busy machine delayed the receive task past the buffer and up to
    // 10 % of the frames were skipped).
    for (side, got) in [("agent", &at_agent), ("caller", &at_caller)] {
        assert!(
            got.iter().all(|p| p.payload.len() == 160),
            "{side}: not all 20 ms"
        );
        assert!(
            got.len() == 100,
            "{side}: {} packets, caller {:?}, agent {:?}",
            got.len(),
            media.stats(caller.session),
            media.stats(agent.session)
        );
        for pair in got.windows(2) {
            let step = pair[1].timestamp.wrapping_sub(pair[0].timestamp);
            assert_eq!(step, 160, "{side}: a frame skipped");
        }
    }
    let (f_agent, rms_agent) = sox_stat(dir.path(), "agent.raw", &decode(&at_agent, Codec::Pcma));
    let (f_caller, rms_caller) =
        sox_stat(dir.path(), "caller.raw", &decode(&at_caller, Codec::Pcmu));
    let (_, rms_src) = sox_stat(dir.path(), "src.raw", &sox_tone(dir.path(), 1000, 2));
    assert!((f_agent - 1000.0).abs() < 30.0, "agent hears {f_agent} Hz");
    assert!(
        (f_caller - 440.0).abs() < 20.0,
        "caller hears {f_caller} Hz"
    );
    assert!(
        (rms_agent / rms_src - 1.0).abs() < 0.05,
        "agent level: {rms_agent} vs {rms_src}"
    );
    assert!(
        (rms_caller / rms_src - 1.0).abs() < 0.05,
        "caller level: {rms_caller} vs {rms_src}"
    );
}
