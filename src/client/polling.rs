//! HTTP long-polling over ureq: the handshake, the GET loop (one thread) and the POST
//! writer (one thread).
//!
//! At most one GET and one POST are in flight (CL3). The writer sends everything
//! queued, split into bodies of at most the server's `maxPayload` bytes. Both threads
//! stop when the connection closes or the upgrade to WebSocket completes; while the
//! upgrade switches over they issue no new request (X6). A connection's ureq agent is
//! shut down when the connection closes, which interrupts a GET or POST in flight.
//!
//! Bodies are read within the limits of `incoming.rs`: a long-poll response (and the
//! rest of the handshake's body) is decoded as it arrives, one packet at a time, and
//! each message waits for room in the handler queue before the next is read.
//!
//! Payloads follow the protocol version: v4 joins packets with `\x1e`; v3 prefixes
//! each with its length, in the text form, or, for a body holding a binary message,
//! in the binary form (`application/octet-stream`) unless `force_base64` asked for
//! text only. A v3 response's `Content-Type` says which form it is in.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use crate::client::config::Config;
use crate::client::conn::{Attempt, Conn};
use crate::client::incoming::{self, Framing, Limits, PayloadReader, MAX_ANSWER_BYTES};
use crate::client::Reason;
use crate::packet::{Handshake, Packet};
use crate::payload::{self, v3};
use crate::transport::Transport;
use crate::{Error, ErrorKind, ProtocolVersion, Result};

/// A response body, read as it arrives.
pub(crate) type BodyReader = ureq::BodyReader<'static>;

/// python-engineio refuses payloads of more than 16 packets (and answers 200 all
/// the same, so the packets would be lost silently): never send more in one POST.
const MAX_PACKETS_PER_POST: usize = 16;

/// What the handshake GET is called in errors.
const HANDSHAKE: &str = "handshake";

/// The agent of one connection. Proxy and TLS come from the configuration (ureq's
/// own reading of the proxy environment variables is off: `build` read them, if
/// asked to); a non-2xx status is an answer, not an error.
pub(crate) fn agent(config: &Config) -> ureq::Agent {
    let builder = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(config.proxy.clone())
        .max_redirects(0)
        .user_agent(concat!("engineio-rs/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(config.request_timeout));
    #[cfg(feature = "tls")]
    let builder = builder.tls_config(config.tls.ureq.clone());
    builder.build().new_agent()
}

/// An HTTP answer: status, body (its first [`MAX_ANSWER_BYTES`] bytes).
struct Answer {
    status: u16,
    body: Vec<u8>,
}

fn add_headers<B>(
    mut request: ureq::RequestBuilder<B>,
    config: &Config,
    cookie: Option<&str>,
) -> ureq::RequestBuilder<B> {
    for (name, value) in &config.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    request
}

/// `connecting`: the handshake request, the connection's first (see
/// `tls::tls_io_failure`).
fn classify(e: ureq::Error, what: &str, config: &Config, connecting: bool) -> Error {
    #[cfg(feature = "tls")]
    let connecting_with_cert = connecting && config.target.secure && config.tls.client_cert;
    #[cfg(not(feature = "tls"))]
    let _ = (config, connecting);
    let message = format!("{what} failed");
    match &e {
        ureq::Error::Timeout(_) => Error::new(ErrorKind::Timeout, message),
        ureq::Error::Io(io) if matches!(io.kind(), std::io::ErrorKind::TimedOut) => {
            Error::new(ErrorKind::Timeout, message)
        }
        ureq::Error::Tls(_) => Error::new(ErrorKind::Tls, message),
        #[cfg(feature = "tls")]
        ureq::Error::Rustls(_) => Error::new(ErrorKind::Tls, message),
        // rustls reports certificate failures and the server's alerts (a client
        // certificate refused) as I/O errors.
        #[cfg(feature = "tls")]
        ureq::Error::Io(io)
            if crate::client::tls::tls_io_failure(io, connecting_with_cert).is_some() =>
        {
            let note =
                crate::client::tls::tls_io_failure(io, connecting_with_cert).unwrap_or_default();
            Error::new(ErrorKind::Tls, format!("{message}{note}"))
        }
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            if io
                .get_ref()
                .is_some_and(|inner| inner.to_string().contains("certificate"))
            {
                Error::new(ErrorKind::Tls, message)
            } else {
                Error::new(ErrorKind::Connect, message)
            }
        }
        _ => Error::new(ErrorKind::Connect, message),
    }
    .with_source(e)
}

/// The first [`MAX_ANSWER_BYTES`] of a body that is not a payload (the JSON of a
/// refused request): enough to show, and the rest is not read.
fn read_excerpt(body: ureq::Body) -> Vec<u8> {
    let mut excerpt = Vec::new();
    let _ = body
        .into_with_config()
        .reader()
        .take(MAX_ANSWER_BYTES as u64)
        .read_to_end(&mut excerpt);
    excerpt
}

/// The `Cookie` header value from a response's `Set-Cookie` headers.
fn cookies(response: &ureq::http::Response<ureq::Body>) -> Option<String> {
    let pairs: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(|pair| pair.trim().to_owned())
        .filter(|pair| pair.contains('='))
        .collect();
    (!pairs.is_empty()).then(|| pairs.join("; "))
}

fn get(
    agent: &ureq::Agent,
    config: &Config,
    url: &str,
    cookie: Option<&str>,
    timeout: Duration,
    what: &str,
) -> Result<ureq::http::Response<ureq::Body>> {
    let request = add_headers(agent.get(url), config, cookie)
        .config()
        .timeout_global(Some(timeout))
        .build();
    request
        .call()
        .map_err(|e| classify(e, what, config, what == HANDSHAKE))
}

fn post(
    agent: &ureq::Agent,
    config: &Config,
    url: &str,
    cookie: Option<&str>,
    body: &[u8],
    content_type: &str,
) -> Result<Answer> {
    let request = add_headers(agent.post(url), config, cookie)
        .content_type(content_type)
        .config()
        .timeout_global(Some(config.request_timeout))
        .build();
    let response = request
        .send(body)
        .map_err(|e| classify(e, "POST", config, false))?;
    let status = response.status().as_u16();
    let body = if (200..300).contains(&status) {
        // `ok`: read it all (keep-alive), within the limit.
        response
            .into_body()
            .into_with_config()
            .limit(MAX_ANSWER_BYTES as u64)
            .read_to_vec()
            .map_err(|e| classify(e, "POST", config, false))?
    } else {
        read_excerpt(response.into_body())
    };
    Ok(Answer { status, body })
}

/// How the body of `response` frames its packets: by the protocol version and, for
/// v3, the `Content-Type` (V6).
fn framing(config: &Config, response: &ureq::http::Response<ureq::Body>) -> Framing {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    Framing::of_response(config.protocol, content_type)
}

/// What a successful polling handshake gives.
pub(crate) struct Opened {
    pub(crate) handshake: Handshake,
    /// The rest of the handshake's body: packets that followed OPEN (CL2), read by
    /// the GET thread before its first poll.
    pub(crate) rest: Box<PayloadReader<BodyReader>>,
    /// The `Cookie` header for later requests, from the handshake's `Set-Cookie`.
    pub(crate) cookie: Option<String>,
}

/// The polling handshake (CL1, CL2), within the request timeout; the OPEN packet is
/// at most [`incoming::MAX_OPEN_BYTES`].
pub(crate) fn handshake(agent: &ureq::Agent, config: &Config, attempt: &Attempt) -> Result<Opened> {
    let url = config.url(Transport::Polling, None);
    log::debug!("engineio client: handshake GET {url}");
    attempt.add_agent(agent)?;
    let response = get(agent, config, &url, None, config.request_timeout, HANDSHAKE)?;
    let status = response.status().as_u16();
    let cookie = cookies(&response);
    if !(200..300).contains(&status) {
        let body = read_excerpt(response.into_body());
        return Err(
            Error::new(ErrorKind::Handshake, "the server refused the handshake")
                .with_response(status, String::from_utf8_lossy(&body).into_owned()),
        );
    }
    let framing = framing(config, &response);
    let source = response.into_body().into_with_config().reader();
    let mut rest = Box::new(PayloadReader::with_framing(
        source,
        framing,
        Limits::handshake(),
    ));
    let first = rest.next_segment(|segment| {
        let text = String::from_utf8_lossy(segment.bytes).into_owned();
        Ok((framing.decode(segment), text))
    });
    let (packet, text) = match first {
        Ok(Some(first)) => first,
        Ok(None) => {
            return Err(
                Error::new(ErrorKind::Handshake, "the handshake body holds no packet")
                    .with_response(status, String::new()),
            )
        }
        Err(e) if e.kind() == ErrorKind::Decode => {
            return Err(Error::new(
                ErrorKind::Handshake,
                "the handshake body is not an Engine.IO payload",
            )
            .with_response(status, String::new())
            .with_source(e))
        }
        Err(e) => return Err(e),
    };
    let not_open = |why: &str| {
        Error::new(ErrorKind::Handshake, why.to_owned()).with_response(status, text.clone())
    };
    let handshake = match packet {
        Ok(Packet::Open(json)) => Handshake::from_json(&json)
            .map_err(|e| not_open("the OPEN packet is invalid").with_source(e))?,
        _ => {
            return Err(not_open(
                "the handshake body does not start with an OPEN packet",
            ))
        }
    };
    incoming::check_heartbeat(config, &handshake)?;
    rest.set_limits(Limits::new(config, &handshake));
    Ok(Opened {
        handshake,
        rest,
        cookie,
    })
}

/// Starts the GET loop (which first reads `rest`, the handshake's remaining
/// packets) and the POST writer of a polling connection.
pub(crate) fn start(conn: &Arc<Conn>, rest: Box<PayloadReader<BodyReader>>) -> Result<()> {
    let reader = Arc::clone(conn);
    conn.state.lock().get_in_flight = true;
    conn.spawn("poll", move || {
        let mut rest = rest;
        let open = deliver(&reader, &mut rest, "handshake");
        {
            let mut state = reader.state.lock();
            state.get_in_flight = false;
            reader.cond.notify_all();
        }
        if open {
            get_loop(&reader);
        }
    })?;
    let writer = Arc::clone(conn);
    conn.spawn("post", move || post_loop(&writer))?;
    Ok(())
}

/// Hands every packet of a payload to the connection as it is decoded. Returns
/// false when the connection ended (a CLOSE, or a body it refused: then with
/// `transport error`).
fn deliver<R: Read>(conn: &Conn, payload: &mut PayloadReader<R>, what: &str) -> bool {
    loop {
        match payload.next_packet() {
            Ok(Some(packet)) => {
                if !conn.on_packet(packet) {
                    return false;
                }
            }
            Ok(None) => return true,
            Err(e) => {
                if !conn.is_closed() {
                    log::warn!("engineio client: refused {what} body: {e}");
                }
                conn.transport_ended(Reason::TransportError);
                return false;
            }
        }
    }
}

fn get_loop(conn: &Conn) {
    let config = &conn.config;
    // The server answers a poll at the latest at its next ping (ping interval), or
    // after ping interval + ping timeout with a noop; allow the request timeout on top.
    let timeout = incoming::heartbeat(&conn.handshake) + config.request_timeout;
    loop {
        {
            let mut state = conn.state.lock();
            loop {
                if state.closed.is_some() || state.closing || state.transport != Transport::Polling
                {
                    return;
                }
                if !state.upgrading {
                    break;
                }
                conn.cond.wait(&mut state);
            }
            state.get_in_flight = true;
        }
        let url = config.url(Transport::Polling, Some(&conn.handshake.sid));
        let result = get(
            &conn.agent,
            config,
            &url,
            conn.cookie.as_deref(),
            timeout,
            "poll",
        );
        let keep_going = match result {
            Ok(response) if response.status().as_u16() == 200 => {
                let framing = framing(config, &response);
                let source = response.into_body().into_with_config().reader();
                let mut payload = PayloadReader::with_framing(source, framing, conn.limits);
                deliver(conn, &mut payload, "poll")
            }
            Ok(response) => {
                let status = response.status().as_u16();
                let body = read_excerpt(response.into_body());
                log::warn!(
                    "engineio client: poll answered {status}: {}",
                    String::from_utf8_lossy(&body)
                );
                conn.transport_ended(Reason::TransportError);
                false
            }
            Err(e) => {
                if !conn.is_closed() {
                    log::warn!("engineio client: poll failed: {e}");
                }
                conn.transport_ended(Reason::TransportError);
                false
            }
        };
        {
            let mut state = conn.state.lock();
            state.get_in_flight = false;
            conn.cond.notify_all();
        }
        if !keep_going {
            return;
        }
    }
}

fn post_loop(conn: &Conn) {
    let config = &conn.config;
    let limit = conn.max_payload();
    let mut body = Vec::new();
    loop {
        let has_close;
        let content_type;
        {
            let mut state = conn.state.lock();
            loop {
                if state.closed.is_some() || state.transport != Transport::Polling {
                    return;
                }
                if !state.outbox.is_empty() && (!state.upgrading || state.closing) {
                    break;
                }
                conn.cond.wait(&mut state);
            }
            // One body of at most `maxPayload` bytes (Z3); send refuses single packets
            // over the limit, so the first one always fits.
            body.clear();
            let count = batch_len(&state.outbox, limit, config);
            let batch: Vec<Packet> = state.outbox.drain(..count).collect();
            let taken: usize = batch.iter().map(Packet::encoded_len).sum();
            state.outbox_bytes = state.outbox_bytes.saturating_sub(taken);
            has_close = batch.iter().any(|p| matches!(p, Packet::Close));
            content_type = encode(&batch, config, &mut body);
            state.post_in_flight = true;
        }
        let url = config.url(Transport::Polling, Some(&conn.handshake.sid));
        let result = post(
            &conn.agent,
            config,
            &url,
            conn.cookie.as_deref(),
            &body,
            content_type,
        );
        {
            let mut state = conn.state.lock();
            state.post_in_flight = false;
            if has_close {
                state.close_sent = true;
            }
            conn.cond.notify_all();
        }
        match result {
            Ok(answer) if (200..300).contains(&answer.status) => {
                if has_close {
                    return;
                }
            }
            Ok(answer) => {
                log::warn!(
                    "engineio client: POST answered {}: {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                );
                conn.transport_ended(Reason::TransportError);
                return;
            }
            Err(e) => {
                if !conn.is_closed() {
                    log::warn!("engineio client: POST failed: {e}");
                }
                conn.transport_ended(Reason::TransportError);
                return;
            }
        }
    }
}

/// The length in bytes of the POST body carrying `packets` (v4: L1; v3: the form
/// [`v3::encode`] picks, V4–V6).
pub(crate) fn payload_len<'a, I>(packets: I, config: &Config) -> usize
where
    I: IntoIterator<Item = &'a Packet>,
    I::IntoIter: Clone,
{
    match config.protocol {
        ProtocolVersion::V3 => v3::encoded_len(packets, config.b64),
        ProtocolVersion::V4 => payload::encoded_len(packets),
    }
}

/// Appends the POST body carrying `packets` to `body`; returns its `Content-Type`. A
/// v3 body holding a binary message is in the binary form unless `force_base64`,
/// as the reference client sends it when it supports binary.
fn encode(packets: &[Packet], config: &Config, body: &mut Vec<u8>) -> &'static str {
    match config.protocol {
        ProtocolVersion::V3 => v3::encode(packets, config.b64, body).content_type(),
        ProtocolVersion::V4 => {
            payload::encode(packets, body);
            "text/plain;charset=UTF-8"
        }
    }
}

/// How many packets from the front of `outbox` go in the next POST: at least one, at
/// most [`MAX_PACKETS_PER_POST`], and no more than fit in `limit` bytes.
fn batch_len(outbox: &VecDeque<Packet>, limit: u64, config: &Config) -> usize {
    let mut count = 1;
    while count < outbox.len().min(MAX_PACKETS_PER_POST) {
        if payload_len(outbox.range(..=count), config) as u64 > limit {
            break;
        }
        count += 1;
    }
    count.min(outbox.len())
}
