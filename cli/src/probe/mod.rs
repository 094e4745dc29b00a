//! `engineio probe URL`: a diagnosis of an Engine.IO endpoint a person can read (or
//! `--json` for machines): the handshake and what its fields mean, which transports
//! work, the upgrade, the server's real ping cadence, CORS, compression, sticky
//! sessions, v3, and for each failure its likely cause in words.
//!
//! The transports are tried with the library's own client; everything that needs to
//! see status codes, headers or error bodies goes through raw HTTP ([`crate::raw`]).
//! The checks: [`handshake`] (the first answer and what it means), [`transports`]
//! (sessions with the library's client, and why they fail), [`heartbeat`] (the real
//! ping cadence), [`checks`] (sticky sessions, CORS, compression, v3).

mod checks;
mod handshake;
mod heartbeat;
mod transports;

use self::checks::{check_compression, check_cors, check_sticky, check_v3};
use self::handshake::{describe_handshake, handshake_failed};
use self::heartbeat::{measure_heartbeat, report_heartbeat};
use self::transports::{report_transports, try_client};

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use clap::Args;
use engineio::packet::{Handshake, Packet};
use engineio::{payload, Transport};
use serde_json::{json, Value};

use crate::common::{out_json, ClientOpts, Target, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::raw::{Raw, Response, WsMessage, WsOutcome};

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
