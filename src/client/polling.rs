//! HTTP long-polling over ureq: the handshake, the GET loop (one thread) and the POST
//! writer (one thread).
//!
//! At most one GET and one POST are in flight (CL3). The writer sends everything
//! queued, split into bodies of at most the server's `maxPayload` bytes. Both threads
//! stop when the connection closes or the upgrade to WebSocket completes; while the
//! upgrade switches over they issue no new request (X6). A connection's ureq agent is
//! shut down when the connection closes, which interrupts a GET or POST in flight.

use std::sync::Arc;
use std::time::Duration;

use crate::client::config::Config;
use crate::client::conn::Conn;
use crate::client::Reason;
use crate::packet::{Handshake, Packet};
use crate::transport::Transport;
use crate::{payload, Error, ErrorKind, Result};

/// python-engineio refuses payloads of more than 16 packets (and answers 200 all
/// the same, so the packets would be lost silently): never send more in one POST.
const MAX_PACKETS_PER_POST: usize = 16;

/// The agent of one connection. Proxy and TLS come from the configuration; the
/// `HTTP_PROXY` environment variables are ignored; a non-2xx status is an answer,
/// not an error.
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

/// An HTTP answer: status, body, `Set-Cookie` name=value pairs.
struct Answer {
    status: u16,
    body: Vec<u8>,
    cookies: Vec<String>,
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

fn classify(e: ureq::Error, what: &str) -> Error {
    let message = format!("{what} failed");
    match &e {
        ureq::Error::Timeout(_) => Error::new(ErrorKind::Timeout, message),
        ureq::Error::Io(io) if matches!(io.kind(), std::io::ErrorKind::TimedOut) => {
            Error::new(ErrorKind::Timeout, message)
        }
        ureq::Error::Tls(_) => Error::new(ErrorKind::Tls, message),
        #[cfg(feature = "tls")]
        ureq::Error::Rustls(_) => Error::new(ErrorKind::Tls, message),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            // rustls reports certificate failures as InvalidData I/O errors.
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

fn read_answer(mut response: ureq::http::Response<ureq::Body>, what: &str) -> Result<Answer> {
    let status = response.status().as_u16();
    let cookies = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(|pair| pair.trim().to_owned())
        .filter(|pair| pair.contains('='))
        .collect();
    let body = response
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .map_err(|e| classify(e, what))?;
    Ok(Answer {
        status,
        body,
        cookies,
    })
}

fn get(
    agent: &ureq::Agent,
    config: &Config,
    url: &str,
    cookie: Option<&str>,
    timeout: Duration,
    what: &str,
) -> Result<Answer> {
    let request = add_headers(agent.get(url), config, cookie)
        .config()
        .timeout_global(Some(timeout))
        .build();
    let response = request.call().map_err(|e| classify(e, what))?;
    read_answer(response, what)
}

fn post(
    agent: &ureq::Agent,
    config: &Config,
    url: &str,
    cookie: Option<&str>,
    body: &[u8],
) -> Result<Answer> {
    let request = add_headers(agent.post(url), config, cookie)
        .content_type("text/plain;charset=UTF-8")
        .config()
        .timeout_global(Some(config.request_timeout))
        .build();
    let response = request.send(body).map_err(|e| classify(e, "POST"))?;
    read_answer(response, "POST")
}

/// What a successful polling handshake gives.
pub(crate) struct Opened {
    pub(crate) handshake: Handshake,
    /// Packets that followed OPEN in the same body (CL2).
    pub(crate) rest: Vec<Packet>,
    /// The `Cookie` header for later requests, from the handshake's `Set-Cookie`.
    pub(crate) cookie: Option<String>,
}

/// The polling handshake (CL1, CL2).
pub(crate) fn handshake(agent: &ureq::Agent, config: &Config) -> Result<Opened> {
    let url = config.url(Transport::Polling, None);
    log::debug!("engineio client: handshake GET {url}");
    let answer = get(
        agent,
        config,
        &url,
        None,
        config.request_timeout,
        "handshake",
    )?;
    let body_text = || String::from_utf8_lossy(&answer.body).into_owned();
    if !(200..300).contains(&answer.status) {
        return Err(
            Error::new(ErrorKind::Handshake, "the server refused the handshake")
                .with_response(answer.status, body_text()),
        );
    }
    let not_open = |why: &str| {
        Error::new(ErrorKind::Handshake, why.to_owned()).with_response(answer.status, body_text())
    };
    let mut packets = payload::decode(&answer.body)
        .map_err(|e| not_open("the handshake body is not an Engine.IO payload").with_source(e))?
        .into_iter();
    let handshake = match packets.next() {
        Some(Packet::Open(json)) => Handshake::from_json(&json)
            .map_err(|e| not_open("the OPEN packet is invalid").with_source(e))?,
        _ => {
            return Err(not_open(
                "the handshake body does not start with an OPEN packet",
            ))
        }
    };
    let cookie = if answer.cookies.is_empty() {
        None
    } else {
        Some(answer.cookies.join("; "))
    };
    Ok(Opened {
        handshake,
        rest: packets.collect(),
        cookie,
    })
}

/// Starts the GET loop and the POST writer of a polling connection.
pub(crate) fn start(conn: &Arc<Conn>) -> Result<()> {
    let reader = Arc::clone(conn);
    conn.spawn("poll", move || get_loop(&reader))?;
    let writer = Arc::clone(conn);
    conn.spawn("post", move || post_loop(&writer))?;
    Ok(())
}

fn get_loop(conn: &Conn) {
    let config = &conn.config;
    // The server answers a poll at the latest at its next ping (ping interval), or
    // after ping interval + ping timeout with a noop; allow the request timeout on top.
    let timeout = Duration::from_millis(
        conn.handshake
            .ping_interval
            .saturating_add(conn.handshake.ping_timeout),
    ) + config.request_timeout;
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
        let outcome = match result {
            Ok(answer) if answer.status == 200 => match payload::decode(&answer.body) {
                Ok(packets) => {
                    let mut keep_going = true;
                    for packet in packets {
                        if !conn.on_packet(packet) {
                            keep_going = false;
                            break;
                        }
                    }
                    if keep_going {
                        Ok(())
                    } else {
                        Err(None)
                    }
                }
                Err(e) => {
                    log::warn!("engineio client: undecodable poll body: {e}");
                    Err(Some(Reason::TransportError))
                }
            },
            Ok(answer) => {
                log::warn!(
                    "engineio client: poll answered {}: {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                );
                Err(Some(Reason::TransportError))
            }
            Err(e) => {
                if !conn.is_closed() {
                    log::warn!("engineio client: poll failed: {e}");
                }
                Err(Some(Reason::TransportError))
            }
        };
        {
            let mut state = conn.state.lock();
            state.get_in_flight = false;
            conn.cond.notify_all();
        }
        match outcome {
            Ok(()) => {}
            Err(None) => return,
            Err(Some(reason)) => {
                conn.transport_ended(reason);
                return;
            }
        }
    }
}

fn post_loop(conn: &Conn) {
    let config = &conn.config;
    let limit = conn.max_payload();
    let mut body = Vec::new();
    loop {
        let has_close;
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
            let mut count = 0;
            let mut len = 0usize;
            for packet in &state.outbox {
                let add = packet.encoded_len() + usize::from(count > 0);
                if count > 0 && ((len + add) as u64 > limit || count == MAX_PACKETS_PER_POST) {
                    break;
                }
                len += add;
                count += 1;
            }
            let batch: Vec<Packet> = state.outbox.drain(..count).collect();
            let taken: usize = batch.iter().map(Packet::encoded_len).sum();
            state.outbox_bytes = state.outbox_bytes.saturating_sub(taken);
            has_close = batch.iter().any(|p| matches!(p, Packet::Close));
            payload::encode(&batch, &mut body);
            state.post_in_flight = true;
        }
        let url = config.url(Transport::Polling, Some(&conn.handshake.sid));
        let result = post(&conn.agent, config, &url, conn.cookie.as_deref(), &body);
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
