//! HTTP long-polling: the long-poll GET and the POST.

use std::sync::Arc;

use super::endpoint::ProtocolError;
use super::http::compression;
use super::http::{BodyError, Exchange, Response};
use super::socket::{PollAnswer, Socket};
use super::{Inner, Reason};
use crate::packet::Packet;
use crate::payload;

const TEXT: &str = "text/plain; charset=UTF-8";

/// A `200` payload response (H6, G1).
pub(crate) fn payload_response(body: Vec<u8>) -> Response {
    Response::with_body(200, TEXT, body).header("Cache-Control", "no-store")
}

/// A lone noop (G2, C2).
pub(crate) fn noop_response() -> Response {
    payload_response(b"6".to_vec())
}

/// A long-poll GET.
pub(crate) fn get(inner: &Arc<Inner>, socket: &Arc<Socket>, ex: &mut Exchange<'_>) -> Response {
    let config = inner.config();
    let id = match socket.begin_get() {
        Ok(id) => id,
        Err(()) => {
            log::info!("session {}: duplicate long-poll", socket.sid);
            inner.close(socket, Reason::TransportError);
            return ProtocolError::BadRequest.response();
        }
    };
    let answer = socket.poll(id, config.poll_timeout(), config.max_poll_packets, &|| {
        ex.peer_closed()
    });
    let packets = match answer {
        PollAnswer::PeerGone => {
            log::info!("session {}: client dropped its long-poll", socket.sid);
            inner.close(socket, Reason::TransportError);
            return Response::new(400).closing();
        }
        PollAnswer::Packets(p) => p,
    };
    if !socket.is_open() && !socket.is_lingering() {
        // The close packet has been taken: the sid is gone for good.
        inner.forget(socket);
    }
    let mut body = Vec::with_capacity(payload::encoded_len(packets.iter().map(|p| &**p)));
    payload::encode(packets.iter().map(|p| &**p), &mut body);
    let mut resp = payload_response(Vec::new());
    if config.http_compression && body.len() >= config.compression_threshold {
        if let Some(enc) = compression::negotiate(ex.request.header("accept-encoding")) {
            body = compression::compress(enc, &body);
            resp.headers.push(("Content-Encoding", enc.name().into()));
            resp.headers.push(("Vary", "Accept-Encoding".into()));
        }
    }
    resp.body = super::http::Body::Bytes(body);
    let (inner2, socket2) = (inner.clone(), socket.clone());
    resp.on_written = Some(Box::new(move |written| {
        if !written {
            // The packets taken for this response are lost: end the session (G3).
            inner2.close(&socket2, Reason::TransportError);
        }
    }));
    resp
}

/// A POST carrying a payload.
pub(crate) fn post(inner: &Arc<Inner>, socket: &Arc<Socket>, ex: &mut Exchange<'_>) -> Response {
    if !socket.begin_post() {
        log::info!("session {}: duplicate POST", socket.sid);
        inner.close(socket, Reason::TransportError);
        return ProtocolError::BadRequest.response();
    }
    let resp = post_inner(inner, socket, ex);
    socket.end_post();
    resp
}

fn post_inner(inner: &Arc<Inner>, socket: &Arc<Socket>, ex: &mut Exchange<'_>) -> Response {
    let is_octet = ex.request.header("content-type").is_some_and(|ct| {
        ct.trim()
            .to_ascii_lowercase()
            .starts_with("application/octet-stream")
    });
    if is_octet {
        log::info!("session {}: octet-stream POST", socket.sid);
        inner.close(socket, Reason::TransportError);
        return ProtocolError::BadRequest.response();
    }
    let body = match ex.read_body(inner.config().max_payload) {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            log::info!("session {}: POST body over max_payload", socket.sid);
            inner.close(socket, Reason::TransportError);
            return Response::new(413).closing();
        }
        Err(BodyError::Malformed) => {
            inner.close(socket, Reason::TransportError);
            return Response::new(400).closing();
        }
        Err(BodyError::Io(e)) => {
            log::info!("session {}: reading POST body failed: {e}", socket.sid);
            inner.close(socket, Reason::TransportError);
            return Response::new(400).closing();
        }
    };
    let packets: Vec<Packet> = match payload::decode(&body) {
        Ok(p) => p,
        Err(e) => {
            log::info!("session {}: malformed payload: {e}", socket.sid);
            inner.close(socket, Reason::ParseError);
            return ProtocolError::BadRequest.response();
        }
    };
    inner.deliver(socket, packets);
    Response::with_body(200, "text/html", "ok")
}
