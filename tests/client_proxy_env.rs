//! The proxy environment variables, read only with `proxy_from_env` (here
//! `echo_client --proxy-from-env`, in a child process, since the environment is
//! process-wide) against the official Node.js server, through the `CONNECT` proxy of
//! `tests/support`: the scheme picks `HTTP_PROXY` or `HTTPS_PROXY` (`ALL_PROXY`
//! otherwise), both transports go through it, `NO_PROXY` exempts the server, and
//! without opting in the environment changes nothing.

use std::net::TcpListener;

use support::connect_proxy::ConnectProxy;

mod support;
mod tls_support;

use tls_support::{Ca, Files};

/// A proxy URL where nothing listens: a client that used it would fail.
fn dead_proxy() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

fn node_server(what: &str) -> Option<support::ChildServer> {
    if !support::interop_available(what) {
        return None;
    }
    Some(support::spawn_node_script(
        "tests/interop/node_echo_server.mjs",
        &[],
    ))
}

/// Runs echo_client with `args` and `env`; asserts it echoed over `transport`.
fn echoes(args: &[&str], env: &[(&str, &str)], transport: &str) {
    let (ok, out) = tls_support::run_echo_client(args, env);
    println!("echo_client {args:?} {env:?}: {}", out.trim());
    assert!(ok, "{args:?} {env:?}: {out}");
    assert!(
        out.contains(&format!("echoed via {transport}")),
        "{args:?}: {out}"
    );
}

#[test]
fn the_environment_proxy_carries_both_transports_when_asked() {
    let _dog = support::watchdog(600, "proxy_from_env");
    let Some(server) = node_server("proxy from env") else {
        return;
    };
    tls_support::echo_client_tls();
    let proxy = ConnectProxy::start();
    let proxy_url = format!("http://{}", proxy.addr());
    let dead = dead_proxy();
    let url = server.base_url.as_str();
    let target = server.addr.to_string();
    // http: HTTP_PROXY (or http_proxy, or ALL_PROXY), never HTTPS_PROXY.
    let mut seen = 0;
    for (transports, want) in [
        ("polling", "polling"),
        ("websocket", "websocket"),
        ("polling,websocket", "websocket"),
    ] {
        for env in [
            [("HTTP_PROXY", proxy_url.as_str()), ("HTTPS_PROXY", &dead)],
            [("http_proxy", proxy_url.as_str()), ("ALL_PROXY", &dead)],
            [("ALL_PROXY", proxy_url.as_str()), ("HTTPS_PROXY", &dead)],
        ] {
            echoes(
                &[url, "--proxy-from-env", "--transports", transports],
                &env,
                want,
            );
            let targets = proxy.targets();
            assert!(
                targets.len() > seen,
                "{transports}: not proxied: {targets:?}"
            );
            assert!(targets.iter().all(|t| *t == target), "{targets:?}");
            seen = targets.len();
        }
    }
    // https and wss: HTTPS_PROXY, never HTTP_PROXY.
    let ca = Ca::new("engineio test CA");
    let files = Files::new();
    let Some(tls_server) = tls_support::node_tls_server("proxy from env", &ca, None, &files) else {
        return;
    };
    let ca_file = files.write("ca.pem", &ca.pem);
    let tls_url = tls_server.base_url.as_str();
    let wss_url = tls_url.replace("https://", "wss://");
    for (args, want) in [
        (vec![tls_url, "--transports", "polling"], "polling"),
        (
            vec![wss_url.as_str(), "--transports", "websocket"],
            "websocket",
        ),
        (vec![tls_url], "websocket"),
    ] {
        let mut args = args.clone();
        args.extend(["--proxy-from-env", "--ca", &ca_file]);
        echoes(
            &args,
            &[("HTTPS_PROXY", &proxy_url), ("HTTP_PROXY", &dead)],
            want,
        );
        let targets = proxy.targets();
        assert!(targets.len() > seen, "{args:?}: not proxied: {targets:?}");
        assert_eq!(
            targets.last().unwrap(),
            &tls_server.addr.to_string(),
            "{targets:?}"
        );
        seen = targets.len();
    }
}

#[test]
fn no_proxy_exempts_the_server() {
    let _dog = support::watchdog(600, "no_proxy");
    let Some(server) = node_server("NO_PROXY") else {
        return;
    };
    let proxy = ConnectProxy::start();
    let proxy_url = format!("http://{}", proxy.addr());
    let url = server.base_url.as_str();
    let port = server.addr.port();
    let exact = format!("127.0.0.1:{port}");
    for no_proxy in ["127.0.0.1", "localhost, 127.0.0.0/8", exact.as_str(), "*"] {
        for var in ["NO_PROXY", "no_proxy"] {
            echoes(
                &[url, "--proxy-from-env"],
                &[("HTTP_PROXY", &proxy_url), (var, no_proxy)],
                "websocket",
            );
        }
    }
    assert_eq!(proxy.targets(), Vec::<String>::new());
    // Entries that do not cover the server leave it proxied.
    let other_port = format!("127.0.0.1:{}", port.wrapping_add(1).max(1));
    for no_proxy in ["localhost,.example.com", "127.0.0.2", other_port.as_str()] {
        echoes(
            &[url, "--proxy-from-env", "--transports", "websocket"],
            &[("HTTP_PROXY", &proxy_url), ("NO_PROXY", no_proxy)],
            "websocket",
        );
    }
    assert_eq!(proxy.targets().len(), 3, "{:?}", proxy.targets());
}

#[test]
fn without_opting_in_the_environment_changes_nothing() {
    let _dog = support::watchdog(600, "proxy env ignored");
    let Some(server) = node_server("proxy env ignored") else {
        return;
    };
    let proxy = ConnectProxy::start();
    let proxy_url = format!("http://{}", proxy.addr());
    let dead = dead_proxy();
    let url = server.base_url.as_str();
    for env in [
        [
            ("HTTP_PROXY", proxy_url.as_str()),
            ("ALL_PROXY", &proxy_url),
        ],
        [("http_proxy", dead.as_str()), ("all_proxy", &dead)],
    ] {
        echoes(&[url], &env, "websocket");
    }
    assert_eq!(proxy.targets(), Vec::<String>::new());
    // Opted in, a proxy the client cannot use is refused before connecting, naming
    // the variable.
    let (ok, out) = tls_support::run_echo_client(
        &[url, "--proxy-from-env"],
        &[("HTTP_PROXY", "socks5://127.0.0.1:1080")],
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("bad configuration") && out.contains("HTTP_PROXY"),
        "{out}"
    );
}
