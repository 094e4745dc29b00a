// A minimal echo server built on the official `engine.io` npm package.
//
// Used to validate tests/interop/node_client.mjs against the reference
// implementation, and as a reference peer for the Rust client.
//
// Usage:
//   node tests/interop/node_echo_server.mjs [--port 0] [--host 127.0.0.1]
//        [--transports polling,websocket] [--ping-interval-ms 25000]
//        [--ping-timeout-ms 20000] [--path /engine.io/]
//        [--tls-cert cert.pem --tls-key key.pem]   (serve https/wss; prints https://)
//        [--tls-ca ca.pem]   (with TLS: require a client certificate signed by this CA)
//        [--eio3]   (run engine.io 3.x, the npm alias engine.io-v3: Engine.IO v3)
//
// Behaviour: every message is echoed back unchanged (text stays text, binary
// stays binary); the text message `close-me` makes the server close that
// session instead. Prints `listening on http://127.0.0.1:<port>` once
// listening, and `close <sid> <reason>` when a session closes; exits on SIGTERM /
// SIGINT or when stdin is closed.

import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { Server as ServerV4 } from 'engine.io';
import engineV3 from 'engine.io-v3';

function parseArgs(argv) {
  const opts = {
    port: 0,
    host: '127.0.0.1',
    transports: ['polling', 'websocket'],
    pingInterval: 25000,
    pingTimeout: 20000,
    path: '/engine.io/',
    tlsCert: null,
    tlsKey: null,
    tlsCa: null,
    eio3: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`missing value for ${arg}`);
      return argv[++i];
    };
    switch (arg) {
      case '--port': opts.port = toInt(arg, value()); break;
      case '--host': opts.host = value(); break;
      case '--transports': opts.transports = value().split(',').map((t) => t.trim()).filter(Boolean); break;
      case '--ping-interval-ms': opts.pingInterval = toInt(arg, value()); break;
      case '--ping-timeout-ms': opts.pingTimeout = toInt(arg, value()); break;
      case '--path': opts.path = value(); break;
      case '--tls-cert': opts.tlsCert = value(); break;
      case '--tls-key': opts.tlsKey = value(); break;
      case '--tls-ca': opts.tlsCa = value(); break;
      case '--eio3': opts.eio3 = true; break;
      default: fail(`unknown argument: ${arg}`);
    }
  }
  return opts;
}

function toInt(name, s) {
  const n = Number.parseInt(s, 10);
  if (!Number.isFinite(n) || n < 0) fail(`${name}: not a non-negative integer: ${s}`);
  return n;
}

function fail(msg) {
  process.stderr.write(`node_echo_server: ${msg}\n`);
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));

function notFound(req, res) {
  // engine.io handles its own path; anything else is a 404.
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found\n');
}

const tls = Boolean(opts.tlsCert && opts.tlsKey);
if (opts.tlsCa && !tls) fail('--tls-ca needs --tls-cert and --tls-key');
const tlsOptions = { cert: opts.tlsCert && fs.readFileSync(opts.tlsCert), key: opts.tlsKey && fs.readFileSync(opts.tlsKey) };
if (opts.tlsCa) {
  // Mutual TLS: the handshake fails without a client certificate signed by this CA.
  Object.assign(tlsOptions, { ca: fs.readFileSync(opts.tlsCa), requestCert: true, rejectUnauthorized: true });
}
const httpServer = tls ? https.createServer(tlsOptions, notFound) : http.createServer(notFound);
if (tls) {
  httpServer.on('tlsClientError', (err) => {
    process.stderr.write(`node_echo_server: TLS client error: ${err.code || ''} ${err.message}\n`);
  });
}

// engine.io 3.x is CommonJS; its module object carries the Server class.
const Server = opts.eio3 ? engineV3.Server : ServerV4;
const engine = new Server({
  transports: opts.transports,
  pingInterval: opts.pingInterval,
  pingTimeout: opts.pingTimeout,
  maxHttpBufferSize: 1e8,
});
engine.attach(httpServer, { path: opts.path });

engine.on('connection', (socket) => {
  socket.on('message', (data) => {
    if (data === 'close-me') {
      socket.close();
      return;
    }
    socket.send(data);
  });
  // Tests read the reason the reference server gives for each closed session.
  socket.on('close', (reason, description) => {
    if (description) {
      process.stderr.write(`close ${socket.id}: ${description.message || description}\n`);
    }
    process.stdout.write(`close ${socket.id} ${reason}\n`);
  });
  socket.on('error', (err) => {
    process.stderr.write(`node_echo_server: socket ${socket.id} error: ${err && err.message}\n`);
  });
});

engine.on('connection_error', (err) => {
  process.stderr.write(`node_echo_server: connection error: ${err.code} ${err.message}\n`);
});

let shuttingDown = false;
function shutdown(code) {
  if (shuttingDown) return;
  shuttingDown = true;
  try { engine.close(); } catch { /* ignore */ }
  httpServer.close();
  // Do not wait for lingering keep-alive connections.
  setTimeout(() => process.exit(code), 50).unref();
  process.exitCode = code;
}

process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
process.stdin.on('end', () => shutdown(0));
process.stdin.on('close', () => shutdown(0));
process.stdin.on('error', () => shutdown(0));
process.stdin.resume();

httpServer.on('error', (err) => {
  process.stderr.write(`node_echo_server: ${err.message}\n`);
  process.exit(1);
});

httpServer.listen(opts.port, opts.host, () => {
  const { port } = httpServer.address();
  process.stdout.write(`listening on ${tls ? 'https' : 'http'}://${opts.host}:${port}\n`);
});
