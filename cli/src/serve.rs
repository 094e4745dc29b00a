//! `engineio serve`: an echo (or broadcast) server for trying clients, printing one
//! line per session event; stdin lines are sent to every session.

use std::io::BufRead;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use engineio::server::{App, CookieConfig, CorsPolicy, Message, Server, StaticFiles, TlsConfig};
use engineio::{ProtocolVersion, Transport};
use serde_json::{json, Value};

use crate::common::{
    self, from_base64, from_hex, out_event, out_line, to_base64, to_hex, TransportArg, EXIT_FAILED,
    EXIT_OK, EXIT_USAGE,
};

pub const AFTER_HELP: &str = "\
Prints `listening on http://ADDR` (https with --tls-cert) once it accepts connections, then one line per event:
  connect SID TRANSPORT REMOTE EIO=4
  upgrade SID websocket
  message SID TEXT          (binary: message SID /bin HEX; not with --quiet)
  disconnect SID REASON
With --json, one JSON object per line instead: {\"event\":\"listening\",\"url\":…},
{\"event\":\"connect\",\"sid\":…,\"transport\":…,\"remote\":…,\"eio\":4},
{\"event\":\"upgrade\",\"sid\":…,\"transport\":\"websocket\"},
{\"event\":\"message\",\"sid\":…,\"text\":…} (or \"binary\": base64),
{\"event\":\"disconnect\",\"sid\":…,\"reason\":…}.

Every message is echoed to its sender (to every session with --broadcast). Lines typed
on stdin go to every session: TEXT, /bin HEX, /to SID TEXT, /close SID, /close (all),
/list. With --json, stdin takes {\"text\":…} or {\"binary\":…} (with \"sid\" for one
session) and {\"event\":\"disconnect\",\"sid\":…} (no sid: every session). The end of
stdin changes nothing: the server runs until it is interrupted (Ctrl-C).

TLS: with --tls-cert FILE --tls-key FILE the server speaks https and wss only: the
certificate chain (PEM, the server's certificate first) and its private key (PEM:
PKCS#8, PKCS#1 or SEC1). A client must trust the chain's root, e.g. `engineio connect
https://… --ca root.pem`.

Exit status:
  0  shut down: Ctrl-C (or SIGTERM) closes every session (each client is told), then
     exits; a second Ctrl-C exits at once (130)
  1  cannot listen (address in use, no permission)
  2  bad command line, or a certificate or key that cannot be loaded";

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Where to listen
    #[arg(long, default_value = "127.0.0.1:5000", value_name = "HOST:PORT")]
    pub addr: String,
    /// The Engine.IO path
    #[arg(long, default_value = "/engine.io/")]
    pub path: String,
    /// How often the server pings each client
    #[arg(long, default_value = "25s", value_name = "DURATION", value_parser = common::parse_duration)]
    pub ping_interval: Duration,
    /// How long the server waits for a pong
    #[arg(long, default_value = "20s", value_name = "DURATION", value_parser = common::parse_duration)]
    pub ping_timeout: Duration,
    /// The largest message or POST body accepted, bytes
    #[arg(long, default_value_t = 1_000_000, value_name = "BYTES")]
    pub max_payload: usize,
    /// Transports to serve: polling,websocket (the default), polling or websocket
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub transports: Vec<TransportArg>,
    /// An origin browsers may connect from, repeatable; `*` for any [default: the
    /// server's own origin only]
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origin: Vec<String>,
    /// Serve the files of this directory at / (index.html for directories), e.g. a
    /// page with the official browser client
    #[arg(long = "static", value_name = "DIR")]
    pub static_dir: Option<PathBuf>,
    /// Send every message to every session instead of echoing it to its sender
    #[arg(long)]
    pub broadcast: bool,
    /// Also accept Engine.IO v3 clients (Socket.IO 2.x era) and JSONP polling
    #[arg(long)]
    pub allow_eio3: bool,
    /// Do not compress long-poll responses (gzip/deflate)
    #[arg(long)]
    pub no_compression: bool,
    /// Set a cookie NAME=<sid> on handshakes (sticky sessions at a load balancer)
    #[arg(long, value_name = "NAME")]
    pub cookie: Option<String>,
    /// Do not print messages (only connects, upgrades and disconnects)
    #[arg(short, long)]
    pub quiet: bool,
    /// One JSON object per line for every event, and JSON lines on stdin
    #[arg(long)]
    pub json: bool,
    /// Serve https/wss with this certificate chain (PEM; needs --tls-key)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

pub fn run(args: ServeArgs) -> u8 {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match TlsConfig::from_pem_files(cert, key) {
            Ok(tls) => Some(tls),
            Err(e) => {
                eprintln!("engineio serve: --tls-cert/--tls-key: {e}");
                return EXIT_USAGE;
            }
        },
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let json_out = args.json;
    let quiet = args.quiet;
    let broadcast = args.broadcast;
    let mut builder = Server::builder()
        .path(&args.path)
        .ping_interval(args.ping_interval)
        .ping_timeout(args.ping_timeout)
        .max_payload(args.max_payload)
        .allow_eio3(args.allow_eio3)
        .http_compression(!args.no_compression);
    if !args.transports.is_empty() {
        let list: Vec<Transport> = args.transports.iter().map(|&t| t.into()).collect();
        builder = builder.transports(&list);
    }
    if !args.cors_origin.is_empty() {
        builder = builder.cors(if args.cors_origin.iter().any(|o| o == "*") {
            CorsPolicy::Any
        } else {
            CorsPolicy::list(args.cors_origin.clone())
        });
    }
    if let Some(name) = &args.cookie {
        builder = builder.cookie(CookieConfig::new(name.clone()));
    }
    let server = builder
        .on_connect(move |server, sid, req| {
            let transport = server.transport(sid).unwrap_or(Transport::Polling);
            let eio = match server.protocol(sid) {
                Ok(ProtocolVersion::V3) => 3,
                _ => 4,
            };
            if json_out {
                out_event(
                    "connect",
                    &[
                        ("sid", json!(sid.as_str())),
                        ("transport", json!(transport.as_str())),
                        ("remote", json!(req.remote_addr().to_string())),
                        ("eio", json!(eio)),
                    ],
                );
            } else {
                out_line(&format!(
                    "connect {sid} {transport} {} EIO={eio}",
                    req.remote_addr()
                ));
            }
            Ok(())
        })
        .on_upgrade(move |_, sid, transport| {
            if json_out {
                out_event(
                    "upgrade",
                    &[
                        ("sid", json!(sid.as_str())),
                        ("transport", json!(transport.as_str())),
                    ],
                );
            } else {
                out_line(&format!("upgrade {sid} {transport}"));
            }
        })
        .on_message(move |server, sid, msg| {
            if !quiet {
                print_message(sid.as_str(), &msg, json_out);
            }
            if broadcast {
                server.broadcast(msg);
            } else {
                let _ = server.send(sid, msg);
            }
        })
        .on_disconnect(move |_, sid, reason| {
            if json_out {
                out_event(
                    "disconnect",
                    &[
                        ("sid", json!(sid.as_str())),
                        ("reason", json!(reason.as_str())),
                    ],
                );
            } else {
                out_line(&format!("disconnect {sid} {reason}"));
            }
        })
        .build();
    let server = match server {
        Ok(s) => s,
        Err(e) => {
            eprintln!("engineio serve: {e}");
            return EXIT_USAGE;
        }
    };
    let mut app = App::new(server.clone());
    if let Some(dir) = &args.static_dir {
        if !dir.is_dir() {
            eprintln!(
                "engineio serve: --static {}: not a directory",
                dir.display()
            );
            return EXIT_USAGE;
        }
        app = app.static_files(StaticFiles::new().dir("/", dir.to_string_lossy()));
    }
    if let Some(tls) = tls {
        app = app.tls(tls);
    }
    let running = match app.listen(&args.addr) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("engineio serve: cannot listen on {}: {e}", args.addr);
            return EXIT_FAILED;
        }
    };
    let addr = running.local_addr();
    if json_out {
        out_event(
            "listening",
            &[
                ("addr", json!(addr.to_string())),
                ("url", json!(format!("{scheme}://{addr}{}", server.path()))),
            ],
        );
    } else {
        out_line(&format!(
            "listening on {scheme}://{addr} (Engine.IO at {}; {})",
            server.path(),
            if broadcast { "broadcast" } else { "echo" }
        ));
    }
    read_commands(server.clone(), json_out);
    let interrupts = common::on_interrupt();
    let stopping = server.clone();
    std::thread::spawn(move || {
        if interrupts.recv().is_ok() {
            eprintln!(
                "engineio serve: interrupted: closing {} session(s) (Ctrl-C again to quit at once)",
                stopping.session_count()
            );
            stopping.shutdown();
        }
    });
    running.wait();
    EXIT_OK
}

fn print_message(sid: &str, msg: &Message, json_out: bool) {
    match (msg, json_out) {
        (Message::Text(t), true) => {
            out_event("message", &[("sid", json!(sid)), ("text", json!(t))])
        }
        (Message::Binary(b), true) => out_event(
            "message",
            &[("sid", json!(sid)), ("binary", json!(to_base64(b)))],
        ),
        (Message::Text(t), false) => out_line(&format!("message {sid} {t}")),
        (Message::Binary(b), false) => out_line(&format!("message {sid} /bin {}", to_hex(b))),
    }
}

/// Stdin commands, on a thread of their own; the end of stdin stops only them.
fn read_commands(server: Server, json_in: bool) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let result = if json_in {
                json_command(&server, &line)
            } else {
                text_command(&server, &line)
            };
            if let Err(e) = result {
                if json_in {
                    out_event("error", &[("kind", json!("input")), ("message", json!(e))]);
                } else {
                    eprintln!("engineio serve: {e}");
                }
            }
        }
    });
}

fn send_to(server: &Server, sid: Option<&str>, msg: Message) -> Result<(), String> {
    match sid {
        Some(sid) => server.send(sid, msg).map_err(|e| format!("{sid}: {e}")),
        None => {
            server.broadcast(msg);
            Ok(())
        }
    }
}

fn text_command(server: &Server, line: &str) -> Result<(), String> {
    if let Some(rest) = line.strip_prefix("//") {
        return send_to(server, None, Message::from(format!("/{rest}")));
    }
    let Some(command) = line.strip_prefix('/') else {
        return send_to(server, None, Message::from(line));
    };
    let (name, rest) = command.split_once(' ').unwrap_or((command, ""));
    match name {
        "bin" => send_to(server, None, Message::from(from_hex(rest)?)),
        "to" => {
            let (sid, text) = rest.split_once(' ').unwrap_or((rest, ""));
            send_to(server, Some(sid), Message::from(text))
        }
        "close" if rest.trim().is_empty() => {
            server.disconnect_all();
            Ok(())
        }
        "close" => server
            .disconnect(rest.trim())
            .map_err(|e| format!("{}: {e}", rest.trim())),
        "list" => {
            for sid in server.sids() {
                let t = server.transport(&sid).map(|t| t.as_str()).unwrap_or("?");
                eprintln!("{sid} {t}");
            }
            Ok(())
        }
        _ => Err(format!(
            "unknown command /{name} (/bin HEX, /to SID TEXT, /close [SID], /list; //TEXT sends /TEXT)"
        )),
    }
}

fn json_command(server: &Server, line: &str) -> Result<(), String> {
    if line.trim().is_empty() {
        return Ok(());
    }
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let sid = v.get("sid").and_then(Value::as_str);
    match v.get("event").and_then(Value::as_str).unwrap_or("message") {
        "message" => {
            let msg = if let Some(t) = v.get("text").and_then(Value::as_str) {
                Message::from(t)
            } else if let Some(b) = v.get("binary").and_then(Value::as_str) {
                Message::from(from_base64(b)?)
            } else {
                return Err("a message needs \"text\" or \"binary\" (base64)".into());
            };
            send_to(server, sid, msg)
        }
        "disconnect" | "close" => match sid {
            Some(sid) => server.disconnect(sid).map_err(|e| format!("{sid}: {e}")),
            None => {
                server.disconnect_all();
                Ok(())
            }
        },
        other => Err(format!("unknown event {other:?} (message, disconnect)")),
    }
}
