//! The receive side of every RTP/RTCP socket: one thread waiting on one
//! epoll set, instead of one tokio task per socket.
//!
//! Why: with a task per socket, each datagram costs a reactor wake-up, a
//! task wake and a poll on a tokio worker that also runs SIP and the
//! switchboard; under load a burst of signalling delays audio past the
//! bridge's jitter buffer. Here a datagram costs one `recvfrom` on a thread
//! that does nothing else, and that thread runs at real-time priority like
//! the clock (when permitted), so the arrival times the jitter buffer and
//! RFC 3550 jitter see are the network's, not the scheduler's.
//!
//! Each socket is registered level-triggered with a token `session id × 2
//! (+1 for RTCP)`; a ready socket is drained up to [`DRAIN_LIMIT`]
//! datagrams per round so one flooded socket cannot starve the others.

use crate::engine::{Inner, Session, SessionId};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Datagrams read from one socket before looking at the others.
const DRAIN_LIMIT: usize = 32;
/// Events taken per `epoll_wait`.
const EVENTS: usize = 256;
/// Pause after serving a partial batch of ready sockets.
const BATCH_PAUSE: Duration = Duration::from_millis(1);
/// `epoll_wait` timeout, so the thread notices the engine stopping.
const WAIT_MS: libc::c_int = 100;
/// A real-time receive thread busier than this share of a second is being
/// flooded: it goes back to normal priority rather than take the cores
/// from signalling.
const FLOOD_BUSY_SHARE: f64 = 0.5;

/// The epoll set and which session each registered socket belongs to.
pub(crate) struct Receiver {
    epoll: OwnedFd,
    sessions: RwLock<HashMap<SessionId, Weak<Session>>>,
}

impl Receiver {
    pub(crate) fn new() -> std::io::Result<Arc<Self>> {
        // SAFETY: plain system call; the result is checked before use.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Arc::new(Receiver {
            // SAFETY: `fd` was just returned by epoll_create1 and is owned
            // by nothing else.
            epoll: unsafe { OwnedFd::from_raw_fd(fd) },
            sessions: RwLock::new(HashMap::new()),
        }))
    }

    /// Starts receiving for `session` on its two sockets.
    pub(crate) fn register(
        &self,
        session: &Arc<Session>,
        rtp: &UdpSocket,
        rtcp: &UdpSocket,
    ) -> std::io::Result<()> {
        self.sessions
            .write()
            .insert(session.id, Arc::downgrade(session));
        for (socket, kind) in [(rtp, 0), (rtcp, 1)] {
            if let Err(e) = self.control(
                libc::EPOLL_CTL_ADD,
                socket.as_raw_fd(),
                token(session.id, kind),
            ) {
                self.deregister(session.id, rtp, rtcp);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Stops receiving for a session (before its sockets are closed).
    pub(crate) fn deregister(&self, id: SessionId, rtp: &UdpSocket, rtcp: &UdpSocket) {
        for socket in [rtp, rtcp] {
            // Not registered (a failed `register`) is fine.
            let _ = self.control(libc::EPOLL_CTL_DEL, socket.as_raw_fd(), 0);
        }
        self.sessions.write().remove(&id);
    }

    fn control(&self, op: libc::c_int, fd: RawFd, token: u64) -> std::io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: valid epoll and socket descriptors; `event` is live.
        let rc = unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) };
        if rc < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

fn token(id: SessionId, kind: u64) -> u64 {
    (id.0 << 1) | kind
}

/// The receive thread: runs until the engine is dropped.
pub(crate) fn run(engine: Weak<Inner>, receiver: Arc<Receiver>, realtime: bool) {
    let mut priority = crate::engine::RealtimePriority::acquire(
        "media-receive",
        crate::engine::RECEIVE_RT_PRIORITY,
        realtime,
    );
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS];
    let mut buf = vec![0u8; 2048];
    let mut window_start = Instant::now();
    let mut busy = Duration::ZERO;
    loop {
        // SAFETY: valid epoll descriptor (owned by `receiver`, alive here);
        // `events` has room for EVENTS entries.
        let n = unsafe {
            libc::epoll_wait(
                receiver.epoll.as_raw_fd(),
                events.as_mut_ptr(),
                EVENTS as libc::c_int,
                WAIT_MS,
            )
        };
        let woke = Instant::now();
        let Some(engine) = engine.upgrade() else {
            return;
        };
        if engine.stopped() {
            return;
        }
        for event in events.iter().take(n.max(0) as usize) {
            let token = event.u64;
            let id = SessionId(token >> 1);
            let Some(session) = receiver.sessions.read().get(&id).and_then(Weak::upgrade) else {
                continue;
            };
            let rtcp = token & 1 == 1;
            let Some(socket) = session.udp_socket(rtcp) else {
                continue;
            };
            for _ in 0..DRAIN_LIMIT {
                let Ok((len, from)) = socket.recv_from(&mut buf) else {
                    // WouldBlock: drained. Other errors (ICMP unreachable
                    // reported on the socket): nothing to read either.
                    break;
                };
                if rtcp {
                    engine.on_rtcp(&session, &buf[..len], from);
                } else {
                    engine.on_rtp(&session, &buf[..len], from);
                }
            }
        }
        drop(engine);
        busy += woke.elapsed();
        if n > 0 && (n as usize) < EVENTS {
            // Let datagrams accumulate for a moment: one wake-up and one
            // `epoll_wait` then serve many sockets instead of one or two
            // (at 3,000 calls a datagram arrives every 7 µs). The delay is
            // far inside the jitter buffer's.
            std::thread::sleep(BATCH_PAUSE);
        }
        let window = window_start.elapsed();
        if window >= Duration::from_secs(1) {
            let share = busy.as_secs_f64() / window.as_secs_f64();
            priority.observe(
                Instant::now(),
                share > FLOOD_BUSY_SHARE,
                share < FLOOD_BUSY_SHARE / 2.0,
                busy,
            );
            window_start = Instant::now();
            busy = Duration::ZERO;
        }
    }
}
