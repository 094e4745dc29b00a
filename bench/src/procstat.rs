//! What the harness reads from `/proc`: a process's memory, threads and CPU time, and
//! the machine's available memory and thread count.

use std::time::Duration;

/// A process's figures at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    /// Resident set size, KiB (`VmRSS`).
    pub rss_kib: u64,
    /// Threads (`Threads`).
    pub threads: u64,
    /// User plus system CPU time consumed so far.
    pub cpu: Duration,
}

/// Samples process `pid`; `None` once it has gone.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    Some(ProcSample {
        rss_kib: field("VmRSS:"),
        threads: field("Threads:"),
        cpu: cpu_time(&format!("/proc/{pid}/stat"))?,
    })
}

/// This process's CPU time (the generator's own cost).
pub fn own_cpu() -> Duration {
    cpu_time("/proc/self/stat").unwrap_or_default()
}

/// utime + stime from a `stat` file (fields 14 and 15, after the command name).
fn cpu_time(path: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(path).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // after_name starts at field 3 (state): utime is field 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let hz = clock_ticks();
    Some(Duration::from_micros((utime + stime) * 1_000_000 / hz))
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as u64
    } else {
        100
    }
}

/// `MemAvailable` from `/proc/meminfo`, KiB.
pub fn mem_available_kib() -> u64 {
    meminfo("MemAvailable:")
}

fn meminfo(field: &str) -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// `MemTotal` from `/proc/meminfo`, KiB.
pub fn mem_total_kib() -> u64 {
    meminfo("MemTotal:")
}

/// Threads (tasks) alive on the whole machine: the denominator of `/proc/loadavg`'s
/// fourth field. Every thread takes a pid, and pids are shared machine-wide.
pub fn machine_threads() -> u64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().nth(3)?.split('/').nth(1)?.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = sample(std::process::id()).unwrap();
        assert!(me.rss_kib > 0 && me.threads >= 1);
        assert!(mem_available_kib() > 0);
        assert!(machine_threads() >= me.threads);
    }
}
