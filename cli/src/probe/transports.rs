//! Sessions over each transport with the library's client, and, when one fails, a raw
//! handshake or upgrade to say why.

use std::time::{Duration, Instant};

use engineio::client::{Client, Event, Events};
use engineio::packet::Handshake;
use engineio::{ProtocolVersion, Transport};
use serde_json::{json, Value};

use super::{close_polling, error_code, ms, parse_open, Findings, ProbeArgs, PROBE_TEXT};
use crate::common::{error_chain, explain_status, kind_name, Target};
use crate::raw::{Raw, RawError, WsMessage, WsOutcome};

/// One transport mode tried with the library's client.
#[derive(Default)]
pub(super) struct TransportCheck {
    pub(super) name: &'static str,
    pub(super) ok: bool,
    pub(super) connect_ms: Option<f64>,
    pub(super) upgrade_ms: Option<f64>,
    pub(super) final_transport: Option<Transport>,
    pub(super) echo_ms: Option<f64>,
    pub(super) error: Option<String>,
    pub(super) kind: Option<&'static str>,
    pub(super) status: Option<u16>,
    pub(super) body: Option<String>,
}

/// Connects with the library's client over `transports`, checks for an echo, closes.
pub(super) fn try_client(
    args: &ProbeArgs,
    target: &Target,
    name: &'static str,
    transports: &[Transport],
) -> TransportCheck {
    let mut c = TransportCheck {
        name,
        ..TransportCheck::default()
    };
    let client = match args
        .client
        .builder(target, transports, ProtocolVersion::V4)
        .and_then(|b| b.build().map_err(|e| e.to_string()))
    {
        Ok(client) => client,
        Err(e) => {
            c.error = Some(e);
            return c;
        }
    };
    let events = client.events();
    let start = Instant::now();
    if let Err(e) = client.connect() {
        c.error = Some(error_chain(&e));
        c.kind = Some(kind_name(e.kind()));
        c.status = e.status();
        c.body = e.body().map(str::to_owned);
        return c;
    }
    c.connect_ms = Some(ms(start.elapsed()));
    if name == "upgrade" {
        let t0 = Instant::now();
        let t = client.wait_for_upgrade(Duration::from_secs(10));
        if t == Some(Transport::WebSocket) {
            c.upgrade_ms = Some(ms(t0.elapsed()));
        }
        c.final_transport = t;
    } else {
        c.final_transport = client.transport();
    }
    c.ok = c.final_transport.is_some() && (name != "upgrade" || c.upgrade_ms.is_some());
    if c.final_transport.is_some() {
        c.echo_ms = echo_time(&client, &events);
    }
    client.disconnect();
    c
}

/// Sends [`PROBE_TEXT`] and times its echo (at most 1 s).
pub(super) fn echo_time(client: &Client, events: &Events) -> Option<f64> {
    let t0 = Instant::now();
    client.send(PROBE_TEXT).ok()?;
    let deadline = t0 + Duration::from_secs(1);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(Event::Message(m)) if m.as_text() == Some(PROBE_TEXT) => {
                return Some(ms(t0.elapsed()))
            }
            Ok(Event::Disconnect(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

pub(super) fn report_transports(
    raw: &Raw,
    checks: &[TransportCheck],
    handshake: &Option<Handshake>,
    f: &mut Findings,
) {
    let mut lines = Vec::new();
    let mut j = serde_json::Map::new();
    for c in checks {
        let echo = match c.echo_ms {
            Some(e) => format!("echo in {e:.1} ms"),
            None => "no echo (the server does not echo, or not within 1 s)".into(),
        };
        let line = match (c.ok, c.name) {
            (true, "upgrade") => format!(
                "upgrade    ok: polling → websocket in {:.1} ms after connecting ({:.1} ms); {echo}",
                c.upgrade_ms.unwrap_or_default(),
                c.connect_ms.unwrap_or_default()
            ),
            (true, name) => format!(
                "{name:<10} ok: session open in {:.1} ms; {echo}",
                c.connect_ms.unwrap_or_default()
            ),
            (false, "upgrade") if c.connect_ms.is_some() => format!(
                "upgrade    FAILED: the session stayed on {} (connected in {:.1} ms)",
                c.final_transport.map(|t| t.as_str()).unwrap_or("nothing"),
                c.connect_ms.unwrap_or_default()
            ),
            (false, name) => format!(
                "{name:<10} FAILED: {}",
                c.error.as_deref().unwrap_or("the session ended at once")
            ),
        };
        lines.push(line);
        j.insert(
            c.name.to_owned(),
            json!({
                "ok": c.ok,
                "connect_ms": c.connect_ms,
                "upgrade_ms": c.upgrade_ms,
                "transport": c.final_transport.map(|t| t.as_str()),
                "echo_ms": c.echo_ms,
                "error": c.error,
                "error_kind": c.kind,
                "status": c.status,
                "body": c.body,
            }),
        );
    }
    f.set("transports", Value::Object(j));
    f.section("Transports (the library's client)", lines);
    let polling = checks.iter().find(|c| c.name == "polling");
    let websocket = checks.iter().find(|c| c.name == "websocket");
    let upgrade = checks.iter().find(|c| c.name == "upgrade");
    if let Some(p) = polling.filter(|p| !p.ok) {
        let cause = p
            .status
            .and_then(|s| explain_status(s, p.body.as_deref().unwrap_or("")))
            .unwrap_or_else(|| "see the error".into());
        f.problem(
            "polling",
            format!(
                "a polling session failed: {}",
                p.error.as_deref().unwrap_or("")
            ),
            cause,
        );
    }
    if let Some(w) = websocket.filter(|w| !w.ok) {
        let (problem, cause) = diagnose_websocket(raw, w, polling.is_some_and(|p| p.ok));
        f.set(
            "websocket_diagnosis",
            json!({"problem": problem, "cause": cause}),
        );
        f.problem("websocket", problem, cause);
    }
    let upgrades_offered = handshake
        .as_ref()
        .is_some_and(|h| h.upgrades.iter().any(|u| u == "websocket"));
    if let Some(u) = upgrade.filter(|u| !u.ok) {
        if websocket.is_some_and(|w| w.ok) {
            let (problem, cause) = diagnose_upgrade(raw);
            f.problem("upgrade", problem, cause);
        } else if u.connect_ms.is_some() {
            f.notes
                .push("the upgrade failed as WebSocket does; clients stay on polling".into());
        }
    }
    if !upgrades_offered && websocket.is_some_and(|w| w.ok) && polling.is_some_and(|p| p.ok) {
        f.notes.push(
            "WebSocket works, but the server does not offer the upgrade: polling clients stay on polling (allowUpgrades off?)"
                .into(),
        );
    }
}

/// Why a WebSocket session failed, from a raw handshake.
pub(super) fn diagnose_websocket(
    raw: &Raw,
    w: &TransportCheck,
    polling_ok: bool,
) -> (String, String) {
    let url = raw.url("4", "websocket", None);
    match raw.websocket(&url, &[]) {
        Ok(WsOutcome::Refused(resp)) => {
            let body = resp.body_text(200);
            let code = error_code(&resp);
            let problem = format!("the WebSocket handshake was refused: {} {body}", resp.status);
            let cause = match (resp.status, code) {
                (400, Some(0)) => {
                    "WebSocket is disabled on the server (`Transport unknown`): its transports do not include websocket".to_owned()
                }
                (400, Some(3)) if polling_ok => {
                    "the server received the WebSocket handshake without its Upgrade headers: a proxy in front of it strips `Upgrade`/`Connection` (nginx: proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\")".to_owned()
                }
                (200, _) => {
                    "the answer was 200, not 101: a proxy in front of the server does not pass WebSocket upgrades".to_owned()
                }
                (426, _) => "the proxy or server wants another protocol (426 Upgrade Required)".to_owned(),
                (status, _) => explain_status(status, &body).unwrap_or_else(|| {
                    "a proxy in front of the server refuses WebSocket upgrades".to_owned()
                }),
            };
            (problem, cause)
        }
        Ok(WsOutcome::Open(mut ws)) => {
            // The raw handshake worked: look at what followed.
            let first = ws.read(raw.timeout);
            ws.close();
            let problem = format!(
                "a WebSocket session failed: {}",
                w.error.as_deref().unwrap_or("it ended at once")
            );
            let cause = match first {
                Ok(WsMessage::Text(t)) if t.starts_with('0') => {
                    "the WebSocket opens and sends OPEN: the library's client refused what followed (run with -v)".to_owned()
                }
                Ok(other) => format!(
                    "the WebSocket opened (101) but did not start with an OPEN packet ({other:?}): not an Engine.IO WebSocket"
                ),
                Err(RawError::Timeout) => {
                    "the WebSocket opened (101) but no OPEN packet came: a proxy buffering or holding WebSocket frames".to_owned()
                }
                Err(e) => format!("the WebSocket opened (101), then: {e}"),
            };
            (problem, cause)
        }
        Err(e) => (
            format!("the WebSocket handshake got no answer: {e}"),
            match e {
                RawError::Io(_) if polling_ok => {
                    "the connection was cut during the WebSocket handshake: a proxy or firewall that does not allow WebSocket".to_owned()
                }
                other => other.cause(&raw.target),
            },
        ),
    }
}

/// Why the upgrade failed although WebSocket sessions work, from a raw upgrade.
pub(super) fn diagnose_upgrade(raw: &Raw) -> (String, String) {
    let url = raw.url("4", "polling", None);
    let Ok(resp) = raw.request("GET", &url, &[], b"", raw.timeout) else {
        return (
            "the upgrade failed".into(),
            "a second handshake failed: the server is unstable".into(),
        );
    };
    let Some(h) = parse_open(&resp) else {
        return (
            "the upgrade failed".into(),
            "a second handshake failed".into(),
        );
    };
    let cookie = resp
        .header("set-cookie")
        .map(|c| c.split(';').next().unwrap_or("").to_owned());
    let mut extra = Vec::new();
    if let Some(c) = &cookie {
        extra.push(("Cookie", c.as_str()));
    }
    let ws_url = raw.url("4", "websocket", Some(&h.sid));
    let result = match raw.websocket(&ws_url, &extra) {
        Ok(WsOutcome::Refused(r)) if error_code(&r) == Some(1) => (
            "the upgrade's WebSocket names a session the server does not know (`Session ID unknown`)".to_owned(),
            "sticky sessions are missing: behind a load balancer, the WebSocket reached another server than the polling handshake; enable sticky sessions (cookie or IP hash)".to_owned(),
        ),
        Ok(WsOutcome::Refused(r)) => (
            format!("the upgrade's WebSocket was refused: {} {}", r.status, r.body_text(200)),
            explain_status(r.status, &r.body_text(500))
                .unwrap_or_else(|| "see the server's log".into()),
        ),
        Ok(WsOutcome::Open(mut ws)) => {
            let probe = ws
                .send_text("2probe")
                .and_then(|()| ws.read(raw.timeout));
            let _ = ws.send_text("1");
            ws.close();
            match probe {
                Ok(WsMessage::Text(t)) if t == "3probe" => (
                    "the upgrade failed in the library's client, although a raw upgrade probe works".to_owned(),
                    "run with -v to see the client's reason".to_owned(),
                ),
                other => (
                    format!("the upgrade probe `2probe` was not answered with `3probe` ({other:?})"),
                    "the server does not implement the upgrade, or a proxy holds the WebSocket's frames".to_owned(),
                ),
            }
        }
        Err(e) => (
            format!("the upgrade's WebSocket got no answer: {e}"),
            e.cause(&raw.target),
        ),
    };
    close_polling(raw, &h.sid, &extra);
    result
}
