//! A whole echo load test against one server: open the connections (a bounded number
//! at once), then send text messages for a while, in an *open loop* (an offered rate,
//! each round trip timed from the message's scheduled send time, so that a server
//! that falls behind cannot hide it: no coordinated omission) or a *closed loop* (one
//! message in flight per connection, the next sent when its echo is back), and report
//! round trips, throughput, connect times and errors by kind.
//!
//! The server must echo every message (the `engineio serve` echo server, the
//! benchmark's contenders, the interop echo servers).

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::time::{Duration, Instant};

use crate::gen::{error_kind, ConnId, Event, Gen, Kind};
use crate::stats::{Percentiles, Rtt};

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Connections (sessions) to open. Defaults to 10.
    pub connections: usize,
    /// Their kind: [`Kind::EioWs`] (WebSocket, the default) or [`Kind::PollingEcho`].
    pub kind: Kind,
    /// The size of each message, bytes of text. Defaults to 20.
    pub message_bytes: usize,
    /// The offered rate, messages per second over all connections together (open
    /// loop); `None` (the default): closed loop.
    pub rate: Option<f64>,
    /// The measured window. Defaults to 10 s.
    pub duration: Duration,
    /// Load before the measured window, not counted. Defaults to none.
    pub warmup: Duration,
    /// How long a connection may take to open its session. Defaults to 10 s.
    pub connect_timeout: Duration,
    /// The most connections opening at once. Defaults to 100.
    pub ramp_concurrency: usize,
    /// Open loop: how long the echoes of the last messages may take once sending has
    /// stopped. Defaults to 5 s.
    pub drain: Duration,
    /// How often the progress callback is called. Defaults to 200 ms.
    pub progress_every: Duration,
}

impl Default for Plan {
    fn default() -> Plan {
        Plan {
            connections: 10,
            kind: Kind::EioWs,
            message_bytes: 20,
            rate: None,
            duration: Duration::from_secs(10),
            warmup: Duration::ZERO,
            connect_timeout: Duration::from_secs(10),
            ramp_concurrency: 100,
            drain: Duration::from_secs(5),
            progress_every: Duration::from_millis(200),
        }
    }
}

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Opening the connections.
    Connecting,
    /// Sending, before the measured window.
    Warmup,
    /// Sending, measured.
    Measuring,
    /// Open loop: sending has stopped; waiting for the last echoes.
    Draining,
}

/// A snapshot for a progress display.
#[derive(Clone, Debug)]
pub struct Progress {
    /// The phase.
    pub phase: Phase,
    /// Connections with an open session now.
    pub open: usize,
    /// Connections asked for.
    pub target: usize,
    /// Time since sending started (zero while connecting).
    pub elapsed: Duration,
    /// Warm-up plus measured window.
    pub total: Duration,
    /// Messages sent in the measured window so far.
    pub sent: u64,
    /// Echoes counted in the measured window so far.
    pub received: u64,
    /// Errors so far (every kind).
    pub errors: u64,
    /// Round trips measured so far.
    pub rtt: Percentiles,
}

/// How many errors of one kind, and the first one's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorCount {
    /// How many.
    pub count: u64,
    /// The first one, as the generator described it.
    pub first: String,
}

/// What a run measured.
#[derive(Debug)]
pub struct Report {
    /// The plan it ran.
    pub plan: Plan,
    /// Connections whose session opened.
    pub opened: usize,
    /// Connect times: from the TCP connect to the open session (the TLS handshake
    /// included, over TLS).
    pub connect: Rtt,
    /// Over TLS: the version and cipher suite the first session agreed on
    /// (`TLSv1_3 TLS13_AES_256_GCM_SHA384`).
    pub tls: Option<String>,
    /// How long opening every connection took.
    pub connect_elapsed: Duration,
    /// The measured window as it ran (shorter than planned when every connection was
    /// lost).
    pub window: Duration,
    /// Messages sent in the window (open loop: scheduled in it).
    pub sent: u64,
    /// Echoes counted: closed loop, those that arrived in the window; open loop, those
    /// of the messages scheduled in the window.
    pub received: u64,
    /// Messages of the window never echoed: their connection ended, or (open loop)
    /// they were still missing after the drain.
    pub lost: u64,
    /// Round trips counted: closed loop, from the send; open loop, from the scheduled
    /// send time.
    pub rtt: Rtt,
    /// Connections lost after their session opened.
    pub disconnects: usize,
    /// Errors by kind (see [`error_kind`]; also `connect timeout`).
    pub errors: BTreeMap<String, ErrorCount>,
    /// Why the run ended early or is incomplete, if it did or is.
    pub note: Option<String>,
}

impl Report {
    /// Echoes per second over the window.
    pub fn throughput(&self) -> f64 {
        let secs = self.window.as_secs_f64();
        if secs > 0.0 {
            self.received as f64 / secs
        } else {
            0.0
        }
    }

    /// Errors of every kind.
    pub fn error_count(&self) -> u64 {
        self.errors.values().map(|e| e.count).sum()
    }

    fn error(&mut self, kind: String, first: String) {
        self.errors
            .entry(kind)
            .and_modify(|e| e.count += 1)
            .or_insert(ErrorCount { count: 1, first });
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Free,
    Opening(Instant),
    Ready,
}

/// Runs `plan` with `gen`, calling `progress` every [`Plan::progress_every`].
///
/// # Errors
///
/// Only the generator's own failures (epoll); everything the server does is in the
/// report.
pub fn run(mut gen: Gen, plan: &Plan, progress: &mut dyn FnMut(&Progress)) -> io::Result<Report> {
    let mut report = Report {
        plan: plan.clone(),
        opened: 0,
        connect: Rtt::new(),
        tls: None,
        connect_elapsed: Duration::ZERO,
        window: Duration::ZERO,
        sent: 0,
        received: 0,
        lost: 0,
        rtt: Rtt::new(),
        disconnects: 0,
        errors: BTreeMap::new(),
        note: None,
    };
    let mut slots: Vec<Slot> = Vec::new();
    let ready = open_all(&mut gen, plan, &mut slots, &mut report, progress)?;
    report.opened = ready.len();
    report.tls = ready.first().and_then(|&id| gen.tls_session(id));
    if ready.is_empty() {
        report.note = Some("no connection opened a session".into());
        return Ok(report);
    }
    let result = match plan.rate {
        Some(rate) => open_loop(&mut gen, plan, rate, &ready, &mut report, progress),
        None => closed_loop(&mut gen, plan, &ready, &mut report, progress),
    };
    gen.close_all();
    result.map(|()| report)
}

fn set(slots: &mut Vec<Slot>, id: ConnId, slot: Slot) {
    if slots.len() <= id {
        slots.resize(id + 1, Slot::Free);
    }
    slots[id] = slot;
}

/// Opens every connection, at most `ramp_concurrency` at once; the ready ones.
fn open_all(
    gen: &mut Gen,
    plan: &Plan,
    slots: &mut Vec<Slot>,
    report: &mut Report,
    progress: &mut dyn FnMut(&Progress),
) -> io::Result<Vec<ConnId>> {
    let start = Instant::now();
    let (mut started, mut opening) = (0usize, 0usize);
    let mut ready = Vec::new();
    let mut events = Vec::new();
    let mut next_progress = start;
    while started < plan.connections || opening > 0 {
        while opening < plan.ramp_concurrency.max(1) && started < plan.connections {
            started += 1;
            match gen.connect(plan.kind) {
                Ok(id) => {
                    set(slots, id, Slot::Opening(Instant::now()));
                    opening += 1;
                }
                Err(e) => report.error("connect".into(), format!("connect: {e}")),
            }
        }
        let now = Instant::now();
        for (id, slot) in slots.iter_mut().enumerate() {
            if let Slot::Opening(t0) = *slot {
                if now.saturating_duration_since(t0) >= plan.connect_timeout {
                    gen.close(id);
                    *slot = Slot::Free;
                    opening -= 1;
                    report.error(
                        "connect timeout".into(),
                        format!("no open session within {:?}", plan.connect_timeout),
                    );
                }
            }
        }
        events.clear();
        gen.turn(Some(Duration::from_millis(20)), &mut events)?;
        let now = Instant::now();
        for ev in events.drain(..) {
            match ev {
                Event::Ready(id) => {
                    if let Some(Slot::Opening(t0)) = slots.get(id).copied() {
                        report.connect.record(now.saturating_duration_since(t0));
                        slots[id] = Slot::Ready;
                        ready.push(id);
                        opening -= 1;
                    }
                }
                Event::Closed(id, why) => {
                    match slots.get(id).copied() {
                        Some(Slot::Opening(_)) => opening -= 1,
                        Some(Slot::Ready) => {
                            report.disconnects += 1;
                            ready.retain(|&r| r != id);
                        }
                        _ => {}
                    }
                    set(slots, id, Slot::Free);
                    report.error(error_kind(&why), why);
                }
                Event::Message(..) | Event::Cycle(..) => {}
            }
        }
        if now >= next_progress {
            next_progress = now + plan.progress_every;
            progress(&Progress {
                phase: Phase::Connecting,
                open: ready.len(),
                target: plan.connections,
                elapsed: Duration::ZERO,
                total: plan.warmup + plan.duration,
                sent: 0,
                received: 0,
                errors: report.error_count(),
                rtt: Percentiles::default(),
            });
        }
    }
    report.connect_elapsed = start.elapsed();
    Ok(ready)
}

/// One message in flight per connection.
fn closed_loop(
    gen: &mut Gen,
    plan: &Plan,
    ready: &[ConnId],
    report: &mut Report,
    progress: &mut dyn FnMut(&Progress),
) -> io::Result<()> {
    let payload = "x".repeat(plan.message_bytes);
    let max_id = ready.iter().copied().max().unwrap_or(0);
    let mut sent_at: Vec<Option<Instant>> = vec![None; max_id + 1];
    let mut live = ready.len();
    let start = Instant::now();
    let measure_from = start + plan.warmup;
    let stop = measure_from + plan.duration;
    for &id in ready {
        gen.send_text(id, &payload);
        sent_at[id] = Some(start);
    }
    if plan.warmup.is_zero() {
        report.sent += ready.len() as u64;
    }
    let mut events = Vec::new();
    let mut next_progress = start;
    let mut end = stop;
    loop {
        let now = Instant::now();
        if now >= stop {
            break;
        }
        if live == 0 {
            end = now;
            report.note = Some("every connection was lost".into());
            break;
        }
        events.clear();
        let wait = stop.saturating_duration_since(now).min(plan.progress_every);
        gen.turn(Some(wait), &mut events)?;
        for ev in events.drain(..) {
            match ev {
                Event::Message(id, _, at) => {
                    let Some(t0) = sent_at.get_mut(id).and_then(Option::take) else {
                        continue;
                    };
                    if at >= measure_from && at < stop {
                        report.received += 1;
                        report.rtt.record(at.saturating_duration_since(t0));
                    }
                    let t = Instant::now();
                    if t < stop {
                        gen.send_text(id, &payload);
                        sent_at[id] = Some(t);
                        if t >= measure_from {
                            report.sent += 1;
                        }
                    }
                }
                Event::Closed(id, why) => {
                    if let Some(in_flight) = sent_at.get_mut(id) {
                        if in_flight.take().is_some_and(|t0| t0 >= measure_from) {
                            report.lost += 1;
                        }
                        live -= 1;
                        report.disconnects += 1;
                        report.error(error_kind(&why), why);
                    }
                }
                Event::Ready(_) | Event::Cycle(..) => {}
            }
        }
        let now = Instant::now();
        if now >= next_progress {
            next_progress = now + plan.progress_every;
            progress(&snapshot(
                report,
                plan,
                live,
                start,
                now,
                measure_from,
                Phase::Measuring,
            ));
        }
    }
    report.window = end.saturating_duration_since(measure_from);
    Ok(())
}

/// Messages at the offered rate, whatever the server does.
fn open_loop(
    gen: &mut Gen,
    plan: &Plan,
    rate: f64,
    ready: &[ConnId],
    report: &mut Report,
    progress: &mut dyn FnMut(&Progress),
) -> io::Result<()> {
    let payload = "x".repeat(plan.message_bytes);
    let n = ready.len();
    // Each connection sends every `period`; connection i is offset by i/n of it, so
    // that the offered load is smooth.
    let period = Duration::from_secs_f64(n as f64 / rate.max(f64::MIN_POSITIVE));
    let start = Instant::now() + Duration::from_millis(20);
    let measure_from = start + plan.warmup;
    let stop = measure_from + plan.duration;
    let in_window = |t: Instant| t >= measure_from && t < stop;
    let mut next: Vec<Instant> = (0..n)
        .map(|i| start + period.mul_f64(i as f64 / n as f64))
        .collect();
    let mut alive = vec![true; n];
    let mut live = n;
    let max_id = ready.iter().copied().max().unwrap_or(0);
    let mut fifo: Vec<VecDeque<Instant>> = vec![VecDeque::new(); max_id + 1];
    let mut outstanding = 0u64;
    // More than two seconds of load waiting: the server is not keeping up.
    let backlog_limit = (rate * 2.0) as u64 + 1000;
    let mut drain_until: Option<Instant> = None;
    let mut events = Vec::new();
    let mut next_progress = start;
    let mut end = stop;
    loop {
        let now = Instant::now();
        if drain_until.is_none() {
            if now >= stop {
                drain_until = Some(now + plan.drain);
            } else if live == 0 {
                end = now;
                report.note = Some("every connection was lost".into());
                drain_until = Some(now);
            } else if outstanding > backlog_limit {
                end = now;
                report.note = Some(format!(
                    "stopped early: {outstanding} messages waited for their echo \
                     (more than 2 s of load); the server does not keep up with {rate} msg/s"
                ));
                drain_until = Some(now + plan.drain);
            }
        }
        match drain_until {
            Some(t) if outstanding == 0 || now >= t => break,
            Some(_) => {}
            None => {
                for (i, &id) in ready.iter().enumerate() {
                    if !alive[i] {
                        continue;
                    }
                    while next[i] <= now {
                        gen.send_text(id, &payload);
                        fifo[id].push_back(next[i]);
                        outstanding += 1;
                        if in_window(next[i]) {
                            report.sent += 1;
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
                .zip(&alive)
                .filter(|(_, &a)| a)
                .map(|(t, _)| *t)
                .min()
                .map(|t| t.saturating_duration_since(Instant::now()))
                .unwrap_or_default()
                .min(plan.progress_every)
        };
        events.clear();
        gen.turn(Some(wake), &mut events)?;
        for ev in events.drain(..) {
            match ev {
                Event::Message(id, _, at) => {
                    if let Some(scheduled) = fifo.get_mut(id).and_then(VecDeque::pop_front) {
                        outstanding -= 1;
                        if in_window(scheduled) {
                            report.received += 1;
                            report.rtt.record(at.saturating_duration_since(scheduled));
                        }
                    }
                }
                Event::Closed(id, why) => {
                    if let Some(i) = ready.iter().position(|&r| r == id) {
                        if alive[i] {
                            alive[i] = false;
                            live -= 1;
                            report.disconnects += 1;
                            let waiting = std::mem::take(&mut fifo[id]);
                            outstanding -= waiting.len() as u64;
                            report.lost += waiting.iter().filter(|&&t| in_window(t)).count() as u64;
                            report.error(error_kind(&why), why);
                        }
                    }
                }
                Event::Ready(_) | Event::Cycle(..) => {}
            }
        }
        let now = Instant::now();
        if now >= next_progress {
            next_progress = now + plan.progress_every;
            let phase = if drain_until.is_some() {
                Phase::Draining
            } else if now < measure_from {
                Phase::Warmup
            } else {
                Phase::Measuring
            };
            progress(&snapshot(
                report,
                plan,
                live,
                start,
                now,
                measure_from,
                phase,
            ));
        }
    }
    let missing: u64 = fifo.iter().flatten().filter(|&&t| in_window(t)).count() as u64;
    if missing > 0 {
        report.lost += missing;
        report.note.get_or_insert_with(|| {
            format!(
                "{missing} echoes still missing {:?} after the sending stopped",
                plan.drain
            )
        });
    }
    report.window = end.saturating_duration_since(measure_from);
    Ok(())
}

fn snapshot(
    report: &Report,
    plan: &Plan,
    live: usize,
    start: Instant,
    now: Instant,
    measure_from: Instant,
    phase: Phase,
) -> Progress {
    let phase = if phase == Phase::Measuring && now < measure_from {
        Phase::Warmup
    } else {
        phase
    };
    Progress {
        phase,
        open: live,
        target: plan.connections,
        elapsed: now.saturating_duration_since(start),
        total: plan.warmup + plan.duration,
        sent: report.sent,
        received: report.received,
        errors: report.error_count(),
        rtt: report.rtt.percentiles(),
    }
}
