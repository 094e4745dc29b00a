//! `engineio bench URL`: load-tests any Engine.IO echo server with the load generator
//! the repository's benchmark uses (`eio-load`): N sessions, open or closed loop,
//! HDR latency percentiles, throughput, connect times, errors by kind.

use std::io::{IsTerminal, Write};
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use eio_load::gen::{Gen, Kind, Target as LoadTarget};
use eio_load::run::{self, Phase, Plan, Progress, Report};
use eio_load::tls::Tls;
use serde_json::json;

use crate::common::{self, out_json, Target, TransportArg, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::raw;

/// Exit status: the run completed, but with errors or lost messages.
pub const EXIT_ERRORS: u8 = 3;

pub const AFTER_HELP: &str = "\
The server must echo every message (engineio serve, the Node/python echo servers, …).
Without --rate, each connection keeps one message in flight (closed loop: the next goes
when its echo is back; latency is measured from the send). With --rate, messages go out
at that rate over all connections together whatever the server does (open loop), and
latency is measured from each message's scheduled send time, so a server that falls
behind shows it (no coordinated omission). Latencies go into an HDR histogram.

The load generator is one thread on non-blocking sockets and speaks Engine.IO v4 by
itself, over plain TCP or TLS: with an https:// or wss:// URL every connection makes
its own TLS handshake (rustls; counted in the connect time) and every message is
encrypted. It trusts Mozilla's roots, or only the CA given with --ca; --insecure
accepts any certificate (a test server's). A certificate that is not trusted counts as
a `tls` error.

A progress bar runs on stderr when it is a terminal. --json prints one JSON object.

Exit status:
  0  every connection opened, stayed up, and every echo came back
  1  no connection could be opened (or the URL cannot be used)
  2  bad command line
  3  the run completed with errors (connections failed or lost, echoes missing)";

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The server: http://host:port[/path] (ws://, https:// and wss:// work too)
    pub url: String,
    /// The Engine.IO path [default: the URL's path, else /engine.io/]
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// A query parameter for every request, name=value (repeatable)
    #[arg(long = "query", value_name = "NAME=VALUE")]
    pub query: Vec<String>,
    /// Sessions to open
    #[arg(short = 'c', long, default_value_t = 10, value_name = "N")]
    pub connections: usize,
    /// The transport of every session: websocket, or polling (each message POSTed, its
    /// echo fetched by a GET)
    #[arg(
        short = 't',
        long,
        default_value = "websocket",
        value_name = "TRANSPORT"
    )]
    pub transport: TransportArg,
    /// Message size, bytes of text
    #[arg(short = 's', long, default_value_t = 20, value_name = "BYTES")]
    pub size: usize,
    /// Offered messages per second over all connections (open loop) [default: closed
    /// loop]
    #[arg(short = 'r', long, value_name = "MSG/S")]
    pub rate: Option<f64>,
    /// The measured time
    #[arg(short = 'd', long, default_value = "10s", value_name = "DURATION", value_parser = common::parse_duration)]
    pub duration: Duration,
    /// Load before the measured time, not counted
    #[arg(long, default_value = "0s", value_name = "DURATION", value_parser = common::parse_duration)]
    pub warmup: Duration,
    /// Trust this CA certificate (PEM) for https/wss instead of the built-in roots
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Accept any server certificate (test servers only)
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// How long a session may take to open
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = common::parse_duration)]
    pub connect_timeout: Duration,
    /// The most sessions opening at once
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub connect_concurrency: usize,
    /// No progress bar
    #[arg(long)]
    pub no_progress: bool,
    /// One JSON object with every figure on stdout
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: BenchArgs) -> u8 {
    let target = match Target::parse(&args.url, args.path.as_deref()) {
        Ok(t) => t,
        Err(e) => return usage(&e),
    };
    if !target.secure && (args.ca.is_some() || args.insecure) {
        return usage("--ca and --insecure are for https:// and wss:// URLs");
    }
    if args.connections == 0 || args.size > 1_000_000 || args.rate.is_some_and(|r| r <= 0.0) {
        return usage("--connections must be ≥ 1, --size ≤ 1000000, --rate > 0");
    }
    let mut query = target.query.clone();
    for q in &args.query {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(q);
    }
    let addr = match (target.host.as_str(), target.port).to_socket_addrs() {
        Ok(mut addrs) => match addrs.next() {
            Some(a) => a,
            None => return fail(&format!("{} resolves to no address", target.host)),
        },
        Err(e) => return fail(&format!("cannot resolve {}: {e}", target.host)),
    };
    let plan = Plan {
        connections: args.connections,
        kind: match args.transport {
            TransportArg::Websocket => Kind::EioWs,
            TransportArg::Polling => Kind::PollingEcho,
        },
        message_bytes: args.size,
        rate: args.rate,
        duration: args.duration,
        warmup: args.warmup,
        connect_timeout: args.connect_timeout,
        ramp_concurrency: args.connect_concurrency,
        ..Plan::default()
    };
    let tls = if target.secure {
        let config = match raw::tls_config(args.ca.as_deref(), args.insecure) {
            Ok(c) => c,
            Err(e) => return fail(&e),
        };
        match Tls::new(config, &target.host) {
            Ok(t) => Some(t),
            Err(e) => return fail(&format!("TLS: {e}")),
        }
    } else {
        None
    };
    let gen = match Gen::to(LoadTarget {
        addr,
        host: target.authority.clone(),
        path: target.path.clone(),
        query,
        tls,
    }) {
        Ok(g) => g,
        Err(e) => return fail(&format!("cannot start the load generator: {e}")),
    };
    if !args.json {
        println!("engineio bench {} ({addr})", target.display());
        println!("  {}", describe(&plan));
    }
    let mut bar = Bar::new(!args.no_progress && std::io::stderr().is_terminal());
    let report = run::run(gen, &plan, &mut |p| bar.show(p));
    bar.clear();
    let report = match report {
        Ok(r) => r,
        Err(e) => return fail(&format!("the load generator failed: {e}")),
    };
    if args.json {
        out_json(&to_json(&target, &report));
    } else {
        print_report(&report);
    }
    if report.opened == 0 {
        EXIT_FAILED
    } else if report.error_count() > 0 || report.lost > 0 || report.received == 0 {
        EXIT_ERRORS
    } else {
        EXIT_OK
    }
}

fn usage(message: &str) -> u8 {
    eprintln!("engineio bench: {message}");
    EXIT_USAGE
}

fn fail(message: &str) -> u8 {
    eprintln!("engineio bench: {message}");
    EXIT_FAILED
}

fn describe(plan: &Plan) -> String {
    let transport = match plan.kind {
        Kind::PollingEcho => "polling",
        _ => "websocket",
    };
    let mode = match plan.rate {
        Some(r) => format!("open loop at {} msg/s offered", group(r.round() as u64)),
        None => "closed loop (one message in flight each)".into(),
    };
    let warmup = if plan.warmup.is_zero() {
        String::new()
    } else {
        format!(" after {} of warm-up", secs(plan.warmup))
    };
    format!(
        "{} {transport} connections, {mode}, {}-byte text messages, {}{warmup}",
        plan.connections,
        plan.message_bytes,
        secs(plan.duration)
    )
}

fn print_report(r: &Report) {
    let c = &r.connect;
    if r.opened == 0 {
        println!("connect     none of {} sessions opened", r.plan.connections);
    } else {
        println!(
            "connect     {} of {} sessions open in {}; connect time p50 {}, p99 {}, max {}",
            r.opened,
            r.plan.connections,
            ms(r.connect_elapsed.as_micros() as u64),
            ms(c.quantile_us(0.5)),
            ms(c.quantile_us(0.99)),
            ms(c.percentiles().max_us),
        );
        if let Some(tls) = &r.tls {
            println!("tls         {tls} (a handshake per connection)");
        }
    }
    if r.opened > 0 {
        println!(
            "throughput  {} echoes in {}: {} msg/s (sent {}{})",
            group(r.received),
            secs(r.window),
            group(r.throughput().round() as u64),
            group(r.sent),
            if r.lost > 0 {
                format!(", lost {}", group(r.lost))
            } else {
                String::new()
            }
        );
        let l = &r.rtt;
        if l.count() > 0 {
            println!(
                "latency     min {}  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  ({})",
                ms(l.min_us()),
                ms(l.quantile_us(0.5)),
                ms(l.quantile_us(0.9)),
                ms(l.quantile_us(0.99)),
                ms(l.quantile_us(0.999)),
                ms(l.percentiles().max_us),
                if r.plan.rate.is_some() {
                    "from each message's scheduled send time"
                } else {
                    "from each send"
                }
            );
        } else {
            println!("latency     no echo came back: does the server echo every message?");
        }
    }
    if r.errors.is_empty() {
        println!("errors      none");
    } else {
        println!(
            "errors      {} ({} connections lost after opening)",
            group(r.error_count()),
            r.disconnects
        );
        for (kind, e) in &r.errors {
            println!("  {:>6} × {kind}: {}", group(e.count), e.first);
        }
        if let Some(e) = r.errors.get("tls") {
            if e.first.contains("certificate") {
                println!(
                    "hint        the server's certificate is not trusted: give its CA with \
                     --ca FILE, or --insecure for a test server"
                );
            }
        }
    }
    if let Some(note) = &r.note {
        println!("note        {note}");
    }
}

fn to_json(target: &Target, r: &Report) -> serde_json::Value {
    let l = &r.rtt;
    let ms_of = |us: u64| us as f64 / 1000.0;
    let errors: serde_json::Map<String, serde_json::Value> = r
        .errors
        .iter()
        .map(|(k, e)| (k.clone(), json!({"count": e.count, "first": e.first})))
        .collect();
    json!({
        "url": target.display(),
        "transport": if r.plan.kind == Kind::PollingEcho { "polling" } else { "websocket" },
        "mode": if r.plan.rate.is_some() { "open" } else { "closed" },
        "rate": r.plan.rate,
        "connections": r.plan.connections,
        "opened": r.opened,
        "message_bytes": r.plan.message_bytes,
        "duration_s": r.plan.duration.as_secs_f64(),
        "warmup_s": r.plan.warmup.as_secs_f64(),
        "window_s": r.window.as_secs_f64(),
        "tls": r.tls,
        "connect": {
            "elapsed_ms": r.connect_elapsed.as_secs_f64() * 1000.0,
            "p50_ms": ms_of(r.connect.quantile_us(0.5)),
            "p99_ms": ms_of(r.connect.quantile_us(0.99)),
            "max_ms": ms_of(r.connect.percentiles().max_us),
        },
        "sent": r.sent,
        "received": r.received,
        "lost": r.lost,
        "throughput": r.throughput(),
        "latency_ms": {
            "count": l.count(),
            "min": ms_of(l.min_us()),
            "mean": l.mean_us() / 1000.0,
            "p50": ms_of(l.quantile_us(0.5)),
            "p90": ms_of(l.quantile_us(0.9)),
            "p99": ms_of(l.quantile_us(0.99)),
            "p999": ms_of(l.quantile_us(0.999)),
            "max": ms_of(l.percentiles().max_us),
        },
        "disconnects": r.disconnects,
        "errors": errors,
        "note": r.note,
    })
}

/// The progress bar on stderr.
struct Bar {
    on: bool,
    last: Option<(Instant, u64)>,
    rate: f64,
}

impl Bar {
    fn new(on: bool) -> Bar {
        Bar {
            on,
            last: None,
            rate: 0.0,
        }
    }

    fn show(&mut self, p: &Progress) {
        if !self.on {
            return;
        }
        let line = match p.phase {
            Phase::Connecting => format!("connecting {}/{}", p.open, p.target),
            _ => {
                let now = Instant::now();
                if let Some((t, n)) = self.last {
                    let dt = now.duration_since(t).as_secs_f64();
                    if dt > 0.0 {
                        self.rate = p.received.saturating_sub(n) as f64 / dt;
                    }
                }
                self.last = Some((now, p.received));
                let frac = if p.total.is_zero() {
                    1.0
                } else {
                    (p.elapsed.as_secs_f64() / p.total.as_secs_f64()).min(1.0)
                };
                let width = 30;
                let done = (frac * width as f64) as usize;
                format!(
                    "[{}{}] {:.1}/{:.1} s {}  {} msg/s  p99 {}  {}/{} open  {} errors",
                    "#".repeat(done),
                    ".".repeat(width - done),
                    p.elapsed.as_secs_f64().min(p.total.as_secs_f64()),
                    p.total.as_secs_f64(),
                    match p.phase {
                        Phase::Warmup => "warm-up",
                        Phase::Draining => "draining",
                        _ => "",
                    },
                    group(self.rate.round() as u64),
                    ms(p.rtt.p99_us),
                    p.open,
                    p.target,
                    p.errors
                )
            }
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
    }

    fn clear(&mut self) {
        if self.on {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
    }
}

/// `12,345`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Microseconds as milliseconds, to three significant figures.
pub fn ms(us: u64) -> String {
    let m = us as f64 / 1000.0;
    if m >= 100.0 {
        format!("{m:.0} ms")
    } else if m >= 10.0 {
        format!("{m:.1} ms")
    } else {
        format!("{m:.2} ms")
    }
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.2} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_for_people() {
        assert_eq!(group(0), "0");
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(group(123), "123");
        assert_eq!(ms(412), "0.41 ms");
        assert_eq!(ms(12_345), "12.3 ms");
        assert_eq!(ms(123_456), "123 ms");
        assert_eq!(secs(Duration::from_secs(10)), "10 s");
    }
}
