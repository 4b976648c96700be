//! The signalling state machine: transactions (the parts a UA needs), dialogs, registrar.
//!
//! Sans-IO: it takes validated messages with their source, commands and the current instant,
//! and queues datagrams to send and events for the switchboard. The tokio layer in
//! `endpoint.rs` only moves bytes.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, info, info_span, warn};

use crate::api::{
    ByeAnswer, CallId, CallTarget, EndReason, IncomingCall, OutboundProgress, SipEvent,
};
use crate::digest::{AuthOutcome, DigestServer, client_authorization};
use crate::message::{Message, NameAddr, SipUri, StartLine, parse_via};
use crate::registrar::{Binding, FailureLimiter};
use crate::sdp::{Direction, LocalCapabilities, SessionDescription};
use crate::shared::Shared;
use crate::validate::response_to;

const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
const TIMEOUT_64T1: Duration = Duration::from_secs(32);
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REGISTER";
const SUPPORTED_OPTIONS: [&str; 1] = ["timer"];
const MIN_SE: u32 = 90;

/// Where a message came from or goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// Socket address of the other side.
    pub addr: SocketAddr,
    /// TCP connection id, `None` for UDP.
    pub conn: Option<u64>,
}

/// Bytes to send.
#[derive(Debug, Clone)]
pub struct Transmit {
    /// Destination.
    pub to: Peer,
    /// The serialized message.
    pub bytes: Vec<u8>,
}

/// A command from the switchboard (see `SipHandle`).
#[derive(Debug)]
pub enum Command {
    Ringing(CallId, Option<SessionDescription>),
    Answer(CallId, SessionDescription),
    Reject(CallId, u16),
    HangUp(CallId),
    AnswerBye(CallId),
    AnswerCancel(CallId),
    Dial {
        call_id: CallId,
        target: CallTarget,
        from_user: String,
        display_name: Option<String>,
        offer: SessionDescription,
    },
    CallTrunk {
        call_id: CallId,
        number: String,
        offer: SessionDescription,
    },
    Reinvite(CallId, SessionDescription),
    Shutdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Uas,
    Uac,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// UAS: INVITE received, not answered. UAC: INVITE sent, no final response.
    Early,
    /// 2xx sent or received.
    Confirmed,
    /// Final non-2xx sent (UAS), waiting for the ACK only.
    Terminated,
}

struct Retransmit {
    bytes: Vec<u8>,
    to: Peer,
    interval: Duration,
    next: Instant,
    give_up: Instant,
    /// INVITE-ish retransmissions double up to T2 only for non-INVITE; 2xx too (RFC 6026).
    cap: Duration,
}

impl Retransmit {
    fn new(bytes: Vec<u8>, to: Peer, now: Instant, cap: Duration) -> Self {
        Retransmit {
            bytes,
            to,
            interval: T1,
            next: now + T1,
            give_up: now + TIMEOUT_64T1,
            cap,
        }
    }
}

struct Call {
    id: CallId,
    span: tracing::Span,
    role: Role,
    state: State,
    /// Our From/To header value including our tag.
    local_header: String,
    /// Their From/To header value including their tag (once known).
    remote_header: String,
    local_tag: String,
    remote_tag: Option<String>,
    remote_target: String,
    route_set: Vec<String>,
    local_cseq: u32,
    remote_cseq: u32,
    peer: Peer,
    /// When the call was created (unanswered incoming calls are refused after a while).
    created: Instant,
    /// UAS: the INVITE (Via stamped). UAC: the INVITE we sent.
    invite: Message,
    invite_key: String,
    local_sdp: Option<SessionDescription>,
    last_response: Option<Vec<u8>>,
    /// UAS final response awaiting ACK, or UAC INVITE awaiting a response.
    retransmit: Option<Retransmit>,
    /// UAC: the ACK for our 2xx, resent on 2xx retransmissions.
    ack: Option<Vec<u8>>,
    cancel_requested: bool,
    cancel_sent: bool,
    got_provisional: bool,
    auth_tried: bool,
    remote_hold: bool,
    session_expires: Option<u32>,
    reinvite_cseq: Option<u32>,
    /// After the switchboard hung up: no more events for this call.
    silent: bool,
}

struct ClientTxn {
    retransmit: Option<Retransmit>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKey {
    Call(String),
    Client(String),
    /// The bound of a deferred BYE answer (by Call-ID).
    ByeAnswer(String),
    /// The bound of a deferred 487 to a cancelled INVITE (by Call-ID).
    CancelAnswer(String),
    Sweep,
}

/// A BYE whose 200 OK waits for the application ([`ByeAnswer::Deferred`]).
struct PendingBye {
    /// The response-cache key of the BYE's transaction (its retransmissions carry it).
    key: String,
    response: Vec<u8>,
    to: Peer,
}

/// The state machine. One per endpoint.
pub struct Core {
    shared: Arc<Shared>,
    local: SocketAddr,
    calls: HashMap<String, Call>,
    invite_keys: HashMap<String, String>,
    clients: HashMap<String, ClientTxn>,
    response_cache: HashMap<String, (Vec<u8>, Peer, Instant)>,
    timers: BinaryHeap<Reverse<(Instant, TimerKey)>>,
    digest: DigestServer,
    limiter: FailureLimiter,
    out: Vec<Transmit>,
    events: Vec<SipEvent>,
    min_expires: u32,
    max_expires: u32,
    trunk: Option<crate::api::TrunkConfig>,
    answer_timeout: Duration,
    /// `Some(bound)` when BYE answers wait for the application (at most `bound`).
    bye_answer_bound: Option<Duration>,
    /// Deferred BYE answers by Call-ID.
    pending_byes: HashMap<String, PendingBye>,
    /// The response-cache keys of the pending BYEs, to absorb their retransmissions.
    pending_bye_keys: HashMap<String, String>,
    /// Cancelled incoming calls whose 487 waits for the application (by Call-ID). The call
    /// stays in `calls`, terminated: a retransmitted INVITE gets its last response again
    /// (100 Trying) until the 487 exists.
    pending_cancels: std::collections::HashSet<String>,
}

fn random_hex() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Key of a server transaction: the RFC 3261 branch, or the RFC 2543 fallback.
fn txn_key(m: &Message) -> String {
    let branch = m.top_branch().unwrap_or_default();
    if branch.starts_with("z9hG4bK") {
        branch
    } else {
        format!(
            "{}|{}|{}",
            m.header("Call-ID").unwrap_or_default(),
            m.cseq().map(|c| c.0).unwrap_or_default(),
            m.tag_of("From").unwrap_or_default()
        )
    }
}

fn uri_addr(uri: &str) -> Option<SocketAddr> {
    let u = SipUri::parse(uri).ok()?;
    let ip = u.host.parse().ok()?;
    Some(SocketAddr::new(ip, u.port.unwrap_or(5060)))
}

fn user_of(header_or_uri: &str) -> Option<String> {
    let uri = NameAddr::parse(header_or_uri).map(|n| n.uri).ok()?;
    SipUri::parse(&uri).ok()?.user
}

impl Core {
    /// A core bound to `local` (the address written in Via and Contact).
    pub fn new(shared: Arc<Shared>, local: SocketAddr, config: &crate::api::SipConfig) -> Self {
        let now = Instant::now();
        let mut timers = BinaryHeap::new();
        timers.push(Reverse((now + Duration::from_secs(2), TimerKey::Sweep)));
        Core {
            shared,
            local,
            calls: HashMap::new(),
            invite_keys: HashMap::new(),
            clients: HashMap::new(),
            response_cache: HashMap::new(),
            timers,
            digest: DigestServer::new(
                &config.realm,
                config.digest_algorithms.clone(),
                Duration::from_secs(config.nonce_ttl_secs),
                rand::random(),
            ),
            limiter: FailureLimiter::new(
                config.auth_max_failures,
                Duration::from_secs(config.auth_failure_window_secs),
            ),
            out: Vec::new(),
            events: Vec::new(),
            min_expires: config.min_register_expires,
            max_expires: config.max_register_expires,
            trunk: config.trunk.clone(),
            answer_timeout: Duration::from_secs(config.answer_timeout_secs),
            bye_answer_bound: match config.bye_answer {
                ByeAnswer::Immediate => None,
                ByeAnswer::Deferred { bound } => Some(bound),
            },
            pending_byes: HashMap::new(),
            pending_bye_keys: HashMap::new(),
            pending_cancels: std::collections::HashSet::new(),
        }
    }

    /// Datagrams to send, drained.
    pub fn drain_transmits(&mut self) -> std::vec::Drain<'_, Transmit> {
        self.out.drain(..)
    }

    /// Events for the switchboard, drained.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, SipEvent> {
        self.events.drain(..)
    }

    /// When `handle_timeout` must next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    fn contact(&self, tcp: bool) -> String {
        if tcp {
            format!("<sip:guichet@{};transport=tcp>", self.local)
        } else {
            format!("<sip:guichet@{}>", self.local)
        }
    }

    fn emit(&mut self, ev: SipEvent) {
        self.events.push(ev);
    }

    fn send(&mut self, to: Peer, m: &Message) -> Vec<u8> {
        if let Some(code) = m.status() {
            self.shared.counters.count_sent(code);
        }
        let bytes = m.to_bytes();
        self.out.push(Transmit {
            to,
            bytes: bytes.clone(),
        });
        bytes
    }

    /// RFC 3581 / RFC 3261 §18.2.2: where responses to `req` go, and the Via stamped with
    /// `received`/`rport`.
    fn stamp_via(req: &mut Message, src: Peer) -> Peer {
        let Some(idx) = req
            .headers
            .iter()
            .position(|h| h.name.eq_ignore_ascii_case("Via"))
        else {
            return src;
        };
        let list = crate::message::split_list(&req.headers[idx].value);
        let Some(top) = list.first() else { return src };
        let Ok(via) = parse_via(top) else { return src };
        let rport = via.param("rport").is_some();
        let mut new_top = top.clone();
        if via.host != src.addr.ip().to_string() || rport {
            new_top = new_top
                .split(';')
                .filter(|p| {
                    let n = p.trim().split('=').next().unwrap_or_default().trim();
                    !n.eq_ignore_ascii_case("received") && !n.eq_ignore_ascii_case("rport")
                })
                .collect::<Vec<_>>()
                .join(";");
            new_top.push_str(&format!(";received={}", src.addr.ip()));
            if rport {
                new_top.push_str(&format!(";rport={}", src.addr.port()));
            }
        }
        let mut rest: Vec<String> = list.into_iter().skip(1).collect();
        rest.insert(0, new_top);
        req.headers[idx].value = rest.join(", ");
        if src.conn.is_some() || rport {
            src
        } else {
            // No rport: the source IP (received) and the sent-by port (RFC 3261 §18.2.2).
            Peer {
                addr: SocketAddr::new(src.addr.ip(), via.port.unwrap_or(5060)),
                conn: None,
            }
        }
    }

    fn reply(
        &mut self,
        req: &Message,
        to: Peer,
        code: u16,
        reason: &str,
        tag: Option<&str>,
    ) -> Message {
        let mut r = response_to(req, code, reason);
        if let Some(tag) = tag
            && req.tag_of("To").is_none()
            && let Some(to_h) = req.header("To")
        {
            let v = format!("{to_h};tag={tag}");
            r.set("To", v);
        }
        let _ = to;
        r
    }

    fn cache_response(&mut self, req: &Message, bytes: Vec<u8>, to: Peer) {
        if let Some(m) = req.method() {
            let key = format!("{}|{m}", txn_key(req));
            self.response_cache
                .insert(key, (bytes, to, Instant::now() + TIMEOUT_64T1));
        }
    }

    fn schedule(&mut self, at: Instant, key: TimerKey) {
        self.timers.push(Reverse((at, key)));
    }

    /// A request or response that passed the validation front.
    pub fn handle_message(&mut self, mut msg: Message, src: Peer, now: Instant) {
        match msg.start {
            StartLine::Response { code, .. } => {
                self.shared.counters.count_received(code);
                self.handle_response(msg, code, now);
            }
            StartLine::Request { ref method, .. } => {
                let method = method.clone();
                self.shared.counters.count_request(&method);
                let to = Self::stamp_via(&mut msg, src);
                if method != "ACK" {
                    let key = format!("{}|{method}", txn_key(&msg));
                    if let Some((bytes, _, _)) = self.response_cache.get(&key) {
                        // A retransmission: answer the same way again (RFC 3261 §17.2.2).
                        let bytes = bytes.clone();
                        self.out.push(Transmit { to, bytes });
                        return;
                    }
                    if self.pending_bye_keys.contains_key(&key) {
                        // Its answer waits for the application: the first copy will get it.
                        debug!("BYE retransmission absorbed while its answer is pending");
                        return;
                    }
                }
                self.handle_request(msg, &method, src, to, now);
            }
        }
    }

    fn handle_request(&mut self, req: Message, method: &str, src: Peer, to: Peer, now: Instant) {
        // Unknown Require option tags (RFC 3261 §8.2.2.3); never for ACK and CANCEL.
        if method != "ACK" && method != "CANCEL" {
            let unsupported: Vec<String> = req
                .header_list("Require")
                .into_iter()
                .filter(|t| {
                    !t.is_empty() && !SUPPORTED_OPTIONS.iter().any(|s| s.eq_ignore_ascii_case(t))
                })
                .collect();
            if !unsupported.is_empty() {
                let tag = random_hex();
                let mut r = self.reply(&req, to, 420, "Bad Extension", Some(&tag));
                r.push("Unsupported", unsupported.join(", "));
                let b = self.send(to, &r);
                self.cache_response(&req, b, to);
                return;
            }
        }
        match method {
            "INVITE" => self.on_invite(req, src, to, now),
            "ACK" => self.on_ack(&req),
            "CANCEL" => self.on_cancel(&req, to, now),
            "BYE" => self.on_bye(&req, to, now),
            "INFO" => self.on_info(&req, to),
            "UPDATE" => self.on_update(&req, to),
            "OPTIONS" => {
                let tag = random_hex();
                let mut r = self.reply(&req, to, 200, "OK", Some(&tag));
                r.push("Allow", ALLOW);
                r.push(
                    "Accept",
                    "application/sdp, application/dtmf-relay, application/dtmf",
                );
                r.push("Supported", "timer");
                let b = self.send(to, &r);
                self.cache_response(&req, b, to);
            }
            "REGISTER" => self.on_register(&req, src, to, now),
            "PRACK" | "SUBSCRIBE" | "NOTIFY" | "PUBLISH" | "MESSAGE" | "REFER" => {
                let tag = random_hex();
                let mut r = self.reply(&req, to, 405, "Method Not Allowed", Some(&tag));
                r.push("Allow", ALLOW);
                let b = self.send(to, &r);
                self.cache_response(&req, b, to);
            }
            _ => {
                let tag = random_hex();
                let mut r = self.reply(&req, to, 501, "Not Implemented", Some(&tag));
                r.push("Allow", ALLOW);
                let b = self.send(to, &r);
                self.cache_response(&req, b, to);
            }
        }
    }

    fn body_sdp(req: &Message) -> Result<Option<SessionDescription>, (u16, &'static str)> {
        if req.body.is_empty() {
            return Ok(None);
        }
        let ct = req.header("Content-Type").unwrap_or_default();
        let ct = ct.split(';').next().unwrap_or_default().trim();
        if !ct.eq_ignore_ascii_case("application/sdp") {
            return Err((415, "Unsupported Media Type"));
        }
        SessionDescription::parse(&req.body)
            .map(Some)
            .map_err(|_| (400, "Malformed SDP body"))
    }

    fn offer_acceptable(offer: &SessionDescription) -> bool {
        crate::sdp::answer(
            offer,
            &LocalCapabilities::default(),
            SocketAddr::from(([127, 0, 0, 1], 9)),
            0,
        )
        .is_ok()
    }

    fn reject_with(
        &mut self,
        req: &Message,
        to: Peer,
        code: u16,
        reason: &str,
        extra: &[(&str, String)],
    ) {
        let tag = random_hex();
        let mut r = self.reply(req, to, code, reason, Some(&tag));
        for (k, v) in extra {
            r.push(k, v.clone());
        }
        let b = self.send(to, &r);
        self.cache_response(req, b, to);
    }

    fn on_invite(&mut self, req: Message, src: Peer, to: Peer, now: Instant) {
        let call_id = req.header("Call-ID").unwrap_or_default().to_owned();
        let key = txn_key(&req);
        if let Some(cid) = self.invite_keys.get(&key).cloned() {
            // Retransmitted INVITE: repeat the last response.
            if let Some(b) = self.calls.get(&cid).and_then(|c| c.last_response.clone()) {
                self.out.push(Transmit { to, bytes: b });
            }
            return;
        }
        if req.tag_of("To").is_some() {
            self.on_reinvite(req, to, now);
            return;
        }
        if self.calls.contains_key(&call_id) {
            self.reject_with(&req, to, 482, "Loop Detected", &[]);
            return;
        }
        let dialled = req
            .request_uri()
            .and_then(|u| SipUri::parse(u).ok())
            .and_then(|u| u.user)
            .unwrap_or_default();
        if !self.shared.is_line(&dialled) {
            debug!(dialled = %dialled, "INVITE to a number that is not a line");
            self.reject_with(&req, to, 404, "Not Found", &[]);
            return;
        }
        let offer = match Self::body_sdp(&req) {
            Ok(o) => o,
            Err((415, r)) => {
                self.reject_with(&req, to, 415, r, &[("Accept", "application/sdp".into())]);
                return;
            }
            Err((code, r)) => {
                self.reject_with(&req, to, code, r, &[]);
                return;
            }
        };
        if let Some(o) = &offer
            && !Self::offer_acceptable(o)
        {
            self.reject_with(
                &req,
                to,
                488,
                "Not Acceptable Here",
                &[("Warning", "304 guichet \"Media type not available\"".into())],
            );
            return;
        }
        let session_expires = match req.header("Session-Expires") {
            Some(v) => {
                let n: Option<u32> = v.split(';').next().and_then(|x| x.trim().parse().ok());
                match n {
                    Some(n) if n < MIN_SE => {
                        self.reject_with(
                            &req,
                            to,
                            422,
                            "Session Interval Too Small",
                            &[("Min-SE", MIN_SE.to_string())],
                        );
                        return;
                    }
                    Some(n) => Some(n),
                    None => {
                        self.reject_with(&req, to, 400, "Malformed Session-Expires header", &[]);
                        return;
                    }
                }
            }
            None => None,
        };
        let from = req.header("From").unwrap_or_default().to_owned();
        let from_na = NameAddr::parse(&from).ok();
        let caller_number = from_na
            .as_ref()
            .and_then(|n| SipUri::parse(&n.uri).ok())
            .and_then(|u| u.user)
            .unwrap_or_default();
        let display_name = from_na.and_then(|n| n.display);
        let span = info_span!("sip_call", call_id = %call_id);
        let _g = span.enter();
        let local_tag = random_hex();
        let local_header = format!("{};tag={local_tag}", req.header("To").unwrap_or_default());
        // 100 Trying at once (RFC 3261 §8.2.6.1), no To tag.
        let trying = self.reply(&req, to, 100, "Trying", None);
        let trying_bytes = self.send(to, &trying);
        let remote_target = req
            .header_list("Contact")
            .first()
            .and_then(|c| NameAddr::parse(c).ok())
            .map(|n| n.uri)
            .unwrap_or_default();
        let route_set = req.header_list("Record-Route");
        let remote_cseq = req.cseq().map(|c| c.0).unwrap_or_default();
        info!("incoming call to a line");
        debug!(caller = %caller_number, dialled = %dialled, "incoming call details");
        let call = Call {
            id: CallId(call_id.clone()),
            span: span.clone(),
            role: Role::Uas,
            state: State::Early,
            local_header,
            remote_header: from,
            local_tag,
            remote_tag: req.tag_of("From"),
            remote_target,
            route_set,
            local_cseq: rand::random::<u16>().into(),
            remote_cseq,
            peer: to,
            created: now,
            invite: req,
            invite_key: key.clone(),
            local_sdp: None,
            last_response: Some(trying_bytes),
            retransmit: None,
            ack: None,
            cancel_requested: false,
            cancel_sent: false,
            got_provisional: true,
            auth_tried: false,
            remote_hold: false,
            session_expires,
            reinvite_cseq: None,
            silent: false,
        };
        drop(_g);
        self.invite_keys.insert(key, call_id.clone());
        self.insert_call(call);
        self.emit(SipEvent::IncomingCall(IncomingCall {
            call_id: CallId(call_id),
            caller_number,
            display_name,
            dialled_number: dialled,
            offer,
            source: src.addr,
        }));
    }

    fn insert_call(&mut self, call: Call) {
        self.shared
            .counters
            .active_dialogs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.calls.insert(call.id.0.clone(), call);
    }

    fn remove_call(&mut self, id: &str) -> Option<Call> {
        let c = self.calls.remove(id)?;
        self.invite_keys.remove(&c.invite_key);
        self.shared
            .counters
            .active_dialogs
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        Some(c)
    }

    /// Build a response to the call's INVITE carrying our tag, Contact and Record-Route.
    fn invite_response(&self, call: &Call, code: u16, reason: &str) -> Message {
        let mut r = response_to(&call.invite, code, reason);
        r.set("To", call.local_header.clone());
        if (101..300).contains(&code) {
            for rr in call.invite.header_list("Record-Route") {
                r.push("Record-Route", rr);
            }
            r.push("Contact", self.contact(call.peer.conn.is_some()));
        }
        if (200..300).contains(&code) {
            r.push("Allow", ALLOW);
            r.push("Supported", "timer");
            if let Some(se) = call.session_expires {
                r.push("Session-Expires", format!("{se};refresher=uac"));
                if call
                    .invite
                    .header_list("Supported")
                    .iter()
                    .any(|t| t == "timer")
                {
                    r.push("Require", "timer");
                }
            }
        }
        r
    }

    fn send_invite_response(
        &mut self,
        id: &str,
        code: u16,
        reason: &str,
        sdp: Option<&SessionDescription>,
        now: Instant,
    ) {
        let Some(call) = self.calls.get(id) else {
            return;
        };
        let mut r = self.invite_response(call, code, reason);
        if code == 503 {
            // Refused because of load or a shutdown in progress: tell the caller's PBX when
            // to try again rather than letting it retry at once (RFC 3261 §21.5.4).
            r.push("Retry-After", "10");
        }
        if let Some(sdp) = sdp {
            r.push("Content-Type", "application/sdp");
            r.body = sdp.to_bytes();
        }
        let to = call.peer;
        let bytes = self.send(to, &r);
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        call.last_response = Some(bytes.clone());
        if code >= 200 {
            if to.conn.is_none() {
                call.retransmit = Some(Retransmit::new(bytes, to, now, T2));
            } else {
                // Over TCP there is no retransmission, but we still wait for the ACK.
                call.retransmit = Some(Retransmit {
                    bytes: Vec::new(),
                    to,
                    interval: TIMEOUT_64T1,
                    next: now + TIMEOUT_64T1,
                    give_up: now + TIMEOUT_64T1,
                    cap: TIMEOUT_64T1,
                });
            }
            let next = call.retransmit.as_ref().map(|r| r.next);
            if let Some(next) = next {
                self.schedule(next, TimerKey::Call(id.to_owned()));
            }
        }
    }

    fn on_ack(&mut self, req: &Message) {
        let call_id = req.header("Call-ID").unwrap_or_default().to_owned();
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        // Only the ACK of the transaction in progress stops it (not a stray old ACK).
        if req.cseq().map(|c| c.0) != call.invite.cseq().map(|c| c.0) {
            return;
        }
        call.retransmit = None;
        // Delayed offer: the INVITE had no SDP, our 200 carried the offer, the ACK the answer.
        let late_answer = call.state == State::Confirmed
            && call.role == Role::Uas
            && call.invite.body.is_empty()
            && !req.body.is_empty();
        if call.state == State::Terminated {
            self.remove_call(&call_id);
            return;
        }
        if late_answer
            && !call.silent
            && let Ok(answer) = SessionDescription::parse(&req.body)
        {
            call.invite.body = req.body.clone();
            self.emit(SipEvent::AnswerInAck {
                call_id: CallId(call_id),
                answer,
            });
        }
    }

    fn on_cancel(&mut self, req: &Message, to: Peer, now: Instant) {
        let key = txn_key(req);
        let Some(cid) = self.invite_keys.get(&key).cloned() else {
            self.reject_with(req, to, 481, "Call/Transaction Does Not Exist", &[]);
            return;
        };
        let (state, tag) = match self.calls.get(&cid) {
            Some(c) => (c.state, c.local_tag.clone()),
            None => return,
        };
        let r = self.reply(req, to, 200, "OK", Some(&tag));
        let b = self.send(to, &r);
        self.cache_response(req, b, to);
        if state == State::Early {
            // The 200 OK above is hop-by-hop (RFC 3261 §9.2); the 487 ends the INVITE and may
            // wait, like a BYE's answer, until the application has made the end durable.
            let mut deferred = None;
            if let Some(c) = self.calls.get_mut(&cid) {
                c.state = State::Terminated;
                deferred = self.bye_answer_bound.filter(|_| !c.silent);
                let _g = c.span.clone().entered();
                info!("caller cancelled before answer");
            }
            match deferred {
                Some(bound) => {
                    self.pending_cancels.insert(cid.clone());
                    self.schedule(now + bound, TimerKey::CancelAnswer(cid.clone()));
                }
                None => self.send_invite_response(&cid, 487, "Request Terminated", None, now),
            }
            self.emit(SipEvent::Cancelled {
                call_id: CallId(cid),
                answer_pending: deferred.is_some(),
            });
        }
    }

    /// Find the dialog of an in-dialog request: Call-ID and our tag in To.
    fn dialog_of(&self, req: &Message) -> Option<String> {
        let cid = req.header("Call-ID")?;
        let call = self.calls.get(cid)?;
        let to_tag = req.tag_of("To")?;
        (to_tag == call.local_tag).then(|| cid.to_owned())
    }

    fn on_bye(&mut self, req: &Message, to: Peer, now: Instant) {
        let Some(cid) = self.dialog_of(req) else {
            self.reject_with(req, to, 481, "Call/Transaction Does Not Exist", &[]);
            return;
        };
        let r = response_to(req, 200, "OK");
        // Deferred only when someone will hear of the end and can confirm it.
        let deferred = self
            .bye_answer_bound
            .filter(|_| self.calls.get(&cid).is_some_and(|c| !c.silent));
        match (deferred, req.method()) {
            (Some(bound), Some(method)) => {
                let key = format!("{}|{method}", txn_key(req));
                self.pending_bye_keys.insert(key.clone(), cid.clone());
                self.pending_byes.insert(
                    cid.clone(),
                    PendingBye {
                        key,
                        response: r.to_bytes(),
                        to,
                    },
                );
                self.schedule(now + bound, TimerKey::ByeAnswer(cid.clone()));
            }
            _ => {
                let b = self.send(to, &r);
                self.cache_response(req, b, to);
            }
        }
        if let Some(c) = self.remove_call(&cid) {
            let _g = c.span.enter();
            info!("remote party hung up");
            if c.role == Role::Uas && c.state == State::Early {
                // BYE in an early dialog also ends the INVITE (RFC 3261 §15.1.2).
                let r = self.invite_response(&c, 487, "Request Terminated");
                self.send(c.peer, &r);
            }
            if !c.silent {
                self.emit(SipEvent::Ended {
                    call_id: c.id.clone(),
                    reason: EndReason::RemoteBye,
                    answer_pending: deferred.is_some(),
                });
            }
        }
    }

    /// Sends the 200 OK of a deferred BYE (`confirmed` by the application, or its bound
    /// reached) and caches it for the BYE's retransmissions. A call with no pending BYE is
    /// left alone (already answered, or never deferred).
    fn answer_pending_bye(&mut self, cid: &str, confirmed: bool) {
        let Some(pending) = self.pending_byes.remove(cid) else {
            return;
        };
        self.pending_bye_keys.remove(&pending.key);
        if !confirmed {
            warn!(
                call_id = cid,
                "BYE answered without the application's confirmation: its bound was reached"
            );
        }
        self.shared.counters.count_sent(200);
        self.out.push(Transmit {
            to: pending.to,
            bytes: pending.response.clone(),
        });
        self.response_cache.insert(
            pending.key,
            (pending.response, pending.to, Instant::now() + TIMEOUT_64T1),
        );
    }

    /// Sends the 487 of a cancelled INVITE whose answer was deferred (`confirmed` by the
    /// application, or its bound reached). Its retransmissions and the wait for the ACK then
    /// run as for any final response. A call with no pending 487 is left alone.
    fn answer_pending_cancel(&mut self, cid: &str, confirmed: bool, now: Instant) {
        if !self.pending_cancels.remove(cid) {
            return;
        }
        if !confirmed {
            warn!(
                call_id = cid,
                "cancelled INVITE answered without the application's confirmation: its bound was reached"
            );
        }
        self.send_invite_response(cid, 487, "Request Terminated", None, now);
    }

    fn on_info(&mut self, req: &Message, to: Peer) {
        let Some(cid) = self.dialog_of(req) else {
            self.reject_with(req, to, 481, "Call/Transaction Does Not Exist", &[]);
            return;
        };
        let ct = req
            .header("Content-Type")
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let body = String::from_utf8_lossy(&req.body).to_string();
        let dtmf = match ct.as_str() {
            _ if req.body.is_empty() => None,
            "application/dtmf-relay" => {
                let mut digit = None;
                let mut duration = None;
                for line in body.lines() {
                    if let Some((k, v)) = line.split_once('=') {
                        match k.trim().to_ascii_lowercase().as_str() {
                            "signal" => digit = v.trim().chars().next(),
                            "duration" => duration = v.trim().parse().ok(),
                            _ => {}
                        }
                    }
                }
                digit.map(|d| (d, duration))
            }
            "application/dtmf" => body.trim().chars().next().map(|d| (d, None)),
            _ => {
                self.reject_with(
                    req,
                    to,
                    415,
                    "Unsupported Media Type",
                    &[("Accept", "application/dtmf-relay, application/dtmf".into())],
                );
                return;
            }
        };
        let r = response_to(req, 200, "OK");
        let b = self.send(to, &r);
        self.cache_response(req, b, to);
        if let Some((d, duration_ms)) = dtmf {
            let digit = d.to_ascii_uppercase();
            if digit.is_ascii_digit() || "*#ABCD".contains(digit) {
                let silent = self.calls.get(&cid).is_none_or(|c| c.silent);
                if !silent {
                    self.emit(SipEvent::Dtmf {
                        call_id: CallId(cid),
                        digit,
                        duration_ms,
                    });
                }
            }
        }
    }

    fn on_update(&mut self, req: &Message, to: Peer) {
        let Some(cid) = self.dialog_of(req) else {
            self.reject_with(req, to, 481, "Call/Transaction Does Not Exist", &[]);
            return;
        };
        let mut r = response_to(req, 200, "OK");
        if let Some(se) = req.header("Session-Expires") {
            r.push("Session-Expires", se.to_owned());
        }
        if let Some(c) = self.calls.get(&cid) {
            r.push("Contact", self.contact(c.peer.conn.is_some()));
        }
        let b = self.send(to, &r);
        self.cache_response(req, b, to);
    }

    fn on_reinvite(&mut self, req: Message, to: Peer, now: Instant) {
        let Some(cid) = self.dialog_of(&req) else {
            self.reject_with(&req, to, 481, "Call/Transaction Does Not Exist", &[]);
            return;
        };
        let cseq = req.cseq().map(|c| c.0).unwrap_or_default();
        let offer = match Self::body_sdp(&req) {
            Ok(o) => o,
            Err((code, r)) => {
                self.reject_with(&req, to, code, r, &[]);
                return;
            }
        };
        let Some(call) = self.calls.get_mut(&cid) else {
            return;
        };
        if call.state != State::Confirmed
            || call.retransmit.is_some()
            || call.reinvite_cseq.is_some()
        {
            self.reject_with(&req, to, 491, "Request Pending", &[]);
            return;
        }
        if cseq <= call.remote_cseq {
            self.reject_with(&req, to, 500, "CSeq Out of Order", &[]);
            return;
        }
        call.remote_cseq = cseq;
        let mut answer = call.local_sdp.clone();
        let mut hold_change = None;
        if let Some(o) = &offer {
            if !Self::offer_acceptable(o) {
                self.reject_with(&req, to, 488, "Not Acceptable Here", &[]);
                return;
            }
            let Some(call) = self.calls.get_mut(&cid) else {
                return;
            };
            if let Some(a) = answer.as_mut() {
                a.session_version += 1;
                let dir = if o
                    .audio()
                    .and_then(|m| m.connection)
                    .or(o.connection)
                    .is_some_and(|ip| ip.is_unspecified())
                {
                    Direction::Inactive
                } else {
                    o.audio_direction().reversed()
                };
                for m in a
                    .media
                    .iter_mut()
                    .filter(|m| m.kind == "audio" && m.port != 0)
                {
                    m.direction = Some(dir);
                }
                a.direction = None;
            }
            let hold = o.is_hold();
            if hold != call.remote_hold {
                call.remote_hold = hold;
                hold_change = Some(hold);
            }
            call.local_sdp = answer.clone();
        }
        let Some(call) = self.calls.get_mut(&cid) else {
            return;
        };
        // The transaction now answers this INVITE: responses echo its headers.
        let mut stamped = req.clone();
        stamped.set("To", call.local_header.clone());
        call.invite = stamped;
        if let Some(se) = req.header("Session-Expires") {
            call.session_expires = se.split(';').next().and_then(|x| x.trim().parse().ok());
        }
        let key = txn_key(&req);
        let old_key = std::mem::replace(&mut call.invite_key, key.clone());
        let _g = call.span.clone().entered();
        self.invite_keys.remove(&old_key);
        self.invite_keys.insert(key, cid.clone());
        self.send_invite_response(&cid, 200, "OK", answer.as_ref(), now);
        info!(hold = ?hold_change, "re-INVITE answered");
        if let (Some(on_hold), Some(offer)) = (hold_change, offer) {
            let silent = self.calls.get(&cid).is_none_or(|c| c.silent);
            if !silent {
                self.emit(SipEvent::HoldChanged {
                    call_id: CallId(cid),
                    on_hold,
                    offer,
                });
            }
        }
    }

    fn on_register(&mut self, req: &Message, src: Peer, to: Peer, now: Instant) {
        let ip = src.addr.ip();
        if self.limiter.is_blocked(ip, now) {
            self.shared
                .counters
                .auth_rate_limited
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.reject_with(req, to, 403, "Too Many Failed Attempts", &[]);
            return;
        }
        let uri = req.request_uri().unwrap_or_default().to_owned();
        let outcome = match req.header("Authorization") {
            Some(auth) => {
                let shared = self.shared.clone();
                self.digest
                    .verify(auth, "REGISTER", &uri, |u| shared.credentials_of(u), now)
            }
            None => AuthOutcome::Challenge,
        };
        let user = match outcome {
            AuthOutcome::Ok(user) => user,
            AuthOutcome::Challenge | AuthOutcome::Stale => {
                let stale = outcome == AuthOutcome::Stale;
                // A user may have digest algorithms of their own (a phone that cannot
                // answer the server's first choice).
                let credentials = req
                    .header("To")
                    .and_then(user_of)
                    .and_then(|u| self.shared.credentials_of(&u));
                let challenges = self.digest.challenge_for(credentials.as_ref(), stale, now);
                let extra: Vec<(&str, String)> = challenges
                    .into_iter()
                    .map(|c| ("WWW-Authenticate", c))
                    .collect();
                // Not cached: a retransmitted REGISTER deserves the same answer but a fresh
                // nonce is harmless, and caching would pin the nonce past a real retry.
                let tag = random_hex();
                let mut r = self.reply(req, to, 401, "Unauthorized", Some(&tag));
                for (k, v) in extra {
                    r.push(k, v);
                }
                self.send(to, &r);
                return;
            }
            AuthOutcome::Denied(why) => {
                self.limiter.record_failure(ip, now);
                self.shared
                    .counters
                    .auth_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                info!(source = %ip, reason = why, "REGISTER authentication failed");
                self.reject_with(req, to, 403, "Forbidden", &[]);
                return;
            }
        };
        let aor_user = req.header("To").and_then(user_of).unwrap_or_default();
        if aor_user != user {
            self.reject_with(req, to, 403, "Authenticated user does not match To", &[]);
            return;
        }
        let default_expires: u32 = req
            .header("Expires")
            .and_then(|e| e.trim().parse::<u64>().ok())
            .map_or(self.max_expires, |e| u32::try_from(e).unwrap_or(u32::MAX));
        let contacts = req.header_list("Contact");
        let mut changed = false;
        if contacts.iter().any(|c| c == "*") {
            if contacts.len() != 1 || default_expires != 0 {
                self.reject_with(req, to, 400, "Contact * requires Expires: 0", &[]);
                return;
            }
            changed = self.shared.registrar().remove_all(&user);
        } else {
            let mut parsed = Vec::new();
            for c in &contacts {
                let Ok(na) = NameAddr::parse(c) else {
                    self.reject_with(req, to, 400, "Malformed Contact header", &[]);
                    return;
                };
                let e = na
                    .param("expires")
                    .and_then(|e| e.parse::<u64>().ok())
                    .map_or(default_expires, |e| u32::try_from(e).unwrap_or(u32::MAX));
                if e > 0 && e < self.min_expires {
                    self.reject_with(
                        req,
                        to,
                        423,
                        "Interval Too Brief",
                        &[("Min-Expires", self.min_expires.to_string())],
                    );
                    return;
                }
                parsed.push((na.uri, e.min(self.max_expires)));
            }
            let mut reg = self.shared.registrar();
            for (uri, e) in parsed {
                let b = Binding {
                    uri,
                    expires_at: now,
                    source: src.addr,
                    tcp: src.conn.is_some(),
                };
                changed |= reg.update(&user, b, Duration::from_secs(e.into()), now);
            }
        }
        self.shared
            .counters
            .registrations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let live = self.shared.registrar().contacts_of(&user, now);
        let tag = random_hex();
        let mut r = self.reply(req, to, 200, "OK", Some(&tag));
        for b in &live {
            let secs = b.expires_at.saturating_duration_since(now).as_secs();
            r.push("Contact", format!("<{}>;expires={secs}", b.uri));
        }
        let bytes = self.send(to, &r);
        self.cache_response(req, bytes, to);
        debug!(user = %user, contacts = live.len(), "registration updated");
        if changed {
            self.emit(SipEvent::RegistrationChanged {
                user,
                contacts: live.into_iter().map(|b| b.uri).collect(),
            });
        }
    }

    // ---- commands ----------------------------------------------------------------

    /// Execute a switchboard command.
    pub fn handle_command(&mut self, cmd: Command, now: Instant) {
        match cmd {
            Command::Ringing(id, sdp) => {
                let ok = self
                    .calls
                    .get(&id.0)
                    .is_some_and(|c| c.role == Role::Uas && c.state == State::Early);
                if ok {
                    let (code, reason) = if sdp.is_some() {
                        (183, "Session Progress")
                    } else {
                        (180, "Ringing")
                    };
                    self.send_invite_response(&id.0, code, reason, sdp.as_ref(), now);
                }
            }
            Command::Answer(id, sdp) => {
                let ok = self
                    .calls
                    .get(&id.0)
                    .is_some_and(|c| c.role == Role::Uas && c.state == State::Early);
                if ok {
                    if let Some(c) = self.calls.get_mut(&id.0) {
                        c.state = State::Confirmed;
                        c.local_sdp = Some(sdp.clone());
                        let _g = c.span.clone().entered();
                        info!("call answered");
                    }
                    self.send_invite_response(&id.0, 200, "OK", Some(&sdp), now);
                }
            }
            Command::Reject(id, code) => self.reject_call(&id, code, now),
            Command::HangUp(id) => self.hang_up(&id, now),
            Command::AnswerBye(id) => self.answer_pending_bye(&id.0, true),
            Command::AnswerCancel(id) => self.answer_pending_cancel(&id.0, true, now),
            Command::Dial {
                call_id,
                target,
                from_user,
                display_name,
                offer,
            } => self.dial(call_id, target, &from_user, display_name, offer, now),
            Command::CallTrunk {
                call_id,
                number,
                offer,
            } => {
                let Some(t) = self.trunk.clone() else {
                    self.emit(SipEvent::Outbound {
                        call_id,
                        progress: OutboundProgress::Failed { code: 503 },
                    });
                    return;
                };
                let target = CallTarget::Uri(format!("sip:{number}@{}", t.domain));
                self.start_uac(
                    call_id,
                    target,
                    Some(t.address),
                    &t.from_user,
                    None,
                    offer,
                    now,
                );
            }
            Command::Reinvite(id, sdp) => self.send_reinvite(&id, sdp, now),
            Command::Shutdown => {}
        }
    }

    fn reject_call(&mut self, id: &CallId, code: u16, now: Instant) {
        let ok = self
            .calls
            .get(&id.0)
            .is_some_and(|c| c.role == Role::Uas && c.state == State::Early);
        if !ok {
            return;
        }
        let code = if (300..700).contains(&code) {
            code
        } else {
            480
        };
        if let Some(c) = self.calls.get_mut(&id.0) {
            c.state = State::Terminated;
            c.silent = true;
        }
        self.send_invite_response(&id.0, code, reason_phrase(code), None, now);
    }

    fn hang_up(&mut self, id: &CallId, now: Instant) {
        let Some(c) = self.calls.get(&id.0) else {
            return;
        };
        match (c.role, c.state) {
            (Role::Uas, State::Early) => self.reject_call(id, 480, now),
            (_, State::Confirmed) => {
                let bye = self.dialog_request(&id.0, "BYE", None);
                if let Some(c) = self.remove_call(&id.0)
                    && let Some(bye) = bye
                {
                    let _g = c.span.enter();
                    info!("hanging up");
                    self.send_client_request(&bye, Self::dialog_peer(&c), now);
                }
            }
            (Role::Uac, State::Early) => {
                if let Some(c) = self.calls.get_mut(&id.0) {
                    c.cancel_requested = true;
                    c.silent = true;
                }
                self.maybe_cancel(&id.0, now);
            }
            (_, State::Terminated) => {
                if let Some(c) = self.calls.get_mut(&id.0) {
                    c.silent = true;
                }
            }
        }
    }

    fn maybe_cancel(&mut self, id: &str, now: Instant) {
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        // A CANCEL may only follow a provisional response (RFC 3261 §9.1).
        if !c.cancel_requested || c.cancel_sent || !c.got_provisional {
            return;
        }
        c.cancel_sent = true;
        let inv = &c.invite;
        let mut cancel = Message::request("CANCEL", inv.request_uri().unwrap_or_default());
        for name in ["Via", "Route", "From", "To", "Call-ID"] {
            for h in inv
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
            {
                cancel.headers.push(h.clone());
            }
        }
        cancel.set("To", inv.header("To").unwrap_or_default().to_owned());
        let n = inv.cseq().map(|x| x.0).unwrap_or(1);
        cancel.push("CSeq", format!("{n} CANCEL"));
        cancel.push("Max-Forwards", "70");
        let peer = c.peer;
        self.send_client_request(&cancel, peer, now);
        // If the 487 never comes, forget the call after 64*T1.
        self.schedule(now + TIMEOUT_64T1, TimerKey::Call(id.to_owned()));
        if let Some(c) = self.calls.get_mut(id) {
            c.retransmit.get_or_insert(Retransmit {
                bytes: Vec::new(),
                to: peer,
                interval: TIMEOUT_64T1,
                next: now + TIMEOUT_64T1,
                give_up: now + TIMEOUT_64T1,
                cap: TIMEOUT_64T1,
            });
        }
    }

    fn send_client_request(&mut self, req: &Message, to: Peer, now: Instant) {
        let bytes = self.send(to, req);
        let Some(branch) = req.top_branch() else {
            return;
        };
        let retransmit = to
            .conn
            .is_none()
            .then(|| Retransmit::new(bytes, to, now, T2));
        if let Some(r) = &retransmit {
            self.schedule(r.next, TimerKey::Client(branch.clone()));
        }
        self.clients.insert(branch, ClientTxn { retransmit });
    }

    fn via(&self, tcp: bool) -> String {
        format!(
            "SIP/2.0/{} {};branch=z9hG4bK{};rport",
            if tcp { "TCP" } else { "UDP" },
            self.local,
            random_hex()
        )
    }

    fn dialog_request(
        &mut self,
        id: &str,
        method: &str,
        sdp: Option<&SessionDescription>,
    ) -> Option<Message> {
        let via = {
            let c = self.calls.get(id)?;
            self.via(c.peer.conn.is_some())
        };
        let contact = {
            let c = self.calls.get(id)?;
            self.contact(c.peer.conn.is_some())
        };
        let c = self.calls.get_mut(id)?;
        c.local_cseq += 1;
        let mut m = Message::request(method, &c.remote_target);
        m.push("Via", via);
        m.push("Max-Forwards", "70");
        for r in &c.route_set {
            m.push("Route", r.clone());
        }
        m.push("From", c.local_header.clone());
        m.push("To", c.remote_header.clone());
        m.push("Call-ID", c.id.0.clone());
        m.push("CSeq", format!("{} {method}", c.local_cseq));
        if method == "INVITE" {
            m.push("Contact", contact);
            m.push("Allow", ALLOW);
        }
        if let Some(sdp) = sdp {
            m.push("Content-Type", "application/sdp");
            m.body = sdp.to_bytes();
        }
        Some(m)
    }

    /// Where in-dialog requests go: the first route (a record-routing proxy), else the
    /// address we have been exchanging with (symmetric, so desk phones behind NAT work).
    fn dialog_peer(c: &Call) -> Peer {
        if c.peer.conn.is_some() {
            return c.peer;
        }
        let first = c
            .route_set
            .first()
            .and_then(|r| NameAddr::parse(r).ok())
            .map(|n| n.uri);
        let addr = first.as_deref().and_then(uri_addr).unwrap_or(c.peer.addr);
        Peer { addr, conn: None }
    }

    fn dial(
        &mut self,
        call_id: CallId,
        target: CallTarget,
        from_user: &str,
        display: Option<String>,
        offer: SessionDescription,
        now: Instant,
    ) {
        let (target, dest) = match target {
            CallTarget::Registered(user) => {
                let contacts = self.shared.registrar().contacts_of(&user, now);
                match contacts.last() {
                    // Send to the Contact when it names the host the REGISTER came from (the
                    // phone said where it listens); otherwise the phone is behind NAT, or
                    // registered over TCP, and the source of its REGISTER is the way back.
                    Some(b) => {
                        let contact = uri_addr(&b.uri);
                        let dest = match contact {
                            Some(c) if !b.tcp && c.ip() == b.source.ip() => c,
                            _ => b.source,
                        };
                        (CallTarget::Uri(b.uri.clone()), Some(dest))
                    }
                    None => {
                        self.emit(SipEvent::Outbound {
                            call_id,
                            progress: OutboundProgress::Failed { code: 480 },
                        });
                        return;
                    }
                }
            }
            t => (t, None),
        };
        self.start_uac(call_id, target, dest, from_user, display, offer, now);
    }

    #[allow(clippy::too_many_arguments)]
    fn start_uac(
        &mut self,
        call_id: CallId,
        target: CallTarget,
        dest: Option<SocketAddr>,
        from_user: &str,
        display: Option<String>,
        offer: SessionDescription,
        now: Instant,
    ) {
        let CallTarget::Uri(uri) = target else { return };
        let Some(addr) = dest.or_else(|| uri_addr(&uri)) else {
            self.emit(SipEvent::Outbound {
                call_id,
                progress: OutboundProgress::Failed { code: 416 },
            });
            return;
        };
        let span = info_span!("sip_call", call_id = %call_id);
        let _g = span.clone().entered();
        let local_tag = random_hex();
        let from = match &display {
            Some(d) => format!(
                "\"{}\" <sip:{from_user}@{}>;tag={local_tag}",
                d.replace(['"', '\\'], ""),
                self.local.ip()
            ),
            None => format!("<sip:{from_user}@{}>;tag={local_tag}", self.local.ip()),
        };
        let to_h = format!("<{uri}>");
        let mut inv = Message::request("INVITE", &uri);
        inv.push("Via", self.via(false));
        inv.push("Max-Forwards", "70");
        inv.push("From", from.clone());
        inv.push("To", to_h.clone());
        inv.push("Call-ID", call_id.0.clone());
        inv.push("CSeq", "1 INVITE");
        inv.push("Contact", self.contact(false));
        inv.push("Allow", ALLOW);
        inv.push("Supported", "timer");
        inv.push("Content-Type", "application/sdp");
        inv.body = offer.to_bytes();
        let peer = Peer { addr, conn: None };
        let bytes = self.send(peer, &inv);
        info!("ringing out");
        let call = Call {
            id: call_id.clone(),
            span: span.clone(),
            role: Role::Uac,
            state: State::Early,
            local_header: from,
            remote_header: to_h,
            local_tag,
            remote_tag: None,
            remote_target: uri,
            route_set: Vec::new(),
            local_cseq: 1,
            remote_cseq: 0,
            peer,
            created: now,
            invite_key: format!("uac|{}", call_id.0),
            invite: inv,
            local_sdp: Some(offer),
            last_response: None,
            retransmit: Some(Retransmit::new(bytes, peer, now, Duration::MAX)),
            ack: None,
            cancel_requested: false,
            cancel_sent: false,
            got_provisional: false,
            auth_tried: false,
            remote_hold: false,
            session_expires: None,
            reinvite_cseq: None,
            silent: false,
        };
        drop(_g);
        self.insert_call(call);
        self.schedule(now + T1, TimerKey::Call(call_id.0));
    }

    fn send_reinvite(&mut self, id: &CallId, sdp: SessionDescription, now: Instant) {
        let ok = self.calls.get(&id.0).is_some_and(|c| {
            c.state == State::Confirmed && c.reinvite_cseq.is_none() && c.retransmit.is_none()
        });
        if !ok {
            self.emit(SipEvent::ReinviteResult {
                call_id: id.clone(),
                code: 491,
                answer: None,
            });
            return;
        }
        let Some(m) = self.dialog_request(&id.0, "INVITE", Some(&sdp)) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&id.0) else {
            return;
        };
        c.reinvite_cseq = Some(c.local_cseq);
        c.local_sdp = Some(sdp);
        let peer = Self::dialog_peer(c);
        self.send_client_request(&m, peer, now);
    }

    // ---- responses ---------------------------------------------------------------

    fn handle_response(&mut self, resp: Message, code: u16, now: Instant) {
        let branch = resp.top_branch().unwrap_or_default();
        let (cseq, method) = resp.cseq().unwrap_or((0, String::new()));
        if code >= 200 || method == "INVITE" {
            // Any response stops retransmission of a non-INVITE request once final, and of
            // an INVITE at the first provisional.
            if let Some(t) = self.clients.get_mut(&branch) {
                t.retransmit = None;
            }
            if code >= 200 && method != "INVITE" {
                self.clients.remove(&branch);
            }
        }
        let cid = resp.header("Call-ID").unwrap_or_default().to_owned();
        if method != "INVITE" {
            return;
        }
        let Some(call) = self.calls.get(&cid) else {
            if (200..300).contains(&code) {
                // A 2xx for a call we no longer know (withdrawn): acknowledge and end it.
                self.ack_and_bye_stray(&resp, now);
            }
            return;
        };
        if call.reinvite_cseq == Some(cseq) {
            self.on_reinvite_response(&cid, resp, code, now);
            return;
        }
        if call.role != Role::Uac || cseq != call.local_cseq_of_invite() {
            return;
        }
        let span = call.span.clone();
        let _g = span.enter();
        match code {
            100..=199 => {
                let Some(c) = self.calls.get_mut(&cid) else {
                    return;
                };
                c.retransmit = None;
                c.got_provisional = true;
                if code > 100 && c.state == State::Early && !c.silent {
                    let early = if code == 183 {
                        SessionDescription::parse(&resp.body).ok()
                    } else {
                        None
                    };
                    self.emit(SipEvent::Outbound {
                        call_id: CallId(cid.clone()),
                        progress: OutboundProgress::Ringing { early_media: early },
                    });
                }
                self.maybe_cancel(&cid, now);
            }
            200..=299 => self.on_uac_success(&cid, resp, now),
            401 | 407 => {
                self.ack_non2xx(&cid, &resp);
                let challenge_header = if code == 401 {
                    "WWW-Authenticate"
                } else {
                    "Proxy-Authenticate"
                };
                let creds = self
                    .trunk
                    .as_ref()
                    .and_then(|t| Some((t.username.clone()?, t.password.clone()?)));
                let tried = self
                    .calls
                    .get(&cid)
                    .is_some_and(|c| c.auth_tried || c.cancel_requested);
                match (creds, resp.header(challenge_header), tried) {
                    (Some((user, pass)), Some(ch), false) => {
                        let ch = ch.to_owned();
                        self.retry_with_auth(&cid, &ch, code, &user, &pass, now);
                    }
                    _ => self.fail_uac(&cid, code),
                }
            }
            _ => {
                self.ack_non2xx(&cid, &resp);
                self.fail_uac(&cid, code);
            }
        }
    }

    fn fail_uac(&mut self, cid: &str, code: u16) {
        if let Some(c) = self.remove_call(cid) {
            let _g = c.span.enter();
            info!(code, "outgoing call failed");
            if !c.silent {
                self.emit(SipEvent::Outbound {
                    call_id: c.id.clone(),
                    progress: OutboundProgress::Failed { code },
                });
            }
        }
    }

    /// ACK for a non-2xx final response: same branch as the INVITE (RFC 3261 §17.1.1.3).
    fn ack_non2xx(&mut self, cid: &str, resp: &Message) {
        let Some(c) = self.calls.get(cid) else { return };
        let inv = &c.invite;
        let mut ack = Message::request("ACK", inv.request_uri().unwrap_or_default());
        for h in inv.headers.iter().filter(|h| {
            ["Via", "Route", "From", "Call-ID", "Max-Forwards"]
                .iter()
                .any(|n| h.name.eq_ignore_ascii_case(n))
        }) {
            ack.headers.push(h.clone());
        }
        ack.push("To", resp.header("To").unwrap_or_default().to_owned());
        let n = inv.cseq().map(|x| x.0).unwrap_or(1);
        ack.push("CSeq", format!("{n} ACK"));
        let peer = c.peer;
        self.send(peer, &ack);
    }

    fn retry_with_auth(
        &mut self,
        cid: &str,
        challenge: &str,
        code: u16,
        user: &str,
        pass: &str,
        now: Instant,
    ) {
        let via = self.via(false);
        let Some(c) = self.calls.get_mut(cid) else {
            return;
        };
        c.auth_tried = true;
        let mut inv = c.invite.clone();
        let n = inv.cseq().map(|x| x.0).unwrap_or(1) + 1;
        c.local_cseq = n;
        inv.set("CSeq", format!("{n} INVITE"));
        inv.set("Via", via);
        let uri = inv.request_uri().unwrap_or_default().to_owned();
        let Some(auth) =
            client_authorization(challenge, user, pass, "INVITE", &uri, &random_hex(), 1)
        else {
            self.fail_uac(cid, code);
            return;
        };
        inv.push(
            if code == 401 {
                "Authorization"
            } else {
                "Proxy-Authorization"
            },
            auth,
        );
        let peer = c.peer;
        c.invite = inv.clone();
        let bytes = self.send(peer, &inv);
        if let Some(c) = self.calls.get_mut(cid) {
            c.retransmit = Some(Retransmit::new(bytes, peer, now, Duration::MAX));
            c.got_provisional = false;
        }
        self.schedule(now + T1, TimerKey::Call(cid.to_owned()));
    }

    fn on_uac_success(&mut self, cid: &str, resp: Message, now: Instant) {
        let Some(c) = self.calls.get_mut(cid) else {
            return;
        };
        if c.state == State::Confirmed {
            // Retransmitted 2xx: our ACK was lost.
            if let Some(ack) = c.ack.clone() {
                let peer = Self::dialog_peer(c);
                self.out.push(Transmit {
                    to: peer,
                    bytes: ack,
                });
            }
            return;
        }
        c.retransmit = None;
        c.state = State::Confirmed;
        c.remote_tag = resp.tag_of("To");
        c.remote_header = resp.header("To").unwrap_or_default().to_owned();
        if let Some(t) = resp
            .header_list("Contact")
            .first()
            .and_then(|x| NameAddr::parse(x).ok())
        {
            c.remote_target = t.uri;
        }
        let mut rr = resp.header_list("Record-Route");
        rr.reverse();
        c.route_set = rr;
        let n = c.local_cseq;
        let via = format!(
            "SIP/2.0/UDP {};branch=z9hG4bK{};rport",
            self.local,
            random_hex()
        );
        let mut ack = Message::request("ACK", &c.remote_target);
        ack.push("Via", via);
        ack.push("Max-Forwards", "70");
        for r in &c.route_set {
            ack.push("Route", r.clone());
        }
        ack.push("From", c.local_header.clone());
        ack.push("To", c.remote_header.clone());
        ack.push("Call-ID", cid.to_owned());
        ack.push("CSeq", format!("{n} ACK"));
        let peer = Self::dialog_peer(c);
        let bytes = self.send(peer, &ack);
        let Some(c) = self.calls.get_mut(cid) else {
            return;
        };
        c.ack = Some(bytes);
        if c.cancel_requested {
            // We withdrew the call but the agent answered first: end it at once.
            let bye = self.dialog_request(cid, "BYE", None);
            if let Some(c) = self.remove_call(cid)
                && let Some(bye) = bye
            {
                self.send_client_request(&bye, Self::dialog_peer(&c), now);
            }
            return;
        }
        info!("outgoing call answered");
        let answer = SessionDescription::parse(&resp.body).ok();
        if let Some(negotiated) = answer
            .as_ref()
            .and_then(|a| crate::sdp::read_answer(a).ok())
            && let Some(local) = self.calls.get_mut(cid).and_then(|c| c.local_sdp.as_mut())
        {
            // From now on our SDP in this dialog is the settled session, not the offer.
            *local = crate::sdp::settled_offer(local, &negotiated);
        }
        self.emit(SipEvent::Outbound {
            call_id: CallId(cid.to_owned()),
            progress: OutboundProgress::Answered { answer },
        });
    }

    fn ack_and_bye_stray(&mut self, resp: &Message, now: Instant) {
        // Only for responses whose Via is ours.
        let ours = resp
            .header_list("Via")
            .first()
            .and_then(|v| parse_via(v).ok())
            .is_some_and(|v| {
                v.host == self.local.ip().to_string() && v.port == Some(self.local.port())
            });
        let target = resp
            .header_list("Contact")
            .first()
            .and_then(|c| NameAddr::parse(c).ok())
            .map(|n| n.uri);
        let (Some(target), true) = (target, ours) else {
            return;
        };
        let Some(addr) = uri_addr(&target) else {
            return;
        };
        let n = resp.cseq().map(|c| c.0).unwrap_or(1);
        let peer = Peer { addr, conn: None };
        for (method, num) in [("ACK", n), ("BYE", n + 1)] {
            let mut m = Message::request(method, &target);
            m.push("Via", self.via(false));
            m.push("Max-Forwards", "70");
            m.push("From", resp.header("From").unwrap_or_default().to_owned());
            m.push("To", resp.header("To").unwrap_or_default().to_owned());
            m.push(
                "Call-ID",
                resp.header("Call-ID").unwrap_or_default().to_owned(),
            );
            m.push("CSeq", format!("{num} {method}"));
            if method == "ACK" {
                self.send(peer, &m);
            } else {
                self.send_client_request(&m, peer, now);
            }
        }
    }

    fn on_reinvite_response(&mut self, cid: &str, resp: Message, code: u16, now: Instant) {
        if code < 200 {
            return;
        }
        let Some(c) = self.calls.get_mut(cid) else {
            return;
        };
        let n = c.reinvite_cseq.take().unwrap_or_default();
        let peer = Self::dialog_peer(c);
        let mut ack = Message::request("ACK", &c.remote_target);
        ack.push(
            "Via",
            format!(
                "SIP/2.0/UDP {};branch=z9hG4bK{};rport",
                self.local,
                random_hex()
            ),
        );
        ack.push("Max-Forwards", "70");
        for r in &c.route_set {
            ack.push("Route", r.clone());
        }
        ack.push("From", c.local_header.clone());
        ack.push("To", c.remote_header.clone());
        ack.push("Call-ID", cid.to_owned());
        ack.push("CSeq", format!("{n} ACK"));
        if code >= 300 {
            // Non-2xx ACK reuses the request's branch (RFC 3261 §17.1.1.3).
            if let Some(v) = resp.header_list("Via").first() {
                ack.set("Via", v.clone());
            }
        }
        self.send(peer, &ack);
        let _ = now;
        let answer = (200..300)
            .contains(&code)
            .then(|| SessionDescription::parse(&resp.body).ok())
            .flatten();
        if !self.calls.get(cid).is_none_or(|c| c.silent) {
            self.emit(SipEvent::ReinviteResult {
                call_id: CallId(cid.to_owned()),
                code,
                answer,
            });
        }
    }

    // ---- timers ------------------------------------------------------------------

    /// Fire every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, key))) = self.timers.pop() else {
                break;
            };
            match key {
                TimerKey::Sweep => {
                    self.response_cache.retain(|_, (_, _, exp)| *exp > now);
                    let lapsed = self.shared.registrar().expire(now);
                    for (user, left) in lapsed {
                        self.emit(SipEvent::RegistrationChanged {
                            user,
                            contacts: left.into_iter().map(|b| b.uri).collect(),
                        });
                    }
                    self.expire_unanswered(now);
                    self.clients
                        .retain(|_, t| t.retransmit.as_ref().is_some_and(|r| r.give_up > now));
                    self.schedule(now + Duration::from_secs(2), TimerKey::Sweep);
                }
                TimerKey::Client(branch) => {
                    let Some(t) = self.clients.get_mut(&branch) else {
                        continue;
                    };
                    let Some(r) = t.retransmit.as_mut() else {
                        continue;
                    };
                    if r.next > now {
                        continue;
                    }
                    if now >= r.give_up {
                        self.clients.remove(&branch);
                        continue;
                    }
                    r.interval = (r.interval * 2).min(r.cap);
                    r.next = now + r.interval;
                    let (to, bytes, next) = (r.to, r.bytes.clone(), r.next);
                    self.out.push(Transmit { to, bytes });
                    self.schedule(next, TimerKey::Client(branch));
                }
                TimerKey::Call(id) => self.call_timer(&id, now),
                TimerKey::ByeAnswer(id) => self.answer_pending_bye(&id, false),
                TimerKey::CancelAnswer(id) => self.answer_pending_cancel(&id, false, now),
            }
        }
    }

    /// An incoming call nobody answered or refused within `answer_timeout` gets 480 and an
    /// `Ended { Timeout }`, so a lost command can never leave a caller ringing forever.
    fn expire_unanswered(&mut self, now: Instant) {
        let stale: Vec<String> = self
            .calls
            .values()
            .filter(|c| {
                c.role == Role::Uas
                    && c.state == State::Early
                    && now.duration_since(c.created) >= self.answer_timeout
            })
            .map(|c| c.id.0.clone())
            .collect();
        for id in stale {
            if let Some(c) = self.calls.get(&id) {
                let _g = c.span.clone().entered();
                warn!("incoming call not answered in time: refusing it");
            }
            self.reject_call(&CallId(id.clone()), 480, now);
            self.emit(SipEvent::Ended {
                call_id: CallId(id),
                reason: EndReason::Timeout,
                answer_pending: false,
            });
        }
    }

    fn call_timer(&mut self, id: &str, now: Instant) {
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        let Some(r) = c.retransmit.as_mut() else {
            return;
        };
        if r.next > now {
            return;
        }
        if now >= r.give_up {
            c.retransmit = None;
            let (role, state) = (c.role, c.state);
            let _g = c.span.clone().entered();
            match (role, state) {
                (Role::Uas, State::Confirmed) => {
                    warn!("no ACK for our 2xx: ending the call");
                    let bye = self.dialog_request(id, "BYE", None);
                    if let Some(c) = self.remove_call(id) {
                        if let Some(bye) = bye {
                            self.send_client_request(&bye, Self::dialog_peer(&c), now);
                        }
                        if !c.silent {
                            self.emit(SipEvent::Ended {
                                call_id: c.id.clone(),
                                reason: EndReason::NoAck,
                                answer_pending: false,
                            });
                        }
                    }
                }
                (Role::Uac, State::Early) => self.fail_uac(id, 408),
                _ => {
                    self.remove_call(id);
                }
            }
            return;
        }
        if r.bytes.is_empty() {
            return;
        }
        r.interval = (r.interval * 2).min(r.cap);
        r.next = now + r.interval;
        let (to, bytes, next) = (r.to, r.bytes.clone(), r.next);
        self.out.push(Transmit { to, bytes });
        self.schedule(next, TimerKey::Call(id.to_owned()));
    }
}

impl Call {
    fn local_cseq_of_invite(&self) -> u32 {
        self.invite.cseq().map(|c| c.0).unwrap_or(self.local_cseq)
    }
}

/// Standard reason phrases for codes we send.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::SipConfig;
    use crate::validate::{Verdict, check_datagram};

    fn core() -> Core {
        let shared = Arc::new(Shared::new("guichet", &["8585".to_owned()]));
        Core::new(
            shared,
            "127.0.0.1:5060".parse().unwrap(),
            &SipConfig::default(),
        )
    }

    fn request(text: &str) -> Message {
        match check_datagram(text.as_bytes()) {
            Verdict::Request(m) => m,
            other => panic!("{other:?}"),
        }
    }

    const PEER: &str = "127.0.0.1:5080";

    fn invite() -> Message {
        let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        request(&format!(
            "INVITE sip:8585@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {PEER};branch=z9hG4bKt1;rport\r\nFrom: <sip:0611@127.0.0.1>;tag=a\r\nTo: <sip:8585@127.0.0.1>\r\nCall-ID: timers\r\nCSeq: 1 INVITE\r\nContact: <sip:c@{PEER}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        ))
    }

    fn peer() -> Peer {
        Peer {
            addr: PEER.parse().unwrap(),
            conn: None,
        }
    }

    fn first_lines(c: &mut Core) -> Vec<String> {
        c.drain_transmits()
            .map(|t| {
                String::from_utf8_lossy(&t.bytes)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn unacknowledged_2xx_is_retransmitted_then_the_call_ends() {
        let mut c = core();
        let t0 = Instant::now();
        c.handle_message(invite(), peer(), t0);
        assert_eq!(first_lines(&mut c), vec!["SIP/2.0 100 Trying"]);
        let Some(SipEvent::IncomingCall(call)) = c.drain_events().next() else {
            panic!("no call")
        };
        let offer = call.offer.unwrap();
        let (ans, _) = crate::sdp::answer(
            &offer,
            &LocalCapabilities::default(),
            "127.0.0.1:20000".parse().unwrap(),
            1,
        )
        .unwrap();
        c.handle_command(Command::Answer(call.call_id.clone(), ans), t0);
        assert_eq!(first_lines(&mut c), vec!["SIP/2.0 200 OK"]);
        // Retransmissions at 0.5, 1.5, 3.5, 7.5 s... (T1 doubling, capped at T2).
        let mut sent = 0;
        let mut t = t0;
        while t < t0 + Duration::from_secs(31) {
            t += Duration::from_millis(250);
            c.handle_timeout(t);
            sent += first_lines(&mut c)
                .iter()
                .filter(|l| *l == "SIP/2.0 200 OK")
                .count();
        }
        assert!((7..=10).contains(&sent), "retransmissions: {sent}");
        c.handle_timeout(t0 + Duration::from_secs(33));
        assert_eq!(
            first_lines(&mut c),
            vec!["BYE sip:c@127.0.0.1:5080 SIP/2.0"]
        );
        let ev: Vec<SipEvent> = c.drain_events().collect();
        assert_eq!(
            ev,
            vec![SipEvent::Ended {
                call_id: call.call_id,
                reason: EndReason::NoAck,
                answer_pending: false,
            }]
        );
        assert_eq!(c.calls.len(), 0);
    }

    #[test]
    fn ack_stops_retransmission_and_retransmitted_invite_repeats_the_answer() {
        let mut c = core();
        let t0 = Instant::now();
        c.handle_message(invite(), peer(), t0);
        let _ = first_lines(&mut c);
        c.handle_message(invite(), peer(), t0);
        assert_eq!(
            first_lines(&mut c),
            vec!["SIP/2.0 100 Trying"],
            "retransmitted INVITE"
        );
        let id = CallId("timers".into());
        c.handle_command(Command::Ringing(id.clone(), None), t0);
        assert_eq!(first_lines(&mut c), vec!["SIP/2.0 180 Ringing"]);
        c.handle_command(Command::Reject(id, 486), t0);
        assert_eq!(first_lines(&mut c), vec!["SIP/2.0 486 Busy Here"]);
        let ack = request(&format!(
            "ACK sip:8585@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {PEER};branch=z9hG4bKt1\r\nFrom: <sip:0611@127.0.0.1>;tag=a\r\nTo: <sip:8585@127.0.0.1>;tag=x\r\nCall-ID: timers\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
        ));
        c.handle_message(ack, peer(), t0);
        c.handle_timeout(t0 + Duration::from_secs(5));
        assert!(
            first_lines(&mut c).is_empty(),
            "no retransmission after ACK"
        );
        assert!(c.calls.is_empty());
        assert_eq!(c.shared.counters.snapshot().active_dialogs, 0);
    }

    /// A core for line 8585 with this way of answering BYEs and CANCELs.
    fn core_with(bye_answer: ByeAnswer) -> Core {
        let shared = Arc::new(Shared::new("guichet", &["8585".to_owned()]));
        let config = SipConfig {
            bye_answer,
            ..SipConfig::default()
        };
        Core::new(shared, "127.0.0.1:5060".parse().unwrap(), &config)
    }

    /// A core answering BYEs only when told (at most `bound` later), with call `timers`
    /// answered and acknowledged; returns our To tag.
    fn confirmed_call(bye_answer: ByeAnswer, t0: Instant) -> (Core, String) {
        let mut c = core_with(bye_answer);
        c.handle_message(invite(), peer(), t0);
        let Some(SipEvent::IncomingCall(call)) = c.drain_events().next() else {
            panic!("no call")
        };
        let (ans, _) = crate::sdp::answer(
            &call.offer.unwrap(),
            &LocalCapabilities::default(),
            "127.0.0.1:20000".parse().unwrap(),
            1,
        )
        .unwrap();
        let _ = first_lines(&mut c);
        c.handle_command(Command::Answer(call.call_id, ans), t0);
        let ok: Vec<Transmit> = c.drain_transmits().collect();
        let ok = crate::message::parse_head(&ok[0].bytes).unwrap().message;
        let tag = ok.tag_of("To").unwrap().to_owned();
        let ack = request(&format!(
            "ACK sip:guichet@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {PEER};branch=z9hG4bKt1\r\nFrom: <sip:0611@127.0.0.1>;tag=a\r\nTo: <sip:8585@127.0.0.1>;tag={tag}\r\nCall-ID: timers\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
        ));
        c.handle_message(ack, peer(), t0);
        (c, tag)
    }

    fn bye(tag: &str) -> Message {
        request(&format!(
            "BYE sip:guichet@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {PEER};branch=z9hG4bKbye1;rport\r\nFrom: <sip:0611@127.0.0.1>;tag=a\r\nTo: <sip:8585@127.0.0.1>;tag={tag}\r\nCall-ID: timers\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
        ))
    }

    #[test]
    fn deferred_bye_answer_waits_for_the_application_and_absorbs_retransmissions() {
        let t0 = Instant::now();
        let bound = Duration::from_secs(3);
        let (mut c, tag) = confirmed_call(ByeAnswer::Deferred { bound }, t0);
        c.handle_message(bye(&tag), peer(), t0);
        assert!(
            first_lines(&mut c).is_empty(),
            "no answer before the confirmation"
        );
        let ev: Vec<SipEvent> = c.drain_events().collect();
        let id = CallId("timers".into());
        assert_eq!(
            ev,
            vec![SipEvent::Ended {
                call_id: id.clone(),
                reason: EndReason::RemoteBye,
                answer_pending: true,
            }]
        );
        // Retransmissions (T1 later) are absorbed: no 481, no second event.
        c.handle_message(bye(&tag), peer(), t0 + T1);
        assert!(first_lines(&mut c).is_empty());
        assert_eq!(c.drain_events().count(), 0);
        c.handle_command(Command::AnswerBye(id.clone()), t0 + T1);
        assert_eq!(first_lines(&mut c), vec!["SIP/2.0 200 OK"]);
        // Answered once: later retransmissions get the cached answer, the bound adds none.
        c.handle_message(bye(&tag), peer(), t0 + 2 * T1);
        assert_eq!(first_lines(&mut c), vec!["SIP/2.0 200 OK"]);
        c.handle_command(Command::AnswerBye(id), t0 + 2 * T1);
        c.handle_timeout(t0 + bound);
        assert!(first_lines(&mut c).is_empty());
        assert_eq!(c.drain_events().count(), 0);
        assert_eq!(c.shared.counters.responses_sent(481), 0);
        assert_eq!(c.shared.counters.snapshot().active_dialogs, 0);
    }

    #[test]
    fn deferred_bye_answer_goes_anyway_at_its_bound() {
        let t0 = Instant::now();
        let bound = Duration::from_secs(3);
        let (mut c, tag) = confirmed_call(ByeAnswer::Deferred { bound }, t0);
        c.handle_message(bye(&tag), peer(), t0);
        assert_eq!(c.drain_events().count(), 1);
        c.handle_timeout(t0 + bound - Duration::from_millis(1));
        assert!(first_lines(&mut c).is_empty(), "not before the bound");
        c.handle_timeout(t0 + bound);
        assert_eq!(first_lines(&mut c), vec!["SIP/2.0 200 OK"]);
        c.handle_message(bye(&tag), peer(), t0 + bound + T1);
        assert_eq!(first_lines(&mut c), vec!["SIP/2.0 200 OK"], "cached");
        // A late confirmation sends nothing more.
        c.handle_command(Command::AnswerBye(CallId("timers".into())), t0 + bound + T1);
        assert!(first_lines(&mut c).is_empty());
    }

    #[test]
    fn bye_is_answered_at_once_by_default() {
        let t0 = Instant::now();
        let (mut c, tag) = confirmed_call(ByeAnswer::Immediate, t0);
        c.handle_message(bye(&tag), peer(), t0);
        assert_eq!(first_lines(&mut c), vec!["SIP/2.0 200 OK"]);
        let ev: Vec<SipEvent> = c.drain_events().collect();
        assert!(matches!(
            ev.as_slice(),
            [SipEvent::Ended {
                answer_pending: false,
                ..
            }]
        ));
    }

    /// A core deferring its end answers (at most `bound`), with call `timers` ringing.
    fn ringing_call(bye_answer: ByeAnswer, t0: Instant) -> Core {
        let mut c = core_with(bye_answer);
        c.handle_message(invite(), peer(), t0);
        assert_eq!(first_lines(&mut c), vec!["SIP/2.0 100 Trying"]);
        assert_eq!(c.drain_events().count(), 1);
        c
    }

    fn cancel() -> Message {
        request(&format!(
            "CANCEL sip:8585@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {PEER};branch=z9hG4bKt1;rport\r\nFrom: <sip:0611@127.0.0.1>;tag=a\r\nTo: <sip:8585@127.0.0.1>\r\nCall-ID: timers\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n"
        ))
    }

    fn ack_487() -> Message {
        request(&format!(
            "ACK sip:8585@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {PEER};branch=z9hG4bKt1\r\nFrom: <sip:0611@127.0.0.1>;tag=a\r\nTo: <sip:8585@127.0.0.1>;tag=x\r\nCall-ID: timers\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
        ))
    }

    #[test]
    fn deferred_cancel_answers_the_cancel_at_once_and_the_invite_when_confirmed() {
        let t0 = Instant::now();
        let bound = Duration::from_secs(3);
        let mut c = ringing_call(ByeAnswer::Deferred { bound }, t0);
        c.handle_message(cancel(), peer(), t0);
        assert_eq!(
            first_lines(&mut c),
            vec!["SIP/2.0 200 OK"],
            "the CANCEL is answered hop by hop, the INVITE waits"
        );
        let id = CallId("timers".into());
        let ev: Vec<SipEvent> = c.drain_events().collect();
        assert_eq!(
            ev,
            vec![SipEvent::Cancelled {
                call_id: id.clone(),
                answer_pending: true,
            }]
        );
        // Retransmissions before the confirmation: the CANCEL gets its cached 200 OK, the
        // INVITE its 100 Trying; no 487, no second event.
        c.handle_message(cancel(), peer(), t0 + T1);
        assert_eq!(first_lines(&mut c), vec!["SIP/2.0 200 OK"]);
        c.handle_message(invite(), peer(), t0 + T1);
        assert_eq!(first_lines(&mut c), vec!["SIP/2.0 100 Trying"]);
        assert_eq!(c.drain_events().count(), 0);
        c.handle_command(Command::AnswerCancel(id.clone()), t0 + T1);
        assert_eq!(first_lines(&mut c), vec!["SIP/2.0 487 Request Terminated"]);
        // Now the INVITE's retransmission gets the 487, and the 487 is retransmitted until
        // its ACK, which is absorbed and ends the call; the bound then sends nothing.
        c.handle_message(invite(), peer(), t0 + 2 * T1);
        assert_eq!(first_lines(&mut c), vec!["SIP/2.0 487 Request Terminated"]);
        c.handle_timeout(t0 + 3 * T1);
        assert_eq!(first_lines(&mut c), vec!["SIP/2.0 487 Request Terminated"]);
        c.handle_message(ack_487(), peer(), t0 + 3 * T1);
        assert!(first_lines(&mut c).is_empty(), "the ACK is absorbed");
        c.handle_command(Command::AnswerCancel(id), t0 + 3 * T1);
        c.handle_timeout(t0 + bound + T1);
        assert!(first_lines(&mut c).is_empty());
        assert_eq!(c.drain_events().count(), 0);
        assert_eq!(
            c.shared.counters.responses_sent(487),
            1,
            "one 487, retransmitted"
        );
        assert_eq!(c.shared.counters.responses_sent(481), 0);
        assert_eq!(c.shared.counters.snapshot().active_dialogs, 0);
    }

    #[test]
    fn deferred_cancel_answer_goes_anyway_at_its_bound() {
        let t0 = Instant::now();
        let bound = Duration::from_secs(3);
        let mut c = ringing_call(ByeAnswer::Deferred { bound }, t0);
        c.handle_message(cancel(), peer(), t0);
        assert_eq!(first_lines(&mut c), vec!["SIP/2.0 200 OK"]);
        c.handle_timeout(t0 + bound - Duration::from_millis(1));
        assert!(first_lines(&mut c).is_empty(), "not before the bound");
        c.handle_timeout(t0 + bound);
        assert_eq!(first_lines(&mut c), vec!["SIP/2.0 487 Request Terminated"]);
        // A late confirmation sends nothing more; the ACK ends the call.
        c.handle_command(Command::AnswerCancel(CallId("timers".into())), t0 + bound);
        assert!(first_lines(&mut c).is_empty());
        c.handle_message(ack_487(), peer(), t0 + bound + T1);
        assert!(c.calls.is_empty());
    }

    #[test]
    fn cancel_gets_its_487_at_once_by_default() {
        let t0 = Instant::now();
        let mut c = ringing_call(ByeAnswer::Immediate, t0);
        c.handle_message(cancel(), peer(), t0);
        assert_eq!(
            first_lines(&mut c),
            vec!["SIP/2.0 200 OK", "SIP/2.0 487 Request Terminated"]
        );
        let ev: Vec<SipEvent> = c.drain_events().collect();
        assert_eq!(
            ev,
            vec![SipEvent::Cancelled {
                call_id: CallId("timers".into()),
                answer_pending: false,
            }]
        );
    }

    fn out_of_dialog(method: &str, extra: &str) -> Message {
        request(&format!(
            "{method} sip:8585@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {PEER};branch=z9hG4bK{method}\r\nFrom: <sip:x@127.0.0.1>;tag=f\r\nTo: <sip:8585@127.0.0.1>\r\nCall-ID: m-{method}\r\nCSeq: 7 {method}\r\n{extra}Content-Length: 0\r\n\r\n"
        ))
    }

    fn answer_to(c: &mut Core, m: Message) -> Message {
        c.handle_message(m, peer(), Instant::now());
        let t: Vec<Transmit> = c.drain_transmits().collect();
        assert_eq!(t.len(), 1);
        crate::message::parse_head(&t[0].bytes).unwrap().message
    }

    #[test]
    fn methods_get_the_rfc_answers() {
        let mut c = core();
        let r = answer_to(&mut c, out_of_dialog("OPTIONS", ""));
        assert_eq!(r.status(), Some(200));
        assert!(r.header("Allow").unwrap().contains("INVITE"));
        assert!(r.header("Accept").unwrap().contains("application/sdp"));
        let r = answer_to(&mut c, out_of_dialog("FROB", ""));
        assert_eq!(r.status(), Some(501));
        assert!(r.header("Allow").is_some());
        let r = answer_to(&mut c, out_of_dialog("MESSAGE", ""));
        assert_eq!(r.status(), Some(405));
        let r = answer_to(
            &mut c,
            out_of_dialog("OPTIONS", "Require: 100rel, timer\r\n").clone(),
        );
        // Same branch as the first OPTIONS: the cached answer is repeated (a retransmission).
        assert_eq!(r.status(), Some(200));
        let mut req = out_of_dialog("INFO", "Require: 100rel\r\n");
        req.set("Call-ID", "other");
        let r = answer_to(&mut c, req);
        assert_eq!(r.status(), Some(420));
        assert_eq!(r.header("Unsupported"), Some("100rel"));
        let r = answer_to(&mut c, out_of_dialog("BYE", ""));
        assert_eq!(r.status(), Some(481));
        let r = answer_to(&mut c, out_of_dialog("CANCEL", ""));
        assert_eq!(r.status(), Some(481));
        assert_eq!(c.shared.counters.responses_sent(481), 2);
    }

    #[test]
    fn invite_checks_line_codec_and_session_timer() {
        let mut c = core();
        let mut inv = invite();
        inv.start = StartLine::Request {
            method: "INVITE".into(),
            uri: "sip:9999@127.0.0.1".into(),
            version: "SIP/2.0".into(),
        };
        assert_eq!(answer_to(&mut c, inv).status(), Some(404));
        let mut inv = invite();
        inv.set("Via", format!("SIP/2.0/UDP {PEER};branch=z9hG4bKg729"));
        inv.body = b"v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 1.1.1.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\n".to_vec();
        assert_eq!(answer_to(&mut c, inv).status(), Some(488));
        let mut inv = invite();
        inv.set("Via", format!("SIP/2.0/UDP {PEER};branch=z9hG4bKse"));
        inv.push("Session-Expires", "30");
        let r = answer_to(&mut c, inv);
        assert_eq!(r.status(), Some(422));
        assert_eq!(r.header("Min-SE"), Some("90"));
        assert!(c.drain_events().next().is_none());
        assert!(c.calls.is_empty());
    }

    #[test]
    fn unanswered_incoming_call_is_refused_after_the_timeout() {
        let mut c = core();
        let t0 = Instant::now();
        c.handle_message(invite(), peer(), t0);
        let _ = first_lines(&mut c);
        let _ = c.drain_events().count();
        c.handle_timeout(t0 + Duration::from_secs(100));
        assert!(first_lines(&mut c).is_empty());
        c.handle_timeout(t0 + Duration::from_secs(301));
        assert_eq!(
            first_lines(&mut c),
            vec!["SIP/2.0 480 Temporarily Unavailable"]
        );
        let ev: Vec<SipEvent> = c.drain_events().collect();
        assert_eq!(
            ev,
            vec![SipEvent::Ended {
                call_id: CallId("timers".into()),
                reason: EndReason::Timeout,
                answer_pending: false,
            }]
        );
    }

    #[test]
    fn our_reinvite_is_sent_in_dialog_and_its_answer_reported() {
        let mut c = core();
        let t0 = Instant::now();
        c.handle_message(invite(), peer(), t0);
        let _ = first_lines(&mut c);
        let id = CallId("timers".into());
        let offer = crate::sdp::offer(
            &LocalCapabilities::default(),
            "127.0.0.1:20000".parse().unwrap(),
            1,
            101,
        );
        c.handle_command(Command::Answer(id.clone(), offer.clone()), t0);
        let ok = c.drain_transmits().next().unwrap();
        let to_tag = crate::message::parse_head(&ok.bytes)
            .unwrap()
            .message
            .tag_of("To")
            .unwrap();
        let ack = request(&format!(
            "ACK sip:c@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {PEER};branch=z9hG4bKack\r\nFrom: <sip:0611@127.0.0.1>;tag=a\r\nTo: <sip:8585@127.0.0.1>;tag={to_tag}\r\nCall-ID: timers\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
        ));
        c.handle_message(ack, peer(), t0);
        let _ = c.drain_events().count();
        let mut hold = offer;
        hold.media[0].direction = Some(Direction::SendOnly);
        c.handle_command(Command::Reinvite(id.clone(), hold), t0);
        let sent: Vec<Transmit> = c.drain_transmits().collect();
        assert_eq!(sent.len(), 1);
        let reinv = crate::message::parse_head(&sent[0].bytes).unwrap().message;
        assert_eq!(reinv.request_uri(), Some("sip:c@127.0.0.1:5080"));
        assert_eq!(reinv.tag_of("From").as_deref(), Some(to_tag.as_str()));
        assert_eq!(reinv.tag_of("To").as_deref(), Some("a"));
        let (n, m) = reinv.cseq().unwrap();
        assert_eq!(m, "INVITE");
        assert!(String::from_utf8_lossy(&sent[0].bytes).contains("a=sendonly"));
        // A second re-INVITE while this one is pending is refused locally with 491.
        c.handle_command(
            Command::Reinvite(
                id.clone(),
                crate::sdp::offer(
                    &LocalCapabilities::default(),
                    "127.0.0.1:1".parse().unwrap(),
                    1,
                    101,
                ),
            ),
            t0,
        );
        assert!(matches!(
            c.drain_events().next(),
            Some(SipEvent::ReinviteResult { code: 491, .. })
        ));
        let answer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=recvonly\r\n";
        let resp = format!(
            "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: timers\r\nCSeq: {n} INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{answer}",
            reinv.header("Via").unwrap(),
            reinv.header("From").unwrap(),
            reinv.header("To").unwrap(),
            answer.len()
        );
        let Verdict::Response(r) = check_datagram(resp.as_bytes()) else {
            panic!("bad response")
        };
        c.handle_message(r, peer(), t0);
        let lines = first_lines(&mut c);
        assert_eq!(lines, vec!["ACK sip:c@127.0.0.1:5080 SIP/2.0"]);
        let ev: Vec<SipEvent> = c.drain_events().collect();
        assert!(
            matches!(&ev[..], [SipEvent::ReinviteResult { code: 200, answer: Some(a), .. }] if a.audio_direction() == Direction::RecvOnly)
        );
    }

    #[test]
    fn delayed_offer_answer_comes_in_the_ack() {
        let mut c = core();
        let t0 = Instant::now();
        let mut inv = invite();
        inv.body.clear();
        inv.remove("Content-Type");
        c.handle_message(inv, peer(), t0);
        let Some(SipEvent::IncomingCall(call)) = c.drain_events().next() else {
            panic!("no call")
        };
        assert!(call.offer.is_none());
        let offer = crate::sdp::offer(
            &LocalCapabilities::default(),
            "127.0.0.1:20000".parse().unwrap(),
            1,
            101,
        );
        c.handle_command(Command::Answer(call.call_id.clone(), offer), t0);
        let _ = first_lines(&mut c);
        let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4002 RTP/AVP 8\r\n";
        let ack = request(&format!(
            "ACK sip:c@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {PEER};branch=z9hG4bKack\r\nFrom: <sip:0611@127.0.0.1>;tag=a\r\nTo: <sip:8585@127.0.0.1>;tag=x\r\nCall-ID: timers\r\nCSeq: 1 ACK\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        ));
        c.handle_message(ack, peer(), t0);
        let ev: Vec<SipEvent> = c.drain_events().collect();
        assert!(
            matches!(&ev[..], [SipEvent::AnswerInAck { answer, .. }] if answer.audio().unwrap().port == 4002)
        );
        c.handle_timeout(t0 + Duration::from_secs(2));
        assert!(
            first_lines(&mut c).is_empty(),
            "ACK stopped the 2xx retransmission"
        );
    }

    /// A REGISTER of `user`'s phone (CSeq `cseq`), with `authorization` when given.
    fn register(user: &str, cseq: u32, authorization: Option<&str>) -> Message {
        let authorization = authorization
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        request(&format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {PEER};branch=z9hG4bKr{user}{cseq}\r\nFrom: <sip:{user}@127.0.0.1>;tag=r{user}\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: reg-{user}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{PEER}>\r\n{authorization}Content-Length: 0\r\n\r\n"
        ))
    }

    /// The status code and the `WWW-Authenticate` values of the one answer `c` sent.
    fn status_and_challenges(c: &mut Core) -> (String, Vec<String>) {
        let sent: Vec<Transmit> = c.drain_transmits().collect();
        assert_eq!(sent.len(), 1);
        let text = String::from_utf8_lossy(&sent[0].bytes).into_owned();
        let status = text.lines().next().unwrap_or_default().to_owned();
        let challenges = text
            .lines()
            .filter_map(|l| l.strip_prefix("WWW-Authenticate: "))
            .map(str::to_owned)
            .collect();
        (status, challenges)
    }

    fn algorithm_of(challenge: &str) -> &str {
        challenge
            .split(", ")
            .find_map(|p| p.strip_prefix("algorithm="))
            .unwrap_or_default()
    }

    #[test]
    fn a_phone_with_digest_algorithms_of_its_own_is_challenged_and_accepted_with_them_only() {
        let mut c = core();
        c.shared.set_credentials("1001", "secret-1001");
        c.shared.set_credentials("1002", "secret-1002");
        // 1001 is a phone that stops at a first challenge it cannot answer (baresip 1.0 and
        // SHA-256): it is offered MD5 alone; 1002 keeps the server's SHA-256, then MD5.
        c.shared
            .set_digest_algorithms("1001", vec![crate::digest::DigestAlgorithm::Md5]);
        let now = Instant::now();
        c.handle_message(register("1002", 1, None), peer(), now);
        let (status, challenges) = status_and_challenges(&mut c);
        assert_eq!(status, "SIP/2.0 401 Unauthorized");
        let algorithms: Vec<&str> = challenges.iter().map(|ch| algorithm_of(ch)).collect();
        assert_eq!(algorithms, vec!["SHA-256", "MD5"]);

        c.handle_message(register("1001", 1, None), peer(), now);
        let (status, challenges) = status_and_challenges(&mut c);
        assert_eq!(status, "SIP/2.0 401 Unauthorized");
        assert_eq!(challenges.len(), 1, "{challenges:?}");
        assert_eq!(algorithm_of(&challenges[0]), "MD5");

        // A SHA-256 answer from 1001, with a valid nonce and the right password, is not
        // accepted: 1001 was not offered SHA-256. It is challenged again.
        let sha256_challenge = challenges[0].replace("algorithm=MD5", "algorithm=SHA-256");
        let answer = |challenge: &str, nc: u32| {
            crate::digest::client_authorization(
                challenge,
                "1001",
                "secret-1001",
                "REGISTER",
                "sip:127.0.0.1",
                "c0ffee",
                nc,
            )
            .unwrap()
        };
        c.handle_message(
            register("1001", 2, Some(&answer(&sha256_challenge, 1))),
            peer(),
            now,
        );
        let (status, challenges_again) = status_and_challenges(&mut c);
        assert_eq!(status, "SIP/2.0 401 Unauthorized");
        assert_eq!(challenges_again.len(), 1);
        assert!(c.shared.registrar().contacts_of("1001", now).is_empty());

        // Its MD5 answer registers it.
        c.handle_message(
            register("1001", 3, Some(&answer(&challenges[0], 2))),
            peer(),
            now,
        );
        assert_eq!(status_and_challenges(&mut c).0, "SIP/2.0 200 OK");
        assert_eq!(c.shared.registrar().contacts_of("1001", now).len(), 1);

        // Back to the server's list: 1001 is offered SHA-256 first again.
        c.shared.set_digest_algorithms("1001", Vec::new());
        c.handle_message(register("1001", 4, None), peer(), now);
        let (_, challenges) = status_and_challenges(&mut c);
        let algorithms: Vec<&str> = challenges.iter().map(|ch| algorithm_of(ch)).collect();
        assert_eq!(algorithms, vec!["SHA-256", "MD5"]);
    }

    #[test]
    fn a_phone_s_reinvite_is_answered_with_the_settled_session_not_our_first_offer() {
        let mut c = core();
        let t0 = Instant::now();
        let id = CallId("agent-leg".into());
        let offer = crate::sdp::offer(
            &LocalCapabilities::default(),
            "127.0.0.1:20000".parse().unwrap(),
            1,
            101,
        );
        c.handle_command(
            Command::Dial {
                call_id: id.clone(),
                target: CallTarget::Uri(format!("sip:1001@{PEER}")),
                from_user: "8585".into(),
                display_name: None,
                offer,
            },
            t0,
        );
        let sent: Vec<Transmit> = c.drain_transmits().collect();
        let invite = crate::message::parse_head(&sent[0].bytes).unwrap().message;
        assert!(
            String::from_utf8_lossy(&sent[0].bytes).contains("RTP/AVP 8 0 101"),
            "our offer lists both laws"
        );
        // The desk phone settles on A-law and telephone-event.
        let answer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
        let ok = format!(
            "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=phone\r\nCall-ID: agent-leg\r\nCSeq: 1 INVITE\r\nContact: <sip:1001@{PEER}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{answer}",
            invite.header("Via").unwrap(),
            invite.header("From").unwrap(),
            invite.header("To").unwrap(),
            answer.len()
        );
        let Verdict::Response(r) = check_datagram(ok.as_bytes()) else {
            panic!("bad response")
        };
        c.handle_message(r, peer(), t0);
        assert_eq!(
            first_lines(&mut c),
            vec![format!("ACK sip:1001@{PEER} SIP/2.0")]
        );
        let _ = c.drain_events().count();
        // The agent presses Hold: the phone's re-INVITE offers `8 101`, send only.
        let hold = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n";
        let reinvite = request(&format!(
            "INVITE sip:guichet@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {PEER};branch=z9hG4bKhold\r\nFrom: {};tag=phone\r\nTo: {}\r\nCall-ID: agent-leg\r\nCSeq: 7 INVITE\r\nContact: <sip:1001@{PEER}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{hold}",
            invite.header("To").unwrap(),
            invite.header("From").unwrap(),
            hold.len()
        ));
        c.handle_message(reinvite, peer(), t0);
        let sent: Vec<Transmit> = c.drain_transmits().collect();
        assert_eq!(sent.len(), 1);
        let text = String::from_utf8_lossy(&sent[0].bytes);
        assert!(text.starts_with("SIP/2.0 200 OK"), "{text}");
        assert!(text.contains("m=audio 20000 RTP/AVP 8 101\r\n"), "{text}");
        assert!(!text.contains("PCMU"), "{text}");
        assert!(text.contains("a=recvonly"), "{text}");
        assert!(matches!(
            c.drain_events().next(),
            Some(SipEvent::HoldChanged { on_hold: true, .. })
        ));
    }
}
