//! RFC 4733 digits from SIPp's shipped pcaps, and DTMF sending.
mod common;

use common::*;
use guichet_media::dtmf::DtmfReceiver;
use guichet_media::{Codec, DtmfSource, MediaEvent};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// UDP payloads of an Ethernet/IPv4 pcap file, with capture times (µs).
fn pcap_udp_payloads(path: &Path) -> Vec<(u64, Vec<u8>)> {
    let d = std::fs::read(path).unwrap();
    assert_eq!(&d[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= d.len() {
        let u32_at = |o: usize| u32::from_le_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]);
        let (sec, usec, len) = (u32_at(off), u32_at(off + 4), u32_at(off + 8) as usize);
        off += 16;
        let frame = &d[off..off + len];
        off += len;
        let ip = &frame[14..];
        let ihl = (ip[0] & 0x0F) as usize * 4;
        out.push((sec as u64 * 1_000_000 + usec as u64, ip[ihl + 8..].to_vec()));
    }
    out
}

fn sipp_pcap_dir() -> Option<PathBuf> {
    let dir = PathBuf::from("/usr/share/sip-tester");
    if dir.join("dtmf_2833_1.pcap").exists() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "SIPp pcaps are required when CI=true"
    );
    eprintln!("NOTICE: SIPp (sip-tester) pcaps not found, skipping");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_pcaps_give_one_digit_each() {
    let Some(dir) = sipp_pcap_dir() else {
        return;
    };
    let (media, mut events) = engine(10);
    let local = media.allocate_rtp().unwrap();
    let peer = Peer::new();
    peer.attach(&media, local.session, Codec::Pcmu, Some(101));
    // dtmf_2833_1.pcap replayed as captured: 7 updates, then the end
    // packet three times. Then the other digits, re-stamped as successive
    // events of the same stream (each pcap starts at the same seq/ts).
    let digits = ["1", "0", "2", "3", "4", "6", "7", "9", "star", "pound"];
    let mut expected = Vec::new();
    for (n, name) in digits.iter().enumerate() {
        let path = dir.join(format!("dtmf_2833_{name}.pcap"));
        if !path.exists() {
            continue;
        }
        expected.push(match *name {
            "star" => '*',
            "pound" => '#',
            d => d.chars().next().unwrap(),
        });
        let packets = pcap_udp_payloads(&path);
        let t0 = packets[0].0;
        let start = std::time::Instant::now();
        for (t, mut p) in packets {
            let seq = u16::from_be_bytes([p[2], p[3]]).wrapping_add(20 * n as u16);
            let ts = u32::from_be_bytes([p[4], p[5], p[6], p[7]]).wrapping_add(8000 * n as u32);
            p[2..4].copy_from_slice(&seq.to_be_bytes());
            p[4..8].copy_from_slice(&ts.to_be_bytes());
            let due = start + Duration::from_micros(t - t0);
            tokio::time::sleep_until(due.into()).await;
            peer.socket.send_to(&p, local.addr).unwrap();
        }
    }
    assert!(expected.len() >= 2);
    let mut got = Vec::new();
    while let Some(e) = wait_event(&mut events, Duration::from_millis(500), |e| {
        matches!(e, MediaEvent::Dtmf { .. })
    })
    .await
    {
        if let MediaEvent::Dtmf {
            digit,
            duration_ms,
            source,
            ..
        } = e
        {
            assert_eq!(source, DtmfSource::Rfc4733);
            assert_eq!(duration_ms, 280, "0x8c0 ticks in the pcaps");
            got.push(digit);
        }
    }
    assert_eq!(got, expected, "exactly one event per key press");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_digits_on_the_negotiated_payload_type() {
    let (media, _events) = engine(10);
    let local = media.allocate_rtp().unwrap();
    let peer = Peer::new();
    peer.attach(&media, local.session, Codec::Pcma, Some(96));
    assert!(media.send_dtmf(local.session, "1x", 100).is_err());
    media.send_dtmf(local.session, "42#", 100).unwrap();
    let got = peer.receive(Duration::from_millis(300), Duration::from_secs(3));
    assert!(got.iter().all(|p| p.payload_type == 96));
    let mut rx = DtmfReceiver::new();
    let digits: Vec<char> = got
        .iter()
        .flat_map(|p| rx.on_packet(p.timestamp, &p.payload))
        .map(|d| d.digit)
        .collect();
    assert_eq!(digits, vec!['4', '2', '#']);
    // 5 packets per 100 ms digit, the end one three times: 7 per digit;
    // the first of each event carries the marker.
    assert_eq!(got.len(), 21);
    assert_eq!(got.iter().filter(|p| p.marker).count(), 3);
    let no_dtmf = media.allocate_rtp().unwrap();
    peer.attach(&media, no_dtmf.session, Codec::Pcma, None);
    assert!(media.send_dtmf(no_dtmf.session, "1", 100).is_err());
}

/// RFC 2198 redundancy: telephone events inside `red` (PT 100, blocks of
/// PT 101), each packet repeating the two previous payloads. Digit 7 is
/// sent whole; digit 8's own packets are all lost and only its end,
/// carried as redundancy in digit 9's first packets, arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn red_telephone_events_give_one_digit_each_and_recover_lost_ones() {
    use guichet_media::red::{build_red, red_series};
    let (media, mut events) = engine(10);
    let local = media.allocate_rtp().unwrap();
    let mut peer = Peer::new();
    media
        .set_remote(
            local.session,
            guichet_media::RemoteMedia {
                addr: peer.addr(),
                codec: Codec::Pcmu,
                payload_type: 0,
                dtmf_payload_type: Some(101),
                dtmf_red_payload_type: Some(100),
            },
        )
        .unwrap();
    use guichet_media::dtmf::event_payload as ev;
    // Digit 7: three updates, then the end (640 ticks, 80 ms) three times.
    let seven = [
        ev(7, false, 160),
        ev(7, false, 320),
        ev(7, false, 480),
        ev(7, true, 640),
        ev(7, true, 640),
        ev(7, true, 640),
    ];
    for (i, red) in red_series(101, &seven, 2).iter().enumerate() {
        peer.send_raw(local.addr, 100, i == 0, red);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Digit 8 (960 ticks later, 480 ticks long): every packet lost.
    peer.skip(6);
    let eight_end = ev(8, true, 480);
    // Digit 9, 800 ticks after digit 8 started: its first two packets
    // carry digit 8's end as redundancy.
    peer.skip(5);
    let nine = [ev(9, false, 160), ev(9, true, 320)];
    peer.send_raw(
        local.addr,
        100,
        true,
        &build_red(&[(101, 800, &eight_end[..])], 101, &nine[0]),
    );
    peer.send_raw(
        local.addr,
        100,
        false,
        &build_red(
            &[(101, 800, &eight_end[..]), (101, 0, &nine[0][..])],
            101,
            &nine[1],
        ),
    );
    let mut got = Vec::new();
    while let Some(e) = wait_event(&mut events, Duration::from_millis(500), |e| {
        matches!(e, MediaEvent::Dtmf { .. })
    })
    .await
    {
        if let MediaEvent::Dtmf {
            digit, duration_ms, ..
        } = e
        {
            got.push((digit, duration_ms));
        }
    }
    assert_eq!(got, vec![('7', 80), ('8', 60), ('9', 40)]);
}
