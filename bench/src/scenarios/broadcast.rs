//! (f) Broadcast: the time for one message to reach every one of many connected
//! WebSocket clients. One client sends `broadcast:<tag>`; the server sends `<tag>` to
//! every session (the sender included).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{generator, ramp, Sessions, Settings};
use crate::contenders::Running;
use crate::gen::{ConnId, Event, Gen, Kind};
use crate::procstat;

/// How long one broadcast may take before the round is called failed.
const ROUND_TIMEOUT: Duration = Duration::from_secs(10);

/// One broadcast.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Round {
    /// From the send to the last client's receipt, ms.
    pub all_ms: f64,
    /// From the send to the median client's receipt, ms.
    pub p50_ms: f64,
    /// Clients that received it.
    pub reached: usize,
}

/// The broadcast figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Broadcast {
    /// Clients connected.
    pub clients: usize,
    /// Every round, in order.
    pub rounds: Vec<Round>,
    /// The median round's `all_ms`.
    pub median_all_ms: f64,
    /// The median round's `p50_ms`.
    pub median_p50_ms: f64,
    /// The generator's own CPU time per round, ms: a floor under `all_ms` (one thread
    /// reads every client's copy).
    pub generator_cpu_ms_per_round: f64,
}

/// Runs (f).
pub fn run(server: &Running, s: &Settings) -> Result<Broadcast, String> {
    let mut gen = generator(server.addr)?;
    let mut sessions = Sessions::default();
    let n = s.broadcast_clients;
    let r = ramp(
        &mut gen,
        &mut sessions,
        Kind::EioWs,
        n,
        s.ramp_concurrency,
        Duration::from_secs_f64(s.ramp_timeout_secs),
        s.max_machine_threads,
    );
    if sessions.ready < n {
        return Err(format!(
            "connected {} of {n} clients: {}",
            sessions.ready,
            r.stopped.or(r.first_error).unwrap_or_default()
        ));
    }
    let sender = r.ready[0];
    let result = rounds(&mut gen, &mut sessions, sender, n, s.broadcast_rounds);
    gen.close_all();
    result
}

/// One broadcast: `broadcast:<tag>` from `sender`, then the generator's clock until
/// every ready session has `<tag>` or `timeout` passes. The delay of each receipt.
pub fn round(
    gen: &mut Gen,
    sessions: &mut Sessions,
    sender: ConnId,
    tag: &str,
    timeout: Duration,
) -> Result<Vec<Duration>, String> {
    let mut events = Vec::new();
    let sent = Instant::now();
    gen.send_text(sender, &format!("broadcast:{tag}"));
    let mut delays: Vec<Duration> = Vec::with_capacity(sessions.ready);
    let deadline = sent + timeout;
    while delays.len() < sessions.ready && Instant::now() < deadline {
        events.clear();
        gen.turn(Some(Duration::from_millis(20)), &mut events)
            .map_err(|e| format!("poll: {e}"))?;
        for ev in events.drain(..) {
            match ev {
                Event::Message(_, data, at) if data == tag.as_bytes() => {
                    delays.push(at.saturating_duration_since(sent))
                }
                Event::Closed(id, _) => {
                    sessions.closed(id);
                }
                _ => {}
            }
        }
    }
    Ok(delays)
}

/// `count` measured broadcasts to `n` sessions, 300 ms apart, from `sender`.
pub fn rounds(
    gen: &mut Gen,
    sessions: &mut Sessions,
    sender: ConnId,
    n: usize,
    count: usize,
) -> Result<Broadcast, String> {
    let mut rounds = Vec::new();
    let mut own_cpu = std::time::Duration::ZERO;
    for round_no in 0..count {
        std::thread::sleep(Duration::from_millis(300));
        let cpu_before = procstat::own_cpu();
        let mut delays = round(
            gen,
            sessions,
            sender,
            &format!("round-{round_no}"),
            ROUND_TIMEOUT,
        )?;
        own_cpu += procstat::own_cpu().saturating_sub(cpu_before);
        if delays.is_empty() {
            return Err(format!("round {round_no}: nobody received the broadcast"));
        }
        delays.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        rounds.push(Round {
            all_ms: ms(*delays.last().unwrap()),
            p50_ms: ms(delays[delays.len() / 2]),
            reached: delays.len(),
        });
        if delays.len() < n {
            return Err(format!(
                "round {round_no}: reached {} of {n} clients within {} s",
                delays.len(),
                ROUND_TIMEOUT.as_secs()
            ));
        }
    }
    let median = |f: fn(&Round) -> f64| {
        let mut v: Vec<f64> = rounds.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok(Broadcast {
        clients: n,
        median_all_ms: median(|r| r.all_ms),
        median_p50_ms: median(|r| r.p50_ms),
        generator_cpu_ms_per_round: own_cpu.as_secs_f64() * 1e3 / rounds.len() as f64,
        rounds,
    })
}
