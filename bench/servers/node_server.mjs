// The official Node.js server as a benchmark contender: npm `engine.io` (pinned in the
// repository's package-lock.json) on `ws`, with `bufferutil` installed.
//
// Configured like every other contender: ping 25 s / 20 s, max payload 1,000,000,
// polling and websocket, no HTTP compression, no permessage-deflate, no CORS, no
// cookie, no logging. Every message is echoed as it came (text stays text, binary
// stays binary), except a text message starting with `broadcast:`, whose rest goes to
// every connected session.
//
//   node bench/servers/node_server.mjs [--port 0]
//
// Prints `listening on http://127.0.0.1:PORT` once it accepts connections.

import http from 'node:http';
import { Server } from 'engine.io';

let port = 0;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--port' && i + 1 < argv.length) {
    port = Number.parseInt(argv[++i], 10);
  } else {
    process.stderr.write(`usage: node node_server.mjs [--port N]\n`);
    process.exit(2);
  }
}

const httpServer = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});

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
  console.log(`listening on http://127.0.0.1:${httpServer.address().port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
