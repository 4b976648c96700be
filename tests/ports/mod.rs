//! Loopback ports for the test peers we launch (SIPp, baresip, Guichet's
//! RTP range), shared by the test suites of every crate through `#[path]`.
//!
//! Why not "bind port 0, read the port, close the socket"? Because the
//! kernel hands that port out again at once: an outgoing TCP connection or
//! another port-0 bind in a test running in parallel takes it before SIPp
//! binds it, and SIPp dies with "Unable to bind main socket, errno = 98"
//! (seen in CI). These ports are therefore taken *below* Linux's ephemeral
//! range (32768-60999 by default), where the kernel never allocates on its
//! own, from a per-process counter, and each is checked free on both UDP
//! and TCP before it is handed out. Test binaries run one after the other,
//! and the process id spreads each run over the range.
#![allow(dead_code)]

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

const FIRST: u32 = 20_000;
const SPAN: u32 = 12_000; // up to 31,999, below the ephemeral range

static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);

fn port_free(port: u16) -> bool {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
        && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// `count` consecutive free ports (UDP and TCP), the first one even
/// (RTP takes even ports, RTCP the odd one above). Returns the first.
pub fn free_port_range(count: u16) -> u16 {
    let count = u32::from(count.max(1));
    // Start at a place that depends on the process, so a re-run or a second
    // binary does not walk over the ports the previous one left in TIME_WAIT.
    let start = (std::process::id().wrapping_mul(2_654_435_761) % SPAN) & !1;
    let _ = NEXT.compare_exchange(u32::MAX, start, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..SPAN {
        // Keep every block even-aligned.
        let step = (count + 1) & !1;
        let offset = NEXT.fetch_add(step, Ordering::SeqCst) % SPAN;
        if offset + count > SPAN {
            continue;
        }
        let base = FIRST + offset;
        let all_free = (0..count).all(|i| port_free((base + i) as u16));
        if all_free {
            return base as u16;
        }
    }
    panic!(
        "no {count} consecutive free loopback ports in {FIRST}..{}",
        FIRST + SPAN
    );
}

/// One free port (UDP and TCP), even.
pub fn free_port() -> u16 {
    free_port_range(2)
}
