//! Reading one request head off a connection, strictly (RFC 9112): the
//! request line, the header lines, and what they say about the body and the
//! connection. Anything malformed or over a [`Limits`] cap becomes a
//! [`HeadError::Reject`] with the status to answer.

use std::io::{self, BufRead, Read};

use super::limits::Limits;

/// A parsed request head.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) method: String,
    /// The target in origin form (`/path?query`); an absolute-form target
    /// (`http://host/path`) is reduced to its path and query.
    pub(crate) target: String,
    /// Whether the connection stays open after the response.
    pub(crate) keep_alive: bool,
    /// An HTTP/1.0 request (keep-alive must then be announced).
    pub(crate) http10: bool,
    pub(crate) body: BodyKind,
}

/// How the request's body is delimited.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BodyKind {
    None,
    Length(u64),
    /// Chunked or otherwise not delimited by a length.
    Unsupported,
}

/// Why no request head came.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// The connection failed or closed mid-head, or timed out.
    Io(io::Error),
    /// The request is refused with this status (400, 414, 431): answer and close.
    Reject(u16, &'static str),
}

/// Reads one line of at most `budget` bytes (with its line ending) into
/// `line`. `Ok(false)`: the line is longer than the budget.
fn read_line(
    reader: &mut impl BufRead,
    budget: usize,
    line: &mut Vec<u8>,
) -> Result<bool, HeadError> {
    line.clear();
    // usize to u64 is lossless on every supported target.
    let n = reader
        .by_ref()
        .take(budget as u64)
        .read_until(b'\n', line)
        .map_err(HeadError::Io)?;
    if line.ends_with(b"\n") {
        return Ok(true);
    }
    if n == budget {
        return Ok(false);
    }
    Err(HeadError::Io(io::ErrorKind::UnexpectedEof.into()))
}

/// Reads one request head. `Ok(None)`: the client closed the connection
/// between requests.
pub(crate) fn read_head(
    reader: &mut impl BufRead,
    limits: &Limits,
) -> Result<Option<Head>, HeadError> {
    let mut line = Vec::new();
    // The request line, after any stray empty lines a client may send
    // between requests (which count against the same budget).
    let mut line_budget = limits.max_request_line + 2;
    let request_line = loop {
        let complete = match read_line(reader, line_budget, &mut line) {
            Err(HeadError::Io(e))
                if e.kind() == io::ErrorKind::UnexpectedEof && line.is_empty() =>
            {
                return Ok(None);
            }
            other => other?,
        };
        if !complete {
            return Err(HeadError::Reject(414, "request line too long"));
        }
        line_budget -= line.len();
        let text = std::str::from_utf8(&line)
            .map_err(|_| HeadError::Reject(400, "request line is not UTF-8"))?
            .trim_end_matches(['\r', '\n']);
        if !text.is_empty() {
            break text.to_owned();
        }
    };
    let mut header_budget = limits.max_header_bytes + 2;
    let mut headers = Vec::new();
    loop {
        if !read_line(reader, header_budget, &mut line)? {
            return Err(HeadError::Reject(431, "request headers too large"));
        }
        header_budget -= line.len();
        let text = std::str::from_utf8(&line)
            .map_err(|_| HeadError::Reject(400, "request head is not UTF-8"))?
            .trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            break;
        }
        if headers.len() >= limits.max_headers {
            return Err(HeadError::Reject(431, "too many request headers"));
        }
        headers.push(parse_header(text)?);
    }
    parse_request(&request_line, &headers).map(Some)
}

/// Splits one header line into its lowercase name and trimmed value.
fn parse_header(text: &str) -> Result<(String, String), HeadError> {
    // RFC 9112 §5.2: obsolete line folding is rejected.
    if text.starts_with([' ', '\t']) {
        return Err(HeadError::Reject(
            400,
            "obsolete line folding (a header line starting with whitespace)",
        ));
    }
    let (name, value) = text
        .split_once(':')
        .ok_or(HeadError::Reject(400, "header line without ':'"))?;
    // RFC 9112 §5.1: no whitespace between a field name and its colon.
    if name.ends_with([' ', '\t']) {
        return Err(HeadError::Reject(
            400,
            "whitespace between a header name and its colon",
        ));
    }
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(HeadError::Reject(400, "header name is not a token"));
    }
    Ok((
        name.to_ascii_lowercase(),
        value.trim_matches([' ', '\t']).to_owned(),
    ))
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Checks the request line and the headers that matter, and builds the head.
fn parse_request(request_line: &str, headers: &[(String, String)]) -> Result<Head, HeadError> {
    let malformed = || HeadError::Reject(400, "request line is not 'METHOD TARGET HTTP/1.x'");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    if method.is_empty() || target.is_empty() {
        return Err(malformed());
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => {
            return Err(HeadError::Reject(
                400,
                "only HTTP/1.0 and HTTP/1.1 are supported",
            ));
        }
    };
    let header = |name: &'static str| header_values(headers, name);
    // RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one in 1.0.
    match header("host").count() {
        0 if !http10 => return Err(HeadError::Reject(400, "missing Host header")),
        0 | 1 => {}
        _ => return Err(HeadError::Reject(400, "repeated Host header")),
    }
    let connection_has = |token: &str| {
        header("connection").any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    let keep_alive = if http10 {
        // HTTP/1.0 persists only when asked to (RFC 9112 §9.3).
        connection_has("keep-alive") && !connection_has("close")
    } else {
        !connection_has("close")
    };
    let body = if header("transfer-encoding").next().is_some() {
        BodyKind::Unsupported
    } else {
        let mut lengths = header("content-length");
        match (lengths.next(), lengths.next()) {
            (None, _) => BodyKind::None,
            (Some(v), None) => match parse_decimal(v) {
                Some(0) => BodyKind::None,
                Some(n) => BodyKind::Length(n),
                None => return Err(HeadError::Reject(400, "invalid Content-Length")),
            },
            (Some(_), Some(_)) => {
                return Err(HeadError::Reject(400, "repeated Content-Length"));
            }
        }
    };
    Ok(Head {
        method: method.to_owned(),
        target: origin_form(target)?,
        keep_alive,
        http10,
        body,
    })
}

/// The origin form of a request target: itself, or for an absolute-form
/// `http://authority/path?query` (RFC 9112 §3.2.2) its path and query.
fn origin_form(target: &str) -> Result<String, HeadError> {
    let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &target[7..]
    } else if lower.starts_with("https://") {
        &target[8..]
    } else {
        return Ok(target.to_owned());
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    if authority.is_empty() || authority.contains('@') {
        return Err(HeadError::Reject(
            400,
            "absolute target without a valid host",
        ));
    }
    Ok(match path.strip_prefix('?') {
        Some(query) => format!("/?{query}"),
        None if path.is_empty() => "/".to_owned(),
        None => path.to_owned(),
    })
}

/// The values of every header named `name` (lowercase), in order.
fn header_values<'a>(
    headers: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> {
    headers
        .iter()
        .filter(move |(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Parses a plain decimal number (ASCII digits only: no sign, no spaces).
pub(crate) fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(request: &str) -> Result<Option<Head>, HeadError> {
        read_head(&mut request.as_bytes(), &Limits::default())
    }

    fn rejected(request: &str) -> u16 {
        match parse(request) {
            Err(HeadError::Reject(status, _)) => status,
            other => panic!("{request:?}: expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn rejects_what_rfc_9112_forbids() {
        for bad in [
            "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost\t: x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
            "GET / HTTP/1.0\r\nHost: x\r\nhost: y\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n",
            "GET http:///echo HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            assert_eq!(rejected(bad), 400, "{bad:?}");
        }
    }

    #[test]
    fn accepts_absolute_form_and_http10_keep_alive() {
        let head = parse("GET http://127.0.0.1:8080/bytes/5?rate=1 HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("parses")
            .expect("a head");
        assert_eq!(head.target, "/bytes/5?rate=1");
        let head = parse("GET HTTP://h HTTP/1.1\r\nHost: h\r\n\r\n")
            .expect("parses")
            .expect("a head");
        assert_eq!(head.target, "/");
        let head = parse("GET /echo HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .expect("parses")
            .expect("a head");
        assert!(head.keep_alive && head.http10);
        let head = parse("GET /echo HTTP/1.0\r\n\r\n")
            .expect("parses")
            .expect("a head");
        assert!(!head.keep_alive);
    }
}
