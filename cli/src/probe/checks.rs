//! The HTTP-level checks: sticky sessions, CORS, compression, protocol v3.

use std::time::Duration;

use engineio::packet::{Handshake, Packet};
use engineio::payload::v3::{self, PayloadForm};
use serde_json::{json, Value};

use super::{close_polling, error_code, parse_open, Findings, ProbeArgs, PROBE_TEXT};
use crate::raw::{Raw, RawError, WsOutcome};

/// Five requests with a fresh sid, each on a new connection: a load balancer without
/// sticky sessions sends some of them to a server that does not know the sid.
pub(super) fn check_sticky(raw: &Raw, f: &mut Findings) {
    let url = raw.url("4", "polling", None);
    let Ok(resp) = raw.request("GET", &url, &[], b"", raw.timeout) else {
        return;
    };
    let Some(h) = parse_open(&resp) else {
        return;
    };
    let cookie = resp
        .header("set-cookie")
        .map(|c| c.split(';').next().unwrap_or("").trim().to_owned());
    let mut extra = vec![("Content-Type", "text/plain;charset=UTF-8")];
    if let Some(c) = &cookie {
        extra.push(("Cookie", c.as_str()));
    }
    let session = raw.url("4", "polling", Some(&h.sid));
    let (mut reached, mut unknown, mut other) = (0, 0, Vec::new());
    const REQUESTS: u32 = 5;
    for _ in 0..REQUESTS {
        // A pong nobody asked for: every server ignores it (the session is unchanged).
        match raw.request("POST", &session, &extra, b"3", raw.timeout) {
            Ok(r) if r.status == 200 => reached += 1,
            Ok(r) if error_code(&r) == Some(1) => unknown += 1,
            Ok(r) => other.push(format!("{} {}", r.status, r.body_text(100))),
            Err(e) => other.push(e.to_string()),
        }
    }
    close_polling(raw, &h.sid, &extra[1..]);
    f.set(
        "sticky",
        json!({
            "requests": REQUESTS,
            "reached": reached,
            "unknown_sid": unknown,
            "other": other,
            "cookie": cookie,
        }),
    );
    let mut lines = vec![format!(
        "{reached} of {REQUESTS} requests (each on a new connection{}) reached the session",
        if cookie.is_some() {
            ", with the handshake's cookie"
        } else {
            ""
        }
    )];
    if unknown > 0 {
        lines.push(format!("{unknown} answered `Session ID unknown`"));
        f.problem(
            "sticky",
            format!("{unknown} of {REQUESTS} requests carrying a fresh sid were answered `Session ID unknown`"),
            "sticky sessions are missing: a load balancer spreads one session's requests over several servers; enable sticky sessions (cookie or IP hash), or use WebSocket only",
        );
    }
    for o in &other {
        lines.push(format!("answered: {o}"));
    }
    f.section("Sticky sessions", lines);
}

pub(super) fn check_cors(args: &ProbeArgs, raw: &Raw, polling_ok: bool, f: &mut Findings) {
    let origin = args
        .origin
        .clone()
        .unwrap_or_else(|| "https://example.com".to_owned());
    let asked = args.origin.is_some();
    let url = raw.url("4", "polling", None);
    let preflight = raw.request(
        "OPTIONS",
        &url,
        &[
            ("Origin", origin.as_str()),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        b"",
        raw.timeout,
    );
    let transport = if polling_ok { "polling" } else { "websocket" };
    let (status, allow_origin, allow_credentials, body) = if polling_ok {
        match raw.request(
            "GET",
            &url,
            &[("Origin", origin.as_str())],
            b"",
            raw.timeout,
        ) {
            Ok(r) => {
                if let Some(h) = parse_open(&r) {
                    close_polling(raw, &h.sid, &[("Origin", origin.as_str())]);
                }
                (
                    Some(r.status),
                    r.header("access-control-allow-origin").map(str::to_owned),
                    r.header("access-control-allow-credentials")
                        .map(str::to_owned),
                    r.body_text(200),
                )
            }
            Err(e) => (None, None, None, e.to_string()),
        }
    } else {
        match raw.websocket(
            &raw.url("4", "websocket", None),
            &[("Origin", origin.as_str())],
        ) {
            Ok(WsOutcome::Open(mut ws)) => {
                let _ = ws.read(raw.timeout);
                let _ = ws.send_text("1");
                ws.close();
                (Some(101), None, None, String::new())
            }
            Ok(WsOutcome::Refused(r)) => (Some(r.status), None, None, r.body_text(200)),
            Err(e) => (None, None, None, e.to_string()),
        }
    };
    let allowed = match status {
        Some(200) => allow_origin
            .as_deref()
            .is_some_and(|a| a == origin || a == "*"),
        Some(101) => true,
        _ => false,
    };
    let verdict = match (status, &allow_origin) {
        (Some(101), _) => format!(
            "a WebSocket from {origin} is accepted (browsers apply no CORS to WebSockets)"
        ),
        (Some(200), Some(a)) if a == &origin || a == "*" => format!(
            "allowed: Access-Control-Allow-Origin: {a}{}",
            match allow_credentials.as_deref() {
                Some("true") if a == "*" => {
                    " with credentials: browsers refuse `*` with credentials".to_owned()
                }
                Some("true") => ", with credentials".to_owned(),
                _ => String::new(),
            }
        ),
        (Some(200), Some(a)) => format!("refused: Access-Control-Allow-Origin: {a} (another origin)"),
        (Some(200), None) => format!(
            "the server answers, but without Access-Control-Allow-Origin: a page on {origin} cannot read the answer (CORS not configured, or left to a proxy)"
        ),
        (Some(s), _) => format!("refused: {s} {body}"),
        (None, _) => format!("no answer: {body}"),
    };
    let (pf_status, pf_methods) = match &preflight {
        Ok(r) => (
            Some(r.status),
            r.header("access-control-allow-methods").map(str::to_owned),
        ),
        Err(_) => (None, None),
    };
    let mut lines = vec![
        format!(
            "origin {origin}{}",
            if asked {
                ""
            } else {
                " (an unrelated origin; --origin checks yours)"
            }
        ),
        format!("{transport} handshake: {verdict}"),
    ];
    if let Some(s) = pf_status {
        lines.push(format!(
            "preflight (OPTIONS): {s}{}",
            pf_methods
                .as_deref()
                .map(|m| format!(", Access-Control-Allow-Methods: {m}"))
                .unwrap_or_default()
        ));
    }
    f.set(
        "cors",
        json!({
            "origin": origin,
            "transport": transport,
            "status": status,
            "allow_origin": allow_origin,
            "allow_credentials": allow_credentials,
            "allowed": allowed,
            "preflight_status": pf_status,
            "preflight_allow_methods": pf_methods,
        }),
    );
    f.section("CORS", lines);
    if asked && !allowed {
        f.problem(
            "cors",
            format!("origin {origin} is not allowed: {verdict}"),
            format!(
                "CORS refused: the server does not list {origin} among its allowed origins (engineio serve --cors-origin, python cors_allowed_origins, Node `cors.origin`)"
            ),
        );
    }
}

pub(super) fn check_compression(raw: &Raw, polling_ok: bool, websocket_ok: bool, f: &mut Findings) {
    let mut lines = Vec::new();
    let mut polling = Value::Null;
    if polling_ok {
        let (what, detail) = polling_compression(raw);
        lines.push(format!("long-poll responses: {detail}"));
        polling = json!(what);
    }
    let mut deflate = Value::Null;
    if websocket_ok {
        let url = raw.url("4", "websocket", None);
        match raw.websocket(
            &url,
            &[(
                "Sec-WebSocket-Extensions",
                "permessage-deflate; client_max_window_bits",
            )],
        ) {
            Ok(WsOutcome::Open(mut ws)) => {
                let ext = ws.header("sec-websocket-extensions").map(str::to_owned);
                let on = ext
                    .as_deref()
                    .is_some_and(|e| e.contains("permessage-deflate"));
                lines.push(format!(
                    "WebSocket permessage-deflate: {}",
                    if on {
                        format!("negotiated ({})", ext.unwrap_or_default())
                    } else {
                        "not negotiated (frames travel uncompressed)".into()
                    }
                ));
                deflate = json!(on);
                let _ = ws.read(raw.timeout);
                let _ = ws.send_text("1");
                ws.close();
            }
            _ => lines.push("WebSocket permessage-deflate: could not be checked".into()),
        }
    }
    f.set(
        "compression",
        json!({"polling": polling, "websocket_permessage_deflate": deflate}),
    );
    f.section("Compression", lines);
}

/// Echoes a 2,000-byte text over a long-poll accepting gzip/deflate; what came back.
pub(super) fn polling_compression(raw: &Raw) -> (&'static str, String) {
    let url = raw.url("4", "polling", None);
    let Some(h) = raw
        .request("GET", &url, &[], b"", raw.timeout)
        .ok()
        .and_then(|r| parse_open(&r))
    else {
        return ("unknown", "could not be checked (handshake failed)".into());
    };
    let session = raw.url("4", "polling", Some(&h.sid));
    let message = format!("4{PROBE_TEXT}{}", "x".repeat(2000 - PROBE_TEXT.len()));
    let posted = raw.request(
        "POST",
        &session,
        &[("Content-Type", "text/plain;charset=UTF-8")],
        message.as_bytes(),
        raw.timeout,
    );
    let result = match posted {
        Ok(r) if r.status == 200 => {
            match raw.request(
                "GET",
                &session,
                &[("Accept-Encoding", "gzip, deflate")],
                b"",
                Duration::from_secs(2),
            ) {
                Ok(r) if r.status == 200 && r.body.len() < 1000 && r.header("content-encoding").is_none() => (
                    "unknown",
                    format!(
                        "not observed: the long-poll brought {} bytes, not the echo of the 2,000-byte message",
                        r.body.len()
                    ),
                ),
                Ok(r) if r.status == 200 => match r.header("content-encoding") {
                    Some(enc) if enc.contains("gzip") => (
                        "gzip",
                        format!("gzip (a 2,000-byte echo came as {} bytes)", r.body.len()),
                    ),
                    Some(enc) if enc.contains("deflate") => (
                        "deflate",
                        format!("deflate (a 2,000-byte echo came as {} bytes)", r.body.len()),
                    ),
                    Some(enc) => ("other", format!("Content-Encoding: {enc}")),
                    None => (
                        "none",
                        "not compressed (a 2,000-byte echo came uncompressed, although gzip was accepted)"
                            .into(),
                    ),
                },
                Ok(r) => ("unknown", format!("the long-poll was answered {}", r.status)),
                Err(RawError::Timeout) => (
                    "unknown",
                    "not observed: the server did not echo the 2,000-byte message".into(),
                ),
                Err(e) => ("unknown", format!("the long-poll failed: {e}")),
            }
        }
        Ok(r) => (
            "unknown",
            format!("the POST was answered {} {}", r.status, r.body_text(100)),
        ),
        Err(e) => ("unknown", format!("the POST failed: {e}")),
    };
    close_polling(raw, &h.sid, &[]);
    result
}

pub(super) fn check_v3(raw: &Raw, f: &mut Findings) {
    let url = raw.url("3", "polling", None);
    let (line, j) = match raw.request("GET", &url, &[], b"", raw.timeout) {
        Ok(r) if r.status == 200 => {
            let form = PayloadForm::from_content_type(r.header("content-type"));
            let open = v3::decode(&r.body, form, 1 << 20)
                .ok()
                .and_then(|p| match p.first() {
                    Some(Packet::Open(json)) => Handshake::from_json(json).ok(),
                    _ => None,
                });
            match open {
                Some(h) => {
                    let close_url = raw.url("3", "polling", Some(&h.sid));
                    let _ = raw.request(
                        "POST",
                        &close_url,
                        &[("Content-Type", "text/plain;charset=UTF-8")],
                        b"1:1",
                        raw.timeout,
                    );
                    (
                        "accepted: Socket.IO 2.x-era clients can connect (the client pings in v3)"
                            .to_owned(),
                        json!({"accepted": true, "status": 200, "pingInterval": h.ping_interval}),
                    )
                }
                None => (
                    format!("200, but not a v3 handshake: {}", r.body_text(100)),
                    json!({"accepted": false, "status": 200}),
                ),
            }
        }
        Ok(r) => (
            format!(
                "refused: {} {}{}",
                r.status,
                r.body_text(100),
                if error_code(&r) == Some(5) {
                    " (the server speaks v4 only)"
                } else {
                    ""
                }
            ),
            json!({"accepted": false, "status": r.status, "body": r.body_text(200)}),
        ),
        Err(e) => (
            format!("no answer: {e}"),
            json!({"accepted": false, "error": e.to_string()}),
        ),
    };
    f.set("v3", j);
    f.section("Protocol v3 (EIO=3)", vec![line]);
}
