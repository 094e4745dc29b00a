"""An Engine.IO v3 echo server on python-engineio 3.14 (threading mode).

Run with the interpreter of .venv-v3 (requirements-test-v3.txt). The v3 counterpart of
python_echo_server.py, whose wsgiref server classes it reuses; a reference peer for
clients speaking Engine.IO v3.

Usage:
  .venv-v3/bin/python tests/interop/python_v3_echo_server.py [--port 0] [--host 127.0.0.1]
       [--ping-interval-ms 25000] [--ping-timeout-ms 20000] [--path engine.io]

Behaviour: every message is echoed back unchanged (text stays text, binary stays
binary); the text message `close-me` makes the server close that session instead.
Prints `listening on http://127.0.0.1:<port>` once listening, and `close <sid>` when
a session closes (python-engineio 3.x gives no reason); exits when stdin is closed or
on SIGTERM / SIGINT.

python-engineio 3.x has no WebSocket in threading mode (only under eventlet or
gevent). The shim below plugs simple-websocket into its `websocket` slot, the way the
threading driver of python-engineio 4.x does, so that WebSocket and the upgrade work
on the same plain-threads server as the v4 peer.
"""

import argparse
import logging
import os
import signal
import sys
import threading

import engineio
import simple_websocket
from engineio import payload
from engineio.async_drivers import threading as threading_driver

# tests/interop is this script's directory, so the v4 peer's module is importable.
from python_echo_server import RequestHandler, ThreadingServer


class SimpleWebSocketWSGI:
    """What python-engineio 3.x expects of `_async['websocket']`: built with the
    session's handler, called as a WSGI app, then `wait()` (None once closed),
    `send()` and `close()` for that handler."""

    def __init__(self, handler):
        self.handler = handler
        self.ws = None

    def __call__(self, environ, start_response):
        self.ws = simple_websocket.Server(environ)
        try:
            return self.handler(self)
        finally:
            self.ws.close()

    def wait(self):
        try:
            return self.ws.receive()
        except simple_websocket.ConnectionClosed:
            return None

    def send(self, message):
        try:
            self.ws.send(message)
        except simple_websocket.ConnectionClosed:
            raise IOError('websocket closed')

    def close(self):
        self.ws.close()


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--ping-interval-ms', type=int, default=25000)
    parser.add_argument('--ping-timeout-ms', type=int, default=20000)
    parser.add_argument('--path', default='engine.io')
    return parser.parse_args()


def main():
    args = parse_args()
    if not engineio.__version__.startswith('3.'):
        sys.exit(f'python_v3_echo_server: needs python-engineio 3.x, found '
                 f'{engineio.__version__} (use .venv-v3/bin/python)')
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    threading_driver._async['websocket'] = SimpleWebSocketWSGI
    # 3.14 refuses a POST of more than 16 packets ("Too many packets in payload"),
    # and a burst of messages travels in one POST. The documented knob:
    payload.Payload.max_decode_packets = 1000
    eio = engineio.Server(
        async_mode='threading',
        ping_interval=args.ping_interval_ms / 1000,
        ping_timeout=args.ping_timeout_ms / 1000,
        max_http_buffer_size=100_000_000,
        cors_allowed_origins='*',
    )

    @eio.on('message')
    def message(sid, data):
        if data == 'close-me':
            threading.Thread(target=eio.disconnect, args=(sid,), daemon=True).start()
            return
        eio.send(sid, data)

    @eio.on('disconnect')
    def disconnect(sid):
        print(f'close {sid}', flush=True)

    app = engineio.WSGIApp(eio, engineio_path=args.path)
    httpd = ThreadingServer((args.host, args.port), RequestHandler)
    httpd.set_app(app)
    port = httpd.server_address[1]
    print(f'listening on http://{args.host}:{port}', flush=True)

    def stop(*_):
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def watch_stdin():
        try:
            while sys.stdin.read(1024):
                pass
        except Exception:
            pass
        stop()

    threading.Thread(target=watch_stdin, daemon=True).start()
    httpd.serve_forever()


if __name__ == '__main__':
    main()
