// Interop client built on the official `engine.io-client` npm package.
//
// Connects to an Engine.IO echo server, sends a non-ASCII text message, a
// binary message (bytes 0..=255) and a burst of N text messages, and checks
// that every echo comes back exactly once, in order, with identical content
// and type (text stays text, binary stays binary). Then closes the session
// (client side, or asks the server to close it with the text `close-me`).
//
// Usage:
//   node tests/interop/node_client.mjs http://127.0.0.1:PORT
//        [--transports polling|websocket|polling,websocket]  (default polling,websocket)
//        [--count N]                 (default 100)
//        [--expect-upgrade]          (fail unless the session ends on websocket)
//        [--close client|server]     (default client)
//        [--path /engine.io/]        (default /engine.io/)
//        [--timeout-ms MS]           (overall deadline, default 20000)
//        [--eio3]                    (use engine.io-client 3.x, the npm alias
//                                     engine.io-client-v3, which speaks Engine.IO v3)
//        [--hold-ms MS]              (keep the session open MS ms after the echoes,
//                                     so that heartbeats run; default 0)
//        [--force-base64]            (the client's forceBase64 option: binary travels
//                                     as base64 text; with --eio3, v3's b64 polling)
//
// Prints exactly one JSON line on stdout:
//   {"ok":true,"transport":"websocket","eio":4,"pongs":0,"echoed":102,"closeReason":"forced close"}
// and exits 0, or {"ok":false,"error":"..."} and exits 1.

import { Socket as SocketV4 } from 'engine.io-client';
import clientV3 from 'engine.io-client-v3';

// engine.io-client 3.x is CommonJS: its module object is the `eio()` function, with
// the Socket class as a property.
const SocketV3 = clientV3.Socket;

const TEXT = 'héllo wörld € 😀 ✓';
const BINARY = Uint8Array.from({ length: 256 }, (_, i) => i);

let finished = false;
function finish(result) {
  if (finished) return;
  finished = true;
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(result.ok ? 0 : 1));
  // In case the write callback never fires.
  setTimeout(() => process.exit(result.ok ? 0 : 1), 1000).unref();
}
function failWith(error) {
  finish({ ok: false, error: String(error) });
}

function parseArgs(argv) {
  const opts = {
    url: null,
    transports: ['polling', 'websocket'],
    count: 100,
    expectUpgrade: false,
    close: 'client',
    path: '/engine.io/',
    timeoutMs: 20000,
    eio3: false,
    forceBase64: false,
    holdMs: 0,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${arg}`);
      return argv[++i];
    };
    switch (arg) {
      case '--transports': {
        opts.transports = value().split(',').map((t) => t.trim()).filter(Boolean);
        for (const t of opts.transports) {
          if (t !== 'polling' && t !== 'websocket') throw new Error(`unknown transport: ${t}`);
        }
        if (opts.transports.length === 0) throw new Error('--transports: empty list');
        break;
      }
      case '--count': {
        const n = Number.parseInt(value(), 10);
        if (!Number.isInteger(n) || n < 0) throw new Error('--count: expected a non-negative integer');
        opts.count = n;
        break;
      }
      case '--expect-upgrade': opts.expectUpgrade = true; break;
      case '--close': {
        const c = value();
        if (c !== 'client' && c !== 'server') throw new Error(`--close: expected client or server, got ${c}`);
        opts.close = c;
        break;
      }
      case '--path': opts.path = value(); break;
      case '--eio3': opts.eio3 = true; break;
      case '--force-base64': opts.forceBase64 = true; break;
      case '--hold-ms': {
        const n = Number.parseInt(value(), 10);
        if (!Number.isInteger(n) || n < 0) throw new Error('--hold-ms: expected a non-negative integer');
        opts.holdMs = n;
        break;
      }
      case '--timeout-ms': {
        const n = Number.parseInt(value(), 10);
        if (!Number.isInteger(n) || n <= 0) throw new Error('--timeout-ms: expected a positive integer');
        opts.timeoutMs = n;
        break;
      }
      default:
        if (arg.startsWith('--')) throw new Error(`unknown flag: ${arg}`);
        if (opts.url !== null) throw new Error(`unexpected argument: ${arg}`);
        opts.url = arg;
    }
  }
  if (opts.expectUpgrade && !(opts.transports.length > 1 && opts.transports.includes('websocket'))) {
    throw new Error('--expect-upgrade needs --transports polling,websocket');
  }
  if (opts.url === null) throw new Error('usage: node_client.mjs URL [--transports ...] [--count N] [--expect-upgrade] [--close client|server]');
  return opts;
}

// Returns the bytes of a binary message, or null if `data` is not binary.
function binaryBytes(data) {
  if (Buffer.isBuffer(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function describe(data) {
  if (typeof data === 'string') {
    return JSON.stringify(data.length > 60 ? data.slice(0, 60) + '…' : data);
  }
  const bytes = binaryBytes(data);
  if (bytes) return `<binary ${bytes.length} bytes>`;
  return `<${Object.prototype.toString.call(data)}>`;
}

function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    failWith(err.message);
    return;
  }

  setTimeout(() => {
    failWith(`timeout after ${opts.timeoutMs} ms (state: ${state()})`);
  }, opts.timeoutMs).unref();
  // Keep the process alive until we decide (the deadline timer is unref'd).
  const keepAlive = setInterval(() => {}, 1 << 30);

  // The expected echoes, in order.
  const expected = [{ text: TEXT }, { binary: BINARY }];
  for (let i = 0; i < opts.count; i++) expected.push({ text: `msg-${i}` });

  let received = 0;
  let upgraded = false;
  let opened = false;
  let closing = false; // we initiated (or requested) the close
  let echoesDone = false;
  // socket.transport may be cleared on close; remember the last one seen.
  let lastTransport = 'none';
  // The EIO query parameter the client sent: the protocol revision it speaks.
  let eio = null;
  // Heartbeats completed: a pong received (v3: the client pings) or a ping
  // answered (v4: the server pings; the client emits 'pong' after answering).
  let pongs = 0;
  let held = false;

  const state = () =>
    `opened=${opened} echoed=${received}/${expected.length} upgraded=${upgraded} ` +
    `transport=${socket && socket.transport ? socket.transport.name : 'none'} closing=${closing}`;

  const Socket = opts.eio3 ? SocketV3 : SocketV4;
  const socket = new Socket(opts.url, {
    transports: opts.transports,
    path: opts.path,
    upgrade: true,
    forceBase64: opts.forceBase64,
  });

  const maybeClose = () => {
    if (closing || !echoesDone) return;
    if (opts.expectUpgrade && !upgraded) return; // wait for the upgrade event
    if (opts.holdMs > 0) {
      // Hold the session open once, for holdMs, whoever calls first; calls during the
      // hold wait for the timer (the echoes and the upgrade both call).
      if (held === false) {
        held = Date.now() + opts.holdMs;
        setTimeout(maybeClose, opts.holdMs);
        return;
      }
      // A timer may fire a millisecond before Date.now() reaches `held`: wait the rest.
      if (Date.now() < held) {
        setTimeout(maybeClose, held - Date.now() + 1);
        return;
      }
    }
    const transport = socket.transport ? socket.transport.name : 'none';
    lastTransport = transport;
    if (opts.expectUpgrade && transport !== 'websocket') {
      failWith(`expected the final transport to be websocket, got ${transport}`);
      return;
    }
    closing = true;
    if (opts.close === 'client') {
      socket.close();
    } else {
      socket.send('close-me');
    }
  };

  socket.on('open', () => {
    opened = true;
    eio = socket.transport && socket.transport.query ? Number(socket.transport.query.EIO) : null;
    socket.send(TEXT);
    socket.send(BINARY);
    for (let i = 0; i < opts.count; i++) socket.send(`msg-${i}`);
  });

  socket.on('pong', () => { pongs++; });

  socket.on('upgrade', (transport) => {
    upgraded = true;
    if (transport && transport.name !== 'websocket') {
      failWith(`upgraded to unexpected transport ${transport.name}`);
      return;
    }
    // engine.io-client emits `upgrade` while its `upgrading` flag is still set;
    // a close() issued from inside this handler would wait for another upgrade
    // that never comes. Act once the upgrade has completed.
    setImmediate(maybeClose);
  });

  socket.on('message', (data) => {
    if (closing && opts.close === 'server') {
      failWith(`unexpected message after close-me: ${describe(data)}`);
      return;
    }
    if (received >= expected.length) {
      failWith(`unexpected extra message #${received}: ${describe(data)}`);
      return;
    }
    const want = expected[received];
    if (want.text !== undefined) {
      if (typeof data !== 'string') {
        failWith(`message #${received}: expected text ${describe(want.text)}, got ${describe(data)}`);
        return;
      }
      if (data !== want.text) {
        failWith(`message #${received}: expected ${describe(want.text)}, got ${describe(data)} (duplicate, lost or reordered message?)`);
        return;
      }
    } else {
      const bytes = binaryBytes(data);
      if (bytes === null) {
        failWith(`message #${received}: expected binary, got ${describe(data)}`);
        return;
      }
      if (!sameBytes(bytes, want.binary)) {
        failWith(`message #${received}: binary content differs (got ${bytes.length} bytes, first ${Array.from(bytes.slice(0, 8)).join(',')})`);
        return;
      }
    }
    received++;
    if (received === expected.length) {
      echoesDone = true;
      maybeClose();
    }
  });

  socket.on('error', (err) => {
    failWith(`socket error: ${err && err.message ? err.message : err} (${state()})`);
  });

  socket.on('close', (reason, details) => {
    clearInterval(keepAlive);
    if (!closing) {
      const extra = details && details.description ? ` (${details.description.message || details.description})` : '';
      failWith(`session closed unexpectedly: ${reason}${extra} (${state()})`);
      return;
    }
    const result = {
      ok: true,
      transport: lastTransport,
      eio,
      pongs,
      echoed: received,
      closeReason: reason,
    };
    // Over polling the client's close packet travels in a POST that is still in
    // flight when 'close' fires: give it time to reach the server before exiting.
    setTimeout(() => finish(result), 300);
  });

}

process.on('uncaughtException', (err) => failWith(`uncaught exception: ${err && err.stack ? err.stack : err}`));
process.on('unhandledRejection', (err) => failWith(`unhandled rejection: ${err}`));

main();
