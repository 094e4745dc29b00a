//! HTTP long-polling: the long-poll GET and the POST.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::endpoint::ProtocolError;
use super::http::compression;
use super::http::{BodyError, Exchange, Response};
use super::inner::Inner;
use super::session::{CloseHow, Session};
use super::Reason;
use crate::packet::Packet;
use crate::payload::v3::{self, PayloadForm};
use crate::payload::{self, jsonp};
use crate::{ProtocolVersion, Result};

const TEXT: &str = "text/plain; charset=UTF-8";

/// A `200` payload response (H6, G1), of `content_type`.
fn payload_response(body: Vec<u8>, content_type: &str) -> Response {
    Response::with_body(200, content_type, body).header("Cache-Control", "no-store")
}

/// How a polling request wants its payloads: the session's version, the v3 base64
/// mode, and JSONP (the `j` index, §15).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Framing {
    pub version: ProtocolVersion,
    pub b64: bool,
    pub jsonp: Option<u32>,
}

impl Framing {
    /// `packets` as one payload response (L1; V4–V6; J2).
    pub(crate) fn response<'a>(
        &self,
        packets: impl IntoIterator<Item = &'a Packet, IntoIter: Clone>,
    ) -> Response {
        let packets = packets.into_iter();
        let mut body = Vec::with_capacity(256);
        let content_type = match (self.jsonp, self.version) {
            (Some(index), version) => {
                jsonp::encode(index, packets, version, &mut body);
                jsonp::CONTENT_TYPE
            }
            (None, ProtocolVersion::V4) => {
                body.reserve(payload::encoded_len(packets.clone()));
                payload::encode(packets, &mut body);
                TEXT
            }
            (None, ProtocolVersion::V3) => v3::encode(packets, self.b64, &mut body).content_type(),
        };
        payload_response(body, content_type)
    }

    /// The packets of a POST body (P1; V7; J3).
    fn decode(
        &self,
        body: &[u8],
        content_type: Option<&str>,
        max_payload: usize,
    ) -> Result<Vec<Packet>> {
        match (self.jsonp, self.version) {
            (Some(_), version) => jsonp::decode(body, version, max_payload),
            (None, ProtocolVersion::V4) => payload::decode(body),
            (None, ProtocolVersion::V3) => v3::decode(
                body,
                PayloadForm::from_content_type(content_type),
                max_payload,
            ),
        }
    }
}

/// A lone noop (G2, C2).
pub(crate) fn noop_response(framing: Framing) -> Response {
    framing.response([&Packet::Noop])
}

/// A long-poll GET.
pub(crate) fn get(
    inner: &Arc<Inner>,
    session: &Arc<Session>,
    ex: &mut Exchange<'_>,
    framing: Framing,
) -> Response {
    let config = inner.config();
    let Ok(id) = session.begin_get() else {
        log::debug!("session {}: duplicate long-poll", session.sid);
        return closing(
            inner,
            session,
            Reason::TransportError,
            ProtocolError::BadRequest.response(),
        );
    };
    let deadline = Instant::now() + config.poll_timeout();
    let answer = session.wait_poll(id, deadline, PEER_CHECK, &inner.budget, &|| {
        ex.peer_closed()
    });
    let Some(answer) = answer else {
        log::debug!("session {}: client dropped its long-poll", session.sid);
        return closing(
            inner,
            session,
            Reason::TransportError,
            Response::new(400).closing(),
        );
    };
    if answer.delivered_close {
        inner.close_delivered(session, answer.forget);
    }
    let mut resp = framing.response(answer.packets.iter().map(|p| &**p));
    if let super::http::Body::Bytes(body) = &mut resp.body {
        if config.http_compression && body.len() >= config.compression_threshold {
            if let Some(enc) = compression::negotiate(ex.request.header("accept-encoding")) {
                *body = compression::compress(enc, body);
                resp.headers.push(("Content-Encoding", enc.name().into()));
                resp.headers.push(("Vary", "Accept-Encoding".into()));
            }
        }
    }
    let (inner2, session2) = (inner.clone(), session.clone());
    resp.on_written = Some(Box::new(move |written| {
        if !written {
            // The packets taken for this response are lost: end the session (G3).
            log::debug!(
                "session {}: writing a long-poll response failed",
                session2.sid
            );
            inner2.close(&session2, Reason::TransportError);
        }
    }));
    resp
}

/// Closes the session for a fault of this request, answering `resp`: the disconnect
/// handler runs on this connection's thread, before the response is written (as a
/// POST's message handlers do).
fn closing(inner: &Arc<Inner>, session: &Arc<Session>, reason: Reason, resp: Response) -> Response {
    let mut resp = resp;
    resp.dispatch = inner.close_here(session, reason, CloseHow::NORMAL);
    resp
}

/// How often a waiting long-poll checks that its client is still connected.
const PEER_CHECK: Duration = Duration::from_millis(500);

/// A POST carrying a payload.
pub(crate) fn post(
    inner: &Arc<Inner>,
    session: &Arc<Session>,
    ex: &mut Exchange<'_>,
    framing: Framing,
) -> Response {
    if !session.begin_post() {
        log::debug!("session {}: duplicate POST", session.sid);
        return closing(
            inner,
            session,
            Reason::TransportError,
            ProtocolError::BadRequest.response(),
        );
    }
    let resp = post_inner(inner, session, ex, framing);
    session.end_post();
    resp
}

fn post_inner(
    inner: &Arc<Inner>,
    session: &Arc<Session>,
    ex: &mut Exchange<'_>,
    framing: Framing,
) -> Response {
    let is_octet = ex.request.header("content-type").is_some_and(|ct| {
        ct.trim()
            .to_ascii_lowercase()
            .starts_with("application/octet-stream")
    });
    // P3: v4 has no binary payloads (v3 has, V6).
    if is_octet && framing.version == ProtocolVersion::V4 && framing.jsonp.is_none() {
        log::debug!("session {}: octet-stream POST", session.sid);
        return closing(
            inner,
            session,
            Reason::TransportError,
            ProtocolError::BadRequest.response(),
        );
    }
    let body = match ex.read_body(inner.config().max_payload) {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            log::debug!("session {}: POST body over max_payload", session.sid);
            return closing(
                inner,
                session,
                Reason::TransportError,
                Response::new(413).closing(),
            );
        }
        Err(BodyError::Malformed) => {
            log::debug!("session {}: malformed chunked POST body", session.sid);
            return closing(
                inner,
                session,
                Reason::TransportError,
                Response::new(400).closing(),
            );
        }
        Err(BodyError::Io(e)) => {
            log::debug!("session {}: reading POST body failed: {e}", session.sid);
            return closing(
                inner,
                session,
                Reason::TransportError,
                Response::new(400).closing(),
            );
        }
    };
    let content_type = ex.request.header("content-type");
    let max = inner.config().max_payload;
    let packets: Vec<Packet> = match framing.decode(&body, content_type, max) {
        Ok(p) => p,
        Err(e) => {
            log::debug!("session {}: malformed payload: {e}", session.sid);
            return closing(
                inner,
                session,
                Reason::ParseError,
                ProtocolError::BadRequest.response(),
            );
        }
    };
    drop(body);
    // P1: the packets go to the session, in order, before `ok`. The handlers run on
    // this thread before the response is written, unless they take long (then the
    // response goes out from another thread, see `handoff`).
    let mut dispatch = None;
    let mut full = false;
    for packet in packets {
        full |= inner.receive(session, packet, &mut dispatch);
    }
    if full && dispatch.is_none() {
        // Back-pressure: the client's next POST waits for its busy handler.
        session.wait_for_room();
    }
    let mut resp = Response::with_body(200, "text/html", "ok");
    resp.dispatch = dispatch;
    resp
}
