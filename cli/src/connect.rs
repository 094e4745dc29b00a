//! `engineio connect URL`: an interactive client, like `wscat` but speaking
//! Engine.IO (polling, WebSocket, the upgrade, v3): stdin lines go out as messages,
//! received messages are printed, and `--json` turns both sides into JSON lines for
//! scripts and test harnesses.

use std::io::BufRead;
use std::time::{Duration, Instant};

use clap::Args;
use engineio::channel::{self, select, Receiver};
use engineio::client::{Client, Event, Message};
use engineio::{ProtocolVersion, Reason, Transport};
use serde_json::{json, Value};

use crate::common::{
    self, connect_hint, error_chain, from_base64, from_hex, kind_name, out_event, out_line,
    to_base64, to_hex, ClientOpts, Target, TransportArg, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK,
};

/// Exit status: the server closed the session.
pub const EXIT_SERVER_CLOSED: u8 = 3;
/// Exit status: the connection was lost (transport close or error, ping timeout).
pub const EXIT_LOST: u8 = 4;
/// Exit status: `--wait` ran out before `--count` messages arrived.
pub const EXIT_WAIT_EXPIRED: u8 = 5;

pub const AFTER_HELP: &str = "\
Input (stdin), one line at a time:
  TEXT          sent as a text message
  /bin HEX      sent as a binary message (e.g. /bin 01 02 ff)
  //TEXT        sent as the text /TEXT
  /close        closes the session and exits
With --binary every line is HEX for a binary message. End of input (Ctrl-D) closes the
session cleanly, after --wait, or once --count messages arrived when --count is given.

Output: received messages on stdout (`< TEXT`, `< /bin HEX`); what happens to the
connection on stderr (`* open …`, `* upgrade …`, `* close …`).

--json: one JSON object per line on stdout for every event:
  {\"event\":\"open\",\"sid\":…,\"transport\":\"polling\",\"upgrades\":[…],\"pingInterval\":…,
   \"pingTimeout\":…,\"maxPayload\":…,\"eio\":4}
  {\"event\":\"upgrade\",\"transport\":\"websocket\"}   ({\"event\":\"upgrade_failed\"} if it failed)
  {\"event\":\"message\",\"text\":\"…\"}  or  {\"event\":\"message\",\"binary\":\"<base64>\"}
  {\"event\":\"close\",\"reason\":\"client disconnect\"}   (server disconnect, transport close,
                                                     transport error, ping timeout)
  {\"event\":\"error\",\"kind\":…,\"message\":…,\"status\":…,\"body\":…,\"hint\":…}
and stdin takes JSON lines: {\"text\":\"hi\"}, {\"binary\":\"AQID\"}, {\"event\":\"close\"}
(\"event\":\"message\" may be given).

Exit status:
  0  closed cleanly by this end (end of input, /close, --count reached)
  1  could not connect (the error and its likely cause are printed)
  2  bad command line
  3  the server closed the session
  4  the connection was lost (transport close, transport error, ping timeout)
  5  --wait ran out before --count messages arrived
  130  interrupted: the first Ctrl-C closes the session cleanly, then exits; a second
       one exits at once";

#[derive(Args, Debug)]
pub struct ConnectArgs {
    /// The server: http://host:port[/path], https://, ws:// or wss://
    pub url: String,
    #[command(flatten)]
    pub client: ClientOpts,
    /// Transports, in order: polling,websocket (the default: polling, then the
    /// upgrade), polling, or websocket
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub transports: Vec<TransportArg>,
    /// The Engine.IO protocol version: 4, or 3 for Socket.IO 2.x-era servers
    #[arg(long, default_value = "4", value_parser = ["3", "4"])]
    pub eio: String,
    /// Binary messages as base64 text (b64=1)
    #[arg(long)]
    pub force_base64: bool,
    /// Every stdin line is hex for a binary message
    #[arg(long)]
    pub binary: bool,
    /// Send this text message once connected, before stdin (repeatable)
    #[arg(long, value_name = "TEXT")]
    pub send: Vec<String>,
    /// Close (exit 0) once this many messages have arrived
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// After the end of stdin, keep receiving this long before closing [default: 0,
    /// or until --count messages arrived]
    #[arg(long, value_name = "DURATION", value_parser = common::parse_duration)]
    pub wait: Option<Duration>,
    /// One JSON object per line for every event, and JSON lines on stdin
    #[arg(long)]
    pub json: bool,
}

/// What the stdin thread hands over.
enum Input {
    Line(String),
    End,
}

pub fn run(args: ConnectArgs) -> u8 {
    let target = match Target::parse(&args.url, args.client.path.as_deref()) {
        Ok(t) => t,
        Err(e) => return usage(&e),
    };
    let transports: Vec<Transport> = if args.transports.is_empty() {
        vec![Transport::Polling, Transport::WebSocket]
    } else {
        args.transports.iter().map(|&t| t.into()).collect()
    };
    let protocol = ProtocolVersion::from_eio(&args.eio).unwrap_or_default();
    let builder = match args.client.builder(&target, &transports, protocol) {
        Ok(b) => b.force_base64(args.force_base64),
        Err(e) => return usage(&e),
    };
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => return usage(&e.to_string()),
    };
    let events = client.events();
    if let Err(e) = client.connect() {
        report_connect_error(&args, &target, &e);
        return EXIT_FAILED;
    }
    let Some(handshake) = client.handshake() else {
        // Connected and already gone: the events say how.
        return drain_to_end(&args, &events);
    };
    let transport = client.transport().unwrap_or(Transport::Polling);
    if args.json {
        out_event(
            "open",
            &[
                ("sid", json!(handshake.sid)),
                ("transport", json!(transport.as_str())),
                ("upgrades", json!(handshake.upgrades)),
                ("pingInterval", json!(handshake.ping_interval)),
                ("pingTimeout", json!(handshake.ping_timeout)),
                ("maxPayload", json!(handshake.max_payload)),
                ("eio", json!(protocol.as_str().parse::<u8>().unwrap_or(4))),
            ],
        );
    } else {
        eprintln!(
            "* open {}: sid {} over {transport} (EIO={protocol}; upgrades: {}; ping {} ms, timeout {} ms; maxPayload {})",
            target.display(),
            handshake.sid,
            if handshake.upgrades.is_empty() {
                "none".to_owned()
            } else {
                handshake.upgrades.join(",")
            },
            handshake.ping_interval,
            handshake.ping_timeout,
            handshake.max_payload,
        );
    }
    let upgrades = watch_upgrade(&client, &handshake.upgrades, &transports, transport);
    let stdin = read_stdin();
    let interrupts = common::on_interrupt();
    Session {
        args: &args,
        client,
        received: 0,
        closing: false,
        interrupted: false,
        stdin_open: true,
        deadline: None,
        line_no: 0,
    }
    .run(&events, &upgrades, &stdin, &interrupts)
}

fn usage(message: &str) -> u8 {
    eprintln!("engineio connect: {message}");
    common::EXIT_USAGE
}

fn report_connect_error(args: &ConnectArgs, target: &Target, e: &engineio::Error) {
    let hint = connect_hint(e, target);
    if args.json {
        out_event(
            "error",
            &[
                ("kind", json!(kind_name(e.kind()))),
                ("message", json!(error_chain(e))),
                ("status", json!(e.status())),
                ("body", json!(e.body())),
                ("hint", json!(hint)),
            ],
        );
    } else {
        eprintln!(
            "engineio connect: cannot connect to {}: {}",
            target.display(),
            error_chain(e)
        );
        if let Some(status) = e.status() {
            eprintln!(
                "  the server answered {status}: {}",
                e.body().unwrap_or("").trim()
            );
        }
        if let Some(hint) = hint {
            eprintln!("  likely cause: {hint}");
        }
    }
}

/// Watches an upgrade the client started: the transport once it is decided.
fn watch_upgrade(
    client: &Client,
    offered: &[String],
    transports: &[Transport],
    now: Transport,
) -> Receiver<Transport> {
    let (tx, rx) = channel::bounded(1);
    let starts = now == Transport::Polling
        && offered.iter().any(|u| u == "websocket")
        && transports.contains(&Transport::WebSocket);
    if starts {
        let client = client.clone();
        std::thread::spawn(move || {
            if let Some(t) = client.wait_for_upgrade(Duration::from_secs(24 * 3600)) {
                let _ = tx.send(t);
            }
        });
    }
    rx
}

/// Reads stdin lines on a thread of its own.
fn read_stdin() -> Receiver<Input> {
    let (tx, rx) = channel::bounded(64);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            match line {
                Ok(l) => {
                    if tx.send(Input::Line(l)).is_err() {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = tx.send(Input::End);
    });
    rx
}

struct Session<'a> {
    args: &'a ConnectArgs,
    client: Client,
    received: u64,
    /// A close was asked for by this end.
    closing: bool,
    /// ... because of Ctrl-C.
    interrupted: bool,
    stdin_open: bool,
    /// When the receiving after the end of stdin stops.
    deadline: Option<Instant>,
    line_no: u64,
}

impl Session<'_> {
    fn run(
        mut self,
        events: &engineio::client::Events,
        upgrades: &Receiver<Transport>,
        stdin: &Receiver<Input>,
        interrupts: &Receiver<()>,
    ) -> u8 {
        for text in &self.args.send {
            self.send(Message::from(text.as_str()));
        }
        if self.args.count == Some(0) {
            self.close();
        }
        let never_line = channel::never();
        let never_transport = channel::never();
        let mut upgrade_pending = true;
        let mut expired = false;
        loop {
            // A channel whose sender is gone is always ready: each is read until its
            // last message, then replaced by one that never is.
            let stdin_rx = if self.stdin_open && !self.closing {
                stdin
            } else {
                &never_line
            };
            let upgrade_rx = if upgrade_pending {
                upgrades
            } else {
                &never_transport
            };
            let timeout = match self.deadline {
                Some(d) if !self.closing => d.saturating_duration_since(Instant::now()),
                _ => Duration::from_secs(3600),
            };
            select! {
                recv(events.receiver()) -> ev => match ev {
                    Ok(Event::Message(m)) => self.on_message(m),
                    Ok(Event::Disconnect(reason)) => {
                        self.print_close(reason);
                        return self.exit_code(reason, expired);
                    }
                    Ok(_) => {}
                    // The connection's events ended without a disconnect event: cannot
                    // happen, but do not spin.
                    Err(_) => return EXIT_FAILED,
                },
                recv(upgrade_rx) -> t => {
                    upgrade_pending = false;
                    if let Ok(t) = t {
                        self.print_upgrade(t);
                    }
                },
                recv(stdin_rx) -> input => match input {
                    Ok(Input::Line(line)) => self.on_line(&line),
                    Ok(Input::End) | Err(_) => self.on_stdin_end(),
                },
                recv(interrupts) -> _ => {
                    if !self.args.json {
                        eprintln!("* interrupted: closing (Ctrl-C again to quit at once)");
                    }
                    self.interrupted = true;
                    self.close();
                },
                default(timeout) => {
                    if self.deadline.is_some_and(|d| Instant::now() >= d) && !self.closing {
                        expired = self.args.count.is_some();
                        self.close();
                    }
                }
            }
        }
    }

    fn exit_code(&self, reason: Reason, expired: bool) -> u8 {
        match reason {
            _ if self.interrupted => EXIT_INTERRUPTED,
            Reason::ClientDisconnect if expired => EXIT_WAIT_EXPIRED,
            Reason::ClientDisconnect => EXIT_OK,
            Reason::ServerDisconnect => EXIT_SERVER_CLOSED,
            _ => EXIT_LOST,
        }
    }

    fn on_message(&mut self, m: Message) {
        if self.args.json {
            match &m {
                Message::Text(t) => out_event("message", &[("text", json!(t))]),
                Message::Binary(b) => out_event("message", &[("binary", json!(to_base64(b)))]),
            }
        } else {
            match &m {
                Message::Text(t) => out_line(&format!("< {t}")),
                Message::Binary(b) => out_line(&format!("< /bin {}", to_hex(b))),
            }
        }
        self.received += 1;
        if self.args.count.is_some_and(|n| self.received >= n) {
            self.close();
        }
    }

    fn print_upgrade(&self, t: Transport) {
        match (t, self.args.json) {
            (Transport::WebSocket, true) => {
                out_event("upgrade", &[("transport", json!("websocket"))])
            }
            (Transport::WebSocket, false) => eprintln!("* upgrade to websocket"),
            (_, true) => out_event("upgrade_failed", &[("transport", json!(t.as_str()))]),
            (_, false) => eprintln!("* upgrade failed: staying on {t} (-v shows why)"),
        }
    }

    fn print_close(&self, reason: Reason) {
        if self.args.json {
            out_event("close", &[("reason", json!(reason.as_str()))]);
        } else {
            eprintln!("* close: {reason}");
        }
    }

    fn on_stdin_end(&mut self) {
        self.stdin_open = false;
        let wait = match (self.args.wait, self.args.count) {
            (Some(w), _) => w,
            (None, Some(_)) => return, // until --count messages arrived
            (None, None) => Duration::ZERO,
        };
        if wait.is_zero() {
            self.close();
        } else {
            self.deadline = Some(Instant::now() + wait);
        }
    }

    /// Closes cleanly, on another thread: the disconnect event comes through the
    /// events, which this thread keeps reading meanwhile.
    fn close(&mut self) {
        if self.closing {
            return;
        }
        self.closing = true;
        let client = self.client.clone();
        std::thread::spawn(move || client.disconnect());
    }

    fn on_line(&mut self, line: &str) {
        self.line_no += 1;
        if self.args.json {
            return self.on_json_line(line);
        }
        if let Some(rest) = line.strip_prefix("//") {
            return self.send(Message::from(format!("/{rest}")));
        }
        if let Some(command) = line.strip_prefix('/') {
            let (name, rest) = command.split_once(' ').unwrap_or((command, ""));
            match name {
                "bin" => match from_hex(rest) {
                    Ok(bytes) => self.send(Message::from(bytes)),
                    Err(e) => eprintln!("* {e}"),
                },
                "close" | "quit" | "exit" => self.close(),
                "help" => eprintln!("{AFTER_HELP}"),
                _ => eprintln!("* unknown command /{name} (/bin HEX, /close; //TEXT sends /TEXT)"),
            }
            return;
        }
        if self.args.binary {
            match from_hex(line) {
                Ok(bytes) => self.send(Message::from(bytes)),
                Err(e) => eprintln!("* {e}"),
            }
        } else {
            self.send(Message::from(line));
        }
    }

    fn on_json_line(&mut self, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        let bad = |why: String| {
            out_event(
                "error",
                &[("kind", json!("input")), ("message", json!(why))],
            );
        };
        let value: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => return bad(format!("stdin line {}: not JSON: {e}", self.line_no)),
        };
        let event = value
            .get("event")
            .and_then(Value::as_str)
            .unwrap_or("message");
        match event {
            "close" => self.close(),
            "message" => {
                if let Some(text) = value.get("text").and_then(Value::as_str) {
                    self.send(Message::from(text));
                } else if let Some(b64) = value.get("binary").and_then(Value::as_str) {
                    match from_base64(b64) {
                        Ok(bytes) => self.send(Message::from(bytes)),
                        Err(e) => bad(format!("stdin line {}: {e}", self.line_no)),
                    }
                } else {
                    bad(format!(
                        "stdin line {}: a message needs \"text\" or \"binary\" (base64)",
                        self.line_no
                    ))
                }
            }
            other => bad(format!(
                "stdin line {}: unknown event {other:?} (message, close)",
                self.line_no
            )),
        }
    }

    fn send(&mut self, m: Message) {
        if let Err(e) = self.client.send(m) {
            if self.args.json {
                out_event(
                    "error",
                    &[
                        ("kind", json!(kind_name(e.kind()))),
                        (
                            "message",
                            json!(format!("send failed: {}", error_chain(&e))),
                        ),
                    ],
                );
            } else {
                eprintln!("* send failed: {}", error_chain(&e));
            }
        }
    }
}

/// Prints the events of a connection that ended during `connect`.
fn drain_to_end(args: &ConnectArgs, events: &engineio::client::Events) -> u8 {
    while let Ok(ev) = events.recv_timeout(Duration::from_secs(5)) {
        if let Event::Disconnect(reason) = ev {
            if args.json {
                out_event("close", &[("reason", json!(reason.as_str()))]);
            } else {
                eprintln!("* close: {reason}");
            }
            return match reason {
                Reason::ServerDisconnect => EXIT_SERVER_CLOSED,
                Reason::ClientDisconnect => EXIT_OK,
                _ => EXIT_LOST,
            };
        }
    }
    EXIT_LOST
}
