//! (d) Handshakes per second: polling opens (GET handshake, then POST close), and full
//! connects (polling handshake, WebSocket upgrade, one echo, close), each client
//! looping as fast as the server answers.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{generator, CpuWindow, Settings};
use crate::contenders::Running;
use crate::gen::{Event, Kind};

/// A handshake rate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Handshakes {
    /// Completed cycles per second.
    pub per_sec: f64,
    /// Server CPU per cycle, µs.
    pub server_cpu_us_per: f64,
    /// The generator's CPU use over the window, % of one core.
    pub generator_cpu_pct: f64,
    /// Cycles that failed (each failed client is replaced).
    pub failures: usize,
    /// The first failure's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// Runs `clients` loops of `kind` ([`Kind::PollingOpen`] or [`Kind::FullConnect`]).
pub fn run(server: &Running, kind: Kind, s: &Settings) -> Result<Handshakes, String> {
    let mut gen = generator(server.addr)?;
    for _ in 0..s.handshake_clients {
        gen.connect(kind).map_err(|e| format!("connect: {e}"))?;
    }
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(s.warmup_secs);
    let stop = measure_from + Duration::from_secs_f64(s.handshake_secs);
    let mut window = None;
    let (mut cycles, mut failures) = (0u64, 0usize);
    let mut first_error = None;
    let mut events = Vec::new();
    while Instant::now() < stop {
        if window.is_none() && Instant::now() >= measure_from {
            window = Some(CpuWindow::start(server.pid));
        }
        events.clear();
        gen.turn(Some(Duration::from_millis(50)), &mut events)
            .map_err(|e| format!("poll: {e}"))?;
        for ev in events.drain(..) {
            match ev {
                Event::Cycle(..) if window.is_some() => cycles += 1,
                Event::Closed(_, why) => {
                    failures += 1;
                    first_error.get_or_insert(why);
                    if failures > 1000 + cycles as usize {
                        return Err(format!(
                            "{failures} failed cycles: {}",
                            first_error.unwrap_or_default()
                        ));
                    }
                    gen.connect(kind).map_err(|e| format!("connect: {e}"))?;
                }
                _ => {}
            }
        }
    }
    let (elapsed, server_cpu, own_cpu) = window.ok_or("no measured window")?.end();
    gen.close_all();
    if cycles == 0 {
        return Err(format!(
            "no handshake completed: {}",
            first_error.unwrap_or_default()
        ));
    }
    let secs = elapsed.as_secs_f64();
    Ok(Handshakes {
        per_sec: cycles as f64 / secs,
        server_cpu_us_per: server_cpu.as_secs_f64() * 1e6 / cycles as f64,
        generator_cpu_pct: own_cpu.as_secs_f64() * 100.0 / secs,
        failures,
        first_error,
    })
}
