//! (a) Idle connections: ramp to each step of WebSocket sessions, hold it with every
//! ping answered, and measure what the sessions cost the server and the machine.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{generator, hold, ramp, Sessions, Settings};
use crate::contenders::{Running, Speaks};
use crate::procstat;

/// One step of the ramp.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdleStep {
    /// Sessions asked for.
    pub target: usize,
    /// Sessions open at the end of the hold.
    pub held: usize,
    /// Sessions lost during the ramp and the hold.
    pub disconnects: usize,
    /// Whether every session asked for was open through the whole hold.
    pub clean: bool,
    /// Seconds the ramp took.
    pub ramp_secs: f64,
    /// Server RSS at the end of the hold, KiB.
    pub rss_kib: u64,
    /// (RSS − baseline) / held, KiB.
    pub rss_per_session_kib: f64,
    /// (MemAvailable baseline − now) / held, KiB: the whole machine (kernel socket
    /// buffers, thread stacks, the generator's side) per session.
    pub system_per_session_kib: f64,
    /// Server threads at the end of the hold.
    pub threads: u64,
    /// Why the step failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The whole ramp.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Idle {
    /// Server RSS before any session, KiB.
    pub baseline_rss_kib: u64,
    /// Server threads before any session.
    pub baseline_threads: u64,
    /// The steps run, in order (the ramp stops after the first failed one).
    pub steps: Vec<IdleStep>,
    /// The largest step held with zero disconnects.
    pub max_clean: usize,
}

/// Runs (a) against a started contender.
pub fn run(server: &mut Running, speaks: Speaks, s: &Settings) -> Result<Idle, String> {
    let mut gen = generator(server.addr)?;
    let mut sessions = Sessions::default();
    std::thread::sleep(Duration::from_millis(300));
    let base = procstat::sample(server.pid).ok_or("server gone before the scenario")?;
    let base_avail = procstat::mem_available_kib();
    let mut idle = Idle {
        baseline_rss_kib: base.rss_kib,
        baseline_threads: base.threads,
        steps: Vec::new(),
        max_clean: 0,
    };
    for &target in &s.idle_steps {
        let started = Instant::now();
        let r = ramp(
            &mut gen,
            &mut sessions,
            speaks.message_kind(),
            target,
            s.ramp_concurrency,
            Duration::from_secs_f64(s.ramp_timeout_secs),
            s.max_machine_threads,
        );
        let ramp_secs = started.elapsed().as_secs_f64();
        let mut disconnects = r.disconnects;
        let mut note = r.stopped.clone();
        if r.failed > 0 && note.is_none() {
            note = Some(format!(
                "{} connections failed to open ({})",
                r.failed,
                r.first_error.clone().unwrap_or_default()
            ));
        }
        if note.is_none() {
            let (lost, why) = hold(
                &mut gen,
                &mut sessions,
                Duration::from_secs_f64(s.idle_hold_secs),
            );
            disconnects += lost;
            if lost > 0 {
                note = Some(format!(
                    "{lost} sessions lost during the hold ({})",
                    why.unwrap_or_default()
                ));
            }
        }
        if !server.alive() {
            note = Some(format!("server died: {}", server.stderr_tail()));
        }
        let held = sessions.ready;
        let now = procstat::sample(server.pid).unwrap_or_default();
        let avail = procstat::mem_available_kib();
        let per = |kib: f64| if held > 0 { kib / held as f64 } else { 0.0 };
        let clean = note.is_none() && disconnects == 0 && held >= target;
        idle.steps.push(IdleStep {
            target,
            held,
            disconnects,
            clean,
            ramp_secs,
            rss_kib: now.rss_kib,
            rss_per_session_kib: per(now.rss_kib as f64 - base.rss_kib as f64),
            system_per_session_kib: per(base_avail as f64 - avail as f64),
            threads: now.threads,
            note,
        });
        if !clean {
            break;
        }
        idle.max_clean = target;
    }
    gen.close_all();
    Ok(idle)
}
