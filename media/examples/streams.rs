//! Concurrent prompt streams load measurement.
//!
//! Starts the engine, plays a looping prompt on N sessions towards a few
//! receiver sockets, and measures at the receivers how many packets arrive
//! more than 5 ms after their ideal time (each stream's 20 ms grid anchored
//! on its earliest packet). Also reports resident memory per stream.
//!
//! Usage: `cargo run --release -p guichet-media --example streams -- N SECONDS [RECEIVERS]`
use guichet_media::{Audio, Codec, MediaConfig, MediaEngine, Playlist, RemoteMedia};
use std::collections::HashMap;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let streams: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3000);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20);
    // One receiver thread by default: more compete with the clock thread
    // for the two cores (see docs/media.md).
    let receiver_count: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let (media, _events) = MediaEngine::start(MediaConfig {
        bind_ip: "127.0.0.1".parse().unwrap(),
        port_min: 30000,
        port_max: 30000 + 2 * streams as u16 + 20,
        no_media_timeout_secs: 3600,
        ..Default::default()
    })
    .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let mut receivers = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..receiver_count {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        addrs.push(sock.local_addr().unwrap());
        let (stop, measuring) = (stop.clone(), measuring.clone());
        receivers.push(std::thread::spawn(move || {
            // Per SSRC: (arrival µs since start, sequence) pairs.
            let start = Instant::now();
            let mut seen: HashMap<u32, Vec<(i64, u16)>> = HashMap::new();
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, _)) = sock.recv_from(&mut buf)
                    && n >= 12
                    && measuring.load(Ordering::Relaxed)
                {
                    let at = start.elapsed().as_micros() as i64;
                    let seq = u16::from_be_bytes([buf[2], buf[3]]);
                    let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
                    seen.entry(ssrc).or_default().push((at, seq));
                }
            }
            seen
        }));
    }

    let prompt = Audio::from_samples(
        (0..8000 * 5)
            .map(|i| ((i % 80) * 400 - 16000) as i16)
            .collect(),
    );
    let rss0 = rss_kib();
    let mut sessions = Vec::new();
    for i in 0..streams {
        let local = media.allocate_rtp().expect("allocate");
        media
            .set_remote(
                local.session,
                RemoteMedia {
                    addr: addrs[i % receiver_count],
                    codec: Codec::Pcmu,
                    payload_type: 0,
                    dtmf_payload_type: None,
                },
            )
            .unwrap();
        media
            .play(
                local.session,
                Playlist {
                    items: vec![prompt.clone()],
                    looped: true,
                    barge_in: false,
                },
            )
            .unwrap();
        sessions.push(local.session);
    }
    std::thread::sleep(Duration::from_secs(2)); // ramp-up
    let rss1 = rss_kib();
    let cpu0 = cpu_ticks();
    measuring.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(seconds));
    measuring.store(false, Ordering::Relaxed);
    let cpu1 = cpu_ticks();
    stop.store(true, Ordering::Relaxed);
    let mut total = 0u64;
    let mut late = 0u64;
    let mut lost = 0u64;
    let mut worst = 0i64;
    let mut seen_streams = 0;
    for r in receivers {
        for (_, mut pkts) in r.join().unwrap() {
            seen_streams += 1;
            pkts.sort_by_key(|p| p.0);
            let (t0, s0) = pkts[0];
            // Offsets from the ideal grid; anchor on the earliest.
            let offs: Vec<i64> = pkts
                .iter()
                .map(|(t, s)| t - t0 - 20_000 * s.wrapping_sub(s0) as i16 as i64)
                .collect();
            let anchor = *offs.iter().min().unwrap_or(&0);
            let expected = seconds * 50;
            lost += expected.saturating_sub(pkts.len() as u64);
            for o in offs {
                let e = o - anchor;
                worst = worst.max(e);
                total += 1;
                if e > 5_000 {
                    late += 1;
                }
            }
        }
    }
    let stats_ticks = media.clock_health();
    println!("streams: {streams} (seen at receivers: {seen_streams})");
    println!(
        "packets measured: {total}, late > 5 ms: {late} ({:.3} %), missing: {lost}, worst lateness {:.1} ms",
        100.0 * late as f64 / total.max(1) as f64,
        worst as f64 / 1000.0
    );
    println!(
        "memory: {} KiB for {streams} streams = {:.1} KiB per stream",
        rss1.saturating_sub(rss0),
        (rss1.saturating_sub(rss0)) as f64 / streams as f64
    );
    println!(
        "process CPU during measurement: {:.0} % of one core",
        (cpu1 - cpu0) as f64 / seconds as f64
    );
    println!(
        "clock ticks {} (late > 5 ms: {})",
        stats_ticks.0, stats_ticks.1
    );
    media.shutdown();
}

/// utime + stime of this process, in 1/100 s.
fn cpu_ticks() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .map(|s| {
            let f: Vec<&str> = s
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
                + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        })
        .unwrap_or(0)
}
