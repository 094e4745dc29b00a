//! `engineio probe URL`: a diagnosis of an Engine.IO endpoint a person can read (or
//! `--json` for machines): the handshake and what its fields mean, which transports
//! work, the upgrade, the server's real ping cadence, CORS, compression, sticky
//! sessions, v3, and for each failure its likely cause in words.
//!
//! The transports are tried with the library's own client; everything that needs to
//! see status codes, headers or error bodies goes through raw HTTP ([`crate::raw`]).

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use engineio::client::{Client, Event};
use engineio::packet::{Handshake, Packet};
use engineio::payload::v3::{self, PayloadForm};
use engineio::{payload, ProtocolVersion, Transport};
use serde_json::{json, Value};

use crate::common::{
    error_chain, explain_status, kind_name, out_json, ClientOpts, Target, EXIT_FAILED, EXIT_OK,
    EXIT_USAGE,
};
use crate::raw::{Raw, RawError, Response, WsMessage, WsOutcome};

/// Exit status: sessions open, but a check found a problem.
pub const EXIT_PROBLEMS: u8 = 3;

/// The message the echo and compression checks send (servers that echo send it back).
const PROBE_TEXT: &str = "engineio-probe";

pub const AFTER_HELP: &str = "\
What probe does, in order: a raw polling handshake (status, headers, the OPEN packet's
fields and their meaning; on a 404 it looks for Engine.IO at /engine.io/ and
/socket.io/); a session over polling, over WebSocket and with the upgrade, with the
library's client (connect and upgrade times, whether the server echoes); the server's
ping cadence measured against the one it advertises (--pings); sticky sessions (five
requests, each on a new connection, carrying a fresh sid); CORS (a preflight and a
handshake from --origin); compression (a 2,000-byte message echoed over a long-poll
that accepts gzip/deflate, and a WebSocket offering permessage-deflate); and whether
Engine.IO v3 (EIO=3) is accepted. Each failure comes with its likely cause: wrong
path, server not running, TLS trust, CORS refused, WebSocket disabled, a proxy
stripping the Upgrade headers, sticky sessions missing behind a load balancer.

Probe opens a few short sessions and sends the text `engineio-probe` (and one 2,000-byte
text) on them; an echo server sends them back.

Exit status:
  0  every check passed
  1  no Engine.IO session can be opened at this URL (the cause is printed)
  2  bad command line
  3  sessions open, but a check found a problem (listed under Problems)";

#[derive(Args, Debug)]
pub struct ProbeArgs {
    /// The server: http://host:port[/path] or https://
    pub url: String,
    #[command(flatten)]
    pub client: ClientOpts,
    /// The origin whose CORS access to check (a refusal is then a problem) [default:
    /// https://example.com, for information only]
    #[arg(long, value_name = "ORIGIN")]
    pub origin: Option<String>,
    /// How many server pings to time (each takes about pingInterval); 0 skips the
    /// heartbeat check
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub pings: u32,
    /// One JSON object with every finding on stdout
    #[arg(long)]
    pub json: bool,
}

/// A problem found, with its likely cause.
struct Problem {
    check: &'static str,
    problem: String,
    cause: String,
}

/// One transport mode tried with the library's client.
#[derive(Default)]
struct TransportCheck {
    name: &'static str,
    ok: bool,
    connect_ms: Option<f64>,
    upgrade_ms: Option<f64>,
    final_transport: Option<Transport>,
    echo_ms: Option<f64>,
    error: Option<String>,
    kind: Option<&'static str>,
    status: Option<u16>,
    body: Option<String>,
}

#[derive(Default)]
struct Heartbeat {
    transport: &'static str,
    intervals_ms: Vec<f64>,
    error: Option<String>,
}

struct Findings {
    target: Target,
    problems: Vec<Problem>,
    notes: Vec<String>,
    sections: Vec<(String, Vec<String>)>,
    json: serde_json::Map<String, Value>,
}

impl Findings {
    fn problem(
        &mut self,
        check: &'static str,
        problem: impl Into<String>,
        cause: impl Into<String>,
    ) {
        self.problems.push(Problem {
            check,
            problem: problem.into(),
            cause: cause.into(),
        });
    }

    fn section(&mut self, title: impl Into<String>, lines: Vec<String>) {
        self.sections.push((title.into(), lines));
    }

    fn set(&mut self, key: &str, value: Value) {
        self.json.insert(key.to_owned(), value);
    }
}

pub fn run(args: ProbeArgs) -> u8 {
    let target = match Target::parse(&args.url, args.client.path.as_deref()) {
        Ok(t) => t,
        Err(e) => return usage(&e),
    };
    let (headers, query) = match (args.client.header_pairs(), args.client.query_pairs()) {
        (Ok(h), Ok(q)) => (h, q),
        (Err(e), _) | (_, Err(e)) => return usage(&e),
    };
    let raw = match Raw::new(
        target.clone(),
        &query,
        headers,
        args.client.proxy.as_deref(),
        args.client.ca.as_deref(),
        args.client.insecure,
        args.client.timeout,
    ) {
        Ok(r) => Arc::new(r),
        Err(e) => return usage(&e),
    };
    let mut f = Findings {
        target: target.clone(),
        problems: Vec::new(),
        notes: Vec::new(),
        sections: Vec::new(),
        json: serde_json::Map::new(),
    };
    f.set("url", json!(target.display()));
    f.set("path", json!(target.path));
    let verdict = probe(&args, &raw, &mut f);
    f.set(
        "problems",
        Value::Array(
            f.problems
                .iter()
                .map(|p| json!({"check": p.check, "problem": p.problem, "cause": p.cause}))
                .collect(),
        ),
    );
    f.set("notes", json!(f.notes));
    let code = match verdict {
        Verdict::Unusable => EXIT_FAILED,
        Verdict::Usable if f.problems.is_empty() => EXIT_OK,
        Verdict::Usable => EXIT_PROBLEMS,
    };
    f.set(
        "verdict",
        json!(match code {
            EXIT_OK => "ok",
            EXIT_PROBLEMS => "problems",
            _ => "unusable",
        }),
    );
    if args.json {
        out_json(&Value::Object(f.json));
    } else {
        print_human(&f, code);
    }
    code
}

fn usage(message: &str) -> u8 {
    eprintln!("engineio probe: {message}");
    EXIT_USAGE
}

enum Verdict {
    Usable,
    Unusable,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}

fn probe(args: &ProbeArgs, raw: &Arc<Raw>, f: &mut Findings) -> Verdict {
    // ---- 1. the handshake, raw
    let url = raw.url("4", "polling", None);
    let first = raw.request("GET", &url, &[], b"", raw.timeout);
    let mut handshake: Option<Handshake> = None;
    let mut polling_enabled = true;
    match &first {
        Err(e) => {
            f.set("handshake", json!({"ok": false, "error": e.to_string()}));
            f.section(
                "Handshake (GET, polling, EIO=4)",
                vec![format!("failed: {e}")],
            );
            f.problem(
                "handshake",
                format!("no HTTP answer: {e}"),
                e.cause(&f.target),
            );
            return Verdict::Unusable;
        }
        Ok(resp) => {
            let open = parse_open(resp);
            let mut lines = vec![format!(
                "{} in {:.1} ms; Content-Type: {}",
                resp.status,
                ms(resp.elapsed),
                resp.header("content-type").unwrap_or("(none)")
            )];
            for h in ["server", "set-cookie", "cache-control"] {
                if let Some(v) = resp.header(h) {
                    lines.push(format!("{h}: {v}"));
                }
            }
            let mut j = json!({
                "ok": open.is_some(),
                "status": resp.status,
                "elapsed_ms": ms(resp.elapsed),
                "content_type": resp.header("content-type"),
                "set_cookie": resp.header("set-cookie"),
                "server": resp.header("server"),
            });
            if let Some(h) = &open {
                lines.extend(describe_handshake(h));
                j["sid"] = json!(h.sid);
                j["upgrades"] = json!(h.upgrades);
                j["pingInterval"] = json!(h.ping_interval);
                j["pingTimeout"] = json!(h.ping_timeout);
                j["maxPayload"] = json!(h.max_payload);
                if let Some(cookie) = resp.header("set-cookie") {
                    let name = cookie.split('=').next().unwrap_or("").trim();
                    lines.push(format!(
                        "cookie {name}: set on the handshake, for sticky sessions at a load balancer"
                    ));
                }
                close_polling(raw, &h.sid, &[]);
                handshake = open;
            } else {
                j["body"] = json!(resp.body_text(300));
                lines.push(format!("body: {}", resp.body_text(200)));
            }
            f.set("handshake", j);
            f.section("Handshake (GET, polling, EIO=4)", lines);
            if handshake.is_none() {
                let code = error_code(resp);
                if resp.status == 400 && code == Some(0) {
                    // Polling is off; WebSocket may still work.
                    polling_enabled = false;
                    f.notes.push(
                        "polling is disabled on this server (`Transport unknown`): only WebSocket clients can connect"
                            .into(),
                    );
                } else {
                    return handshake_failed(raw, resp, f);
                }
            }
        }
    }

    // ---- 2. the heartbeat, measured in the background
    let heartbeat = match &handshake {
        Some(h) if args.pings > 0 => {
            let wait =
                Duration::from_millis(h.ping_interval + h.ping_timeout) + Duration::from_secs(2);
            if !args.json && h.ping_interval > 3000 {
                eprintln!(
                    "engineio probe: timing the server's ping (advertised every {:.1} s; --pings 0 skips this)…",
                    h.ping_interval as f64 / 1000.0
                );
            }
            let raw = Arc::clone(raw);
            let pings = args.pings;
            let over_ws = h.upgrades.iter().any(|u| u == "websocket");
            Some(thread::spawn(move || {
                measure_heartbeat(&raw, pings, wait, over_ws)
            }))
        }
        _ => None,
    };

    // ---- 3. the transports, with the library's client
    let offered = handshake
        .as_ref()
        .is_some_and(|h| h.upgrades.iter().any(|u| u == "websocket"));
    let mut checks = Vec::new();
    if polling_enabled {
        checks.push(try_client(
            args,
            &f.target,
            "polling",
            &[Transport::Polling],
        ));
    }
    checks.push(try_client(
        args,
        &f.target,
        "websocket",
        &[Transport::WebSocket],
    ));
    if offered {
        checks.push(try_client(
            args,
            &f.target,
            "upgrade",
            &[Transport::Polling, Transport::WebSocket],
        ));
    }
    if handshake.is_none() {
        // Polling is off: the WebSocket's OPEN packet tells the handshake's fields.
        if let Ok(WsOutcome::Open(mut ws)) = raw.websocket(&raw.url("4", "websocket", None), &[]) {
            if let Ok(WsMessage::Text(t)) = ws.read(raw.timeout) {
                if let Ok(Packet::Open(json)) = Packet::decode(&t) {
                    if let Ok(h) = Handshake::from_json(&json) {
                        let lines = describe_handshake(&h);
                        f.section("Handshake (WebSocket, EIO=4)", lines);
                        handshake = Some(h);
                    }
                }
            }
            let _ = ws.send_text("1");
            ws.close();
        }
    }
    report_transports(raw, &checks, &handshake, f);
    let polling_ok = checks.iter().any(|c| c.name == "polling" && c.ok);
    let websocket_ok = checks.iter().any(|c| c.name == "websocket" && c.ok);
    if !polling_ok && !websocket_ok {
        if let Some(h) = heartbeat {
            let _ = h.join();
        }
        return Verdict::Unusable;
    }

    // ---- 4. sticky sessions, CORS, compression, v3
    if polling_ok {
        check_sticky(raw, f);
    }
    check_cors(args, raw, polling_ok, f);
    check_compression(raw, polling_ok, websocket_ok, f);
    check_v3(raw, f);

    // ---- 5. the heartbeat's result
    if let (Some(thread), Some(h)) = (heartbeat, &handshake) {
        let hb = thread.join().unwrap_or_default();
        report_heartbeat(&hb, h, f);
    }
    Verdict::Usable
}

/// The OPEN packet of a polling handshake answer.
fn parse_open(resp: &Response) -> Option<Handshake> {
    if resp.status != 200 {
        return None;
    }
    let packets = payload::decode(&resp.body).ok()?;
    match packets.first()? {
        Packet::Open(json) => Handshake::from_json(json).ok(),
        _ => None,
    }
}

/// `code` of a `{"code":…,"message":…}` error body.
fn error_code(resp: &Response) -> Option<u64> {
    serde_json::from_slice::<Value>(&resp.body)
        .ok()?
        .get("code")?
        .as_u64()
}

fn describe_handshake(h: &Handshake) -> Vec<String> {
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
fn handshake_failed(raw: &Raw, resp: &Response, f: &mut Findings) -> Verdict {
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

/// POST `1`: ends a session the probe opened.
fn close_polling(raw: &Raw, sid: &str, extra: &[(&str, &str)]) {
    let url = raw.url("4", "polling", Some(sid));
    let _ = raw.request(
        "POST",
        &url,
        &[&[("Content-Type", "text/plain;charset=UTF-8")], extra].concat(),
        b"1",
        raw.timeout,
    );
}

fn close_polling_at(raw: &Raw, path: &str, sid: &str) {
    let url = raw.url_at(path, "4", "polling", Some(sid));
    let _ = raw.request(
        "POST",
        &url,
        &[("Content-Type", "text/plain;charset=UTF-8")],
        b"1",
        raw.timeout,
    );
}

/// Connects with the library's client over `transports`, checks for an echo, closes.
fn try_client(
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
fn echo_time(client: &Client, events: &engineio::client::Events) -> Option<f64> {
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

fn report_transports(
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
fn diagnose_websocket(raw: &Raw, w: &TransportCheck, polling_ok: bool) -> (String, String) {
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
fn diagnose_upgrade(raw: &Raw) -> (String, String) {
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

/// Times the server's pings on a raw session (WebSocket when offered, else polling).
fn measure_heartbeat(raw: &Raw, pings: u32, wait: Duration, over_ws: bool) -> Heartbeat {
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

fn report_heartbeat(hb: &Heartbeat, h: &Handshake, f: &mut Findings) {
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

/// Five requests with a fresh sid, each on a new connection: a load balancer without
/// sticky sessions sends some of them to a server that does not know the sid.
fn check_sticky(raw: &Raw, f: &mut Findings) {
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

fn check_cors(args: &ProbeArgs, raw: &Raw, polling_ok: bool, f: &mut Findings) {
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

fn check_compression(raw: &Raw, polling_ok: bool, websocket_ok: bool, f: &mut Findings) {
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
fn polling_compression(raw: &Raw) -> (&'static str, String) {
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

fn check_v3(raw: &Raw, f: &mut Findings) {
    let url = raw.url("3", "polling", None);
    let (accepted, line, j) = match raw.request("GET", &url, &[], b"", raw.timeout) {
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
                        true,
                        "accepted: Socket.IO 2.x-era clients can connect (the client pings in v3)"
                            .to_owned(),
                        json!({"accepted": true, "status": 200, "pingInterval": h.ping_interval}),
                    )
                }
                None => (
                    false,
                    format!("200, but not a v3 handshake: {}", r.body_text(100)),
                    json!({"accepted": false, "status": 200}),
                ),
            }
        }
        Ok(r) => (
            false,
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
            false,
            format!("no answer: {e}"),
            json!({"accepted": false, "error": e.to_string()}),
        ),
    };
    let _ = accepted;
    f.set("v3", j);
    f.section("Protocol v3 (EIO=3)", vec![line]);
}

fn print_human(f: &Findings, code: u8) {
    println!("engineio probe {}", f.target.display());
    for (title, lines) in &f.sections {
        println!();
        println!("{title}");
        for l in lines {
            println!("  {l}");
        }
    }
    if !f.notes.is_empty() {
        println!();
        println!("Notes");
        for n in &f.notes {
            println!("  - {n}");
        }
    }
    println!();
    if f.problems.is_empty() {
        println!("No problem found.");
    } else {
        println!("Problems");
        for p in &f.problems {
            println!("  - {}: {}", p.check, p.problem);
            println!("    likely cause: {}", p.cause);
        }
    }
    println!();
    println!(
        "Verdict: {}",
        match code {
            EXIT_OK => "this endpoint works",
            EXIT_PROBLEMS => "sessions open, with the problems above",
            _ => "no Engine.IO session can be opened here",
        }
    );
}
