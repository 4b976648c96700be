//! SDP (RFC 4566) model and offer/answer (RFC 3264) for G.711 audio with RFC 4733 events.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// Errors reading or negotiating SDP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// A line is not `x=value` or a required field is malformed.
    #[error("malformed SDP line {line}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// No audio stream with a codec both sides support (answer 488).
    #[error("no common codec")]
    NoCommonCodec,
}

/// Media direction attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Both ways (default).
    #[default]
    SendRecv,
    /// Offerer only sends (the other side is on hold).
    SendOnly,
    /// Offerer only receives.
    RecvOnly,
    /// No media (hold).
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_attr(a: &str) -> Option<Self> {
        Some(match a {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }

    /// The direction an answerer uses for an offer with this direction (RFC 3264 §6.1).
    pub fn reversed(self) -> Self {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
}

/// G.711 codecs this room negotiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// µ-law, static payload type 0.
    Pcmu,
    /// A-law, static payload type 8.
    Pcma,
}

impl Codec {
    /// Encoding name in `a=rtpmap`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// Static payload type.
    pub fn static_pt(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }
}

/// `a=rtpmap` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type.
    pub payload_type: u8,
    /// Encoding name as written.
    pub encoding: String,
    /// Clock rate.
    pub clock_rate: u32,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `audio`, `video`...
    pub kind: String,
    /// Port (0 = rejected/disabled stream).
    pub port: u16,
    /// `RTP/AVP`...
    pub protocol: String,
    /// Formats in preference order (payload types for RTP).
    pub formats: Vec<String>,
    /// `a=rtpmap` lines.
    pub rtpmaps: Vec<RtpMap>,
    /// `a=fmtp` lines as (payload type, parameters).
    pub fmtps: Vec<(u8, String)>,
    /// `a=ptime` in milliseconds.
    pub ptime: Option<u32>,
    /// Media-level direction.
    pub direction: Option<Direction>,
    /// Media-level `c=` address.
    pub connection: Option<IpAddr>,
    /// Other `a=` lines, kept verbatim (without `a=`).
    pub other: Vec<String>,
}

/// A session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=` username.
    pub origin_user: String,
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` version, incremented on each new offer/answer.
    pub session_version: u64,
    /// `o=` address.
    pub origin_address: IpAddr,
    /// `s=`.
    pub session_name: String,
    /// Session-level `c=`.
    pub connection: Option<IpAddr>,
    /// Session-level direction.
    pub direction: Option<Direction>,
    /// The `m=` sections.
    pub media: Vec<Media>,
}

fn ip_of(c: &str) -> Option<IpAddr> {
    // c=IN IP4 192.0.2.1[/ttl]
    let mut it = c.split_whitespace();
    let (_net, _ty, addr) = (it.next()?, it.next()?, it.next()?);
    addr.split('/').next()?.parse().ok()
}

impl SessionDescription {
    /// Parse an SDP body.
    pub fn parse(body: &[u8]) -> Result<Self, SdpError> {
        let text = std::str::from_utf8(body).map_err(|_| SdpError::Malformed {
            line: 0,
            reason: "not UTF-8",
        })?;
        let mut sd = SessionDescription {
            origin_user: "-".into(),
            session_id: 0,
            session_version: 0,
            origin_address: IpAddr::from([0, 0, 0, 0]),
            session_name: "-".into(),
            connection: None,
            direction: None,
            media: Vec::new(),
        };
        let mut seen_v = false;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end();
            if line.is_empty() {
                continue;
            }
            let bad = |reason| SdpError::Malformed {
                line: i + 1,
                reason,
            };
            let (k, v) = line.split_once('=').ok_or(bad("expected x=value"))?;
            if k.len() != 1 {
                return Err(bad("type must be one letter"));
            }
            match k {
                "v" => {
                    if v != "0" {
                        return Err(bad("version must be 0"));
                    }
                    seen_v = true;
                }
                "o" => {
                    let f: Vec<&str> = v.split_whitespace().collect();
                    if f.len() != 6 {
                        return Err(bad("o= needs six fields"));
                    }
                    sd.origin_user = f[0].to_owned();
                    sd.session_id = f[1].parse().map_err(|_| bad("bad session id"))?;
                    sd.session_version = f[2].parse().map_err(|_| bad("bad session version"))?;
                    sd.origin_address = f[5].parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
                }
                "s" => sd.session_name = v.to_owned(),
                "c" => {
                    let ip = ip_of(v).ok_or(bad("bad c= address"))?;
                    match sd.media.last_mut() {
                        Some(m) => m.connection = Some(ip),
                        None => sd.connection = Some(ip),
                    }
                }
                "m" => {
                    let f: Vec<&str> = v.split_whitespace().collect();
                    if f.len() < 3 {
                        return Err(bad("m= needs media, port, proto"));
                    }
                    let port = f[1].split('/').next().unwrap_or_default();
                    sd.media.push(Media {
                        kind: f[0].to_owned(),
                        port: port.parse().map_err(|_| bad("bad port"))?,
                        protocol: f[2].to_owned(),
                        formats: f[3..].iter().map(|s| (*s).to_owned()).collect(),
                        rtpmaps: Vec::new(),
                        fmtps: Vec::new(),
                        ptime: None,
                        direction: None,
                        connection: None,
                        other: Vec::new(),
                    });
                }
                "a" => {
                    let (name, value) = match v.split_once(':') {
                        Some((n, val)) => (n, Some(val)),
                        None => (v, None),
                    };
                    if let Some(d) = Direction::from_attr(name) {
                        match sd.media.last_mut() {
                            Some(m) => m.direction = Some(d),
                            None => sd.direction = Some(d),
                        }
                        continue;
                    }
                    let Some(m) = sd.media.last_mut() else {
                        continue;
                    };
                    match (name, value) {
                        ("rtpmap", Some(val)) => {
                            let (pt, enc) = val.split_once(' ').ok_or(bad("bad rtpmap"))?;
                            let mut e = enc.trim().split('/');
                            let encoding = e.next().unwrap_or_default().to_owned();
                            let clock_rate = e
                                .next()
                                .and_then(|r| r.parse().ok())
                                .ok_or(bad("bad rtpmap clock rate"))?;
                            m.rtpmaps.push(RtpMap {
                                payload_type: pt.parse().map_err(|_| bad("bad payload type"))?,
                                encoding,
                                clock_rate,
                            });
                        }
                        ("fmtp", Some(val)) => {
                            let (pt, params) = val.split_once(' ').unwrap_or((val, ""));
                            if let Ok(pt) = pt.parse() {
                                m.fmtps.push((pt, params.trim().to_owned()));
                            }
                        }
                        ("ptime", Some(val)) => m.ptime = val.trim().parse().ok(),
                        _ => m.other.push(v.to_owned()),
                    }
                }
                _ => {}
            }
        }
        if !seen_v {
            return Err(SdpError::Malformed {
                line: 1,
                reason: "missing v=0",
            });
        }
        Ok(sd)
    }

    /// Serialize with CRLF line ends.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::with_capacity(256);
        let family = |ip: &IpAddr| if ip.is_ipv4() { "IP4" } else { "IP6" };
        let _ = write!(
            s,
            "v=0\r\no={} {} {} IN {} {}\r\ns={}\r\n",
            self.origin_user,
            self.session_id,
            self.session_version,
            family(&self.origin_address),
            self.origin_address,
            self.session_name
        );
        if let Some(c) = &self.connection {
            let _ = write!(s, "c=IN {} {}\r\n", family(c), c);
        }
        s.push_str("t=0 0\r\n");
        if let Some(d) = self.direction {
            let _ = write!(s, "a={}\r\n", d.attr());
        }
        for m in &self.media {
            let _ = write!(s, "m={} {} {}", m.kind, m.port, m.protocol);
            for f in &m.formats {
                let _ = write!(s, " {f}");
            }
            s.push_str("\r\n");
            if let Some(c) = &m.connection {
                let _ = write!(s, "c=IN {} {}\r\n", family(c), c);
            }
            for r in &m.rtpmaps {
                let _ = write!(
                    s,
                    "a=rtpmap:{} {}/{}\r\n",
                    r.payload_type, r.encoding, r.clock_rate
                );
            }
            for (pt, p) in &m.fmtps {
                let _ = write!(s, "a=fmtp:{pt} {p}\r\n");
            }
            if let Some(p) = m.ptime {
                let _ = write!(s, "a=ptime:{p}\r\n");
            }
            for o in &m.other {
                let _ = write!(s, "a={o}\r\n");
            }
            if let Some(d) = m.direction {
                let _ = write!(s, "a={}\r\n", d.attr());
            }
        }
        s.into_bytes()
    }

    /// The first audio stream that is not disabled.
    pub fn audio(&self) -> Option<&Media> {
        self.media.iter().find(|m| m.kind == "audio" && m.port != 0)
    }

    /// The effective direction of the first audio stream.
    pub fn audio_direction(&self) -> Direction {
        self.audio()
            .and_then(|m| m.direction)
            .or(self.direction)
            .unwrap_or_default()
    }

    /// True when the offer puts us on hold: sendonly/inactive, or the RFC 2543 `c=0.0.0.0`.
    pub fn is_hold(&self) -> bool {
        let zero = self
            .audio()
            .and_then(|m| m.connection)
            .or(self.connection)
            .is_some_and(|ip| ip.is_unspecified());
        zero || matches!(
            self.audio_direction(),
            Direction::SendOnly | Direction::Inactive
        )
    }

    /// Where to send RTP for the first audio stream.
    pub fn audio_rtp_addr(&self) -> Option<SocketAddr> {
        let m = self.audio()?;
        let ip = m.connection.or(self.connection)?;
        Some(SocketAddr::new(ip, m.port))
    }
}

/// What this side can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCapabilities {
    /// Codecs in our order of preference.
    pub codecs: Vec<Codec>,
    /// Offer/accept RFC 4733 telephone-event.
    pub telephone_event: bool,
    /// Packet time we send, ms.
    pub ptime: u32,
}

impl Default for LocalCapabilities {
    fn default() -> Self {
        LocalCapabilities {
            codecs: vec![Codec::Pcma, Codec::Pcmu],
            telephone_event: true,
            ptime: 20,
        }
    }
}

/// The result of negotiation: what the media room needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedMedia {
    /// The codec.
    pub codec: Codec,
    /// Its payload type as negotiated.
    pub payload_type: u8,
    /// telephone-event payload type, when both sides support it.
    pub telephone_event: Option<u8>,
    /// RFC 2198 `red` payload type whose blocks are all telephone events
    /// (`a=fmtp:PT TE/TE/...`), when offered along with telephone-event.
    pub telephone_event_red: Option<u8>,
    /// Where to send RTP.
    pub remote_rtp: Option<SocketAddr>,
    /// Packet time, ms.
    pub ptime: u32,
    /// Our direction.
    pub direction: Direction,
}

fn find_codec(m: &Media, codec: Codec) -> Option<u8> {
    for f in &m.formats {
        let Ok(pt) = f.parse::<u8>() else { continue };
        match m.rtpmaps.iter().find(|r| r.payload_type == pt) {
            Some(r) if r.encoding.eq_ignore_ascii_case(codec.name()) && r.clock_rate == 8000 => {
                return Some(pt);
            }
            None if pt == codec.static_pt() => return Some(pt),
            _ => {}
        }
    }
    None
}

fn find_event(m: &Media) -> Option<u8> {
    m.rtpmaps
        .iter()
        .find(|r| r.encoding.eq_ignore_ascii_case("telephone-event") && r.clock_rate == 8000)
        .map(|r| r.payload_type)
        .filter(|pt| m.formats.iter().any(|f| f == &pt.to_string()))
}

/// The offer's `red/8000` payload type carrying only telephone events of
/// payload type `event` (RFC 4733 §2.6, RFC 2198 §5: `a=fmtp:PT TE/TE/...`),
/// with that fmtp value. Redundancy of audio is not accepted.
fn find_event_red(m: &Media, event: u8) -> Option<(u8, String)> {
    m.rtpmaps
        .iter()
        .filter(|r| r.encoding.eq_ignore_ascii_case("red") && r.clock_rate == 8000)
        .map(|r| r.payload_type)
        .filter(|pt| m.formats.iter().any(|f| f == &pt.to_string()))
        .find_map(|pt| {
            let (_, blocks) = m.fmtps.iter().find(|(p, _)| *p == pt)?;
            let blocks = blocks.trim();
            blocks
                .split('/')
                .all(|b| b.trim().parse::<u8>() == Ok(event))
                .then(|| (pt, blocks.to_owned()))
        })
}

fn audio_media(
    codec: Codec,
    pt: u8,
    event: Option<u8>,
    port: u16,
    ptime: u32,
    direction: Direction,
) -> Media {
    let mut formats = vec![pt.to_string()];
    let mut rtpmaps = vec![RtpMap {
        payload_type: pt,
        encoding: codec.name().to_owned(),
        clock_rate: 8000,
    }];
    let mut fmtps = Vec::new();
    if let Some(e) = event {
        formats.push(e.to_string());
        rtpmaps.push(RtpMap {
            payload_type: e,
            encoding: "telephone-event".to_owned(),
            clock_rate: 8000,
        });
        fmtps.push((e, "0-16".to_owned()));
    }
    Media {
        kind: "audio".into(),
        port,
        protocol: "RTP/AVP".into(),
        formats,
        rtpmaps,
        fmtps,
        ptime: Some(ptime),
        direction: Some(direction),
        connection: None,
        other: Vec::new(),
    }
}

/// Answer `offer` (RFC 3264 §6): the first audio stream gets our preferred common codec and
/// the offer's telephone-event payload type; every other stream is refused with port 0.
pub fn answer(
    offer: &SessionDescription,
    caps: &LocalCapabilities,
    local_rtp: SocketAddr,
    session_id: u64,
) -> Result<(SessionDescription, NegotiatedMedia), SdpError> {
    let mut chosen: Option<(usize, Codec, u8, Option<u8>)> = None;
    for (i, m) in offer.media.iter().enumerate() {
        if m.kind != "audio" || m.port == 0 || !m.protocol.eq_ignore_ascii_case("RTP/AVP") {
            continue;
        }
        // The offerer's order wins among codecs we support (RFC 3264 §6.1 lets us pick).
        let mut best: Option<(usize, Codec, u8)> = None;
        for c in &caps.codecs {
            if let Some(pt) = find_codec(m, *c) {
                let rank = m
                    .formats
                    .iter()
                    .position(|f| f == &pt.to_string())
                    .unwrap_or(usize::MAX);
                if best.is_none_or(|(r, _, _)| rank < r) {
                    best = Some((rank, *c, pt));
                }
            }
        }
        if let Some((_, c, pt)) = best {
            let ev = if caps.telephone_event {
                find_event(m)
            } else {
                None
            };
            chosen = Some((i, c, pt, ev));
            break;
        }
    }
    let (index, codec, pt, ev) = chosen.ok_or(SdpError::NoCommonCodec)?;
    let red = ev.and_then(|e| find_event_red(&offer.media[index], e));
    let offer_audio = &offer.media[index];
    let direction = offer_audio
        .direction
        .or(offer.direction)
        .unwrap_or_default()
        .reversed();
    let ptime = offer_audio.ptime.unwrap_or(caps.ptime);
    let mut media = Vec::with_capacity(offer.media.len());
    for (i, m) in offer.media.iter().enumerate() {
        if i == index {
            let mut audio = audio_media(codec, pt, ev, local_rtp.port(), ptime, direction);
            if let Some((red_pt, blocks)) = &red {
                audio.formats.push(red_pt.to_string());
                audio.rtpmaps.push(RtpMap {
                    payload_type: *red_pt,
                    encoding: "red".to_owned(),
                    clock_rate: 8000,
                });
                audio.fmtps.push((*red_pt, blocks.clone()));
            }
            media.push(audio);
        } else {
            media.push(Media {
                kind: m.kind.clone(),
                port: 0,
                protocol: m.protocol.clone(),
                formats: m.formats.iter().take(1).cloned().collect(),
                rtpmaps: Vec::new(),
                fmtps: Vec::new(),
                ptime: None,
                direction: None,
                connection: None,
                other: Vec::new(),
            });
        }
    }
    let remote_ip = offer_audio.connection.or(offer.connection);
    let sd = SessionDescription {
        origin_user: "guichet".into(),
        session_id,
        session_version: 1,
        origin_address: local_rtp.ip(),
        session_name: "Guichet".into(),
        connection: Some(local_rtp.ip()),
        direction: None,
        media,
    };
    let neg = NegotiatedMedia {
        codec,
        payload_type: pt,
        telephone_event: ev,
        telephone_event_red: red.map(|(pt, _)| pt),
        remote_rtp: remote_ip.map(|ip| SocketAddr::new(ip, offer_audio.port)),
        ptime,
        direction,
    };
    Ok((sd, neg))
}

/// Build an offer for an outgoing call (agent or trunk). telephone-event uses payload type
/// `event_pt` (commonly 101).
pub fn offer(
    caps: &LocalCapabilities,
    local_rtp: SocketAddr,
    session_id: u64,
    event_pt: u8,
) -> SessionDescription {
    let mut m = audio_media(
        caps.codecs.first().copied().unwrap_or(Codec::Pcma),
        caps.codecs
            .first()
            .copied()
            .unwrap_or(Codec::Pcma)
            .static_pt(),
        None,
        local_rtp.port(),
        caps.ptime,
        Direction::SendRecv,
    );
    for c in caps.codecs.iter().skip(1) {
        m.formats.push(c.static_pt().to_string());
        m.rtpmaps.push(RtpMap {
            payload_type: c.static_pt(),
            encoding: c.name().into(),
            clock_rate: 8000,
        });
    }
    if caps.telephone_event {
        m.formats.push(event_pt.to_string());
        m.rtpmaps.push(RtpMap {
            payload_type: event_pt,
            encoding: "telephone-event".into(),
            clock_rate: 8000,
        });
        m.fmtps.push((event_pt, "0-16".into()));
    }
    SessionDescription {
        origin_user: "guichet".into(),
        session_id,
        session_version: 1,
        origin_address: local_rtp.ip(),
        session_name: "Guichet".into(),
        connection: Some(local_rtp.ip()),
        direction: None,
        media: vec![m],
    }
}

/// Our `offer` once `answer` (read from the peer's answer) settled the session: its audio
/// stream keeps only the negotiated codec and telephone-event. It is what our later answers
/// in the dialog (to the peer's re-INVITEs: hold, resume) describe; an offer's whole codec list
/// there would announce a codec the peer's new offer may not carry (RFC 3264 §6.1) and
/// reopen a choice the peer already made.
pub fn settled_offer(offer: &SessionDescription, answer: &NegotiatedMedia) -> SessionDescription {
    let mut settled = offer.clone();
    for m in settled.media.iter_mut().filter(|m| m.kind == "audio") {
        let Some(codec_pt) = find_codec(m, answer.codec) else {
            continue;
        };
        let keep = [
            Some(codec_pt),
            find_event(m).filter(|_| answer.telephone_event.is_some()),
        ];
        let kept = |pt: u8| keep.contains(&Some(pt));
        m.formats.retain(|f| f.parse::<u8>().is_ok_and(kept));
        m.rtpmaps.retain(|r| kept(r.payload_type));
        m.fmtps.retain(|(pt, _)| kept(*pt));
    }
    settled
}

/// Read the peer's answer to our offer: the first codec it kept.
pub fn read_answer(answer: &SessionDescription) -> Result<NegotiatedMedia, SdpError> {
    let m = answer.audio().ok_or(SdpError::NoCommonCodec)?;
    for c in [Codec::Pcmu, Codec::Pcma] {
        if let Some(pt) = find_codec(m, c)
            && m.formats.first().is_some_and(|f| f == &pt.to_string())
        {
            return Ok(NegotiatedMedia {
                codec: c,
                payload_type: pt,
                telephone_event: find_event(m),
                // Guichet's offers carry no `red`, so its answers cannot.
                telephone_event_red: None,
                remote_rtp: answer.audio_rtp_addr(),
                ptime: m.ptime.unwrap_or(20),
                direction: m.direction.or(answer.direction).unwrap_or_default(),
            });
        }
    }
    // First format was something else: take any G.711 it lists.
    for c in [Codec::Pcmu, Codec::Pcma] {
        if let Some(pt) = find_codec(m, c) {
            return Ok(NegotiatedMedia {
                codec: c,
                payload_type: pt,
                telephone_event: find_event(m),
                // Guichet's offers carry no `red`, so its answers cannot.
                telephone_event_red: None,
                remote_rtp: answer.audio_rtp_addr(),
                ptime: m.ptime.unwrap_or(20),
                direction: m.direction.or(answer.direction).unwrap_or_default(),
            });
        }
    }
    Err(SdpError::NoCommonCodec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offer_settled_by_the_answer_keeps_the_chosen_codec_and_telephone_event() {
        let ours = offer(
            &LocalCapabilities::default(),
            "10.0.0.1:7000".parse().unwrap(),
            1,
            101,
        );
        // A phone keeping PCMA and telephone-event (baresip set to A-law).
        let phone = SessionDescription::parse(
            b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n",
        )
        .unwrap();
        let settled = settled_offer(&ours, &read_answer(&phone).unwrap());
        let text = String::from_utf8(settled.to_bytes()).unwrap();
        assert!(text.contains("m=audio 7000 RTP/AVP 8 101\r\n"), "{text}");
        assert!(!text.contains("PCMU"), "{text}");
        assert!(text.contains("a=fmtp:101 0-16"), "{text}");
        // A phone without telephone-event, keeping PCMU: PCMU alone.
        let phone = SessionDescription::parse(
            b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
        )
        .unwrap();
        let settled = settled_offer(&ours, &read_answer(&phone).unwrap());
        let audio = settled.audio().unwrap();
        assert_eq!(audio.formats, vec!["0".to_owned()]);
        assert!(audio.fmtps.is_empty() && audio.rtpmaps.len() == 1);
        // Everything else of the offer is untouched.
        assert_eq!(audio.port, 7000);
        assert_eq!(settled.session_id, ours.session_id);
    }

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 96\r\nc=IN IP4 192.0.2.9\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\na=ptime:30\r\na=sendonly\r\nm=video 5000 RTP/AVP 31\r\n";

    #[test]
    fn answers_red_for_telephone_events_only() {
        let caps = LocalCapabilities::default();
        let local = "10.0.0.1:7000".parse().unwrap();
        let with_red = |fmtp: &str| {
            format!(
                "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 101 100\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=rtpmap:100 red/8000\r\na=fmtp:100 {fmtp}\r\n"
            )
        };
        let o = SessionDescription::parse(with_red("101/101/101").as_bytes()).unwrap();
        let (a, n) = answer(&o, &caps, local, 1).unwrap();
        assert_eq!(n.telephone_event, Some(101));
        assert_eq!(n.telephone_event_red, Some(100));
        let text = String::from_utf8(a.to_bytes()).unwrap();
        assert!(text.contains("m=audio 7000 RTP/AVP 8 101 100"), "{text}");
        assert!(text.contains("a=rtpmap:100 red/8000"), "{text}");
        assert!(text.contains("a=fmtp:100 101/101/101"), "{text}");
        // Redundant audio (blocks of PT 8) is not accepted.
        let o = SessionDescription::parse(with_red("8/8").as_bytes()).unwrap();
        let (a, n) = answer(&o, &caps, local, 1).unwrap();
        assert_eq!(n.telephone_event_red, None);
        assert!(
            !String::from_utf8(a.to_bytes())
                .unwrap()
                .contains("red/8000")
        );
        // Without telephone-event in the answer, no red either.
        let no_events = LocalCapabilities {
            telephone_event: false,
            ..LocalCapabilities::default()
        };
        let o = SessionDescription::parse(with_red("101/101").as_bytes()).unwrap();
        let (a, n) = answer(&o, &no_events, local, 1).unwrap();
        assert_eq!((n.telephone_event, n.telephone_event_red), (None, None));
        assert!(
            !String::from_utf8(a.to_bytes())
                .unwrap()
                .contains("red/8000")
        );
    }

    #[test]
    fn answers_with_offer_order_event_pt_and_direction() {
        let o = SessionDescription::parse(OFFER.as_bytes()).unwrap();
        assert!(o.is_hold());
        let (a, n) = answer(
            &o,
            &LocalCapabilities::default(),
            "10.0.0.1:7000".parse().unwrap(),
            5,
        )
        .unwrap();
        assert_eq!(n.codec, Codec::Pcmu);
        assert_eq!(n.telephone_event, Some(96));
        assert_eq!(n.ptime, 30);
        assert_eq!(n.direction, Direction::RecvOnly);
        assert_eq!(n.remote_rtp, Some("192.0.2.9:4000".parse().unwrap()));
        let text = String::from_utf8(a.to_bytes()).unwrap();
        assert!(text.contains("m=audio 7000 RTP/AVP 0 96\r\n"), "{text}");
        assert!(text.contains("a=rtpmap:96 telephone-event/8000"));
        assert!(text.contains("a=recvonly"));
        assert!(text.contains("m=video 0 RTP/AVP 31"));
        let back = SessionDescription::parse(&a.to_bytes()).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn no_common_codec_and_offer_roundtrip() {
        let o = SessionDescription::parse(b"v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 1.1.1.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\n").unwrap();
        assert_eq!(
            answer(
                &o,
                &LocalCapabilities::default(),
                "10.0.0.1:7000".parse().unwrap(),
                1
            )
            .unwrap_err(),
            SdpError::NoCommonCodec
        );
        let off = offer(
            &LocalCapabilities::default(),
            "10.0.0.1:7000".parse().unwrap(),
            3,
            101,
        );
        let n = read_answer(&off).unwrap();
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event),
            (Codec::Pcma, 8, Some(101))
        );
        assert!(SessionDescription::parse(b"m=audio x\r\n").is_err());
    }
}
