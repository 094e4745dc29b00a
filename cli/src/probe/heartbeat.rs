//! The server's real ping cadence, timed on a raw session, against the advertised one.

use std::time::{Duration, Instant};

use engineio::packet::{Handshake, Packet};
use engineio::payload;
use serde_json::json;

use super::{close_polling, ms, parse_open, Findings};
use crate::raw::{Raw, RawError, WsMessage, WsOutcome};

#[derive(Default)]
pub(super) struct Heartbeat {
    pub(super) transport: &'static str,
    pub(super) intervals_ms: Vec<f64>,
    pub(super) error: Option<String>,
}

/// Times the server's pings on a raw session (WebSocket when offered, else polling).
pub(super) fn measure_heartbeat(raw: &Raw, pings: u32, wait: Duration, over_ws: bool) -> Heartbeat {
    if over_ws {
        if let Ok(WsOutcome::Open(mut ws)) = raw.websocket(&raw.url("4", "websocket", None), &[]) {
            let mut hb = Heartbeat {
                transport: "websocket",
                ..Heartbeat::default()
            };
            match ws.read(raw.timeout) {
                Ok(WsMessage::Text(t)) if t.starts_with('0') => {}
                other => {
                    hb.error = Some(format!("no OPEN packet on the WebSocket: {other:?}"));
                    ws.close();
                    return hb;
                }
            }
            let mut since = Instant::now();
            while hb.intervals_ms.len() < pings as usize {
                let deadline = since + wait;
                match ws.read(deadline.saturating_duration_since(Instant::now())) {
                    Ok(WsMessage::Text(t)) if t.starts_with('2') => {
                        hb.intervals_ms.push(ms(since.elapsed()));
                        if ws.send_text(&format!("3{}", &t[1..])).is_err() {
                            break;
                        }
                        since = Instant::now();
                    }
                    Ok(WsMessage::Close(code)) => {
                        hb.error = Some(format!("the server closed the WebSocket ({code:?})"));
                        break;
                    }
                    Ok(_) => {}
                    Err(RawError::Timeout) => {
                        hb.error = Some(format!("no ping within {:.1} s", wait.as_secs_f64()));
                        break;
                    }
                    Err(e) => {
                        hb.error = Some(e.to_string());
                        break;
                    }
                }
            }
            let _ = ws.send_text("1");
            ws.close();
            return hb;
        }
    }
    let mut hb = Heartbeat {
        transport: "polling",
        ..Heartbeat::default()
    };
    let url = raw.url("4", "polling", None);
    let sid = match raw.request("GET", &url, &[], b"", raw.timeout) {
        Ok(r) => match parse_open(&r) {
            Some(h) => h.sid,
            None => {
                hb.error = Some(format!("handshake refused: {}", r.status));
                return hb;
            }
        },
        Err(e) => {
            hb.error = Some(e.to_string());
            return hb;
        }
    };
    let mut since = Instant::now();
    let session = raw.url("4", "polling", Some(&sid));
    while hb.intervals_ms.len() < pings as usize {
        let left = (since + wait).saturating_duration_since(Instant::now());
        match raw.request("GET", &session, &[], b"", left) {
            Ok(r) if r.status == 200 => {
                let packets = payload::decode(&r.body).unwrap_or_default();
                if let Some(Packet::Ping(data)) =
                    packets.iter().find(|p| matches!(p, Packet::Ping(_)))
                {
                    hb.intervals_ms.push(ms(since.elapsed()));
                    let pong = format!("3{data}");
                    let _ = raw.request(
                        "POST",
                        &session,
                        &[("Content-Type", "text/plain;charset=UTF-8")],
                        pong.as_bytes(),
                        raw.timeout,
                    );
                    since = Instant::now();
                } else if packets.contains(&Packet::Close) {
                    hb.error = Some("the server closed the session".into());
                    break;
                }
            }
            Ok(r) => {
                hb.error = Some(format!("a long-poll was answered {}", r.status));
                break;
            }
            Err(RawError::Timeout) => {
                hb.error = Some(format!("no ping within {:.1} s", wait.as_secs_f64()));
                break;
            }
            Err(e) => {
                hb.error = Some(e.to_string());
                break;
            }
        }
    }
    close_polling(raw, &sid, &[]);
    hb
}

pub(super) fn report_heartbeat(hb: &Heartbeat, h: &Handshake, f: &mut Findings) {
    let advertised = h.ping_interval as f64;
    let mut lines = vec![format!(
        "advertised: a ping every {} ms, pong within {} ms; measured over {}",
        h.ping_interval, h.ping_timeout, hb.transport
    )];
    let mut verdict = "ok";
    for (i, &m) in hb.intervals_ms.iter().enumerate() {
        let what = if i == 0 {
            "after the handshake"
        } else {
            "after the previous pong"
        };
        let delta = m - advertised;
        let judgement = if delta > h.ping_timeout as f64 {
            verdict = "late";
            "later than pingInterval + pingTimeout: clients following the protocol give up first"
        } else if delta > (advertised * 0.05).max(100.0) {
            "later than advertised, within pingTimeout"
        } else if delta < -(advertised * 0.05).max(100.0) {
            "earlier than advertised (a server may advertise a grace)"
        } else {
            "as advertised"
        };
        lines.push(format!(
            "ping {}: {m:.0} ms {what} ({}{:.0} ms: {judgement})",
            i + 1,
            if delta >= 0.0 { "+" } else { "" },
            delta
        ));
    }
    if let Some(e) = &hb.error {
        lines.push(format!("stopped: {e}"));
        if hb.intervals_ms.is_empty() {
            verdict = "no ping";
        }
    }
    f.set(
        "heartbeat",
        json!({
            "transport": hb.transport,
            "advertised_interval_ms": h.ping_interval,
            "advertised_timeout_ms": h.ping_timeout,
            "intervals_ms": hb.intervals_ms,
            "verdict": verdict,
            "error": hb.error,
        }),
    );
    // Shown after the transports, where it belongs, though measured last.
    let at = f
        .sections
        .iter()
        .position(|(t, _)| t.starts_with("Transports"))
        .map_or(f.sections.len(), |i| i + 1);
    f.sections.insert(at, ("Heartbeat".into(), lines));
    match verdict {
        "late" => f.problem(
            "heartbeat",
            "the server pings later than pingInterval + pingTimeout",
            "clients will disconnect with `ping timeout`: the server is overloaded, or advertises a shorter interval than it uses",
        ),
        "no ping" => f.problem(
            "heartbeat",
            format!(
                "no ping came: {}",
                hb.error.as_deref().unwrap_or("")
            ),
            "clients will disconnect with `ping timeout`; a v3-only server expects the client to ping (try --eio 3), or a proxy buffers the long-poll",
        ),
        _ => {}
    }
}
