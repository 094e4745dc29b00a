"""Interop client built on python-engineio's `Client` (PyPI, threading).

Runs with python-engineio 4.x (.venv, Engine.IO v4) and with 3.14 (.venv-v3,
Engine.IO v3), whose disconnect event carries no reason (`"reason": null`).

Connects to an Engine.IO echo server, sends a non-ASCII text message, a binary
message (bytes 0..=255) and a burst of N text messages, and checks that every
echo comes back exactly once, in order, with identical content and type. Then
closes the session (client side, or asks the server to close it with the text
`close-me`).

Usage:
  python tests/interop/python_client.py http://127.0.0.1:PORT
         [--transports polling|websocket|polling,websocket]  (default both)
         [--count N] [--close client|server] [--timeout S]
         [--max-decode-packets N]  (python-engineio refuses a polling payload of
                                    more packets; default: its own limit, 16)

Prints exactly one JSON line on stdout:
  {"ok": true, "transport": "websocket", "echoed": 102, "reason": "...",
   "library": "4.15.1"}
and exits 0, or {"ok": false, "error": "..."} and exits 1.
"""

import argparse
import json
import os
import sys
import threading
import time
from importlib.metadata import version

import engineio
import engineio.payload

TEXT = "héllo wörld € 😀 ✓"
BINARY = bytes(range(256))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--transports", default="polling,websocket")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--close", choices=["client", "server"], default="client")
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--max-decode-packets", type=int, default=None)
    args = ap.parse_args()
    if args.max_decode_packets is not None:
        engineio.payload.Payload.max_decode_packets = args.max_decode_packets

    expected = [TEXT, BINARY] + [f"msg {i}" for i in range(args.count)]
    received = []
    done = threading.Event()
    disconnected = threading.Event()
    state = {"reason": None, "error": None}
    lock = threading.Lock()

    eio = engineio.Client()

    @eio.on("message")
    def on_message(data):
        with lock:
            i = len(received)
            if i >= len(expected):
                state["error"] = f"unexpected extra message {data!r}"
                done.set()
                return
            want = expected[i]
            if type(data) is not type(want) or data != want:
                state["error"] = f"echo {i}: got {data!r}, want {want!r}"
                done.set()
                return
            received.append(data)
            if len(received) == len(expected):
                done.set()

    @eio.on("disconnect")
    def on_disconnect(reason=None):
        state["reason"] = str(reason) if reason is not None else None
        disconnected.set()

    transports = args.transports.split(",")
    eio.connect(args.url, transports=transports)
    # With an upgrade, let it complete before sending (python upgrades in the
    # background right after connect).
    if transports == ["polling", "websocket"]:
        deadline = time.time() + 5
        while eio.transport() != "websocket" and time.time() < deadline:
            time.sleep(0.01)
    eio.send(TEXT)
    eio.send(BINARY)
    for i in range(args.count):
        eio.send(f"msg {i}")
    if not done.wait(args.timeout):
        raise RuntimeError(f"only {len(received)} of {len(expected)} echoes arrived")
    if state["error"]:
        raise RuntimeError(state["error"])
    transport = eio.transport()
    if args.close == "client":
        eio.disconnect()
        eio.wait()
    else:
        eio.send("close-me")
        if not disconnected.wait(args.timeout):
            raise RuntimeError("the server's close was not seen")
        # No eio.wait() here: python-engineio 4.15.1's client sometimes leaves its
        # write loop waiting 30 s on a queue that _reset() replaced, after a server
        # close packet on a WebSocket. The disconnect event is what we test.
    print(json.dumps({"ok": True, "transport": transport, "echoed": len(received),
                      "reason": state["reason"],
                      "library": version("python-engineio")}), flush=True)
    os._exit(0)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - report anything as a failed run
        print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}), flush=True)
        sys.exit(1)
    sys.exit(0)
