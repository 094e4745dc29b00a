//! (f) Broadcast: the time for one message to reach every one of many connected
//! WebSocket clients. One client sends `broadcast:<tag>`; the server sends `<tag>` to
//! every session (the sender included).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{generator, ramp, Sessions, Settings};
use crate::contenders::Running;
use crate::gen::{Event, Kind};
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
    let mut rounds = Vec::new();
    let mut events = Vec::new();
    let mut own_cpu = std::time::Duration::ZERO;
    for round in 0..s.broadcast_rounds {
        std::thread::sleep(Duration::from_millis(300));
        let tag = format!("round-{round}");
        let cpu_before = procstat::own_cpu();
        let sent = Instant::now();
        gen.send_text(sender, &format!("broadcast:{tag}"));
        let mut delays: Vec<Duration> = Vec::with_capacity(n);
        let deadline = sent + ROUND_TIMEOUT;
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
        own_cpu += procstat::own_cpu().saturating_sub(cpu_before);
        if delays.is_empty() {
            return Err(format!("round {round}: nobody received the broadcast"));
        }
        delays.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        rounds.push(Round {
            all_ms: ms(*delays.last().unwrap()),
            p50_ms: ms(delays[delays.len() / 2]),
            reached: delays.len(),
        });
        if delays.len() < n {
            gen.close_all();
            return Err(format!(
                "round {round}: reached {} of {n} clients within {} s",
                delays.len(),
                ROUND_TIMEOUT.as_secs()
            ));
        }
    }
    gen.close_all();
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
