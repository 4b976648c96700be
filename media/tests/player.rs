//! Prompt player over real UDP: content, RTP fields, pacing, events.
mod common;

use common::*;
use guichet_media::{Audio, Codec, MediaEvent, PlaybackEnd, Playlist};
use std::time::Duration;

/// A 10 s chirp written as an 8 kHz mono WAV file.
fn chirp_wav(dir: &std::path::Path, seconds: usize) -> std::path::PathBuf {
    let path = dir.join("prompt.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    let n = seconds * 8000;
    let mut phase = 0f64;
    for i in 0..n {
        let f = 200.0 + 3000.0 * i as f64 / n as f64;
        phase += 2.0 * std::f64::consts::PI * f / 8000.0;
        w.write_sample((phase.sin() * 12000.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_second_prompt_arrives_complete_exact_and_paced() {
    let (media, mut events) = engine(10);
    let dir = tempfile::tempdir().unwrap();
    let audio = Audio::from_wav(&chirp_wav(dir.path(), 10)).unwrap();
    let local = media.allocate_rtp().unwrap();
    let peer = Peer::new();
    peer.attach(&media, local.session, Codec::Pcma, None);
    let playback = media
        .play(
            local.session,
            Playlist {
                items: vec![audio.clone()],
                ..Default::default()
            },
        )
        .unwrap();
    // Receive with kernel timestamps: they say when each packet left the
    // engine (loopback delivery is synchronous), whatever the scheduling
    // of this test's thread on a busy machine.
    enable_kernel_timestamps(&peer.socket);
    let (got, stamps) = tokio::task::spawn_blocking(move || {
        let mut got = Vec::new();
        let mut stamps = Vec::new();
        let mut buf = [0u8; 2048];
        let start = std::time::Instant::now();
        while got.len() < 500 && start.elapsed() < Duration::from_secs(15) {
            if let Some((n, at)) = recv_timestamped(&peer.socket, &mut buf)
                && let Ok(p) = guichet_media::rtp::RtpPacket::parse(&buf[..n])
            {
                stamps.push(at);
                got.push(Received {
                    at: std::time::Instant::now(),
                    marker: p.marker,
                    payload_type: p.payload_type,
                    sequence: p.sequence,
                    timestamp: p.timestamp,
                    ssrc: p.ssrc,
                    payload: p.payload.to_vec(),
                });
            }
        }
        // Nothing more after the end of the prompt.
        assert!(
            peer.receive(Duration::from_millis(300), Duration::from_millis(400))
                .is_empty()
        );
        (got, stamps)
    })
    .await
    .unwrap();
    assert_eq!(got.len(), 500, "10 s = 500 packets of 20 ms");
    // RTP fields: consecutive sequence numbers, timestamps +160, one SSRC,
    // marker only on the first packet, PCMA payload type.
    for w in got.windows(2) {
        assert_eq!(w[1].sequence, w[0].sequence.wrapping_add(1));
        assert_eq!(w[1].timestamp, w[0].timestamp.wrapping_add(160));
        assert_eq!(w[1].ssrc, w[0].ssrc);
        assert!(!w[1].marker);
    }
    assert!(got[0].marker);
    assert!(
        got.iter()
            .all(|p| p.payload_type == 8 && p.payload.len() == 160)
    );
    // Sample-exact after a G.711 round trip.
    let mut decoded = Vec::new();
    for p in &got {
        Codec::Pcma.decode(&p.payload, &mut decoded);
    }
    let expected: Vec<i16> = audio
        .samples()
        .iter()
        .map(|&s| Codec::Pcma.decode_sample(Codec::Pcma.encode_sample(s)))
        .collect();
    assert_eq!(decoded, expected);
    // Pacing: offset of each arrival from the ideal 20 ms grid, anchored on
    // the earliest packet. Mean error < 1 ms and no drift between the
    // first and the last second.
    let errors: Vec<f64> = stamps
        .iter()
        .enumerate()
        .map(|(i, t)| (t - stamps[0]) * 1000.0 - 20.0 * i as f64)
        .collect();
    let min = errors.iter().cloned().fold(f64::INFINITY, f64::min);
    let rel: Vec<f64> = errors.iter().map(|e| e - min).collect();
    let mean = rel.iter().sum::<f64>() / rel.len() as f64;
    // Medians, so one scheduling hiccup of the shared test machine does not
    // read as drift.
    let median = |xs: &[f64]| {
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let first = median(&rel[..50]);
    let last = median(&rel[450..]);
    println!(
        "pacing: mean error {mean:.3} ms, median first second {first:.3} ms, median last second {last:.3} ms"
    );
    assert!(mean < 1.0, "mean send-time error {mean:.3} ms");
    assert!(
        (last - first).abs() < 1.0,
        "drift {first:.3} -> {last:.3} ms"
    );
    let finished = wait_event(&mut events, Duration::from_secs(2), |e| {
        matches!(e, MediaEvent::PlaybackFinished { .. })
    })
    .await;
    assert_eq!(
        finished,
        Some(MediaEvent::PlaybackFinished {
            session: local.session,
            playback,
            reason: PlaybackEnd::Completed
        })
    );
    let stats = media.stats(local.session).unwrap();
    assert_eq!(stats.packets_sent, 500);
    assert_eq!(stats.bytes_sent, 500 * 160);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playlist_loop_and_barge_in_by_sip_info_and_rfc4733() {
    let (media, mut events) = engine(10);
    let local = media.allocate_rtp().unwrap();
    let mut peer = Peer::new();
    peer.attach(&media, local.session, Codec::Pcmu, Some(96));
    let a = Audio::from_samples(vec![1000; 80]);
    let b = Audio::from_samples(vec![-1000; 80]);
    // A looping playlist (music on hold) only ends when interrupted.
    let moh = media
        .play(
            local.session,
            Playlist {
                items: vec![a.clone(), b.clone()],
                looped: true,
                barge_in: true,
            },
        )
        .unwrap();
    let got = peer.receive(Duration::from_millis(200), Duration::from_millis(300));
    assert!(got.len() >= 5, "looping keeps sending: {}", got.len());
    let mut pcm = Vec::new();
    Codec::Pcmu.decode(&got[1].payload, &mut pcm);
    assert_eq!(
        pcm[..80],
        vec![Codec::Pcmu.decode_sample(Codec::Pcmu.encode_sample(1000)); 80][..]
    );
    assert_eq!(
        pcm[80..],
        vec![Codec::Pcmu.decode_sample(Codec::Pcmu.encode_sample(-1000)); 80][..]
    );
    media.inject_digit(local.session, '5', 120).unwrap();
    let e = wait_event(&mut events, Duration::from_secs(1), |e| {
        matches!(e, MediaEvent::Dtmf { .. })
    })
    .await;
    assert_eq!(
        e,
        Some(MediaEvent::Dtmf {
            session: local.session,
            digit: '5',
            duration_ms: 120,
            source: guichet_media::DtmfSource::SipInfo
        })
    );
    let e = wait_event(&mut events, Duration::from_secs(1), |e| {
        matches!(e, MediaEvent::PlaybackFinished { .. })
    })
    .await;
    assert_eq!(
        e,
        Some(MediaEvent::PlaybackFinished {
            session: local.session,
            playback: moh,
            reason: PlaybackEnd::Interrupted('5')
        })
    );
    // Now a non-barge-in prompt is NOT interrupted by an RFC 4733 digit,
    // but the digit is still reported; a barge-in prompt is.
    let long = Audio::from_samples(vec![0; 8000]);
    let p1 = media
        .play(
            local.session,
            Playlist {
                items: vec![long.clone()],
                ..Default::default()
            },
        )
        .unwrap();
    let ev = guichet_media::dtmf::TelephoneEvent {
        event: 9,
        end: true,
        volume: 10,
        duration: 800,
    };
    peer.send_raw(local.addr, 96, true, &ev.to_bytes());
    let e = wait_event(&mut events, Duration::from_secs(1), |e| {
        matches!(e, MediaEvent::Dtmf { .. })
    })
    .await;
    assert!(
        matches!(
            e,
            Some(MediaEvent::Dtmf {
                digit: '9',
                duration_ms: 100,
                ..
            })
        ),
        "{e:?}"
    );
    let p2 = media
        .play(
            local.session,
            Playlist {
                items: vec![long],
                looped: false,
                barge_in: true,
            },
        )
        .unwrap();
    let e = wait_event(&mut events, Duration::from_secs(1), |e| {
        matches!(e, MediaEvent::PlaybackFinished { .. })
    })
    .await;
    assert_eq!(
        e,
        Some(MediaEvent::PlaybackFinished {
            session: local.session,
            playback: p1,
            reason: PlaybackEnd::Stopped
        }),
        "replaced by the next play"
    );
    peer.skip(10); // a new event has a new RTP timestamp
    let ev = guichet_media::dtmf::TelephoneEvent {
        event: 11,
        end: true,
        volume: 10,
        duration: 800,
    };
    peer.send_raw(local.addr, 96, true, &ev.to_bytes());
    let e = wait_event(&mut events, Duration::from_secs(1), |e| {
        matches!(e, MediaEvent::PlaybackFinished { .. })
    })
    .await;
    assert_eq!(
        e,
        Some(MediaEvent::PlaybackFinished {
            session: local.session,
            playback: p2,
            reason: PlaybackEnd::Interrupted('#')
        })
    );
}

/// `play_then`: an announcement then the hold music, handed over in the
/// clock with no gap (consecutive timestamps, no new talkspurt); the
/// announcement completes, the music loops until stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_then_hands_over_on_the_next_frame() {
    let (media, mut events) = engine(10);
    let local = media.allocate_rtp().unwrap();
    let peer = Peer::new();
    peer.attach(&media, local.session, Codec::Pcmu, None);
    let announcement = Playlist {
        items: vec![Audio::from_samples(vec![3000; 160 * 5])],
        looped: false,
        barge_in: false,
    };
    let music = Playlist {
        items: vec![Audio::from_samples(vec![-2000; 160 * 2])],
        looped: true,
        barge_in: false,
    };
    let (first, then) = media.play_then(local.session, announcement, music).unwrap();
    let got = peer.receive(Duration::from_millis(300), Duration::from_millis(400));
    media.stop(local.session).unwrap();
    assert!(got.len() >= 10, "{} packets", got.len());
    let level = |p: &Received| Codec::Pcmu.decode_sample(p.payload[0]);
    assert!(
        got[..5].iter().all(|p| level(p) > 2900),
        "announcement first"
    );
    assert!(got[5..].iter().all(|p| level(p) < -1900), "then the music");
    for pair in got.windows(2) {
        assert_eq!(pair[1].timestamp.wrapping_sub(pair[0].timestamp), 160);
        assert_eq!(pair[1].sequence.wrapping_sub(pair[0].sequence), 1);
    }
    assert_eq!(got.iter().filter(|p| p.marker).count(), 1, "one talkspurt");
    let mut finished = Vec::new();
    while let Some(MediaEvent::PlaybackFinished {
        playback, reason, ..
    }) = wait_event(&mut events, Duration::from_millis(300), |e| {
        matches!(e, MediaEvent::PlaybackFinished { .. })
    })
    .await
    {
        finished.push((playback, reason));
    }
    assert_eq!(
        finished,
        vec![
            (first, PlaybackEnd::Completed),
            (then, PlaybackEnd::Stopped)
        ]
    );
}
