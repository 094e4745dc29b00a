//! `eio-bench`: runs every scenario against every contender, one server at a time,
//! and writes the results (JSON), the report (Markdown) and the chart (SVG).
//!
//! ```text
//! eio-bench all [--quick] [--contenders ours,node,...] [--scenarios idle,latency,...,tls]
//!               [--ours-bin PATH] [--python PATH] [--node PATH] [--out DIR] [--readme]
//!               [--idle-steps 1000,5000] [--idle-hold SECS] [--broadcast-clients N]
//! eio-bench report RESULTS.json [--readme]
//! eio-bench serve NAME
//! ```
//! See `bench/README.md`.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use eio_bench::contenders::{self, Contender, Paths, Running, Speaks};
use eio_bench::gen::Kind;
use eio_bench::pki::Certificate;
use eio_bench::report::{self, ContenderResult, Results};
use eio_bench::scenarios::{broadcast, cluster, echo, handshake, idle, tls, Outcome, Settings};
use eio_bench::svg;

const SCENARIOS: [&str; 8] = [
    "idle",
    "latency",
    "throughput",
    "handshake",
    "polling",
    "broadcast",
    "tls",
    "cluster",
];

const USAGE: &str = "usage:
  eio-bench all [--quick] [--contenders ours,node,python,engineioxide,raw-ws,raw-tcp]
                [--scenarios idle,latency,throughput,handshake,polling,broadcast,tls,cluster]
                [--ours-bin PATH] [--python PATH] [--node PATH] [--redis-server PATH]
                [--out DIR] [--readme]
                [--idle-steps 1000,5000] [--idle-hold SECS] [--broadcast-clients N]
  eio-bench report RESULTS.json [--readme]
  eio-bench serve NAME       (start one contender and print its address)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("all") => run_all(&args[1..]),
        Some("report") => rerender(&args[1..]),
        Some("serve") => serve(&args[1..]),
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            0
        }
        _ => {
            eprintln!("{USAGE}");
            2
        }
    };
    std::process::exit(code);
}

struct Options {
    quick: bool,
    idle_steps: Option<Vec<usize>>,
    idle_hold: Option<f64>,
    broadcast_clients: Option<usize>,
    contenders: Option<Vec<String>>,
    scenarios: Vec<String>,
    out: Option<PathBuf>,
    readme: bool,
    paths: Paths,
}

fn parse(args: &[String]) -> Result<(Options, Vec<String>), String> {
    let repo = repo_root();
    let bin_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let env_path = |k: &str| std::env::var_os(k).map(PathBuf::from);
    let mut o = Options {
        quick: false,
        idle_steps: None,
        idle_hold: None,
        broadcast_clients: None,
        contenders: None,
        scenarios: SCENARIOS.iter().map(|s| s.to_string()).collect(),
        out: None,
        readme: false,
        paths: Paths {
            ours_bin: env_path("EIO_BENCH_OURS_BIN").unwrap_or_else(|| bin_dir.join("bench-ours")),
            python: env_path("EIO_BENCH_PYTHON")
                .unwrap_or_else(|| repo.join("bench").join(".venv").join("bin").join("python")),
            node: env_path("EIO_BENCH_NODE").unwrap_or_else(|| PathBuf::from("node")),
            redis: eio_bench::redis::default_program(),
            bin_dir,
            repo,
        },
    };
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--quick" => o.quick = true,
            "--readme" => o.readme = true,
            "--contenders" => {
                o.contenders = Some(value()?.split(',').map(str::to_string).collect())
            }
            "--scenarios" => o.scenarios = value()?.split(',').map(str::to_string).collect(),
            "--ours-bin" => o.paths.ours_bin = PathBuf::from(value()?),
            "--python" => o.paths.python = PathBuf::from(value()?),
            "--node" => o.paths.node = PathBuf::from(value()?),
            "--redis-server" => o.paths.redis = PathBuf::from(value()?),
            "--out" => o.out = Some(PathBuf::from(value()?)),
            "--idle-steps" => {
                let steps: Result<Vec<usize>, _> = value()?.split(',').map(str::parse).collect();
                o.idle_steps = Some(steps.map_err(|_| "--idle-steps: numbers, comma-separated")?);
            }
            "--idle-hold" => {
                o.idle_hold = Some(value()?.parse().map_err(|_| "--idle-hold: seconds")?)
            }
            "--broadcast-clients" => {
                o.broadcast_clients = Some(
                    value()?
                        .parse()
                        .map_err(|_| "--broadcast-clients: a number")?,
                )
            }
            s if s.starts_with("--") => return Err(format!("unknown flag {s}")),
            s => rest.push(s.to_string()),
        }
    }
    for s in &o.scenarios {
        if !SCENARIOS.contains(&s.as_str()) {
            return Err(format!("unknown scenario {s}"));
        }
    }
    Ok((o, rest))
}

/// The repository root: `EIO_BENCH_REPO`, else where this crate was built from.
fn repo_root() -> PathBuf {
    let repo = std::env::var_os("EIO_BENCH_REPO")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    std::fs::canonicalize(&repo).unwrap_or(repo)
}

fn run_all(args: &[String]) -> i32 {
    let (o, rest) = match parse(args) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return 2;
        }
    };
    if !rest.is_empty() {
        eprintln!("unexpected arguments {rest:?}\n{USAGE}");
        return 2;
    }
    let mut settings = if o.quick {
        Settings::quick()
    } else {
        Settings::full()
    };
    if let Some(steps) = o.idle_steps.clone() {
        settings.idle_steps = steps;
    }
    if let Some(hold) = o.idle_hold {
        settings.idle_hold_secs = hold;
    }
    if let Some(n) = o.broadcast_clients {
        settings.broadcast_clients = n;
    }
    let mut list = contenders::all(&o.paths);
    if let Some(names) = &o.contenders {
        for n in names {
            if !list.iter().any(|c| c.name == n) {
                eprintln!("unknown contender {n}");
                return 2;
            }
        }
        list.retain(|c| names.iter().any(|n| n == c.name));
    }
    let out_dir = o
        .out
        .clone()
        .unwrap_or_else(|| o.paths.repo.join("bench").join("results"));
    let log_dir = out_dir.join("logs");
    if let Err(e) = std::fs::create_dir_all(&log_dir) {
        eprintln!("{}: {e}", log_dir.display());
        return 1;
    }
    // The tls scenario's certificate: made now, removed when the run ends.
    let cert = if o.scenarios.iter().any(|s| s == "tls") {
        match Certificate::generate() {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        }
    } else {
        None
    };
    let started = Instant::now();
    let stamp = utc_stamp(SystemTime::now());
    let base = out_dir.join(format!("{}-{}", &stamp[..10], settings.mode));
    let mut results = Results {
        started: stamp,
        duration_secs: 0.0,
        versions: contenders::versions(&o.paths),
        settings,
        contenders: Vec::new(),
    };
    for c in &list {
        eprintln!("== {} ({})", c.label, c.name);
        let r = run_contender(
            c,
            &o.scenarios,
            &results.settings,
            &log_dir,
            &o.paths,
            cert.as_ref(),
        );
        results.contenders.push(r);
        results.duration_secs = started.elapsed().as_secs_f64();
        if let Err(e) = write_outputs(&results, &base, false) {
            eprintln!("{e}");
            return 1;
        }
    }
    match write_outputs(&results, &base, o.readme) {
        Ok(()) => {
            eprintln!(
                "wrote {}.json, .md and .svg ({:.1} minutes)",
                base.display(),
                results.duration_secs / 60.0
            );
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// Runs every applicable scenario against one contender, each on a freshly started
/// server, so that no scenario inherits another's state.
fn run_contender(
    c: &Contender,
    scenarios: &[String],
    s: &Settings,
    logs: &Path,
    paths: &Paths,
    cert: Option<&Certificate>,
) -> ContenderResult {
    let mut r = ContenderResult {
        name: c.name.to_string(),
        label: c.label.to_string(),
        ..ContenderResult::default()
    };
    let wants = |name: &str| scenarios.iter().any(|x| x == name);
    let eio = c.speaks == Speaks::EngineIo;
    let kind = c.speaks.message_kind();
    if wants("idle") && c.speaks != Speaks::RawTcp {
        r.idle = Some(with_server(c, logs, "(a) idle", |srv| {
            idle::run(srv, c.speaks, s)
        }));
    }
    if wants("latency") {
        r.latency = Some(with_server(c, logs, "(b) latency", |srv| {
            echo::latency(srv, kind, s)
        }));
    }
    if wants("throughput") {
        r.throughput = Some(with_server(c, logs, "(c) throughput", |srv| {
            echo::closed_loop(srv, kind, s)
        }));
    }
    if wants("handshake") && eio {
        r.polling_open = Some(with_server(c, logs, "(d) polling open", |srv| {
            handshake::run(srv, Kind::PollingOpen, s)
        }));
        r.full_connect = Some(with_server(c, logs, "(d) full connect", |srv| {
            handshake::run(srv, Kind::FullConnect, s)
        }));
    }
    if wants("polling") && eio {
        r.polling_echo = Some(with_server(c, logs, "(e) polling echo", |srv| {
            echo::closed_loop(srv, Kind::PollingEcho, s)
        }));
    }
    if wants("broadcast") && eio {
        r.broadcast = Some(with_server(c, logs, "(f) broadcast", |srv| {
            broadcast::run(srv, s)
        }));
    }
    if let Some(cert) = cert.filter(|_| wants("tls") && eio && c.tls) {
        r.tls = Some(with_server_args(
            c,
            logs,
            "(g) echo over TLS",
            (&cert.server_args(), "-tls"),
            |srv| tls::run(srv, Some(cert), s),
        ));
        r.tls_plain = Some(with_server(
            c,
            logs,
            "(g) plain echo, for comparison",
            |srv| tls::run(srv, None, s),
        ));
    }
    if wants("cluster") && c.name == "ours" {
        let t = Instant::now();
        let result = cluster::run(c, &paths.redis, logs, s);
        settle();
        print_outcome("(h) cluster broadcast", t, &result);
        r.cluster_broadcast = Some(Outcome::from(result));
    }
    r
}

/// Waits (at most 10 s) until the kernel has torn down the last scenario's TCP
/// sockets, so that closing 15k connections does not land in the next measurement.
fn settle() {
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while Instant::now() < deadline {
        let busy = std::fs::read_to_string("/proc/net/sockstat")
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("TCP:"))?;
                let fields: Vec<&str> = line.split_whitespace().collect();
                let get = |name: &str| -> Option<u64> {
                    let i = fields.iter().position(|f| *f == name)?;
                    fields.get(i + 1)?.parse().ok()
                };
                Some(get("inuse")? + get("orphan")?)
            });
        match busy {
            Some(n) if n > 200 => std::thread::sleep(std::time::Duration::from_millis(100)),
            _ => break,
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
}

/// Starts the contender, runs `f`, stops the contender (all of it), and prints a line.
fn with_server<T: serde::Serialize>(
    c: &Contender,
    logs: &Path,
    what: &str,
    f: impl FnOnce(&mut Running) -> Result<T, String>,
) -> Outcome<T> {
    with_server_args(c, logs, what, (&[], ""), f)
}

/// [`with_server`], the contender started with `extra` arguments, its stderr in
/// `<name><log_suffix>.stderr.log`.
fn with_server_args<T: serde::Serialize>(
    c: &Contender,
    logs: &Path,
    what: &str,
    (extra, log_suffix): (&[String], &str),
    f: impl FnOnce(&mut Running) -> Result<T, String>,
) -> Outcome<T> {
    let t = Instant::now();
    let result = match c.start_with(logs, extra, &format!("{}{log_suffix}", c.name)) {
        Ok(mut srv) => {
            let r = f(&mut srv);
            let r = match r {
                Err(e) if !srv.alive() => Err(format!("{e} (server died: {})", srv.stderr_tail())),
                other => other,
            };
            srv.stop();
            settle();
            r
        }
        Err(e) => Err(e),
    };
    print_outcome(what, t, &result);
    Outcome::from(result)
}

/// One line on stderr: the scenario, its time, its figures or its failure.
fn print_outcome<T: serde::Serialize>(what: &str, t: Instant, result: &Result<T, String>) {
    let summary = match result {
        Ok(v) => serde_json::to_string(v).unwrap_or_default(),
        Err(e) => format!("FAILED: {e}"),
    };
    let summary: String = summary.chars().take(400).collect();
    eprintln!("  {what} [{:.1} s]: {summary}", t.elapsed().as_secs_f64());
}

fn write_outputs(r: &Results, base: &Path, readme: bool) -> Result<(), String> {
    let json = serde_json::to_string_pretty(r).map_err(|e| e.to_string())?;
    let write = |ext: &str, text: &str| {
        let p = base.with_extension(ext);
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
    };
    let svg_name = format!(
        "{}.svg",
        base.file_name().unwrap_or_default().to_string_lossy()
    );
    write("json", &json)?;
    write("md", &report::markdown(r, &svg_name))?;
    write("svg", &svg::chart(r))?;
    if readme {
        update_readme(r, base)?;
    }
    Ok(())
}

/// Copies the chart to `bench/results/latest.svg` and puts the report into the
/// README between the `bench:begin` and `bench:end` markers.
fn update_readme(r: &Results, base: &Path) -> Result<(), String> {
    let repo = repo_root();
    let results = repo.join("bench").join("results");
    std::fs::write(results.join("latest.svg"), svg::chart(r)).map_err(|e| e.to_string())?;
    let readme_path = repo.join("README.md");
    let readme = std::fs::read_to_string(&readme_path).map_err(|e| e.to_string())?;
    let (begin, end) = ("<!-- bench:begin -->", "<!-- bench:end -->");
    let (Some(a), Some(b)) = (readme.find(begin), readme.find(end)) else {
        return Err("README.md has no <!-- bench:begin --> / <!-- bench:end --> markers".into());
    };
    let body = report::markdown(r, "bench/results/latest.svg").replace("\n### ", "\n#### ");
    let source = base
        .strip_prefix(&repo)
        .unwrap_or(base)
        .with_extension("json");
    let new = format!(
        "{}{begin}\n{body}\nFull figures: `{}`.\n{}",
        &readme[..a],
        source.display(),
        &readme[b..]
    );
    std::fs::write(&readme_path, new).map_err(|e| e.to_string())
}

fn rerender(args: &[String]) -> i32 {
    let (o, rest) = match parse(args) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return 2;
        }
    };
    let [file] = rest.as_slice() else {
        eprintln!("{USAGE}");
        return 2;
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{file}: {e}");
            return 1;
        }
    };
    let r: Results = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{file}: {e}");
            return 1;
        }
    };
    let base = PathBuf::from(file.trim_end_matches(".json"));
    match write_outputs(&r, &base, o.readme) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

fn serve(args: &[String]) -> i32 {
    let (o, rest) = match parse(args) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return 2;
        }
    };
    let Some(c) = rest
        .first()
        .and_then(|n| contenders::all(&o.paths).into_iter().find(|c| c.name == n))
    else {
        eprintln!("{USAGE}");
        return 2;
    };
    let dir = std::env::temp_dir();
    match c.start(&dir) {
        Ok(srv) => {
            println!(
                "{} listening on {} (pid {}); press Enter to stop",
                c.name, srv.addr, srv.pid
            );
            let _ = std::io::stdin().read_line(&mut String::new());
            srv.stop();
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a time (UTC), without a date library.
fn utc_stamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_251_199);
        assert_eq!(utc_stamp(t), "2024-02-29T23:59:59Z");
    }
}
