#!/usr/bin/env node
// A reference chat server on Node's `ws`, speaking Parley's JSON room
// protocol (docs/protocol.md), so that parley-bench can measure what a user
// would otherwise pick beside parley-gateway, with the same client and the
// same load. One file on purpose (about 570 lines): it is what a Node
// developer would deploy, and a peer that is easy to read is easy to trust.
//
//   node bench/peers/ws-server/server.mjs --port=0
//   # stderr: ws-server listening on 127.0.0.1:PORT   (WebSocket at /ws)
//
// Written the way a competent Node developer would write it: one process, no
// cluster, plain JSON.parse/JSON.stringify, rooms in a Map. A room message is
// encoded once (JSON.stringify, then one UTF-8 Buffer) and that same Buffer
// goes to every member as a text frame, as Parley shares one encoded frame.
//
// The subset parley-bench uses: hello, join (25-message backlog, sinceSeq),
// publish (fanned out to every member, seq per room from 1 without gaps),
// leave, ping, rooms; presence and history answer too. Not here, and so not
// paid for: the binary protobuf mode (a binary frame gets an error),
// presence diffs, rate limits, idle pings. A client that does not read is
// dropped once its send buffer passes --max-buffered-bytes, as Parley drops a
// slow consumer.
//
// SIGTERM or SIGINT: every client is closed with 1001, then the process exits 0.

import http from 'node:http';
import process from 'node:process';

let WebSocketServer;
try {
  ({ WebSocketServer } = await import('ws'));
} catch (e) {
  if (e.code !== 'ERR_MODULE_NOT_FOUND')
    throw e;
  process.stderr.write("ws-server: error: the npm package 'ws' is missing from "
                       + "bench/peers/ws-server/node_modules: run 'bash scripts/deps.sh --test' "
                       + "(or 'npm ci' in bench/peers/ws-server)\n");
  process.exit(2);
}

// -- configuration ------------------------------------------------------------------

const options = {
  // Loopback unless told otherwise, like parley-gateway.
  host: { env: 'WS_SERVER_HOST', value: '127.0.0.1', parse: (s) => s },
  // 0 picks a free port; the listening line on stderr says which.
  port: { env: 'WS_SERVER_PORT', value: 8090, parse: intIn(0, 65535) },
  // The node name in the welcome.
  name: { env: 'WS_SERVER_NAME', value: 'ws-server', parse: (s) => s },
  // Messages a room keeps and sends on join (Parley's --backlog).
  backlog: { env: 'WS_SERVER_BACKLOG', value: 25, parse: intIn(0, 100_000) },
  // Largest WebSocket message; ws closes a larger one with 1009 (Parley's default).
  'max-frame-bytes': { env: 'WS_SERVER_MAX_FRAME_BYTES', value: 65536,
                       parse: intIn(1024, 64 << 20) },
  // A client whose unsent bytes pass this is dropped (Parley's --outbound-bytes).
  'max-buffered-bytes': { env: 'WS_SERVER_MAX_BUFFERED_BYTES', value: 4 << 20,
                          parse: intIn(1, 2 ** 31) },
  // After SIGTERM, how long clients get to finish the close handshake.
  'drain-timeout': { env: 'WS_SERVER_DRAIN_TIMEOUT', value: 10, parse: intIn(0, 3600) },
};

function intIn(lo, hi) {
  return (s) => {
    if (!/^\d+$/.test(s) || Number(s) < lo || Number(s) > hi)
      throw new Error(`${JSON.stringify(s)} is not an integer from ${lo} to ${hi}`);
    return Number(s);
  };
}

function usage() {
  const lines = Object.entries(options).map(([k, o]) => `  --${k}=VALUE  (env ${o.env}, default ${o.value})`);
  return `usage: node server.mjs [options]\n${lines.join('\n')}\n`;
}

/// Environment first, flags over it; a bad one prints one line and exits 2.
function configure(argv) {
  const fail = (msg) => {
    process.stderr.write(`ws-server: error: ${msg} (see --help)\n`);
    process.exit(2);
  };
  const config = {};
  const set = (key, raw, from) => {
    try {
      config[key] = options[key].parse(raw);
    } catch (e) {
      fail(`${from}: ${e.message}`);
    }
  };
  for (const [key, o] of Object.entries(options)) {
    config[key] = o.value;
    if (process.env[o.env] !== undefined && process.env[o.env] !== '')
      set(key, process.env[o.env], o.env);
  }
  for (let i = 0; i < argv.length; ++i) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(usage());
      process.exit(0);
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    if (!m || !(m[1] in options))
      fail(`unknown argument '${arg}'`);
    let value = m[2];
    if (value === undefined) {
      if (i + 1 >= argv.length)
        fail(`--${m[1]} needs a value`);
      value = argv[++i];
    }
    set(m[1], value, `--${m[1]}`);
  }
  return config;
}

const config = configure(process.argv.slice(2));

/// What the welcome announces, as parley-gateway does (text and body at most
/// half a frame, so JSON escaping and base64 fit).
const limits = {
  maxFrameBytes: config['max-frame-bytes'],
  maxTextBytes: Math.min(4096, config['max-frame-bytes'] >> 1),
  maxBodyBytes: Math.min(32768, config['max-frame-bytes'] >> 1),
  maxRoomNameBytes: 64,
  backlog: config.backlog,
  // No rate limit here: 0, which the JSON mapping omits.
};
/// Members listed in a join reply or a presence answer, at most (as Parley).
const max_presence_list = 1000;
/// Rooms listed by `rooms`, at most, and how long an empty room stays listed.
const max_rooms_list = 1000;
const room_idle_ms = 60_000;
/// History: the default and largest number of messages per answer.
const max_history = 100;

// -- rooms --------------------------------------------------------------------------

/// One chat room: its members, the users among them (sorted, for presence),
/// its seq and its backlog. Lives as long as the process.
class Room {
  constructor(name) {
    this.name = name;
    this.seq = 0;
    this.backlog = []; // message objects, oldest first, at most config.backlog
    this.members = new Set(); // Session
    this.userCounts = new Map(); // user -> connections in the room
    this.users = []; // distinct users, sorted by code unit (std::map's order for ASCII)
    this.lastActive = Date.now();
  }

  admit(session) {
    this.members.add(session);
    this.lastActive = Date.now();
    const n = this.userCounts.get(session.user) ?? 0;
    this.userCounts.set(session.user, n + 1);
    if (n === 0)
      this.users.splice(lowerBound(this.users, session.user), 0, session.user);
  }

  remove(session) {
    if (!this.members.delete(session))
      return;
    this.lastActive = Date.now();
    const n = this.userCounts.get(session.user);
    if (n > 1) {
      this.userCounts.set(session.user, n - 1);
    } else {
      this.userCounts.delete(session.user);
      this.users.splice(lowerBound(this.users, session.user), 1);
    }
  }

  /// Gives the message a seq, sends it to every member (the sender
  /// included), keeps it in the backlog; returns the seq.
  publish(sender, text, body) {
    const message = { room: this.name, seq: String(++this.seq), sender };
    if (text)
      message.text = text;
    if (body)
      message.body = body;
    message.serverTimeMs = String(Date.now());
    // Encoded once; every member gets the same bytes as a text frame.
    const bytes = Buffer.from(JSON.stringify({ message }));
    for (const member of this.members)
      member.sendBytes(bytes);
    this.backlog.push(message);
    if (this.backlog.length > config.backlog)
      this.backlog.shift();
    this.lastActive = Date.now();
    return message.seq;
  }
}

function lowerBound(sorted, key) {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < key)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

const rooms = new Map(); // name -> Room

// -- requests -----------------------------------------------------------------------

/// A request the server refuses: the error frame's code and reason.
class RequestError extends Error {
  constructor(code, reason) {
    super(reason);
    this.code = `ERROR_CODE_${code}`;
  }
}

/// The fields of each request, lowerCamelCase with their snake_case aliases
/// (protobuf's JSON parser takes both), and their JSON types.
const request_fields = {
  hello: { clientName: 'string', client_name: 'string', clientVersion: 'string',
           client_version: 'string', token: 'string', user: 'string' },
  join: { room: 'string', sinceSeq: 'uint64', since_seq: 'uint64' },
  leave: { room: 'string' },
  publish: { room: 'string', text: 'string', body: 'bytes' },
  history: { room: 'string', beforeSeq: 'uint64', before_seq: 'uint64', afterSeq: 'uint64',
             after_seq: 'uint64', limit: 'uint32' },
  presence: { room: 'string' },
  ping: { clientTimeMs: 'uint64', client_time_ms: 'uint64' },
  rooms: {},
};

/// A uint64 in the JSON mapping: a decimal string or a number; returned as
/// a BigInt (seqs are compared, never sent back as numbers).
function uint64(value, where) {
  if ((typeof value === 'string' && /^\d{1,20}$/.test(value))
      || (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0)) {
    const v = BigInt(value);
    if (v < 2n ** 64n)
      return v;
  }
  throw new RequestError('BAD_FRAME', `${where}: not a uint64: ${JSON.stringify(value)}`);
}

const field_checks = {
  string: (v) => typeof v === 'string',
  bytes: (v) => typeof v === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(v),
  uint64: (v) => (typeof v === 'string' && /^\d{1,20}$/.test(v))
                 || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0),
  uint32: (v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32,
};

/// Checks the envelope: a ref and exactly one known request, its fields
/// known and of the right JSON type. Returns [kind, request].
function parseEnvelope(frame) {
  if (frame === null || typeof frame !== 'object' || Array.isArray(frame))
    throw new RequestError('BAD_FRAME', 'invalid JSON: the frame must be a JSON object');
  let kind;
  for (const key of Object.keys(frame)) {
    if (key === 'ref')
      continue;
    if (!(key in request_fields))
      throw new RequestError('UNKNOWN_FIELD', `unknown field in JSON: ${key}`);
    if (kind !== undefined)
      throw new RequestError('BAD_FRAME', `two requests in one frame: ${kind} and ${key}`);
    kind = key;
  }
  if (kind === undefined)
    throw new RequestError('EMPTY_FRAME', 'the frame carries no request');
  const req = frame[kind] ?? {};
  if (typeof req !== 'object' || Array.isArray(req))
    throw new RequestError('BAD_FRAME', `${kind}: expected a JSON object`);
  const fields = request_fields[kind];
  for (const [key, value] of Object.entries(req)) {
    if (!(key in fields))
      throw new RequestError('UNKNOWN_FIELD', `unknown field in JSON: ${kind}.${key}`);
    if (value !== null && !field_checks[fields[key]](value))
      throw new RequestError('BAD_FRAME', `${kind}.${key}: expected a ${fields[key]}`);
  }
  return [kind, req];
}

// Names in any script, as the gateway takes them (letters, marks and digits
// of any script, NFC), without its ICU look-alike checks: a benchmark peer
// does the same work per name, not the same refusals.
const room_name = /^[\p{L}\p{Nd}_\-:][\p{L}\p{M}\p{Nd}_\-.:]*$/u;
const user_name = /^[\p{L}\p{Nd}_.\-']([\p{L}\p{M}\p{Nd}_.\-' ]*[\p{L}\p{M}\p{Nd}_.\-'])?$/u;

function checkRoomName(name) {
  if (typeof name !== 'string' || name.length === 0 || Buffer.byteLength(name) > 64
      || !room_name.test(name) || name.normalize('NFC') !== name)
    throw new RequestError('INVALID_ROOM_NAME',
                           `invalid room name ${JSON.stringify(name ?? '')}: a room name holds `
                           + "letters, digits and - _ . : only (no spaces)");
  return name;
}

/// Bytes that base64 text decodes to, without decoding it.
function base64Bytes(s) {
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  return Math.floor((s.length * 3) / 4) - pad;
}

// -- sessions -----------------------------------------------------------------------

let sessions_started = 0;
const sessions = new Set();

/// One WebSocket: its user and the rooms it joined.
class Session {
  constructor(ws) {
    this.ws = ws;
    this.id = String(++sessions_started);
    this.user = `guest-${this.id}`;
    this.joined = new Map(); // name -> Room
  }

  sendBytes(bytes) {
    if (this.ws.readyState !== 1) // OPEN
      return;
    if (this.ws.bufferedAmount > config['max-buffered-bytes']) {
      // A slow consumer: drop it rather than buffer without bound.
      this.ws.terminate();
      return;
    }
    this.ws.send(bytes, { binary: false });
  }

  send(frame) {
    this.sendBytes(Buffer.from(JSON.stringify(frame)));
  }

  onMessage(data, isBinary) {
    let ref = '';
    try {
      if (isBinary)
        throw new RequestError('BAD_FRAME', 'binary frames (protobuf) are not supported by this '
                                            + 'server: send JSON in text frames');
      let frame;
      try {
        frame = JSON.parse(data.toString('utf8'));
      } catch (e) {
        throw new RequestError('BAD_FRAME', `invalid JSON: ${e.message}`);
      }
      if (frame && typeof frame === 'object' && typeof frame.ref === 'string')
        ref = frame.ref;
      else if (frame && typeof frame === 'object' && 'ref' in frame)
        throw new RequestError('BAD_FRAME', 'ref: expected a string');
      if (Buffer.byteLength(ref) > 64) {
        ref = '';
        throw new RequestError('TOO_LARGE', 'ref: at most 64 bytes');
      }
      const [kind, req] = parseEnvelope(frame);
      const ack = this[kind](req);
      this.send(ref ? { ref, ack } : { ack });
    } catch (e) {
      if (!(e instanceof RequestError))
        throw e; // a bug: crash loudly
      const error = { code: e.code, reason: e.message };
      this.send(ref ? { ref, error } : { error });
    }
  }

  hello(req) {
    if (req.user) {
      const user = String(req.user).normalize('NFC');
      if ([...user].length > 32 || !user_name.test(user) || / {2}/.test(user))
        throw new RequestError('INVALID_ARGUMENT',
                               "that name will not do: a name holds letters, digits, spaces and - _ . ' only");
      if (this.joined.size > 0)
        throw new RequestError('INVALID_ARGUMENT', 'say hello (and choose a name) before joining rooms');
      this.user = user;
    }
    return { welcome: { sessionId: this.id, node: config.name, limits } };
  }

  join(req) {
    const name = checkRoomName(req.room);
    if (this.joined.has(name))
      throw new RequestError('ALREADY_MEMBER', `already in room ${name}`);
    const rawSince = req.sinceSeq ?? req.since_seq;
    const since = rawSince == null ? undefined : uint64(rawSince, 'join.sinceSeq');
    let room = rooms.get(name);
    if (!room) {
      room = new Room(name);
      rooms.set(name, room);
    }
    room.admit(this);
    this.joined.set(name, room);
    let messages = room.backlog;
    let gap = false;
    if (since !== undefined) {
      const last = BigInt(room.seq);
      const oldest = room.backlog.length > 0 ? BigInt(room.backlog[0].seq) : last + 1n;
      gap = since + 1n < oldest && since < last;
      messages = room.backlog.filter((m) => BigInt(m.seq) > since);
    }
    const joined = { room: name, memberCount: room.members.size };
    if (messages.length > 0)
      joined.messages = messages;
    if (room.seq > 0)
      joined.seq = String(room.seq);
    if (gap)
      joined.gap = true;
    joined.members = room.users.slice(0, max_presence_list);
    return { joined };
  }

  memberOf(name) {
    const room = this.joined.get(name);
    if (!room)
      throw new RequestError('NOT_A_MEMBER', `not in room '${name ?? ''}': join it first`);
    return room;
  }

  leave(req) {
    const room = this.memberOf(req.room);
    this.joined.delete(room.name);
    room.remove(this);
    return { left: { room: room.name, reason: 'LEFT_REASON_REQUESTED' } };
  }

  publish(req) {
    const room = this.memberOf(req.room);
    const text = req.text ?? '';
    const body = req.body ?? '';
    if (!text && !body)
      throw new RequestError('INVALID_ARGUMENT', 'publish: text or body required');
    if (Buffer.byteLength(text) > limits.maxTextBytes)
      throw new RequestError('TOO_LARGE', `publish.text: at most ${limits.maxTextBytes} bytes`);
    if (base64Bytes(body) > limits.maxBodyBytes)
      throw new RequestError('TOO_LARGE', `publish.body: at most ${limits.maxBodyBytes} bytes`);
    return { published: { room: room.name, seq: room.publish(this.user, text, body) } };
  }

  history(req) {
    const room = this.memberOf(req.room);
    const before = uint64(req.beforeSeq ?? req.before_seq ?? 0, 'history.beforeSeq');
    const after = uint64(req.afterSeq ?? req.after_seq ?? 0, 'history.afterSeq');
    const limit = Math.min(req.limit || max_history, max_history);
    const messages = [];
    let limited = false;
    for (let i = room.backlog.length - 1; i >= 0; --i) {
      const seq = BigInt(room.backlog[i].seq);
      if (before !== 0n && seq >= before)
        continue;
      if (seq <= after)
        break;
      if (messages.length === limit) {
        limited = true;
        break;
      }
      messages.push(room.backlog[i]);
    }
    messages.reverse();
    const oldest = room.backlog.length > 0 ? BigInt(room.backlog[0].seq) : BigInt(room.seq) + 1n;
    const highest = before === 0n ? BigInt(room.seq) : before - 1n;
    const history = { room: room.name };
    if (messages.length > 0)
      history.messages = messages;
    if (!limited && after + 1n < oldest && after + 1n <= highest)
      history.gap = true;
    return { history };
  }

  presence(req) {
    const room = this.memberOf(req.room);
    return { presence: { room: room.name, members: room.users.slice(0, max_presence_list) } };
  }

  ping(req) {
    const raw = req.clientTimeMs ?? req.client_time_ms;
    const pong = {};
    if (raw != null && uint64(raw, 'ping.clientTimeMs') !== 0n)
      pong.clientTimeMs = String(raw);
    pong.serverTimeMs = String(Date.now());
    return { pong };
  }

  rooms() {
    const now = Date.now();
    let open = [...rooms.values()].filter((r) => r.members.size > 0
                                                 || now - r.lastActive < room_idle_ms);
    if (open.length > max_rooms_list)
      open = open.sort((a, b) => b.members.size - a.members.size).slice(0, max_rooms_list);
    open.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return {
      rooms: {
        rooms: open.map((r) => {
          const summary = { name: r.name };
          if (r.members.size > 0)
            summary.memberCount = r.members.size;
          if (r.seq > 0)
            summary.lastSeq = String(r.seq);
          return summary;
        }),
      },
    };
  }

  /// The socket closed: leave every room.
  end() {
    for (const room of this.joined.values())
      room.remove(this);
    this.joined.clear();
    sessions.delete(this);
  }
}

// -- the server ---------------------------------------------------------------------

let draining = false;

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(draining ? 503 : 200, { 'content-type': 'text/plain' });
    res.end(draining ? 'draining\n' : 'ok\n');
    return;
  }
  res.writeHead(req.url === '/ws' ? 400 : 404, { 'content-type': 'text/plain' });
  res.end(req.url === '/ws' ? 'a WebSocket upgrade is expected\n' : 'not found\n');
});
// Ten thousand clients connect at once in a fan-out run.
server.maxConnections = Infinity;

const wss = new WebSocketServer({
  server,
  path: '/ws',
  maxPayload: config['max-frame-bytes'],
  perMessageDeflate: false, // parley-gateway compresses nothing either
  clientTracking: false, // `sessions` tracks them
  backlog: 4096,
});

wss.on('connection', (ws) => {
  if (draining) {
    ws.close(1001, 'server shutting down');
    return;
  }
  const session = new Session(ws);
  sessions.add(session);
  ws.on('message', (data, isBinary) => session.onMessage(data, isBinary));
  ws.on('close', () => session.end());
  ws.on('error', () => {}); // 1007, 1009, resets: ws closes the socket itself
});

server.on('error', (e) => {
  process.stderr.write(`ws-server: error: cannot listen on ${config.host}:${config.port}: `
                       + `${e.message}\n`);
  process.exit(1);
});

server.listen({ host: config.host, port: config.port, backlog: 4096 }, () => {
  const { address, port } = server.address();
  process.stderr.write(`ws-server listening on ${address}:${port}\n`);
});

function shutdown(signal) {
  if (draining) {
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15)); // a second signal: at once
  }
  draining = true;
  server.close(); // no new connections; resolves once the last socket ends
  for (const s of sessions)
    s.ws.close(1001, 'server shutting down');
  const finish = () => process.exit(0);
  if (sessions.size === 0)
    finish();
  const check = setInterval(() => { if (sessions.size === 0) finish(); }, 20);
  setTimeout(() => {
    clearInterval(check);
    for (const s of sessions)
      s.ws.terminate();
    finish();
  }, config['drain-timeout'] * 1000).unref();
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
