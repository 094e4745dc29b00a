//! The little HTTP/1.1 the load generator needs: polling requests, and reading
//! responses framed by `Content-Length`, chunked encoding or the connection's end.
//! Pure: no sockets, no clocks.

/// The largest response the generator accepts.
pub const MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// A GET or POST on a keep-alive connection.
pub fn request(method: &str, host: &str, path_and_query: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path_and_query} HTTP/1.1\r\nHost: {host}\r\n").into_bytes();
    if method == "POST" {
        out.extend_from_slice(
            format!(
                "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n",
                body.len()
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// A whole response.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// Whether the server will close the connection after it.
    pub close: bool,
}

/// Why a response cannot be read.
#[derive(Debug, PartialEq, Eq)]
pub struct HttpError(pub String);

/// A response head: status, head length, and the header facts the generator uses.
#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// The bytes the head took, blank line included.
    pub len: usize,
    content_length: Option<usize>,
    chunked: bool,
    close: bool,
}

/// Reads a response head from the start of `buf`, `Ok(None)` when incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HttpError(format!("bad response head: {e}"))),
    };
    let mut head = Head {
        status: resp.code.unwrap_or(0),
        len,
        content_length: None,
        chunked: false,
        close: resp.version == Some(0),
    };
    for h in resp.headers.iter() {
        let value = String::from_utf8_lossy(h.value).to_ascii_lowercase();
        if h.name.eq_ignore_ascii_case("content-length") {
            head.content_length = Some(
                value
                    .trim()
                    .parse()
                    .map_err(|_| HttpError(format!("bad Content-Length {value:?}")))?,
            );
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = value.contains("chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            if value.contains("close") {
                head.close = true;
            } else if value.contains("keep-alive") {
                head.close = false;
            }
        }
    }
    Ok(Some(head))
}

/// Reads one whole response from the start of `buf`: `Ok(None)` when more bytes are
/// needed, else the response and how many bytes it took. `eof` says the server has
/// closed the connection (the end of a body without length).
pub fn parse_response(buf: &[u8], eof: bool) -> Result<Option<(Response, usize)>, HttpError> {
    let Some(head) = parse_head(buf)? else {
        return if eof {
            Err(HttpError("connection closed before a response".into()))
        } else {
            Ok(None)
        };
    };
    let rest = &buf[head.len..];
    let (body, used, close) = if head.chunked {
        match dechunk(rest)? {
            Some((body, used)) => (body, used, head.close),
            None if eof => return Err(HttpError("connection closed mid-body".into())),
            None => return Ok(None),
        }
    } else if let Some(n) =
        head.content_length
            .or(if no_body(head.status) { Some(0) } else { None })
    {
        if n > MAX_RESPONSE {
            return Err(HttpError(format!("response body of {n} bytes")));
        }
        if rest.len() < n {
            return if eof {
                Err(HttpError("connection closed mid-body".into()))
            } else {
                Ok(None)
            };
        }
        (rest[..n].to_vec(), n, head.close)
    } else if eof {
        (rest.to_vec(), rest.len(), true)
    } else {
        return Ok(None);
    };
    Ok(Some((
        Response {
            status: head.status,
            body,
            close,
        },
        head.len + used,
    )))
}

fn no_body(status: u16) -> bool {
    status == 204 || status == 304 || (100..200).contains(&status)
}

/// Decodes a chunked body at the start of `buf`: the body and the bytes it took.
fn dechunk(buf: &[u8]) -> Result<Option<(Vec<u8>, usize)>, HttpError> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some(eol) = find_crlf(&buf[at..]) else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&buf[at..at + eol])
            .map_err(|_| HttpError("bad chunk size".into()))?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| HttpError(format!("bad chunk size {size_text:?}")))?;
        at += eol + 2;
        if size == 0 {
            // Trailers (none expected), then the final CRLF.
            loop {
                let Some(eol) = find_crlf(&buf[at..]) else {
                    return Ok(None);
                };
                at += eol + 2;
                if eol == 0 {
                    return Ok(Some((body, at)));
                }
            }
        }
        if body.len() + size > MAX_RESPONSE {
            return Err(HttpError("chunked body too large".into()));
        }
        if buf.len() < at + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[at..at + size]);
        at += size + 2;
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_content_length_chunked_and_close_delimited_bodies() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1";
        let (resp, used) = parse_response(r, false).unwrap().unwrap();
        assert_eq!(
            (resp.status, &resp.body[..], resp.close, used),
            (200, &b"ok"[..], false, 40)
        );
        assert_eq!(parse_response(&r[..39], false), Ok(None));

        let c = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n4ab\r\n2\r\n\x1e2\r\n0\r\n\r\n";
        let (resp, used) = parse_response(c, false).unwrap().unwrap();
        assert_eq!((&resp.body[..], used), (&b"4ab\x1e2"[..], c.len()));
        assert_eq!(parse_response(&c[..c.len() - 1], false), Ok(None));

        let e = b"HTTP/1.0 200 OK\r\n\r\n4abc";
        assert_eq!(parse_response(e, false), Ok(None));
        let (resp, _) = parse_response(e, true).unwrap().unwrap();
        assert_eq!((&resp.body[..], resp.close), (&b"4abc"[..], true));

        let k = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
        assert!(!parse_response(k, false).unwrap().unwrap().0.close);
        let s = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x01";
        assert_eq!(parse_head(s).unwrap().unwrap().len, s.len() - 2);
    }

    #[test]
    fn builds_requests() {
        let r = request("POST", "127.0.0.1:1", "/x", b"4hi");
        assert_eq!(
            String::from_utf8(r).unwrap(),
            "POST /x HTTP/1.1\r\nHost: 127.0.0.1:1\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 3\r\n\r\n4hi"
        );
    }
}
