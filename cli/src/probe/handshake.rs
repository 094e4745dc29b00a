//! The first answer: the OPEN packet's fields in words, or why there is none.

use serde_json::json;

use super::{close_polling_at, parse_open, Findings, Verdict};
use crate::common::explain_status;
use crate::raw::{Raw, Response};
use engineio::packet::Handshake;

pub(super) fn describe_handshake(h: &Handshake) -> Vec<String> {
    vec![
        format!("sid           {}  (the session id, {} characters)", h.sid, h.sid.len()),
        format!(
            "upgrades      {:?}  ({})",
            h.upgrades,
            if h.upgrades.iter().any(|u| u == "websocket") {
                "a polling client may upgrade to WebSocket"
            } else {
                "no upgrade offered: WebSocket disabled, or upgrades turned off"
            }
        ),
        format!(
            "pingInterval  {} ms  (the server pings every {:.1} s)",
            h.ping_interval,
            h.ping_interval as f64 / 1000.0
        ),
        format!(
            "pingTimeout   {} ms  (a pong must come within {:.1} s; a client hearing no ping for {:.1} s gives up)",
            h.ping_timeout,
            h.ping_timeout as f64 / 1000.0,
            (h.ping_interval + h.ping_timeout) as f64 / 1000.0
        ),
        format!(
            "maxPayload    {}  (the largest POST body or WebSocket message the server accepts)",
            if h.max_payload == 0 {
                "not given".to_owned()
            } else {
                format!("{} bytes", h.max_payload)
            }
        ),
    ]
}

/// A handshake answered with an error: explain it, looking for Engine.IO elsewhere on
/// a 404 or a non-Engine.IO answer.
pub(super) fn handshake_failed(raw: &Raw, resp: &Response, f: &mut Findings) -> Verdict {
    let here = f.target.path.clone();
    let body = resp.body_text(200);
    let not_engineio = resp.status == 200 || resp.status == 404;
    if not_engineio {
        for other in ["/engine.io/", "/socket.io/"] {
            if other == here {
                continue;
            }
            let url = raw.url_at(other, "4", "polling", None);
            if let Ok(r) = raw.request("GET", &url, &[], b"", raw.timeout) {
                if let Some(h) = parse_open(&r) {
                    close_polling_at(raw, other, &h.sid);
                    f.set("found_at", json!(other));
                    f.problem(
                        "path",
                        format!("nothing Engine.IO answers at {here} ({}), but an Engine.IO server answers at {other}", resp.status),
                        format!("wrong path: use --path {other} (or put it in the URL)"),
                    );
                    return Verdict::Unusable;
                }
            }
        }
    }
    let cause = match resp.status {
        200 => format!(
            "the server answered 200, but not with an Engine.IO OPEN packet ({body:?}): this path serves something else; check --path"
        ),
        404 => format!(
            "nothing answers at the path {here}, nor at /engine.io/ or /socket.io/: check --path, and that this is an Engine.IO server"
        ),
        status => explain_status(status, &String::from_utf8_lossy(&resp.body))
            .unwrap_or_else(|| format!("the server answered {status}: see its log")),
    };
    f.problem(
        "handshake",
        format!("the handshake was refused: {} {body}", resp.status),
        cause,
    );
    Verdict::Unusable
}
