//! The tokio layer: sockets, the validation front on the receive path, and the task that
//! drives [`crate::core::Core`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::api::{CallId, CallTarget, SipConfig, SipError, SipEvent};
use crate::core::{Command, Core, Peer, Transmit};
use crate::digest::DigestAlgorithm;
use crate::message::Message;
use crate::metrics::SipCounters;
use crate::registrar::Binding;
use crate::sdp::SessionDescription;
use crate::shared::Shared;
use crate::validate::{StreamFrame, Verdict, check_datagram, frame_stream};

enum Input {
    Message(Message, Peer),
    TcpOpened(u64, mpsc::UnboundedSender<Vec<u8>>),
    TcpClosed(u64),
}

/// A running SIP endpoint. Dropping it stops every task.
pub struct SipEndpoint {
    handle: SipHandle,
    local_addr: SocketAddr,
    cancel: CancellationToken,
}

impl Drop for SipEndpoint {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Cloneable command handle for the switchboard.
#[derive(Clone, Debug)]
pub struct SipHandle {
    commands: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
    local_ip: std::net::IpAddr,
}

impl SipEndpoint {
    /// Bind UDP and TCP on `config.listen` (same port for both) and start serving. Events
    /// arrive on the returned receiver.
    pub async fn start(
        config: SipConfig,
    ) -> Result<(SipEndpoint, mpsc::UnboundedReceiver<SipEvent>), SipError> {
        config.validate()?;
        let (udp, tcp) = bind_pair(config.listen).await?;
        let bound = udp.local_addr().map_err(|e| SipError::Bind {
            addr: config.listen,
            reason: e.to_string(),
        })?;
        let public_ip = config
            .public_address
            .unwrap_or(if bound.ip().is_unspecified() {
                std::net::IpAddr::from([127, 0, 0, 1])
            } else {
                bound.ip()
            });
        let local = SocketAddr::new(public_ip, bound.port());
        let shared = Arc::new(Shared::new(&config.realm, &config.lines));
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (in_tx, in_rx) = mpsc::channel(config.max_pending_requests);
        let cancel = CancellationToken::new();
        let udp = Arc::new(udp);
        let core = Core::new(shared.clone(), local, &config);
        tokio::spawn(udp_loop(
            udp.clone(),
            in_tx.clone(),
            shared.clone(),
            cancel.clone(),
        ));
        tokio::spawn(tcp_accept(
            tcp,
            in_tx.clone(),
            shared.clone(),
            cancel.clone(),
        ));
        tokio::spawn(core_loop(
            core,
            CoreInputs {
                udp,
                queue: in_rx,
                requeue: in_tx,
                shared: shared.clone(),
            },
            cmd_rx,
            ev_tx,
            cancel.clone(),
        ));
        tracing::info!(%local, "SIP endpoint listening on UDP and TCP");
        let handle = SipHandle {
            commands: cmd_tx,
            shared,
            local_ip: public_ip,
        };
        Ok((
            SipEndpoint {
                handle,
                local_addr: local,
                cancel,
            },
            ev_rx,
        ))
    }

    /// The address peers reach us at (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle for commands.
    pub fn handle(&self) -> SipHandle {
        self.handle.clone()
    }

    /// Stop every task.
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }
}

async fn bind_pair(listen: SocketAddr) -> Result<(UdpSocket, TcpListener), SipError> {
    let err = |e: std::io::Error| SipError::Bind {
        addr: listen,
        reason: e.to_string(),
    };
    // With port 0 the OS picks a UDP port that may be taken on TCP: retry a few times.
    let mut last = None;
    for _ in 0..20 {
        let udp = UdpSocket::bind(listen).await.map_err(err)?;
        let port = udp.local_addr().map_err(err)?.port();
        match TcpListener::bind(SocketAddr::new(listen.ip(), port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if listen.port() == 0 => last = Some(e),
            Err(e) => return Err(err(e)),
        }
    }
    Err(err(last.unwrap_or_else(|| {
        std::io::Error::other("no free port pair")
    })))
}

fn count_verdict(shared: &SipCounters, v: &Verdict) {
    match v {
        Verdict::Drop(_) => {
            shared.dropped_malformed.fetch_add(1, Ordering::Relaxed);
        }
        Verdict::Reject(m) => {
            shared.rejected_malformed.fetch_add(1, Ordering::Relaxed);
            if let Some(c) = m.status() {
                shared.count_sent(c);
            }
        }
        _ => {}
    }
}

async fn udp_loop(
    sock: Arc<UdpSocket>,
    to_core: mpsc::Sender<Input>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, src) = tokio::select! {
            _ = cancel.cancelled() => return,
            r = sock.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    // ICMP errors surface here on some systems; keep serving.
                    debug!(error = %e, "UDP receive error");
                    continue;
                }
            },
        };
        if !admit_datagram(&buf[..n], src, &sock, &to_core, &shared).await {
            return;
        }
    }
}

/// One datagram read from the UDP socket: validated, counted, and handed to the core (or
/// answered here: a malformed request, or 503 when the core's queue is full). `false` once
/// the core has stopped.
async fn admit_datagram(
    data: &[u8],
    src: SocketAddr,
    sock: &UdpSocket,
    to_core: &mpsc::Sender<Input>,
    shared: &Shared,
) -> bool {
    if data.iter().all(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return true; // keep-alive
    }
    let verdict = check_datagram(data);
    count_verdict(&shared.counters, &verdict);
    match verdict {
        Verdict::Request(m) | Verdict::Response(m) => {
            let peer = Peer {
                addr: src,
                conn: None,
            };
            match to_core.try_send(Input::Message(m, peer)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(Input::Message(m, _))) => {
                    // Overload: refuse new work rather than queue without bound.
                    shared
                        .counters
                        .overload_rejections
                        .fetch_add(1, Ordering::Relaxed);
                    if m.method().is_some_and(|x| x != "ACK")
                        && let Some(mut r) =
                            crate::validate::error_reply(&m, 503, "Service Unavailable")
                    {
                        r.push("Retry-After", "5");
                        shared.counters.count_sent(503);
                        let _ = sock.send_to(&r.to_bytes(), src).await;
                    }
                }
                Err(_) => return false,
            }
        }
        Verdict::Reject(r) => {
            let _ = sock.send_to(&r.to_bytes(), src).await;
        }
        Verdict::Drop(why) => debug!(%src, why, "dropped malformed datagram"),
    }
    true
}

async fn tcp_accept(
    listener: TcpListener,
    to_core: mpsc::Sender<Input>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) {
    let mut next_id: u64 = 1;
    loop {
        let (stream, addr) = tokio::select! {
            _ = cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    warn!(error = %e, "TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let id = next_id;
        next_id += 1;
        tokio::spawn(tcp_conn(
            stream,
            addr,
            id,
            to_core.clone(),
            shared.clone(),
            cancel.clone(),
        ));
    }
}

async fn tcp_conn(
    stream: TcpStream,
    addr: SocketAddr,
    id: u64,
    to_core: mpsc::Sender<Input>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    if to_core
        .send(Input::TcpOpened(id, tx.clone()))
        .await
        .is_err()
    {
        return;
    }
    let writer_cancel = cancel.child_token();
    let wc = writer_cancel.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = wc.cancelled() => return,
                m = rx.recv() => match m {
                    Some(b) => if wr.write_all(&b).await.is_err() { return },
                    None => return,
                },
            }
        }
    });
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 8192];
    'read: loop {
        let n = tokio::select! {
            _ = cancel.cancelled() => break,
            r = rd.read(&mut chunk) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            // Skip keep-alive CRLFs between messages (RFC 5626 §3.5.1).
            let skip = buf
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            buf.drain(..skip);
            if buf.is_empty() {
                break;
            }
            match frame_stream(&buf) {
                StreamFrame::Incomplete => break,
                StreamFrame::Broken(reply) => {
                    shared
                        .counters
                        .dropped_malformed
                        .fetch_add(1, Ordering::Relaxed);
                    if let Some(r) = reply {
                        if let Some(c) = r.status() {
                            shared.counters.count_sent(c);
                        }
                        let _ = tx.send(r.to_bytes());
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    break 'read;
                }
                StreamFrame::Complete { consumed, verdict } => {
                    buf.drain(..consumed);
                    count_verdict(&shared.counters, &verdict);
                    match verdict {
                        Verdict::Request(m) | Verdict::Response(m) => {
                            let peer = Peer {
                                addr,
                                conn: Some(id),
                            };
                            if to_core.send(Input::Message(m, peer)).await.is_err() {
                                break 'read;
                            }
                        }
                        Verdict::Reject(r) => {
                            let _ = tx.send(r.to_bytes());
                        }
                        Verdict::Drop(_) => {}
                    }
                }
            }
        }
    }
    writer_cancel.cancel();
    let _ = to_core.send(Input::TcpClosed(id)).await;
}

/// What reaches the core: the queue filled by the UDP and TCP readers, and, for serving
/// what has already arrived before a timer fires, the UDP socket itself and a way back into
/// that queue.
struct CoreInputs {
    udp: Arc<UdpSocket>,
    queue: mpsc::Receiver<Input>,
    requeue: mpsc::Sender<Input>,
    shared: Arc<Shared>,
}

/// Most datagrams read straight from the socket before a due timer fires.
const ARRIVED_BEFORE_TIMERS: usize = 256;

type TcpWriters = HashMap<u64, mpsc::UnboundedSender<Vec<u8>>>;

/// One input from the readers; `false` when they are all gone.
fn handle_input(core: &mut Core, conns: &mut TcpWriters, input: Option<Input>) -> bool {
    match input {
        Some(Input::Message(m, peer)) => core.handle_message(m, peer, Instant::now()),
        Some(Input::TcpOpened(id, tx)) => {
            conns.insert(id, tx);
        }
        Some(Input::TcpClosed(id)) => {
            conns.remove(&id);
        }
        None => return false,
    }
    true
}

async fn core_loop(
    mut core: Core,
    mut inputs: CoreInputs,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<SipEvent>,
    cancel: CancellationToken,
) {
    let mut conns = TcpWriters::new();
    let mut datagram = vec![0u8; 65_536];
    let udp = inputs.udp.clone();
    loop {
        let deadline = core
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            _ = cancel.cancelled() => return,
            i = inputs.queue.recv() => if !handle_input(&mut core, &mut conns, i) { return },
            c = commands.recv() => match c {
                Some(Command::Shutdown) | None => { cancel.cancel(); return; }
                Some(c) => core.handle_command(c, Instant::now()),
            },
            _ = tokio::time::sleep_until(deadline) => {
                // After a stall (this task or the reader starved of CPU), an answer may be
                // waiting in the socket or the queue while its request's retransmission timer
                // is due. Serve what has arrived first, so a 180 or 200 that came in time
                // stops its INVITE's retransmission instead of crossing it (a retransmitted
                // INVITE crossing the 200 OK is more than some phones handle).
                for _ in 0..ARRIVED_BEFORE_TIMERS {
                    let Ok((n, src)) = udp.try_recv_from(&mut datagram) else {
                        break;
                    };
                    if !admit_datagram(&datagram[..n], src, &udp, &inputs.requeue, &inputs.shared).await {
                        return;
                    }
                }
                // Bounded by the queue's capacity plus what the readers add meanwhile.
                let mut served = 0;
                while served < inputs.queue.max_capacity() * 2 {
                    let Ok(input) = inputs.queue.try_recv() else {
                        break;
                    };
                    if !handle_input(&mut core, &mut conns, Some(input)) {
                        return;
                    }
                    served += 1;
                }
                core.handle_timeout(Instant::now());
            }
        }
        let out: Vec<Transmit> = core.drain_transmits().collect();
        for t in out {
            match t.to.conn {
                Some(id) => {
                    if let Some(tx) = conns.get(&id) {
                        let _ = tx.send(t.bytes);
                    }
                }
                None => {
                    if let Err(e) = udp.send_to(&t.bytes, t.to.addr).await {
                        debug!(error = %e, to = %t.to.addr, "UDP send failed");
                    }
                }
            }
        }
        for e in core.drain_events() {
            if events.send(e).is_err() {
                // Nobody listens any more: keep answering the network anyway.
                debug!("event receiver dropped");
            }
        }
    }
}

impl SipHandle {
    fn send(&self, c: Command) -> Result<(), SipError> {
        self.commands.send(c).map_err(|_| SipError::Stopped)
    }

    /// Send 180 Ringing, or 183 Session Progress with early media when `early_media` is set.
    pub fn ringing(
        &self,
        call: &CallId,
        early_media: Option<SessionDescription>,
    ) -> Result<(), SipError> {
        self.send(Command::Ringing(call.clone(), early_media))
    }

    /// Answer an incoming call with 200 OK and this SDP answer.
    pub fn answer(&self, call: &CallId, sdp: SessionDescription) -> Result<(), SipError> {
        self.send(Command::Answer(call.clone(), sdp))
    }

    /// Refuse an unanswered incoming call with a final code (e.g. 486, 488, 603).
    pub fn reject(&self, call: &CallId, code: u16) -> Result<(), SipError> {
        self.send(Command::Reject(call.clone(), code))
    }

    /// End a call: BYE when established, CANCEL when our INVITE is still ringing, 480 when
    /// an incoming call was never answered. No further events come for this call.
    pub fn hang_up(&self, call: &CallId) -> Result<(), SipError> {
        self.send(Command::HangUp(call.clone()))
    }

    /// Sends the 200 OK of the BYE that ended `call`, when the room defers it
    /// ([`crate::ByeAnswer::Deferred`], [`SipEvent::Ended`] with `answer_pending`). Does
    /// nothing if that answer has already gone (its bound was reached) or was never pending.
    pub fn answer_bye(&self, call: &CallId) -> Result<(), SipError> {
        self.send(Command::AnswerBye(call.clone()))
    }

    /// Sends the 487 to the INVITE of `call`, which its caller cancelled before the answer,
    /// when the room defers it ([`crate::ByeAnswer::Deferred`], [`SipEvent::Cancelled`] with
    /// `answer_pending`). Does nothing if it has already gone or was never pending.
    pub fn answer_cancel(&self, call: &CallId) -> Result<(), SipError> {
        self.send(Command::AnswerCancel(call.clone()))
    }

    /// Ring an agent (registered desk phone or URI) with an SDP offer. Progress comes as
    /// [`SipEvent::Outbound`]; withdraw with [`SipHandle::hang_up`].
    pub fn ring_agent(
        &self,
        target: CallTarget,
        from_user: &str,
        display_name: Option<String>,
        offer: SessionDescription,
    ) -> Result<CallId, SipError> {
        match &target {
            CallTarget::Registered(u) => {
                if self.contacts_of(u).is_empty() {
                    return Err(SipError::NotRegistered(u.clone()));
                }
            }
            CallTarget::Uri(u) => {
                let ok = crate::message::SipUri::parse(u)
                    .ok()
                    .is_some_and(|x| x.host.parse::<std::net::IpAddr>().is_ok());
                if !ok {
                    return Err(SipError::BadTarget(u.clone()));
                }
            }
        }
        let call_id = self.new_call_id();
        self.send(Command::Dial {
            call_id: call_id.clone(),
            target,
            from_user: from_user.to_owned(),
            display_name,
            offer,
        })?;
        Ok(call_id)
    }

    /// Call an external number through the configured trunk (digest auth if challenged).
    pub fn call_external(
        &self,
        number: &str,
        offer: SessionDescription,
    ) -> Result<CallId, SipError> {
        let call_id = self.new_call_id();
        self.send(Command::CallTrunk {
            call_id: call_id.clone(),
            number: number.to_owned(),
            offer,
        })?;
        Ok(call_id)
    }

    /// Send a re-INVITE with a new offer (hold, media change); the result comes as
    /// [`SipEvent::ReinviteResult`].
    pub fn reinvite(&self, call: &CallId, offer: SessionDescription) -> Result<(), SipError> {
        self.send(Command::Reinvite(call.clone(), offer))
    }

    /// Replace the set of dialled numbers that are lines.
    pub fn set_lines(&self, lines: Vec<String>) {
        self.shared.set_lines(lines);
    }

    /// Set the desk-phone password of `user` (only its digests are kept; never logged).
    pub fn set_credentials(&self, user: &str, password: &str) {
        self.shared.set_credentials(user, password);
    }

    /// Remove the credentials of `user`.
    pub fn remove_credentials(&self, user: &str) {
        self.shared.remove_credentials(user);
    }

    /// Challenge `user` with these digest algorithms (preference order) and accept only
    /// them, instead of [`SipConfig::digest_algorithms`]: for a phone that gives up at the
    /// first challenge it cannot answer. An empty list goes back to the server's.
    pub fn set_digest_algorithms(&self, user: &str, algorithms: Vec<DigestAlgorithm>) {
        self.shared.set_digest_algorithms(user, algorithms);
    }

    /// Live registered contacts of `user`.
    pub fn contacts_of(&self, user: &str) -> Vec<Binding> {
        self.shared.registrar().contacts_of(user, Instant::now())
    }

    /// The counters for `/metrics`.
    pub fn counters(&self) -> &SipCounters {
        &self.shared.counters
    }

    /// Stop the endpoint.
    pub fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown);
    }

    fn new_call_id(&self) -> CallId {
        CallId(format!("{:032x}@{}", rand::random::<u128>(), self.local_ip))
    }
}
