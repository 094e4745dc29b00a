//! The scenarios, their settings and their results, and the pieces they share:
//! opening many sessions with bounded concurrency, latency histograms, CPU windows.

pub mod broadcast;
pub mod cluster;
pub mod echo;
pub mod handshake;
pub mod idle;
pub mod tls;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use eio_load::stats::{Percentiles, Rtt};

use crate::gen::{ConnId, Event, Gen, Kind};
use crate::procstat;

/// How long and how hard each scenario runs. `full()` is the ~20-minute run,
/// `quick()` a 2–3 minute smoke run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// "full" or "quick".
    pub mode: String,
    /// (a) the WebSocket session counts ramped to, in order.
    pub idle_steps: Vec<usize>,
    /// (a) how long each step is held, seconds.
    pub idle_hold_secs: f64,
    /// Most connections being opened at once while ramping.
    pub ramp_concurrency: usize,
    /// How long a ramp to one step may take, seconds.
    pub ramp_timeout_secs: f64,
    /// (b) offered rates, messages per second (all connections together).
    pub latency_rates: Vec<u64>,
    /// (b), (c), (e): connections.
    pub echo_connections: usize,
    /// (b) seconds per rate (after the warm-up).
    pub latency_secs: f64,
    /// (c), (e): measured seconds (after the warm-up).
    pub throughput_secs: f64,
    /// Warm-up before each measured window, seconds.
    pub warmup_secs: f64,
    /// (d) concurrent handshaking clients.
    pub handshake_clients: usize,
    /// (d) measured seconds for each kind of handshake.
    pub handshake_secs: f64,
    /// (f) WebSocket clients receiving each broadcast.
    pub broadcast_clients: usize,
    /// (f), (h) broadcasts sent (the median is reported).
    pub broadcast_rounds: usize,
    /// (h) server processes sharing the (f) clients through Redis.
    #[serde(default = "three")]
    pub cluster_nodes: usize,
    /// The message size, bytes (text).
    pub message_bytes: usize,
    /// (g) offered rates over TLS (and plain, for comparison), messages per second.
    #[serde(default)]
    pub tls_rates: Vec<u64>,
    /// Ramps stop when the machine has this many threads (pids are shared
    /// machine-wide, 32,768 here): a thread-per-connection server must not starve the
    /// machine.
    pub max_machine_threads: u64,
}

impl Settings {
    /// The full run (about 20 minutes for every contender).
    pub fn full() -> Settings {
        Settings {
            mode: "full".into(),
            idle_steps: vec![1_000, 5_000, 10_000, 15_000],
            idle_hold_secs: 60.0,
            ramp_concurrency: 100,
            ramp_timeout_secs: 60.0,
            latency_rates: vec![2_000, 10_000, 50_000],
            echo_connections: 100,
            latency_secs: 5.0,
            throughput_secs: 5.0,
            warmup_secs: 1.0,
            handshake_clients: 50,
            handshake_secs: 5.0,
            broadcast_clients: 10_000,
            broadcast_rounds: 5,
            cluster_nodes: 3,
            message_bytes: 20,
            tls_rates: vec![2_000, 10_000, 50_000],
            max_machine_threads: 26_000,
        }
    }

    /// The smoke run: every scenario and contender, small and short.
    pub fn quick() -> Settings {
        Settings {
            mode: "quick".into(),
            idle_steps: vec![500, 1_000],
            idle_hold_secs: 3.0,
            ramp_timeout_secs: 20.0,
            latency_secs: 1.5,
            throughput_secs: 2.0,
            warmup_secs: 0.5,
            handshake_secs: 2.0,
            broadcast_clients: 1_000,
            broadcast_rounds: 3,
            tls_rates: vec![10_000],
            ..Settings::full()
        }
    }

    /// The message every echo scenario sends: `message_bytes` of text that no
    /// server could mistake for JSON (python-engineio decodes JSON-looking text).
    pub fn payload(&self) -> String {
        "x".repeat(self.message_bytes)
    }
}

fn three() -> usize {
    3
}

/// A scenario's outcome for one contender: its figures, or why there are none.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome<T> {
    /// The figures, when the scenario ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ok: Option<T>,
    /// What went wrong, when it did not (or only partly) run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl<T> Outcome<T> {
    /// From a scenario's result.
    pub fn from(r: Result<T, String>) -> Outcome<T> {
        match r {
            Ok(v) => Outcome {
                ok: Some(v),
                error: None,
            },
            Err(e) => Outcome {
                ok: None,
                error: Some(e),
            },
        }
    }
}

/// What a ramp achieved.
#[derive(Debug, Default)]
pub struct Ramp {
    /// Connections ready, in the order they became ready.
    pub ready: Vec<ConnId>,
    /// Connections that failed to open.
    pub failed: usize,
    /// Ready connections that closed during the ramp.
    pub disconnects: usize,
    /// The first failure's reason.
    pub first_error: Option<String>,
    /// Why the ramp stopped before its target, if it did.
    pub stopped: Option<String>,
}

/// Tracks which connections are open, across a scenario.
#[derive(Debug, Default)]
pub struct Sessions {
    /// 0 = none, 1 = opening, 2 = ready; indexed by [`ConnId`].
    state: Vec<u8>,
    /// Ready connections now.
    pub ready: usize,
}

impl Sessions {
    fn set(&mut self, id: ConnId, s: u8) {
        if self.state.len() <= id {
            self.state.resize(id + 1, 0);
        }
        self.state[id] = s;
    }

    /// Whether `id` is ready.
    pub fn is_ready(&self, id: ConnId) -> bool {
        self.state.get(id) == Some(&2)
    }

    /// Applies a Closed event: returns true when a ready session was lost.
    pub fn closed(&mut self, id: ConnId) -> bool {
        let was_ready = self.is_ready(id);
        if was_ready {
            self.ready -= 1;
        }
        self.set(id, 0);
        was_ready
    }
}

/// Opens connections of `kind` until `sessions.ready` reaches `target`, with at most
/// `concurrency` opening at once, giving up at `timeout` or when the machine's thread
/// count passes `max_threads`. Events other than Ready/Closed are dropped (pings are
/// answered by the generator).
pub fn ramp(
    gen: &mut Gen,
    sessions: &mut Sessions,
    kind: Kind,
    target: usize,
    concurrency: usize,
    timeout: Duration,
    max_threads: u64,
) -> Ramp {
    let mut r = Ramp::default();
    let deadline = Instant::now() + timeout;
    let mut opening = 0usize;
    let mut events = Vec::new();
    let mut next_guard_check = Instant::now();
    while sessions.ready < target {
        let now = Instant::now();
        if now >= deadline {
            r.stopped = Some(format!(
                "ramp timed out after {:.0} s with {} of {target} open",
                timeout.as_secs_f64(),
                sessions.ready
            ));
            break;
        }
        if now >= next_guard_check {
            next_guard_check = now + Duration::from_millis(100);
            let threads = procstat::machine_threads();
            if threads > max_threads {
                r.stopped = Some(format!(
                    "stopped at {} sessions: the machine has {threads} threads (guard {max_threads})",
                    sessions.ready
                ));
                break;
            }
        }
        if r.failed > target / 20 + 10 {
            r.stopped = Some(format!(
                "{} connections failed ({})",
                r.failed,
                r.first_error.clone().unwrap_or_default()
            ));
            break;
        }
        while opening < concurrency && sessions.ready + opening < target {
            match gen.connect(kind) {
                Ok(id) => {
                    sessions.set(id, 1);
                    opening += 1;
                }
                Err(e) => {
                    r.failed += 1;
                    r.first_error.get_or_insert_with(|| format!("connect: {e}"));
                    break;
                }
            }
        }
        events.clear();
        if let Err(e) = gen.turn(Some(Duration::from_millis(50)), &mut events) {
            r.stopped = Some(format!("poll: {e}"));
            break;
        }
        for ev in events.drain(..) {
            match ev {
                Event::Ready(id) => {
                    opening -= 1;
                    sessions.set(id, 2);
                    sessions.ready += 1;
                    r.ready.push(id);
                }
                Event::Closed(id, why) => {
                    if sessions.closed(id) {
                        r.disconnects += 1;
                    } else {
                        opening -= 1;
                        r.failed += 1;
                    }
                    r.first_error.get_or_insert(why);
                }
                Event::Message(..) | Event::Cycle(..) => {}
            }
        }
    }
    r.ready.retain(|&id| sessions.is_ready(id));
    r
}

/// Runs the generator for `d`, counting sessions lost; returns (disconnects, first
/// reason).
pub fn hold(gen: &mut Gen, sessions: &mut Sessions, d: Duration) -> (usize, Option<String>) {
    let end = Instant::now() + d;
    let mut events = Vec::new();
    let mut lost = 0;
    let mut why = None;
    while Instant::now() < end {
        events.clear();
        let left = end.saturating_duration_since(Instant::now());
        if gen
            .turn(Some(left.min(Duration::from_millis(200))), &mut events)
            .is_err()
        {
            break;
        }
        for ev in events.drain(..) {
            if let Event::Closed(id, reason) = ev {
                if sessions.closed(id) {
                    lost += 1;
                    why.get_or_insert(reason);
                }
            }
        }
    }
    (lost, why)
}

/// CPU used by the server (and by the generator) over a measured window.
pub struct CpuWindow {
    pid: u32,
    server: Duration,
    own: Duration,
    start: Instant,
}

impl CpuWindow {
    /// Starts the window now.
    pub fn start(pid: u32) -> CpuWindow {
        CpuWindow {
            pid,
            server: procstat::sample(pid).map(|s| s.cpu).unwrap_or_default(),
            own: procstat::own_cpu(),
            start: Instant::now(),
        }
    }

    /// (elapsed, server CPU, generator CPU) since the start.
    pub fn end(&self) -> (Duration, Duration, Duration) {
        let server = procstat::sample(self.pid)
            .map(|s| s.cpu)
            .unwrap_or_default()
            .saturating_sub(self.server);
        (
            self.start.elapsed(),
            server,
            procstat::own_cpu().saturating_sub(self.own),
        )
    }
}

/// A generator for `addr`, as a scenario error when it cannot be made.
pub fn generator(addr: SocketAddr) -> Result<Gen, String> {
    Gen::new(addr).map_err(|e| format!("generator: {e}"))
}
