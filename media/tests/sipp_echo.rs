//! A prompt through SIPp's RTP echo (an independent RTP peer) and back
//! through a bridge: sample-exact after the G.711 round trip.
mod common;

use common::*;
use guichet_media::{Audio, Codec, Playlist};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Whether some socket on this machine is bound to UDP `port` (IPv4).
fn udp_port_bound(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let wanted = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1))
        .any(|local| local.ends_with(&wanted))
}

/// Kills the SIPp process we started when the test ends.
struct Sipp(std::process::Child);
impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_echoed_by_sipp_comes_back_sample_exact() {
    if Command::new("sipp").arg("-v").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "sipp is required when CI=true"
        );
        eprintln!("NOTICE: sipp not found, skipping");
        return;
    }
    let (sip_port, media_port) = (free_port(), free_port_range(4));
    // SIPp stands for a phone with its own CPU: real-time priority, so that
    // a busy test machine does not delay its echoes past the bridge's
    // jitter buffer (3 busy loops made it 1 - 14 ms late, 2 - 8 frames lost).
    let _sipp = Sipp(
        remote_peer_command("sipp")
            .args(["-sn", "uas", "-i", "127.0.0.1", "-nostdin", "-rtp_echo"])
            .args(["-p", &sip_port.to_string(), "-mp", &media_port.to_string()])
            .args(["-timeout", "30s"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // SIPp is ready once its echo socket holds the media port (a fixed sleep
    // was not enough on a loaded machine: the first packets went nowhere).
    // Read from /proc rather than probing with a bind, which could steal the
    // port from SIPp at the wrong moment.
    let ready_by = std::time::Instant::now() + Duration::from_secs(10);
    while !udp_port_bound(media_port) {
        assert!(
            std::time::Instant::now() < ready_by,
            "SIPp never bound its media port"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (media, _events) = engine(10);
    // Leg A talks to SIPp's echo port; leg B to our capturing socket.
    let a = media.allocate_rtp().unwrap();
    let b = media.allocate_rtp().unwrap();
    media
        .set_remote(
            a.session,
            guichet_media::RemoteMedia {
                addr: ([127, 0, 0, 1], media_port).into(),
                codec: Codec::Pcmu,
                payload_type: 0,
                dtmf_payload_type: None,
                dtmf_red_payload_type: None,
            },
        )
        .unwrap();
    let capture = Peer::new();
    capture.attach(&media, b.session, Codec::Pcmu, None);
    media.bridge(a.session, b.session).unwrap();
    // A plays the prompt (the player has precedence on A); SIPp echoes it
    // back to A, and the bridge forwards what A receives to B.
    let prompt: Vec<i16> = (0..16000)
        .map(|i| (((i * 37) % 2000) as i16 - 1000) * 9)
        .collect();
    media
        .play(
            a.session,
            Playlist {
                items: vec![Audio::from_samples(prompt.clone())],
                ..Default::default()
            },
        )
        .unwrap();
    let got = tokio::task::spawn_blocking(move || {
        capture.receive(Duration::from_secs(2), Duration::from_secs(8))
    })
    .await
    .unwrap();
    let mut heard = Vec::new();
    for p in &got {
        Codec::Pcmu.decode(&p.payload, &mut heard);
    }
    let expected: Vec<i16> = prompt
        .iter()
        .map(|&s| Codec::Pcmu.decode_sample(Codec::Pcmu.encode_sample(s)))
        .collect();
    assert_eq!(
        got.len(),
        100,
        "2 s prompt = 100 packets, echoed and bridged: {:?} {:?}",
        media.stats(a.session),
        media.stats(b.session)
    );
    assert_eq!(heard, expected);
    for w in got.windows(2) {
        assert_eq!(w[1].sequence, w[0].sequence.wrapping_add(1));
    }
    let stats = media.stats(a.session).unwrap();
    assert_eq!((stats.packets_sent, stats.packets_received), (100, 100));
}
