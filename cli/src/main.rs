//! `engineio`: connect to, serve, probe and load-test any Engine.IO endpoint.
//!
//! Built only on the `engineio` crate's public API (and the repository's load
//! generator, `eio-load`), so that it is also the library's most complete example:
//!
//! - `connect` ([`connect`]): the blocking client, its event iterator and `select!`;
//! - `serve` ([`serve`]): the server, its handlers, CORS, static files;
//! - `probe` ([`probe`]): the client's errors (status, body) and raw HTTP beside it;
//! - `bench` ([`bench`]): the load generator the benchmark uses.

#![forbid(unsafe_code)]

mod bench;
mod common;
mod connect;
mod probe;
mod raw;
mod serve;

use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "engineio",
    version,
    about = "Connect to, serve, probe and load-test any Engine.IO endpoint",
    long_about = "Connect to, serve, probe and load-test any Engine.IO endpoint: polling, \
WebSocket, the upgrade, protocol v4 and v3, TLS, proxies.",
    after_help = "Exit status: 0 success, 1 failure (cannot connect, cannot listen, unusable \
endpoint), 2 bad command line; each subcommand's --help lists its own.\n\
Examples:\n  engineio serve --addr 127.0.0.1:5000\n  engineio connect http://127.0.0.1:5000\n  \
engineio probe https://example.com/socket.io/\n  engineio bench http://127.0.0.1:5000 -c 100 -d 10s"
)]
struct Cli {
    /// Show the library's log on stderr: -v info, -vv debug, -vvv trace (RUST_LOG
    /// also works)
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Talk to a server: stdin lines go out as messages, messages received are printed
    #[command(after_help = connect::AFTER_HELP)]
    Connect(connect::ConnectArgs),
    /// Run an echo (or broadcast) server for trying clients
    #[command(after_help = serve::AFTER_HELP)]
    Serve(serve::ServeArgs),
    /// Diagnose an endpoint: handshake, transports, upgrade, heartbeat, CORS, compression, v3
    #[command(after_help = probe::AFTER_HELP)]
    Probe(probe::ProbeArgs),
    /// Load-test an echo server: latency percentiles, throughput, connect times, errors
    #[command(after_help = bench::AFTER_HELP)]
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    common::init_logger(cli.verbose);
    let code = match cli.command {
        Command::Connect(a) => connect::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Probe(a) => probe::run(a),
        Command::Bench(a) => bench::run(a),
    };
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
