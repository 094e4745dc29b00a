//! The interactive modes, through a pseudo-terminal: tmux runs `engineio serve` and
//! `engineio connect` in two panes; keys are typed with `send-keys` and the screens
//! read with `capture-pane`, as a person would use them. Also the progress bar of
//! `engineio bench`, which only a terminal gets.

mod support;

use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A tmux server of our own (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start() -> Tmux {
        let socket = format!("engineio-cli-test-{}", std::process::id());
        let t = Tmux { socket };
        // A shell that waits after the command, so that its last words stay readable.
        t.tmux(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "200",
            "-y",
            "50",
            "sleep 600",
        ]);
        t
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new(support::tmux().expect("tmux"))
            .args(["-L", &self.socket])
            .args(args)
            .env("TERM", "xterm-256color")
            .stdin(Stdio::null())
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `command` (a shell command line) in a new window named `name`.
    fn window(&self, name: &str, command: &str) {
        let line = format!("{command}; echo EXITED=$?; sleep 600");
        self.tmux(&["new-window", "-d", "-t", "t", "-n", name, &line]);
    }

    fn keys(&self, name: &str, keys: &[&str]) {
        let target = format!("t:{name}");
        let mut args = vec!["send-keys", "-t", &target];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    fn screen(&self, name: &str) -> String {
        self.tmux(&["capture-pane", "-p", "-J", "-t", &format!("t:{name}")])
    }

    /// Waits (10 s at most) until the window shows `text`; its screen.
    fn wait_for(&self, name: &str, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let screen = self.screen(name);
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "window {name} never showed {text:?}; it shows:\n{screen}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        if let Some(tmux) = support::tmux() {
            let _ = Command::new(tmux)
                .args(["-L", &self.socket, "kill-server"])
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn a_person_types_into_serve_and_connect() {
    if !support::peers_available("interactive (tmux)", false, &[("tmux", support::tmux())]) {
        return;
    }
    let _dog = support::watchdog(60, "interactive tmux session");
    let bin = quote(env!("CARGO_BIN_EXE_engineio"));
    let port = {
        // A free port for the server (the pane's output is not parsed for it).
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let tmux = Tmux::start();
    tmux.window("serve", &format!("{bin} serve --addr 127.0.0.1:{port}"));
    tmux.wait_for("serve", &format!("listening on http://127.0.0.1:{port}"));
    tmux.window("connect", &format!("{bin} connect http://127.0.0.1:{port}"));
    let screen = tmux.wait_for("connect", "* upgrade to websocket");
    assert!(screen.contains("* open http://127.0.0.1:"), "{screen}");
    tmux.wait_for("serve", "upgrade ");

    // Typed into connect: sent, echoed, shown.
    tmux.keys("connect", &["héllo there", "Enter"]);
    tmux.wait_for("connect", "< héllo there");
    tmux.wait_for("serve", " héllo there");
    tmux.keys("connect", &["/bin 00 ff 10", "Enter"]);
    tmux.wait_for("connect", "< /bin 00ff10");
    tmux.keys("connect", &["//slash", "Enter"]);
    tmux.wait_for("connect", "< /slash");
    tmux.keys("connect", &["/nonsense", "Enter"]);
    tmux.wait_for("connect", "unknown command /nonsense");

    // Typed into serve: to every session.
    tmux.keys("serve", &["to everyone", "Enter"]);
    tmux.wait_for("connect", "< to everyone");

    // Ctrl-D ends stdin: a clean close, exit 0, and the server sees it.
    tmux.keys("connect", &["C-d"]);
    let screen = tmux.wait_for("connect", "EXITED=");
    assert!(screen.contains("* close: client disconnect"), "{screen}");
    assert!(screen.contains("EXITED=0"), "{screen}");
    tmux.wait_for("serve", "client disconnect");

    // bench in a terminal shows its progress bar, then the figures.
    tmux.window(
        "bench",
        &format!("{bin} bench http://127.0.0.1:{port} -c 4 -d 3s"),
    );
    let during = tmux.wait_for("bench", "msg/s");
    assert!(during.contains("4/4 open"), "{during}");
    let after = tmux.wait_for("bench", "EXITED=");
    assert!(
        after.contains("latency") && after.contains("p99"),
        "{after}"
    );
    assert!(after.contains("EXITED=0"), "{after}");
}
