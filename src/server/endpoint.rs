//! The Engine.IO endpoint: request validation in the protocol's order, the error
//! responses, the handshake, and dispatch to the polling and WebSocket transports.

use std::sync::Arc;

use super::cors::{self, CorsDecision};
use super::dispatch;
use super::http::{Exchange, Outcome, Response};
use super::inner::Inner;
use super::session::Session;
use super::websocket::{self, handshake};
use super::{polling, Transport};
use crate::packet::{Handshake, Packet};
use crate::{payload, ProtocolVersion};

/// A protocol error response (§10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProtocolError {
    UnknownTransport = 0,
    UnknownSid = 1,
    BadHandshakeMethod = 2,
    BadRequest = 3,
    UnsupportedProtocolVersion = 5,
}

impl ProtocolError {
    fn message(self) -> &'static str {
        match self {
            ProtocolError::UnknownTransport => "Transport unknown",
            ProtocolError::UnknownSid => "Session ID unknown",
            ProtocolError::BadHandshakeMethod => "Bad handshake method",
            ProtocolError::BadRequest => "Bad request",
            ProtocolError::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    pub(crate) fn response(self) -> Response {
        Response::with_body(
            400,
            "application/json",
            format!(
                r#"{{"code":{},"message":"{}"}}"#,
                self as u8,
                self.message()
            ),
        )
    }
}

/// What a request under the Engine.IO path turned out to be.
enum Routed {
    Respond(Response),
    /// An accepted WebSocket handshake (no sid): its `Sec-WebSocket-Accept`.
    WebSocket(Arc<Session>, String),
    /// An upgrade request for a polling session.
    Upgrade(Arc<Session>, String),
    /// A WebSocket for a session that has or is opening one (W5): `101`, then a close.
    SecondWebSocket(String),
}

/// Serves one request under the Engine.IO path.
pub(crate) fn serve(inner: &Arc<Inner>, ex: &mut Exchange<'_>) -> Outcome {
    let config = inner.config();
    let decision = dispatch::call("CORS predicate", "", || {
        cors::check(&config.cors, &ex.request)
    })
    .unwrap_or(CorsDecision::Refused);
    let mut resp = match route(inner, ex, &decision) {
        Routed::Respond(r) => r,
        Routed::WebSocket(session, accept) => {
            let open = open_packet(inner, &session, Transport::WebSocket);
            let mut extra = Vec::new();
            if let Some(cookie) = render_cookie(inner, &session, &ex.request) {
                extra.push(("Set-Cookie", cookie));
            }
            websocket::serve_handshake(inner, &session, ex, &accept, &extra, &open);
            return Outcome::Upgraded;
        }
        Routed::Upgrade(session, accept) => {
            if websocket::serve_upgrade(inner, &session, ex, &accept).is_err() {
                // A probe is open already (W5).
                websocket::refuse_second(ex, &accept);
            }
            return Outcome::Upgraded;
        }
        Routed::SecondWebSocket(accept) => {
            websocket::refuse_second(ex, &accept);
            return Outcome::Upgraded;
        }
    };
    if !matches!(
        decision,
        CorsDecision::Refused | CorsDecision::InvalidOrigin
    ) {
        let mut headers = Vec::new();
        if ex.request.method == http::Method::OPTIONS {
            cors::preflight_headers(
                &decision,
                config.cors_credentials,
                &ex.request,
                &mut headers,
            );
        } else {
            cors::response_headers(&decision, config.cors_credentials, &mut headers);
        }
        resp.headers.extend(headers);
    }
    if is_websocket_upgrade(&ex.request) {
        // E-b: a refused upgrade ends the connection.
        resp.close = true;
    }
    Outcome::Respond(resp)
}

fn route(inner: &Arc<Inner>, ex: &mut Exchange<'_>, decision: &CorsDecision) -> Routed {
    let config = inner.config();
    let req = &ex.request;
    let refused = matches!(
        decision,
        CorsDecision::Refused | CorsDecision::InvalidOrigin
    );
    // 1. Preflight.
    if req.method == http::Method::OPTIONS {
        if refused {
            log_bad_request(req, "preflight from a refused origin");
            return Routed::Respond(ProtocolError::BadRequest.response());
        }
        return Routed::Respond(Response::new(204));
    }
    // 2. Transport.
    let transports: Vec<&str> = query_all(req, "transport");
    let transport = match transports.as_slice() {
        ["polling"] if config.polling => Transport::Polling,
        ["websocket"] if config.websocket => Transport::WebSocket,
        _ => {
            return Routed::Respond(reject(
                req,
                ProtocolError::UnknownTransport,
                "unknown transport",
            ))
        }
    };
    // 3. Origin.
    if refused {
        return Routed::Respond(reject(req, ProtocolError::BadRequest, "origin not allowed"));
    }
    let eio: Vec<&str> = query_all(req, "EIO");
    let sids: Vec<&str> = query_all(req, "sid");
    let is_upgrade = is_websocket_upgrade(req);
    // JSONP polling (J1): a valid `j` index, once.
    let jsonp = match query_all(req, "j").as_slice() {
        _ if transport != Transport::Polling => None,
        [] => None,
        [j] => match payload::jsonp::parse_index(j) {
            Ok(n) => Some(n),
            Err(_) => {
                return Routed::Respond(reject(req, ProtocolError::BadRequest, "bad JSONP index"))
            }
        },
        _ => {
            return Routed::Respond(reject(
                req,
                ProtocolError::BadRequest,
                "repeated JSONP index",
            ))
        }
    };
    // v3's base64 payload mode, fixed at the handshake (V5).
    let b64 = req.query("b64").is_some_and(|v| !v.is_empty());
    if sids.len() > 1 {
        return Routed::Respond(reject(req, ProtocolError::UnknownSid, "repeated sid"));
    }
    match sids.first().copied().filter(|s| !s.is_empty()) {
        Some(sid) => {
            // 4. With a sid.
            let Some(session) = inner.lookup_for_request(sid) else {
                if req.method == http::Method::GET
                    && transport == Transport::Polling
                    && inner.table.take_recent_client_close(sid)
                {
                    let version = match eio.as_slice() {
                        ["3"] => ProtocolVersion::V3,
                        _ => ProtocolVersion::V4,
                    };
                    return Routed::Respond(polling::noop_response(polling::Framing {
                        version,
                        b64,
                        jsonp,
                    }));
                }
                return Routed::Respond(reject(req, ProtocolError::UnknownSid, "unknown sid"));
            };
            if eio.as_slice() != [session.version.as_str()] {
                return Routed::Respond(reject(
                    req,
                    ProtocolError::BadRequest,
                    "EIO differs from the session's",
                ));
            }
            if req.method != http::Method::GET && req.method != http::Method::POST {
                return Routed::Respond(reject(
                    req,
                    ProtocolError::BadRequest,
                    "method not allowed with a sid",
                ));
            }
            if (transport == Transport::WebSocket) != is_upgrade {
                return Routed::Respond(reject(
                    req,
                    ProtocolError::BadRequest,
                    "transport/upgrade mismatch",
                ));
            }
            if transport == Transport::WebSocket {
                if !config.allow_upgrades {
                    return Routed::Respond(reject(
                        req,
                        ProtocolError::BadRequest,
                        "upgrades not allowed",
                    ));
                }
                if session.is_closing() {
                    return Routed::Respond(reject(
                        req,
                        ProtocolError::UnknownSid,
                        "session closed",
                    ));
                }
                let accept = match handshake::accept_key(req) {
                    Ok(accept) => accept,
                    Err(why) => {
                        return Routed::Respond(reject(req, ProtocolError::BadRequest, why))
                    }
                };
                if session.transport() != Transport::Polling {
                    // W5: the session has its WebSocket (upgraded, or WebSocket-only).
                    return Routed::SecondWebSocket(accept);
                }
                return Routed::Upgrade(session, accept);
            }
            if session.transport() != Transport::Polling {
                return Routed::Respond(reject(
                    req,
                    ProtocolError::BadRequest,
                    "session is not on polling",
                ));
            }
            if session.is_closing() && req.method == http::Method::POST {
                return Routed::Respond(reject(req, ProtocolError::UnknownSid, "session closed"));
            }
            let framing = polling::Framing {
                version: session.version,
                b64: session.b64,
                jsonp,
            };
            if req.method == http::Method::GET {
                Routed::Respond(polling::get(inner, &session, ex, framing))
            } else {
                Routed::Respond(polling::post(inner, &session, ex, framing))
            }
        }
        None => {
            // 5. Handshake.
            if req.method != http::Method::GET {
                return Routed::Respond(reject(
                    req,
                    ProtocolError::BadHandshakeMethod,
                    "handshake not a GET",
                ));
            }
            // E-a: exactly `4`, or exactly `3` when v3 is allowed.
            let version = match eio.as_slice() {
                [v] => ProtocolVersion::from_eio(v)
                    .filter(|v| *v == ProtocolVersion::V4 || config.allow_eio3),
                _ => None,
            };
            let Some(version) = version else {
                return Routed::Respond(reject(
                    req,
                    ProtocolError::UnsupportedProtocolVersion,
                    "bad EIO",
                ));
            };
            if (transport == Transport::WebSocket) != is_upgrade {
                return Routed::Respond(reject(
                    req,
                    ProtocolError::BadRequest,
                    "transport/upgrade mismatch",
                ));
            }
            let accept = if transport == Transport::WebSocket {
                match handshake::accept_key(req) {
                    Ok(a) => Some(a),
                    Err(why) => {
                        return Routed::Respond(reject(req, ProtocolError::BadRequest, why))
                    }
                }
            } else {
                None
            };
            if !inner.is_running() {
                return Routed::Respond(Response::new(503).closing());
            }
            let session = match connect(inner, ex, transport, version, b64) {
                Ok(s) => s,
                Err(resp) => return Routed::Respond(resp),
            };
            let framing = polling::Framing {
                version,
                b64,
                jsonp,
            };
            match accept {
                Some(accept) => Routed::WebSocket(session, accept),
                None => Routed::Respond(polling_handshake(inner, ex, session, framing)),
            }
        }
    }
}

/// Creates a session and runs the connect handler (H3): the accepted session, or the
/// response refusing it.
fn connect(
    inner: &Arc<Inner>,
    ex: &Exchange<'_>,
    transport: Transport,
    version: ProtocolVersion,
    b64: bool,
) -> Result<Arc<Session>, Response> {
    let Some(session) = inner.create_session(transport, version, b64) else {
        return Err(Response::with_body(
            500,
            "text/plain",
            "cannot create a session",
        ));
    };
    if let Err(rejection) = inner.run_connect(&session, &ex.request) {
        log::info!(
            "connection from {} rejected by the connect handler",
            ex.request.remote_addr
        );
        let body = serde_json::to_vec(&rejection.data).unwrap_or_default();
        return Err(Response::with_body(401, "application/json", body));
    }
    if !inner.is_running() {
        // Shutdown began while the connect handler ran, after it closed every session.
        inner.close_with(
            &session,
            super::Reason::ServerDisconnect,
            super::session::CloseHow {
                now: true,
                ws_code: None,
            },
        );
        return Err(Response::new(503).closing());
    }
    log::info!(
        "session {} opened ({transport}) from {}",
        session.sid,
        ex.request.remote_addr
    );
    Ok(session)
}

/// The OPEN packet (H4, H5).
pub(crate) fn open_packet(inner: &Inner, session: &Session, transport: Transport) -> Packet {
    let config = inner.config();
    Handshake {
        sid: session.sid.to_string(),
        upgrades: if transport == Transport::Polling && config.offers_upgrade() {
            vec!["websocket".into()]
        } else {
            vec![]
        },
        ping_interval: config.advertised_ping_interval(),
        ping_timeout: config.ping_timeout.as_millis() as u64,
        max_payload: config.max_payload as u64,
    }
    .to_packet()
}

/// The polling handshake's response (H6): the OPEN packet alone.
fn polling_handshake(
    inner: &Arc<Inner>,
    ex: &Exchange<'_>,
    session: Arc<Session>,
    framing: polling::Framing,
) -> Response {
    let open = open_packet(inner, &session, Transport::Polling);
    let mut resp = framing.response([&open]);
    if let Some(cookie) = render_cookie(inner, &session, &ex.request) {
        resp.headers.push(("Set-Cookie", cookie));
    }
    let inner2 = inner.clone();
    resp.on_written = Some(Box::new(move |written| {
        if written {
            inner2.start_heartbeat(&session);
        } else {
            inner2.close(&session, super::Reason::TransportError);
        }
    }));
    resp
}

/// The `Set-Cookie` value of a handshake response, if a cookie is configured (its
/// hook, the application's, runs here, its panic caught: no cookie then).
fn render_cookie(inner: &Inner, session: &Session, req: &super::Request) -> Option<String> {
    let cookie = inner.config().cookie.as_ref()?;
    dispatch::call("cookie hook", &session.sid, || {
        cookie.render(&session.sid, req)
    })
}

fn reject(req: &super::Request, err: ProtocolError, why: &'static str) -> Response {
    log_bad_request(req, why);
    err.response()
}

/// Logs a request refused for the client's fault: the first of each kind at warn level
/// (so that a misconfigured client or proxy is noticed), later ones at debug level (so
/// that a misbehaving client cannot flood the log). Error is kept for the server's own
/// faults.
pub(crate) fn log_bad_request(req: &super::Request, why: &'static str) {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static SEEN: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let first = SEEN
        .lock()
        .map(|mut s| s.get_or_insert_with(HashSet::new).insert(why))
        .unwrap_or(false);
    let level = if first {
        log::Level::Warn
    } else {
        log::Level::Debug
    };
    log::log!(
        level,
        "refused {} {} from {}: {why}",
        req.method,
        req.path,
        req.remote_addr
    );
}

fn query_all<'a>(req: &'a super::Request, name: &str) -> Vec<&'a str> {
    req.query
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Whether the request asks for a WebSocket upgrade (`Upgrade: websocket`).
pub(crate) fn is_websocket_upgrade(req: &super::Request) -> bool {
    req.header("upgrade")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
}
