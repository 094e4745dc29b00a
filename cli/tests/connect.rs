//! `engineio connect --json`, driven as a test harness drives it: JSON lines in, JSON
//! lines out, exit codes. Text and binary go through our server and the official
//! Node.js server in three transport modes.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use support::{engineio, our_server, peers_available, run, url_of, Proc};

const T: Duration = Duration::from_secs(15);
const TEXT: &str = "héllo wörld € 😀";
/// Bytes 00 01 02 ff 80.
const BINARY: &str = "AAEC/4A=";

/// One echo round in `mode` (polling, websocket, or upgrade): open, (upgrade), a text
/// and a binary message echoed, then the end of stdin closes cleanly.
fn echo_round(addr: SocketAddr, mode: &str) {
    let mut cmd = engineio();
    cmd.args(["connect", &format!("http://{addr}"), "--json"]);
    match mode {
        "polling" | "websocket" => {
            cmd.args(["--transports", mode]);
        }
        _ => {}
    }
    let mut p = Proc::spawn(cmd, &format!("connect {mode}"));
    let open = p.json(T);
    assert_eq!(open["event"], "open", "{open}");
    let first = if mode == "websocket" {
        "websocket"
    } else {
        "polling"
    };
    assert_eq!(open["transport"], first, "{open}");
    assert!(
        open["sid"].as_str().is_some_and(|s| !s.is_empty()),
        "{open}"
    );
    assert_eq!(open["eio"], 4);
    if mode == "upgrade" {
        assert_eq!(open["upgrades"], serde_json::json!(["websocket"]), "{open}");
        let up = p.json(T);
        assert_eq!(up["event"], "upgrade", "{up}");
        assert_eq!(up["transport"], "websocket", "{up}");
    }
    p.write_line(&serde_json::json!({"text": TEXT}).to_string());
    p.write_line(&format!(r#"{{"event":"message","binary":"{BINARY}"}}"#));
    let text = p.json(T);
    assert_eq!(text, serde_json::json!({"event": "message", "text": TEXT}));
    let binary = p.json(T);
    assert_eq!(
        binary,
        serde_json::json!({"event": "message", "binary": BINARY})
    );
    p.close_stdin();
    let close = p.json(T);
    assert_eq!(close["event"], "close", "{close}");
    assert_eq!(close["reason"], "client disconnect", "{close}");
    let status = p.wait(T);
    assert_eq!(status.code(), Some(0), "stderr: {}", p.stderr());
    assert!(p.rest().is_empty(), "{:?}", p.rest());
}

#[test]
fn echoes_text_and_binary_through_our_server_in_three_modes() {
    let _dog = support::watchdog(60, "connect: our server");
    let server = our_server(|b| b);
    for mode in ["polling", "websocket", "upgrade"] {
        echo_round(server.local_addr(), mode);
    }
}

#[test]
fn echoes_text_and_binary_through_the_node_server_in_three_modes() {
    if !peers_available("connect: node server", true, &[]) {
        return;
    }
    let _dog = support::watchdog(90, "connect: node server");
    let (_node, addr) = support::node_server(&[]);
    for mode in ["polling", "websocket", "upgrade"] {
        echo_round(addr, mode);
    }
}

#[test]
fn count_ends_the_session_and_plain_lines_are_messages() {
    let _dog = support::watchdog(30, "connect --count");
    let server = our_server(|b| b);
    let url = url_of(&server);
    // Human mode: lines in, `< …` out; `/bin` sends binary.
    let (code, out, err) = run(
        &["connect", &url, "--count", "2"],
        "hello\n/bin 01 02 ff\n",
        T,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "< hello\n< /bin 0102ff\n");
    assert!(err.contains("* open http://"), "{err}");
    assert!(err.contains("* close: client disconnect"), "{err}");
    // --send and --binary.
    let (code, out, _) = run(
        &[
            "connect",
            &url,
            "--binary",
            "--send",
            "first",
            "--count",
            "2",
            "--transports",
            "websocket",
        ],
        "cafe\n",
        T,
    );
    assert_eq!(code, 0);
    assert_eq!(out, "< first\n< /bin cafe\n");
}

#[test]
fn wait_bounds_the_time_after_stdin_ends() {
    let _dog = support::watchdog(30, "connect --wait");
    // A server that never answers messages.
    let server = engineio::server::App::new(engineio::server::Server::builder().build().unwrap())
        .listen("127.0.0.1:0")
        .unwrap();
    let url = url_of(&server);
    let started = std::time::Instant::now();
    let (code, out, _) = run(
        &["connect", &url, "--json", "--count", "1", "--wait", "300ms"],
        "{\"text\":\"x\"}\n",
        T,
    );
    assert_eq!(code, 5, "--wait expired before --count: {out}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let last: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(last["reason"], "client disconnect");
    // Without --count, the end of stdin closes at once: exit 0.
    let (code, _, _) = run(&["connect", &url], "", T);
    assert_eq!(code, 0);
}

#[test]
fn exit_codes_say_how_it_ended() {
    let _dog = support::watchdog(30, "connect exit codes");
    // Nothing listens: 1, with the likely cause.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let (code, out, _) = run(&["connect", &dead, "--json"], "", T);
    assert_eq!(code, 1);
    let err: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(err["event"], "error");
    assert_eq!(err["kind"], "connect");
    assert!(
        err["hint"].as_str().unwrap().contains("nothing listens"),
        "{err}"
    );

    // A wrong path: the server's 404, explained.
    let server = our_server(|b| b);
    let url = url_of(&server);
    let (code, _, stderr) = run(&["connect", &format!("{url}/socket.io/")], "", T);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("404") && stderr.contains("--path"),
        "{stderr}"
    );

    // The server closes the session: 3.
    let closing = engineio::server::App::new(
        engineio::server::Server::builder()
            .on_message(|s, sid, _| {
                let _ = s.disconnect(sid);
            })
            .build()
            .unwrap(),
    )
    .listen("127.0.0.1:0")
    .unwrap();
    let (code, out, _) = run(
        &["connect", &url_of(&closing), "--json", "--count", "5"],
        "{\"text\":\"bye\"}\n",
        T,
    );
    assert_eq!(code, 3, "{out}");
    assert!(out.contains(r#""reason":"server disconnect""#), "{out}");

    // The connection is lost: 4 (the server goes away mid-session).
    let doomed = our_server(|b| b);
    let mut p = Proc::spawn(
        {
            let mut c = engineio();
            c.args([
                "connect",
                &url_of(&doomed),
                "--json",
                "--transports",
                "websocket",
            ]);
            c
        },
        "connect (lost)",
    );
    assert_eq!(p.json(T)["event"], "open");
    drop(doomed); // shuts the server down: its sessions get a close
    let close = p.json(T);
    assert_eq!(close["event"], "close");
    let status = p.wait(T);
    assert!(matches!(status.code(), Some(3 | 4)), "{close} {status:?}");

    // Bad input lines are reported, not fatal; bad flags exit 2.
    let (code, out, _) = run(
        &["connect", &url, "--json", "--count", "1"],
        "not json\n{\"nope\":1}\n{\"text\":\"ok\"}\n",
        T,
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches(r#""kind":"input""#).count(), 2, "{out}");
    let (code, _, _) = run(&["connect", &url, "--transports", "carrier-pigeon"], "", T);
    assert_eq!(code, 2);
}

#[test]
fn ctrl_c_closes_the_session_cleanly_and_a_second_one_quits_at_once() {
    let _dog = support::watchdog(60, "connect: Ctrl-C");
    let (tx, closes) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = our_server(move |b| {
        b.on_disconnect(move |_, _, reason| {
            let _ = tx.lock().unwrap().send(reason);
        })
    });
    for transports in ["polling", "websocket"] {
        let mut p = Proc::spawn(
            {
                let mut c = engineio();
                c.args(["connect", &url_of(&server), "--json"])
                    .args(["--transports", transports]);
                c
            },
            "connect (Ctrl-C)",
        );
        assert_eq!(p.json(T)["event"], "open");
        p.interrupt();
        let close = p.json(T);
        assert_eq!(close["event"], "close", "{close}");
        assert_eq!(close["reason"], "client disconnect", "{close}");
        assert_eq!(p.wait(T).code(), Some(130), "{transports}");
        // The server was told: a close packet, not a dropped connection.
        let reason = closes.recv_timeout(T).unwrap();
        assert_eq!(reason, engineio::Reason::ClientDisconnect, "{transports}");
    }

    // A second Ctrl-C does not wait for the close: here the server answers the
    // handshake, then holds every other request, the close's POST included.
    let url = holding_server();
    let mut p = Proc::spawn(
        {
            let mut c = engineio();
            c.args(["connect", &url, "--json", "--transports", "polling"]);
            c
        },
        "connect (held close)",
    );
    assert_eq!(p.json(T)["event"], "open");
    p.interrupt();
    assert!(
        p.try_wait_for(Duration::from_millis(500)).is_none(),
        "the first Ctrl-C waits for the close"
    );
    p.interrupt();
    assert_eq!(p.wait(T).code(), Some(130));

    // Before the session exists Ctrl-C has its usual effect: the process ends by the
    // signal at once, although the handshake could wait up to 30 s.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let mut p = Proc::spawn(
        {
            let mut c = engineio();
            c.args(["connect", &url, "--json", "--timeout", "30s"]);
            c
        },
        "connect (silent server)",
    );
    let _held = silent.accept().unwrap();
    p.interrupt();
    let status = p.wait(T);
    assert_eq!(status.code(), None, "{status:?}");
}

/// An Engine.IO server that answers the polling handshake, then holds every request
/// of the session forever (their threads sleep).
fn holding_server() -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut first = String::new();
                    if reader.read_line(&mut first).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut header = String::new();
                    while reader.read_line(&mut header).unwrap_or(0) > 0 && header != "\r\n" {
                        header.clear();
                    }
                    if first.contains("sid=") {
                        std::thread::sleep(Duration::from_secs(3600));
                        return;
                    }
                    let body = r#"0{"sid":"held","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    if conn
                        .write_all(head.as_bytes())
                        .and_then(|()| conn.write_all(body.as_bytes()))
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    url
}

#[test]
fn eio_3_speaks_protocol_v3() {
    let _dog = support::watchdog(30, "connect --eio 3");
    let server = our_server(|b| b.allow_eio3(true));
    let (code, out, _) = run(
        &[
            "connect",
            &url_of(&server),
            "--json",
            "--eio",
            "3",
            "--count",
            "2",
        ],
        "{\"text\":\"v3\"}\n{\"binary\":\"AQID\"}\n",
        T,
    );
    assert_eq!(code, 0, "{out}");
    let open: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(open["eio"], 3);
    assert!(out.contains(r#"{"event":"message","text":"v3"}"#), "{out}");
    assert!(
        out.contains(r#"{"event":"message","binary":"AQID"}"#),
        "{out}"
    );
}
