// The three transports side by side on one gateway binary: server memory per
// idle joined session, and server CPU per delivered message in a fan-out, for
// WebSocket, long-polling and Server-Sent Events (docs/protocol.md). Each
// measurement starts a fresh gateway; the figures come from /proc of the
// gateway's process, so a slower client changes the rate, not the figure.
//
//   node bench/transports.mjs [--gateway=build/release/gateway/parley-gateway]
//        [--sessions=2000] [--members=200] [--rate=20] [--duration=10] [--runs=1]
//        [--transports=websocket,longpoll,sse] [--only=memory,fanout]
//
// Needs tests/js/node_modules (`bash scripts/deps.sh --test`) for `ws`.
// Prints one markdown table per measurement. Not a test: nothing is asserted.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WebSocket = createRequire(path.join(root, 'tests/js/package.json'))('ws');

const args = Object.fromEntries(process.argv.slice(2).map((a) => {
  const m = /^--([\w-]+)=(.*)$/.exec(a);
  if (!m)
    throw new Error(`bad argument '${a}' (expected --name=value)`);
  return [m[1], m[2]];
}));
const gatewayBin = args.gateway ?? path.join(root, 'build/release/gateway/parley-gateway');
const sessions = Number(args.sessions ?? 2000);
const members = Number(args.members ?? 200);
const rate = Number(args.rate ?? 20);
const duration = Number(args.duration ?? 10);
const runs = Number(args.runs ?? 1);
const transports = (args.transports ?? 'websocket,longpoll,sse').split(',');
const only = args.only ?? 'memory,fanout'; // which measurements

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tick = 100; // USER_HZ on Linux

function procStat(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return { utime: Number(fields[11]) / tick, stime: Number(fields[12]) / tick };
}

function rssKiB(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

async function startGateway() {
  const child = spawn(gatewayBin, ['--port=0', '--store=memory', '--auth=none', '--public-metrics',
                                   '--max-connections=20000', '--max-connections-per-address=0',
                                   '--rate-limit=1000000', '--rate-burst=1000000', '--log-level=warn'],
                      { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8');
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line: ${err}`)), 15000);
    child.stderr.on('data', (c) => {
      err += c;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  return { child, pid: child.pid, url: `http://127.0.0.1:${port}`,
           stop: () => new Promise((r) => { child.once('exit', r); child.kill('SIGKILL'); }) };
}

async function heapLive(gw) {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  return Number(/\nparley_heap_live_bytes(?:\{[^}]*\})? (\S+)/.exec(text)?.[1] ?? NaN);
}

// -- one client of each kind: joins `room`, counts messages, stays idle otherwise ----

async function wsClient(gw, user, room, onMessage) {
  const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/ws`);
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let joined;
  const ready = new Promise((r) => { joined = r; });
  ws.on('message', (data) => {
    const f = JSON.parse(data.toString());
    if (f.ref === 'j')
      joined();
    else if (f.message)
      onMessage(f.message);
  });
  ws.send(JSON.stringify({ ref: 'h', hello: { user } }));
  ws.send(JSON.stringify({ ref: 'j', join: { room } }));
  await ready;
  return { send: (f) => ws.send(JSON.stringify(f)), close: () => ws.terminate() };
}

async function httpClient(gw, user, room, onMessage, sse) {
  const open = await (await fetch(`${gw.url}/v1/sessions`, { method: 'POST' })).json();
  const base = `${gw.url}/v1/sessions/${open.session}`;
  const headers = { 'X-Parley-Key': open.key, 'Content-Type': 'application/json' };
  let joined;
  const ready = new Promise((r) => { joined = r; });
  const ac = new AbortController();
  const handle = (f) => {
    if (f.ref === 'j')
      joined();
    else if (f.message)
      onMessage(f.message);
  };
  await fetch(`${base}/send`, { method: 'POST', headers,
    body: JSON.stringify([{ ref: 'h', hello: { user } }, { ref: 'j', join: { room } }]) });
  if (sse) {
    (async () => {
      const r = await fetch(`${base}/events`, { headers, signal: ac.signal });
      let buf = '';
      const dec = new TextDecoder();
      for await (const chunk of r.body) {
        buf += dec.decode(chunk, { stream: true });
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const ev = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const data = /^data: (.*)$/m.exec(ev)?.[1];
          if (data)
            handle(JSON.parse(data));
        }
      }
    })().catch(() => {});
  } else {
    (async () => {
      let ack = 0;
      while (!ac.signal.aborted) {
        const r = await fetch(`${base}/poll?ack=${ack}`, { headers, signal: ac.signal });
        const b = await r.json();
        b.frames.forEach(handle);
        ack = b.last;
        if (b.close)
          return;
      }
    })().catch(() => {});
  }
  await ready;
  return {
    send: (f) => fetch(`${base}/send`, { method: 'POST', headers, body: JSON.stringify(f) }),
    close: () => ac.abort(),
  };
}

function client(kind, gw, user, room, onMessage) {
  if (kind === 'websocket')
    return wsClient(gw, user, room, onMessage);
  return httpClient(gw, user, room, onMessage, kind === 'sse');
}

async function inBatches(n, size, make) {
  const out = [];
  for (let i = 0; i < n; i += size) {
    const batch = [];
    for (let k = i; k < Math.min(n, i + size); ++k)
      batch.push(make(k));
    out.push(...await Promise.all(batch));
  }
  return out;
}

// -- memory per idle joined session ----------------------------------------------------

async function memory(kind) {
  const gw = await startGateway();
  try {
    await sleep(500);
    const rss0 = rssKiB(gw.pid);
    const heap0 = await heapLive(gw);
    const clients = await inBatches(sessions, 100, (i) => client(kind, gw, `u${i}`, `idle-${i % 100}`, () => {}));
    await sleep(3000); // presence settles
    const rss1 = rssKiB(gw.pid);
    const heap1 = await heapLive(gw);
    clients.forEach((c) => c.close());
    return { rss: ((rss1 - rss0) * 1024) / sessions, heap: (heap1 - heap0) / sessions };
  } finally {
    await gw.stop();
  }
}

// -- CPU per delivered message in a fan-out ---------------------------------------------

async function fanout(kind) {
  const gw = await startGateway();
  try {
    let delivered = 0;
    await inBatches(members, 50, (i) => client(kind, gw, `m${i}`, 'fan', () => { ++delivered; }));
    const pub = await wsClient(gw, 'publisher', 'fan', () => {});
    await sleep(1500);
    delivered = 0;
    const t0 = procStat(gw.pid);
    const total = Math.round(rate * duration);
    const started = Date.now();
    for (let i = 0; i < total; ++i) {
      pub.send({ ref: `p${i}`, publish: { room: 'fan', text: `message ${i}` } });
      const due = started + ((i + 1) * 1000) / rate;
      await sleep(Math.max(0, due - Date.now()));
    }
    const expected = total * members;
    const deadline = Date.now() + 10_000;
    while (delivered < expected && Date.now() < deadline)
      await sleep(50);
    const t1 = procStat(gw.pid);
    const user = t1.utime - t0.utime;
    const sys = t1.stime - t0.stime;
    return { delivered, expected, user_us: (user * 1e6) / delivered, sys_us: (sys * 1e6) / delivered,
             total_us: ((user + sys) * 1e6) / delivered };
  } finally {
    await gw.stop();
  }
}

const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

console.log(`gateway: ${gatewayBin}`);
if (only.includes('memory')) {
console.log(`\n### Memory per idle joined session (${sessions} sessions, 100 rooms)\n`);
console.log('| transport | run | RSS per session (bytes) | live heap per session (bytes) |');
console.log('|---|---:|---:|---:|');
for (let run = 1; run <= runs; ++run)
  for (const kind of transports) {
    const m = await memory(kind);
    console.log(`| ${kind} | ${run} | ${fmt(m.rss)} | ${fmt(m.heap)} |`);
  }
}
if (only.includes('fanout')) {
console.log(`\n### Fan-out: 1 room, ${members} members, ${rate} messages/s for ${duration} s\n`);
console.log('| transport | run | delivered / expected | server user CPU per delivery (µs) | system (µs) | total (µs) |');
console.log('|---|---:|---:|---:|---:|---:|');
for (let run = 1; run <= runs; ++run)
  for (const kind of transports) {
    const f = await fanout(kind);
    console.log(`| ${kind} | ${run} | ${f.delivered} / ${f.expected} | ${fmt(f.user_us, 2)} | ${fmt(f.sys_us, 2)} | ${fmt(f.total_us, 2)} |`);
  }
}
process.exit(0);
