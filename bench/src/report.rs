//! The results of one run (written as JSON), and the Markdown report made from them:
//! one table per scenario with each contender's figure and ours divided by theirs, and
//! the targets, each met or missed with its numbers.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::scenarios::broadcast::Broadcast;
use crate::scenarios::echo::{LatencyPoint, Throughput};
use crate::scenarios::handshake::Handshakes;
use crate::scenarios::idle::Idle;
use crate::scenarios::tls::EchoSide;
use crate::scenarios::{Outcome, Settings};

/// Everything one run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// When the run started (UTC, `YYYY-MM-DDTHH:MM:SSZ`).
    pub started: String,
    /// How long the run took, seconds.
    pub duration_secs: f64,
    /// The settings used.
    pub settings: Settings,
    /// Versions of every contender and of the machine.
    pub versions: Vec<(String, String)>,
    /// Per contender, in report order.
    pub contenders: Vec<ContenderResult>,
}

/// One contender's figures; `None` where a scenario does not apply or was not run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContenderResult {
    /// Short name (`ours`, `node`, ...).
    pub name: String,
    /// Display name.
    pub label: String,
    /// (a)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<Outcome<Idle>>,
    /// (b)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Outcome<Vec<LatencyPoint>>>,
    /// (c)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<Outcome<Throughput>>,
    /// (d) polling opens
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polling_open: Option<Outcome<Handshakes>>,
    /// (d) full connects
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_connect: Option<Outcome<Handshakes>>,
    /// (e)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polling_echo: Option<Outcome<Throughput>>,
    /// (f)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<Outcome<Broadcast>>,
    /// (h) the (f) broadcast over several processes through Redis (ours only)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_broadcast: Option<Outcome<Broadcast>>,
    /// (g) WebSocket echo over TLS
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Outcome<EchoSide>>,
    /// (g) the same, plain, for comparison
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_plain: Option<Outcome<EchoSide>>,
}

impl Results {
    fn get(&self, name: &str) -> Option<&ContenderResult> {
        self.contenders.iter().find(|c| c.name == name)
    }
}

fn ok<T>(o: &Option<Outcome<T>>) -> Option<&T> {
    o.as_ref()?.ok.as_ref()
}

/// How a scenario cell reads when there is no figure.
fn missing<T>(o: &Option<Outcome<T>>) -> String {
    match o {
        None => "n/a".into(),
        Some(Outcome { error: Some(e), .. }) => format!("failed: {}", short(e)),
        Some(_) => "–".into(),
    }
}

fn short(e: &str) -> String {
    let e = e.replace('|', "/").replace('\n', " ");
    if e.chars().count() > 90 {
        format!("{}…", e.chars().take(90).collect::<String>())
    } else {
        e
    }
}

/// `ours / theirs`, formatted, or a dash.
fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(o), Some(t)) if t > 0.0 => format!("{:.2}×", o / t),
        _ => "–".into(),
    }
}

fn int(x: f64) -> String {
    let n = x.round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn ms(us: u64) -> String {
    let m = us as f64 / 1000.0;
    if m < 10.0 {
        format!("{m:.2}")
    } else if m < 100.0 {
        format!("{m:.1}")
    } else {
        format!("{m:.0}")
    }
}

/// The whole Markdown report; `svg_name` is the chart's file name, linked from it.
pub fn markdown(r: &Results, svg_name: &str) -> String {
    let mut md = String::new();
    let s = &r.settings;
    let _ = writeln!(
        md,
        "Run of {} ({} mode, {:.1} minutes), one contender at a time on the same machine, \
         loopback only; the load generator is one non-blocking thread (mio/epoll). \
         **ours ÷ theirs**: our figure divided by theirs (for latency, memory and CPU, below 1 is better for us).\n",
        r.started,
        s.mode,
        r.duration_secs / 60.0
    );
    let _ = writeln!(md, "![(b) p99 latency and (c) throughput]({svg_name})\n");
    idle_table(&mut md, r);
    latency_table(&mut md, r);
    throughput_table(
        &mut md,
        r,
        "(c) WebSocket echo throughput, closed loop",
        |c| &c.throughput,
    );
    handshake_table(&mut md, r);
    throughput_table(
        &mut md,
        r,
        "(e) Polling echo throughput, closed loop",
        |c| &c.polling_echo,
    );
    broadcast_table(&mut md, r);
    tls_tables(&mut md, r);
    targets(&mut md, r);
    let _ = writeln!(md, "### Versions and settings\n");
    let _ = writeln!(md, "| | |\n|---|---|");
    for (k, v) in &r.versions {
        let _ = writeln!(md, "| {k} | {} |", short(v));
    }
    let _ = writeln!(
        md,
        "\nEvery Engine.IO contender: ping interval 25 s, ping timeout 20 s, max payload \
         1,000,000, no HTTP compression, no CORS, no cookie, logging off; every message \
         echoed as sent, and `broadcast:<text>` sends `<text>` to every session. \
         Messages: {} bytes of text. (a) steps {:?}, each held {} s, at most {} \
         connections opening at once, ramps stop when the machine has {} threads. \
         (b) {} connections, {} s per rate after {} s warm-up; latency from each \
         message's scheduled send time (no coordinated omission); a rate is sustained \
         when every echo came back and p99 ≤ 1 s. (c), (e) {} connections, one message \
         in flight each, {} s. (d) {} clients looping, {} s each. (f) {} clients, {} rounds, median reported. \
         (g) as (b) at {:?} msg/s and (c), over TLS and plain.\n",
        s.message_bytes,
        s.idle_steps,
        s.idle_hold_secs,
        s.ramp_concurrency,
        s.max_machine_threads,
        s.echo_connections,
        s.latency_secs,
        s.warmup_secs,
        s.echo_connections,
        s.throughput_secs,
        s.handshake_clients,
        s.handshake_secs,
        s.broadcast_clients,
        s.broadcast_rounds,
        s.tls_rates
    );
    md
}

/// The step of (a) used to compare memory between two contenders: the largest step
/// both held cleanly.
fn common_step<'a>(
    a: &'a Idle,
    b: &'a Idle,
) -> Option<(
    &'a crate::scenarios::idle::IdleStep,
    &'a crate::scenarios::idle::IdleStep,
)> {
    a.steps.iter().rev().filter(|s| s.clean).find_map(|sa| {
        b.steps
            .iter()
            .find(|sb| sb.clean && sb.target == sa.target)
            .map(|sb| (sa, sb))
    })
}

fn idle_table(md: &mut String, r: &Results) {
    let _ = writeln!(md, "### (a) Idle WebSocket sessions\n");
    let _ = writeln!(
        md,
        "| Contender | held with 0 disconnects | RSS/session (KiB) | system/session (KiB) | threads | steps | ours ÷ theirs (held) | ours ÷ theirs (RSS/session, same step) |\n|---|---|---|---|---|---|---|---|"
    );
    let ours = r.get("ours").and_then(|c| ok(&c.idle));
    for c in &r.contenders {
        let Some(idle) = ok(&c.idle) else {
            if c.idle.is_some() {
                let _ = writeln!(md, "| {} | {} | | | | | | |", c.label, missing(&c.idle));
            }
            continue;
        };
        let best = idle.steps.iter().rev().find(|s| s.clean);
        let steps: Vec<String> = idle
            .steps
            .iter()
            .map(|s| {
                let mut t = format!("{}/{}", int(s.held as f64), int(s.target as f64));
                if let Some(n) = &s.note {
                    t.push_str(&format!(" ({})", short(n)));
                }
                t
            })
            .collect();
        let mem_ratio = ours
            .and_then(|o| common_step(o, idle))
            .map(|(a, b)| {
                format!(
                    "{} (at {})",
                    ratio(Some(a.rss_per_session_kib), Some(b.rss_per_session_kib)),
                    int(a.target as f64)
                )
            })
            .unwrap_or_else(|| "–".into());
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            c.label,
            int(idle.max_clean as f64),
            best.map(|s| format!("{:.1}", s.rss_per_session_kib))
                .unwrap_or_else(|| "–".into()),
            best.map(|s| format!("{:.1}", s.system_per_session_kib))
                .unwrap_or_else(|| "–".into()),
            best.map(|s| int(s.threads as f64))
                .unwrap_or_else(|| "–".into()),
            steps.join(", "),
            ratio(
                ours.map(|o| o.max_clean as f64),
                Some(idle.max_clean as f64)
            ),
            mem_ratio
        );
    }
    let _ = writeln!(
        md,
        "\nRSS, system memory and threads at the largest step held cleanly; system memory is the drop in MemAvailable (server, kernel and generator side together).\n"
    );
}

fn latency_table(md: &mut String, r: &Results) {
    let rates = &r.settings.latency_rates;
    let _ = writeln!(
        md,
        "### (b) Echo latency, open loop (p50 / p99 / p99.9, ms)\n"
    );
    let mut head = "| Contender |".to_string();
    let mut rule = "|---|".to_string();
    for rate in rates {
        let _ = write!(head, " {} msg/s | ours ÷ theirs (p99) |", int(*rate as f64));
        rule.push_str("---|---|");
    }
    let _ = writeln!(md, "{head}\n{rule}");
    let ours = r.get("ours").and_then(|c| ok(&c.latency));
    for c in &r.contenders {
        let mut row = format!("| {} |", c.label);
        let points = ok(&c.latency);
        if points.is_none() {
            let _ = writeln!(md, "{row} {} |", missing(&c.latency));
            continue;
        }
        for rate in rates {
            let p = points.and_then(|ps| ps.iter().find(|p| p.rate == *rate));
            let o = ours.and_then(|ps| ps.iter().find(|p| p.rate == *rate));
            match p {
                Some(p) => {
                    let mark = if p.sustained {
                        ""
                    } else {
                        " ✗ not sustained"
                    };
                    let _ = write!(
                        row,
                        " {} / {} / {}{} | {} |",
                        ms(p.rtt.p50_us),
                        ms(p.rtt.p99_us),
                        ms(p.rtt.p999_us),
                        mark,
                        ratio(o.map(|o| o.rtt.p99_us as f64), Some(p.rtt.p99_us as f64))
                    );
                }
                None => row.push_str(" not run | – |"),
            }
        }
        let _ = writeln!(md, "{row}");
    }
    let _ = writeln!(
        md,
        "\nA rate is not run after one the contender did not sustain.\n"
    );
}

fn throughput_table(
    md: &mut String,
    r: &Results,
    title: &str,
    pick: fn(&ContenderResult) -> &Option<Outcome<Throughput>>,
) {
    let _ = writeln!(md, "### {title}\n");
    let _ = writeln!(
        md,
        "| Contender | msg/s | server CPU µs/msg | server CPU | generator CPU | RTT p50 / p99 (ms) | ours ÷ theirs (msg/s) | ours ÷ theirs (CPU/msg) |\n|---|---|---|---|---|---|---|---|"
    );
    let ours = r.get("ours").and_then(|c| ok(pick(c)));
    for c in &r.contenders {
        let o = pick(c);
        let Some(t) = ok(o) else {
            if o.is_some() {
                let _ = writeln!(md, "| {} | {} | | | | | | |", c.label, missing(o));
            }
            continue;
        };
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} | {:.0}% | {:.0}% | {} / {} | {} | {} |",
            c.label,
            int(t.msgs_per_sec),
            t.server_cpu_us_per_msg,
            t.server_cpu_pct,
            t.generator_cpu_pct,
            ms(t.rtt.p50_us),
            ms(t.rtt.p99_us),
            ratio(ours.map(|o| o.msgs_per_sec), Some(t.msgs_per_sec)),
            ratio(
                ours.map(|o| o.server_cpu_us_per_msg),
                Some(t.server_cpu_us_per_msg)
            )
        );
    }
    let _ = writeln!(md);
}

fn handshake_table(md: &mut String, r: &Results) {
    let _ = writeln!(md, "### (d) Handshakes per second\n");
    let _ = writeln!(
        md,
        "| Contender | polling opens/s | server CPU µs/open | ours ÷ theirs | full connects/s | server CPU µs/connect | ours ÷ theirs |\n|---|---|---|---|---|---|---|"
    );
    let ours = r.get("ours");
    for c in &r.contenders {
        if c.polling_open.is_none() && c.full_connect.is_none() {
            continue;
        }
        let cell = |o: &Option<Outcome<Handshakes>>, mine: Option<&Handshakes>| match ok(o) {
            Some(h) => format!(
                "{} | {:.0} | {}",
                int(h.per_sec),
                h.server_cpu_us_per,
                ratio(mine.map(|m| m.per_sec), Some(h.per_sec))
            ),
            None => format!("{} | | ", missing(o)),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            c.label,
            cell(&c.polling_open, ours.and_then(|o| ok(&o.polling_open))),
            cell(&c.full_connect, ours.and_then(|o| ok(&o.full_connect)))
        );
    }
    let _ = writeln!(
        md,
        "\nA polling open is a GET handshake then a POST `1` closing the session (so that sessions do not pile up); a full connect is a polling handshake, a WebSocket upgrade (`2probe`, `3probe`, `5`), one echoed message and a close.\n"
    );
}

fn broadcast_table(md: &mut String, r: &Results) {
    let _ = writeln!(
        md,
        "### (f) Broadcast to every connected WebSocket client\n"
    );
    let _ = writeln!(
        md,
        "| Contender | clients | last client reached (ms, median round) | median client (ms) | generator CPU per round (ms) | ours ÷ theirs (last) |\n|---|---|---|---|---|---|"
    );
    let ours = r.get("ours").and_then(|c| ok(&c.broadcast));
    for c in &r.contenders {
        let Some(b) = ok(&c.broadcast) else {
            if c.broadcast.is_some() {
                let _ = writeln!(md, "| {} | {} | | | | |", c.label, missing(&c.broadcast));
            }
            continue;
        };
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} | {:.1} | {:.1} | {} |",
            c.label,
            int(b.clients as f64),
            b.median_all_ms,
            b.median_p50_ms,
            b.generator_cpu_ms_per_round,
            ratio(ours.map(|o| o.median_all_ms), Some(b.median_all_ms))
        );
        if let Some(g) = &c.cluster_broadcast {
            let label = format!(
                "{}, {} processes through Redis (h)",
                c.label, r.settings.cluster_nodes
            );
            match &g.ok {
                Some(b) => {
                    let _ = writeln!(
                        md,
                        "| {label} | {} | {:.1} | {:.1} | {:.1} | {} |",
                        int(b.clients as f64),
                        b.median_all_ms,
                        b.median_p50_ms,
                        b.generator_cpu_ms_per_round,
                        ratio(ours.map(|o| o.median_all_ms), Some(b.median_all_ms))
                    );
                }
                None => {
                    let _ = writeln!(
                        md,
                        "| {label} | {} | | | | |",
                        missing(&c.cluster_broadcast)
                    );
                }
            }
        }
    }
    let _ = writeln!(md);
    if r.contenders.iter().any(|c| c.cluster_broadcast.is_some()) {
        let _ = writeln!(
            md,
            "(h): the same clients spread evenly over {} `bench-ours --redis` processes \
             sharing one local `redis-server`; one client on the first process sends \
             `broadcast:<tag>`, which that process sends to its own sessions and \
             publishes once (`Server::cluster_broadcast`); the others receive it from \
             Redis. Time to the last client on any process, from the same generator \
             clock as (f).\n",
            r.settings.cluster_nodes
        );
    }
}

/// The rows of (g): each contender that ran it, over TLS then plain.
fn tls_rows(r: &Results) -> Vec<(&ContenderResult, &'static str, &Option<Outcome<EchoSide>>)> {
    let mut rows = Vec::new();
    for c in &r.contenders {
        if c.tls.is_some() || c.tls_plain.is_some() {
            rows.push((c, "TLS", &c.tls));
            rows.push((c, "plain", &c.tls_plain));
        }
    }
    rows
}

/// A contender's (g) figures over `over` ("TLS" or "plain").
fn side<'a>(c: &'a ContenderResult, over: &str) -> Option<&'a EchoSide> {
    if over == "TLS" {
        ok(&c.tls)
    } else {
        ok(&c.tls_plain)
    }
}

/// `x (1.23× plain)` for a TLS row, `x` for a plain one.
fn vs_plain(value: String, tls: Option<f64>, plain: Option<f64>, over: &str) -> String {
    match (over, tls, plain) {
        ("TLS", Some(t), Some(p)) if p > 0.0 => format!("{value} ({:.2}× plain)", t / p),
        _ => value,
    }
}

fn tls_tables(md: &mut String, r: &Results) {
    let rows = tls_rows(r);
    if rows.is_empty() {
        return;
    }
    let ours = r.get("ours");
    let _ = writeln!(
        md,
        "### (g) WebSocket echo over TLS (wss), beside plain WebSocket\n"
    );
    let _ = writeln!(md, "Closed loop, as (c):\n");
    let _ = writeln!(
        md,
        "| Contender | over | msg/s | server CPU µs/msg | server CPU | generator CPU | RTT p50 / p99 (ms) | ours ÷ theirs (msg/s) | ours ÷ theirs (CPU/msg) |\n|---|---|---|---|---|---|---|---|---|"
    );
    for &(c, over, o) in &rows {
        let Some(e) = ok(o) else {
            let _ = writeln!(md, "| {} | {over} | {} | | | | | | |", c.label, missing(o));
            continue;
        };
        let t = &e.throughput;
        let plain = side(c, "plain").map(|p| &p.throughput);
        let mine = ours.and_then(|o| side(o, over)).map(|m| &m.throughput);
        let _ = writeln!(
            md,
            "| {} | {over} | {} | {} | {:.0}% | {:.0}% | {} / {} | {} | {} |",
            c.label,
            vs_plain(
                int(t.msgs_per_sec),
                Some(t.msgs_per_sec),
                plain.map(|p| p.msgs_per_sec),
                over
            ),
            vs_plain(
                format!("{:.1}", t.server_cpu_us_per_msg),
                Some(t.server_cpu_us_per_msg),
                plain.map(|p| p.server_cpu_us_per_msg),
                over
            ),
            t.server_cpu_pct,
            t.generator_cpu_pct,
            ms(t.rtt.p50_us),
            ms(t.rtt.p99_us),
            ratio(mine.map(|m| m.msgs_per_sec), Some(t.msgs_per_sec)),
            ratio(
                mine.map(|m| m.server_cpu_us_per_msg),
                Some(t.server_cpu_us_per_msg)
            )
        );
    }
    let rates = &r.settings.tls_rates;
    let _ = writeln!(
        md,
        "\nOpen loop at fixed offered rates, as (b): p50 / p99 / p99.9 (ms), and the server's CPU per message over the window:\n"
    );
    let mut head = "| Contender | over |".to_string();
    let mut rule = "|---|---|".to_string();
    for rate in rates {
        let _ = write!(
            head,
            " {} msg/s | server CPU µs/msg | ours ÷ theirs (CPU/msg) |",
            int(*rate as f64)
        );
        rule.push_str("---|---|---|");
    }
    let _ = writeln!(md, "{head}\n{rule}");
    for &(c, over, o) in &rows {
        let Some(e) = ok(o) else {
            let _ = writeln!(md, "| {} | {over} | {} |", c.label, missing(o));
            continue;
        };
        let mut row = format!("| {} | {over} |", c.label);
        let plain = side(c, "plain");
        let mine = ours.and_then(|o| side(o, over));
        let at = |s: Option<&EchoSide>, rate: u64| -> Option<LatencyPoint> {
            s?.latency.iter().find(|p| p.rate == rate).cloned()
        };
        for &rate in rates {
            let Some(p) = at(Some(e), rate) else {
                row.push_str(" not run | | |");
                continue;
            };
            let mark = if p.sustained {
                ""
            } else {
                " ✗ not sustained"
            };
            let cpu = p.server_cpu_us_per_msg;
            let _ = write!(
                row,
                " {} / {} / {}{mark} | {} | {} |",
                ms(p.rtt.p50_us),
                ms(p.rtt.p99_us),
                ms(p.rtt.p999_us),
                cpu.map(|c| vs_plain(
                    format!("{c:.1}"),
                    Some(c),
                    at(plain, rate).and_then(|p| p.server_cpu_us_per_msg),
                    over
                ))
                .unwrap_or_else(|| "–".into()),
                ratio(at(mine, rate).and_then(|m| m.server_cpu_us_per_msg), cpu)
            );
        }
        let _ = writeln!(md, "{row}");
    }
    let sessions: Vec<String> = r
        .contenders
        .iter()
        .filter_map(|c| Some(format!("{} ({})", ok(&c.tls)?.session.as_deref()?, c.label)))
        .collect();
    let _ = writeln!(
        md,
        "\nTLS agreed: {}. Certificate: {}. Each connection makes its own handshake before \
         its session opens; the figures are measured on open sessions. The plain rows are \
         the same contender measured the same way on a fresh server right after; \
         `(N× plain)` is the TLS figure divided by the plain one. A rate is not run after \
         one the contender did not sustain.\n",
        if sessions.is_empty() {
            "–".to_string()
        } else {
            sessions.join("; ")
        },
        crate::pki::DESCRIPTION
    );
}

/// A target's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Met, with the numbers.
    Met(String),
    /// Missed, with the numbers.
    Missed(String),
    /// Could not be judged (a figure is missing, or the run was too small).
    Unknown(String),
}

/// Every target of issue #5, judged on `r`.
pub fn verdicts(r: &Results) -> Vec<(&'static str, Verdict)> {
    use Verdict::*;
    let thr = |n: &str| {
        r.get(n)
            .and_then(|c| ok(&c.throughput))
            .map(|t| t.msgs_per_sec)
    };
    let judge =
        |ours: Option<f64>, theirs: Option<f64>, factor: f64, what: &str| match (ours, theirs) {
            (Some(o), Some(t)) if t > 0.0 => {
                let text = format!(
                    "{} vs {} {what}: {:.2}× (needs ≥ {factor}×)",
                    int(o),
                    int(t),
                    o / t
                );
                if o / t >= factor {
                    Met(text)
                } else {
                    Missed(text)
                }
            }
            _ => Unknown(format!("missing figure (ours {ours:?}, theirs {theirs:?})")),
        };
    let mut v = Vec::new();
    v.push((
        "(c) throughput ≥ 1.5× engineioxide",
        judge(thr("ours"), thr("engineioxide"), 1.5, "msg/s"),
    ));
    v.push((
        "(c) throughput ≥ 0.75× raw tungstenite",
        judge(thr("ours"), thr("raw-ws"), 0.75, "msg/s"),
    ));
    v.push((
        "(b) p99 ≤ engineioxide's at every rate it sustains",
        latency_verdict(r),
    ));
    let po = |n: &str| {
        r.get(n)
            .and_then(|c| ok(&c.polling_open))
            .map(|h| h.per_sec)
    };
    v.push((
        "(d) polling handshakes/s ≥ 1.2× engineioxide",
        judge(po("ours"), po("engineioxide"), 1.2, "opens/s"),
    ));
    let pe = |n: &str| {
        r.get(n)
            .and_then(|c| ok(&c.polling_echo))
            .map(|t| t.msgs_per_sec)
    };
    v.push((
        "(e) polling echo ≥ 1.2× Node",
        judge(pe("ours"), pe("node"), 1.2, "msg/s"),
    ));
    v.push((
        "(a) 15k WebSocket sessions held 60 s, zero disconnects",
        idle_verdict(r),
    ));
    v.push((
        "(a) RSS/session ≤ 1.1× raw tungstenite echo",
        rss_verdict(r),
    ));
    v.push(("(f) broadcast to 10k ≤ 50 ms", broadcast_verdict(r)));
    v.push((
        "(c) throughput ≥ 30× python threading",
        judge(thr("ours"), thr("python"), 30.0, "msg/s"),
    ));
    v
}

fn latency_verdict(r: &Results) -> Verdict {
    let get = |n: &str| r.get(n).and_then(|c| ok(&c.latency));
    let (Some(ours), Some(theirs)) = (get("ours"), get("engineioxide")) else {
        return Verdict::Unknown("missing figures".into());
    };
    let mut parts = Vec::new();
    let mut met = true;
    let mut any = false;
    for t in theirs.iter().filter(|p| p.sustained) {
        any = true;
        match ours.iter().find(|p| p.rate == t.rate) {
            Some(o) => {
                let good = o.sustained && o.rtt.p99_us <= t.rtt.p99_us;
                met &= good;
                parts.push(format!(
                    "{}/s: {} vs {} ms",
                    int(t.rate as f64),
                    ms(o.rtt.p99_us),
                    ms(t.rtt.p99_us)
                ));
            }
            None => {
                met = false;
                parts.push(format!("{}/s: ours not run", int(t.rate as f64)));
            }
        }
    }
    if !any {
        return Verdict::Unknown("engineioxide sustained no rate".into());
    }
    let text = format!("p99 ours vs engineioxide: {}", parts.join("; "));
    if met {
        Verdict::Met(text)
    } else {
        Verdict::Missed(text)
    }
}

fn idle_verdict(r: &Results) -> Verdict {
    let Some(idle) = r.get("ours").and_then(|c| ok(&c.idle)) else {
        return Verdict::Unknown("no idle figures for ours".into());
    };
    let hold = r.settings.idle_hold_secs;
    match idle.steps.iter().find(|s| s.target == 15_000) {
        Some(s) if s.clean && hold >= 60.0 => Verdict::Met(format!(
            "15,000 held {hold} s, 0 disconnects, {} threads",
            int(s.threads as f64)
        )),
        Some(s) => Verdict::Missed(format!(
            "{} of 15,000 held, {} disconnects{}",
            int(s.held as f64),
            s.disconnects,
            s.note
                .as_deref()
                .map(|n| format!(" ({})", short(n)))
                .unwrap_or_default()
        )),
        None if idle.steps.iter().all(|s| s.clean) => Verdict::Unknown(format!(
            "this run's steps stop at {} (quick mode?)",
            int(idle.max_clean as f64)
        )),
        None => Verdict::Missed(format!(
            "the ramp stopped at {} clean",
            int(idle.max_clean as f64)
        )),
    }
}

fn rss_verdict(r: &Results) -> Verdict {
    let get = |n: &str| r.get(n).and_then(|c| ok(&c.idle));
    let (Some(ours), Some(raw)) = (get("ours"), get("raw-ws")) else {
        return Verdict::Unknown("missing figures".into());
    };
    let Some((o, t)) = common_step(ours, raw) else {
        return Verdict::Unknown("no step held cleanly by both".into());
    };
    let q = o.rss_per_session_kib / t.rss_per_session_kib.max(0.001);
    let text = format!(
        "at {} sessions: {:.1} vs {:.1} KiB/session: {q:.2}× (needs ≤ 1.1×)",
        int(o.target as f64),
        o.rss_per_session_kib,
        t.rss_per_session_kib
    );
    if o.target < 15_000 {
        Verdict::Unknown(format!("{text}; not at 15,000"))
    } else if q <= 1.1 {
        Verdict::Met(text)
    } else {
        Verdict::Missed(text)
    }
}

fn broadcast_verdict(r: &Results) -> Verdict {
    let Some(b) = r.get("ours").and_then(|c| ok(&c.broadcast)) else {
        return Verdict::Unknown(
            r.get("ours")
                .map(|c| missing(&c.broadcast))
                .unwrap_or_else(|| "ours not run".into()),
        );
    };
    let text = format!(
        "{:.1} ms to reach all {} clients (median of {} rounds)",
        b.median_all_ms,
        int(b.clients as f64),
        b.rounds.len()
    );
    if b.clients < 10_000 {
        Verdict::Unknown(format!("{text}; not at 10,000"))
    } else if b.median_all_ms <= 50.0 {
        Verdict::Met(text)
    } else {
        Verdict::Missed(text)
    }
}

fn targets(md: &mut String, r: &Results) {
    let _ = writeln!(md, "### Targets for our figures\n");
    let _ = writeln!(md, "| Target | Verdict | Numbers |\n|---|---|---|");
    for (name, v) in verdicts(r) {
        let (word, text) = match v {
            Verdict::Met(t) => ("met", t),
            Verdict::Missed(t) => ("**missed**", t),
            Verdict::Unknown(t) => ("not judged", t),
        };
        let _ = writeln!(md, "| {name} | {word} | {} |", text.replace('|', "/"));
    }
    let _ = writeln!(md);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::Percentiles;

    fn throughput(msgs: f64) -> Option<Outcome<Throughput>> {
        Some(Outcome::from(Ok(Throughput {
            msgs_per_sec: msgs,
            server_cpu_us_per_msg: 10.0,
            server_cpu_pct: 50.0,
            generator_cpu_pct: 50.0,
            rtt: Percentiles::default(),
            disconnects: 0,
        })))
    }

    fn results() -> Results {
        let c = |name: &str, msgs: f64| ContenderResult {
            name: name.into(),
            label: name.into(),
            throughput: throughput(msgs),
            ..ContenderResult::default()
        };
        Results {
            started: "2026-01-01T00:00:00Z".into(),
            duration_secs: 60.0,
            settings: Settings::quick(),
            versions: vec![("kernel".into(), "6".into())],
            contenders: vec![
                c("ours", 30_000.0),
                c("engineioxide", 25_000.0),
                c("raw-ws", 35_000.0),
                c("python", 900.0),
            ],
        }
    }

    #[test]
    fn ratios_and_verdicts_use_ours_over_theirs() {
        let r = results();
        let v = verdicts(&r);
        assert!(matches!(&v[0].1, Verdict::Missed(t) if t.contains("1.20×")));
        assert!(matches!(&v[1].1, Verdict::Met(t) if t.contains("0.86×")));
        assert!(matches!(&v[8].1, Verdict::Met(_)));
        assert!(matches!(&v[4].1, Verdict::Unknown(_)));
        let md = markdown(&r, "chart.svg");
        assert!(md.contains(
            "| engineioxide | 25,000 | 10.0 | 50% | 50% | 0.00 / 0.00 | 1.20× | 1.00× |"
        ));
        assert_eq!(ratio(Some(1.0), Some(0.0)), "–");
        assert_eq!(int(1234567.4), "1,234,567");
    }

    fn side(msgs: f64, cpu: f64, session: Option<&str>) -> Option<Outcome<EchoSide>> {
        let t = throughput(msgs)?.ok?;
        Some(Outcome::from(Ok(EchoSide {
            session: session.map(str::to_owned),
            latency: vec![LatencyPoint {
                rate: 10_000,
                sent: 15_000,
                received: 15_000,
                rtt: Percentiles {
                    p50_us: 100,
                    p99_us: 1_500,
                    p999_us: 3_000,
                    max_us: 4_000,
                    count: 15_000,
                },
                sustained: true,
                server_cpu_us_per_msg: Some(cpu),
                note: None,
            }],
            throughput: Throughput {
                server_cpu_us_per_msg: cpu,
                ..t
            },
        })))
    }

    #[test]
    fn the_tls_tables_set_tls_beside_plain_and_ours_beside_theirs() {
        let mut r = results();
        r.contenders[0].tls = side(50_000.0, 20.0, Some("TLSv1_3 TLS13_AES_256_GCM_SHA384"));
        r.contenders[0].tls_plain = side(100_000.0, 10.0, None);
        r.contenders[1].tls = Some(Outcome::from(Err("did not start".into())));
        r.contenders[1].tls_plain = side(80_000.0, 8.0, None);
        let md = markdown(&r, "chart.svg");
        assert!(md.contains("### (g) WebSocket echo over TLS"), "{md}");
        assert!(
            md.contains("| ours | TLS | 50,000 (0.50× plain) | 20.0 (2.00× plain) | 50% | 50% | 0.00 / 0.00 | 1.00× | 1.00× |"),
            "{md}"
        );
        assert!(md.contains("| ours | plain | 100,000 | 10.0 |"), "{md}");
        assert!(
            md.contains("| engineioxide | TLS | failed: did not start |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| engineioxide | plain | 80,000 | 8.0 | 50% | 50% | 0.00 / 0.00 | 1.25× | 1.25× |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| ours | TLS | 0.10 / 1.50 / 3.00 | 20.0 (2.00× plain) | 1.00× |"),
            "{md}"
        );
        assert!(md.contains("TLS agreed: TLSv1_3 TLS13_AES_256_GCM_SHA384 (ours)"));
        // Contenders that did not run (g) have no rows; a run without (g), no tables.
        assert!(!md.contains("| raw-ws | TLS"));
        let json = serde_json::to_string(&r).unwrap();
        let back: Results = serde_json::from_str(&json).unwrap();
        assert!(back.contenders[0].tls.as_ref().unwrap().ok.is_some());
        assert!(!markdown(&results(), "chart.svg").contains("### (g)"));
    }

    #[test]
    fn results_round_trip_through_json() {
        let r = results();
        let json = serde_json::to_string(&r).unwrap();
        let back: Results = serde_json::from_str(&json).unwrap();
        assert_eq!(back.contenders.len(), 4);
        assert!(back.contenders[0].idle.is_none());
        // Results written before (g) existed still read.
        let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
        old["settings"].as_object_mut().unwrap().remove("tls_rates");
        let back: Results = serde_json::from_value(old).unwrap();
        assert!(back.settings.tls_rates.is_empty());
    }
}
