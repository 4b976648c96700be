//! The live media engine: RTP sessions on UDP sockets, one clock thread
//! pacing every stream, one receive thread on epoll (`receiver.rs`).
//!
//! Pacing: two OS threads run alternate 1 ms ticks, each tick's deadline
//! computed from the engine's start (`epoch + n ms`), so the clock never
//! drifts. Streams (sessions and bridges) live in a 20-slot wheel: a stream
//! in slot `s` is visited at every tick `t` with `t % 20 == s`, i.e. exactly
//! every 20 ms, and sends one packet per visit. Thousands of streams thus
//! cost one wake-up per millisecond, not one timer per packet.

use crate::config::{ConfigError, MediaConfig};
use crate::dtmf::{DtmfReceiver, DtmfSender, digit_to_event};
use crate::g711::{Codec, SAMPLES_PER_FRAME};
use crate::jitter::JitterBuffer;
use crate::player::{Playlist, PlaylistCursor};
use crate::ports::PortAllocator;
use crate::rtp::{ReceptionStats, ReportBlock, RtcpReport, RtpPacket, SenderInfo, SequenceVerdict};
use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};
use thiserror::Error;
use tokio::sync::mpsc;

/// Milliseconds per packet.
const PTIME_MS: u64 = 20;
/// Wheel slots: one per millisecond of a packet interval.
const SLOTS: usize = PTIME_MS as usize;
/// Visits of a stream per second.
const VISITS_PER_SECOND: u64 = 1000 / PTIME_MS;

/// Identifies an RTP session (one call leg's media).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// Identifies a bridge between a caller leg and an agent leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BridgeId(pub u64);

/// Identifies one `play` request, echoed in its `PlaybackFinished` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlaybackId(pub u64);

/// What the engine cannot do.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `start` was called outside a tokio runtime.
    #[error("the media engine must be started inside a tokio runtime")]
    NoRuntime,
    /// Every port pair of the range is in use or cannot be bound.
    #[error("no free RTP port pair in the configured range")]
    PortsExhausted,
    /// The session does not exist (released or never allocated).
    #[error("unknown media session {0:?}")]
    UnknownSession(SessionId),
    /// The bridge does not exist (ended or never created).
    #[error("unknown bridge {0:?}")]
    UnknownBridge(BridgeId),
    /// The session is already part of a bridge.
    #[error("media session {0:?} is already bridged")]
    AlreadyBridged(SessionId),
    /// `set_remote` was not called, or the remote has no telephone-event.
    #[error("media session {0:?} cannot send DTMF: no negotiated telephone-event payload type")]
    NoDtmfPayloadType(SessionId),
    /// Not a DTMF character.
    #[error("invalid DTMF digit {0:?}")]
    InvalidDigit(char),
    /// `webrtc_accept` while `webrtc_port` is not configured.
    #[error("the WebRTC endpoint is not enabled (media.webrtc_port)")]
    WebRtcDisabled,
    /// The browser's offer could not be accepted.
    #[error("WebRTC: {0}")]
    WebRtc(String),
    /// A socket operation failed.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
}

/// The remote side of a session, from the SDP negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteMedia {
    /// Address from the SDP `c=`/`m=` lines; replaced by the address
    /// packets actually come from (symmetric RTP).
    pub addr: SocketAddr,
    /// The negotiated audio codec.
    pub codec: Codec,
    /// Its payload type (normally the static 0 or 8).
    pub payload_type: u8,
    /// The negotiated telephone-event payload type, if any.
    pub dtmf_payload_type: Option<u8>,
    /// The negotiated RFC 2198 `red` payload type carrying telephone
    /// events (`a=fmtp:PT TE/TE/...`), if any: its telephone-event blocks
    /// are decoded like plain telephone-event packets.
    pub dtmf_red_payload_type: Option<u8>,
}

/// Supervision modes (écoute, chuchotement, intervention).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorMode {
    /// The supervisor hears caller and agent; nobody hears the supervisor.
    Listen,
    /// The supervisor hears both; only the agent hears the supervisor.
    Whisper,
    /// Three-way: everyone hears the two others.
    Barge,
}

/// Where a digit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfSource {
    /// RFC 4733 telephone-event in the RTP stream.
    Rfc4733,
    /// SIP INFO, injected by the switchboard.
    SipInfo,
}

/// Why a playback ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaybackEnd {
    /// Played to the end.
    Completed,
    /// Interrupted by this digit (barge-in).
    Interrupted(char),
    /// Stopped or replaced by the switchboard.
    Stopped,
}

/// Something the switchboard should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// A DTMF digit, once per key press.
    Dtmf {
        /// The session it arrived on.
        session: SessionId,
        /// `0-9`, `*`, `#`, `A-D`.
        digit: char,
        /// Duration reported by the sender, in milliseconds.
        duration_ms: u32,
        /// RTP or SIP INFO.
        source: DtmfSource,
    },
    /// A playback ended.
    PlaybackFinished {
        /// The session.
        session: SessionId,
        /// The `play` request.
        playback: PlaybackId,
        /// How it ended.
        reason: PlaybackEnd,
    },
    /// The first packet arrived, from this address; media now goes there.
    RemoteLatched {
        /// The session.
        session: SessionId,
        /// The source address of the packets.
        addr: SocketAddr,
    },
    /// No packet received for the configured timeout (reported once,
    /// again only after media resumed and stopped again).
    NoMedia {
        /// The session.
        session: SessionId,
    },
    /// A bridge ended because a leg was released or `unbridge` was called.
    BridgeEnded {
        /// The bridge.
        bridge: BridgeId,
    },
}

/// Counters of one session, for the switchboard and `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SessionStats {
    /// RTP packets sent (audio and telephone-event).
    pub packets_sent: u64,
    /// RTP payload bytes sent.
    pub bytes_sent: u64,
    /// RTP packets received and accepted.
    pub packets_received: u64,
    /// RTP payload bytes received.
    pub bytes_received: u64,
    /// Packets lost according to sequence numbers (RFC 3550 A.3).
    pub packets_lost: i64,
    /// Interarrival jitter in milliseconds (RFC 3550 A.8).
    pub jitter_ms: f64,
    /// Highest interarrival jitter the session reached, in milliseconds.
    pub max_jitter_ms: f64,
    /// Packets that arrived after their playout time in the bridge's jitter
    /// buffer (so were not played).
    pub late_packets: u64,
    /// Packets that arrived behind a higher sequence number (reordered or
    /// duplicated in the network), whether or not still in time.
    pub reordered_packets: u64,
    /// Packets dropped because they came from another address than the
    /// latched one.
    pub foreign_packets: u64,
    /// Fraction lost (0-1) in the last RTCP report the remote sent about us.
    pub remote_fraction_lost: Option<f64>,
    /// Jitter (ms) in the last RTCP report the remote sent about us.
    pub remote_jitter_ms: Option<f64>,
}

/// Counters summed over all sessions, live and released, plus the clock's
/// health: what `/metrics` exposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MediaTotals {
    /// Sessions released since the engine started.
    pub sessions_released: u64,
    /// RTP packets sent.
    pub packets_sent: u64,
    /// RTP packets received and accepted.
    pub packets_received: u64,
    /// Packets lost according to sequence numbers (negative per-session
    /// counts, i.e. duplicates, count as zero).
    pub packets_lost: u64,
    /// Packets that arrived too late for a bridge's jitter buffer.
    pub late_packets: u64,
    /// Packets received out of order.
    pub reordered_packets: u64,
    /// Packets dropped because they came from another address than the
    /// latched one.
    pub foreign_packets: u64,
    /// Clock ticks processed.
    pub clock_ticks: u64,
    /// Clock ticks that started more than 5 ms after their deadline.
    pub clock_ticks_late: u64,
    /// Clock ticks skipped because their thread was more than
    /// [`CATCH_UP_LIMIT`] behind (each is up to one 20 ms packet missing
    /// from the streams of its wheel slot).
    pub clock_ticks_skipped: u64,
}

impl MediaTotals {
    fn add(&mut self, s: &SessionStats) {
        self.packets_sent += s.packets_sent;
        self.packets_received += s.packets_received;
        self.packets_lost += s.packets_lost.max(0) as u64;
        self.late_packets += s.late_packets;
        self.reordered_packets += s.reordered_packets;
        self.foreign_packets += s.foreign_packets;
    }
}

/// A freshly allocated session: its id and the local RTP address to put
/// in the SDP (`bind_ip` may be the unspecified address: the switchboard
/// then advertises its own public address with this port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalMedia {
    /// The session.
    pub session: SessionId,
    /// Local RTP address (RTCP is on the next port).
    pub addr: SocketAddr,
}

pub(crate) struct Session {
    pub(crate) id: SessionId,
    transport: Transport,
    released: AtomicBool,
    state: Mutex<SessionState>,
}

impl Session {
    /// The session's own RTP (or RTCP) socket; none for browser legs.
    pub(crate) fn udp_socket(&self, rtcp: bool) -> Option<&StdUdpSocket> {
        match &self.transport {
            Transport::Udp { rtp, rtcp: c, .. } => Some(if rtcp { c } else { rtp }),
            Transport::WebRtc { .. } => None,
        }
    }
}

/// How a session's packets leave: its own UDP port pair, or the shared
/// WebRTC endpoint (browser agents).
enum Transport {
    Udp {
        port: u16,
        rtp: StdUdpSocket,
        rtcp: StdUdpSocket,
    },
    WebRtc {
        session: SessionId,
        commands: mpsc::UnboundedSender<crate::webrtc::Command>,
    },
}

struct Outgoing {
    ssrc: u32,
    seq: u16,
    ts_base: u32,
    last_tick: Option<u64>,
    packets: u64,
    bytes: u64,
    last_rtp_ts: u32,
    /// Where the RTP socket is connected: the latched remote. A connected
    /// socket sends without a route lookup per packet (about 13 % of a
    /// send on loopback) and the kernel drops other sources for us.
    connected_to: Option<SocketAddr>,
}

impl Outgoing {
    /// Sends one packet at tick `tick`. The RTP timestamp is derived from
    /// the tick, so it is exact whatever the path (player, bridge, DTMF).
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        transport: &Transport,
        dest: SocketAddr,
        payload_type: u8,
        marker: bool,
        timestamp: u32,
        payload: &[u8],
        scratch: &mut Vec<u8>,
        tick: u64,
    ) {
        let packet = RtpPacket {
            marker,
            payload_type,
            sequence: self.seq,
            timestamp,
            ssrc: self.ssrc,
            payload,
        };
        self.seq = self.seq.wrapping_add(1);
        self.last_tick = Some(tick);
        self.last_rtp_ts = timestamp;
        let sent = match transport {
            Transport::Udp { rtp, .. } => {
                packet.write(scratch);
                let sent = if self.connected_to == Some(dest) {
                    rtp.send(scratch)
                } else {
                    rtp.send_to(scratch, dest)
                };
                sent.map(|_| ()).map_err(|e| e.to_string())
            }
            Transport::WebRtc { session, commands } => commands
                .send(crate::webrtc::Command::Media {
                    session: *session,
                    payload_type,
                    timestamp,
                    payload: payload.to_vec(),
                })
                .map_err(|_| "WebRTC endpoint stopped".to_owned()),
        };
        match sent {
            Ok(()) => {
                self.packets += 1;
                self.bytes += payload.len() as u64;
            }
            Err(e) => tracing::debug!(error = %e, "RTP send failed"),
        }
    }

    fn timestamp_at(&self, tick: u64) -> u32 {
        self.ts_base.wrapping_add((tick as u32).wrapping_mul(8))
    }

    /// A talkspurt starts when the previous packet was not 20 ms ago.
    fn starts_talkspurt(&self, tick: u64) -> bool {
        self.last_tick != Some(tick.wrapping_sub(PTIME_MS))
    }
}

struct ActiveDtmf {
    sender: DtmfSender,
    timestamp: u32,
}

struct SessionState {
    remote: Option<RemoteMedia>,
    latched: Option<SocketAddr>,
    rtcp_remote: Option<SocketAddr>,
    out: Outgoing,
    player: Option<(PlaybackId, PlaylistCursor)>,
    /// Started on the frame after `player` completes (`play_then`).
    follow_up: Option<(PlaybackId, PlaylistCursor)>,
    dtmf_queue: VecDeque<(char, u32)>,
    dtmf_active: Option<ActiveDtmf>,
    rx_ssrc: Option<u32>,
    rx: ReceptionStats,
    packets_received: u64,
    bytes_received: u64,
    late_jitter_base: u64,
    foreign_packets: u64,
    dtmf_rx: DtmfReceiver,
    jitter: Option<JitterBuffer>,
    bridge: Option<BridgeId>,
    last_rx: Instant,
    no_media_reported: bool,
    visits: u64,
    last_sr: Option<(u32, Instant)>,
    remote_report: Option<ReportBlock>,
    scratch: Vec<u8>,
    pcm: Vec<u8>,
}

impl SessionState {
    fn stats(&self) -> SessionStats {
        SessionStats {
            packets_sent: self.out.packets,
            bytes_sent: self.out.bytes,
            packets_received: self.packets_received,
            bytes_received: self.bytes_received,
            packets_lost: self.rx.cumulative_lost(),
            jitter_ms: self.rx.jitter() as f64 / 8.0,
            max_jitter_ms: self.rx.max_jitter() as f64 / 8.0,
            late_packets: self.late_packets(),
            reordered_packets: self.rx.late(),
            foreign_packets: self.foreign_packets,
            remote_fraction_lost: self.remote_report.map(|r| r.fraction_lost as f64 / 256.0),
            remote_jitter_ms: self.remote_report.map(|r| r.jitter as f64 / 8.0),
        }
    }

    /// Removes the current playback and its follow-up, returning their ids.
    fn take_playbacks(&mut self) -> Vec<PlaybackId> {
        [self.player.take(), self.follow_up.take()]
            .into_iter()
            .flatten()
            .map(|(p, _)| p)
            .collect()
    }

    fn destination(&self) -> Option<SocketAddr> {
        self.latched.or(self.remote.map(|r| r.addr))
    }

    fn late_packets(&self) -> u64 {
        self.late_jitter_base + self.jitter.as_ref().map_or(0, |j| j.late())
    }
}

struct Bridge {
    caller: Arc<Session>,
    agent: Arc<Session>,
    supervisor: Option<(Arc<Session>, MonitorMode)>,
}

struct BridgeCell {
    ended: AtomicBool,
    bridge: Mutex<Bridge>,
}

#[derive(Clone)]
enum Entry {
    Session(Arc<Session>),
    Bridge(Arc<BridgeCell>),
}

pub(crate) struct Inner {
    webrtc: Option<crate::webrtc::Endpoint>,
    config: MediaConfig,
    runtime: tokio::runtime::Handle,
    ports: Mutex<PortAllocator>,
    sessions: RwLock<HashMap<SessionId, Arc<Session>>>,
    bridges: Mutex<HashMap<BridgeId, Arc<BridgeCell>>>,
    wheel: Mutex<Vec<Vec<Entry>>>,
    next_slot: AtomicU64,
    next_id: AtomicU64,
    events: mpsc::UnboundedSender<MediaEvent>,
    epoch: Instant,
    stop: AtomicBool,
    late_ticks: AtomicU64,
    skipped_ticks: AtomicU64,
    ticks: AtomicU64,
    /// Counters of the sessions already released.
    closed_totals: Mutex<MediaTotals>,
    /// The receive thread's epoll set.
    receiver: Arc<crate::receiver::Receiver>,
}

/// Entry point: starts the engine.
pub struct MediaEngine;

impl MediaEngine {
    /// Validates `config`, starts the clock thread and returns the handle
    /// the switchboard drives plus the stream of events. Must be called
    /// inside a tokio runtime (the WebRTC endpoint runs on it). The
    /// engine stops when the last handle is dropped or on `shutdown`.
    pub fn start(
        config: MediaConfig,
    ) -> Result<(MediaHandle, mpsc::UnboundedReceiver<MediaEvent>), MediaError> {
        config.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| MediaError::NoRuntime)?;
        let (events, rx) = mpsc::unbounded_channel();
        let (webrtc, webrtc_run) = match config.webrtc_port {
            Some(port) => {
                let (endpoint, socket, commands) =
                    crate::webrtc::Endpoint::bind(SocketAddr::new(config.bind_ip, port))?;
                (Some(endpoint), Some((socket, commands)))
            }
            None => (None, None),
        };
        let inner = Arc::new(Inner {
            webrtc,
            ports: Mutex::new(PortAllocator::new(config.port_min, config.port_max)),
            config,
            runtime,
            sessions: RwLock::new(HashMap::new()),
            bridges: Mutex::new(HashMap::new()),
            wheel: Mutex::new((0..SLOTS).map(|_| Vec::new()).collect()),
            next_slot: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
            events,
            epoch: Instant::now(),
            stop: AtomicBool::new(false),
            late_ticks: AtomicU64::new(0),
            skipped_ticks: AtomicU64::new(0),
            ticks: AtomicU64::new(0),
            closed_totals: Mutex::new(MediaTotals::default()),
            receiver: crate::receiver::Receiver::new()?,
        });
        let weak = Arc::downgrade(&inner);
        if let Some((socket, commands)) = webrtc_run {
            let _guard = inner.runtime.enter();
            inner
                .runtime
                .spawn(crate::webrtc::run(weak.clone(), socket, commands));
        }
        {
            let (weak, receiver) = (weak.clone(), inner.receiver.clone());
            let realtime = inner.config.realtime_clock;
            std::thread::Builder::new()
                .name("media-receive".into())
                .spawn(move || crate::receiver::run(weak, receiver, realtime))?;
        }
        for phase in 0..CLOCK_THREADS {
            let weak = weak.clone();
            let realtime = inner.config.realtime_clock;
            std::thread::Builder::new()
                .name(format!("media-clock-{phase}"))
                .spawn(move || clock_thread(weak, phase, realtime))?;
        }
        Ok((MediaHandle { inner }, rx))
    }
}

/// Cheap to clone; every method is synchronous and non-blocking.
#[derive(Clone)]
pub struct MediaHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MediaHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaHandle")
            .field("sessions", &self.inner.sessions.read().len())
            .finish()
    }
}

impl MediaHandle {
    /// Allocates an RTP/RTCP port pair and starts receiving on it.
    pub fn allocate_rtp(&self) -> Result<LocalMedia, MediaError> {
        let inner = &self.inner;
        let attempts = inner.ports.lock().available();
        for _ in 0..attempts {
            let Some(port) = inner.ports.lock().take() else {
                break;
            };
            let bind = |p: u16| StdUdpSocket::bind(SocketAddr::new(inner.config.bind_ip, p));
            let (rtp, rtcp) = match (bind(port), bind(port + 1)) {
                (Ok(a), Ok(b)) => (a, b),
                _ => {
                    inner.ports.lock().give_back(port);
                    continue;
                }
            };
            let session = self.make_session(port, rtp, rtcp)?;
            let addr = SocketAddr::new(inner.config.bind_ip, port);
            return Ok(LocalMedia {
                session: session.id,
                addr,
            });
        }
        Err(MediaError::PortsExhausted)
    }

    fn make_session(
        &self,
        port: u16,
        rtp: StdUdpSocket,
        rtcp: StdUdpSocket,
    ) -> Result<Arc<Session>, MediaError> {
        let inner = &self.inner;
        // Sends never wait: a full socket buffer drops the packet, as a
        // late RTP packet is worthless anyway.
        if let Err(e) = rtp.set_nonblocking(true).and(rtcp.set_nonblocking(true)) {
            inner.ports.lock().give_back(port);
            return Err(e.into());
        }
        let id = SessionId(inner.next_id.fetch_add(1, Ordering::Relaxed));
        let now = Instant::now();
        let session = Arc::new(Session {
            id,
            transport: Transport::Udp { port, rtp, rtcp },
            released: AtomicBool::new(false),
            state: Mutex::new(new_state(now)),
        });
        if let Some((rtp, rtcp)) = session.udp_socket(false).zip(session.udp_socket(true))
            && let Err(e) = inner.receiver.register(&session, rtp, rtcp)
        {
            inner.ports.lock().give_back(port);
            return Err(e.into());
        }
        inner.sessions.write().insert(id, session.clone());
        inner.schedule(Entry::Session(session.clone()));
        Ok(session)
    }

    fn session(&self, id: SessionId) -> Result<Arc<Session>, MediaError> {
        self.inner
            .sessions
            .read()
            .get(&id)
            .cloned()
            .ok_or(MediaError::UnknownSession(id))
    }

    /// Sets (or changes, on re-INVITE) the remote media from the SDP.
    /// Resets the symmetric-RTP latch.
    pub fn set_remote(&self, id: SessionId, remote: RemoteMedia) -> Result<(), MediaError> {
        let s = self.session(id)?;
        let mut st = s.state.lock();
        st.remote = Some(remote);
        st.latched = None;
        st.rtcp_remote = None;
        if st.out.connected_to.take().is_some()
            && let Some(socket) = s.udp_socket(false)
            && let Err(e) = disconnect(socket)
        {
            // The latch must take a new source: a socket left connected
            // would keep dropping it.
            tracing::warn!(session = id.0, error = %e, "cannot disconnect the RTP socket");
        }
        Ok(())
    }

    /// Starts playing `playlist` (replacing any current playback, which
    /// ends with `Stopped`, and dropping a follow-up queued by `play_then`,
    /// also `Stopped`). While a session plays, the player's audio takes
    /// precedence over the bridge's.
    pub fn play(&self, id: SessionId, playlist: Playlist) -> Result<PlaybackId, MediaError> {
        Ok(self.play_with_follow_up(id, playlist, None)?.0)
    }

    /// Plays `first`, then `then` from the very next 20 ms frame, with no
    /// gap (e.g. a queue announcement, then the hold music again): the
    /// hand-over happens in the clock, not through the event queue. `first`
    /// ends with `Completed` as usual. Returns both playbacks' ids.
    pub fn play_then(
        &self,
        id: SessionId,
        first: Playlist,
        then: Playlist,
    ) -> Result<(PlaybackId, PlaybackId), MediaError> {
        let (first, then) = self.play_with_follow_up(id, first, Some(then))?;
        Ok((first, then.unwrap_or(first)))
    }

    fn play_with_follow_up(
        &self,
        id: SessionId,
        playlist: Playlist,
        then: Option<Playlist>,
    ) -> Result<(PlaybackId, Option<PlaybackId>), MediaError> {
        let s = self.session(id)?;
        let new_id = || PlaybackId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let playback = new_id();
        let follow_up = then.map(|p| (new_id(), PlaylistCursor::new(p)));
        let follow_up_id = follow_up.as_ref().map(|(p, _)| *p);
        let old = {
            let mut st = s.state.lock();
            let old = st.take_playbacks();
            st.player = Some((playback, PlaylistCursor::new(playlist)));
            st.follow_up = follow_up;
            old
        };
        self.inner.emit_stopped(id, old);
        Ok((playback, follow_up_id))
    }

    /// Stops the current playback and any follow-up (they end with
    /// `Stopped`).
    pub fn stop(&self, id: SessionId) -> Result<(), MediaError> {
        let s = self.session(id)?;
        let old = s.state.lock().take_playbacks();
        self.inner.emit_stopped(id, old);
        Ok(())
    }

    /// Queues DTMF digits to send as RFC 4733 events on the negotiated
    /// payload type, each lasting `duration_ms` (40 ms to 8 s on RTP legs,
    /// 40 ms to 6 s on browser legs, where str0m builds the packets).
    pub fn send_dtmf(
        &self,
        id: SessionId,
        digits: &str,
        duration_ms: u32,
    ) -> Result<(), MediaError> {
        let s = self.session(id)?;
        let mut st = s.state.lock();
        if st.remote.and_then(|r| r.dtmf_payload_type).is_none() {
            return Err(MediaError::NoDtmfPayloadType(id));
        }
        if let Some(bad) = digits.chars().find(|c| digit_to_event(*c).is_none()) {
            return Err(MediaError::InvalidDigit(bad));
        }
        st.dtmf_queue
            .extend(digits.chars().map(|c| (c, duration_ms)));
        Ok(())
    }

    /// Merges a digit received by SIP INFO into the session's digit stream
    /// (same event, same barge-in behaviour as RFC 4733 digits).
    pub fn inject_digit(
        &self,
        id: SessionId,
        digit: char,
        duration_ms: u32,
    ) -> Result<(), MediaError> {
        if digit_to_event(digit).is_none() {
            return Err(MediaError::InvalidDigit(digit));
        }
        let s = self.session(id)?;
        let mut st = s.state.lock();
        self.inner
            .on_digit(&s, &mut st, digit, duration_ms, DtmfSource::SipInfo);
        Ok(())
    }

    /// Connects a caller leg and an agent leg in both directions
    /// (transcoding when their codecs differ).
    pub fn bridge(&self, caller: SessionId, agent: SessionId) -> Result<BridgeId, MediaError> {
        if caller == agent {
            return Err(MediaError::AlreadyBridged(agent));
        }
        let c = self.session(caller)?;
        let a = self.session(agent)?;
        let id = BridgeId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let depth = (self.inner.config.jitter_buffer_ms as usize)
            .div_ceil(PTIME_MS as usize)
            .max(1);
        for s in [&c, &a] {
            if s.state.lock().bridge.is_some() {
                return Err(MediaError::AlreadyBridged(s.id));
            }
        }
        for s in [&c, &a] {
            let mut st = s.state.lock();
            st.bridge = Some(id);
            st.jitter = Some(JitterBuffer::new(depth));
        }
        let cell = Arc::new(BridgeCell {
            ended: AtomicBool::new(false),
            bridge: Mutex::new(Bridge {
                caller: c,
                agent: a,
                supervisor: None,
            }),
        });
        self.inner.bridges.lock().insert(id, cell.clone());
        self.inner.schedule(Entry::Bridge(cell));
        Ok(id)
    }

    /// Adds a supervisor leg to a bridge, or changes its mode; calling it
    /// again with another mode switches mid-call.
    pub fn monitor(
        &self,
        bridge: BridgeId,
        supervisor: SessionId,
        mode: MonitorMode,
    ) -> Result<(), MediaError> {
        let cell = self
            .inner
            .bridges
            .lock()
            .get(&bridge)
            .cloned()
            .ok_or(MediaError::UnknownBridge(bridge))?;
        let sup = self.session(supervisor)?;
        let mut b = cell.bridge.lock();
        if b.supervisor
            .as_ref()
            .is_some_and(|(s, _)| s.id == supervisor)
        {
            if let Some((_, m)) = b.supervisor.as_mut() {
                *m = mode;
            }
            return Ok(());
        }
        {
            let mut st = sup.state.lock();
            if st.bridge.is_some() {
                return Err(MediaError::AlreadyBridged(supervisor));
            }
            let depth = (self.inner.config.jitter_buffer_ms as usize)
                .div_ceil(PTIME_MS as usize)
                .max(1);
            st.bridge = Some(bridge);
            st.jitter = Some(JitterBuffer::new(depth));
        }
        if let Some((old, _)) = b.supervisor.replace((sup, mode)) {
            detach(&old);
        }
        Ok(())
    }

    /// Removes the supervisor from a bridge (the call goes on).
    pub fn unmonitor(&self, bridge: BridgeId) -> Result<(), MediaError> {
        let cell = self
            .inner
            .bridges
            .lock()
            .get(&bridge)
            .cloned()
            .ok_or(MediaError::UnknownBridge(bridge))?;
        let old = cell.bridge.lock().supervisor.take();
        if let Some((s, _)) = old {
            detach(&s);
        }
        Ok(())
    }

    /// Ends a bridge; its legs stay allocated (e.g. for a transfer).
    pub fn unbridge(&self, bridge: BridgeId) -> Result<(), MediaError> {
        if self.inner.end_bridge(bridge) {
            Ok(())
        } else {
            Err(MediaError::UnknownBridge(bridge))
        }
    }

    /// Releases a session: stops it, ends its bridge (or leaves the bridge
    /// it supervises) and returns its ports to the pool.
    pub fn release(&self, id: SessionId) -> Result<(), MediaError> {
        let s = self
            .inner
            .sessions
            .write()
            .remove(&id)
            .ok_or(MediaError::UnknownSession(id))?;
        self.inner.release_session(&s);
        Ok(())
    }

    /// Counters of a session.
    pub fn stats(&self, id: SessionId) -> Result<SessionStats, MediaError> {
        let s = self.session(id)?;
        let st = s.state.lock();
        Ok(st.stats())
    }

    /// Counters summed over every session since the engine started, the
    /// released ones included (for `/metrics`).
    pub fn totals(&self) -> MediaTotals {
        let mut totals = *self.inner.closed_totals.lock();
        let live: Vec<Arc<Session>> = self.inner.sessions.read().values().cloned().collect();
        for s in live {
            totals.add(&s.state.lock().stats());
        }
        let (ticks, late_ticks) = self.clock_health();
        totals.clock_ticks = ticks;
        totals.clock_ticks_late = late_ticks;
        totals.clock_ticks_skipped = self.inner.skipped_ticks.load(Ordering::Relaxed);
        totals
    }

    /// Address of the shared WebRTC socket, when enabled (`webrtc_port`).
    pub fn webrtc_addr(&self) -> Option<SocketAddr> {
        self.inner.webrtc.as_ref().map(|w| w.local)
    }

    /// Accepts a browser's SDP offer (complete, with its candidates: no
    /// trickle ICE) and returns the new session, a leg like any other, and
    /// the SDP answer (PCMU, telephone-event, one host candidate on the
    /// shared socket).
    pub fn webrtc_accept(&self, offer_sdp: &str) -> Result<(SessionId, String), MediaError> {
        let inner = &self.inner;
        let endpoint = inner.webrtc.as_ref().ok_or(MediaError::WebRtcDisabled)?;
        let (rtc, answer) = endpoint.accept(offer_sdp).map_err(MediaError::WebRtc)?;
        let id = SessionId(inner.next_id.fetch_add(1, Ordering::Relaxed));
        let mut state = new_state(Instant::now());
        state.remote = Some(RemoteMedia {
            addr: endpoint.local,
            codec: Codec::Pcmu,
            payload_type: 0,
            dtmf_payload_type: Some(crate::webrtc::INTERNAL_TELE_PT),
            dtmf_red_payload_type: None,
        });
        let session = Arc::new(Session {
            id,
            transport: Transport::WebRtc {
                session: id,
                commands: endpoint.commands.clone(),
            },
            released: AtomicBool::new(false),
            state: Mutex::new(state),
        });
        endpoint
            .commands
            .send(crate::webrtc::Command::Add {
                session: session.clone(),
                rtc: Box::new(rtc),
            })
            .map_err(|_| MediaError::WebRtc("the WebRTC endpoint stopped".into()))?;
        inner.sessions.write().insert(id, session.clone());
        inner.schedule(Entry::Session(session));
        Ok((id, answer))
    }

    /// Adds a remote ICE candidate trickled by the browser after its offer
    /// (`candidate:...` as in `RTCIceCandidate.candidate`). An empty string
    /// (end of candidates) is accepted and ignored.
    pub fn webrtc_add_candidate(&self, id: SessionId, candidate: &str) -> Result<(), MediaError> {
        let s = self.session(id)?;
        let Transport::WebRtc { commands, .. } = &s.transport else {
            return Err(MediaError::WebRtc("not a WebRTC session".into()));
        };
        if candidate.trim().is_empty() {
            return Ok(());
        }
        let candidate = crate::webrtc::parse_candidate(candidate).map_err(MediaError::WebRtc)?;
        commands
            .send(crate::webrtc::Command::Candidate {
                session: id,
                candidate,
            })
            .map_err(|_| MediaError::WebRtc("the WebRTC endpoint stopped".into()))
    }

    /// Sessions currently allocated.
    pub fn session_count(&self) -> usize {
        self.inner.sessions.read().len()
    }

    /// RTP port pairs currently in use.
    pub fn ports_in_use(&self) -> usize {
        self.inner.ports.lock().in_use()
    }

    /// Clock ticks processed, and how many of them started more than
    /// 5 ms after their deadline (an overload indicator for `/metrics`).
    pub fn clock_health(&self) -> (u64, u64) {
        (
            self.inner.ticks.load(Ordering::Relaxed),
            self.inner.late_ticks.load(Ordering::Relaxed),
        )
    }

    /// Releases every session and stops the clock thread.
    pub fn shutdown(&self) {
        let all: Vec<_> = self
            .inner
            .sessions
            .write()
            .drain()
            .map(|(_, s)| s)
            .collect();
        for s in all {
            self.inner.release_session(&s);
        }
        self.inner.stop.store(true, Ordering::Relaxed);
    }
}

fn new_state(now: Instant) -> SessionState {
    SessionState {
        remote: None,
        latched: None,
        rtcp_remote: None,
        out: Outgoing {
            ssrc: rand::random(),
            seq: rand::random(),
            ts_base: rand::random(),
            last_tick: None,
            packets: 0,
            bytes: 0,
            last_rtp_ts: 0,
            connected_to: None,
        },
        player: None,
        follow_up: None,
        dtmf_queue: VecDeque::new(),
        dtmf_active: None,
        rx_ssrc: None,
        rx: ReceptionStats::new(),
        packets_received: 0,
        bytes_received: 0,
        late_jitter_base: 0,
        foreign_packets: 0,
        dtmf_rx: DtmfReceiver::new(),
        jitter: None,
        bridge: None,
        last_rx: now,
        no_media_reported: false,
        visits: 0,
        last_sr: None,
        remote_report: None,
        scratch: Vec::with_capacity(256),
        pcm: Vec::with_capacity(SAMPLES_PER_FRAME),
    }
}

/// Takes a leg out of its bridge (its jitter buffer's late count is kept).
fn detach(s: &Session) {
    let mut st = s.state.lock();
    st.bridge = None;
    if let Some(j) = st.jitter.take() {
        st.late_jitter_base += j.late();
    }
}

impl Inner {
    fn emit(&self, event: MediaEvent) {
        // The receiver may be gone during shutdown: nothing to do then.
        let _ = self.events.send(event);
    }

    fn emit_stopped(&self, session: SessionId, playbacks: impl IntoIterator<Item = PlaybackId>) {
        for playback in playbacks {
            self.emit(MediaEvent::PlaybackFinished {
                session,
                playback,
                reason: PlaybackEnd::Stopped,
            });
        }
    }

    fn schedule(&self, entry: Entry) {
        let slot = self.next_slot.fetch_add(1, Ordering::Relaxed) as usize % SLOTS;
        self.wheel.lock()[slot].push(entry);
    }

    fn release_session(&self, s: &Arc<Session>) {
        s.released.store(true, Ordering::Relaxed);
        if let Some((rtp, rtcp)) = s.udp_socket(false).zip(s.udp_socket(true)) {
            self.receiver.deregister(s.id, rtp, rtcp);
        }
        {
            let stats = s.state.lock().stats();
            let mut closed = self.closed_totals.lock();
            closed.add(&stats);
            closed.sessions_released += 1;
        }
        let bridge = s.state.lock().bridge;
        if let Some(b) = bridge {
            let cell = self.bridges.lock().get(&b).cloned();
            if let Some(cell) = cell {
                let is_supervisor = cell
                    .bridge
                    .lock()
                    .supervisor
                    .as_ref()
                    .is_some_and(|(x, _)| x.id == s.id);
                if is_supervisor {
                    let old = cell.bridge.lock().supervisor.take();
                    if let Some((x, _)) = old {
                        detach(&x);
                    }
                } else {
                    self.end_bridge(b);
                }
            }
        }
        let old = s.state.lock().take_playbacks();
        self.emit_stopped(s.id, old);
        match &s.transport {
            Transport::Udp { port, .. } => self.ports.lock().give_back(*port),
            Transport::WebRtc { session, commands } => {
                let _ = commands.send(crate::webrtc::Command::Close(*session));
            }
        }
    }

    fn end_bridge(&self, id: BridgeId) -> bool {
        let Some(cell) = self.bridges.lock().remove(&id) else {
            return false;
        };
        cell.ended.store(true, Ordering::Relaxed);
        let b = cell.bridge.lock();
        detach(&b.caller);
        detach(&b.agent);
        if let Some((s, _)) = &b.supervisor {
            detach(s);
        }
        drop(b);
        self.emit(MediaEvent::BridgeEnded { bridge: id });
        true
    }

    fn on_digit(
        &self,
        s: &Session,
        st: &mut SessionState,
        digit: char,
        duration_ms: u32,
        source: DtmfSource,
    ) {
        tracing::debug!(session = s.id.0, %digit, duration_ms, ?source, "DTMF digit");
        self.emit(MediaEvent::Dtmf {
            session: s.id,
            digit,
            duration_ms,
            source,
        });
        if st.player.as_ref().is_some_and(|(_, c)| c.barge_in())
            && let Some((playback, _)) = st.player.take()
        {
            self.emit(MediaEvent::PlaybackFinished {
                session: s.id,
                playback,
                reason: PlaybackEnd::Interrupted(digit),
            });
            let follow_up = st.follow_up.take().map(|(p, _)| p);
            self.emit_stopped(s.id, follow_up);
        }
    }

    fn process_tick(&self, tick: u64) {
        let slot = (tick % SLOTS as u64) as usize;
        let entries = std::mem::take(&mut self.wheel.lock()[slot]);
        let mut keep = Vec::with_capacity(entries.len());
        for e in entries {
            let alive = match &e {
                Entry::Session(s) => self.visit_session(s, tick),
                Entry::Bridge(b) => self.visit_bridge(b, tick),
            };
            if alive {
                keep.push(e);
            }
        }
        self.wheel.lock()[slot].extend(keep);
    }

    /// One 20 ms visit of a session: DTMF or player audio, then once a
    /// second the no-media check and, every `rtcp_interval_secs`, RTCP.
    fn visit_session(&self, s: &Session, tick: u64) -> bool {
        if s.released.load(Ordering::Relaxed) {
            return false;
        }
        let mut guard = s.state.lock();
        let st = &mut *guard;
        st.visits += 1;
        let Some(remote) = st.remote else {
            return true;
        };
        let Some(dest) = st.destination() else {
            return true;
        };
        if st.dtmf_active.is_none()
            && let Some(pt) = remote.dtmf_payload_type
            && let Some((digit, ms)) = st.dtmf_queue.pop_front()
            && let Some(sender) = DtmfSender::new(digit, ms)
        {
            let _ = pt; // checked present: only then is a digit dequeued
            let timestamp = st.out.timestamp_at(tick);
            if let Transport::WebRtc { session, commands } = &s.transport {
                // str0m sends the whole RFC 4733 series itself, on the
                // payload type the browser negotiated; the sender below
                // only keeps the leg's audio paused for the same time.
                let _ = commands.send(crate::webrtc::Command::TelephoneEvent {
                    session: *session,
                    event: sender.event(),
                    duration_ms: ms,
                    timestamp,
                    at: self.epoch + Duration::from_millis(tick),
                });
            }
            st.dtmf_active = Some(ActiveDtmf { sender, timestamp });
        }
        if let Some(active) = st.dtmf_active.as_mut() {
            match (active.sender.next_packet(), remote.dtmf_payload_type) {
                (Some(_), Some(_)) if matches!(s.transport, Transport::WebRtc { .. }) => {}
                (Some(p), Some(pt)) => {
                    let ts = active.timestamp;
                    st.out.send(
                        &s.transport,
                        dest,
                        pt,
                        p.marker,
                        ts,
                        &p.payload,
                        &mut st.scratch,
                        tick,
                    );
                }
                _ => st.dtmf_active = None,
            }
        } else if st.player.is_some() {
            let mut frame = st.player.as_mut().and_then(|(_, c)| c.next_frame());
            if frame.is_none() {
                if let Some((playback, _)) = st.player.take() {
                    self.emit(MediaEvent::PlaybackFinished {
                        session: s.id,
                        playback,
                        reason: PlaybackEnd::Completed,
                    });
                }
                // The follow-up's first frame goes out on this very tick.
                st.player = st.follow_up.take();
                frame = st.player.as_mut().and_then(|(_, c)| c.next_frame());
            }
            match frame {
                Some(frame) => {
                    st.pcm.clear();
                    remote.codec.encode(&frame, &mut st.pcm);
                    let marker = st.out.starts_talkspurt(tick);
                    let ts = st.out.timestamp_at(tick);
                    st.out.send(
                        &s.transport,
                        dest,
                        remote.payload_type,
                        marker,
                        ts,
                        &st.pcm,
                        &mut st.scratch,
                        tick,
                    );
                }
                None => {
                    // An empty follow-up ends at once.
                    if let Some((playback, _)) = st.player.take() {
                        self.emit(MediaEvent::PlaybackFinished {
                            session: s.id,
                            playback,
                            reason: PlaybackEnd::Completed,
                        });
                    }
                }
            }
        }
        if st.visits.is_multiple_of(VISITS_PER_SECOND) {
            let silent = st.last_rx.elapsed();
            if !st.no_media_reported
                && silent >= Duration::from_secs(self.config.no_media_timeout_secs as u64)
            {
                st.no_media_reported = true;
                self.emit(MediaEvent::NoMedia { session: s.id });
            }
            if st
                .visits
                .is_multiple_of(VISITS_PER_SECOND * self.config.rtcp_interval_secs as u64)
            {
                send_rtcp(s, st, dest, tick);
            }
        }
        true
    }

    /// One 20 ms visit of a bridge: one frame out of each leg's jitter
    /// buffer, then each leg gets the mix of what it should hear.
    fn visit_bridge(&self, cell: &BridgeCell, tick: u64) -> bool {
        if cell.ended.load(Ordering::Relaxed) {
            return false;
        }
        let b = cell.bridge.lock();
        let pop = |s: &Session| s.state.lock().jitter.as_mut().and_then(|j| j.pop());
        let caller = pop(&b.caller);
        let agent = pop(&b.agent);
        let (sup, mode) = match &b.supervisor {
            Some((s, m)) => (pop(s), Some(*m)),
            None => (None, None),
        };
        let hears_sup_caller = mode == Some(MonitorMode::Barge);
        let hears_sup_agent = matches!(mode, Some(MonitorMode::Barge | MonitorMode::Whisper));
        send_mix(
            &b.caller,
            &[
                agent.as_deref(),
                sup.as_deref().filter(|_| hears_sup_caller),
            ],
            tick,
        );
        send_mix(
            &b.agent,
            &[
                caller.as_deref(),
                sup.as_deref().filter(|_| hears_sup_agent),
            ],
            tick,
        );
        if let Some((s, _)) = &b.supervisor {
            send_mix(s, &[caller.as_deref(), agent.as_deref()], tick);
        }
        true
    }
}

/// Dissolves a UDP socket's association (`connect` to `AF_UNSPEC`, see
/// connect(2)), so it receives from any source again.
fn disconnect(socket: &StdUdpSocket) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: all-zero is a valid sockaddr; only its family is read.
    let mut unspecified: libc::sockaddr = unsafe { std::mem::zeroed() };
    unspecified.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
    // SAFETY: a valid socket descriptor and a live sockaddr of the given size.
    let rc = unsafe {
        libc::connect(
            socket.as_raw_fd(),
            &unspecified,
            std::mem::size_of::<libc::sockaddr>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Sends to `to` the sum of the frames it hears (saturating), unless it
/// hears nothing (silence suppression: the next audio starts a talkspurt)
/// or is busy playing a prompt or sending DTMF.
fn send_mix(to: &Session, sources: &[Option<&[i16]>], tick: u64) {
    let present: Vec<&[i16]> = sources.iter().flatten().copied().collect();
    if present.is_empty() {
        return;
    }
    let mut mix = [0i32; SAMPLES_PER_FRAME];
    for frame in &present {
        for (m, s) in mix.iter_mut().zip(frame.iter()) {
            *m += *s as i32;
        }
    }
    let pcm: Vec<i16> = mix
        .iter()
        .map(|v| (*v).clamp(i16::MIN as i32, i16::MAX as i32) as i16)
        .collect();
    let mut guard = to.state.lock();
    let st = &mut *guard;
    if st.player.is_some() || st.dtmf_active.is_some() {
        return;
    }
    let (Some(remote), Some(dest)) = (st.remote, st.destination()) else {
        return;
    };
    st.pcm.clear();
    remote.codec.encode(&pcm, &mut st.pcm);
    let marker = st.out.starts_talkspurt(tick);
    let ts = st.out.timestamp_at(tick);
    st.out.send(
        &to.transport,
        dest,
        remote.payload_type,
        marker,
        ts,
        &st.pcm,
        &mut st.scratch,
        tick,
    );
}

/// NTP timestamp (RFC 3550 §4) of now.
fn ntp_now() -> u64 {
    let since_unix = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since_unix.as_secs() + 2_208_988_800;
    let frac = ((since_unix.subsec_nanos() as u64) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

fn send_rtcp(s: &Session, st: &mut SessionState, rtp_dest: SocketAddr, tick: u64) {
    let dest = st
        .rtcp_remote
        .unwrap_or_else(|| SocketAddr::new(rtp_dest.ip(), rtp_dest.port().wrapping_add(1)));
    let mut blocks = Vec::new();
    if let Some(src) = st.rx_ssrc {
        let (lsr, dlsr) = match st.last_sr {
            Some((mid, at)) => (mid, (at.elapsed().as_secs_f64() * 65536.0) as u32),
            None => (0, 0),
        };
        blocks.push(st.rx.report_block(src, lsr, dlsr));
    }
    let sender = (st.out.packets > 0).then(|| SenderInfo {
        ntp_timestamp: ntp_now(),
        rtp_timestamp: st.out.timestamp_at(tick),
        packet_count: st.out.packets as u32,
        octet_count: st.out.bytes as u32,
    });
    let report = RtcpReport {
        ssrc: st.out.ssrc,
        sender,
        blocks,
    };
    report.write(&mut st.scratch);
    // WebRTC legs get their RTCP from str0m.
    if let Transport::Udp { rtcp, .. } = &s.transport
        && let Err(e) = rtcp.send_to(&st.scratch, dest)
    {
        tracing::debug!(error = %e, "RTCP send failed");
    }
}

/// Real-time priority of the clock threads (SCHED_FIFO, 1-99): above
/// every normal thread, low among real-time ones.
pub(crate) const CLOCK_RT_PRIORITY: libc::c_int = 10;
/// The receive thread's: below the clock, whose ticks must not wait for
/// a burst of incoming packets (the jitter buffer absorbs receive delays).
pub(crate) const RECEIVE_RT_PRIORITY: libc::c_int = 8;

/// A real-time clock thread this far behind its deadlines cannot keep up
/// anyway; it goes back to normal priority rather than take the cores from
/// signalling.
const OVERLOAD_BEHIND: Duration = Duration::from_millis(200);

/// A clock thread further behind than this skips the ticks it missed rather
/// than play them late: audio that would reach the phone this late is worth
/// less than a gap (a phone's jitter buffer holds 40 to 100 ms), and a
/// thread that cannot run faster than real time (overloaded, or demoted
/// and starved) would otherwise fall behind for good, every stream of the
/// engine seconds late.
pub(crate) const CATCH_UP_LIMIT: Duration = Duration::from_millis(100);

/// The tick a clock thread resumes at when it is more than
/// [`CATCH_UP_LIMIT`] behind: the latest tick of its own parity that is
/// due at `now_ms` (milliseconds since the epoch), never one it has
/// already run. `tick` is the overdue tick it was about to run.
fn resume_tick(tick: u64, now_ms: u64, phase: u64) -> u64 {
    if now_ms <= tick {
        return tick;
    }
    let due = now_ms - (now_ms + CLOCK_THREADS - phase % CLOCK_THREADS) % CLOCK_THREADS;
    due.max(tick)
}

/// Puts the calling clock thread under SCHED_FIFO, so that other processes'
/// work (builds, tests, the rest of guichet) cannot delay a tick: the
/// threads sleep between ticks and use a fraction of a core, so they
/// cannot starve the machine while they keep up. Needs CAP_SYS_NICE (or
/// root, or an RLIMIT_RTPRIO); without it the thread stays at normal
/// priority.
pub(crate) fn raise_to_realtime(thread: &str, priority: libc::c_int) -> bool {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `pthread_self` is the calling thread; `param` is a live,
    // initialised sched_param.
    let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if rc == 0 {
        tracing::debug!(thread, "media thread at real-time priority");
        true
    } else {
        tracing::info!(
            thread,
            error = %std::io::Error::from_raw_os_error(rc),
            "media thread left at normal priority (no permission for SCHED_FIFO)"
        );
        false
    }
}

/// `busy`: how far behind (clock) or how long busy in the last second
/// (receive) the thread was.
fn drop_to_normal_priority(thread: &str, busy: Duration) {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: as in `raise_to_realtime`.
    let rc =
        unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_OTHER, &param) };
    tracing::warn!(
        thread,
        busy_ms = busy.as_millis() as u64,
        demoted = rc == 0,
        "media thread overloaded: back to normal priority"
    );
}

/// How long a demoted media thread must keep up before it takes its
/// real-time priority back.
const RESTORE_AFTER: Duration = Duration::from_secs(10);

/// The real-time priority of one media thread, given up while the thread
/// cannot keep up (so it does not take the cores from signalling) and
/// taken back once it has kept up for [`RESTORE_AFTER`]: one stall of the
/// whole machine must not remove the protection for the rest of the
/// process's life.
pub(crate) struct RealtimePriority {
    thread: String,
    priority: libc::c_int,
    /// The thread was raised once, so it has the permission.
    permitted: bool,
    active: bool,
    calm_since: Option<Instant>,
}

impl RealtimePriority {
    /// Raises the calling thread when `wanted` and permitted.
    pub(crate) fn acquire(thread: &str, priority: libc::c_int, wanted: bool) -> Self {
        let active = wanted && raise_to_realtime(thread, priority);
        RealtimePriority {
            thread: thread.to_owned(),
            priority,
            permitted: active,
            active,
            calm_since: None,
        }
    }

    /// One observation of the calling thread's own load: `overloaded`
    /// demotes it, `calm` for [`RESTORE_AFTER`] raises it back; `busy` is
    /// what the warning reports.
    pub(crate) fn observe(&mut self, now: Instant, overloaded: bool, calm: bool, busy: Duration) {
        if self.active {
            if overloaded {
                self.active = false;
                self.calm_since = None;
                drop_to_normal_priority(&self.thread, busy);
            }
            return;
        }
        if !self.permitted {
            return;
        }
        if !calm {
            self.calm_since = None;
            return;
        }
        let since = *self.calm_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= RESTORE_AFTER {
            self.calm_since = None;
            self.active = raise_to_realtime(&self.thread, self.priority);
            if self.active {
                tracing::info!(thread = %self.thread, "media thread kept up: real-time priority again");
            }
        }
    }
}

/// Clock threads share the ticks: thread `phase` runs the ticks `t` with
/// `t % CLOCK_THREADS == phase` (the wheel slots of that parity), so a tick
/// that takes long on one thread does not delay the next one.
const CLOCK_THREADS: u64 = 2;

fn clock_thread(inner: Weak<Inner>, phase: u64, realtime: bool) {
    let Some(epoch) = inner.upgrade().map(|i| i.epoch) else {
        return;
    };
    let name = format!("media-clock-{phase}");
    let mut priority = RealtimePriority::acquire(&name, CLOCK_RT_PRIORITY, realtime);
    let mut tick: u64 = phase;
    loop {
        tick += CLOCK_THREADS;
        let deadline = epoch + Duration::from_millis(tick);
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if inner.stop.load(Ordering::Relaxed) {
            return;
        }
        inner.ticks.fetch_add(1, Ordering::Relaxed);
        let behind = Instant::now().saturating_duration_since(deadline);
        if behind > Duration::from_millis(5) {
            inner.late_ticks.fetch_add(1, Ordering::Relaxed);
        }
        priority.observe(
            Instant::now(),
            behind > OVERLOAD_BEHIND,
            behind <= Duration::from_millis(5),
            behind,
        );
        if behind > CATCH_UP_LIMIT {
            let now_ms = epoch.elapsed().as_millis() as u64;
            let resumed = resume_tick(tick, now_ms, phase);
            let skipped = (resumed - tick) / CLOCK_THREADS;
            inner.skipped_ticks.fetch_add(skipped, Ordering::Relaxed);
            // Rare (a stall of the whole thread), and its moment is what
            // explains a gap in the audio: one line each.
            tracing::warn!(
                thread = %name,
                behind_ms = behind.as_millis() as u64,
                skipped,
                "media clock thread far behind: ticks skipped"
            );
            tick = resumed;
        }
        inner.process_tick(tick);
    }
}

impl Inner {
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// One RTCP datagram: where the remote's RTCP comes from, its last SR
    /// (for our RR's LSR/DLSR) and its report about us.
    pub(crate) fn on_rtcp(&self, session: &Session, datagram: &[u8], from: SocketAddr) {
        let Ok(report) = RtcpReport::parse(datagram) else {
            return;
        };
        let mut st = session.state.lock();
        st.rtcp_remote = Some(from);
        if report.sender.is_some() {
            let mid = report.sender.map_or(0, |s| (s.ntp_timestamp >> 16) as u32);
            st.last_sr = Some((mid, Instant::now()));
        }
        let ours = st.out.ssrc;
        if let Some(b) = report.blocks.iter().find(|b| b.ssrc == ours) {
            st.remote_report = Some(*b);
        }
    }

    pub(crate) fn on_rtp(&self, s: &Session, datagram: &[u8], from: SocketAddr) {
        let Ok(packet) = RtpPacket::parse(datagram) else {
            return;
        };
        self.on_packet(s, &packet, from);
    }

    /// One received packet, whatever its transport (WebRTC legs hand in
    /// packets decrypted and depacketised by str0m).
    pub(crate) fn on_packet(&self, s: &Session, packet: &RtpPacket<'_>, from: SocketAddr) {
        let mut guard = s.state.lock();
        let st = &mut *guard;
        let Some(remote) = st.remote else {
            return;
        };
        match st.latched {
            None => {
                st.latched = Some(from);
                tracing::debug!(session = s.id.0, %from, "RTP source latched");
                if let Some(socket) = s.udp_socket(false) {
                    match socket.connect(from) {
                        Ok(()) => st.out.connected_to = Some(from),
                        // Sending with an address still works, only dearer.
                        Err(e) => {
                            tracing::debug!(session = s.id.0, error = %e, "RTP socket not connected")
                        }
                    }
                }
                self.emit(MediaEvent::RemoteLatched {
                    session: s.id,
                    addr: from,
                });
            }
            Some(a) if a != from => {
                st.foreign_packets += 1;
                return;
            }
            Some(_) => {}
        }
        st.last_rx = Instant::now();
        st.no_media_reported = false;
        if st.rx_ssrc != Some(packet.ssrc) {
            st.rx_ssrc = Some(packet.ssrc);
            st.rx = ReceptionStats::new();
        }
        let arrival = (self.epoch.elapsed().as_micros() as u64 * 8 / 1000) as u32;
        let verdict = st.rx.on_packet(packet.sequence, packet.timestamp, arrival);
        st.packets_received += 1;
        st.bytes_received += packet.payload.len() as u64;
        if Some(packet.payload_type) == remote.dtmf_payload_type {
            for d in st.dtmf_rx.on_packet(packet.timestamp, packet.payload) {
                self.on_digit(s, st, d.digit, d.duration_ms, DtmfSource::Rfc4733);
            }
            return;
        }
        if Some(packet.payload_type) == remote.dtmf_red_payload_type {
            // Oldest block first: the receiver ignores what it has
            // already reported and recovers events whose own packets were
            // lost. Blocks of other payload types are not ours to decode.
            let Ok(blocks) = crate::red::parse_red(packet.timestamp, packet.payload) else {
                return;
            };
            for block in blocks {
                if Some(block.payload_type) != remote.dtmf_payload_type {
                    continue;
                }
                for d in st.dtmf_rx.on_packet(block.timestamp, block.payload) {
                    self.on_digit(s, st, d.digit, d.duration_ms, DtmfSource::Rfc4733);
                }
            }
            return;
        }
        let codec = if packet.payload_type == remote.payload_type {
            remote.codec
        } else if packet.payload_type == 0 {
            Codec::Pcmu
        } else if packet.payload_type == 8 {
            Codec::Pcma
        } else {
            return;
        };
        if verdict == SequenceVerdict::Late && st.jitter.is_none() {
            return;
        }
        if let Some(j) = st.jitter.as_mut() {
            let mut frame = Vec::with_capacity(packet.payload.len());
            codec.decode(packet.payload, &mut frame);
            j.push(packet.timestamp, frame);
        }
    }
}

#[cfg(test)]
mod realtime_tests {
    use super::*;

    fn policy_of_this_thread() -> libc::c_int {
        // SAFETY: 0 names the calling thread.
        unsafe { libc::sched_getscheduler(0) }
    }

    #[test]
    fn a_clock_thread_far_behind_resumes_at_the_current_tick_of_its_own_parity() {
        // Thread 0 runs even ticks, thread 1 odd ones; 250 ms behind, each
        // resumes at the latest tick of its parity that is due, skipping the rest.
        assert_eq!(resume_tick(1000, 1250, 0), 1250);
        assert_eq!(resume_tick(1000, 1251, 0), 1250);
        assert_eq!(resume_tick(1001, 1251, 1), 1251);
        assert_eq!(resume_tick(1001, 1252, 1), 1251);
        // Never backwards, never a tick already run.
        assert_eq!(resume_tick(1000, 1000, 0), 1000);
        assert_eq!(resume_tick(1000, 999, 0), 1000);
        for phase in 0..CLOCK_THREADS {
            for now in 2000..2010 {
                let t = resume_tick(1000 + phase, now, phase);
                assert_eq!(t % CLOCK_THREADS, phase);
                assert!(t <= now && now - t < CLOCK_THREADS);
            }
        }
    }

    #[test]
    fn a_demoted_media_thread_takes_real_time_back_once_it_keeps_up() {
        // In a thread of its own: the test changes its thread's policy.
        let checked = std::thread::spawn(|| {
            let mut priority = RealtimePriority::acquire("test-media", 1, true);
            if !priority.permitted {
                eprintln!("no permission for SCHED_FIFO here: nothing to check");
                return false;
            }
            assert_eq!(policy_of_this_thread(), libc::SCHED_FIFO);
            let t0 = Instant::now();
            priority.observe(t0, true, false, Duration::from_millis(300));
            assert_eq!(policy_of_this_thread(), libc::SCHED_OTHER);
            // Calm, but not long enough; then a bad moment restarts the wait.
            priority.observe(t0 + Duration::from_secs(1), false, true, Duration::ZERO);
            priority.observe(t0 + Duration::from_secs(9), false, false, Duration::ZERO);
            priority.observe(t0 + Duration::from_secs(12), false, true, Duration::ZERO);
            assert_eq!(policy_of_this_thread(), libc::SCHED_OTHER);
            priority.observe(t0 + Duration::from_secs(21), false, true, Duration::ZERO);
            assert_eq!(policy_of_this_thread(), libc::SCHED_OTHER);
            priority.observe(t0 + Duration::from_secs(22), false, true, Duration::ZERO);
            assert_eq!(policy_of_this_thread(), libc::SCHED_FIFO);
            true
        })
        .join()
        .expect("test thread");
        // Without CAP_SYS_NICE (a container, an unprivileged user) there is
        // nothing to observe; the engine then runs at normal priority.
        if !checked {
            eprintln!("SCHED_FIFO not permitted: demotion and restoration not exercised");
        }
    }

    #[test]
    fn a_thread_without_the_permission_is_left_alone() {
        std::thread::spawn(|| {
            let mut priority = RealtimePriority::acquire("test-media", 1, false);
            let before = policy_of_this_thread();
            let t0 = Instant::now();
            priority.observe(t0, false, true, Duration::ZERO);
            priority.observe(t0 + Duration::from_secs(60), false, true, Duration::ZERO);
            assert_eq!(policy_of_this_thread(), before);
        })
        .join()
        .expect("test thread");
    }
}
