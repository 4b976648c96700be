//! Concurrent prompt streams load measurement.
//!
//! Starts the engine, plays a looping prompt on N sessions (each from its
//! own RTP socket, as in a call) towards one receiver socket, and checks
//! every packet's arrival time against its stream's ideal 20 ms grid.
//!
//! The receiver is built not to disturb what it measures: the kernel
//! stamps each datagram when it is queued on the receiver socket
//! (`SO_TIMESTAMPNS`; on loopback that is inside the sender's `sendto`), and
//! one thread drains the socket in batches (`recvmmsg`) every 2 ms instead
//! of sleeping in `recv` and being woken by every packet (a wake-up the
//! sending thread pays for). The socket buffer is large enough for far more
//! than one batch, and the kernel's count of datagrams it dropped for a full
//! buffer (`SO_RXQ_OVFL`) is reported, as are packets missing from each
//! stream's sequence numbers.
//!
//! Lateness: per stream, offset of each packet = arrival - 20 ms x (its
//! extended sequence number - the first one's); the grid is anchored on the
//! smallest offset (the stream's earliest packet relative to its grid), and
//! a packet is late when its offset exceeds that by more than 5 ms.
//!
//! Usage: `cargo run --release -p guichet-media --example streams -- N SECONDS [normal] [inbound]`
//! (`normal`: clock threads left at normal priority instead of SCHED_FIFO;
//! `inbound`: each session also receives a 20 ms stream from a "phones"
//! thread, to measure the engine's receive thread).
use guichet_media::{Audio, Codec, MediaConfig, MediaEngine, Playlist, RemoteMedia};
use std::collections::HashMap;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

/// Datagrams read per `recvmmsg` call.
const BATCH: usize = 256;
/// Pause between two drains of the receiver socket.
const DRAIN_EVERY: Duration = Duration::from_millis(2);
/// A packet later than this after its ideal time is late.
const LATE_NS: i64 = 5_000_000;
const PTIME_NS: i64 = 20_000_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let streams: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3000);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20);
    let flag = |name: &str| args.iter().skip(3).any(|a| a == name);
    // `normal`: clock threads at normal priority, for comparison.
    let realtime_clock = !flag("normal");
    // `inbound`: every session also receives a 20 ms stream.
    let inbound = flag("inbound");
    println!(
        "load average before the run: {}; clock threads: {}",
        loadavg(),
        if realtime_clock {
            "real-time priority requested"
        } else {
            "normal priority"
        }
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let _guard = rt.enter();
    let (media, _events) = MediaEngine::start(MediaConfig {
        bind_ip: "127.0.0.1".parse().expect("address"),
        port_min: 30000,
        port_max: 30000 + 2 * streams as u16 + 20,
        no_media_timeout_secs: 3600,
        realtime_clock,
        ..Default::default()
    })
    .expect("media engine");

    let socket = UdpSocket::bind("127.0.0.1:0").expect("receiver socket");
    let rcvbuf = prepare_receiver(&socket);
    let receiver_addr = socket.local_addr().expect("receiver address");
    let stop = Arc::new(AtomicBool::new(false));
    // Kernel-timestamp window (ns since the Unix epoch) of the measurement.
    let window_start = Arc::new(AtomicI64::new(i64::MAX));
    let phone_socket = socket.try_clone().expect("phone socket");
    let receiver = {
        let (stop, window_start) = (stop.clone(), window_start.clone());
        std::thread::Builder::new()
            .name("rtp-receiver".into())
            .spawn(move || receive(&socket, &stop, &window_start))
            .expect("receiver thread")
    };

    let prompt = Audio::from_samples(
        (0..8000 * 5)
            .map(|i| ((i % 80) * 400 - 16000) as i16)
            .collect(),
    );
    let rss0 = rss_kib();
    let mut session_addrs = Vec::with_capacity(streams);
    for _ in 0..streams {
        let local = media.allocate_rtp().expect("allocate");
        session_addrs.push(local.addr);
        media
            .set_remote(
                local.session,
                RemoteMedia {
                    addr: receiver_addr,
                    codec: Codec::Pcmu,
                    payload_type: 0,
                    dtmf_payload_type: None,
                    dtmf_red_payload_type: None,
                },
            )
            .expect("set_remote");
        media
            .play(
                local.session,
                Playlist {
                    items: vec![prompt.clone()],
                    looped: true,
                    barge_in: false,
                },
            )
            .expect("play");
    }
    let rss1 = rss_kib();
    // The phones send from the receiver's own socket: the engine latches
    // to the address packets come from, which must stay the receiver's.
    let phones = inbound.then(|| {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("phones".into())
            .spawn(move || phones(&phone_socket, &session_addrs, &stop))
            .expect("phones thread")
    });
    std::thread::sleep(Duration::from_secs(2)); // ramp-up
    let cpu0 = thread_cpu();
    let totals0 = media.totals();
    let ticks0 = media.clock_health();
    let start_ns = unix_ns();
    window_start.store(start_ns, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(seconds));
    let end_ns = unix_ns();
    let cpu1 = thread_cpu();
    let totals1 = media.totals();
    let ticks1 = media.clock_health();
    // Packets sent before `end_ns` are all queued by now (loopback delivery
    // is synchronous); let the receiver drain them, then stop it.
    std::thread::sleep(DRAIN_EVERY * 5);
    stop.store(true, Ordering::Relaxed);
    let received = receiver.join().expect("receiver");
    let phones_failed = phones.map(|p| p.join().expect("phones"));
    media.shutdown();

    let report = analyse(&received.packets, start_ns, end_ns);
    // Packets the streams should have sent within the window.
    let expected = streams as f64 * (end_ns - start_ns) as f64 / PTIME_NS as f64;
    println!(
        "streams: {streams} (seen at the receiver: {})",
        report.streams
    );
    println!(
        "packets measured: {} (nominal {expected:.0}), late > 5 ms: {} ({:.3} %), worst lateness {:.1} ms",
        report.packets,
        report.late,
        100.0 * report.late as f64 / report.packets.max(1) as f64,
        report.worst_ns as f64 / 1e6
    );
    println!(
        "lost: {} missing from the sequence numbers, {} dropped by the receiver socket (buffer {} KiB), {} streams silent",
        report.missing,
        received.kernel_drops,
        rcvbuf / 1024,
        streams.saturating_sub(report.streams)
    );
    println!(
        "memory: {} KiB for {streams} streams = {:.1} KiB per stream",
        rss1.saturating_sub(rss0),
        rss1.saturating_sub(rss0) as f64 / streams as f64
    );
    let elapsed = (end_ns - start_ns) as f64 / 1e9;
    let mut by_role: Vec<(String, f64)> = cpu1
        .iter()
        .map(|(tid, (name, t1))| {
            let t0 = cpu0.get(tid).map_or(0, |(_, t)| *t);
            (role(name), (t1 - t0) as f64)
        })
        .fold(HashMap::new(), |mut acc: HashMap<String, f64>, (r, t)| {
            *acc.entry(r).or_default() += t;
            acc
        })
        .into_iter()
        .collect();
    by_role.sort_by(|a, b| a.0.cmp(&b.0));
    let total: f64 = by_role.iter().map(|(_, t)| t).sum();
    let ticks_per_sec = 100.0; // USER_HZ
    println!(
        "CPU during the measurement: {:.0} % of one core in all; {}",
        100.0 * total / ticks_per_sec / elapsed,
        by_role
            .iter()
            .map(|(r, t)| format!("{r} {:.0} %", 100.0 * t / ticks_per_sec / elapsed))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let sender_cpu: f64 = by_role
        .iter()
        .filter(|(r, _)| r == "media-clock")
        .map(|(_, t)| t / ticks_per_sec)
        .sum();
    println!(
        "sender CPU per packet: {:.2} µs",
        sender_cpu * 1e6 / report.packets.max(1) as f64
    );
    println!(
        "clock ticks {} (started > 5 ms late: {})",
        ticks1.0 - ticks0.0,
        ticks1.1 - ticks0.1
    );
    if let Some(failed) = phones_failed {
        let inbound_packets = totals1.packets_received - totals0.packets_received;
        let receive_cpu: f64 = by_role
            .iter()
            .filter(|(r, _)| r == "media-receive")
            .map(|(_, t)| t / ticks_per_sec)
            .sum();
        println!(
            "inbound: engine received {inbound_packets} packets (nominal {expected:.0}; lost by sequence numbers since the start {}; phone sends failed {failed}); media-receive CPU per packet: {:.2} µs",
            totals1.packets_lost,
            receive_cpu * 1e6 / inbound_packets.max(1) as f64
        );
    }
}

/// The measuring threads stand for phones on other machines: real-time
/// priority (SCHED_FIFO 5, below the engine's media threads) when
/// permitted, so the machine's other work does not starve them.
fn play_a_remote_phone() {
    let param = libc::sched_param { sched_priority: 5 };
    // SAFETY: the calling thread; `param` is live. Without permission the
    // thread simply stays at normal priority.
    unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
}

/// Plays N remote phones from one socket: each session gets a 20 ms
/// PCMU packet stream, paced by absolute 1 ms deadlines (1/20 of the
/// sessions per millisecond). Returns the number of failed sends.
fn phones(socket: &UdpSocket, targets: &[std::net::SocketAddr], stop: &AtomicBool) -> u64 {
    play_a_remote_phone();
    let start = std::time::Instant::now();
    let mut packet = [0xFFu8; 172];
    packet[0] = 0x80;
    let mut sequence = vec![0u16; targets.len()];
    let mut failed = 0;
    let mut tick = 0u64;
    while !stop.load(Ordering::Relaxed) {
        tick += 1;
        let due = start + Duration::from_millis(tick);
        if let Some(wait) = due.checked_duration_since(std::time::Instant::now()) {
            std::thread::sleep(wait);
        }
        for i in ((tick % 20) as usize..targets.len()).step_by(20) {
            let seq = sequence[i];
            sequence[i] = seq.wrapping_add(1);
            packet[2..4].copy_from_slice(&seq.to_be_bytes());
            packet[4..8].copy_from_slice(&(seq as u32 * 160).to_be_bytes());
            packet[8..12].copy_from_slice(&(i as u32).to_be_bytes());
            if socket.send_to(&packet, targets[i]).is_err() {
                failed += 1;
            }
        }
    }
    failed
}

struct Received {
    /// Per SSRC: (kernel arrival ns since the Unix epoch, sequence number).
    packets: HashMap<u32, Vec<(i64, u16)>>,
    /// Datagrams the kernel dropped because the socket buffer was full.
    kernel_drops: u32,
}

/// Large buffer, kernel timestamps, drop counter, non-blocking. Returns the
/// buffer size the kernel granted.
fn prepare_receiver(socket: &UdpSocket) -> usize {
    let fd = socket.as_raw_fd();
    let set = |name: libc::c_int, value: libc::c_int| -> bool {
        // SAFETY: valid socket fd; the option value points to a live c_int.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                name,
                &value as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            ) == 0
        }
    };
    // 32 MiB: over 100 ms of 3,000 streams. SO_RCVBUFFORCE needs
    // CAP_NET_ADMIN; otherwise the kernel caps SO_RCVBUF at rmem_max.
    if !set(libc::SO_RCVBUFFORCE, 32 << 20) {
        set(libc::SO_RCVBUF, 32 << 20);
    }
    assert!(set(libc::SO_TIMESTAMPNS, 1), "SO_TIMESTAMPNS");
    assert!(set(libc::SO_RXQ_OVFL, 1), "SO_RXQ_OVFL");
    socket.set_nonblocking(true).expect("non-blocking");
    let mut granted: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: valid fd; `granted` and `len` are live and sized for a c_int.
    unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &mut granted as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        );
    }
    granted.max(0) as usize
}

fn receive(socket: &UdpSocket, stop: &AtomicBool, window_start: &AtomicI64) -> Received {
    play_a_remote_phone();
    let fd = socket.as_raw_fd();
    let mut bufs = vec![[0u8; 256]; BATCH];
    let mut controls = vec![[0u64; 16]; BATCH];
    let mut iovecs: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        })
        .collect();
    let mut received = Received {
        packets: HashMap::new(),
        kernel_drops: 0,
    };
    loop {
        // Read before draining: once set, this drain is the last one and
        // takes every packet queued before the end of the window.
        let stopping = stop.load(Ordering::Relaxed);
        loop {
            // SAFETY: zeroed mmsghdr are valid empty values; every pointer
            // set below refers to buffers alive for the whole call.
            let mut msgs: Vec<libc::mmsghdr> = (0..BATCH)
                .map(|i| {
                    let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
                    m.msg_hdr.msg_iov = &mut iovecs[i];
                    m.msg_hdr.msg_iovlen = 1;
                    m.msg_hdr.msg_control = controls[i].as_mut_ptr() as *mut libc::c_void;
                    m.msg_hdr.msg_controllen = std::mem::size_of_val(&controls[i]) as _;
                    m
                })
                .collect();
            // SAFETY: `msgs` holds BATCH initialised headers (see above).
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    msgs.as_mut_ptr(),
                    BATCH as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n <= 0 {
                break;
            }
            let start = window_start.load(Ordering::Relaxed);
            for (i, m) in msgs.iter().take(n as usize).enumerate() {
                let (at, drops) = control_data(&m.msg_hdr);
                if let Some(d) = drops {
                    received.kernel_drops = received.kernel_drops.max(d);
                }
                let len = m.msg_len as usize;
                let data = &bufs[i][..len.min(256)];
                if let Some(at) = at
                    && at >= start
                    && data.len() >= 12
                {
                    let seq = u16::from_be_bytes([data[2], data[3]]);
                    let ssrc = u32::from_be_bytes([data[8], data[9], data[10], data[11]]);
                    received.packets.entry(ssrc).or_default().push((at, seq));
                }
            }
            if (n as usize) < BATCH {
                break;
            }
        }
        if stopping {
            break;
        }
        std::thread::sleep(DRAIN_EVERY);
    }
    received
}

/// Kernel receive timestamp (ns since the Unix epoch) and cumulative drop
/// count, from one message's control data.
fn control_data(hdr: &libc::msghdr) -> (Option<i64>, Option<u32>) {
    let (mut at, mut drops) = (None, None);
    // SAFETY: walking the control messages the kernel wrote into the
    // buffer `hdr` points to, with the length it reported.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(hdr);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET {
                if (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS {
                    let ts =
                        std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::timespec);
                    at = Some(ts.tv_sec * 1_000_000_000 + ts.tv_nsec);
                } else if (*cmsg).cmsg_type == libc::SO_RXQ_OVFL {
                    drops = Some(std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const u32));
                }
            }
            cmsg = libc::CMSG_NXTHDR(hdr, cmsg);
        }
    }
    (at, drops)
}

struct Report {
    streams: usize,
    packets: u64,
    late: u64,
    worst_ns: i64,
    missing: u64,
}

fn analyse(packets: &HashMap<u32, Vec<(i64, u16)>>, start: i64, end: i64) -> Report {
    let mut report = Report {
        streams: 0,
        packets: 0,
        late: 0,
        worst_ns: 0,
        missing: 0,
    };
    for pkts in packets.values() {
        let mut pkts: Vec<(i64, u16)> = pkts
            .iter()
            .copied()
            .filter(|(t, _)| *t < end && *t >= start)
            .collect();
        if pkts.is_empty() {
            continue;
        }
        report.streams += 1;
        pkts.sort_by_key(|p| p.0);
        // Extended sequence numbers (the run may wrap the 16-bit counter).
        let mut ext: i64 = 0;
        let mut prev = pkts[0].1;
        let mut offsets = Vec::with_capacity(pkts.len());
        let (mut lowest, mut highest) = (0i64, 0i64);
        for (t, seq) in &pkts {
            ext += seq.wrapping_sub(prev) as i16 as i64;
            prev = *seq;
            lowest = lowest.min(ext);
            highest = highest.max(ext);
            offsets.push(t - pkts[0].0 - PTIME_NS * ext);
        }
        let anchor = offsets.iter().copied().min().unwrap_or(0);
        for o in offsets {
            let lateness = o - anchor;
            report.worst_ns = report.worst_ns.max(lateness);
            report.packets += 1;
            if lateness > LATE_NS {
                report.late += 1;
            }
        }
        report.missing += ((highest - lowest + 1) as u64).saturating_sub(pkts.len() as u64);
    }
    report
}

fn unix_ns() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

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

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Thread roles for the CPU breakdown.
fn role(name: &str) -> String {
    if name.starts_with("media-clock") {
        "media-clock".into()
    } else if name.starts_with("tokio") {
        "tokio".into()
    } else {
        name.to_owned()
    }
}

/// utime + stime (1/100 s) of every thread of this process, by thread id.
fn thread_cpu() -> HashMap<u64, (String, u64)> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(tid) = entry.file_name().to_string_lossy().parse::<u64>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let name = stat
            .split_once('(')
            .and_then(|(_, r)| r.rsplit_once(')'))
            .map_or("?", |(n, _)| n)
            .to_owned();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        out.insert(tid, (name, field(11) + field(12)));
    }
    out
}
