//! The WebRTC endpoint for browser agents, on str0m.
//!
//! One UDP socket serves every browser: datagrams are demultiplexed with
//! `Rtc::accepts`. Each browser is an ordinary media session for the rest
//! of the engine (player, bridge, mixer, DTMF events): its received audio
//! and telephone events enter through the same path as RTP packets, and the
//! clock's 20 ms frames leave through this run loop instead of a socket.
//! One DTLS certificate is generated at start and reused for every peer.

use crate::engine::{Inner, Session, SessionId};
use crate::rtp::RtpPacket;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use str0m::change::SdpOffer;
use str0m::config::DtlsCert;
use str0m::format::Codec as StrCodec;
use str0m::format::CodecExtra;
use str0m::media::{Frequency, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Payload type used inside the engine for telephone events coming from a
/// browser (the real one is whatever str0m negotiated).
pub(crate) const INTERNAL_TELE_PT: u8 = 101;

/// Messages to the run loop.
pub(crate) enum Command {
    /// A new browser peer whose offer was accepted.
    Add {
        session: Arc<Session>,
        rtc: Box<Rtc>,
    },
    /// One 20 ms frame (already G.711-encoded) for a browser.
    Media {
        session: SessionId,
        payload_type: u8,
        timestamp: u32,
        payload: Vec<u8>,
    },
    /// Start of an RFC 4733 event towards a browser: str0m queues the
    /// whole series (updates, three end packets) on the telephone-event
    /// payload type the browser negotiated.
    TelephoneEvent {
        session: SessionId,
        event: u8,
        duration_ms: u32,
        /// RTP timestamp of the event (the tick it starts on).
        timestamp: u32,
        /// Wall-clock time of that tick, so that events sent back to back
        /// keep their spacing whatever the delay of this queue.
        at: Instant,
    },
    /// A trickled remote ICE candidate.
    Candidate {
        session: SessionId,
        candidate: Candidate,
    },
    /// The session was released.
    Close(SessionId),
}

/// The shared endpoint: its address, certificate and command queue.
pub(crate) struct Endpoint {
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) local: SocketAddr,
    cert: DtlsCert,
}

impl Endpoint {
    /// Binds the shared socket and generates the DTLS certificate. The run
    /// loop is started separately by [`run`] once the engine exists.
    pub(crate) fn bind(
        addr: SocketAddr,
    ) -> std::io::Result<(Self, std::net::UdpSocket, mpsc::UnboundedReceiver<Command>)> {
        let socket = std::net::UdpSocket::bind(addr)?;
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let provider = str0m::crypto::from_feature_flags();
        let cert = provider
            .dtls_provider
            .generate_certificate()
            .ok_or_else(|| std::io::Error::other("cannot generate the DTLS certificate"))?;
        let (commands, rx) = mpsc::unbounded_channel();
        Ok((
            Endpoint {
                commands,
                local,
                cert,
            },
            socket,
            rx,
        ))
    }

    /// Builds a peer for `offer` (SDP text) and returns it with the SDP
    /// answer: PCMU plus telephone-event, one host candidate.
    pub(crate) fn accept(&self, offer: &str) -> Result<(Rtc, String), String> {
        let offer =
            SdpOffer::from_sdp_string(offer).map_err(|e| format!("invalid SDP offer: {e}"))?;
        let mut config = Rtc::builder()
            .clear_codecs()
            .enable_pcmu(true, false)
            .set_dtls_cert(self.cert.clone());
        config.codec_config().add_config(
            Pt::new_with_value(INTERNAL_TELE_PT),
            None,
            StrCodec::Tele,
            Frequency::EIGHT_KHZ,
            None,
            Default::default(),
        );
        let mut rtc = config.build(Instant::now());
        let candidate =
            Candidate::host(self.local, "udp").map_err(|e| format!("host candidate: {e}"))?;
        rtc.add_local_candidate(candidate);
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| format!("offer not acceptable: {e}"))?;
        Ok((rtc, answer.to_sdp_string()))
    }
}

/// Parses a trickled candidate as browsers send it (`candidate:...`, with
/// or without the `a=` prefix).
pub(crate) fn parse_candidate(line: &str) -> Result<Candidate, String> {
    let line = line.trim();
    let line = line.strip_prefix("a=").unwrap_or(line);
    Candidate::from_sdp_string(line).map_err(|e| format!("invalid ICE candidate: {e}"))
}

struct Peer {
    session: Arc<Session>,
    rtc: Rtc,
    mid: Option<Mid>,
    remote: Option<SocketAddr>,
    /// Source reported to the engine for every packet of this peer: fixed
    /// at the first media, since ICE (not latching) decides the path and
    /// connectivity checks may come from several candidates.
    media_from: Option<SocketAddr>,
}

/// The run loop: socket input, commands and str0m timeouts; after every
/// input the peer's outputs are drained (transmits, events) until it
/// returns its next timeout.
pub(crate) async fn run(
    inner: Weak<Inner>,
    socket: std::net::UdpSocket,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let Ok(socket) = UdpSocket::from_std(socket) else {
        return;
    };
    let Ok(local) = socket.local_addr() else {
        return;
    };
    let mut peers: HashMap<SessionId, Peer> = HashMap::new();
    let mut buf = vec![0u8; 2000];
    loop {
        let Some(engine) = inner.upgrade() else {
            return;
        };
        let mut next = Instant::now() + Duration::from_millis(100);
        for peer in peers.values_mut() {
            next = next.min(drain(&engine, &socket, peer));
        }
        peers.retain(|_, p| p.rtc.is_alive());
        drop(engine);
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                let Ok((n, source)) = received else { continue };
                let Ok(receive) = Receive::new(Protocol::Udp, source, local, &buf[..n]) else { continue };
                let input = Input::Receive(Instant::now(), receive);
                if let Some(peer) = peers.values_mut().find(|p| p.rtc.accepts(&input)) {
                    peer.remote = Some(source);
                    if let Err(e) = peer.rtc.handle_input(input) {
                        tracing::debug!(error = %e, "WebRTC input rejected");
                        peer.rtc.disconnect();
                    }
                }
            }
            command = commands.recv() => match command {
                None => return,
                Some(Command::Add { session, rtc }) => {
                    peers.insert(session.id, Peer { session, rtc: *rtc, mid: None, remote: None, media_from: None });
                }
                Some(Command::Candidate { session, candidate }) => {
                    if let Some(peer) = peers.get_mut(&session) {
                        peer.rtc.add_remote_candidate(candidate);
                    }
                }
                Some(Command::Close(id)) => {
                    if let Some(mut p) = peers.remove(&id) {
                        p.rtc.disconnect();
                    }
                }
                Some(Command::Media { session, payload_type, timestamp, payload }) => {
                    if let Some(peer) = peers.get_mut(&session) {
                        write_audio(peer, payload_type, timestamp, payload);
                    }
                }
                Some(Command::TelephoneEvent { session, event, duration_ms, timestamp, at }) => {
                    if let Some(peer) = peers.get_mut(&session) {
                        write_telephone_event(peer, event, duration_ms, timestamp, at);
                    }
                }
            },
            _ = tokio::time::sleep_until(next.into()) => {}
        }
        let now = Instant::now();
        for peer in peers.values_mut() {
            if let Err(e) = peer.rtc.handle_input(Input::Timeout(now)) {
                tracing::debug!(error = %e, "WebRTC timeout handling failed");
                peer.rtc.disconnect();
            }
        }
    }
}

/// The browser's writer and its PCMU payload type, once media is set up.
fn pcmu_writer(peer: &mut Peer) -> Option<(str0m::media::Writer<'_>, Pt)> {
    let writer = peer.rtc.writer(peer.mid?)?;
    let pt = writer
        .payload_params()
        .find(|p| p.spec().codec == StrCodec::PCMU)
        .map(|p| p.pt())?;
    Some((writer, pt))
}

fn write_audio(peer: &mut Peer, payload_type: u8, timestamp: u32, payload: Vec<u8>) {
    // Only PCMU audio goes this way; telephone events come as
    // `Command::TelephoneEvent`.
    if payload_type != 0 {
        return;
    }
    let Some((writer, pt)) = pcmu_writer(peer) else {
        return;
    };
    let time = MediaTime::new(timestamp as u64, Frequency::EIGHT_KHZ);
    if let Err(e) = writer.write(pt, Instant::now(), time, payload) {
        tracing::debug!(error = %e, "WebRTC write failed");
    }
}

/// Queues a complete RFC 4733 event; str0m picks the telephone-event
/// payload type negotiated with the browser at the audio's clock rate.
fn write_telephone_event(
    peer: &mut Peer,
    event: u8,
    duration_ms: u32,
    timestamp: u32,
    at: Instant,
) {
    let Some((writer, pt)) = pcmu_writer(peer) else {
        tracing::debug!("telephone event dropped: browser media not set up");
        return;
    };
    let tele = str0m::media::TelephoneEvent {
        event,
        end: true,
        volume: crate::dtmf::SEND_VOLUME,
        // str0m's bounds for one event.
        duration: Duration::from_millis(duration_ms.clamp(40, 6000) as u64),
    };
    let time = MediaTime::new(timestamp as u64, Frequency::EIGHT_KHZ);
    // An empty audio payload: only the telephone packets are sent.
    if let Err(e) = writer.telephone_event(tele).write(pt, at, time, Vec::new()) {
        tracing::debug!(error = %e, "WebRTC telephone event rejected");
    }
}

/// Polls a peer until it returns its next timeout.
fn drain(engine: &Inner, socket: &UdpSocket, peer: &mut Peer) -> Instant {
    loop {
        if !peer.rtc.is_alive() {
            return Instant::now();
        }
        match peer.rtc.poll_output() {
            Ok(Output::Timeout(t)) => return t,
            Ok(Output::Transmit(t)) => {
                if let Err(e) = socket.try_send_to(&t.contents, t.destination) {
                    tracing::debug!(error = %e, "WebRTC send failed");
                }
            }
            Ok(Output::Event(event)) => on_event(engine, peer, event),
            Err(e) => {
                tracing::debug!(error = %e, "WebRTC peer failed");
                peer.rtc.disconnect();
                return Instant::now();
            }
        }
    }
}

fn on_event(engine: &Inner, peer: &mut Peer, event: Event) {
    match event {
        Event::MediaAdded(m) => peer.mid = Some(m.mid),
        Event::IceConnectionStateChange(state) => {
            tracing::debug!(session = peer.session.id.0, ?state, "WebRTC ICE state");
        }
        Event::MediaData(d) => {
            let from = *peer.media_from.get_or_insert(
                peer.remote
                    .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
            );
            let sequence = d.seq_range.start().as_u16();
            let timestamp = d.time.numer() as u32;
            if let CodecExtra::Tele(ev) = d.codec_extra {
                let ticks = (ev.duration.as_millis() as u64 * 8).min(u16::MAX as u64) as u16;
                let payload = crate::dtmf::TelephoneEvent {
                    event: ev.event,
                    end: ev.end,
                    volume: ev.volume,
                    duration: ticks,
                }
                .to_bytes();
                let packet = RtpPacket {
                    marker: false,
                    payload_type: INTERNAL_TELE_PT,
                    sequence,
                    timestamp,
                    ssrc: 1,
                    payload: &payload,
                };
                engine.on_packet(&peer.session, &packet, from);
            } else if d.params.spec().codec == StrCodec::PCMU {
                let packet = RtpPacket {
                    marker: false,
                    payload_type: 0,
                    sequence,
                    timestamp,
                    ssrc: 1,
                    payload: &d.data,
                };
                engine.on_packet(&peer.session, &packet, from);
            }
        }
        _ => {}
    }
}
