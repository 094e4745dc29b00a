// The official Node.js server as a benchmark contender: npm `engine.io` (pinned in the
// repository's package-lock.json) on `ws`, with `bufferutil` installed.
//
// Configured like every other contender: ping 25 s / 20 s, max payload 1,000,000,
// polling and websocket, no HTTP compression, no permessage-deflate, no CORS, no
// cookie, no logging. Every message is echoed as it came (text stays text, binary
// stays binary), except a text message starting with `broadcast:`, whose rest goes to
// every connected session.
//
//   node bench/servers/node_server.mjs [--port 0] [--tls-cert FILE --tls-key FILE]
//
// Prints `listening on http://127.0.0.1:PORT` once it accepts connections; with
// --tls-cert and --tls-key (PEM), engine.io is attached to a `node:https` server and
// it prints `listening on https://127.0.0.1:PORT`.

import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { Server } from 'engine.io';

const usage = 'usage: node node_server.mjs [--port N] [--tls-cert FILE --tls-key FILE]\n';
let port = 0;
let tlsCert = null;
let tlsKey = null;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const hasValue = i + 1 < argv.length;
  if (argv[i] === '--port' && hasValue) {
    port = Number.parseInt(argv[++i], 10);
  } else if (argv[i] === '--tls-cert' && hasValue) {
    tlsCert = argv[++i];
  } else if (argv[i] === '--tls-key' && hasValue) {
    tlsKey = argv[++i];
  } else {
    process.stderr.write(usage);
    process.exit(2);
  }
}
if (Boolean(tlsCert) !== Boolean(tlsKey)) {
  process.stderr.write(`--tls-cert and --tls-key go together\n${usage}`);
  process.exit(2);
}

const notFound = (req, res) => {
  res.writeHead(404);
  res.end();
};
const tls = Boolean(tlsCert);
const httpServer = tls
  ? https.createServer({ cert: fs.readFileSync(tlsCert), key: fs.readFileSync(tlsKey) }, notFound)
  : http.createServer(notFound);

const engine = new Server({
  pingInterval: 25000,
  pingTimeout: 20000,
  maxHttpBufferSize: 1e6,
  transports: ['polling', 'websocket'],
  httpCompression: false,
  perMessageDeflate: false,
  cookie: false,
});
engine.attach(httpServer, { path: '/engine.io/' });

engine.on('connection', (socket) => {
  socket.on('message', (data) => {
    if (typeof data === 'string' && data.startsWith('broadcast:')) {
      const rest = data.slice('broadcast:'.length);
      for (const id in engine.clients) {
        engine.clients[id].send(rest);
      }
    } else {
      socket.send(data);
    }
  });
});

httpServer.listen(port, '127.0.0.1', () => {
  console.log(`listening on ${tls ? 'https' : 'http'}://127.0.0.1:${httpServer.address().port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
