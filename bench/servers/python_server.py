"""python-engineio in threading mode as a benchmark contender.

Served by Werkzeug's threaded WSGI server (one thread per connection, HTTP/1.1
keep-alive), the server python-engineio's threading mode documents, with
simple-websocket for the WebSocket transport.

Configured like every other contender: ping 25 s / 20 s, max payload 1,000,000,
polling and websocket, no HTTP compression, no CORS, no cookie, logging off. Every
message is echoed as it came (text stays text, binary stays binary), except a text
message starting with ``broadcast:``, whose rest goes to every connected session.

    bench/.venv/bin/python bench/servers/python_server.py [--port 0]

Prints ``listening on http://127.0.0.1:PORT`` once it accepts connections.
"""

import argparse
import logging

import engineio
from werkzeug.serving import WSGIRequestHandler, make_server


class QuietHandler(WSGIRequestHandler):
    # HTTP/1.1 for keep-alive, as the other contenders speak it.
    protocol_version = "HTTP/1.1"

    def log_request(self, *args, **kwargs):
        pass

    def log(self, *args, **kwargs):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    port = parser.parse_args().port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    eio = engineio.Server(
        async_mode="threading",
        ping_interval=25,
        ping_timeout=20,
        max_http_buffer_size=1_000_000,
        transports=["polling", "websocket"],
        http_compression=False,
        cors_allowed_origins=[],
        cookie=None,
        logger=False,
        engineio_logger=False,
    )

    @eio.on("message")
    def message(sid, data):
        if isinstance(data, str) and data.startswith("broadcast:"):
            rest = data[len("broadcast:"):]
            for other in list(eio.sockets):
                try:
                    eio.send(other, rest)
                except Exception:
                    pass
        else:
            eio.send(sid, data)

    app = engineio.WSGIApp(eio)
    server = make_server(
        "127.0.0.1", port, app, threaded=True, request_handler=QuietHandler
    )
    print(f"listening on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
