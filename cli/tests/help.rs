//! Every subcommand documents its flags and exit codes in `--help`.

mod support;

use std::time::Duration;

#[test]
fn every_subcommand_documents_its_exit_codes() {
    let t = Duration::from_secs(10);
    let (code, out, _) = support::run(&["--help"], "", t);
    assert_eq!(code, 0);
    for sub in ["connect", "serve", "probe", "bench"] {
        assert!(out.contains(sub), "{out}");
    }
    let cases: [(&str, &[&str]); 4] = [
        (
            "connect",
            &[
                "--json",
                "--transports",
                "--eio",
                "--ca",
                "--insecure",
                "--proxy",
                "--count",
                "--wait",
                "/bin HEX",
                "Exit status",
                "5  --wait",
            ],
        ),
        (
            "serve",
            &[
                "--addr",
                "--ping-interval",
                "--cors-origin",
                "--static",
                "--broadcast",
                "--json",
                "TLS",
                "Exit status",
            ],
        ),
        (
            "probe",
            &[
                "--origin",
                "--pings",
                "--json",
                "sticky",
                "Exit status",
                "3  sessions open",
            ],
        ),
        (
            "bench",
            &[
                "--connections",
                "--rate",
                "--duration",
                "--transport",
                "coordinated omission",
                "wss://",
                "--ca",
                "--insecure",
                "Exit status",
            ],
        ),
    ];
    for (sub, needles) in cases {
        let (code, out, _) = support::run(&[sub, "--help"], "", t);
        assert_eq!(code, 0, "{sub}");
        for n in needles {
            assert!(
                out.contains(n),
                "`engineio {sub} --help` does not mention {n:?}:\n{out}"
            );
        }
    }
    // A bad command line exits 2.
    let (code, _, err) = support::run(&["connect"], "", t);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = support::run(&["frobnicate"], "", t);
    assert_eq!(code, 2);
}
