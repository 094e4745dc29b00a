"""A minimal echo server on python-engineio (threading mode, simple-websocket).

Used as a reference peer for the Rust client's interop tests.

Usage:
  .venv/bin/python tests/interop/python_echo_server.py [--port 0] [--host 127.0.0.1]
       [--transports polling,websocket] [--ping-interval-ms 25000]
       [--ping-timeout-ms 20000] [--path engine.io]

Behaviour: every message is echoed back unchanged (text stays text, binary stays
binary); the text message `close-me` makes the server close that session instead.
Prints `listening on http://127.0.0.1:<port>` once listening, and
`close <sid> <reason>` when a session closes; exits when stdin is closed or on
SIGTERM / SIGINT.

The HTTP server is the standard library's wsgiref, one thread per connection. The
request handler exposes the raw socket as `werkzeug.socket`, which is where
simple-websocket looks for it, so that WebSocket upgrades work without Werkzeug.
"""

import argparse
import logging
import os
import signal
import socketserver
import sys
import threading
from wsgiref.handlers import SimpleHandler
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

import engineio


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--transports', default='polling,websocket')
    parser.add_argument('--ping-interval-ms', type=int, default=25000)
    parser.add_argument('--ping-timeout-ms', type=int, default=20000)
    parser.add_argument('--path', default='engine.io')
    return parser.parse_args()


class QuietServerHandler(ServerHandler):
    def handle_error(self):
        # After a WebSocket session the connection belongs to simple-websocket and
        # python-engineio ends the request with an exception on purpose: there is
        # no HTTP response left to write.
        if self.environ.get('HTTP_UPGRADE', '').lower() == 'websocket':
            self.close()
            return
        super().handle_error()

    def close(self):
        if self.status is None:
            # No response was started (a WebSocket): nothing to log.
            SimpleHandler.close(self)
            return
        super().close()


class RequestHandler(WSGIRequestHandler):
    def get_environ(self):
        environ = super().get_environ()
        environ['werkzeug.socket'] = self.connection
        return environ

    def log_message(self, format, *args):
        pass

    def handle(self):
        # wsgiref's handle(), with the handler above.
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.parse_request():
            return
        handler = QuietServerHandler(
            self.rfile, self.wfile, self.get_stderr(), self.get_environ(),
            multithread=True)
        handler.request_handler = self
        handler.run(self.server.get_app())


class ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    eio = engineio.Server(
        async_mode='threading',
        transports=[t for t in args.transports.split(',') if t],
        ping_interval=args.ping_interval_ms / 1000,
        ping_timeout=args.ping_timeout_ms / 1000,
        max_http_buffer_size=100_000_000,
        cors_allowed_origins='*',
    )

    @eio.on('message')
    def message(sid, data):
        if data == 'close-me':
            # disconnect() may block until the session's queue drains (a known
            # python-engineio behaviour); never block the handler on it.
            threading.Thread(target=eio.disconnect, args=(sid,), daemon=True).start()
            return
        eio.send(sid, data)

    @eio.on('disconnect')
    def disconnect(sid, reason):
        print(f'close {sid} {reason}', flush=True)

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
