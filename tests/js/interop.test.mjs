// A third-party client against the real parley-gateway: Node's `ws` from npm,
// speaking the JSON text mode (plain JSON.stringify/parse, following
// protobuf's JSON mapping) and the binary mode (protobufjs, loading
// proto/parley/v1/parley.proto at run time). Nothing here comes from Parley
// but the .proto and the binary, so it proves someone else's client works.
// The last suite runs the Node example of docs/protocol.md as it is written.
//
//   PARLEY_GATEWAY_BIN=build/release/gateway/parley-gateway PARLEY_PROTO_DIR=proto \
//     node --test tests/js/interop.test.mjs
//
// Every wait is bounded and ends on an event (a frame, a close, an exit).
// One file (about 560 lines) so a user can run one command to see a
// third-party client work. It keeps its own few protocol helpers on purpose:
// Parley's own JavaScript client (client/js, docs/clients.md) is what the
// page and the other tests use; this file proves that a client which is not
// Parley's, binary protobuf included, needs nothing but the .proto.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test, before, after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { need, startGateway } from './gateway.mjs';

// -- the npm packages -------------------------------------------------------------

const WebSocket = await need('ws');
const protobuf = await need('protobufjs');

function protoFile() {
  const dir = process.env.PARLEY_PROTO_DIR;
  if (!dir)
    throw new Error('PARLEY_PROTO_DIR is not set: point it at the proto/ directory');
  return path.join(dir, 'parley', 'v1', 'parley.proto');
}

const root = await protobuf.load(protoFile());
const ClientFrame = root.lookupType('parley.v1.ClientFrame');
const ServerFrame = root.lookupType('parley.v1.ServerFrame');

/// What one wait for a frame, an open or a close may take.
const wait_ms = 5_000;
/// What one test may take, all waits included.
const test_ms = 20_000;

// -- protobuf's JSON mapping, checked against the schema ---------------------------

const int64_types = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const int32_types = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32']);

/// Asserts that `obj` is `type` in protobuf's canonical JSON mapping:
/// lowerCamelCase names the schema has, 64-bit integers as decimal strings,
/// enums by name, bytes as base64, at most one member of each oneof.
function checkJson(type, obj, where = type.name) {
  assert.ok(obj !== null && typeof obj === 'object' && !Array.isArray(obj),
            `${where}: expected a JSON object, got ${JSON.stringify(obj)}`);
  for (const [key, value] of Object.entries(obj)) {
    const field = type.fields[key];
    assert.ok(field, `${where}: '${key}' is not a lowerCamelCase field of ${type.fullName}`);
    field.resolve();
    if (field.repeated) {
      assert.ok(Array.isArray(value), `${where}.${key}: expected an array`);
      value.forEach((v, i) => checkValue(field, v, `${where}.${key}[${i}]`));
    } else {
      checkValue(field, value, `${where}.${key}`);
    }
  }
  for (const oneof of type.oneofsArray) {
    const set = oneof.fieldsArray.filter((f) => f.name in obj).map((f) => f.name);
    assert.ok(set.length <= 1, `${where}: oneof ${oneof.name} has ${set.join(' and ')}`);
  }
}

function checkValue(field, v, where) {
  const t = field.resolvedType;
  if (t instanceof protobuf.Type)
    return checkJson(t, v, where);
  if (t instanceof protobuf.Enum)
    return assert.ok(typeof v === 'string' && v in t.values, `${where}: not a ${t.name} name: ${v}`);
  if (int64_types.has(field.type))
    return assert.ok(typeof v === 'string' && /^-?\d+$/.test(v),
                     `${where}: a 64-bit integer must be a decimal string, got ${JSON.stringify(v)}`);
  if (int32_types.has(field.type))
    return assert.ok(Number.isInteger(v), `${where}: expected an integer, got ${JSON.stringify(v)}`);
  if (field.type === 'bool')
    return assert.equal(typeof v, 'boolean', `${where}: expected a boolean`);
  if (field.type === 'string')
    return assert.equal(typeof v, 'string', `${where}: expected a string`);
  if (field.type === 'bytes')
    return assert.ok(typeof v === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(v),
                     `${where}: bytes must be base64, got ${JSON.stringify(v)}`);
  assert.fail(`${where}: unexpected field type ${field.type}`);
}

/// The binary mode's decoded frame as a plain object in the JSON mapping's
/// shape, so both modes are asserted on alike.
const as_json_mapping = { longs: String, enums: String, bytes: String, defaults: false };

// -- a client ---------------------------------------------------------------------

/// Rejects after `ms` unless `promise` settles first.
function within(ms, promise, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/// One WebSocket in one mode ('json': text frames, 'binary': protobuf).
/// Every frame that arrives is decoded and checked: the frame type must be
/// the client's, the content must be a valid ServerFrame. Frames wait in
/// `pending` until a `next` takes them, so no frame is lost between waits.
class Client {
  static async open(url, mode) {
    const c = new Client(new WebSocket(url), mode);
    await within(wait_ms, once(c.ws, 'open'), `WebSocket open (${url})`);
    return c;
  }

  constructor(ws, mode) {
    this.ws = ws;
    this.mode = mode;
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
    if (isBinary !== (this.mode === 'binary'))
      return this.problem(`a ${isBinary ? 'binary' : 'text'} frame reached a ${this.mode} client: `
                          + (isBinary ? data.toString('hex') : data.toString()));
    let frame;
    try {
      frame = this.mode === 'json'
        ? JSON.parse(data.toString('utf8'))
        : ServerFrame.toObject(ServerFrame.decode(data), as_json_mapping);
      checkJson(ServerFrame, frame);
    } catch (e) {
      return this.problem(`an invalid ServerFrame (${e.message}): `
                          + (isBinary ? data.toString('hex') : data.toString()));
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

  /// Sends a ClientFrame given in the JSON mapping, in this client's mode.
  send(frame) {
    checkJson(ClientFrame, frame); // catches a typo in the test itself
    if (this.mode === 'json')
      this.ws.send(JSON.stringify(frame));
    else
      this.ws.send(ClientFrame.encode(ClientFrame.fromObject(frame)).finish());
  }

  /// Sends a request and waits for the reply carrying its ref.
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

  /// The close the server chose (code and reason).
  async serverClose() {
    return within(wait_ms, this.closed, 'close from the server');
  }

  /// Closes normally and asserts that every frame received was valid.
  async close() {
    if (!this.closeInfo) {
      this.ws.close(1000, 'done');
      await within(wait_ms, this.closed, 'close handshake');
    }
    assert.deepEqual(this.problems, [], `${this.mode} client: bad frames from the server`);
  }
}

/// A client closed (and checked) when test `t` ends.
async function connect(t, gw, mode) {
  const c = await Client.open(gw.wsUrl, mode);
  t.after(() => c.close());
  return c;
}

/// A connected client that said hello as `user`.
async function hello(t, gw, mode, user) {
  const c = await connect(t, gw, mode);
  const welcome = await c.ack({ ref: `hello-${user}`, hello: { clientName: 'interop-ws',
                                                                  clientVersion: '1', user } },
                              'welcome');
  return { c, welcome };
}

const isMessage = (room, seq) => (f) => f.message && f.message.room === room
  && (seq === undefined || f.message.seq === seq);

// -- the tests --------------------------------------------------------------------

describe('a third-party ws client', { timeout: 4 * test_ms }, () => {
  let gw;
  before(async () => { gw = await startGateway(); });
  after(async () => { await gw?.stop(); });

  for (const mode of ['json', 'binary']) {
    test(`${mode}: hello, join, publish, ping, then a second client gets the backlog`,
         { timeout: test_ms }, async (t) => {
      const room = `chat-${mode}`;
      const { c: ann, welcome } = await hello(t, gw, mode, `ann-${mode}`);
      assert.equal(welcome.node, 'parley-gateway');
      assert.match(welcome.sessionId, /^\S+$/);
      assert.deepEqual(welcome.limits, {
        maxFrameBytes: 65536, maxTextBytes: 4096, maxBodyBytes: 32768, maxRoomNameBytes: 64,
        backlog: 25, publishPerSecond: 50, publishBurst: 100 });

      const joined = await ann.ack({ ref: 'j1', join: { room } }, 'joined');
      assert.equal(joined.room, room);
      assert.equal(joined.memberCount, 1);
      assert.deepEqual(joined.members, [`~ann-${mode}`]);
      assert.equal(joined.messages, undefined, 'a new room has no backlog');

      // The ack carries the seq; the message itself comes back to the sender too.
      const published = await ann.ack({ ref: 'p1', publish: { room, text: 'first', body: 'AAEC' } },
                                      'published');
      assert.deepEqual(published, { room, seq: '1' });
      const echo = await ann.next(isMessage(room, '1'), 'the own message');
      assert.equal(echo.message.sender, `~ann-${mode}`, 'a guest: the default --auth');
      assert.equal(echo.message.text, 'first');
      assert.equal(echo.message.body, 'AAEC'); // bytes 00 01 02, base64 in both modes
      assert.match(echo.message.serverTimeMs, /^\d+$/);
      assert.equal(echo.ref, undefined, 'room messages carry no ref');
      assert.equal((await ann.ack({ ref: 'p2', publish: { room, text: 'second' } },
                                  'published')).seq, '2');

      const clientTimeMs = String(Date.now());
      const pong = await ann.ack({ ref: 'ping1', ping: { clientTimeMs } }, 'pong');
      assert.equal(pong.clientTimeMs, clientTimeMs);
      assert.ok(Math.abs(Number(pong.serverTimeMs) - Date.now()) < 60_000,
                `serverTimeMs ${pong.serverTimeMs} is not near now`);

      // A later client gets the backlog, oldest first, and the room's seq.
      const { c: bob } = await hello(t, gw, mode, `bob-${mode}`);
      const later = await bob.ack({ ref: 'j1', join: { room } }, 'joined');
      assert.equal(later.seq, '2');
      assert.equal(later.memberCount, 2);
      assert.deepEqual([...later.members].sort(), [`~ann-${mode}`, `~bob-${mode}`]);
      assert.deepEqual(later.messages.map((m) => [m.seq, m.sender, m.text]),
                       [['1', `~ann-${mode}`, 'first'], ['2', `~ann-${mode}`, 'second']]);
      assert.deepEqual(later.messages[0], echo.message, 'the backlog holds the message as sent');
    });
  }

  test('json: snake_case field names are accepted on input', { timeout: test_ms }, async (t) => {
    const c = await connect(t, gw, 'json');
    c.ws.send('{"ref":"s1","ping":{"client_time_ms":"42"}}');
    const reply = await c.next((f) => f.ref === 's1', 'the reply to ref s1');
    assert.deepEqual(reply.ack?.pong?.clientTimeMs, '42', JSON.stringify(reply));
  });

  test('a json and a binary client in one room see the same messages and presence',
       { timeout: test_ms }, async (t) => {
    const room = 'mixed';
    const { c: jay } = await hello(t, gw, 'json', 'jay');
    const { c: bea } = await hello(t, gw, 'binary', 'bea');
    await jay.ack({ ref: 'j', join: { room } }, 'joined');
    const joined = await bea.ack({ ref: 'j', join: { room } }, 'joined');
    assert.deepEqual([...joined.members].sort(), ['~bea', '~jay']);
    // The first member hears of the second as a presence diff.
    const diff = await jay.next((f) => f.presence?.joined?.includes('~bea'), 'presence: bea joined');
    assert.equal(diff.presence.room, room);

    // JSON to binary: the same frame, decoded by either side.
    const p1 = await jay.ack({ ref: 'p', publish: { room, text: 'hi bea', body: 'AAEC' } },
                             'published');
    const atJay = await jay.next(isMessage(room, p1.seq), 'jay\'s own message');
    const atBea = await bea.next(isMessage(room, p1.seq), 'jay\'s message at bea');
    assert.equal(atBea.message.sender, '~jay');
    assert.equal(atBea.message.text, 'hi bea');
    assert.deepEqual(atBea, atJay);

    // Binary to JSON.
    const p2 = await bea.ack({ ref: 'p', publish: { room, text: 'hi jay ✓', body: '/wA=' } },
                             'published');
    assert.equal(BigInt(p2.seq), BigInt(p1.seq) + 1n);
    const atBea2 = await bea.next(isMessage(room, p2.seq), 'bea\'s own message');
    const atJay2 = await jay.next(isMessage(room, p2.seq), 'bea\'s message at jay');
    assert.equal(atJay2.message.sender, '~bea');
    assert.equal(atJay2.message.text, 'hi jay ✓');
    assert.equal(atJay2.message.body, '/wA=');
    assert.deepEqual(atJay2, atBea2);

    for (const c of [jay, bea]) {
      const presence = await c.ack({ ref: 'who', presence: { room } }, 'presence');
      assert.equal(presence.room, room);
      assert.deepEqual([...presence.members].sort(), ['~bea', '~jay']);
    }
  });

  test('json: malformed JSON gets ERROR_CODE_BAD_FRAME and the connection goes on',
       { timeout: test_ms }, async (t) => {
    const c = await connect(t, gw, 'json');
    c.ws.send('{"ref": "x1", "hello": ');
    const bad = await c.next((f) => f.error, 'an error frame');
    assert.equal(bad.error.code, 'ERROR_CODE_BAD_FRAME');
    assert.match(bad.error.reason, /JSON/);
    c.ws.send('[1, 2]');
    assert.equal((await c.next((f) => f.error, 'an error frame')).error.code,
                 'ERROR_CODE_BAD_FRAME');
    await c.ack({ ref: 'h1', hello: { user: 'after-bad-json' } }, 'welcome');
  });

  test('json: a field of the wrong type is refused, keeping the ref', { timeout: test_ms },
       async (t) => {
    const c = await connect(t, gw, 'json');
    c.ws.send('{"ref":"m9","ping":5}');
    const reply = await c.next((f) => f.error, 'an error frame');
    assert.equal(reply.ref, 'm9', JSON.stringify(reply));
    assert.equal(reply.error.code, 'ERROR_CODE_BAD_FRAME');
    await c.ack({ ref: 'h1', hello: { user: 'after-wrong-type' } }, 'welcome');
  });

  test('json: an unknown field is refused by name, keeping the ref', { timeout: test_ms },
       async (t) => {
    const c = await connect(t, gw, 'json');
    c.ws.send('{"ref":"u1","jion":{"room":"lobby"}}');
    const reply = await c.next((f) => f.ref === 'u1', 'the reply to ref u1');
    assert.equal(reply.error?.code, 'ERROR_CODE_UNKNOWN_FIELD', JSON.stringify(reply));
    assert.match(reply.error.reason, /jion/);
    await c.ack({ ref: 'j1', join: { room: 'after-unknown' } }, 'joined');
  });

  test('json: a wrong JSON type or two requests in one frame are bad frames',
       { timeout: test_ms }, async (t) => {
    const c = await connect(t, gw, 'json');
    for (const text of ['{"ref":"w1","join":{"room":5}}',
                        '{"ref":"w2","ping":{},"presence":{"room":"lobby"}}']) {
      c.ws.send(text);
      const bad = await c.next((f) => f.error, `an error for ${text}`);
      assert.equal(bad.error.code, 'ERROR_CODE_BAD_FRAME', `${text}: ${JSON.stringify(bad)}`);
    }
    await c.ack({ ref: 'p', ping: {} }, 'pong');
  });

  test('a field over its limit is refused with ERROR_CODE_TOO_LARGE', { timeout: test_ms },
       async (t) => {
    for (const mode of ['json', 'binary']) {
      const { c } = await hello(t, gw, mode, `big-${mode}`);
      await c.ack({ ref: 'j', join: { room: 'big' } }, 'joined');
      const err = await c.error({ ref: 'big', publish: { room: 'big', text: 'x'.repeat(4097) } });
      assert.equal(err.code, 'ERROR_CODE_TOO_LARGE');
      assert.match(err.reason, /publish\.text/);
      await c.ack({ ref: 'ok', publish: { room: 'big', text: 'x'.repeat(4096) } }, 'published');
    }
  });

  test('binary: garbage gets ERROR_CODE_BAD_FRAME in a binary frame and the connection goes on',
       { timeout: test_ms }, async (t) => {
    const c = await connect(t, gw, 'binary');
    // Field 1 (ref) claims 127 bytes and carries one.
    c.ws.send(Buffer.from([0x0a, 0x7f, 0x01]), { binary: true });
    const bad = await c.next((f) => f.error, 'an error frame');
    assert.equal(bad.error.code, 'ERROR_CODE_BAD_FRAME');
    c.ws.send(Buffer.from('{"ref":"1","ping":{}}'), { binary: true }); // JSON is not protobuf
    assert.equal((await c.next((f) => f.error, 'an error frame')).error.code,
                 'ERROR_CODE_BAD_FRAME');
    await c.ack({ ref: 'h1', hello: { user: 'after-garbage' } }, 'welcome');
  });

  test('a text frame that is not UTF-8 is closed with 1007', { timeout: test_ms }, async (t) => {
    const c = await connect(t, gw, 'json');
    await c.ack({ ref: 'p', ping: {} }, 'pong');
    // ws does not validate what it sends, so the bytes go out as a text frame.
    c.ws.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
    const { code } = await c.serverClose();
    assert.equal(code, 1007);
  });

  for (const mode of ['json', 'binary']) {
    test(`${mode}: join with sinceSeq gets exactly the later messages`, { timeout: test_ms },
         async (t) => {
      const room = `resume-${mode}`;
      const { c: pub } = await hello(t, gw, mode, `writer-${mode}`);
      await pub.ack({ ref: 'j', join: { room } }, 'joined');
      const seqs = [];
      for (let i = 1; i <= 6; ++i)
        seqs.push((await pub.ack({ ref: `p${i}`, publish: { room, text: `m${i}` } }, 'published')).seq);
      assert.deepEqual(seqs, ['1', '2', '3', '4', '5', '6']);

      const { c: reader } = await hello(t, gw, mode, `reader-${mode}`);
      const joined = await reader.ack({ ref: 'j', join: { room, sinceSeq: '4' } }, 'joined');
      assert.equal(joined.seq, '6');
      assert.equal(joined.gap, undefined, 'nothing after seq 4 was dropped');
      assert.deepEqual(joined.messages.map((m) => [m.seq, m.text]), [['5', 'm5'], ['6', 'm6']]);

      // And live messages follow with the next seq.
      await pub.ack({ ref: 'p7', publish: { room, text: 'm7' } }, 'published');
      assert.equal((await reader.next(isMessage(room, '7'), 'message 7')).message.text, 'm7');
    });
  }

  test('SIGTERM closes a client with 1001 and the gateway exits 0', { timeout: test_ms },
       async (t) => {
    const c = await connect(t, gw, 'binary');
    await c.ack({ ref: 'p', ping: {} }, 'pong');
    const { code, signal } = await gw.stop();
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, gw.stderr());
    assert.equal((await c.serverClose()).code, 1001);
  });
});

describe('a gateway with --max-frame-bytes=1024', { timeout: 2 * test_ms }, () => {
  let gw;
  before(async () => { gw = await startGateway(['--max-frame-bytes=1024']); });
  after(async () => { await gw?.stop(); });

  for (const mode of ['json', 'binary']) {
    test(`${mode}: a larger message is closed with 1009, others go on`, { timeout: test_ms },
         async (t) => {
      const { c, welcome } = await hello(t, gw, mode, `small-${mode}`);
      assert.equal(welcome.limits.maxFrameBytes, 1024);
      await c.ack({ ref: 'j', join: { room: 'small' } }, 'joined');
      // A publish of exactly 1024 bytes on the wire is fine, 1025 is not.
      const size = (f) => (mode === 'json' ? Buffer.byteLength(JSON.stringify(f))
                                           : ClientFrame.encode(ClientFrame.fromObject(f)).finish().length);
      // The welcome caps text and body below the frame limit, so a frame
      // this big takes both: a 500-byte body, then text one byte at a time.
      assert.ok(welcome.limits.maxTextBytes <= 1024 && welcome.limits.maxBodyBytes >= 500);
      const publishOf = (bytes) => {
        const body = Buffer.alloc(500, 7).toString('base64');
        const f = { ref: 'edge', publish: { room: 'small', text: '', body } };
        while (size(f) < bytes)
          f.publish.text += 'x';
        assert.equal(size(f), bytes);
        assert.ok(f.publish.text.length <= welcome.limits.maxTextBytes, 'within the text limit');
        return f;
      };
      await c.ack(publishOf(1024), 'published');
      c.send(publishOf(1025));
      const { code } = await c.serverClose();
      assert.equal(code, 1009);
      const { c: other } = await hello(t, gw, mode, `other-${mode}`);
      await other.ack({ ref: 'p', ping: {} }, 'pong');
    });
  }
});

describe('a gateway on its default frame limit (64 KiB)', { timeout: 2 * test_ms }, () => {
  let gw;
  before(async () => { gw = await startGateway(); });
  after(async () => { await gw?.stop(); });

  // The gateway stops reading at 64 KiB and sends 1009 while the client is
  // still writing the rest: it must drain what follows (RFC 6455 7.1.1), or
  // the kernel resets the connection and the client sees 1006, not 1009.
  for (const mode of ['json', 'binary']) {
    test(`${mode}: a 4 MiB message gets a 1009 the client reads`, { timeout: test_ms },
         async (t) => {
      const { c } = await hello(t, gw, mode, `huge-${mode}`);
      const huge = Buffer.alloc(4 * 1024 * 1024, 0x61);
      c.ws.send(mode === 'json' ? huge.toString() : huge, { binary: mode === 'binary' });
      const { code } = await c.serverClose();
      assert.equal(code, 1009);
      const { c: other } = await hello(t, gw, mode, `after-huge-${mode}`);
      await other.ack({ ref: 'p', ping: {} }, 'pong');
    });
  }
});

describe('the Node client in docs/protocol.md', { timeout: 2 * test_ms }, () => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  let gw;
  before(async () => { gw = await startGateway(); }); // fresh: session 1, seq 1
  after(async () => { await gw?.stop(); });

  test('runs as documented and prints what the doc says', { timeout: test_ms }, async () => {
    const doc = await readFile(path.join(here, '..', '..', 'docs', 'protocol.md'), 'utf8');
    const section = doc.split('\n## Writing a client in another language\n')[1];
    assert.ok(section, "docs/protocol.md lacks '## Writing a client in another language'");
    const code = /\n```js\n([\s\S]*?)\n```\n/.exec(section)?.[1];
    const printed = /\nIt prints:\n\n```\n([\s\S]*?)\n```\n/.exec(section)?.[1];
    assert.ok(code && printed, 'the section needs a ```js block and an "It prints:" block');
    // Run from tests/js, so `ws` and `protobufjs` resolve as an npm user's would.
    const { stdout } = await promisify(execFile)(
      process.execPath, ['--input-type=module', '--eval', code],
      { cwd: here, timeout: 2 * wait_ms, killSignal: 'SIGKILL',
        env: { ...process.env, PARLEY_URL: gw.wsUrl,
               PARLEY_PROTO: path.resolve(protoFile()) } });
    assert.equal(stdout.trimEnd(), printed);
  });
});
