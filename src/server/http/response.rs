//! HTTP responses: a status, headers and a body, written with `Content-Length`.

use std::fs::File;
use std::io::{self, Write};

/// A response body.
pub(crate) enum Body {
    /// Bytes in memory.
    Bytes(Vec<u8>),
    /// A file streamed from disk, with its length known in advance.
    File(File, u64),
}

impl Body {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::File(_, n) => *n,
        }
    }
}

/// A response the connection layer writes.
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    /// Headers whose names come from the application (the fallback handler).
    pub app_headers: Vec<(String, String)>,
    pub body: Body,
    /// Close the connection after this response.
    pub close: bool,
    /// Write only the head (a `HEAD` request): `Content-Length` still describes the body.
    pub head_only: bool,
    /// Runs once the response has been written successfully (the handshake starts the
    /// heartbeat clock there, H8) — or with `false` if writing failed.
    pub on_written: Option<Box<dyn FnOnce(bool) + Send>>,
    /// Handlers to run on this connection's thread before the response is written
    /// (the packets of a POST): if they take long, the connection moves to another
    /// thread, which writes the response.
    pub dispatch: Option<crate::server::dispatch::Dispatch>,
}

impl Response {
    pub(crate) fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            app_headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
            close: false,
            head_only: false,
            on_written: None,
            dispatch: None,
        }
    }

    pub(crate) fn with_body(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        let mut r = Response::new(status);
        r.headers.push(("Content-Type", content_type.to_string()));
        r.body = Body::Bytes(body.into());
        r
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn closing(mut self) -> Response {
        self.close = true;
        self
    }

    /// Writes the response; the head and an in-memory body go out in one write.
    pub(crate) fn write_to(&mut self, out: &mut impl Write) -> io::Result<()> {
        let mut head = Vec::with_capacity(256);
        write!(
            head,
            "HTTP/1.1 {} {}\r\n",
            self.status,
            reason_phrase(self.status)
        )?;
        for (name, value) in &self.headers {
            write!(head, "{name}: {value}\r\n")?;
        }
        for (name, value) in &self.app_headers {
            write!(head, "{name}: {value}\r\n")?;
        }
        // 1xx and 204 responses carry no Content-Length.
        if self.status >= 200 && self.status != 204 {
            write!(head, "Content-Length: {}\r\n", self.body.len())?;
        }
        if self.close {
            head.extend_from_slice(b"Connection: close\r\n");
        }
        head.extend_from_slice(b"\r\n");
        if self.head_only {
            return out.write_all(&head).and_then(|_| out.flush());
        }
        match &mut self.body {
            Body::Bytes(b) => {
                head.extend_from_slice(b);
                out.write_all(&head)?;
            }
            Body::File(f, len) => {
                out.write_all(&head)?;
                let copied = io::copy(&mut io::Read::take(&mut *f, *len), out)?;
                if copied != *len {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shrank while being sent",
                    ));
                }
            }
        }
        out.flush()
    }
}

/// The standard reason phrase of a status code.
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Unknown"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_head_and_body_with_content_length() {
        let mut r = Response::with_body(200, "text/plain", "ok").header("X-A", "1");
        let mut out = Vec::new();
        r.write_to(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nok"
        );
    }

    #[test]
    fn no_content_length_on_204_and_close_header() {
        let mut r = Response::new(204).closing();
        let mut out = Vec::new();
        r.write_to(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
        );
    }
}
