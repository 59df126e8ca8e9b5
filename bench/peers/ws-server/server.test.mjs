// Proves that the Node `ws` peer (server.mjs) speaks Parley's JSON protocol
// for what parley-bench uses: hello, join with the backlog and sinceSeq,
// publish and its fan-out, leave, ping, rooms, and errors, every frame
// checked against the shapes of docs/protocol.md (lowerCamelCase, 64-bit
// integers as strings, defaults omitted), as tests/js/interop.test.mjs checks
// parley-gateway's.
//
//   node --test bench/peers/ws-server/server.test.mjs
//
// Every wait is bounded and ends on an event (a frame, a close, an exit).
// About 500 lines: one server started once, every request kind checked.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { describe, test, before, after } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const server_js = path.join(here, 'server.mjs');

/// Imports an npm package from this directory's node_modules, failing (not
/// skipping) with the command that installs it.
async function need(name) {
  try {
    return (await import(name)).default;
  } catch (e) {
    if (e.code === 'ERR_MODULE_NOT_FOUND')
      throw new Error(`the npm package '${name}' is missing from bench/peers/ws-server/node_modules: `
                      + "run 'bash scripts/deps.sh --test' (or 'npm ci' in bench/peers/ws-server)",
                      { cause: e });
    throw e;
  }
}

const WebSocket = await need('ws');

/// What one wait for a frame, an open, a close or an exit may take.
const wait_ms = 5_000;
/// What one test may take, all waits included.
const test_ms = 20_000;

// -- the server process -------------------------------------------------------------

/// Starts `node server.mjs --port=0 ...args`; resolves once it prints its
/// listening line, to { wsUrl, child, stderr(), exited, stop() }.
function startPeer(args = []) {
  const child = spawn(process.execPath, [server_js, '--port=0', ...args],
                      { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8');
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null)
      child.kill('SIGTERM');
    const late = setTimeout(() => child.kill('SIGKILL'), wait_ms);
    const result = await exited;
    clearTimeout(late);
    return result;
  };
  return within(wait_ms, new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      err += chunk;
      const m = /^ws-server listening on (127\.0\.0\.1):(\d+)$/m.exec(err);
      if (m)
        resolve({ wsUrl: `ws://${m[1]}:${m[2]}/ws`, child, exited, stop, stderr: () => err });
    });
    exited.then(({ code, signal }) =>
      reject(new Error(`server.mjs exited before listening (code ${code}, signal ${signal}):\n${err}`)));
  }), 'the listening line').catch((e) => { child.kill('SIGKILL'); throw e; });
}

/// Runs server.mjs with `args` to its end; resolves to { code, stderr }.
async function runPeer(args) {
  const child = spawn(process.execPath, [server_js, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c) => { stderr += c; });
  const [code] = await within(wait_ms, once(child, 'exit'), 'server.mjs to exit')
    .catch((e) => { child.kill('SIGKILL'); throw e; });
  return { code, stderr };
}

// -- the JSON mapping of the frames the server sends ---------------------------------

// The subset of parley.v1's ServerFrame that the peer sends, in the JSON
// mapping: each field's JSON type, or the name of a nested message.
const schema = {
  ServerFrame: { ref: 'string', ack: 'Ack', error: 'Error', message: 'Message' },
  Ack: { welcome: 'Welcome', joined: 'Joined', published: 'Published', pong: 'Pong',
         left: 'Left', rooms: 'RoomList', presence: 'Presence', history: 'History' },
  Welcome: { sessionId: 'string', node: 'string', limits: 'Limits' },
  Limits: { maxFrameBytes: 'uint32', maxTextBytes: 'uint32', maxBodyBytes: 'uint32',
            maxRoomNameBytes: 'uint32', backlog: 'uint32', publishPerSecond: 'uint32',
            publishBurst: 'uint32' },
  Joined: { room: 'string', memberCount: 'uint32', messages: ['Message'], seq: 'uint64',
            gap: 'bool', members: ['string'] },
  Published: { room: 'string', seq: 'uint64' },
  Message: { room: 'string', seq: 'uint64', sender: 'string', text: 'string', body: 'bytes',
             serverTimeMs: 'int64' },
  Pong: { clientTimeMs: 'uint64', serverTimeMs: 'int64' },
  Left: { room: 'string', reason: 'LeftReason', detail: 'string' },
  RoomList: { rooms: ['RoomSummary'] },
  RoomSummary: { name: 'string', memberCount: 'uint32', lastSeq: 'uint64' },
  Presence: { room: 'string', members: ['string'], joined: ['string'], left: ['string'] },
  History: { room: 'string', messages: ['Message'], gap: 'bool' },
  Error: { code: 'ErrorCode', reason: 'string' },
};
// The oneofs: at most one of these per object.
const oneofs = { ServerFrame: ['ack', 'error', 'message'], Ack: Object.keys(schema.Ack) };

const scalars = {
  string: (v) => typeof v === 'string' && v !== '',
  bool: (v) => v === true, // false is the default, omitted
  uint32: (v) => Number.isInteger(v) && v > 0 && v < 2 ** 32,
  uint64: (v) => typeof v === 'string' && /^[1-9]\d*$/.test(v),
  int64: (v) => typeof v === 'string' && /^-?[1-9]\d*$/.test(v),
  bytes: (v) => typeof v === 'string' && /^[A-Za-z0-9+/]+={0,2}$/.test(v),
  LeftReason: (v) => /^LEFT_REASON_[A-Z_]+$/.test(v),
  ErrorCode: (v) => /^ERROR_CODE_[A-Z_]+$/.test(v),
};

/// Asserts that `obj` is the message `type` in protobuf's canonical JSON
/// mapping: known lowerCamelCase names, 64-bit integers as decimal strings,
/// enums by name, default values omitted, at most one member of a oneof.
function checkJson(type, obj, where = type) {
  assert.ok(obj !== null && typeof obj === 'object' && !Array.isArray(obj),
            `${where}: expected a JSON object, got ${JSON.stringify(obj)}`);
  for (const [key, value] of Object.entries(obj)) {
    const field = schema[type][key];
    assert.ok(field, `${where}: '${key}' is not a lowerCamelCase field of ${type}`);
    if (Array.isArray(field)) {
      assert.ok(Array.isArray(value) && value.length > 0,
                `${where}.${key}: expected a non-empty array (an empty one is omitted)`);
      value.forEach((v, i) => checkValue(field[0], v, `${where}.${key}[${i}]`));
    } else {
      checkValue(field, value, `${where}.${key}`);
    }
  }
  const set = (oneofs[type] ?? []).filter((k) => k in obj);
  assert.ok(set.length <= 1, `${where}: a oneof holds ${set.join(' and ')}`);
}

function checkValue(type, v, where) {
  if (type in schema)
    return checkJson(type, v, where);
  assert.ok(scalars[type](v), `${where}: not a ${type} in the JSON mapping (or a default `
                              + `that must be omitted): ${JSON.stringify(v)}`);
}

// -- a client ---------------------------------------------------------------------

/// Rejects after `ms` unless `promise` settles first.
function within(ms, promise, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/// One JSON WebSocket. Every frame that arrives must be a text frame holding
/// a valid ServerFrame; frames wait in `pending` until a `next` takes them.
class Client {
  static async open(url) {
    const c = new Client(new WebSocket(url));
    await within(wait_ms, once(c.ws, 'open'), `WebSocket open (${url})`);
    return c;
  }

  constructor(ws) {
    this.ws = ws;
    this.pending = [];
    this.waiters = [];
    this.problems = [];
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        for (const w of this.waiters.splice(0))
          w.reject(new Error(`the connection closed (${code} ${this.closeInfo.reason}) `
                             + `while waiting for ${w.what}`));
        resolve(this.closeInfo);
      });
    });
    ws.on('error', (e) => this.problem(`socket error: ${e.message}`));
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
  }

  onMessage(data, isBinary) {
    if (isBinary)
      return this.problem(`a binary frame from a JSON server: ${data.toString('hex')}`);
    let frame;
    try {
      frame = JSON.parse(data.toString('utf8'));
      checkJson('ServerFrame', frame);
    } catch (e) {
      return this.problem(`an invalid ServerFrame (${e.message}): ${data.toString()}`);
    }
    this.pending.push(frame);
    this.pump();
  }

  problem(what) {
    this.problems.push(what);
    for (const w of this.waiters.splice(0))
      w.reject(new Error(`${what} (while waiting for ${w.what})`));
  }

  pump() {
    this.waiters = this.waiters.filter((w) => {
      const i = this.pending.findIndex(w.pred);
      if (i < 0)
        return true;
      w.resolve(this.pending.splice(i, 1)[0]);
      return false;
    });
  }

  /// The first frame, received or still to come, that satisfies `pred`.
  next(pred, what) {
    if (this.problems.length > 0)
      return Promise.reject(new Error(this.problems.join('; ')));
    if (this.closeInfo)
      return Promise.reject(new Error(`the connection is closed (${this.closeInfo.code}); `
                                      + `wanted ${what}`));
    let waiter;
    const found = new Promise((resolve, reject) => { waiter = { pred, resolve, reject, what }; });
    this.waiters.push(waiter);
    this.pump();
    return within(wait_ms, found, what).finally(() => {
      this.waiters = this.waiters.filter((w) => w !== waiter);
    });
  }

  send(frame) {
    this.ws.send(JSON.stringify(frame));
  }

  async request(frame) {
    this.send(frame);
    return this.next((f) => f.ref === frame.ref, `the reply to ref ${frame.ref}`);
  }

  /// Sends a request and returns the `ack.<kind>` payload of its reply.
  async ack(frame, kind) {
    const reply = await this.request(frame);
    assert.ok(reply.ack && kind in reply.ack,
              `ref ${frame.ref}: expected ack.${kind}, got ${JSON.stringify(reply)}`);
    return reply.ack[kind];
  }

  /// Sends a request and returns the error of its reply.
  async error(frame) {
    const reply = await this.request(frame);
    assert.ok(reply.error, `ref ${frame.ref}: expected an error, got ${JSON.stringify(reply)}`);
    return reply.error;
  }

  async serverClose() {
    return within(wait_ms, this.closed, 'close from the server');
  }

  /// Closes normally and asserts that every frame received was valid.
  async close() {
    if (!this.closeInfo) {
      this.ws.close(1000, 'done');
      await within(wait_ms, this.closed, 'close handshake');
    }
    assert.deepEqual(this.problems, [], 'bad frames from the server');
  }
}

async function connect(t, peer) {
  const c = await Client.open(peer.wsUrl);
  t.after(() => c.close());
  return c;
}

async function hello(t, peer, user) {
  const c = await connect(t, peer);
  const welcome = await c.ack({ ref: `hello-${user}`, hello: { clientName: 'peer-test',
                                                                  clientVersion: '1', user } },
                              'welcome');
  return { c, welcome };
}

const isMessage = (room, seq) => (f) => f.message && f.message.room === room
  && (seq === undefined || f.message.seq === seq);

// -- the tests --------------------------------------------------------------------

describe('the ws peer', { timeout: 6 * test_ms }, () => {
  let peer;
  before(async () => { peer = await startPeer(); });
  after(async () => { await peer?.stop(); });

  test('hello answers a welcome with the session, the node and the limits',
       { timeout: test_ms }, async (t) => {
    const { welcome } = await hello(t, peer, 'ann');
    assert.equal(welcome.node, 'ws-server');
    assert.match(welcome.sessionId, /^\d+$/);
    assert.deepEqual(welcome.limits, { maxFrameBytes: 65536, maxTextBytes: 4096,
                                       maxBodyBytes: 32768, maxRoomNameBytes: 64, backlog: 25 });
    const { welcome: second } = await hello(t, peer, 'bob');
    assert.notEqual(second.sessionId, welcome.sessionId);
  });

  test('join, publish, and every member gets the same message with the next seq',
       { timeout: test_ms }, async (t) => {
    const room = 'chat';
    const { c: ann } = await hello(t, peer, 'ann');
    const joined = await ann.ack({ ref: 'j1', join: { room } }, 'joined');
    assert.deepEqual(joined, { room, memberCount: 1, members: ['ann'] },
                     'a new room: no backlog, no seq');

    const { c: bob } = await hello(t, peer, 'bob');
    const { c: cid } = await hello(t, peer, 'cid');
    const { c: ann2 } = await hello(t, peer, 'ann'); // a second tab
    for (const c of [bob, cid, ann2])
      await c.ack({ ref: 'j', join: { room } }, 'joined');
    const last = await ann2.ack({ ref: 'who', presence: { room } }, 'presence');
    assert.deepEqual(last.members, ['ann', 'bob', 'cid'], 'each user once, sorted');

    const p1 = await ann.ack({ ref: 'p1', publish: { room, text: 'hi all ✓', body: 'AAEC' } },
                             'published');
    assert.deepEqual(p1, { room, seq: '1' });
    const got = [];
    for (const c of [ann, bob, cid, ann2])
      got.push(await c.next(isMessage(room, '1'), 'message 1'));
    for (const f of got)
      assert.deepEqual(f, got[0], 'one encoding for every member');
    const { message } = got[0];
    assert.deepEqual(Object.keys(message), ['room', 'seq', 'sender', 'text', 'body', 'serverTimeMs']);
    assert.equal(message.sender, 'ann');
    assert.equal(message.text, 'hi all ✓');
    assert.equal(message.body, 'AAEC');
    assert.ok(Math.abs(Number(message.serverTimeMs) - Date.now()) < 60_000);

    // Concurrent publishers: seqs 2.. without gaps, each delivered once, in order.
    const n = 40;
    for (let i = 0; i < n; ++i)
      (i % 2 ? bob : cid).send({ ref: `q${i}`, publish: { room, text: `m${i}` } });
    const acks = [];
    for (let i = 0; i < n; ++i)
      acks.push((await (i % 2 ? bob : cid).next((f) => f.ref === `q${i}`, `ack q${i}`)).ack.published.seq);
    assert.deepEqual(acks.map(Number).sort((a, b) => a - b),
                     Array.from({ length: n }, (_, i) => i + 2));
    for (const c of [ann, bob, cid, ann2]) {
      for (let seq = 2; seq <= n + 1; ++seq)
        await c.next(isMessage(room, String(seq)), `message ${seq}`);
      assert.equal(c.pending.filter((f) => f.message).length, 0, 'no duplicate');
    }
  });

  test('a joiner gets the last 25 messages; sinceSeq gets exactly the later ones',
       { timeout: test_ms }, async (t) => {
    const room = 'backlog';
    const { c: pub } = await hello(t, peer, 'writer');
    await pub.ack({ ref: 'j', join: { room } }, 'joined');
    for (let i = 1; i <= 30; ++i)
      pub.send({ ref: `p${i}`, publish: { room, text: `m${i}` } });
    assert.equal((await pub.next((f) => f.ref === 'p30', 'ack p30')).ack.published.seq, '30');

    const { c: late } = await hello(t, peer, 'late');
    const joined = await late.ack({ ref: 'j', join: { room } }, 'joined');
    assert.equal(joined.seq, '30');
    assert.equal(joined.memberCount, 2);
    assert.deepEqual(joined.members, ['late', 'writer']);
    assert.deepEqual(joined.messages.map((m) => [m.seq, m.text]),
                     Array.from({ length: 25 }, (_, i) => [String(i + 6), `m${i + 6}`]));
    assert.deepEqual(Object.keys(joined.messages[0]), ['room', 'seq', 'sender', 'text', 'serverTimeMs']);

    const { c: back } = await hello(t, peer, 'back');
    const resumed = await back.ack({ ref: 'j', join: { room, sinceSeq: '27' } }, 'joined');
    assert.equal(resumed.seq, '30');
    assert.equal(resumed.gap, undefined, 'nothing after seq 27 was dropped');
    assert.deepEqual(resumed.messages.map((m) => m.seq), ['28', '29', '30']);

    const { c: gone } = await hello(t, peer, 'gone');
    const gapped = await gone.ack({ ref: 'j', join: { room, since_seq: 2 } }, 'joined');
    assert.equal(gapped.gap, true, 'seqs 3 to 5 are no longer held');
    assert.equal(gapped.messages.length, 25);

    const { c: current } = await hello(t, peer, 'current');
    const upToDate = await current.ack({ ref: 'j', join: { room, sinceSeq: '30' } }, 'joined');
    assert.equal(upToDate.messages, undefined);
    assert.equal(upToDate.gap, undefined);

    // Live messages follow with the next seq.
    await pub.ack({ ref: 'p31', publish: { room, text: 'm31' } }, 'published');
    assert.equal((await back.next(isMessage(room, '31'), 'message 31')).message.text, 'm31');
  });

  test('ping echoes clientTimeMs and adds serverTimeMs', { timeout: test_ms }, async (t) => {
    const c = await connect(t, peer);
    const before = Date.now();
    const pong = await c.ack({ ref: 'p', ping: { clientTimeMs: '1763900000123' } }, 'pong');
    assert.equal(pong.clientTimeMs, '1763900000123');
    assert.ok(Number(pong.serverTimeMs) >= before && Number(pong.serverTimeMs) <= Date.now());
    const bare = await c.ack({ ref: 'q', ping: {} }, 'pong');
    assert.deepEqual(Object.keys(bare), ['serverTimeMs']);
  });

  test('leave stops the fan-out to that member; rooms lists the rooms',
       { timeout: test_ms }, async (t) => {
    const room = 'leaving';
    const { c: ann } = await hello(t, peer, 'ann');
    const { c: bob } = await hello(t, peer, 'bob');
    await ann.ack({ ref: 'j', join: { room } }, 'joined');
    await bob.ack({ ref: 'j', join: { room } }, 'joined');
    assert.deepEqual(await bob.ack({ ref: 'l', leave: { room } }, 'left'),
                     { room, reason: 'LEFT_REASON_REQUESTED' });
    const err = await bob.error({ ref: 'p', publish: { room, text: 'x' } });
    assert.equal(err.code, 'ERROR_CODE_NOT_A_MEMBER');
    await ann.ack({ ref: 'p', publish: { room, text: 'alone' } }, 'published');
    await ann.next(isMessage(room, '1'), 'ann\'s own message');
    await bob.ack({ ref: 'sync', ping: {} }, 'pong'); // the message would have come first
    assert.equal(bob.pending.filter((f) => f.message).length, 0, 'bob left before it');

    const { rooms } = await bob.ack({ ref: 'r', rooms: {} }, 'rooms');
    const mine = rooms.find((r) => r.name === room);
    assert.deepEqual(mine, { name: room, memberCount: 1, lastSeq: '1' });
    const names = rooms.map((r) => r.name);
    assert.deepEqual(names, [...names].sort());
  });

  test('bad requests get an error with their ref and the connection goes on',
       { timeout: test_ms }, async (t) => {
    const c = await connect(t, peer);
    c.ws.send('{"ref": "x1", "hello": ');
    assert.equal((await c.next((f) => f.error, 'an error frame')).error.code, 'ERROR_CODE_BAD_FRAME');
    c.ws.send('{"ref":"u1","jion":{"room":"lobby"}}');
    const unknown = await c.next((f) => f.ref === 'u1', 'the reply to u1');
    assert.equal(unknown.error?.code, 'ERROR_CODE_UNKNOWN_FIELD');
    assert.match(unknown.error.reason, /jion/);
    for (const [frame, code] of [
      [{ ref: 'w1', join: { room: 5 } }, 'ERROR_CODE_BAD_FRAME'],
      [{ ref: 'w2', ping: {}, presence: { room: 'lobby' } }, 'ERROR_CODE_BAD_FRAME'],
      [{ ref: 'e1' }, 'ERROR_CODE_EMPTY_FRAME'],
      [{ ref: 'n1', join: { room: '.hidden' } }, 'ERROR_CODE_INVALID_ROOM_NAME'],
      [{ ref: 'n2', join: { room: 'x'.repeat(65) } }, 'ERROR_CODE_INVALID_ROOM_NAME'],
      [{ ref: 'n3', join: { room: 'cafe\u0301' } }, 'ERROR_CODE_INVALID_ROOM_NAME'], // not NFC
      [{ ref: 'h1', hello: { user: 'no/slash' } }, 'ERROR_CODE_INVALID_ARGUMENT'],
      [{ ref: 'h2', hello: { user: 'ann  lee' } }, 'ERROR_CODE_INVALID_ARGUMENT'],
      [{ ref: 'm1', publish: { room: 'nowhere', text: 'x' } }, 'ERROR_CODE_NOT_A_MEMBER'],
    ])
      assert.equal((await c.error(frame)).code, code, JSON.stringify(frame));

    // Names in any script, as the gateway takes them.
    const jose = await c.ack({ ref: 'h3', hello: { user: 'Jose\u0301' } }, 'welcome');
    assert.ok(jose, 'José is welcomed');
    await c.ack({ ref: 'j0', join: { room: '会議室' } }, 'joined');
    await c.ack({ ref: 'j', join: { room: 'errors' } }, 'joined');
    assert.equal((await c.error({ ref: 'j2', join: { room: 'errors' } })).code,
                 'ERROR_CODE_ALREADY_MEMBER');
    assert.equal((await c.error({ ref: 'e', publish: { room: 'errors' } })).code,
                 'ERROR_CODE_INVALID_ARGUMENT');
    const big = await c.error({ ref: 'big', publish: { room: 'errors', text: 'x'.repeat(4097) } });
    assert.equal(big.code, 'ERROR_CODE_TOO_LARGE');
    assert.match(big.reason, /publish\.text/);

    // Text frames only: a binary frame gets an error (as text), nothing else.
    c.ws.send(Buffer.from('{"ref":"b1","ping":{}}'), { binary: true });
    const binary = await c.next((f) => f.error, 'an error for a binary frame');
    assert.equal(binary.error.code, 'ERROR_CODE_BAD_FRAME');
    assert.match(binary.error.reason, /binary/);
    await c.ack({ ref: 'ok', ping: {} }, 'pong');
  });

  test('a frame over 64 KiB is closed with 1009, invalid UTF-8 with 1007',
       { timeout: test_ms }, async (t) => {
    const c = await connect(t, peer);
    c.ws.send(`{"ref":"big","ping":{},"pad":"${'x'.repeat(65536)}"}`);
    assert.equal((await c.serverClose()).code, 1009);
    const d = await connect(t, peer);
    d.ws.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
    assert.equal((await d.serverClose()).code, 1007);
  });

  test('SIGTERM closes clients with 1001 and the server exits 0', { timeout: test_ms },
       async (t) => {
    const own = await startPeer();
    t.after(() => own.stop());
    const c = await connect(t, own);
    await c.ack({ ref: 'p', ping: {} }, 'pong');
    own.child.kill('SIGTERM');
    const closed = await c.serverClose();
    assert.deepEqual(closed, { code: 1001, reason: 'server shutting down' });
    assert.deepEqual(await within(wait_ms, own.exited, 'the exit'), { code: 0, signal: null },
                     own.stderr());
  });
});

describe('the ws peer\'s command line', () => {
  test('a bad flag prints one line and exits 2', { timeout: test_ms }, async () => {
    for (const args of [['--port=70000'], ['--bogus'], ['--port']]) {
      const { code, stderr } = await runPeer(args);
      assert.equal(code, 2, `${args}: ${stderr}`);
      assert.match(stderr, /^ws-server: error: .+\n$/, `${args}: exactly one line`);
    }
  });

  test('--host and --port are honoured', { timeout: test_ms }, async (t) => {
    const peer = await startPeer(['--host=127.0.0.1', '--backlog=3']);
    t.after(() => peer.stop());
    const { welcome } = await hello(t, peer, 'zed');
    assert.equal(welcome.limits.backlog, 3);
  });
});
