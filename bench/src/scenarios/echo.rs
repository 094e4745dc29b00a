//! (b) echo latency at offered rates (open loop), (c) WebSocket echo throughput and
//! (e) polling echo throughput (closed loop, one message in flight per connection).
//! The tls scenario runs the same loops with a TLS generator ([`latency_on`],
//! [`closed_loop_on`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{generator, ramp, CpuWindow, Percentiles, Rtt, Sessions, Settings};
use crate::contenders::Running;
use crate::gen::{Event, Gen, Kind};

/// A rate is sustained when every message came back (within the drain time) and the
/// p99 stayed under this bound.
pub const SUSTAINED_P99: Duration = Duration::from_secs(1);

/// How long stragglers may take to come back after the sending stops.
const DRAIN: Duration = Duration::from_secs(5);

/// One offered rate of (b).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencyPoint {
    /// Offered messages per second (all connections together).
    pub rate: u64,
    /// Messages sent in the measured window.
    pub sent: u64,
    /// Echoes received for them.
    pub received: u64,
    /// Latency from each message's scheduled send time to its echo.
    pub rtt: Percentiles,
    /// Whether the server kept up (see [`SUSTAINED_P99`]).
    pub sustained: bool,
    /// Server CPU time (user + system) over the measured window per message sent in
    /// it, µs; absent when the rate was not held to the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu_us_per_msg: Option<f64>,
    /// What went wrong, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// (c) or (e).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Throughput {
    /// Echoed messages per second.
    pub msgs_per_sec: f64,
    /// Server CPU time per echoed message, µs (user + system).
    pub server_cpu_us_per_msg: f64,
    /// The server's CPU use over the window, % of one core.
    pub server_cpu_pct: f64,
    /// The generator's CPU use over the window, % of one core (near 100: the
    /// generator, not the server, was the limit).
    pub generator_cpu_pct: f64,
    /// Round trips in the window.
    pub rtt: Percentiles,
    /// Connections that ended during the run.
    pub disconnects: usize,
}

/// Opens `n` connections of `kind` (at most 20 s); their ids, or why not all opened.
fn open_all(
    gen: &mut crate::gen::Gen,
    sessions: &mut Sessions,
    kind: Kind,
    n: usize,
) -> Result<Vec<crate::gen::ConnId>, String> {
    let r = ramp(gen, sessions, kind, n, n, Duration::from_secs(20), u64::MAX);
    if r.ready.len() < n {
        return Err(format!(
            "opened {} of {n} connections: {}",
            r.ready.len(),
            r.stopped.or(r.first_error).unwrap_or_default()
        ));
    }
    Ok(r.ready)
}

/// Runs (b): every rate in turn on the same connections; stops after a rate that was
/// not sustained.
pub fn latency(server: &Running, kind: Kind, s: &Settings) -> Result<Vec<LatencyPoint>, String> {
    latency_on(
        generator(server.addr)?,
        server.pid,
        kind,
        s,
        &s.latency_rates,
    )
}

/// (b)'s open loop with `gen` (plain or TLS) against the server whose process is
/// `pid`, at each of `rates` in turn; stops after a rate that was not sustained.
pub fn latency_on(
    mut gen: Gen,
    pid: u32,
    kind: Kind,
    s: &Settings,
    rates: &[u64],
) -> Result<Vec<LatencyPoint>, String> {
    let mut sessions = Sessions::default();
    let n = s.echo_connections;
    let ids = open_all(&mut gen, &mut sessions, kind, n)?;
    let payload = s.payload();
    let mut points = Vec::new();
    let mut events = Vec::new();
    let max_id = ids.iter().copied().max().unwrap_or(0);
    for &rate in rates {
        // Each connection sends every `period`; connection i is offset by i/n of it,
        // so that the offered load is smooth.
        let period = Duration::from_secs_f64(n as f64 / rate as f64);
        let start = Instant::now() + Duration::from_millis(20);
        let measure_from = start + Duration::from_secs_f64(s.warmup_secs);
        let stop = measure_from + Duration::from_secs_f64(s.latency_secs);
        let mut next: Vec<Instant> = (0..n)
            .map(|i| start + period.mul_f64(i as f64 / n as f64))
            .collect();
        let mut fifo: Vec<VecDeque<Instant>> = vec![VecDeque::new(); max_id + 1];
        let mut rtt = Rtt::new();
        let (mut sent, mut received, mut outstanding) = (0u64, 0u64, 0u64);
        let mut note = None;
        let backlog_limit = rate * 2 + 1000;
        let mut drain_until = None;
        let mut cpu_window = None;
        let mut cpu = None;
        loop {
            let now = Instant::now();
            if cpu_window.is_none() && now >= measure_from {
                cpu_window = Some(CpuWindow::start(pid));
            }
            if drain_until.is_none() {
                if now >= stop {
                    cpu = cpu_window.as_ref().map(|w: &CpuWindow| w.end().1);
                    drain_until = Some(now + DRAIN);
                } else if outstanding > backlog_limit {
                    note = Some(format!(
                        "gave up: {outstanding} messages outstanding (more than 2 s of load)"
                    ));
                    drain_until = Some(now + DRAIN);
                }
            }
            match drain_until {
                Some(t) if outstanding == 0 || now >= t => break,
                Some(_) => {}
                None => {
                    for (i, &id) in ids.iter().enumerate() {
                        while next[i] <= now {
                            gen.send_text(id, &payload);
                            fifo[id].push_back(next[i]);
                            outstanding += 1;
                            if next[i] >= measure_from {
                                sent += 1;
                            }
                            next[i] += period;
                        }
                    }
                }
            }
            let wake = if drain_until.is_some() {
                Duration::from_millis(10)
            } else {
                next.iter()
                    .min()
                    .map(|t| t.saturating_duration_since(Instant::now()))
                    .unwrap_or_default()
            };
            events.clear();
            gen.turn(Some(wake), &mut events)
                .map_err(|e| format!("poll: {e}"))?;
            for ev in events.drain(..) {
                match ev {
                    Event::Message(id, _, at) => {
                        if let Some(scheduled) = fifo.get_mut(id).and_then(VecDeque::pop_front) {
                            outstanding -= 1;
                            if scheduled >= measure_from && scheduled < stop {
                                received += 1;
                                rtt.record(at.saturating_duration_since(scheduled));
                            }
                        }
                    }
                    Event::Closed(id, why) => {
                        sessions.closed(id);
                        return Err(format!("a connection closed at {rate} msg/s: {why}"));
                    }
                    Event::Ready(_) | Event::Cycle(..) => {}
                }
            }
        }
        let p = rtt.percentiles();
        let sustained =
            note.is_none() && outstanding == 0 && p.p99_us <= SUSTAINED_P99.as_micros() as u64;
        if outstanding > 0 && note.is_none() {
            note = Some(format!("{outstanding} echoes missing after the drain"));
        }
        let server_cpu_us_per_msg = cpu
            .filter(|_| sent > 0)
            .map(|c| c.as_secs_f64() * 1e6 / sent as f64);
        points.push(LatencyPoint {
            rate,
            sent,
            received,
            rtt: p,
            sustained,
            server_cpu_us_per_msg,
            note,
        });
        if !sustained {
            break;
        }
    }
    gen.close_all();
    Ok(points)
}

/// Runs (c) or (e): `connections` of `kind`, each with one message in flight.
pub fn closed_loop(server: &Running, kind: Kind, s: &Settings) -> Result<Throughput, String> {
    closed_loop_on(generator(server.addr)?, server.pid, kind, s)
}

/// (c)'s closed loop with `gen` (plain or TLS) against the server whose process is
/// `pid`.
pub fn closed_loop_on(
    mut gen: Gen,
    pid: u32,
    kind: Kind,
    s: &Settings,
) -> Result<Throughput, String> {
    let mut sessions = Sessions::default();
    let n = s.echo_connections;
    let ready = open_all(&mut gen, &mut sessions, kind, n)?;
    let payload = s.payload();
    let max_id = ready.iter().copied().max().unwrap_or(0);
    let mut sent_at: Vec<Option<Instant>> = vec![None; max_id + 1];
    let start = Instant::now();
    for &id in &ready {
        gen.send_text(id, &payload);
        sent_at[id] = Some(start);
    }
    let measure_from = start + Duration::from_secs_f64(s.warmup_secs);
    let stop = measure_from + Duration::from_secs_f64(s.throughput_secs);
    let mut window = None;
    let mut rtt = Rtt::new();
    let mut count = 0u64;
    let mut disconnects = 0;
    let mut first_close = None;
    let mut events = Vec::new();
    loop {
        let now = Instant::now();
        if window.is_none() && now >= measure_from {
            window = Some(CpuWindow::start(pid));
        }
        if now >= stop {
            break;
        }
        events.clear();
        gen.turn(Some(Duration::from_millis(50)), &mut events)
            .map_err(|e| format!("poll: {e}"))?;
        for ev in events.drain(..) {
            match ev {
                Event::Message(id, _, at) => {
                    if let Some(t0) = sent_at.get_mut(id).and_then(Option::take) {
                        if window.is_some() {
                            count += 1;
                            rtt.record(at.saturating_duration_since(t0));
                        }
                        let t = Instant::now();
                        gen.send_text(id, &payload);
                        sent_at[id] = Some(t);
                    }
                }
                Event::Closed(id, why) => {
                    if sessions.closed(id) {
                        disconnects += 1;
                        first_close.get_or_insert(why);
                    }
                    if let Some(slot) = sent_at.get_mut(id) {
                        *slot = None;
                    }
                }
                Event::Ready(_) | Event::Cycle(..) => {}
            }
        }
        if sessions.ready == 0 {
            return Err(format!(
                "every connection closed: {}",
                first_close.unwrap_or_default()
            ));
        }
    }
    let (elapsed, server_cpu, own_cpu) = window.ok_or("no measured window")?.end();
    gen.close_all();
    if count == 0 {
        return Err("no echo in the measured window".into());
    }
    let secs = elapsed.as_secs_f64();
    Ok(Throughput {
        msgs_per_sec: count as f64 / secs,
        server_cpu_us_per_msg: server_cpu.as_secs_f64() * 1e6 / count as f64,
        server_cpu_pct: server_cpu.as_secs_f64() * 100.0 / secs,
        generator_cpu_pct: own_cpu.as_secs_f64() * 100.0 / secs,
        rtt: rtt.percentiles(),
        disconnects,
    })
}
