//! Validation front: every byte that reaches the endpoint passes here first.
//!
//! It frames the message (datagram or stream), checks what RFC 3261 requires of a request
//! before anyone may act on it, and says either "go on", "answer this error", or "drop".
//! Reasons are specific ("Missing Call-ID header") so a peer's operator can fix their side.

use crate::message::{
    MAX_MESSAGE_SIZE, Message, NameAddr, ParseError, SipUri, StartLine, parse_cseq, parse_head,
    parse_via,
};

/// What to do with an incoming buffer.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// A well-formed request to act on.
    Request(Message),
    /// A well-formed response to match against client transactions.
    Response(Message),
    /// A request that must be answered with this error response (sent to the source).
    Reject(Message),
    /// Nothing can be answered: drop and count.
    Drop(&'static str),
}

/// Headers that may appear only once.
const SINGLE: [&str; 6] = [
    "To",
    "From",
    "Call-ID",
    "CSeq",
    "Max-Forwards",
    "Content-Type",
];

/// Validate one UDP datagram: its end is the end of the message.
pub fn check_datagram(buf: &[u8]) -> Verdict {
    let head = match parse_head(buf) {
        Ok(h) => h,
        Err(e) => return Verdict::Drop(drop_reason(&e)),
    };
    let available = &buf[head.body_offset.min(buf.len())..];
    let body = match content_length(&head.message) {
        Ok(None) => Ok(available.to_vec()),
        Ok(Some(n)) if n > available.len() => Err("Content-Length larger than body"),
        // Extra octets after the body are ignored (RFC 3261 §18.3).
        Ok(Some(n)) => Ok(available[..n].to_vec()),
        Err(e) => Err(e),
    };
    check_message(head.message, body, buf.len())
}

/// Outcome of trying to frame a message out of a stream buffer.
#[derive(Debug)]
pub enum StreamFrame {
    /// More bytes are needed.
    Incomplete,
    /// A message occupying `consumed` bytes of the buffer, with its verdict.
    Complete {
        /// Bytes to remove from the buffer.
        consumed: usize,
        /// What to do with it.
        verdict: Verdict,
    },
    /// The stream cannot be framed any more: answer (if given) and close the connection.
    Broken(Option<Message>),
}

/// Frame one message from a TCP stream buffer using `Content-Length` (RFC 3261 §18.3).
pub fn frame_stream(buf: &[u8]) -> StreamFrame {
    // Keep-alive CRLFs between messages are skipped by the caller or here.
    let Some(head_len) = crate::message::head_len(buf) else {
        if buf.len() > MAX_MESSAGE_SIZE {
            return StreamFrame::Broken(None);
        }
        return StreamFrame::Incomplete;
    };
    let head = match parse_head(&buf[..head_len]) {
        Ok(h) => h,
        Err(_) => return StreamFrame::Broken(None),
    };
    let len = match content_length(&head.message) {
        Ok(n) => n.unwrap_or(0),
        Err(reason) => {
            let reply = error_reply(&head.message, 400, reason);
            return StreamFrame::Broken(reply);
        }
    };
    let total = head.body_offset + len;
    if total > MAX_MESSAGE_SIZE {
        let reply = error_reply(&head.message, 513, "Message Too Large");
        return StreamFrame::Broken(reply);
    }
    if buf.len() < total {
        return StreamFrame::Incomplete;
    }
    let body = buf[head.body_offset..total].to_vec();
    StreamFrame::Complete {
        consumed: total,
        verdict: check_message(head.message, Ok(body), total),
    }
}

fn drop_reason(e: &ParseError) -> &'static str {
    match e {
        ParseError::Unterminated => "header section not terminated",
        ParseError::StartLine(r) => r,
        ParseError::HeaderSyntax(_) => "malformed header line",
        ParseError::NotUtf8 => "header section not UTF-8",
        // Future variants: drop, never guess.
    }
}

/// `Ok(None)` when absent, the length when present once (or repeated identically).
fn content_length(m: &Message) -> Result<Option<usize>, &'static str> {
    let mut found: Option<usize> = None;
    for h in m
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("Content-Length"))
    {
        let v = h.value.trim();
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err("Malformed Content-Length");
        }
        let n: usize = v.parse().map_err(|_| "Malformed Content-Length")?;
        if found.is_some_and(|f| f != n) {
            return Err("Multiple Content-Length values");
        }
        found = Some(n);
    }
    Ok(found)
}

fn check_message(m: Message, body: Result<Vec<u8>, &'static str>, size: usize) -> Verdict {
    match &m.start {
        StartLine::Response { version, .. } => {
            let ok = version == "SIP/2.0"
                && body.is_ok()
                && m.header("Call-ID").is_some()
                && m.header("CSeq").is_some_and(|c| parse_cseq(c).is_ok())
                && m.header_list("Via")
                    .first()
                    .is_some_and(|v| parse_via(v).is_ok());
            if !ok {
                return Verdict::Drop("malformed response");
            }
            let mut m = m;
            m.body = body.unwrap_or_default();
            Verdict::Response(m)
        }
        StartLine::Request {
            method,
            uri,
            version,
        } => {
            let method = method.clone();
            let uri = uri.clone();
            let version = version.clone();
            // Without a Via there is nowhere to send an answer.
            if m.header("Via").is_none() {
                return Verdict::Drop("request without Via");
            }
            let reject = |code: u16, reason: &str| {
                if method == "ACK" {
                    return Verdict::Drop("malformed ACK");
                }
                match error_reply(&m, code, reason) {
                    Some(r) => Verdict::Reject(r),
                    None => Verdict::Drop("unanswerable request"),
                }
            };
            if version != "SIP/2.0" {
                return reject(505, "Version Not Supported");
            }
            if size > MAX_MESSAGE_SIZE {
                return reject(513, "Message Too Large");
            }
            for name in ["To", "From", "Call-ID", "CSeq"] {
                if m.header(name).is_none() {
                    return reject(400, &format!("Missing {name} header"));
                }
            }
            for name in SINGLE {
                if m.header_count(name) > 1 {
                    return reject(400, &format!("Duplicate {name} header"));
                }
            }
            for v in m.header_list("Via") {
                if parse_via(&v).is_err() {
                    return reject(400, "Malformed Via header");
                }
            }
            match m.header("CSeq").map(parse_cseq) {
                Some(Ok((_, cm))) if cm != method => {
                    return reject(400, "CSeq method does not match request method");
                }
                Some(Ok(_)) => {}
                _ => return reject(400, "Malformed CSeq header"),
            }
            for name in ["From", "To"] {
                if m.header(name)
                    .map(NameAddr::parse)
                    .is_none_or(|r| r.is_err())
                {
                    return reject(400, &format!("Malformed {name} header"));
                }
            }
            for c in m.header_list("Contact") {
                if c != "*" && NameAddr::parse(&c).is_err() {
                    return reject(400, "Malformed Contact header");
                }
            }
            if let Some(mf) = m.header("Max-Forwards")
                && mf.parse::<u32>().is_err()
            {
                return reject(400, "Malformed Max-Forwards header");
            }
            if let Some(d) = m.header("Date")
                && !d.trim_end().ends_with(" GMT")
            {
                return reject(400, "Malformed Date header");
            }
            let lower = uri.to_ascii_lowercase();
            let after_user = uri.find('@').map_or(uri.as_str(), |i| &uri[i..]);
            if (lower.starts_with("sip:") || lower.starts_with("sips:")) && after_user.contains('?')
            {
                return reject(400, "Request-URI must not contain headers");
            }
            if (lower.starts_with("sip:") || lower.starts_with("sips:"))
                && SipUri::parse(&uri).is_err()
            {
                return reject(400, "Malformed Request-URI");
            }
            let body = match body {
                Ok(b) => b,
                Err(reason) => return reject(400, reason),
            };
            let mut m = m;
            m.body = body;
            Verdict::Request(m)
        }
    }
}

/// Build an error response to a request from whatever headers it has, or `None` when the
/// request lacks what a response must echo (Via).
pub fn error_reply(req: &Message, code: u16, reason: &str) -> Option<Message> {
    if req.method() == Some("ACK") || req.header("Via").is_none() {
        return None;
    }
    let mut r = response_to(req, code, reason);
    if let Some(to) = req.header("To")
        && req.tag_of("To").is_none()
        && NameAddr::parse(to).is_ok()
    {
        r.set("To", format!("{to};tag=gv{}", short_hash(req)));
    }
    Some(r)
}

/// A response echoing Via, From, To, Call-ID and CSeq (RFC 3261 §8.2.6.2).
pub fn response_to(req: &Message, code: u16, reason: &str) -> Message {
    let mut r = Message {
        start: StartLine::Response {
            version: "SIP/2.0".to_owned(),
            code,
            reason: reason.to_owned(),
        },
        headers: Vec::with_capacity(8),
        body: Vec::new(),
    };
    for h in &req.headers {
        let n = h.name.as_str();
        if ["Via", "From", "To", "Call-ID", "CSeq"]
            .iter()
            .any(|x| x.eq_ignore_ascii_case(n))
        {
            r.headers.push(h.clone());
        }
    }
    r.push("Server", "Guichet");
    r
}

/// A stable short tag derived from the request, so a retransmitted bad request gets the same
/// To tag.
fn short_hash(req: &Message) -> String {
    let mut h: u32 = 2166136261;
    for b in req
        .header("Call-ID")
        .unwrap_or_default()
        .bytes()
        .chain(req.top_branch().unwrap_or_default().bytes())
    {
        h = (h ^ u32::from(b)).wrapping_mul(16777619);
    }
    format!("{h:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(extra: &str) -> String {
        format!(
            "INVITE sip:8585@h SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:8585@h>\r\nCall-ID: c\r\n{extra}\r\n"
        )
    }

    fn reason(v: Verdict) -> (u16, String) {
        match v {
            Verdict::Reject(m) => match m.start {
                StartLine::Response { code, reason, .. } => (code, reason),
                StartLine::Request { .. } => (0, String::new()),
            },
            other => panic!("expected reject, got {other:?}"),
        }
    }

    #[test]
    fn answers_specific_400s() {
        assert_eq!(
            reason(check_datagram(req("").as_bytes())),
            (400, "Missing CSeq header".into())
        );
        assert_eq!(
            reason(check_datagram(req("CSeq: 1 BYE\r\n").as_bytes())),
            (400, "CSeq method does not match request method".into())
        );
        assert_eq!(
            reason(check_datagram(
                req("CSeq: 1 INVITE\r\nContent-Length: 50\r\n").as_bytes()
            )),
            (400, "Content-Length larger than body".into())
        );
        let v = req("CSeq: 1 INVITE\r\n").replace("SIP/2.0\r\nVia", "SIP/7.0\r\nVia");
        assert_eq!(reason(check_datagram(v.as_bytes())).0, 505);
        assert!(matches!(
            check_datagram(req("CSeq: 1 INVITE\r\n").as_bytes()),
            Verdict::Request(_)
        ));
    }

    #[test]
    fn stream_framing_waits_for_body() {
        let full = req("CSeq: 1 INVITE\r\nContent-Length: 4\r\n") + "abcdOPTIONS";
        let cut = &full.as_bytes()[..full.len() - 9];
        assert!(matches!(frame_stream(cut), StreamFrame::Incomplete));
        match frame_stream(full.as_bytes()) {
            StreamFrame::Complete { consumed, verdict } => {
                assert_eq!(consumed, full.len() - "OPTIONS".len());
                let Verdict::Request(m) = verdict else {
                    panic!("not a request")
                };
                assert_eq!(m.body, b"abcd");
            }
            other => panic!("{other:?}"),
        }
    }
}
