//! The engineio benchmark harness: the contenders it measures side by side, the
//! scenarios, and the report. The load generator is the `eio-load` crate (`load/`),
//! shared with the `engineio` command-line tool; its modules are re-exported here.
//!
//! Run it with `bench/run.sh` (see `bench/README.md`).

pub mod contenders;
pub mod pki;
pub mod procstat;
pub mod redis;
pub mod report;
pub mod scenarios;
pub mod svg;

pub use eio_load::{eio, gen, http, ws};

/// Parses the only flag the bench servers take, `--port N` (0 or absent: any free
/// port), and exits with a usage message on anything else.
pub fn port_flag(program: &str) -> u16 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => 0,
        [flag] if flag == "--help" || flag == "-h" => {
            println!("usage: {program} [--port N]   (N = 0, the default: any free port)");
            std::process::exit(0)
        }
        [flag, value] if flag == "--port" => value.parse().unwrap_or_else(|_| {
            eprintln!("{program}: --port needs a number");
            std::process::exit(2)
        }),
        _ => {
            eprintln!("usage: {program} [--port N]");
            std::process::exit(2)
        }
    }
}
