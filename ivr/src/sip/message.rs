//! SIP messages (RFC 3261 §7): parsing what arrives, building what we send.
//!
//! Parsing never panics and never trusts a length: a malformed message is
//! an error that says what is wrong, so the transport can answer 400 (when
//! it can tell where to send it) and go on.

use std::fmt;

/// The most a SIP message may be (RFC 3261 §18.1.1 allows UDP up to 64 KiB;
/// nothing a phone sends us comes near this).
pub const MAX_MESSAGE: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Info,
    Register,
    Refer,
    Notify,
    Update,
    Prack,
    Subscribe,
    Message,
    Other(String),
}

impl Method {
    pub fn parse(text: &str) -> Method {
        match text {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "REGISTER" => Method::Register,
            "REFER" => Method::Refer,
            "NOTIFY" => Method::Notify,
            "UPDATE" => Method::Update,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "MESSAGE" => Method::Message,
            other => Method::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Register => "REGISTER",
            Method::Refer => "REFER",
            Method::Notify => "NOTIFY",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Message => "MESSAGE",
            Method::Other(m) => m,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: Method, uri: String },
    Response { code: u16, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    /// Headers in order, names as received (compact forms expanded).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("message of {0} bytes is over the {MAX_MESSAGE}-byte limit")]
    TooLarge(usize),
    #[error("no blank line ends the headers")]
    Unterminated,
    #[error("headers are not UTF-8")]
    NotText,
    #[error("malformed start line")]
    StartLine,
    #[error("malformed header line {0}")]
    Header(usize),
    #[error("Content-Length `{0}` is not a number")]
    ContentLength(String),
    #[error("body is shorter than its Content-Length")]
    ShortBody,
    #[error("missing mandatory header {0}")]
    Missing(&'static str),
    #[error("malformed CSeq")]
    CSeq,
}

/// Compact header forms (RFC 3261 §7.3.3 and extensions).
fn expand(name: &str) -> &str {
    match name {
        "i" | "I" => "Call-ID",
        "f" | "F" => "From",
        "t" | "T" => "To",
        "v" | "V" => "Via",
        "m" | "M" => "Contact",
        "l" | "L" => "Content-Length",
        "c" | "C" => "Content-Type",
        "k" | "K" => "Supported",
        "s" | "S" => "Subject",
        "e" | "E" => "Content-Encoding",
        "r" | "R" => "Refer-To",
        other => other,
    }
}

/// Where the headers end: the index just past the blank line.
fn head_end(data: &[u8]) -> Option<usize> {
    let crlf = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    let lf = data.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Message {
    /// Parses one datagram. A stream transport first cuts messages with [`frame`].
    pub fn parse(data: &[u8]) -> Result<Message, ParseError> {
        if data.len() > MAX_MESSAGE {
            return Err(ParseError::TooLarge(data.len()));
        }
        // Keep-alives (CRLF) and leading blank lines are skipped.
        let start = data
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(data.len());
        let data = &data[start..];
        let end = head_end(data).ok_or(ParseError::Unterminated)?;
        let head = std::str::from_utf8(&data[..end]).map_err(|_| ParseError::NotText)?;
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let start = parse_start(lines.next().ok_or(ParseError::StartLine)?)?;

        let mut headers: Vec<(String, String)> = Vec::new();
        for (i, line) in lines.enumerate() {
            if line.is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                // Folded continuation of the previous header.
                let last = headers.last_mut().ok_or(ParseError::Header(i + 2))?;
                last.1.push(' ');
                last.1.push_str(line.trim());
                continue;
            }
            let (name, value) = line.split_once(':').ok_or(ParseError::Header(i + 2))?;
            let name = name.trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(ParseError::Header(i + 2));
            }
            headers.push((expand(name).to_owned(), value.trim().to_owned()));
        }

        let rest = &data[end..];
        let body = match headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
        {
            Some((_, v)) => {
                let len: usize = v
                    .parse()
                    .map_err(|_| ParseError::ContentLength(v.clone()))?;
                rest.get(..len).ok_or(ParseError::ShortBody)?.to_vec()
            }
            None => rest.to_vec(),
        };
        let message = Message {
            start,
            headers,
            body,
        };
        if let StartLine::Request { .. } = message.start {
            for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
                if message.header(name).is_none() {
                    return Err(ParseError::Missing(name));
                }
            }
            message.cseq()?;
        }
        Ok(message)
    }

    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, splitting comma-separated lists (Via, …).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| split_list(v))
    }

    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn call_id(&self) -> &str {
        self.header("Call-ID").unwrap_or_default()
    }

    pub fn cseq(&self) -> Result<(u32, Method), ParseError> {
        let value = self.header("CSeq").ok_or(ParseError::Missing("CSeq"))?;
        let (number, method) = value
            .split_once(char::is_whitespace)
            .ok_or(ParseError::CSeq)?;
        let number = number.trim().parse().map_err(|_| ParseError::CSeq)?;
        Ok((number, Method::parse(method.trim())))
    }

    /// The branch parameter of the top Via, which names the transaction.
    pub fn branch(&self) -> Option<&str> {
        self.header_values("Via")
            .next()
            .and_then(|via| param(via, "branch"))
    }

    pub fn from_tag(&self) -> Option<&str> {
        self.header("From").and_then(|v| param(v, "tag"))
    }

    pub fn to_tag(&self) -> Option<&str> {
        self.header("To").and_then(|v| param(v, "tag"))
    }

    /// The user part of the request-URI (`12348` in `sip:12348@host`).
    pub fn request_user(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => uri_user(uri),
            StartLine::Response { .. } => None,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        match &self.start {
            StartLine::Request { method, uri } => {
                out.push_str(&format!("{method} {uri} SIP/2.0\r\n"))
            }
            StartLine::Response { code, reason } => {
                out.push_str(&format!("SIP/2.0 {code} {reason}\r\n"))
            }
        }
        for (name, value) in &self.headers {
            if name.eq_ignore_ascii_case("Content-Length") {
                continue;
            }
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// A response to this request: Via, From, To, Call-ID and CSeq copied
    /// (RFC 3261 §8.2.6), with `to_tag` added to To when it has none; to an
    /// INVITE, a response that makes the dialog (101–299) copies its
    /// Record-Route too, so the caller's side keeps the proxies (§12.1.1).
    pub fn response(&self, code: u16, reason: &str, to_tag: Option<&str>) -> Message {
        let dialog = self.method() == Some(&Method::Invite) && (101..300).contains(&code);
        let mut headers = Vec::new();
        for (name, value) in &self.headers {
            let copy = ["Via", "From", "Call-ID", "CSeq"]
                .iter()
                .any(|h| name.eq_ignore_ascii_case(h))
                || (dialog && name.eq_ignore_ascii_case("Record-Route"));
            if copy {
                headers.push((name.clone(), value.clone()));
            } else if name.eq_ignore_ascii_case("To") {
                let value = match (to_tag, param(value, "tag")) {
                    (Some(tag), None) => format!("{value};tag={tag}"),
                    _ => value.clone(),
                };
                headers.push(("To".to_owned(), value));
            }
        }
        Message {
            start: StartLine::Response {
                code,
                reason: reason.to_owned(),
            },
            headers,
            body: Vec::new(),
        }
    }

    pub fn add_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push((name.to_owned(), value.into()));
    }
}

fn parse_start(line: &str) -> Result<StartLine, ParseError> {
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code: u16 = code.parse().map_err(|_| ParseError::StartLine)?;
        if !(100..=699).contains(&code) {
            return Err(ParseError::StartLine);
        }
        return Ok(StartLine::Response {
            code,
            reason: reason.to_owned(),
        });
    }
    let mut parts = line.split(' ');
    let (method, uri, version) = (parts.next(), parts.next(), parts.next());
    match (method, uri, version, parts.next()) {
        (Some(m), Some(uri), Some("SIP/2.0"), None)
            if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) && !uri.is_empty() =>
        {
            Ok(StartLine::Request {
                method: Method::parse(m),
                uri: uri.to_owned(),
            })
        }
        _ => Err(ParseError::StartLine),
    }
}

/// Splits a header value on commas that are not inside quotes or <>.
fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth <= 0 => {
                parts.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    parts.into_iter().filter(|p| !p.is_empty())
}

/// A `;name=value` parameter of a header value (outside any <>).
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let outside = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value,
    };
    outside.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The user part of a SIP URI, `<>` and display name allowed around it.
pub fn uri_user(value: &str) -> Option<&str> {
    let uri = match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value,
    };
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))?;
    let (user, _) = rest.split_once('@')?;
    Some(user.split(';').next().unwrap_or(user))
}

/// For stream transports: the length of the first complete message in
/// `buffer`, or `None` until more bytes arrive. Errors when the headers
/// cannot be framed (no Content-Length is required on streams).
pub fn frame(buffer: &[u8]) -> Result<Option<usize>, ParseError> {
    let skip = buffer
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buffer.len());
    let data = &buffer[skip..];
    let Some(end) = head_end(data) else {
        return if buffer.len() > MAX_MESSAGE {
            Err(ParseError::TooLarge(buffer.len()))
        } else {
            Ok(None)
        };
    };
    let head = std::str::from_utf8(&data[..end]).map_err(|_| ParseError::NotText)?;
    let length = head
        .split('\n')
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| {
            let n = n.trim();
            n.eq_ignore_ascii_case("Content-Length") || n == "l" || n == "L"
        })
        .map(|(_, v)| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| ParseError::ContentLength(v.trim().to_owned()))
        })
        .transpose()?
        .ok_or(ParseError::Missing("Content-Length"))?;
    // A hostile Content-Length may be near usize::MAX: add without overflow.
    let total = (skip + end)
        .checked_add(length)
        .filter(|&t| t <= MAX_MESSAGE)
        .ok_or(ParseError::TooLarge(length))?;
    Ok((buffer.len() >= total).then_some(total))
}

/// A SIP Call-ID as the IVR accepts it on a call: 1 to
/// [`MAX_CALL_ID_LEN`](hotline_domain::limits::MAX_CALL_ID_LEN) visible
/// ASCII characters. It is the peer's choice, so it only matches dialogs
/// and is shown in logs; the call's identity is the IVR's own `CallRef`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallId(String);

impl CallId {
    pub fn parse(text: &str) -> Option<Self> {
        let ok = !text.is_empty()
            && text.len() <= hotline_domain::limits::MAX_CALL_ID_LEN
            && text.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Call-ID as logs and the call board show it: at most 40
    /// characters, with `…` when it was longer, and any run of seven or
    /// more digits blanked (carriers put the caller's number in it).
    pub fn shown(&self) -> String {
        const SHOWN: usize = 40;
        let shown = if self.0.len() <= SHOWN {
            self.0.clone()
        } else {
            // Visible ASCII only: any byte index is a char boundary.
            format!("{}…", &self.0[..SHOWN - 1])
        };
        hotline_domain::phone::blank_numbers(&shown)
    }
}

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:12348@127.0.0.1:5060 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1-0\r\n\
        From: sipp <sip:sipp@127.0.0.1:5061>;tag=1\r\n\
        To: <sip:12348@127.0.0.1:5060>\r\n\
        Call-ID: 1-42@127.0.0.1\r\n\
        CSeq: 1 INVITE\r\n\
        Contact: sip:sipp@127.0.0.1:5061\r\n\
        Max-Forwards: 70\r\n\
        Content-Type: application/sdp\r\n\
        Content-Length: 4\r\n\r\nv=0\n";

    #[test]
    fn parses_an_invite() {
        let m = Message::parse(INVITE.as_bytes()).unwrap();
        assert_eq!(m.method(), Some(&Method::Invite));
        assert_eq!(m.call_id(), "1-42@127.0.0.1");
        assert_eq!(m.cseq().unwrap(), (1, Method::Invite));
        assert_eq!(m.branch(), Some("z9hG4bK-1-0"));
        assert_eq!(m.from_tag(), Some("1"));
        assert_eq!(m.to_tag(), None);
        assert_eq!(m.request_user(), Some("12348"));
        assert_eq!(m.body, b"v=0\n");
    }

    #[test]
    fn compact_forms_folding_and_lists() {
        let text = "OPTIONS sip:x@h SIP/2.0\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2\r\n\
            f: <sip:a@h>;tag=9\r\nt: <sip:x@h>\r\ni: abc\r\nCSeq: 7\r\n  OPTIONS\r\nl: 0\r\n\r\n";
        let m = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(m.header_values("Via").count(), 2);
        assert_eq!(m.branch(), Some("z9hG4bK1"));
        assert_eq!(m.cseq().unwrap(), (7, Method::Options));
        assert_eq!(m.call_id(), "abc");
    }

    #[test]
    fn responses_copy_the_right_headers_and_tag_the_to() {
        let req = Message::parse(INVITE.as_bytes()).unwrap();
        let resp = req.response(200, "OK", Some("abc"));
        let bytes = resp.to_bytes();
        let back = Message::parse(&bytes).unwrap();
        assert_eq!(
            back.start,
            StartLine::Response {
                code: 200,
                reason: "OK".into()
            }
        );
        assert_eq!(back.to_tag(), Some("abc"));
        assert_eq!(back.call_id(), req.call_id());
        assert_eq!(back.branch(), req.branch());
        assert!(back.header("Contact").is_none());
        assert!(String::from_utf8_lossy(&bytes).ends_with("Content-Length: 0\r\n\r\n"));
    }

    #[test]
    fn malformed_messages_say_what_is_wrong() {
        assert_eq!(Message::parse(b"garbage"), Err(ParseError::Unterminated));
        assert_eq!(
            Message::parse(b"garbage\r\n\r\n"),
            Err(ParseError::StartLine)
        );
        assert_eq!(
            Message::parse(b"INVITE sip:x SIP/3.0\r\n\r\n"),
            Err(ParseError::StartLine)
        );
        assert_eq!(
            Message::parse(b"SIP/2.0 999 Nope\r\n\r\n"),
            Err(ParseError::StartLine)
        );
        let no_call_id = INVITE.replace("Call-ID: 1-42@127.0.0.1\r\n", "");
        assert_eq!(
            Message::parse(no_call_id.as_bytes()),
            Err(ParseError::Missing("Call-ID"))
        );
        let bad_cseq = INVITE.replace("CSeq: 1 INVITE", "CSeq: one INVITE");
        assert_eq!(Message::parse(bad_cseq.as_bytes()), Err(ParseError::CSeq));
        let long_body = INVITE.replace("Content-Length: 4", "Content-Length: 400");
        assert_eq!(
            Message::parse(long_body.as_bytes()),
            Err(ParseError::ShortBody)
        );
        let bad_len = INVITE.replace("Content-Length: 4", "Content-Length: -4");
        assert!(matches!(
            Message::parse(bad_len.as_bytes()),
            Err(ParseError::ContentLength(_))
        ));
        assert_eq!(
            Message::parse(&vec![b'a'; MAX_MESSAGE + 1]),
            Err(ParseError::TooLarge(MAX_MESSAGE + 1))
        );
        assert_eq!(
            Message::parse(b"INVITE sip:x SIP/2.0\r\nbad header\r\n\r\n"),
            Err(ParseError::Header(2))
        );
        assert_eq!(
            Message::parse(&[0xff, 0xfe, b'\r', b'\n', b'\r', b'\n']),
            Err(ParseError::NotText)
        );
    }

    #[test]
    fn stream_framing() {
        let bytes = INVITE.as_bytes();
        assert_eq!(frame(&bytes[..20]), Ok(None));
        assert_eq!(frame(&bytes[..bytes.len() - 1]), Ok(None));
        assert_eq!(frame(bytes), Ok(Some(bytes.len())));
        let mut two = bytes.to_vec();
        two.extend_from_slice(bytes);
        assert_eq!(frame(&two), Ok(Some(bytes.len())));
        let keepalive = [b"\r\n\r\n".as_slice(), bytes].concat();
        assert_eq!(frame(&keepalive), Ok(Some(keepalive.len())));
        let huge = INVITE.replace("Content-Length: 4", "Content-Length: 18446744073709551615");
        assert!(
            matches!(frame(huge.as_bytes()), Err(ParseError::TooLarge(_))),
            "found by fuzzing"
        );
        let no_length = INVITE.replace("Content-Length: 4\r\n", "");
        assert_eq!(
            frame(no_length.as_bytes()),
            Err(ParseError::Missing("Content-Length"))
        );
    }

    #[test]
    fn uri_users() {
        assert_eq!(uri_user("sip:12348@10.0.0.1"), Some("12348"));
        assert_eq!(
            uri_user("\"Li\" <sip:13800000000;phone-context=x@gw>;tag=1"),
            Some("13800000000")
        );
        assert_eq!(uri_user("tel:12348"), None);
    }
}
