//! SIP message model: a strict, allocation-light parser and a serializer.
//!
//! The parser is deliberately our own so the validation front can say exactly what is wrong
//! with a message (RFC 3261 §7, RFC 4475). It only frames and splits: header values are read
//! by the typed helpers below (`Via`, name-addr, URI, CSeq) when something needs them.

use std::fmt::Write as _;

/// Largest message accepted on any transport (bytes). Larger ones get 513 or are dropped.
pub const MAX_MESSAGE_SIZE: usize = 16 * 1024;

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `METHOD SP Request-URI SP SIP-Version`.
    Request {
        /// The method token, case-sensitive (RFC 3261 §7.1).
        method: String,
        /// The Request-URI as written.
        uri: String,
        /// The version token, e.g. `SIP/2.0`.
        version: String,
    },
    /// `SIP-Version SP Status-Code SP Reason-Phrase`.
    Response {
        /// The version token.
        version: String,
        /// 100..=699.
        code: u16,
        /// The reason phrase (may be empty).
        reason: String,
    },
}

/// One header field, unfolded, with compact names expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Field name (compact forms expanded to the long form).
    pub name: String,
    /// Field value, trimmed, continuation lines joined with one space.
    pub value: String,
}

/// A parsed SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Request or status line.
    pub start: StartLine,
    /// Header fields in order.
    pub headers: Vec<Header>,
    /// The body, exactly `Content-Length` bytes.
    pub body: Vec<u8>,
}

/// Why bytes could not be turned into a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// No blank line ends the header section.
    #[error("header section not terminated")]
    Unterminated,
    /// The start line is malformed.
    #[error("malformed start line: {0}")]
    StartLine(&'static str),
    /// A header line is malformed.
    #[error("malformed header line: {0}")]
    HeaderSyntax(String),
    /// Not UTF-8 in the header section.
    #[error("header section is not UTF-8")]
    NotUtf8,
}

/// The result of splitting a buffer: the message head and where its body must come from.
#[derive(Debug, Clone)]
pub struct Head {
    /// Start line and headers, body empty.
    pub message: Message,
    /// Offset of the first body byte in the buffer.
    pub body_offset: usize,
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

/// True for a non-empty RFC 3261 token.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_token_char)
}

fn expand_compact(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "i" => "Call-ID",
        "m" => "Contact",
        "e" => "Content-Encoding",
        "l" => "Content-Length",
        "c" => "Content-Type",
        "f" => "From",
        "s" => "Subject",
        "k" => "Supported",
        "t" => "To",
        "v" => "Via",
        "o" => "Event",
        "r" => "Refer-To",
        "u" => "Allow-Events",
        "x" => "Session-Expires",
        _ => return None,
    })
}

/// Find the end of the header section: returns (end of headers, start of body).
fn find_head_end(buf: &[u8]) -> Option<(usize, usize)> {
    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
        return Some((p, p + 4));
    }
    buf.windows(2)
        .position(|w| w == b"\n\n")
        .map(|p| (p, p + 2))
}

/// Length of the head if `buf` holds a complete header section (for stream framing).
pub fn head_len(buf: &[u8]) -> Option<usize> {
    find_head_end(buf).map(|(_, b)| b)
}

/// Parse the start line and header fields of `buf`. The body is left to the caller, who knows
/// the transport (a datagram ends the message; a stream needs `Content-Length`).
pub fn parse_head(buf: &[u8]) -> Result<Head, ParseError> {
    // Tolerate leading CRLFs (keep-alives, RFC 5626 and RFC 3261 §7.5).
    let start = buf
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(buf.len());
    let buf_from = &buf[start..];
    let (end, body) = find_head_end(buf_from).ok_or(ParseError::Unterminated)?;
    let text = std::str::from_utf8(&buf_from[..end]).map_err(|_| ParseError::NotUtf8)?;
    let mut lines: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.starts_with(' ') || line.starts_with('\t') {
            let has_header = lines.len() > 1;
            match lines.last_mut() {
                Some(prev) if has_header => {
                    prev.push(' ');
                    prev.push_str(line.trim());
                }
                _ => return Err(ParseError::StartLine("continuation of the start line")),
            }
        } else {
            lines.push(line.to_owned());
        }
    }
    let mut it = lines.into_iter();
    let first = it.next().ok_or(ParseError::StartLine("empty"))?;
    let start_line = parse_start_line(&first)?;
    let mut headers = Vec::new();
    for line in it {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| ParseError::HeaderSyntax(format!("no colon in {:.40}", line)))?;
        let name = name.trim_end_matches([' ', '\t']);
        if !is_token(name) {
            return Err(ParseError::HeaderSyntax(format!(
                "bad field name {name:.40}"
            )));
        }
        let name = expand_compact(name).map_or_else(|| name.to_owned(), str::to_owned);
        headers.push(Header {
            name,
            value: value.trim().to_owned(),
        });
    }
    Ok(Head {
        message: Message {
            start: start_line,
            headers,
            body: Vec::new(),
        },
        body_offset: start + body,
    })
}

fn is_version(v: &str) -> bool {
    let Some(rest) = v.strip_prefix("SIP/") else {
        return false;
    };
    let Some((a, b)) = rest.split_once('.') else {
        return false;
    };
    !a.is_empty()
        && !b.is_empty()
        && a.bytes().all(|c| c.is_ascii_digit())
        && b.bytes().all(|c| c.is_ascii_digit())
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    if line.starts_with("SIP/") {
        let mut parts = line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        let code = parts.next().unwrap_or_default();
        let reason = parts.next().unwrap_or_default();
        if !is_version(version) {
            return Err(ParseError::StartLine("bad version in status line"));
        }
        if code.len() != 3 || !code.bytes().all(|c| c.is_ascii_digit()) {
            return Err(ParseError::StartLine("status code is not three digits"));
        }
        let code: u16 = code
            .parse()
            .map_err(|_| ParseError::StartLine("bad status code"))?;
        if !(100..=699).contains(&code) {
            return Err(ParseError::StartLine("status code out of range"));
        }
        return Ok(StartLine::Response {
            version: version.to_owned(),
            code,
            reason: reason.to_owned(),
        });
    }
    let parts: Vec<&str> = line.split(' ').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(ParseError::StartLine(
            "request line must be METHOD SP Request-URI SP SIP-Version",
        ));
    }
    if !is_token(parts[0]) {
        return Err(ParseError::StartLine("method is not a token"));
    }
    let uri = parts[1];
    if uri.starts_with('<') || uri.contains('\t') || !uri.contains(':') {
        return Err(ParseError::StartLine("malformed Request-URI"));
    }
    if !is_version(parts[2]) {
        return Err(ParseError::StartLine("malformed SIP version"));
    }
    Ok(StartLine::Request {
        method: parts[0].to_owned(),
        uri: uri.to_owned(),
        version: parts[2].to_owned(),
    })
}

impl Message {
    /// A new request with no headers.
    pub fn request(method: &str, uri: &str) -> Self {
        Message {
            start: StartLine::Request {
                method: method.to_owned(),
                uri: uri.to_owned(),
                version: "SIP/2.0".to_owned(),
            },
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The method of a request, `None` for a response.
    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI of a request.
    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every value of a header, comma-separated lists split (outside quotes and `<>`).
    pub fn header_list(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .flat_map(|h| split_list(&h.value))
            .collect()
    }

    /// How many header lines carry this name.
    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .count()
    }

    /// Append a header.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push(Header {
            name: name.to_owned(),
            value: value.into(),
        });
    }

    /// Remove every header of this name.
    pub fn remove(&mut self, name: &str) {
        self.headers.retain(|h| !h.name.eq_ignore_ascii_case(name));
    }

    /// Replace (or add) a header.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.remove(name);
        self.push(name, value);
    }

    /// Serialize, writing `Content-Length` from the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::with_capacity(512 + self.body.len());
        match &self.start {
            StartLine::Request {
                method,
                uri,
                version,
            } => {
                let _ = write!(s, "{method} {uri} {version}\r\n");
            }
            StartLine::Response {
                version,
                code,
                reason,
            } => {
                let _ = write!(s, "{version} {code} {reason}\r\n");
            }
        }
        for h in &self.headers {
            if h.name.eq_ignore_ascii_case("Content-Length") {
                continue;
            }
            let _ = write!(s, "{}: {}\r\n", h.name, h.value);
        }
        let _ = write!(s, "Content-Length: {}\r\n\r\n", self.body.len());
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    /// CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, String)> {
        parse_cseq(self.header("CSeq")?).ok()
    }

    /// The branch parameter of the top Via.
    pub fn top_branch(&self) -> Option<String> {
        let vias = self.header_list("Via");
        let top = parse_via(vias.first()?).ok()?;
        top.param("branch").map(str::to_owned)
    }

    /// The tag parameter of a From or To header.
    pub fn tag_of(&self, header: &str) -> Option<String> {
        let na = NameAddr::parse(self.header(header)?).ok()?;
        na.param("tag").map(str::to_owned)
    }
}

/// Split a comma-separated header value, ignoring commas in quotes and angle brackets.
pub fn split_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut in_angle = false;
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            escaped = false;
            cur.push(c);
            continue;
        }
        match c {
            '\\' if in_quote => {
                escaped = true;
                cur.push(c);
            }
            '"' => {
                in_quote = !in_quote;
                cur.push(c);
            }
            '<' if !in_quote => {
                in_angle = true;
                cur.push(c);
            }
            '>' if !in_quote => {
                in_angle = false;
                cur.push(c);
            }
            ',' if !in_quote && !in_angle => {
                out.push(cur.trim().to_owned());
                cur.clear();
            }
            _ => cur.push(c),
        }
    }
    out.push(cur.trim().to_owned());
    out
}

/// Parse `;name[=value]` parameters (LWS around `;` and `=` allowed).
fn parse_params(s: &str) -> Result<Vec<(String, Option<String>)>, &'static str> {
    let mut out = Vec::new();
    if s.trim().is_empty() {
        return Ok(out);
    }
    let s = s.trim();
    let s = s.strip_prefix(';').ok_or("parameters must start with ;")?;
    for p in split_outside_quotes(s, ';') {
        let p = p.trim();
        let (n, v) = match p.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().to_owned())),
            None => (p, None),
        };
        if !is_token(n) {
            return Err("empty or malformed parameter");
        }
        if let Some(v) = &v
            && v.is_empty()
        {
            return Err("empty parameter value");
        }
        out.push((n.to_owned(), v.map(|v| unquote(&v))));
    }
    Ok(out)
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut in_quote = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            c if c == sep && !in_quote => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// Remove surrounding quotes and backslash escapes.
pub fn unquote(s: &str) -> String {
    let Some(inner) = s.strip_prefix('"').and_then(|x| x.strip_suffix('"')) else {
        return s.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut escaped = false;
    for c in inner.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// A parsed `Via` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Transport token, upper-cased (`UDP`, `TCP`, ...).
    pub transport: String,
    /// sent-by host.
    pub host: String,
    /// sent-by port, if written.
    pub port: Option<u16>,
    /// Parameters in order.
    pub params: Vec<(String, Option<String>)>,
}

impl Via {
    /// Value of a parameter (`Some("")` for a flag such as a bare `rport`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }
}

/// Parse one Via entry (`SIP/2.0/UDP host:port;params`).
pub fn parse_via(s: &str) -> Result<Via, &'static str> {
    let (proto, params) = match s.find(';') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let mut slash = proto.splitn(3, '/');
    let name = slash.next().unwrap_or_default().trim();
    let version = slash.next().unwrap_or_default().trim();
    let rest = slash.next().ok_or("missing protocol")?.trim();
    if !name.eq_ignore_ascii_case("SIP") || !is_token(version) {
        return Err("bad protocol");
    }
    let mut words = rest.split_whitespace();
    let transport = words.next().ok_or("missing transport")?;
    let sent_by = words.next().ok_or("missing sent-by")?;
    if words.next().is_some() || !is_token(transport) {
        return Err("bad sent-by");
    }
    let (host, port) = split_host_port(sent_by)?;
    Ok(Via {
        transport: transport.to_ascii_uppercase(),
        host,
        port,
        params: parse_params(params)?,
    })
}

fn split_host_port(s: &str) -> Result<(String, Option<u16>), &'static str> {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or("bad IPv6 reference")?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().map_err(|_| "bad port")?),
            None if after.is_empty() => None,
            None => return Err("bad host"),
        };
        return Ok((h.to_owned(), port));
    }
    let (h, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p.parse().map_err(|_| "bad port")?)),
        None => (s, None),
    };
    if h.is_empty()
        || !h
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
    {
        return Err("bad host");
    }
    Ok((h.to_owned(), port))
}

/// A name-addr or addr-spec with header parameters (`From`, `To`, `Contact`, `Route`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, unquoted.
    pub display: Option<String>,
    /// The URI.
    pub uri: String,
    /// Header parameters (`tag`, `expires`, `q`...).
    pub params: Vec<(String, Option<String>)>,
}

impl NameAddr {
    /// Parse a name-addr / addr-spec (RFC 3261 §20.10 and §25.1).
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let s = s.trim();
        let (display, uri, rest) = if let Some(after) = s.strip_prefix('"') {
            let mut escaped = false;
            let mut end = None;
            for (i, c) in after.char_indices() {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    end = Some(i);
                    break;
                }
            }
            let end = end.ok_or("unterminated quoted display name")?;
            let display = unquote(&s[..end + 2]);
            let after = after[end + 1..].trim_start();
            let (uri, rest) = angle_uri(after)?;
            (Some(display), uri, rest)
        } else if let Some(lt) = s.find('<') {
            let display = s[..lt].trim();
            if !display.split_whitespace().all(is_token) {
                return Err("display name must be a token or quoted");
            }
            let (uri, rest) = angle_uri(&s[lt..])?;
            let display = (!display.is_empty()).then(|| display.to_owned());
            (display, uri, rest)
        } else {
            let (uri, rest) = match s.find(';') {
                Some(i) => (s[..i].trim(), &s[i..]),
                None => (s, ""),
            };
            if uri.is_empty() || uri.contains(['?', ',', ' ', '\t', '"']) {
                return Err("addr-spec with reserved characters must be enclosed in <>");
            }
            (None, uri.to_owned(), rest)
        };
        Ok(NameAddr {
            display,
            uri,
            params: parse_params(rest)?,
        })
    }

    /// Value of a header parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }
}

fn angle_uri(s: &str) -> Result<(String, &str), &'static str> {
    let inner = s.strip_prefix('<').ok_or("expected <")?;
    let end = inner.find('>').ok_or("unterminated <")?;
    let uri = &inner[..end];
    if uri.is_empty() || uri.contains(|c: char| c.is_whitespace() || c == '<') {
        return Err("whitespace inside <>");
    }
    Ok((uri.to_owned(), &inner[end + 1..]))
}

/// The parts of a `sip:`/`sips:`/`tel:` URI that routing needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sip`, `sips`, `tel`... lower-cased.
    pub scheme: String,
    /// User part, percent-decoded.
    pub user: Option<String>,
    /// Host (no brackets for IPv6).
    pub host: String,
    /// Port if written.
    pub port: Option<u16>,
    /// URI parameters.
    pub params: Vec<(String, Option<String>)>,
}

impl SipUri {
    /// Parse a SIP URI; other schemes give only the scheme and the opaque part as host.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let (scheme, rest) = s.split_once(':').ok_or("URI without scheme")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme == "tel" {
            let number = rest.split(';').next().unwrap_or_default();
            return Ok(SipUri {
                scheme,
                user: Some(percent_decode(number)),
                host: String::new(),
                port: None,
                params: Vec::new(),
            });
        }
        if scheme != "sip" && scheme != "sips" {
            return Err("unsupported URI scheme");
        }
        // The user part may hold `?` and `;` (RFC 3261 §25.1 user-unreserved); headers
        // (`?...`) only follow the host.
        let (user, hostpart) = match rest.find('@') {
            Some(i) => {
                let u = &rest[..i];
                let u = u.split(':').next().unwrap_or_default();
                (Some(percent_decode(u)), &rest[i + 1..])
            }
            None => (None, rest),
        };
        let hostpart = hostpart.split('?').next().unwrap_or_default();
        let (hostport, params) = match hostpart.find(';') {
            Some(i) => (&hostpart[..i], &hostpart[i..]),
            None => (hostpart, ""),
        };
        let (host, port) = split_host_port(hostport)?;
        Ok(SipUri {
            scheme,
            user,
            host,
            port,
            params: parse_params(params)?,
        })
    }

    /// Value of a URI parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse a CSeq value: a number below 2^31 and a method token.
pub fn parse_cseq(v: &str) -> Result<(u32, String), &'static str> {
    let mut it = v.split_whitespace();
    let n = it.next().ok_or("empty CSeq")?;
    let m = it.next().ok_or("CSeq without method")?;
    if it.next().is_some() || !is_token(m) || !n.bytes().all(|c| c.is_ascii_digit()) {
        return Err("malformed CSeq");
    }
    let n: u32 = n.parse().map_err(|_| "CSeq number too large")?;
    if n >= 1 << 31 {
        return Err("CSeq number too large");
    }
    Ok((n, m.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_folded_and_compact_headers() {
        let raw = b"INVITE sip:8585@x SIP/2.0\r\nv: SIP / 2.0 / UDP 1.2.3.4:5060 ;\r\n branch = z9hG4bKa\r\nf: \"Jean \\\"J\\\"\" <sip:0601@x>;tag=1\r\nt: sip:8585@x\r\ni: abc\r\nCSeq: 0009\r\n  INVITE\r\nl: 0\r\n\r\n";
        let head = parse_head(raw).unwrap();
        let m = head.message;
        assert_eq!(m.method(), Some("INVITE"));
        assert_eq!(m.header("Call-ID"), Some("abc"));
        assert_eq!(m.cseq(), Some((9, "INVITE".into())));
        assert_eq!(m.top_branch().as_deref(), Some("z9hG4bKa"));
        let from = NameAddr::parse(m.header("From").unwrap()).unwrap();
        assert_eq!(from.display.as_deref(), Some("Jean \"J\""));
        assert_eq!(from.param("tag"), Some("1"));
        let to = NameAddr::parse(m.header("To").unwrap()).unwrap();
        assert_eq!(to.uri, "sip:8585@x");
    }

    #[test]
    fn rejects_bad_start_lines() {
        for bad in [
            "INVITE  sip:a@b SIP/2.0",
            "INVITE <sip:a@b> SIP/2.0",
            "INVITE sip:a@b SIP/2.0 ",
            "SIP/2.0 4294967301 Big",
        ] {
            let raw = format!("{bad}\r\nVia: SIP/2.0/UDP h\r\n\r\n");
            assert!(parse_head(raw.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn uri_and_roundtrip() {
        let u = SipUri::parse("sip:%30601@[::1]:5062;transport=tcp?x=y").unwrap();
        assert_eq!(u.user.as_deref(), Some("0601"));
        assert_eq!(u.host, "::1");
        assert_eq!(u.port, Some(5062));
        assert_eq!(u.param("transport"), Some("tcp"));
        let mut m = Message::request("OPTIONS", "sip:a@b");
        m.push("Call-ID", "x");
        m.body = b"hi".to_vec();
        let again = parse_head(&m.to_bytes()).unwrap();
        assert_eq!(again.message.header("Content-Length"), Some("2"));
        assert!(NameAddr::parse("\"open <sip:a@b>").is_err());
        assert!(NameAddr::parse("\"x\" < sip:a@b >").is_err());
        assert!(NameAddr::parse("sip:a@b?Route=x").is_err());
        assert_eq!(
            parse_cseq("36893488147419103232 INVITE"),
            Err("CSeq number too large")
        );
    }
}
