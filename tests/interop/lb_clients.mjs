// Many sessions of the official `engine.io-client` through a load balancer in front
// of several echo servers (scripts/test-load-balancers.sh).
//
// 1. Opens --sessions sessions at once; each sends --messages text messages and
//    checks that every echo comes back, in order. With polling and websocket, each
//    session must also complete the upgrade (the balancer passes WebSocket upgrades
//    to the server that holds the session).
// 2. Prints one line {"phase":"ready","sids":[...]} and, with --go-file, waits for
//    that file: it lists (one per line) the sids of a server that was killed.
// 3. Every session of the killed server must end (close event, with a reason); every
//    other session must still echo. Then --new-sessions fresh sessions must open and
//    echo (they land on the servers still alive).
//
// Usage:
//   node tests/interop/lb_clients.mjs http://127.0.0.1:PORT
//        [--sessions N] [--messages K] [--transports polling|polling,websocket]
//        [--cookies]            (withCredentials: keep cookies, as a browser does;
//                                needed behind a balancer that routes by cookie)
//        [--spread-addresses]   (session i connects from 127.0.x.1 with x varying, so
//                                that a balancer hashing client addresses (nginx
//                                ip_hash: the first three octets) spreads them)
//        [--go-file PATH] [--new-sessions M] [--timeout-ms MS]
//
// Prints {"ok":true,...} last and exits 0, or {"ok":false,"error":"..."} and exits 1.

import http from 'node:http';
import fs from 'node:fs';
import { Socket } from 'engine.io-client';

function parseArgs(argv) {
  const opts = {
    url: null,
    sessions: 100,
    messages: 3,
    transports: ['polling', 'websocket'],
    cookies: false,
    spread: false,
    goFile: null,
    newSessions: 0,
    timeoutMs: 60000,
  };
  const int = (v, name) => {
    const n = Number.parseInt(v, 10);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: expected a non-negative integer`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${arg}`);
      return argv[++i];
    };
    switch (arg) {
      case '--sessions': opts.sessions = int(value(), arg); break;
      case '--messages': opts.messages = int(value(), arg); break;
      case '--transports': opts.transports = value().split(',').filter(Boolean); break;
      case '--cookies': opts.cookies = true; break;
      case '--spread-addresses': opts.spread = true; break;
      case '--go-file': opts.goFile = value(); break;
      case '--new-sessions': opts.newSessions = int(value(), arg); break;
      case '--timeout-ms': opts.timeoutMs = int(value(), arg); break;
      default:
        if (arg.startsWith('--') || opts.url !== null) throw new Error(`unexpected argument: ${arg}`);
        opts.url = arg;
    }
  }
  if (opts.url === null) throw new Error('usage: lb_clients.mjs URL [--sessions N] ...');
  return opts;
}

let finished = false;
function finish(result) {
  if (finished) return;
  finished = true;
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(result.ok ? 0 : 1));
  setTimeout(() => process.exit(result.ok ? 0 : 1), 1000).unref();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One session: opens, echoes `messages` messages, upgrades if it may. Resolves with
// the session's record once all that is done.
function openSession(opts, index) {
  return new Promise((resolve, reject) => {
    const options = { transports: opts.transports, withCredentials: opts.cookies };
    if (opts.spread) {
      // 127.A.B.1: a different /24 for each session (up to 62,500 of them).
      const a = 1 + Math.floor(index / 250);
      const b = 1 + (index % 250);
      const localAddress = `127.${a}.${b}.1`;
      options.agent = new http.Agent({ localAddress });
      options.localAddress = localAddress;
    }
    const socket = new Socket(opts.url, options);
    const rec = {
      index,
      socket,
      sid: null,
      closed: null,
      pending: [], // echoes awaited, in order: {text, resolve, reject}
    };
    const mayUpgrade = opts.transports.includes('websocket') && opts.transports.includes('polling');
    let upgraded = !mayUpgrade;
    let echoed = false;
    const check = () => {
      if (echoed && upgraded) resolve(rec);
    };
    socket.on('open', async () => {
      rec.sid = socket.id;
      try {
        for (let k = 0; k < opts.messages; k++) await echo(rec, `s${index}-m${k}`);
        echoed = true;
        check();
      } catch (e) {
        reject(e);
      }
    });
    socket.on('upgrade', () => {
      upgraded = true;
      check();
    });
    socket.on('message', (data) => {
      const want = rec.pending.shift();
      if (!want) return reject(new Error(`session ${rec.sid}: unexpected message ${JSON.stringify(data)}`));
      if (data !== want.text) {
        want.reject(new Error(`session ${rec.sid}: got ${JSON.stringify(data)}, expected ${JSON.stringify(want.text)}`));
      } else {
        want.resolve();
      }
    });
    socket.on('close', (reason, description) => {
      rec.closed = { reason, at: Date.now(), description: description ? String(description.message || description) : '' };
      for (const p of rec.pending.splice(0)) p.reject(new Error(`session ${rec.sid}: closed (${reason})`));
      reject(new Error(`session ${rec.sid} (#${index}) closed before it was ready: ${reason}`));
    });
    socket.on('error', () => {}); // the close event follows
  });
}

function echo(rec, text) {
  return new Promise((resolve, reject) => {
    rec.pending.push({ text, resolve, reject });
    rec.socket.send(text);
  });
}

async function waitForFile(path, deadline) {
  while (!fs.existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`no ${path} in time`);
    await sleep(50);
  }
  return fs.readFileSync(path, 'utf8').split('\n').map((s) => s.trim()).filter(Boolean);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const deadline = Date.now() + opts.timeoutMs;
  setTimeout(() => finish({ ok: false, error: `timeout after ${opts.timeoutMs} ms` }), opts.timeoutMs).unref();

  const started = Date.now();
  const sessions = await Promise.all(
    Array.from({ length: opts.sessions }, (_, i) => openSession(opts, i)),
  );
  const transports = {};
  for (const s of sessions) {
    const name = s.socket.transport ? s.socket.transport.name : 'none';
    transports[name] = (transports[name] || 0) + 1;
  }
  const readyMs = Date.now() - started;
  process.stdout.write(
    JSON.stringify({ phase: 'ready', ms: readyMs, transports, sids: sessions.map((s) => s.sid) }) + '\n',
  );
  if (!opts.goFile) {
    for (const s of sessions) s.socket.close();
    finish({ ok: true, sessions: sessions.length, readyMs, transports });
    return;
  }

  // A server was killed: its sessions must end, the others must go on.
  const killed = new Set(await waitForFile(opts.goFile, deadline));
  const killedAt = Date.now();
  const doomed = sessions.filter((s) => killed.has(s.sid));
  const survivors = sessions.filter((s) => !killed.has(s.sid));
  for (const s of doomed) {
    while (!s.closed) {
      if (Date.now() > deadline) throw new Error(`session ${s.sid} of the killed server did not end`);
      await sleep(20);
    }
    if (!s.closed.reason) throw new Error(`session ${s.sid} ended without a reason`);
  }
  const reasons = {};
  for (const s of doomed) reasons[s.closed.reason] = (reasons[s.closed.reason] || 0) + 1;
  const endMs = Date.now() - killedAt;
  await Promise.all(
    survivors.map(async (s) => {
      if (s.closed) throw new Error(`session ${s.sid} of a live server ended: ${s.closed.reason}`);
      await echo(s, `after-${s.index}`);
    }),
  );
  // New sessions land on the servers still alive.
  const fresh = await Promise.all(
    Array.from({ length: opts.newSessions }, (_, i) => openSession(opts, opts.sessions + i)),
  );
  for (const s of fresh) {
    if (killed.has(s.sid)) throw new Error(`new session ${s.sid} on the killed server`);
  }
  for (const s of [...survivors, ...fresh]) s.socket.close();
  finish({
    ok: true,
    sessions: sessions.length,
    readyMs,
    transports,
    ended: doomed.length,
    reasons,
    endMs,
    survivors: survivors.length,
    fresh: fresh.map((s) => s.sid),
  });
}

main().catch((e) => finish({ ok: false, error: String(e && e.message ? e.message : e) }));
