//! Helpers shared by the engine tests: a plain-UDP RTP peer.
#![allow(dead_code)]

use guichet_media::rtp::RtpPacket;
use guichet_media::{
    Codec, MediaConfig, MediaEngine, MediaEvent, MediaHandle, RemoteMedia, SessionId,
};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

#[path = "../../../tests/ports/mod.rs"]
mod ports;
#[allow(unused_imports)]
pub use ports::{free_port, free_port_range};

/// Engine on 127.0.0.1 with `ports` free ports of its own (tests run in
/// parallel: each gets a distinct range).
pub fn engine(ports: u16) -> (MediaHandle, UnboundedReceiver<MediaEvent>) {
    let port_min = free_port_range(ports);
    engine_in(port_min, port_min + ports - 1)
}

/// Engine on 127.0.0.1 with exactly the ports `port_min..=port_max`.
pub fn engine_in(port_min: u16, port_max: u16) -> (MediaHandle, UnboundedReceiver<MediaEvent>) {
    MediaEngine::start(MediaConfig {
        bind_ip: "127.0.0.1".parse().unwrap(),
        port_min,
        port_max,
        rtcp_interval_secs: 1,
        no_media_timeout_secs: 1,
        ..Default::default()
    })
    .unwrap()
}

/// A received RTP packet with its arrival time.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

/// A plain blocking UDP socket playing the remote phone.
pub struct Peer {
    pub socket: UdpSocket,
    seq: u16,
    ts: u32,
}

impl Peer {
    pub fn new() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Peer {
            socket,
            seq: 1000,
            ts: 5000,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    /// Tells the engine this peer is the remote of `session`.
    pub fn attach(&self, media: &MediaHandle, session: SessionId, codec: Codec, dtmf: Option<u8>) {
        media
            .set_remote(
                session,
                RemoteMedia {
                    addr: self.addr(),
                    codec,
                    payload_type: codec.static_payload_type(),
                    dtmf_payload_type: dtmf,
                    dtmf_red_payload_type: None,
                },
            )
            .unwrap();
    }

    /// Sends one frame of audio to `to`.
    pub fn send_audio(&mut self, to: SocketAddr, codec: Codec, pcm: &[i16]) {
        let mut payload = Vec::new();
        codec.encode(pcm, &mut payload);
        self.send_raw(to, codec.static_payload_type(), false, &payload);
        self.ts = self.ts.wrapping_add(pcm.len() as u32);
    }

    pub fn send_raw(&mut self, to: SocketAddr, pt: u8, marker: bool, payload: &[u8]) {
        let mut buf = Vec::new();
        RtpPacket {
            marker,
            payload_type: pt,
            sequence: self.seq,
            timestamp: self.ts,
            ssrc: 0xCAFE,
            payload,
        }
        .write(&mut buf);
        self.seq = self.seq.wrapping_add(1);
        self.socket.send_to(&buf, to).unwrap();
    }

    /// Skips sequence numbers (simulated loss).
    pub fn skip(&mut self, n: u16) {
        self.seq = self.seq.wrapping_add(n);
        self.ts = self.ts.wrapping_add(160 * n as u32);
    }

    /// Receives RTP packets until `idle` passes without one or `limit`.
    pub fn receive(&self, idle: Duration, limit: Duration) -> Vec<Received> {
        let start = Instant::now();
        let mut out = Vec::new();
        let mut last = Instant::now();
        let mut buf = [0u8; 2048];
        while start.elapsed() < limit && last.elapsed() < idle {
            if let Ok((n, _)) = self.socket.recv_from(&mut buf) {
                let at = Instant::now();
                last = at;
                if let Ok(p) = RtpPacket::parse(&buf[..n]) {
                    out.push(Received {
                        at,
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

/// Waits for an event matching `pred`, up to `limit`.
pub async fn wait_event(
    events: &mut UnboundedReceiver<MediaEvent>,
    limit: Duration,
    pred: impl Fn(&MediaEvent) -> bool,
) -> Option<MediaEvent> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(e)) if pred(&e) => return Some(e),
            Ok(Some(_)) => continue,
            _ => return None,
        }
    }
}

/// True when sox is usable; with `CI=true` a missing sox fails the test.
pub fn have_sox() -> bool {
    let ok = std::process::Command::new("sox")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "sox is required when CI=true"
        );
        eprintln!("NOTICE: sox not found, skipping");
    }
    ok
}

/// Asks the kernel to timestamp every datagram received on `socket`
/// (`SO_TIMESTAMPNS`), so a test measures when packets were sent on the
/// loopback, not when its own thread happened to be scheduled.
pub fn enable_kernel_timestamps(socket: &UdpSocket) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: valid socket fd, option value points to a live c_int.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            &on as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "setsockopt(SO_TIMESTAMPNS)");
}

/// Receives one datagram with its kernel timestamp (seconds, CLOCK_REALTIME).
pub fn recv_timestamped(socket: &UdpSocket, buf: &mut [u8]) -> Option<(usize, f64)> {
    use std::os::fd::AsRawFd;
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let mut control = [0u8; 128];
    // SAFETY: zeroed msghdr is a valid "empty" value; pointers set below
    // reference live buffers for the duration of the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = control.len() as _;
    // SAFETY: see above.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return None;
    }
    // SAFETY: walking the control messages the kernel wrote into `control`.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::timespec);
                return Some((n as usize, ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    None
}

/// Gives the calling test thread real-time priority (SCHED_FIFO 5, below the
/// engine's clock threads), when allowed: a thread playing a remote phone
/// then keeps its 20 ms pace on a busy machine, as a phone with its own CPU
/// would. Without the permission (not root, no CAP_SYS_NICE) it stays at
/// normal priority and says so.
pub fn pace_like_a_phone() {
    let param = libc::sched_param { sched_priority: 5 };
    // SAFETY: the calling thread; `param` is a live, initialised value.
    let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if rc != 0 {
        eprintln!("NOTICE: no real-time priority for the test's phone thread (error {rc})");
    }
}

/// A command for an external program playing a remote peer (SIPp), run at
/// real-time priority like `pace_like_a_phone` when `chrt` may do so (its
/// threads inherit the policy), else as is.
pub fn remote_peer_command(program: &str) -> std::process::Command {
    let chrt_works = std::process::Command::new("chrt")
        .args(["-f", "5", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if chrt_works {
        let mut command = std::process::Command::new("chrt");
        command.args(["-f", "5", program]);
        command
    } else {
        eprintln!("NOTICE: {program} runs at normal priority (no chrt permission)");
        std::process::Command::new(program)
    }
}
